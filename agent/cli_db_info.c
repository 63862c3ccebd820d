/* `ebb-agent db status | history | verify | fingerprint`: reading a database's state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cli_db.h"
#include "agent/fingerprint.h"
#include "agent/migrate.h"
#include "agent/registry.h"
#include "common/exit_codes.h"

/* Connect and load the source when the command has one; exit code or -1. */
static int open_db(ebb_cli_db *c, bool with_source)
{
    ebb_error err;
    ebb_error_clear(&err);
    if (with_source && ebb_cli_db_load_source(c, &err) != EBB_OK)
        return ebb_cli_db_fail(c, &err, EBB_EXIT_CONFIG, NULL);
    if (ebb_cli_db_connect(c, &err) != EBB_OK)
        return ebb_cli_db_fail(c, &err, EBB_EXIT_UNAVAILABLE, NULL);
    return -1;
}

static json_t *diff_json(const ebb_fp_diff *d)
{
    json_t *arr = json_array();
    static const char *const kinds[] = {"added", "removed", "changed"};
    for (size_t i = 0; i < d->count; i++) {
        const ebb_fp_change *ch = &d->changes[i];
        json_t *exp = json_array(), *act = json_array();
        for (size_t j = 0; j < ch->n_expected; j++)
            json_array_append_new(exp, json_string(ch->expected[j]));
        for (size_t j = 0; j < ch->n_actual; j++)
            json_array_append_new(act, json_string(ch->actual[j]));
        json_array_append_new(arr, json_pack("{s:s, s:s, s:o, s:o}", "change", kinds[ch->kind],
                                             "object", ch->object, "expected", exp, "actual",
                                             act));
    }
    return arr;
}

int ebb_cli_db_cmd_status(ebb_cli_db *c)
{
    int rc = open_db(c, true);
    if (rc >= 0)
        return rc;
    ebb_error err;
    ebb_db_status st;
    if (ebb_migrate_status(c->pg, &c->graph, &st, &err) != EBB_OK)
        return ebb_cli_db_fail(c, &err, ebb_exit_for_code(err.code), NULL);

    char *drift_text = NULL;
    if (st.drift && ebb_fp_diff_format(&st.drift_diff, 20, &drift_text, &err) != EBB_OK)
        drift_text = NULL;
    if (c->json) {
        json_t *applied = json_array(), *pending = json_array(), *unknown = json_array();
        for (size_t i = 0; i < st.applied.count; i++)
            json_array_append_new(
                applied, json_pack("{s:s, s:s, s:s, s:s}", "revision", st.applied.rows[i].revision,
                                   "applied_at", st.applied.rows[i].applied_at, "applied_by",
                                   st.applied.rows[i].applied_by, "run_id",
                                   st.applied.rows[i].run_id));
        for (size_t i = 0; i < st.n_pending; i++)
            json_array_append_new(pending, json_string(c->graph.revs[st.pending[i]].id));
        for (size_t i = 0; i < st.n_unknown; i++)
            json_array_append_new(unknown, json_string(st.unknown[i]));
        json_t *doc = json_pack(
            "{s:b, s:s?, s:o, s:o, s:i, s:o, s:s, s:s, s:s, s:b, s:o, s:s, s:s}", "registry",
            st.has_registry, "current", st.current, "applied", applied, "pending", pending,
            "pending_count", (json_int_t)st.n_pending, "unknown", unknown, "fingerprint", st.live,
            "recorded_fingerprint", st.recorded, "graph_hash", c->graph.hash, "drift", st.drift,
            "drift_objects", diff_json(&st.drift_diff), "source_kind",
            ebb_source_kind_name(c->graph.kind), "source", c->graph.root);
        ebb_cli_db_emit(c, doc);
    } else {
        printf("current revision: %s\n", st.current ? st.current : "base (none applied)");
        printf("applied:          %zu\n", st.applied.count);
        printf("pending:          %zu", st.n_pending);
        for (size_t i = 0; i < st.n_pending && i < 10; i++)
            printf("%s%s", i ? ", " : " (", c->graph.revs[st.pending[i]].id);
        printf("%s\n", st.n_pending > 10 ? ", ...)" : st.n_pending ? ")" : "");
        for (size_t i = 0; i < st.n_unknown; i++)
            printf("unknown:          %s (applied, but not in %s)\n", st.unknown[i],
                   c->graph.root);
        printf("fingerprint:      %s\n", st.live);
        printf("drift:            %s\n", st.drift ? "YES" : st.recorded[0] ? "no" : "unknown");
        if (drift_text != NULL)
            printf("%s\n", drift_text);
    }
    free(drift_text);
    ebb_db_status_fini(&st);
    return EBB_EXIT_OK;
}

