/* Runner side jobs: status and drift, verify scripts, path previews, prepared transactions. */
#include "agent/migrate.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/lock.h"
#include "agent/migrate_exec.h"

ebb_code ebb_migrate_resolve(ebb_pg *pg, const ebb_graph *graph, const ebb_target *target,
                             ebb_path *out, ebb_error *err)
{
    ebb_applied_list applied;
    ebb_code rc = ebb_registry_load(pg, &applied, err);
    if (rc != EBB_OK)
        return rc;
    rc = ebb_exec_resolve(graph, &applied, target, out, err);
    ebb_applied_list_fini(&applied);
    return rc;
}

void ebb_db_status_fini(ebb_db_status *st)
{
    if (!st)
        return;
    ebb_applied_list_fini(&st->applied);
    free(st->current);
    ebb_fp_diff_fini(&st->drift_diff);
    free(st->pending);
    for (size_t i = 0; i < st->n_unknown; i++)
        free(st->unknown[i]);
    free(st->unknown);
    memset(st, 0, sizeof *st);
}

/* Live vs recorded fingerprint of current (NULL = base): fills st's drift fields. */
static ebb_code drift_of(ebb_pg *pg, const char *current, ebb_db_status *st, ebb_error *err)
{
    ebb_fingerprint live;
    ebb_code rc = ebb_fingerprint_read(pg, &live, err);
    if (rc != EBB_OK)
        return rc;
    snprintf(st->live, sizeof st->live, "%s", live.hex);
    ebb_fingerprint want;
    ebb_error nf;
    rc = ebb_registry_fingerprint_of(pg, current, &want, &nf);
    if (rc == EBB_E_NOT_FOUND) {
        ebb_fingerprint_fini(&live);
        return EBB_OK;
    }
    if (rc != EBB_OK) {
        if (err)
            *err = nf;
        ebb_fingerprint_fini(&live);
        return rc;
    }
    snprintf(st->recorded, sizeof st->recorded, "%s", want.hex);
    st->drift = strcmp(want.hex, live.hex) != 0;
    if (st->drift)
        rc = ebb_fp_diff_compute(want.description, live.description, &st->drift_diff, err);
    ebb_fingerprint_fini(&want);
    ebb_fingerprint_fini(&live);
    return rc;
}

static ebb_code graph_view(const ebb_graph *graph, ebb_db_status *st, ebb_error *err)
{
    bool *applied = calloc(graph->count ? graph->count : 1, sizeof *applied);
    st->pending = calloc(graph->count ? graph->count : 1, sizeof *st->pending);
    st->unknown = calloc(st->applied.count ? st->applied.count : 1, sizeof *st->unknown);
    if (!applied || !st->pending || !st->unknown) {
        free(applied);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory reading the status");
    }
    for (size_t i = 0; i < st->applied.count; i++) {
        long k = ebb_graph_find(graph, st->applied.rows[i].revision);
        if (k >= 0) {
            applied[k] = true;
        } else if (!(st->unknown[st->n_unknown++] = strdup(st->applied.rows[i].revision))) {
            free(applied);
            return ebb_error_set(err, EBB_E_NOMEM, "out of memory reading the status");
        }
    }
    for (size_t i = 0; i < graph->count; i++)
        if (!applied[i])
            st->pending[st->n_pending++] = i;
    free(applied);
    return EBB_OK;
}

ebb_code ebb_migrate_status(ebb_pg *pg, const ebb_graph *graph, ebb_db_status *out,
                            ebb_error *err)
{
    ebb_db_status st = {0};
    ebb_code rc = ebb_registry_exists(pg, &st.has_registry, err);
    if (rc == EBB_OK)
        rc = ebb_registry_load(pg, &st.applied, err);
    if (rc == EBB_OK && st.applied.count > 0 &&
        !(st.current = strdup(st.applied.rows[st.applied.count - 1].revision)))
        rc = ebb_error_set(err, EBB_E_NOMEM, "out of memory reading the status");
    if (rc == EBB_OK)
        rc = drift_of(pg, st.current, &st, err);
    if (rc == EBB_OK && graph)
        rc = graph_view(graph, &st, err);
    if (rc != EBB_OK) {
        ebb_db_status_fini(&st);
        return rc;
    }
    *out = st;
    return EBB_OK;
}

