/* `ebb-agent db plan`, and the risk gate that `db up` and `db down` pass before anything changes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cli_db.h"
#include "agent/graph.h"
#include "agent/migrate.h"
#include "agent/risk_probe.h"
#include "common/exit_codes.h"
#include "common/strbuf.h"

static const char *dir_name(ebb_direction d)
{
    return d == EBB_DIR_UP ? "up" : d == EBB_DIR_DOWN ? "down" : "none";
}

static ebb_risk_probe_opts probe_opts(const ebb_cli_db *c)
{
    ebb_risk_probe_opts o;
    ebb_risk_probe_opts_init(&o);
    o.statement_timeout_ms = c->probe_timeout_ms;
    return o;
}

/* The risk report for people, on out: a summary line, then each risky statement and its probes. */
static void print_report(FILE *out, const ebb_risk_report *rep)
{
    ebb_risk_summary s;
    ebb_risk_summarize(rep, &s);
    fprintf(out, "risk: worst %s; %s%lld row%s at risk in %zu statement%s; %zu certain failure%s; "
                 "%zu unknown\n",
            ebb_risk_level_name(s.worst), s.rows_estimated ? "about " : "", s.rows_at_risk,
            s.rows_at_risk == 1 ? "" : "s", s.n_at_risk, s.n_at_risk == 1 ? "" : "s",
            s.n_certain_failures, s.n_certain_failures == 1 ? "" : "s", s.n_unknown);
    bool header = false;
    for (size_t i = 0; i < rep->count; i++) {
        const ebb_risk_item *it = &rep->items[i];
        if (it->level == EBB_RISK_LOW)
            continue;
        if (!header) {
            fprintf(out, "  %-40s %-22s %-8s %s\n", "FILE:LINE", "KIND", "LEVEL", "WHAT");
            header = true;
        }
        const char *file = strrchr(it->file, '/') ? strrchr(it->file, '/') + 1 : it->file;
        char where[300];
        snprintf(where, sizeof where, "%s:%d", file, it->line);
        const char *flag = ebb_risk_item_certain_failure(it) ? "  << WILL FAIL"
                           : ebb_risk_item_data_at_risk(it)  ? "  << DATA AT RISK"
                                                             : "";
        fprintf(out, "  %-40s %-22s %-8s %s%s\n", where, it->kind, ebb_risk_level_name(it->level),
                it->reason, flag);
        for (size_t k = 0; k < it->n_probes; k++) {
            char *line = NULL;
            if (ebb_risk_finding_text(it, &it->probes[k], &line, NULL) == EBB_OK)
                fprintf(out, "  %-40s   %s\n", "", line);
            free(line);
        }
    }
    if (!header)
        fprintf(out, "  no statement on the path is risky\n");
}

/* "file:line KIND" of the first item for which pick holds, and how many there are. */
static size_t first_item(const ebb_risk_report *rep, bool (*pick)(const ebb_risk_item *),
                         char *buf, size_t size)
{
    size_t n = 0;
    for (size_t i = 0; i < rep->count; i++) {
        if (!pick(&rep->items[i]))
            continue;
        if (n++ == 0) {
            const ebb_risk_item *it = &rep->items[i];
            char *found = NULL;
            for (size_t k = 0; found == NULL && k < it->n_probes; k++)
                if (it->probes[k].found.status == EBB_PROBE_DONE && it->probes[k].found.count > 0)
                    if (ebb_risk_finding_text(it, &it->probes[k], &found, NULL) != EBB_OK)
                        found = NULL;
            snprintf(buf, size, "%s:%d %s (%s)", it->file, it->line, it->kind,
                     found != NULL ? found : it->reason);
            free(found);
        }
    }
    return n;
}

static bool is_unknown(const ebb_risk_item *it)
{
    return it->level == EBB_RISK_UNKNOWN;
}

