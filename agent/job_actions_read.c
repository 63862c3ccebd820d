/* Job actions that read a database: inspect, verify, and the state helpers every action shares. */
#include <stdlib.h>
#include <string.h>

#include "agent/graph.h"
#include "agent/job_internal.h"
#include "agent/migrate.h"
#include "agent/registry.h"
#include "agent/source.h"

ebb_code job_load_graph(const ebb_agent_db *db, ebb_graph *out, ebb_error *err)
{
    ebb_code rc = ebb_source_load(db->source_dir, db->source_kind, out, err);
    if (rc != EBB_OK)
        ebb_error_prefix(err, "migration source of database %s", db->name);
    return rc;
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++)
        free(v[i]);
    free(v);
}

/* Current revisions of an applied list with respect to graph (see job_internal.h). */
static ebb_code current_of(const ebb_applied_list *applied, const ebb_graph *graph, char ***out,
                           size_t *n_out, ebb_error *err)
{
    size_t n = applied->count;
    char **cur = n > 0 ? calloc(n, sizeof *cur) : NULL;
    bool *is_parent =
        graph != NULL && graph->count > 0 ? calloc(graph->count, sizeof *is_parent) : NULL;
    if ((n > 0 && cur == NULL) || (graph != NULL && graph->count > 0 && is_parent == NULL)) {
        free(cur);
        free(is_parent);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    }
    if (graph != NULL)
        for (size_t i = 0; i < n; i++) {
            long idx = ebb_graph_find(graph, applied->rows[i].revision);
            if (idx < 0)
                continue;
            const ebb_revision *rev = &graph->revs[idx];
            for (size_t p = 0; p < rev->n_parents; p++)
                is_parent[rev->parents[p]] = true;
        }
    size_t k = 0;
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        const char *id = applied->rows[i].revision;
        long idx = graph != NULL ? ebb_graph_find(graph, id) : -1;
        bool current = idx >= 0 ? !is_parent[idx] : i + 1 == n;
        if (current && (cur[k++] = strdup(id)) == NULL)
            ok = false;
    }
    free(is_parent);
    if (!ok) {
        free_strv(cur, k);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    }
    *out = cur;
    *n_out = k;
    return EBB_OK;
}

/*
 * Reading the catalog for a fingerprint waits for locks: a prepared
 * transaction that dropped a table holds them until it is resolved. Reads
 * that only describe the state give up after STATE_LOCK_TIMEOUT instead of
 * hanging the job; the session's own setting comes back afterwards.
 */
#define STATE_LOCK_TIMEOUT "5000"

static ebb_code bounded_locks(ebb_pg *pg, bool on, ebb_error *err)
{
    if (!on)
        return ebb_pg_exec_ok(pg, "RESET lock_timeout", err);
    const char *params[1] = {STATE_LOCK_TIMEOUT};
    return ebb_pg_exec(pg, "SELECT set_config('lock_timeout', $1, false)", 1, params, NULL, NULL,
                       NULL, err);
}

ebb_code job_db_state(ebb_pg *pg, const ebb_graph *graph, char ***current, size_t *n_current,
                      char **fingerprint, ebb_error *err)
{
    ebb_applied_list applied;
    ebb_code rc = ebb_registry_load(pg, &applied, err);
    if (rc != EBB_OK)
        return rc;
    char **cur = NULL;
    size_t n = 0;
    rc = current_of(&applied, graph, &cur, &n, err);
    ebb_applied_list_fini(&applied);
    if (rc != EBB_OK)
        return rc;
    if (fingerprint == NULL) {
        *current = cur;
        *n_current = n;
        return EBB_OK;
    }
    ebb_fingerprint fp;
    rc = bounded_locks(pg, true, err);
    if (rc == EBB_OK) {
        rc = ebb_fingerprint_read(pg, &fp, err);
        ebb_code rrc = bounded_locks(pg, false, NULL);
        if (rc == EBB_OK && rrc != EBB_OK) {
            ebb_fingerprint_fini(&fp);
            rc = ebb_error_set(err, EBB_E_PG, "cannot reset lock_timeout");
        }
    }
    if (rc != EBB_OK) {
        free_strv(cur, n);
        return rc;
    }
    char *hex = strdup(fp.hex);
    ebb_fingerprint_fini(&fp);
    if (hex == NULL) {
        free_strv(cur, n);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    }
    *current = cur;
    *n_current = n;
    *fingerprint = hex;
    return EBB_OK;
}