int ebb_cli_db_cmd_history(ebb_cli_db *c)
{
    int rc = open_db(c, false);
    if (rc >= 0)
        return rc;
    ebb_error err;
    ebb_event_list list;
    if (ebb_registry_events(c->pg, c->run_filter, c->limit, &list, &err) != EBB_OK)
        return ebb_cli_db_fail(c, &err, ebb_exit_for_code(err.code), NULL);
    json_t *events = json_array();
    for (size_t i = 0; i < list.count; i++) {
        const ebb_event_row *e = &list.rows[i];
        if (c->json) {
            json_t *details = json_loads(e->details, 0, NULL);
            json_array_append_new(
                events,
                json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "id",
                          (json_int_t)e->id, "kind", e->kind, "revision", e->revision, "run_id",
                          e->run_id, "operator", e->operator_name, "reason", e->reason,
                          "started_at", e->started_at, "finished_at", e->finished_at, "sqlstate",
                          e->sqlstate, "error", e->error, "details",
                          details ? details : json_object()));
        } else {
            printf("%-6lld %-24s %-8s %-16s %-24s %-10s %s%s%s\n", e->id, e->finished_at,
                   e->kind, e->revision[0] ? e->revision : "-", e->run_id,
                   e->operator_name[0] ? e->operator_name : "-", e->reason,
                   e->error[0] ? " | error: " : "", e->error);
        }
    }
    ebb_event_list_fini(&list);
    ebb_cli_db_emit(c, c->json ? json_pack("{s:o}", "events", events) : (json_decref(events), NULL));
    return EBB_EXIT_OK;
}

int ebb_cli_db_cmd_verify(ebb_cli_db *c)
{
    int rc = open_db(c, true);
    if (rc >= 0)
        return rc;
    ebb_error err;
    ebb_error_clear(&err);
    ebb_migrate_opts opts;
    ebb_migrate_opts_init(&opts);
    opts.run = ebb_cli_db_run_info(c);
    char *failed = NULL;
    ebb_code code = ebb_migrate_verify(c->pg, &c->graph, &opts, &failed, &err);
    if (code != EBB_OK) {
        json_t *extra = json_pack("{s:s?}", "failed_revision", failed);
        free(failed);
        return ebb_cli_db_fail(c, &err, ebb_exit_for_code(code), extra);
    }
    free(failed);
    if (!c->json)
        printf("verified: verify scripts passed and the schema matches its fingerprint\n");
    ebb_cli_db_emit(c, json_object());
    return EBB_EXIT_OK;
}

int ebb_cli_db_cmd_fingerprint(ebb_cli_db *c)
{
    int rc = open_db(c, false);
    if (rc >= 0)
        return rc;
    ebb_error err;
    ebb_fingerprint fp;
    if (ebb_fingerprint_read(c->pg, &fp, &err) != EBB_OK)
        return ebb_cli_db_fail(c, &err, ebb_exit_for_code(err.code), NULL);
    if (c->json) {
        json_t *doc = json_pack("{s:s}", "fingerprint", fp.hex);
        if (c->describe)
            json_object_set_new(doc, "description", json_string(fp.description));
        ebb_cli_db_emit(c, doc);
    } else if (c->describe) {
        fputs(fp.description, stdout);
    } else {
        printf("%s\n", fp.hex);
    }
    ebb_fingerprint_fini(&fp);
    return EBB_EXIT_OK;
}