/* The refusal's message, naming the first offending statement and what was found. */
static ebb_code refusal(const ebb_risk_report *rep, ebb_risk_verdict v, ebb_error *err)
{
    char first[700] = "";
    size_t n;
    switch (v) {
    case EBB_RISK_REFUSE_CERTAIN:
        n = first_item(rep, ebb_risk_item_certain_failure, first, sizeof first);
        return ebb_error_set(err, EBB_E_REFUSED,
                             "refused before anything changed: %zu statement%s will certainly fail "
                             "on the data now in the database (no flag overrides this): %s",
                             n, n == 1 ? "" : "s", first);
    case EBB_RISK_REFUSE_DATA_LOSS: {
        ebb_risk_summary s;
        ebb_risk_summarize(rep, &s);
        n = first_item(rep, ebb_risk_item_data_at_risk, first, sizeof first);
        return ebb_error_set(err, EBB_E_REFUSED,
                             "refused before anything changed: the path destroys data (%s%lld rows "
                             "at risk in %zu statement%s; first: %s); see 'db plan', then pass "
                             "--accept-data-loss to go ahead",
                             s.rows_estimated ? "about " : "", s.rows_at_risk, n, n == 1 ? "" : "s",
                             first);
    }
    case EBB_RISK_REFUSE_UNKNOWN:
        n = first_item(rep, is_unknown, first, sizeof first);
        return ebb_error_set(err, EBB_E_REFUSED,
                             "refused before anything changed: %zu statement%s cannot be analysed "
                             "(first: %s); read %s, then pass --accept-unknown to go ahead",
                             n, n == 1 ? "" : "s", first, n == 1 ? "it" : "them");
    case EBB_RISK_ALLOW: break;
    }
    return EBB_OK;
}

/* What an accepted risk looked like, for the deploy / revert events' details. */
static char *accepted_details(const ebb_cli_db *c, const ebb_risk_report *rep)
{
    ebb_risk_summary s;
    ebb_risk_summarize(rep, &s);
    json_t *items = json_array();
    for (size_t i = 0; i < rep->count; i++) {
        const ebb_risk_item *it = &rep->items[i];
        if (!ebb_risk_item_data_at_risk(it) && it->level != EBB_RISK_UNKNOWN)
            continue;
        char buf[600];
        snprintf(buf, sizeof buf, "%s:%d %s", it->file, it->line, it->kind);
        json_array_append_new(items, json_string(buf));
    }
    json_t *acc = json_array();
    if (c->accept_data_loss && s.n_at_risk > 0)
        json_array_append_new(acc, json_string("data-loss"));
    if (c->accept_unknown && s.n_unknown > 0)
        json_array_append_new(acc, json_string("unknown"));
    json_t *doc = json_pack("{s:{s:o, s:s, s:I, s:b, s:o}}", "risk_accepted", "accepted", acc,
                            "worst", ebb_risk_level_name(s.worst), "rows_at_risk",
                            (json_int_t)s.rows_at_risk, "rows_estimated", s.rows_estimated,
                            "statements", items);
    char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(doc);
    return text;
}

ebb_code ebb_cli_db_risk_gate(ebb_cli_db *c, const ebb_path *path, json_t **risk_json,
                              ebb_error *err)
{
    *risk_json = NULL;
    ebb_risk_report rep;
    ebb_risk_probe_opts o = probe_opts(c);
    ebb_risk_external_sql *ext = ebb_cli_db_external_sql(c, path);
    ebb_code rc = ebb_risk_probe_path(c->pg, &c->graph, path, ext, &o, &rep, err);
    ebb_cli_db_external_free(ext, path->count);
    if (rc != EBB_OK)
        return rc;
    ebb_risk_verdict v = ebb_risk_decide(&rep, c->accept_data_loss, c->accept_unknown);
    json_t *rj = ebb_risk_report_json(&rep, false);
    if (rj != NULL)
        json_object_set_new(rj, "verdict", json_string(ebb_risk_verdict_name(v)));
    *risk_json = rj;
    if (!c->json && (v != EBB_RISK_ALLOW || ebb_risk_report_worst(&rep) != EBB_RISK_LOW))
        print_report(stderr, &rep);
    if (v != EBB_RISK_ALLOW) {
        rc = refusal(&rep, v, err);
    } else if (ebb_risk_decide(&rep, false, false) != EBB_RISK_ALLOW) {
        /* Went ahead only because of a flag: say so in every event of the run. */
        free(c->risk_details);
        c->risk_details = accepted_details(c, &rep);
        if (!c->json)
            fprintf(stderr, "risk accepted (--accept-data-loss / --accept-unknown): going ahead\n");
    }
    ebb_risk_report_fini(&rep);
    return rc;
}

