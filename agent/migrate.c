/* The migration runner on one database: lock, registry, steps in transactions, fingerprint after. */
#include "agent/migrate.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/lock.h"
#include "agent/migrate_exec.h"
#include "agent/migrate_plan.h"
#include "agent/sql_split.h"
#include "common/failpoint.h"

void ebb_migrate_opts_init(ebb_migrate_opts *opts)
{
    memset(opts, 0, sizeof *opts);
}

void ebb_migrate_result_fini(ebb_migrate_result *res)
{
    if (!res)
        return;
    free(res->from_revision);
    free(res->to_revision);
    free(res->failed_revision);
    ebb_fp_diff_fini(&res->mismatch);
    for (size_t i = 0; i < res->n_overrides; i++)
        free(res->checksum_overrides[i]);
    free(res->checksum_overrides);
    free(res->program_output);
    memset(res, 0, sizeof *res);
}

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Everything one run needs, passed explicitly between the helpers. */
typedef struct run {
    ebb_pg *pg;
    const ebb_graph *graph;
    const ebb_migrate_opts *opts;
    ebb_migrate_result *res;
    ebb_path path;
    ebb_sql_script *scripts; /* split step scripts, one per path step (owned) */
    double t0;
} run;

static void progress(run *r, ebb_progress_phase phase, size_t i)
{
    if (!r->opts->progress)
        return;
    ebb_progress p = {
        .phase = phase,
        .step = i + 1,
        .total = r->path.count,
        .revision = r->graph->revs[r->path.steps[i]].id,
        .direction = r->path.direction,
        .elapsed = mono_now() - r->t0,
    };
    r->opts->progress(r->opts->progress_ctx, &p);
}

static const char *dir_word(ebb_direction d)
{
    return d == EBB_DIR_DOWN ? "down" : "up";
}

/* details JSON of a deploy/revert/fail event; malloc'd text or NULL on OOM. */
static char *step_details(const run *r, size_t i, const ebb_error *failure, int line)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    const ebb_script *s = ebb_plan_step_script(r->graph, &r->path, i);
    json_object_set_new(o, "step", json_integer((json_int_t)i + 1));
    json_object_set_new(o, "of", json_integer((json_int_t)r->path.count));
    json_object_set_new(o, "direction", json_string(dir_word(r->path.direction)));
    json_object_set_new(o, "single_transaction",
                        json_boolean(r->opts->single_transaction || r->opts->prepare));
    if (r->opts->prepare)
        json_object_set_new(o, "prepared_gid", json_string(r->res->gid));
    if (s && s->path)
        json_object_set_new(o, "file", json_string(s->path));
    if (s)
        json_object_set_new(o, "checksum", json_string(s->checksum));
    if (s && s->no_transaction)
        json_object_set_new(o, "no_transaction", json_true());
    if (failure && line > 0)
        json_object_set_new(o, "line", json_integer(line));
    if (r->opts->ignore_checksums && r->res->n_overrides > 0) {
        json_t *a = json_array();
        for (size_t k = 0; a && k < r->res->n_overrides; k++)
            json_array_append_new(a, json_string(r->res->checksum_overrides[k]));
        json_object_set_new(o, "checksums_ignored", a);
    }
    if (r->opts->event_details != NULL) {
        json_t *extra = json_loads(r->opts->event_details, 0, NULL);
        if (json_is_object(extra))
            json_object_update(o, extra);
        json_decref(extra);
    }
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return text;
}

static ebb_code add_event(run *r, ebb_event_kind kind, size_t i, double started,
                          const ebb_error *failure, int line, ebb_error *err)
{
    char *details = step_details(r, i, failure, line);
    if (!details)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory building event details");
    ebb_event ev = {
        .kind = kind,
        .revision = r->graph->revs[r->path.steps[i]].id,
        .run = &r->opts->run,
        .started_at = started,
        .sqlstate = failure ? failure->sqlstate : NULL,
        .error = failure ? failure->msg : NULL,
        .details = details,
    };
    ebb_code rc = ebb_registry_event_add(r->pg, &ev, err);
    free(details);
    return rc;
}

/* The registry change of step i, inside the current transaction. */
static ebb_code record_step(run *r, size_t i, double started, ebb_error *err)
{
    const ebb_revision *rev = &r->graph->revs[r->path.steps[i]];
    ebb_code rc;
    if (r->path.direction == EBB_DIR_UP) {
        ebb_fingerprint fp;
        rc = ebb_fingerprint_read(r->pg, &fp, err);
        if (rc != EBB_OK)
            return rc;
        rc = ebb_registry_record_apply(r->pg, rev, &r->opts->run, &fp, err);
        ebb_fingerprint_fini(&fp);
    } else {
        rc = ebb_registry_record_revert(r->pg, rev->id, err);
    }
    if (rc == EBB_OK)
        rc = add_event(r, r->path.direction == EBB_DIR_UP ? EBB_EVENT_DEPLOY : EBB_EVENT_REVERT,
                       i, started, NULL, 0, err);
    return rc;
}

