/* Other tools' registries beside ebb's: alembic_version (the truth, reconciled) and Sqitch's
 * (refused). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "agent/migrate.h"
#include "agent/source_alembic.h"

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static bool recorded(const ebb_applied_list *l, const char *id)
{
    for (size_t i = 0; i < l->count; i++)
        if (strcmp(l->rows[i].revision, id) == 0)
            return true;
    return false;
}

/* The registry changes, in the current transaction. */
static ebb_code apply_changes(ebb_pg *pg, const ebb_graph *g, const bool *truth,
                              const ebb_applied_list *reg, const ebb_run_info *run, json_t *added,
                              json_t *removed, ebb_error *err)
{
    long last_added = -1;
    for (size_t i = 0; i < g->count; i++)
        if (truth[i] && !recorded(reg, g->revs[i].id))
            last_added = (long)i;
    ebb_code rc = EBB_OK;
    /* Reverted outside ebb: newest first, as a down path would. */
    for (size_t i = reg->count; rc == EBB_OK && i-- > 0;) {
        long idx = ebb_graph_find(g, reg->rows[i].revision);
        if (idx >= 0 && truth[idx])
            continue;
        rc = ebb_registry_record_revert(pg, reg->rows[i].revision, err);
        json_array_append_new(removed, json_string(reg->rows[i].revision));
    }
    /* Applied outside ebb: parents first. Only the newest state's fingerprint is known: live. */
    for (size_t i = 0; rc == EBB_OK && i < g->count; i++) {
        if (!truth[i] || recorded(reg, g->revs[i].id))
            continue;
        if ((long)i == last_added) {
            ebb_fingerprint fp;
            rc = ebb_fingerprint_read(pg, &fp, err);
            if (rc == EBB_OK) {
                rc = ebb_registry_record_apply(pg, &g->revs[i], run, &fp, err);
                ebb_fingerprint_fini(&fp);
            }
        } else {
            rc = ebb_registry_record_apply(pg, &g->revs[i], run, NULL, err);
        }
        json_array_append_new(added, json_string(g->revs[i].id));
    }
    return rc;
}

ebb_code ebb_migrate_alembic_reconcile(ebb_pg *pg, const ebb_graph *graph,
                                       const ebb_alembic_conf *conf, const ebb_run_info *run,
                                       bool *changed, ebb_error *err)
{
    char **heads = NULL;
    size_t n_heads = 0;
    ebb_code rc = ebb_alembic_current(conf, &heads, &n_heads, err);
    if (rc != EBB_OK)
        return rc;
    bool *truth = calloc(graph->count ? graph->count : 1, sizeof *truth);
    if (!truth) {
        free_strv(heads, n_heads);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory reconciling with alembic_version");
    }
    rc = ebb_alembic_applied_from_heads(graph, (const char *const *)heads, n_heads, truth, err);
    ebb_applied_list reg = {0};
    if (rc == EBB_OK)
        rc = ebb_registry_load(pg, &reg, err);
    json_t *added = json_array(), *removed = json_array(), *hj = json_array();
    for (size_t i = 0; hj && i < n_heads; i++)
        json_array_append_new(hj, json_string(heads[i]));
    bool begun = false;
    if (rc == EBB_OK && (!added || !removed || !hj))
        rc = ebb_error_set(err, EBB_E_NOMEM, "out of memory reconciling with alembic_version");
    if (rc == EBB_OK && (rc = ebb_pg_begin(pg, err)) == EBB_OK)
        begun = true;
    if (rc == EBB_OK)
        rc = apply_changes(pg, graph, truth, &reg, run, added, removed, err);
    bool any = rc == EBB_OK && (json_array_size(added) > 0 || json_array_size(removed) > 0);
    if (any) {
        json_t *d = json_pack("{s:s, s:O, s:O, s:O}", "reconciled_from", "alembic_version",
                              "alembic_heads", hj, "added", added, "removed", removed);
        char *details = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(d);
        ebb_event ev = {.kind = EBB_EVENT_STAMP,
                        .revision = n_heads ? heads[n_heads - 1] : NULL,
                        .run = run,
                        .details = details};
        rc = details ? ebb_registry_event_add(pg, &ev, err)
                     : ebb_error_set(err, EBB_E_NOMEM, "out of memory writing the stamp event");
        free(details);
    }
    if (rc == EBB_OK && begun)
        rc = ebb_pg_commit(pg, err);
    else if (begun) {
        ebb_error ignore;
        if (ebb_pg_rollback(pg, &ignore) != EBB_OK) { /* the first error is the one to report */
        }
    }
    if (rc != EBB_OK)
        ebb_error_prefix(err, "reconciling ebb.applied with alembic_version");
    if (rc == EBB_OK && changed)
        *changed = any;
    json_decref(added);
    json_decref(removed);
    json_decref(hj);
    ebb_applied_list_fini(&reg);
    free(truth);
    free_strv(heads, n_heads);
    return rc;
}

ebb_code ebb_migrate_sqitch_guard(ebb_pg *pg, const ebb_graph *graph, ebb_error *err)
{
    if (graph->kind != EBB_SOURCE_SQITCH)
        return EBB_OK;
    char *exists = NULL;
    ebb_code rc = ebb_pg_query_text(pg, "SELECT (to_regclass('sqitch.changes') IS NOT NULL)::text",
                                    0, NULL, &exists, err);
    if (rc != EBB_OK)
        return rc;
    bool has = exists && strcmp(exists, "true") == 0;
    free(exists);
    if (!has)
        return EBB_OK;
    const char *params[] = {graph->project ? graph->project : ""};
    char *count = NULL;
    rc = ebb_pg_query_text(pg, "SELECT count(*)::text FROM sqitch.changes WHERE project = $1", 1,
                           params, &count, err);
    if (rc != EBB_OK)
        return rc;
    long n = count ? strtol(count, NULL, 10) : 0;
    free(count);
    if (n > 0)
        return ebb_error_set(err, EBB_E_REFUSED,
                             "this database is managed by sqitch: its registry (sqitch.changes) "
                             "lists %ld change%s of project %s. ebb keeps its own registry "
                             "(schema ebb) and does not read or write Sqitch's; deploy this "
                             "database with one tool only (see docs/sqitch-alembic.md)",
                             n, n == 1 ? "" : "s", params[0]);
    return EBB_OK;
}