int ebb_cli_db_cmd_plan(ebb_cli_db *c)
{
    ebb_error err;
    ebb_error_clear(&err);
    ebb_target target;
    if (ebb_target_parse(c->to ? c->to : "head", &target, &err) != EBB_OK)
        return ebb_cli_db_fail(c, &err, EBB_EXIT_USAGE, NULL);
    if (ebb_cli_db_load_source(c, &err) != EBB_OK)
        return ebb_cli_db_fail(c, &err, EBB_EXIT_CONFIG, NULL);
    if (ebb_cli_db_connect(c, &err) != EBB_OK)
        return ebb_cli_db_fail(c, &err, EBB_EXIT_UNAVAILABLE, NULL);
    ebb_path path;
    if (ebb_migrate_resolve(c->pg, &c->graph, &target, &path, &err) != EBB_OK)
        return ebb_cli_db_fail(c, &err, ebb_exit_for_code(err.code), NULL);
    ebb_risk_report rep;
    ebb_risk_probe_opts o = probe_opts(c);
    ebb_risk_external_sql *ext = ebb_cli_db_external_sql(c, &path);
    ebb_code prc = ebb_risk_probe_path(c->pg, &c->graph, &path, ext, &o, &rep, &err);
    ebb_cli_db_external_free(ext, path.count);
    if (prc != EBB_OK) {
        ebb_path_fini(&path);
        return ebb_cli_db_fail(c, &err, ebb_exit_for_code(err.code), NULL);
    }
    ebb_risk_verdict v = ebb_risk_decide(&rep, c->accept_data_loss, c->accept_unknown);
    ebb_error why;
    ebb_error_clear(&why);
    if (refusal(&rep, v, &why) != EBB_OK && !c->json)
        ebb_error_prefix(&why, "a run");

    json_t *steps = json_array();
    if (!c->json)
        printf("plan: %s, %zu step%s to %s\n", dir_name(path.direction), path.count,
               path.count == 1 ? "" : "s", c->to ? c->to : "head");
    for (size_t i = 0; i < path.count; i++) {
        const ebb_revision *rev = &c->graph.revs[path.steps[i]];
        const ebb_script *s = path.direction == EBB_DIR_DOWN ? &rev->down : &rev->up;
        if (c->json)
            json_array_append_new(steps, json_pack("{s:s, s:s, s:s?}", "revision", rev->id, "name",
                                                   rev->name ? rev->name : "", "script", s->path));
        else
            printf("  step %zu/%zu  %s %s %s  (%s)\n", i + 1, path.count, dir_name(path.direction),
                   rev->id, rev->name ? rev->name : "", s->path ? s->path : "no script");
    }
    if (c->json) {
        json_t *risk = ebb_risk_report_json(&rep, false);
        if (risk != NULL)
            json_object_set_new(risk, "verdict", json_string(ebb_risk_verdict_name(v)));
        json_t *doc = json_pack("{s:s, s:s, s:o, s:o, s:s?}", "direction", dir_name(path.direction),
                                "target", c->to ? c->to : "head", "steps", steps, "risk",
                                risk ? risk : json_object(), "refusal",
                                v != EBB_RISK_ALLOW ? why.msg : NULL);
        ebb_cli_db_emit(c, doc);
    } else {
        json_decref(steps);
        print_report(stdout, &rep);
        if (v == EBB_RISK_ALLOW)
            printf("verdict: %s\n", ebb_risk_decide(&rep, false, false) == EBB_RISK_ALLOW
                                        ? "nothing at risk: up/down would go ahead"
                                        : "accepted with the given flags: up/down would go ahead");
        else
            printf("verdict: %s\n", why.msg);
    }
    ebb_risk_report_fini(&rep);
    ebb_path_fini(&path);
    return EBB_EXIT_OK;
}