static void rollback_quietly(ebb_pg *pg)
{
    if (PQtransactionStatus(pg->conn) != PQTRANS_IDLE) {
        ebb_error ignore; /* the step's own error is the one to report */
        if (ebb_pg_rollback(pg, &ignore) != EBB_OK)
            return;
    }
}

/*
 * Step i failed with *err (line in its file, 0 unknown): the transaction is
 * already rolled back; keep the failure in the result and write a fail
 * event in a transaction of its own. The step's error is what the caller
 * returns; a failure to write the event is appended to its message.
 */
static ebb_code step_failed(run *r, size_t i, double started, int line, ebb_code rc,
                            ebb_error *err)
{
    rollback_quietly(r->pg);
    ebb_error local;
    ebb_error_clear(&local);
    if (!err)
        err = &local;
    const ebb_revision *rev = &r->graph->revs[r->path.steps[i]];
    r->res->failed_revision = strdup(rev->id);
    r->res->failed_line = line;
    snprintf(r->res->sqlstate, sizeof r->res->sqlstate, "%s", err->sqlstate);
    progress(r, EBB_PROGRESS_STEP_FAILED, i);
    ebb_error ev_err;
    if (add_event(r, EBB_EVENT_FAIL, i, started, err, line, &ev_err) != EBB_OK) {
        size_t len = strlen(err->msg);
        snprintf(err->msg + len, sizeof err->msg - len, " (and the fail event was not written: %s)",
                 ev_err.msg);
    }
    return rc;
}

static ebb_code run_stepwise(run *r, ebb_error *err)
{
    for (size_t i = 0; i < r->path.count; i++) {
        const ebb_script *s = ebb_plan_step_script(r->graph, &r->path, i);
        double started = wall_now();
        int line = 0;
        progress(r, EBB_PROGRESS_STEP_START, i);
        ebb_code rc = EBB_OK;
        if (s->external) {
            /* Alembic runs the revision in its own transaction (with alembic_version); ebb then
             * records it in its own. Between the two, alembic_version is ahead of ebb.applied
             * and the next run reconciles it (ebb_migrate_alembic_reconcile). */
            const ebb_revision *rev = &r->graph->revs[r->path.steps[i]];
            char *output = NULL;
            rc = ebb_alembic_step(r->opts->alembic, r->path.direction == EBB_DIR_UP, rev->id,
                                  &output, err);
            if (rc != EBB_OK)
                r->res->program_output = output;
            else
                free(output);
            if (rc == EBB_OK)
                rc = ebb_pg_begin(r->pg, err);
        } else if (s->no_transaction) {
            /* Alone, outside any transaction; recorded only once it succeeded. */
            rc = ebb_exec_statements(r->pg, r->graph->revs[r->path.steps[i]].id,
                                     dir_word(r->path.direction), s, &r->scripts[i], &line, err);
            if (rc == EBB_OK)
                rc = ebb_pg_begin(r->pg, err);
        } else {
            rc = ebb_pg_begin(r->pg, err);
            if (rc == EBB_OK)
                rc = ebb_exec_statements(r->pg, r->graph->revs[r->path.steps[i]].id,
                                         dir_word(r->path.direction), s, &r->scripts[i], &line,
                                         err);
        }
        if (rc == EBB_OK)
            rc = record_step(r, i, started, err);
        if (rc == EBB_OK)
            ebb_failpoint("migrate.commit"); /* test-only: the step's transaction is open */
        if (rc == EBB_OK)
            rc = ebb_pg_commit(r->pg, err);
        if (rc != EBB_OK)
            return step_failed(r, i, started, line, rc, err);
        r->res->done++;
        progress(r, EBB_PROGRESS_STEP_DONE, i);
    }
    return EBB_OK;
}