void job_record_state(job_ctx *jc, ebb_pg *pg, const ebb_graph *graph, bool before)
{
    char **cur = NULL, *fp = NULL;
    size_t n = 0;
    /* The fingerprint is only reported after the job, and not while this
     * job's own prepared transaction holds the schema's locks. */
    bool want_fp = !before && !jc->cmd->prepare;
    if (pg == NULL || !ebb_pg_is_alive(pg) ||
        job_db_state(pg, graph, &cur, &n, want_fp ? &fp : NULL, NULL) != EBB_OK)
        return;
    ebb_job_result *r = jc->res;
    if (before) {
        free_strv(r->revisions_before, r->n_before);
        r->revisions_before = cur;
        r->n_before = n;
        free(fp);
    } else {
        /* Drift as inspect reports it: live vs the fingerprint recorded for the newest applied
         * revision (none recorded: no drift). The coordinator's fleet view takes it from here. */
        r->has_drift = false;
        if (fp != NULL) {
            ebb_fingerprint want;
            ebb_error nf;
            ebb_code frc = ebb_registry_fingerprint_of(pg, n > 0 ? cur[n - 1] : NULL, &want, &nf);
            if (frc == EBB_OK) {
                r->has_drift = true;
                r->drift = strcmp(want.hex, fp) != 0;
                ebb_fingerprint_fini(&want);
            } else if (frc == EBB_E_NOT_FOUND) {
                r->has_drift = true;
                r->drift = false;
            }
        }
        free_strv(r->revisions_after, r->n_after);
        r->revisions_after = cur;
        r->n_after = n;
        free(r->fingerprint);
        r->fingerprint = fp;
    }
}