ebb_code ebb_migrate_verify_revision(ebb_pg *pg, const ebb_revision *rev, ebb_error *err)
{
    if (!rev->verify.sql)
        return EBB_OK;
    ebb_sql_script split;
    ebb_code rc = ebb_exec_prepare(rev->id, "verify", &rev->verify, &split, err);
    if (rc != EBB_OK)
        return rc;
    rc = ebb_pg_begin(pg, err);
    int line = 0;
    if (rc == EBB_OK) {
        rc = ebb_exec_statements(pg, rev->id, "verify", &rev->verify, &split, &line, err);
        /* Verification never changes anything: always roll back. */
        ebb_error rb_err;
        ebb_code rb = ebb_pg_rollback(pg, &rb_err);
        if (rc == EBB_OK && rb != EBB_OK) {
            rc = rb;
            if (err)
                *err = rb_err;
        }
    }
    ebb_sql_script_fini(&split);
    if (rc != EBB_OK && rc != EBB_E_NOMEM) {
        char sqlstate[6] = "", msg[EBB_ERROR_MSG_MAX] = "error";
        if (err) {
            memcpy(sqlstate, err->sqlstate, sizeof sqlstate);
            memcpy(msg, err->msg, sizeof msg);
        }
        rc = ebb_error_set(err, EBB_E_VERIFY, "verification of revision %s failed: %s", rev->id,
                           msg);
        if (err)
            memcpy(err->sqlstate, sqlstate, sizeof sqlstate);
    }
    return rc;
}

static ebb_code verify_locked(ebb_pg *pg, const ebb_graph *graph, const ebb_migrate_opts *opts,
                              char **revision_out, ebb_error *err)
{
    ebb_code rc = ebb_session_set_timeouts(pg, opts->lock_timeout_ms, opts->statement_timeout_ms,
                                           err);
    if (rc == EBB_OK)
        rc = ebb_registry_ensure(pg, err);
    ebb_applied_list applied = {0};
    if (rc == EBB_OK)
        rc = ebb_registry_load(pg, &applied, err);
    if (rc != EBB_OK)
        return rc;
    const char *failed = NULL;
    for (size_t i = 0; rc == EBB_OK && i < applied.count; i++) {
        long k = ebb_graph_find(graph, applied.rows[i].revision);
        if (k < 0) {
            rc = ebb_error_set(err, EBB_E_VERIFY,
                               "revision %s is applied but the migration source does not know it",
                               applied.rows[i].revision);
        } else {
            rc = ebb_migrate_verify_revision(pg, &graph->revs[k], err);
        }
        if (rc != EBB_OK)
            failed = applied.rows[i].revision;
    }
    const char *current = applied.count ? applied.rows[applied.count - 1].revision : NULL;
    if (rc == EBB_OK) {
        ebb_db_status st = {0};
        rc = drift_of(pg, current, &st, err);
        if (rc == EBB_OK && st.drift) {
            char *objs = NULL;
            rc = ebb_fp_diff_objects(&st.drift_diff, 20, &objs, err);
            if (rc == EBB_OK)
                rc = ebb_error_set(err, EBB_E_VERIFY,
                                   "schema drift: the live schema differs from the one recorded "
                                   "for %s%s: %s",
                                   current ? "revision " : "base", current ? current : "", objs);
            free(objs);
            failed = current;
        }
        ebb_db_status_fini(&st);
    }
    ebb_event ev = {.kind = EBB_EVENT_VERIFY,
                    .revision = failed ? failed : current,
                    .run = &opts->run,
                    .sqlstate = rc != EBB_OK && err ? err->sqlstate : NULL,
                    .error = rc != EBB_OK ? (err ? err->msg : "verification failed") : NULL};
    ebb_error ev_err;
    ebb_code ev_rc = ebb_registry_event_add(pg, &ev, &ev_err);
    if (rc == EBB_OK && ev_rc != EBB_OK) {
        rc = ev_rc;
        if (err)
            *err = ev_err;
    }
    if (rc != EBB_OK && failed && revision_out)
        *revision_out = strdup(failed);
    ebb_applied_list_fini(&applied);
    return rc;
}