static ebb_code run_single(run *r, ebb_error *err)
{
    ebb_code rc = ebb_pg_begin(r->pg, err);
    if (rc != EBB_OK)
        return rc;
    double started = wall_now();
    for (size_t i = 0; i < r->path.count; i++) {
        const ebb_script *s = ebb_plan_step_script(r->graph, &r->path, i);
        int line = 0;
        double step_started = wall_now();
        progress(r, EBB_PROGRESS_STEP_START, i);
        rc = ebb_exec_statements(r->pg, r->graph->revs[r->path.steps[i]].id,
                                 dir_word(r->path.direction), s, &r->scripts[i], &line, err);
        if (rc == EBB_OK)
            rc = record_step(r, i, step_started, err);
        if (rc != EBB_OK)
            return step_failed(r, i, step_started, line, rc, err);
        progress(r, EBB_PROGRESS_STEP_DONE, i);
    }
    ebb_failpoint("migrate.commit"); /* test-only: the path's transaction is open */
    if (r->opts->prepare) {
        char *q = NULL;
        /* PREPARE TRANSACTION takes a literal, not a parameter: quote it as one. */
        char *lit = PQescapeLiteral(r->pg->conn, r->res->gid, strlen(r->res->gid));
        if (!lit)
            return step_failed(r, r->path.count - 1, started, 0,
                               ebb_error_set(err, EBB_E_NOMEM, "out of memory quoting the gid"),
                               err);
        size_t n = strlen(lit) + 32;
        q = malloc(n);
        if (q)
            snprintf(q, n, "PREPARE TRANSACTION %s", lit);
        PQfreemem(lit);
        rc = q ? ebb_pg_exec_ok(r->pg, q, err)
               : ebb_error_set(err, EBB_E_NOMEM, "out of memory preparing the transaction");
        free(q);
    } else {
        rc = ebb_pg_commit(r->pg, err);
    }
    if (rc != EBB_OK)
        return step_failed(r, r->path.count - 1, started, 0, rc, err);
    r->res->done = r->path.count;
    return EBB_OK;
}

/* After a down path: the live schema must be the one recorded for the new current revision. */
static ebb_code check_after_down(run *r, const char *current, const ebb_fingerprint *live,
                                 ebb_error *err)
{
    ebb_fingerprint want;
    ebb_error nf;
    ebb_code rc = ebb_registry_fingerprint_of(r->pg, current, &want, &nf);
    if (rc == EBB_E_NOT_FOUND)
        return EBB_OK; /* nothing recorded (registry older than the revision): cannot compare */
    if (rc != EBB_OK) {
        if (err)
            *err = nf;
        return rc;
    }
    if (strcmp(want.hex, live->hex) != 0) {
        rc = ebb_fp_diff_compute(want.description, live->description, &r->res->mismatch, err);
        char *objs = NULL;
        if (rc == EBB_OK)
            rc = ebb_fp_diff_objects(&r->res->mismatch, 20, &objs, err);
        if (rc == EBB_OK) {
            rc = ebb_error_set(err, EBB_E_VERIFY,
                               "after the down path to %s%s the schema differs from the one "
                               "recorded when it was current (%s, live %s): %s",
                               current ? "revision " : "base", current ? current : "",
                               want.hex, live->hex, objs);
            ebb_event ev = {.kind = EBB_EVENT_VERIFY, .revision = current,
                            .run = &r->opts->run, .error = err ? err->msg : "fingerprint mismatch"};
            ebb_error ev_err;
            if (ebb_registry_event_add(r->pg, &ev, &ev_err) != EBB_OK && err) {
                size_t len = strlen(err->msg);
                snprintf(err->msg + len, sizeof err->msg - len,
                         " (and the verify event was not written: %s)", ev_err.msg);
            }
        }
        free(objs);
    }
    ebb_fingerprint_fini(&want);
    return rc;
}

static ebb_code split_scripts(run *r, ebb_error *err)
{
    r->scripts = calloc(r->path.count ? r->path.count : 1, sizeof *r->scripts);
    if (!r->scripts)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory splitting scripts");
    for (size_t i = 0; i < r->path.count; i++) {
        const ebb_revision *rev = &r->graph->revs[r->path.steps[i]];
        const ebb_script *s = ebb_plan_step_script(r->graph, &r->path, i);
        ebb_code rc = ebb_exec_prepare(rev->id, dir_word(r->path.direction), s, &r->scripts[i],
                                       err);
        if (rc != EBB_OK)
            return rc;
    }
    return EBB_OK;
}

static ebb_code set_text(char **dst, const char *src, ebb_error *err)
{
    if (!src)
        return EBB_OK;
    if (!(*dst = strdup(src)))
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    return EBB_OK;
}