static json_t *strv_json(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static ebb_code recovery_row(void *ctx, const PGresult *res, int row, ebb_error *err)
{
    (void)err;
    *(bool *)ctx = strcmp(PQgetvalue(res, row, 0), "t") == 0;
    return EBB_OK;
}

ebb_code job_inspect_db(const ebb_agent_db *db, ebb_pg *pg, json_t **report, ebb_job_db_info *info,
                        ebb_error *err)
{
    ebb_graph graph = {0};
    ebb_code rc = job_load_graph(db, &graph, err);
    if (rc != EBB_OK)
        return rc;
    ebb_db_status st;
    rc = bounded_locks(pg, true, err);
    if (rc == EBB_OK) {
        rc = ebb_migrate_status(pg, &graph, &st, err);
        if (rc != EBB_OK && err != NULL && strcmp(err->sqlstate, "55P03") == 0)
            ebb_error_prefix(err,
                             "the schema is locked (by a prepared transaction or a "
                             "session) and cannot be read within %s ms",
                             STATE_LOCK_TIMEOUT);
        if (rc == EBB_OK && (rc = bounded_locks(pg, false, err)) != EBB_OK)
            ebb_db_status_fini(&st);
    }
    if (rc != EBB_OK) {
        ebb_graph_fini(&graph);
        return rc;
    }
    char **cur = NULL;
    size_t n_cur = 0;
    char **gids = NULL;
    size_t n_gids = 0;
    bool in_recovery = false;
    rc = current_of(&st.applied, &graph, &cur, &n_cur, err);
    if (rc == EBB_OK)
        rc = ebb_pg_exec(pg, "SELECT pg_is_in_recovery()", 0, NULL, recovery_row, &in_recovery,
                         NULL, err);
    if (rc == EBB_OK)
        rc = ebb_migrate_list_prepared(pg, &gids, &n_gids, err);
    if (rc == EBB_OK && report != NULL) {
        json_t *revs = json_array(), *applied = json_array(), *pending = json_array();
        for (size_t i = 0; i < graph.count; i++) {
            const ebb_revision *rev = &graph.revs[i];
            json_t *parents = json_array();
            for (size_t p = 0; p < rev->n_parents; p++)
                json_array_append_new(parents, json_string(graph.revs[rev->parents[p]].id));
            json_array_append_new(
                revs, json_pack("{s:s, s:s, s:o, s:b, s:b}", "id", rev->id, "name",
                                rev->name ? rev->name : "", "parents", parents, "no_transaction",
                                rev->up.no_transaction || rev->down.no_transaction, "has_verify",
                                rev->verify.sql != NULL));
        }
        for (size_t i = 0; i < st.applied.count; i++)
            json_array_append_new(applied, json_string(st.applied.rows[i].revision));
        for (size_t i = 0; i < st.n_pending; i++)
            json_array_append_new(pending, json_string(graph.revs[st.pending[i]].id));
        char *drift_objs = NULL;
        if (st.drift && ebb_fp_diff_objects(&st.drift_diff, 50, &drift_objs, NULL) != EBB_OK)
            drift_objs = NULL;
        *report = json_pack(
            "{s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:s, s:b, s:s?, s:o, s:o, s:o, s:o, s:b, s:b}",
            "database", db->name, "environment", db->environment, "kind",
            ebb_source_kind_name(graph.kind), "graph_hash", graph.hash, "current",
            strv_json(cur, n_cur), "applied", applied, "fingerprint", st.live,
            "recorded_fingerprint", st.recorded, "drift", st.drift, "drift_objects", drift_objs,
            "revisions", revs, "pending", pending, "unknown", strv_json(st.unknown, st.n_unknown),
            "prepared", strv_json(gids, n_gids), "in_recovery", in_recovery, "has_registry",
            st.has_registry);
        free(drift_objs);
        if (*report == NULL)
            rc = ebb_error_set(err, EBB_E_NOMEM, "cannot build the inspect report");
    }
    if (rc == EBB_OK && info != NULL) {
        memset(info, 0, sizeof *info);
        info->name = strdup(db->name);
        info->kind = strdup(ebb_source_kind_name(graph.kind));
        info->current = cur;
        info->n_current = n_cur;
        cur = NULL;
        n_cur = 0;
        info->graph_hash = strdup(graph.hash);
        info->fingerprint = strdup(st.live);
        info->drift = st.drift;
        info->environment = strdup(db->environment);
    }
    free_strv(cur, n_cur);
    free_strv(gids, n_gids);
    ebb_db_status_fini(&st);
    ebb_graph_fini(&graph);
    return rc;
}

ebb_code job_do_inspect(job_ctx *jc, ebb_error *err)
{
    ebb_pg *pg = NULL;
    ebb_code rc = job_connect(jc, &pg, err);
    if (rc != EBB_OK)
        return rc;
    ebb_job_db_info info = {0};
    rc = job_inspect_db(jc->db, pg, &jc->report, &info, err);
    if (rc == EBB_OK) {
        jc->res->revisions_after = info.current;
        jc->res->n_after = info.n_current;
        info.current = NULL;
        info.n_current = 0;
        jc->res->fingerprint = info.fingerprint;
        info.fingerprint = NULL;
        jc->res->has_drift = true;
        jc->res->drift = info.drift;
    }
    ebb_job_db_info_fini(&info);
    job_disconnect(jc, pg);
    return rc;
}

ebb_code job_do_verify(job_ctx *jc, ebb_error *err)
{
    ebb_graph graph = {0};
    ebb_code rc = job_load_graph(jc->db, &graph, err);
    if (rc != EBB_OK)
        return rc;
    ebb_pg *pg = NULL;
    rc = job_connect(jc, &pg, err);
    if (rc != EBB_OK) {
        ebb_graph_fini(&graph);
        return rc;
    }
    job_record_state(jc, pg, &graph, true);
    job_progress(jc, "verify", 0, 0, 0, NULL);
    ebb_migrate_opts opts;
    ebb_migrate_opts_init(&opts);
    opts.run.run_id = jc->cmd->run_id;
    opts.run.operator_name = jc->cmd->operator_name;
    opts.run.reason = jc->cmd->reason;
    opts.db_name = jc->db->name;
    opts.lock_timeout_ms = jc->db->lock_timeout_ms;
    opts.statement_timeout_ms = jc->db->statement_timeout_ms;
    char *failed = NULL;
    rc = ebb_migrate_verify(pg, &graph, &opts, &failed, err);
    jc->report = json_pack("{s:b, s:s?}", "verified", rc == EBB_OK, "failed_revision", failed);
    free(failed);
    job_record_state(jc, pg, &graph, false);
    job_disconnect(jc, pg);
    ebb_graph_fini(&graph);
    return rc;
}
