/* Stamp: registry rows changed to say "at revision R" without running scripts, with an event and a fingerprint check. */
#include "agent/stamp.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/lock.h"
#include "agent/migrate_exec.h"
#include "agent/migrate_plan.h"

void ebb_stamp_plan_fini(ebb_stamp_plan *plan)
{
    if (plan == NULL)
        return;
    ebb_path_fini(&plan->path);
    free(plan->from);
    free(plan->to);
    memset(plan, 0, sizeof *plan);
}

void ebb_stamp_result_fini(ebb_stamp_result *res)
{
    if (res == NULL)
        return;
    ebb_stamp_plan_fini(&res->plan);
    ebb_fp_diff_fini(&res->diff);
    memset(res, 0, sizeof *res);
}

static ebb_code dup_opt(const char *s, char **out, ebb_error *err)
{
    *out = NULL;
    if (s != NULL && (*out = strdup(s)) == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    return EBB_OK;
}

ebb_code ebb_stamp_plan_make(const ebb_graph *graph, const ebb_applied_list *applied,
                             const ebb_target *target, ebb_stamp_plan *out, ebb_error *err)
{
    ebb_stamp_plan p;
    memset(&p, 0, sizeof p);
    ebb_code rc = ebb_exec_resolve(graph, applied, target, &p.path, err);
    if (rc != EBB_OK)
        return rc;
    p.direction = p.path.direction;
    const char *from = applied->count ? applied->rows[applied->count - 1].revision : NULL;
    rc = dup_opt(from, &p.from, err);
    if (rc == EBB_OK)
        rc = dup_opt(ebb_plan_current_after(graph, &p.path, applied), &p.to, err);
    if (rc != EBB_OK) {
        ebb_stamp_plan_fini(&p);
        return rc;
    }
    *out = p;
    return EBB_OK;
}

/* details of the stamp event: from, to, rows, fingerprints. malloc'd JSON text or NULL. */
static char *event_details(const ebb_graph *graph, const ebb_stamp_result *r)
{
    json_t *rows = json_array();
    for (size_t i = 0; rows && i < r->plan.path.count; i++)
        json_array_append_new(rows, json_string(graph->revs[r->plan.path.steps[i]].id));
    json_t *o = json_pack("{s:s?, s:s?, s:o, s:s, s:s, s:b, s:b}", "from", r->plan.from, "to",
                          r->plan.to, r->plan.direction == EBB_DIR_DOWN ? "removed" : "inserted",
                          rows ? rows : json_array(), "live_fingerprint", r->live,
                          "recorded_fingerprint", r->recorded, "fingerprint_differs",
                          r->fingerprint_differs, "recorded_live", r->recorded_live);
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    return text;
}

/* The registry writes of a stamp, in the caller's transaction. */
static ebb_code stamp_write(ebb_pg *pg, const ebb_graph *graph, const ebb_run_info *run,
                            const ebb_fingerprint *live, ebb_stamp_result *r, ebb_error *err)
{
    ebb_code rc = EBB_OK;
    for (size_t i = 0; rc == EBB_OK && i < r->plan.path.count; i++) {
        const ebb_revision *rev = &graph->revs[r->plan.path.steps[i]];
        rc = r->plan.direction == EBB_DIR_UP ? ebb_registry_record_stamp(pg, rev, run, err)
                                             : ebb_registry_record_revert(pg, rev->id, err);
    }
    if (rc == EBB_OK && r->recorded_live)
        rc = ebb_registry_record_fingerprint(pg, r->plan.to, run, live, err);
    if (rc != EBB_OK)
        return rc;
    char *details = event_details(graph, r);
    if (details == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory building the stamp event");
    ebb_event ev = {.kind = EBB_EVENT_STAMP, .revision = r->plan.to, .run = run,
                    .details = details};
    rc = ebb_registry_event_add(pg, &ev, err);
    free(details);
    return rc;
}

/* Plan, fingerprints and (unless dry_run) the writes; the lock is held. */
static ebb_code stamp_locked(ebb_pg *pg, const ebb_graph *graph, const ebb_target *target,
                             const ebb_run_info *run, ebb_stamp_result *r, ebb_error *err)
{
    bool exists = false;
    ebb_code rc = r->dry_run ? ebb_registry_exists(pg, &exists, err) : ebb_registry_ensure(pg, err);
    if (rc != EBB_OK)
        return rc;
    ebb_applied_list applied = {0};
    rc = ebb_registry_load(pg, &applied, err);
    if (rc == EBB_OK)
        rc = ebb_stamp_plan_make(graph, &applied, target, &r->plan, err);
    ebb_applied_list_fini(&applied);
    if (rc != EBB_OK)
        return rc;

    ebb_fingerprint live, want;
    rc = ebb_fingerprint_read(pg, &live, err);
    if (rc != EBB_OK)
        return rc;
    snprintf(r->live, sizeof r->live, "%s", live.hex);
    ebb_error nf;
    rc = ebb_registry_fingerprint_of(pg, r->plan.to, &want, &nf);
    if (rc == EBB_OK) {
        snprintf(r->recorded, sizeof r->recorded, "%s", want.hex);
        if (strcmp(want.hex, live.hex) != 0) {
            r->fingerprint_differs = true;
            rc = ebb_fp_diff_compute(want.description, live.description, &r->diff, err);
        }
        ebb_fingerprint_fini(&want);
    } else if (rc == EBB_E_NOT_FOUND) {
        r->recorded_live = true;
        rc = EBB_OK;
    } else if (err) {
        *err = nf;
    }
    if (rc == EBB_OK && !r->dry_run) {
        rc = ebb_pg_begin(pg, err);
        if (rc == EBB_OK)
            rc = stamp_write(pg, graph, run, &live, r, err);
        if (rc == EBB_OK)
            rc = ebb_pg_commit(pg, err);
        else {
            ebb_error ignore; /* the write's error is the one to report */
            if (ebb_pg_rollback(pg, &ignore) != EBB_OK)
                rc = rc != EBB_OK ? rc : ignore.code;
        }
    }
    ebb_fingerprint_fini(&live);
    return rc;
}

ebb_code ebb_stamp_run(ebb_pg *pg, const ebb_graph *graph, const ebb_target *target,
                       const ebb_run_info *run, bool dry_run, ebb_stamp_result *res,
                       ebb_error *err)
{
    if (graph->kind == EBB_SOURCE_ALEMBIC)
        /* Hook for the Alembic driver: alembic_version is the truth there, so
         * the stamp must be `alembic stamp REV`, with the ebb event beside it. */
        return ebb_error_set(err, EBB_E_INVALID,
                             "stamping an Alembic database goes through `alembic stamp`, which "
                             "this build does not drive yet");
    if (run == NULL || run->run_id == NULL || run->run_id[0] == '\0')
        return ebb_error_set(err, EBB_E_INVALID, "a stamp needs a run id");
    if (PQtransactionStatus(pg->conn) != PQTRANS_IDLE)
        return ebb_error_set(err, EBB_E_CONFLICT, "ebb_stamp_run must start outside a transaction");
    ebb_code rc = ebb_lock_try(pg, err);
    if (rc != EBB_OK)
        return rc;
    ebb_stamp_result r;
    memset(&r, 0, sizeof r);
    r.dry_run = dry_run;
    rc = stamp_locked(pg, graph, target, run, &r, err);
    ebb_error rel;
    if (ebb_lock_release(pg, &rel) != EBB_OK && rc == EBB_OK)
        rc = ebb_error_set(err, rel.code, "%s", rel.msg);
    if (rc != EBB_OK) {
        ebb_stamp_result_fini(&r);
        return rc;
    }
    *res = r;
    return EBB_OK;
}
