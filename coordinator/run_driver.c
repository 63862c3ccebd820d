/* The rollout engine's I/O shell (see run_driver.h): journal first, then the transition, then the
 * jobs. */
#include "coordinator/run_driver.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "coordinator/audit.h"
#include "coordinator/plan_render.h"
#include "coordinator/run_driver_internal.h"
#include "coordinator/run_store.h"

#define LOG_MAX 1000 /* entries kept per run for `show` */

ebb_code ebb_run_driver_alloc(ebb_journal *journal, ebb_job_queue *queue, ebb_run_driver **out,
                              ebb_error *err)
{
    ebb_run_driver *d = calloc(1, sizeof *d);
    if (d == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    d->journal = journal;
    d->queue = queue;
    *out = d;
    return EBB_OK;
}

void drv_entry_free(ebb_run_entry *e)
{
    if (e == NULL)
        return;
    ebb_run_fini(&e->run);
    ebb_plan_fini(&e->plan);
    free(e->operator_name);
    json_decref(e->log);
    free(e);
}

void ebb_run_driver_free(ebb_run_driver *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->n; i++)
        drv_entry_free(d->runs[i]);
    free(d->runs);
    free(d->hist);
    for (size_t i = 0; i < d->n_ended_audited; i++)
        free(d->ended_audited[i]);
    free(d->ended_audited);
    free(d);
}

size_t ebb_run_driver_count(const ebb_run_driver *d)
{
    return d->n;
}

const ebb_run_entry *ebb_run_driver_at(const ebb_run_driver *d, size_t i)
{
    return i < d->n ? d->runs[i] : NULL;
}

ebb_run_entry *drv_find(const ebb_run_driver *d, const char *run_id)
{
    for (size_t i = 0; run_id != NULL && i < d->n; i++)
        if (strcmp(d->runs[i]->run_id, run_id) == 0)
            return d->runs[i];
    return NULL;
}

const ebb_run_entry *ebb_run_driver_find(const ebb_run_driver *d, const char *run_id)
{
    return drv_find(d, run_id);
}

uint64_t ebb_run_driver_version(const ebb_run_driver *d)
{
    return d->version;
}

static Ebb__JobAction wire_action(ebb_job_kind k)
{
    switch (k) {
    case EBB_JOB_PRECHECK:
        return EBB__JOB_ACTION__ACTION_PRECHECK;
    case EBB_JOB_STOP_SERVICES:
        return EBB__JOB_ACTION__ACTION_STOP_SERVICES;
    case EBB_JOB_BACKUP:
        return EBB__JOB_ACTION__ACTION_BACKUP;
    case EBB_JOB_MIGRATE:
        return EBB__JOB_ACTION__ACTION_MIGRATE;
    case EBB_JOB_VERIFY:
        return EBB__JOB_ACTION__ACTION_VERIFY;
    case EBB_JOB_START_SERVICES:
        return EBB__JOB_ACTION__ACTION_START_SERVICES;
    case EBB_JOB_HEALTH:
        return EBB__JOB_ACTION__ACTION_HEALTH;
    case EBB_JOB_RESTORE:
        return EBB__JOB_ACTION__ACTION_RESTORE;
    case EBB_JOB_COMMIT_PREPARED:
        return EBB__JOB_ACTION__ACTION_COMMIT_PREPARED;
    case EBB_JOB_ROLLBACK_PREPARED:
        return EBB__JOB_ACTION__ACTION_ROLLBACK_PREPARED;
    default:
        return EBB__JOB_ACTION__ACTION_NONE;
    }
}

/* Queue the job host i of e has out (same id: a re-ask after a restart is harmless). */
ebb_code drv_queue_job(ebb_run_driver *d, ebb_run_entry *e, size_t i, int64_t now_ms,
                       ebb_error *err)
{
    const ebb_rollout_host *h = &e->run.hosts[i];
    const ebb_plan_host *ph = &e->plan.hosts[i];
    ebb_coord_job job;
    memset(&job, 0, sizeof job);
    job.job_id = (char *)h->job_id;
    job.run_id = e->run_id;
    job.agent_id = ph->host;
    job.database = ph->db;
    job.action = wire_action(h->job);
    job.operator_key_id = e->plan.requester;
    job.reason = e->plan.reason;
    job.accept_data_loss = e->plan.accept_data_loss;
    if (h->job == EBB_JOB_MIGRATE && h->state == EBB_HOST_COMPENSATING) {
        job.target = ph->from;
    } else if (h->job == EBB_JOB_MIGRATE || h->job == EBB_JOB_PRECHECK) {
        job.target = ph->to;
        job.prepare = e->plan.atomic && h->job == EBB_JOB_MIGRATE;
    } else if (h->job == EBB_JOB_RESTORE) {
        job.backup_id = (char *)h->backup_id;
    }
    long long left_ms = h->deadline * 1000 - now_ms;
    job.timeout_ms = left_ms > 0 && left_ms < 24LL * 3600 * 1000 ? (uint32_t)left_ms : 0;
    return ebb_job_queue_add(d->queue, &job, NULL, err);
}