ebb_code ebb_migrate_verify(ebb_pg *pg, const ebb_graph *graph, const ebb_migrate_opts *opts,
                            char **revision_out, ebb_error *err)
{
    if (!opts->lock_held) {
        ebb_code rc = ebb_lock_try(pg, err);
        if (rc != EBB_OK)
            return rc;
    }
    ebb_code rc = verify_locked(pg, graph, opts, revision_out, err);
    if (!opts->lock_held) {
        ebb_error rel_err;
        if (ebb_lock_release(pg, &rel_err) != EBB_OK && rc == EBB_OK)
            rc = ebb_error_set(err, rel_err.code, "%s", rel_err.msg);
    }
    return rc;
}

/* ---- prepared transactions ---- */

void ebb_migrate_gid(const char *run_id, const char *db_name, char out[EBB_GID_MAX])
{
    snprintf(out, EBB_GID_MAX, "ebb-%s-%s", run_id ? run_id : "", db_name ? db_name : "db");
    for (char *p = out + 4; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-')
            *p = '_';
}

static ebb_code finish_prepared(ebb_pg *pg, const char *verb, const char *gid, ebb_error *err)
{
    const char *params[] = {gid};
    char *found = NULL;
    ebb_code rc = ebb_pg_query_text(pg,
                                    "SELECT gid FROM pg_catalog.pg_prepared_xacts WHERE gid = $1"
                                    " AND database = current_database()",
                                    1, params, &found, err);
    if (rc != EBB_OK)
        return rc;
    if (!found)
        return ebb_error_set(err, EBB_E_NOT_FOUND,
                             "no prepared transaction %s in this database", gid);
    free(found);
    /* COMMIT/ROLLBACK PREPARED take a literal, not a parameter. */
    char *lit = PQescapeLiteral(pg->conn, gid, strlen(gid));
    if (!lit)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory quoting a gid");
    char sql[EBB_GID_MAX * 2 + 64];
    snprintf(sql, sizeof sql, "%s PREPARED %s", verb, lit);
    PQfreemem(lit);
    rc = ebb_pg_exec_ok(pg, sql, err);
    if (rc != EBB_OK)
        ebb_error_prefix(err, "%s PREPARED %s", verb, gid);
    return rc;
}

ebb_code ebb_migrate_commit_prepared(ebb_pg *pg, const char *gid, ebb_error *err)
{
    return finish_prepared(pg, "COMMIT", gid, err);
}

ebb_code ebb_migrate_rollback_prepared(ebb_pg *pg, const char *gid, ebb_error *err)
{
    return finish_prepared(pg, "ROLLBACK", gid, err);
}

typedef struct gid_list {
    char **v;
    size_t n;
} gid_list;

static ebb_code gid_row(void *ctx, const PGresult *res, int row, ebb_error *err)
{
    gid_list *l = ctx;
    char **p = realloc(l->v, (l->n + 1) * sizeof *p);
    if (!p)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory listing prepared transactions");
    l->v = p;
    if (!(p[l->n] = strdup(PQgetvalue(res, row, 0))))
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory listing prepared transactions");
    l->n++;
    return EBB_OK;
}

ebb_code ebb_migrate_list_prepared(ebb_pg *pg, char ***out, size_t *n_out, ebb_error *err)
{
    gid_list l = {0};
    ebb_code rc = ebb_pg_exec(pg,
                              "SELECT gid FROM pg_catalog.pg_prepared_xacts"
                              " WHERE database = current_database() AND gid LIKE 'ebb-%'"
                              " ORDER BY prepared",
                              0, NULL, gid_row, &l, NULL, err);
    if (rc != EBB_OK) {
        for (size_t i = 0; i < l.n; i++)
            free(l.v[i]);
        free(l.v);
        return rc;
    }
    *out = l.v;
    *n_out = l.n;
    return EBB_OK;
}