static ebb_code run_locked(run *r, const ebb_target *target, ebb_error *err)
{
    const ebb_migrate_opts *o = r->opts;
    ebb_code rc = ebb_session_set_timeouts(r->pg, o->lock_timeout_ms, o->statement_timeout_ms, err);
    if (rc == EBB_OK)
        rc = ebb_migrate_sqitch_guard(r->pg, r->graph, err);
    if (rc == EBB_OK)
        rc = ebb_registry_ensure(r->pg, err);
    if (rc == EBB_OK && r->graph->kind == EBB_SOURCE_ALEMBIC) {
        if (!o->alembic)
            return ebb_error_set(err, EBB_E_INVALID, "an Alembic project needs its Alembic settings");
        rc = ebb_migrate_alembic_reconcile(r->pg, r->graph, o->alembic, &o->run, NULL, err);
    }
    if (rc != EBB_OK)
        return rc;
    ebb_applied_list applied = {0};
    if ((rc = ebb_registry_load(r->pg, &applied, err)) != EBB_OK)
        return rc;
    rc = ebb_exec_resolve(r->graph, &applied, target, &r->path, err);
    if (rc == EBB_OK && applied.count > 0)
        rc = set_text(&r->res->from_revision, applied.rows[applied.count - 1].revision, err);
    r->res->direction = r->path.direction;
    r->res->total = r->path.count;
    bool single = o->single_transaction || o->prepare;
    if (rc == EBB_OK)
        rc = ebb_plan_check_transactions(r->graph, &r->path, single, err);
    if (rc == EBB_OK)
        rc = ebb_plan_check_checksums(r->graph, &r->path, &applied, o->ignore_checksums,
                                      &r->res->checksum_overrides, &r->res->n_overrides, err);
    if (rc == EBB_OK)
        rc = split_scripts(r, err);
    const char *after = ebb_plan_current_after(r->graph, &r->path, &applied);
    char *after_copy = NULL;
    if (rc == EBB_OK)
        rc = set_text(&after_copy, after, err);
    bool from_base = applied.count == 0;
    ebb_applied_list_fini(&applied);
    if (rc != EBB_OK) {
        free(after_copy);
        return rc;
    }
    if (o->prepare && r->path.count > 0) /* nothing to run: nothing prepared, gid stays "" */
        ebb_migrate_gid(o->run.run_id, o->db_name, r->res->gid);

    if (r->path.count > 0 && r->path.direction == EBB_DIR_UP && from_base) {
        ebb_fingerprint base;
        rc = ebb_fingerprint_read(r->pg, &base, err);
        if (rc == EBB_OK) {
            rc = ebb_registry_record_baseline(r->pg, &o->run, &base, err);
            ebb_fingerprint_fini(&base);
        }
    }
    if (rc == EBB_OK && r->path.count > 0)
        rc = single ? run_single(r, err) : run_stepwise(r, err);
    if (rc != EBB_OK) {
        free(after_copy);
        return rc;
    }
    if (!o->prepare) {
        r->res->to_revision = after_copy;
        after_copy = NULL;
        ebb_fingerprint live;
        rc = ebb_fingerprint_read(r->pg, &live, err);
        if (rc != EBB_OK)
            return rc;
        snprintf(r->res->fingerprint, sizeof r->res->fingerprint, "%s", live.hex);
        if (r->path.direction == EBB_DIR_DOWN && r->path.count > 0 && !o->skip_fingerprint_check)
            rc = check_after_down(r, r->res->to_revision, &live, err);
        ebb_fingerprint_fini(&live);
    }
    free(after_copy);
    return rc;
}

ebb_code ebb_migrate_run(ebb_pg *pg, const ebb_graph *graph, const ebb_target *target,
                         const ebb_migrate_opts *opts, ebb_migrate_result *result, ebb_error *err)
{
    memset(result, 0, sizeof *result);
    if (!opts->run.run_id || !*opts->run.run_id)
        return ebb_error_set(err, EBB_E_INVALID, "a migration run needs a run id");
    if (PQtransactionStatus(pg->conn) != PQTRANS_IDLE)
        return ebb_error_set(err, EBB_E_CONFLICT, "ebb_migrate_run must start outside a transaction");
    if (!opts->lock_held) {
        ebb_code rc = ebb_lock_try(pg, err);
        if (rc != EBB_OK)
            return rc;
    }
    run r = {.pg = pg, .graph = graph, .opts = opts, .res = result, .t0 = mono_now()};
    ebb_code rc = run_locked(&r, target, err);
    rollback_quietly(pg);
    if (!opts->lock_held) {
        ebb_error rel_err; /* a lost connection releases the lock anyway */
        if (ebb_lock_release(pg, &rel_err) != EBB_OK && rc == EBB_OK)
            rc = ebb_error_set(err, rel_err.code, "%s", rel_err.msg);
    }
    for (size_t i = 0; r.scripts && i < r.path.count; i++)
        ebb_sql_script_fini(&r.scripts[i]);
    free(r.scripts);
    ebb_path_fini(&r.path);
    return rc;
}