/* Forget queued jobs of e that no host has out any more (timed out, run stopped). */
static void prune_jobs(ebb_run_driver *d, ebb_run_entry *e)
{
    for (size_t q = 0; q < d->queue->n;) {
        ebb_coord_job *j = &d->queue->jobs[q];
        bool out = false;
        if (strcmp(j->run_id, e->run_id) == 0) {
            for (size_t i = 0; i < e->run.n_hosts && !out; i++)
                out = strcmp(e->run.hosts[i].job_id, j->job_id) == 0;
            if (!out && ebb_job_queue_remove(d->queue, j->job_id))
                continue;
        }
        q++;
    }
}

void drv_log_add(ebb_run_entry *e, int64_t ts_ms, const char *host, const char *db,
                 const char *step, const char *job_id, const char *outcome, const char *error)
{
    if (e->log == NULL && (e->log = json_array()) == NULL)
        return;
    if (json_array_size(e->log) >= LOG_MAX)
        json_array_remove(e->log, 0);
    json_array_append_new(e->log,
                          json_pack("{s:I, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?}", "ts_ms",
                                    (json_int_t)ts_ms, "host", host, "database", db, "step", step,
                                    "job_id", job_id, "outcome", outcome, "error", error));
}

static json_t *transitions_json(const ebb_rollout_output *o)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < o->n_transitions; i++) {
        const ebb_rollout_transition *t = &o->transitions[i];
        json_array_append_new(a,
                              json_pack("[I, i, i, i, i]",
                                        t->host == SIZE_MAX ? (json_int_t)-1 : (json_int_t)t->host,
                                        t->from, t->event, t->to, t->action));
    }
    return a;
}

