/* `ebb-agent db stamp REV --reason TEXT`: say the database is at REV without running scripts (break-glass). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cli_db.h"
#include "agent/stamp.h"
#include "common/exit_codes.h"

int ebb_cli_db_cmd_stamp(ebb_cli_db *c)
{
    ebb_error err;
    ebb_error_clear(&err);
    ebb_target target;
    if (ebb_target_parse(c->args[0], &target, &err) != EBB_OK)
        return ebb_cli_db_fail(c, &err, EBB_EXIT_USAGE, NULL);
    if (ebb_cli_db_load_source(c, &err) != EBB_OK)
        return ebb_cli_db_fail(c, &err, EBB_EXIT_CONFIG, NULL);
    if (ebb_cli_db_connect(c, &err) != EBB_OK)
        return ebb_cli_db_fail(c, &err, EBB_EXIT_UNAVAILABLE, NULL);
    ebb_run_info run = ebb_cli_db_run_info(c);
    ebb_stamp_result res;
    ebb_code code = ebb_stamp_run(c->pg, &c->graph, &target, &run, c->dry_run, &res, &err);
    if (code != EBB_OK) {
        /* An unknown revision (or one the graph cannot reach) is refused; nothing changed. */
        int exit_code = code == EBB_E_NOT_FOUND || code == EBB_E_INVALID ? EBB_EXIT_REFUSED
                                                                         : ebb_exit_for_code(code);
        return ebb_cli_db_fail(c, &err, exit_code, NULL);
    }

    const ebb_stamp_plan *p = &res.plan;
    json_t *rows = json_array();
    for (size_t i = 0; i < p->path.count; i++)
        json_array_append_new(rows, json_string(c->graph.revs[p->path.steps[i]].id));
    char *objs = NULL;
    if (res.fingerprint_differs) {
        if (ebb_fp_diff_objects(&res.diff, 20, &objs, NULL) != EBB_OK)
            objs = NULL;
        /* A warning, not a refusal: the stamp is the operator's statement about the database. */
        fprintf(stderr,
                "ebb-agent db stamp: warning: the live schema (%s) differs from the fingerprint "
                "recorded for %s (%s): %s\n",
                res.live, p->to ? p->to : "base", res.recorded, objs ? objs : "?");
    }
    const char *verb = p->direction == EBB_DIR_DOWN ? "removed" : "inserted";
    if (!c->json) {
        printf("stamp%s: ebb.applied %s at %s (was %s); %zu row%s %s", c->dry_run ? " (dry run)" : "",
               c->dry_run ? "would say" : "now says", p->to ? p->to : "base",
               p->from ? p->from : "base", p->path.count, p->path.count == 1 ? "" : "s",
               c->dry_run ? (p->direction == EBB_DIR_DOWN ? "to remove" : "to insert") : verb);
        for (size_t i = 0; i < p->path.count; i++)
            printf("%s%s", i ? ", " : " (", c->graph.revs[p->path.steps[i]].id);
        printf("%s\n", p->path.count ? ")" : "");
        if (res.recorded_live)
            printf("no fingerprint was recorded for %s: the live one %s recorded for it\n",
                   p->to ? p->to : "base", c->dry_run ? "would be" : "is");
        if (!c->dry_run)
            printf("stamp event recorded (run %s, operator %s)\n", c->run_id, c->operator_name);
    }
    json_t *doc = json_pack("{s:b, s:s?, s:s?, s:s, s:o, s:s, s:s, s:b, s:b, s:o, s:s, s:s}",
                            "dry_run", c->dry_run, "from", p->from, "to", p->to, "direction",
                            p->direction == EBB_DIR_DOWN ? "down"
                            : p->direction == EBB_DIR_UP ? "up" : "none",
                            verb, rows, "live_fingerprint", res.live, "recorded_fingerprint",
                            res.recorded, "fingerprint_differs", res.fingerprint_differs,
                            "recorded_live", res.recorded_live, "drift_objects",
                            ebb_cli_db_diff_json(&res.diff), "run_id", c->run_id, "reason",
                            c->reason ? c->reason : "");
    if (res.fingerprint_differs)
        json_object_set_new(doc, "warning", json_string("the live schema differs from the "
                                                        "fingerprint recorded for the revision"));
    free(objs);
    ebb_stamp_result_fini(&res);
    ebb_cli_db_emit(c, doc);
    return EBB_EXIT_OK;
}