static ebb_code append(ebb_run_driver *d, int64_t now_ms, const char *type, json_t *payload,
                       ebb_error *err)
{
    if (payload == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory building a %s record", type);
    ebb_code rc = ebb_journal_append(d->journal, now_ms, type, payload, NULL, NULL, err);
    json_decref(payload);
    return rc;
}

static ebb_audit_run_outcome end_outcome(ebb_run_state st)
{
    switch (st) {
    case EBB_RUN_SUCCEEDED:
        return EBB_AUDIT_RUN_SUCCEEDED;
    case EBB_RUN_ABORTED:
        return EBB_AUDIT_RUN_ABORTED;
    case EBB_RUN_COMPENSATED:
        return EBB_AUDIT_RUN_COMPENSATED;
    default:
        return EBB_AUDIT_RUN_FAILED;
    }
}

ebb_code drv_write_run_end(ebb_run_driver *d, ebb_run_entry *e, int64_t now_ms, ebb_error *err)
{
    char msg[320];
    snprintf(msg, sizeof msg, "%s: %zu host failure(s), budget %zu",
             ebb_run_state_name(e->run.state), e->run.failures, e->plan.budget);
    ebb_audit_run_end end = {
        .run_id = e->run_id, .outcome = end_outcome(e->run.state), .message = msg};
    return ebb_audit_write_run_end(d->journal, now_ms, &end, NULL, err);
}

/* Carry out what a transition asks for (after it is durable). */
static ebb_code carry_out(ebb_run_driver *d, ebb_run_entry *e, const ebb_rollout_output *o,
                          int64_t now_ms, ebb_error *err)
{
    ebb_code rc = EBB_OK;
    for (size_t k = 0; k < o->n_actions && rc == EBB_OK; k++) {
        const ebb_rollout_action *a = &o->actions[k];
        switch (a->kind) {
        case EBB_ACT_SEND_JOB: {
            const ebb_plan_host *ph = &e->plan.hosts[a->host];
            drv_log_add(e, now_ms, ph->host, ph->db, ebb_job_kind_name(a->job), a->job_id, "sent",
                        NULL);
            if (!d->replaying && strcmp(e->run.hosts[a->host].job_id, a->job_id) == 0)
                rc = drv_queue_job(d, e, a->host, now_ms, err);
            break;
        }
        case EBB_ACT_RECORD_DECISION:
            drv_log_add(e, now_ms, NULL, NULL, a->commit ? "decision commit" : "decision rollback",
                        NULL, NULL, NULL);
            if (!d->replaying)
                rc = append(d, now_ms, EBB_RUN_DECISION,
                            json_pack("{s:s, s:I, s:s}", "run_id", e->run_id, "wave",
                                      (json_int_t)a->wave + 1, "decision",
                                      a->commit ? "commit" : "rollback"),
                            err);
            break;
        case EBB_ACT_START_SOAK:
            drv_log_add(e, now_ms, NULL, NULL, "soak", NULL, NULL, NULL);
            break;
        case EBB_ACT_REQUEST_APPROVAL:
            drv_log_add(e, now_ms, NULL, NULL, "awaiting approval", NULL, NULL, NULL);
            break;
        case EBB_ACT_END_RUN:
            e->ended_ms = now_ms;
            drv_log_add(e, now_ms, NULL, NULL, "end", NULL, ebb_run_state_name(a->end_state), NULL);
            if (!d->replaying)
                rc = drv_write_run_end(d, e, now_ms, err);
            break;
        }
    }
    if (!d->replaying)
        prune_jobs(d, e);
    return rc;
}

/*
 * One event: compute (pure), audit (hook), journal the transition, take it,
 * carry out its actions. A tick that changes nothing leaves no record.
 */
ebb_code drv_step(ebb_run_driver *d, ebb_run_entry *e, const ebb_rollout_event *ev, int64_t now_ms,
                  drv_audit_fn audit, void *actx, ebb_error *err)
{
    ebb_run next;
    ebb_rollout_output out;
    ebb_code rc = ebb_rollout_apply(&e->run, ev, now_ms / 1000, &next, &out, err);
    if (rc != EBB_OK)
        return rc;
    if (ev->kind == EBB_EV_TICK && out.n_transitions == 0 && out.n_actions == 0 &&
        memcmp(next.hosts, e->run.hosts, next.n_hosts * sizeof *next.hosts) == 0) {
        ebb_run_fini(&next);
        ebb_rollout_output_fini(&out);
        return EBB_OK;
    }
    if (!d->replaying) {
        if (audit != NULL)
            rc = audit(d, e, now_ms, actx, err);
        if (rc == EBB_OK)
            rc = append(d, now_ms, EBB_RUN_TRANSITION,
                        json_pack("{s:s, s:I, s:o, s:s, s:o}", "run_id", e->run_id, "now",
                                  (json_int_t)now_ms, "event", ebb_rollout_event_to_json(ev),
                                  "state", ebb_run_state_name(next.state), "transitions",
                                  transitions_json(&out)),
                        err);
        if (rc != EBB_OK) {
            ebb_run_fini(&next);
            ebb_rollout_output_fini(&out);
            return rc;
        }
    }
    ebb_run_fini(&e->run);
    e->run = next;
    e->version++;
    d->version++;
    rc = carry_out(d, e, &out, now_ms, err);
    ebb_rollout_output_fini(&out);
    return rc;
}

ebb_code drv_add_entry(ebb_run_driver *d, ebb_run_entry *e, ebb_error *err)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        ebb_run_entry **r = realloc(d->runs, cap * sizeof *r);
        if (r == NULL)
            return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
        d->runs = r;
        d->cap = cap;
    }
    d->runs[d->n++] = e;
    return EBB_OK;
}

static json_t *policy_record(const ebb_policy_result *p)
{
    json_t *reasons = json_array();
    for (size_t i = 0; reasons != NULL && i < p->n_reasons; i++)
        json_array_append_new(reasons, json_string(p->reasons[i]));
    return json_pack("{s:s, s:i, s:o}", "verdict", ebb_policy_verdict_name(p->verdict),
                     "approvals_needed", (int)p->approvals_needed, "reasons",
                     reasons ? reasons : json_array());
}

void drv_policy_from_record(const json_t *j, ebb_policy_result *p)
{
    memset(p, 0, sizeof *p);
    const char *v = json_string_value(json_object_get(j, "verdict"));
    p->verdict = v != NULL && strcmp(v, "needs_approval") == 0 ? EBB_POLICY_NEEDS_APPROVAL
                                                               : EBB_POLICY_ALLOWED;
    p->approvals_needed = (unsigned)json_integer_value(json_object_get(j, "approvals_needed"));
    const json_t *r = json_object_get(j, "reasons");
    for (size_t i = 0; i < json_array_size(r) && i < EBB_POLICY_MAX_REASONS; i++) {
        const char *s = json_string_value(json_array_get(r, i));
        snprintf(p->reasons[p->n_reasons++], sizeof p->reasons[0], "%s", s ? s : "");
    }
}

ebb_code ebb_run_driver_start(ebb_run_driver *d, ebb_plan *plan, const ebb_run_start *start,
                              int64_t now_ms, char run_id_out[64], ebb_error *err)
{
    ebb_run_entry *e = calloc(1, sizeof *e);
    if (e == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    uint8_t rnd[6];
    randombytes_buf(rnd, sizeof rnd);
    snprintf(e->run_id, sizeof e->run_id, "run-%lld-%02x%02x%02x%02x%02x%02x",
             (long long)(now_ms / 1000), rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
    e->policy = *start->policy;
    snprintf(e->operator_key_id, sizeof e->operator_key_id, "%s", start->operator_key_id);
    e->operator_name = start->operator_name ? strdup(start->operator_name) : NULL;
    e->created_ms = now_ms;
    ebb_rollout_config cfg = start->cfg;
    cfg.approvals_needed =
        start->policy->verdict == EBB_POLICY_NEEDS_APPROVAL ? start->policy->approvals_needed : 0;
    ebb_code rc = ebb_plan_hash(plan, e->plan_hash, err);
    json_t *pj = rc == EBB_OK ? ebb_plan_to_json(plan, NULL) : NULL;
    if (rc == EBB_OK && pj == NULL)
        rc = ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    if (rc == EBB_OK) {
        ebb_audit_run_requested req = {
            .run_id = e->run_id,
            .operator_key_id = start->operator_key_id,
            .operator_name = start->operator_name,
            .reason = plan->reason[0] ? plan->reason : "(none given)",
            .kind =
                plan->kind == EBB_RUN_ROLLBACK ? EBB_AUDIT_KIND_ROLLBACK : EBB_AUDIT_KIND_ROLLOUT,
            .environment = plan->env,
            .target = plan->target,
            .hosts = start->hosts,
            .n_hosts = start->n_hosts,
            .plan = pj,
        };
        rc = ebb_audit_write_run_requested(d->journal, now_ms, &req, NULL, err);
    }
    if (rc == EBB_OK)
        rc = append(d, now_ms, EBB_RUN_CREATED,
                    json_pack("{s:s, s:O, s:s, s:o, s:s, s:s?, s:o, s:I}", "run_id", e->run_id,
                              "plan", pj, "plan_hash", e->plan_hash, "cfg",
                              ebb_rollout_config_to_json(&cfg), "operator_key_id",
                              start->operator_key_id, "operator_name", start->operator_name,
                              "policy", policy_record(start->policy), "created_ms",
                              (json_int_t)now_ms),
                    err);
    json_decref(pj);
    if (rc != EBB_OK) {
        free(e->operator_name);
        free(e);
        return rc;
    }
    /* Durable from here: the run exists. */
    e->plan = *plan;
    memset(plan, 0, sizeof *plan);
    rc = ebb_run_init(&e->plan, e->run_id, &cfg, &e->run, err);
    if (rc == EBB_OK)
        rc = drv_add_entry(d, e, err);
    if (rc != EBB_OK) {
        drv_entry_free(e);
        return rc;
    }
    drv_log_add(e, now_ms, NULL, NULL, "requested", NULL, NULL, NULL);
    ebb_rollout_event ev = {.kind = EBB_EV_START};
    rc = drv_step(d, e, &ev, now_ms, NULL, NULL, err);
    if (rc == EBB_OK)
        memcpy(run_id_out, e->run_id, sizeof e->run_id);
    return rc;
}

/* ---- results ---- */

typedef struct result_ctx {
    const ebb_driver_result *r;
    size_t host;
} result_ctx;

static char *join(const char *const *v, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(v[i]) + 1;
    char *s = calloc(1, len);
    for (size_t i = 0; s != NULL && i < n; i++) {
        if (i > 0)
            strcat(s, "+");
        strcat(s, v[i]);
    }
    return s;
}

static ebb_code audit_result(ebb_run_driver *d, ebb_run_entry *e, int64_t now_ms, void *ctx,
                             ebb_error *err)
{
    const result_ctx *rc = ctx;
    const ebb_driver_result *r = rc->r;
    const ebb_plan_host *ph = &e->plan.hosts[rc->host];
    const ebb_rollout_host *h = &e->run.hosts[rc->host];
    ebb_audit_step_outcome oc = r->ok ? EBB_AUDIT_STEP_OK : EBB_AUDIT_STEP_FAILED;
    if (r->outcome != NULL && strcmp(r->outcome, "interrupted") == 0)
        oc = EBB_AUDIT_STEP_INTERRUPTED;
    char *before = join(r->revisions_before, r->n_before);
    char *after = join(r->revisions_after, r->n_after);
    ebb_code code;
    if (h->state == EBB_HOST_COMPENSATING) {
        ebb_audit_compensation c = {
            .run_id = e->run_id,
            .host = ph->host,
            .database = ph->db,
            .action = h->job == EBB_JOB_RESTORE ? "restore backup" : "migrate back",
            .revision_to = after && after[0] ? after : NULL,
            .backup_id = h->job == EBB_JOB_RESTORE ? h->backup_id : NULL,
            .outcome = oc,
            .detail = r->error_message,
        };
        code = ebb_audit_write_compensation(d->journal, now_ms, &c, NULL, err);
    } else {
        ebb_audit_step_result s = {
            .run_id = e->run_id,
            .host = ph->host,
            .database = ph->db,
            .step = ebb_job_kind_name(h->job),
            .job_id = r->job_id,
            .outcome = oc,
            .revision_before = before && before[0] ? before : NULL,
            .revision_after = after && after[0] ? after : NULL,
            .backup_id = r->backup_id,
            .backup_checksum = r->backup_checksum,
            .verify = h->job != EBB_JOB_VERIFY ? EBB_AUDIT_VERIFY_NOT_RUN
                      : r->ok                  ? EBB_AUDIT_VERIFY_PASSED
                                               : EBB_AUDIT_VERIFY_FAILED,
            .fingerprint = r->fingerprint,
            .started_ms = r->started_ms,
            .finished_ms = r->finished_ms,
            .error_code = r->ok ? NULL : r->error_code,
            .error_message = r->ok ? NULL : r->error_message,
            .sqlstate = r->sqlstate,
        };
        code = ebb_audit_write_step_result(d->journal, now_ms, &s, NULL, err);
    }
    free(before);
    free(after);
    return code;
}

/* Did the job change the database? Only a result whose state after was read (it carries the
 * fingerprint read with it) can say "none". */
static ebb_result_change result_change(const ebb_driver_result *r)
{
    if (r->fingerprint == NULL)
        return EBB_CHANGE_UNKNOWN;
    if (r->n_before != r->n_after)
        return EBB_CHANGE_SOME;
    for (size_t a = 0; a < r->n_after; a++) {
        bool found = false;
        for (size_t b = 0; b < r->n_before && !found; b++)
            found = strcmp(r->revisions_after[a], r->revisions_before[b]) == 0;
        if (!found)
            return EBB_CHANGE_SOME;
    }
    return EBB_CHANGE_NONE;
}

ebb_code ebb_run_driver_result(ebb_run_driver *d, const ebb_driver_result *r, int64_t now_ms,
                               bool *matched, ebb_error *err)
{
    ebb_run_entry *e = drv_find(d, r->run_id);
    size_t i = 0;
    while (e != NULL && i < e->run.n_hosts && strcmp(e->run.hosts[i].job_id, r->job_id) != 0)
        i++;
    if (e == NULL || i == e->run.n_hosts || r->job_id[0] == '\0') {
        if (matched != NULL)
            *matched = false;
        return EBB_OK;
    }
    char error[512];
    snprintf(error, sizeof error, "%s%s%s", r->outcome ? r->outcome : "failed",
             r->error_message ? ": " : "", r->error_message ? r->error_message : "");
    ebb_rollout_event ev = {.kind = EBB_EV_RESULT,
                            .job_id = r->job_id,
                            .ok = r->ok,
                            .error = r->ok ? NULL : error,
                            .backup_id = r->backup_id,
                            .change = result_change(r)};
    result_ctx ctx = {r, i};
    const ebb_plan_host *ph = &e->plan.hosts[i];
    const char *step_name = ebb_job_kind_name(e->run.hosts[i].job);
    ebb_code rc = drv_step(d, e, &ev, now_ms, audit_result, &ctx, err);
    if (rc == EBB_OK) {
        /* The transition's own entries come first; this one records what came back. */
        drv_log_add(e, now_ms, ph->host, ph->db, step_name, r->job_id, r->outcome,
                    r->ok ? NULL : r->error_message);
        ebb_job_queue_remove(d->queue, r->job_id);
    }
    if (matched != NULL)
        *matched = true;
    return rc;
}

ebb_code ebb_run_driver_tick(ebb_run_driver *d, int64_t now_ms, ebb_error *err)
{
    for (size_t i = 0; i < d->n; i++) {
        ebb_run_entry *e = d->runs[i];
        if (ebb_run_is_over(&e->run))
            continue;
        ebb_rollout_event ev = {.kind = EBB_EV_TICK};
        ebb_code rc = drv_step(d, e, &ev, now_ms, NULL, NULL, err);
        if (rc != EBB_OK)
            return rc;
    }
    return EBB_OK;
}

typedef struct control_ctx {
    ebb_rollout_event_kind kind;
    const char *key;
    const char *reason;
} control_ctx;

static ebb_code audit_control(ebb_run_driver *d, ebb_run_entry *e, int64_t now_ms, void *ctx,
                              ebb_error *err)
{
    const control_ctx *c = ctx;
    if (c->kind == EBB_EV_APPROVE) {
        ebb_audit_approval a = {
            .run_id = e->run_id, .operator_key_id = c->key, .plan_hash = e->plan_hash};
        return ebb_audit_write_approval(d->journal, now_ms, &a, NULL, err);
    }
    const char *type = c->kind == EBB_EV_HALT     ? EBB_AUDIT_HALT
                       : c->kind == EBB_EV_RESUME ? EBB_AUDIT_RESUME
                                                  : EBB_AUDIT_ABORT;
    ebb_audit_control a = {.run_id = e->run_id, .operator_key_id = c->key, .reason = c->reason};
    return ebb_audit_write_control(d->journal, now_ms, type, &a, NULL, err);
}

ebb_code ebb_run_driver_control(ebb_run_driver *d, const char *run_id, ebb_rollout_event_kind kind,
                                const char *operator_key_id, const char *reason, int64_t now_ms,
                                ebb_error *err)
{
    ebb_run_entry *e = drv_find(d, run_id);
    if (e == NULL)
        return ebb_error_set(err, EBB_E_NOT_FOUND, "no run %s", run_id);
    if (kind != EBB_EV_HALT && kind != EBB_EV_RESUME && kind != EBB_EV_ABORT &&
        kind != EBB_EV_APPROVE)
        return ebb_error_set(err, EBB_E_INVALID, "not an operator command");
    if (kind == EBB_EV_APPROVE && operator_key_id != NULL &&
        (e->run.state == EBB_RUN_AWAITING_APPROVAL || e->run.state == EBB_RUN_GATED))
        for (size_t k = 0; k < e->run.n_approvers; k++)
            if (strcmp(e->run.approvers[k], operator_key_id) == 0)
                /* Refused before the audit hook: a repeat leaves no second approval record. */
                return ebb_error_set(err, EBB_E_REFUSED,
                                     "run %s: already approved by this key (%s); each key "
                                     "counts once",
                                     run_id, operator_key_id);
    ebb_rollout_event ev = {.kind = kind, .operator_key = operator_key_id};
    control_ctx ctx = {kind, operator_key_id, reason};
    ebb_code rc = drv_step(d, e, &ev, now_ms, audit_control, &ctx, err);
    if (rc == EBB_OK)
        drv_log_add(e, now_ms, NULL, NULL, ebb_rollout_event_name(kind), NULL, operator_key_id,
                    reason);
    return rc;
}

void ebb_run_driver_history(ebb_run_driver *d, const ebb_run_record **out, size_t *count)
{
    free(d->hist);
    d->hist = calloc(d->n ? d->n : 1, sizeof *d->hist);
    d->n_hist = 0;
    for (size_t i = 0; d->hist != NULL && i < d->n; i++) {
        const ebb_run_entry *e = d->runs[i];
        if (!ebb_run_is_over(&e->run))
            continue;
        d->hist[d->n_hist++] = (ebb_run_record){
            .env = e->plan.env,
            .kind = e->plan.kind,
            .target_rev = e->plan.target_rev,
            .graph_hash = e->plan.graph_hash,
            .verified = e->run.state == EBB_RUN_SUCCEEDED,
            .finished_at = (e->ended_ms ? e->ended_ms : e->created_ms) / 1000,
        };
    }
    *out = d->hist;
    *count = d->n_hist;
}
