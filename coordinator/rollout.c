/* The rollout engine's decision function: a run and one event in, the next run and the actions to
 * take out. Pure code. */
#include "coordinator/rollout.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* After a rolled-back atomic wave the services come back at the start revision. */
static const ebb_job_kind recovery_steps[] = {EBB_JOB_START_SERVICES, EBB_JOB_HEALTH};
#define N_RECOVERY (sizeof recovery_steps / sizeof recovery_steps[0])

/* ---- the working context of one apply ---- */

typedef struct ctx {
    ebb_run *run;
    const ebb_plan *plan;
    long long now;
    ebb_rollout_output *out;
    ebb_error *err;
    ebb_code rc; /* first error; once set, nothing more happens */
} ctx;

static bool fail(ctx *c, ebb_code rc)
{
    if (c->rc == EBB_OK)
        c->rc = rc;
    return false;
}

static ebb_rollout_action *add_action(ctx *c, ebb_rollout_action_kind kind)
{
    ebb_rollout_output *o = c->out;
    ebb_rollout_action *a = realloc(o->actions, (o->n_actions + 1) * sizeof *a);
    if (a == NULL) {
        fail(c, ebb_error_set(c->err, EBB_E_NOMEM, "out of memory listing run actions"));
        return NULL;
    }
    o->actions = a;
    a = &o->actions[o->n_actions++];
    memset(a, 0, sizeof *a);
    a->kind = kind;
    a->wave = c->run->wave;
    return a;
}

static void add_transition(ctx *c, size_t host, const ebb_fsm_row *row)
{
    ebb_rollout_output *o = c->out;
    ebb_rollout_transition *t = realloc(o->transitions, (o->n_transitions + 1) * sizeof *t);
    if (t == NULL) {
        fail(c, ebb_error_set(c->err, EBB_E_NOMEM, "out of memory listing run transitions"));
        return;
    }
    o->transitions = t;
    o->transitions[o->n_transitions++] =
        (ebb_rollout_transition){host, row->state, row->event, row->next, row->action};
}

static long timeout_of(const ebb_run *r, ebb_job_kind job)
{
    long t = r->cfg.timeout_s[job];
    return t > 0 ? t : r->cfg.default_timeout_s;
}

static bool in_flight(ebb_host_state s)
{
    switch (s) {
    case EBB_HOST_RUNNING:
    case EBB_HOST_UNKNOWN:
    case EBB_HOST_PREPARED:
    case EBB_HOST_COMMITTING:
    case EBB_HOST_ROLLING_BACK:
    case EBB_HOST_RECOVERING:
    case EBB_HOST_COMPENSATING:
    case EBB_HOST_PREPARE_FAILED:
    case EBB_HOST_RESTORING:
    case EBB_HOST_RESTARTING:
    case EBB_HOST_RESTARTING_RESTORED:
        return true;
    default:
        return false;
    }
}

static bool settled(ebb_host_state s)
{
    return s != EBB_HOST_PENDING && !in_flight(s);
}

/* Queue a job for host i and remember it as the job out. */
static void send_job(ctx *c, size_t i, const char *purpose, size_t step, ebb_job_kind job,
                     long long deadline)
{
    ebb_rollout_host *h = &c->run->hosts[i];
    const ebb_plan_host *ph = &c->plan->hosts[i];
    ebb_rollout_action *a = add_action(c, EBB_ACT_SEND_JOB);
    if (a == NULL)
        return;
    h->job = job;
    h->deadline = deadline;
    ebb_rollout_job_id(c->run->run_id, ph->host, ph->db, purpose, step, job, h->attempt, h->job_id);
    a->host = i;
    a->job = job;
    memcpy(a->job_id, h->job_id, sizeof a->job_id);
    a->deadline = deadline;
    if (job == EBB_JOB_MIGRATE && strcmp(purpose, "compensate") == 0) {
        a->target = ph->from;
    } else if (job == EBB_JOB_MIGRATE) {
        a->target = ph->to;
        a->prepare = c->plan->atomic;
    } else if (job == EBB_JOB_RESTORE) {
        memcpy(a->backup_id, h->backup_id, sizeof a->backup_id);
    }
}

/* ---- firing table events ---- */

/* A unit's failure counts once, whatever follows it (a failed restore or rollback after it). */
static void count_failure(ebb_run *r, ebb_rollout_host *h)
{
    if (!h->counted)
        r->failures++;
    h->counted = true;
}

static void host_action(ctx *c, size_t i, ebb_host_action act)
{
    ebb_run *r = c->run;
    ebb_rollout_host *h = &r->hosts[i];
    const ebb_plan_host *ph = &c->plan->hosts[i];
    long silent = r->cfg.silent_timeout_s;
    switch (act) {
    case EBB_HACT_SEND_STEP:
        h->attempt = 0;
        send_job(c, i, "step", h->step, ph->steps[h->step],
                 c->now + timeout_of(r, ph->steps[h->step]));
        h->step++;
        break;
    case EBB_HACT_RESEND_STEP:
        h->attempt++;
        send_job(c, i, "step", h->step - 1, ph->steps[h->step - 1],
                 c->now + timeout_of(r, ph->steps[h->step - 1]));
        break;
    case EBB_HACT_SEND_RECOVERY_STEP:
        h->attempt = 0;
        send_job(c, i, "recovery", h->recovery_step, recovery_steps[h->recovery_step],
                 c->now + timeout_of(r, recovery_steps[h->recovery_step]) + silent);
        h->recovery_step++;
        break;
    case EBB_HACT_SEND_COMMIT:
        send_job(c, i, "commit", h->step - 1, EBB_JOB_COMMIT_PREPARED,
                 c->now + timeout_of(r, EBB_JOB_COMMIT_PREPARED) + silent);
        break;
    case EBB_HACT_SEND_ROLLBACK:
        send_job(c, i, "rollback", h->step - 1, EBB_JOB_ROLLBACK_PREPARED,
                 c->now + timeout_of(r, EBB_JOB_ROLLBACK_PREPARED) + silent);
        break;
    case EBB_HACT_SEND_COMPENSATION: {
        ebb_job_kind job =
            ph->reversible && strchr(ph->from, '+') == NULL ? EBB_JOB_MIGRATE : EBB_JOB_RESTORE;
        h->attempt = 0;
        send_job(c, i, "compensate", 0, job, c->now + timeout_of(r, job) + silent);
        break;
    }
    case EBB_HACT_MARK_UNKNOWN:
        h->deadline = c->now + silent; /* the job stays out: a late answer still counts */
        break;
    case EBB_HACT_COUNT_FAILURE:
        count_failure(r, h);
        h->job_id[0] = '\0';
        break;
    case EBB_HACT_FAIL_SEND_RESTORE:
        count_failure(r, h);
        h->attempt = 0;
        send_job(c, i, "restore", 0, EBB_JOB_RESTORE,
                 c->now + timeout_of(r, EBB_JOB_RESTORE) + silent);
        break;
    case EBB_HACT_FAIL_SEND_RESTART:
        count_failure(r, h);
        h->recovery_step = 0;
        h->attempt = 0;
        send_job(c, i, "recovery", h->recovery_step, recovery_steps[h->recovery_step],
                 c->now + timeout_of(r, recovery_steps[h->recovery_step]) + silent);
        h->recovery_step++;
        break;
    default:
        h->job_id[0] = '\0';
        break;
    }
}

static bool host_fire(ctx *c, size_t i, ebb_host_event ev)
{
    if (c->rc != EBB_OK)
        return false;
    const ebb_fsm_row *row;
    ebb_code rc = ebb_fsm_host_lookup(c->run->hosts[i].state, ev, &row, c->err);
    if (rc != EBB_OK) {
        ebb_error_prefix(c->err, "run %s, %s/%s", c->run->run_id, c->plan->hosts[i].host,
                         c->plan->hosts[i].db);
        return fail(c, rc);
    }
    add_transition(c, i, row);
    c->run->hosts[i].state = (ebb_host_state)row->next;
    host_action(c, i, (ebb_host_action)row->action);
    return c->rc == EBB_OK;
}

static size_t wave_first(const ctx *c)
{
    return c->run->wave < c->plan->n_waves ? c->plan->waves[c->run->wave].first : 0;
}

static size_t wave_end(const ctx *c)
{
    if (c->run->wave >= c->plan->n_waves)
        return 0;
    const ebb_plan_wave *w = &c->plan->waves[c->run->wave];
    return w->first + w->count;
}

static void cancel_pending(ctx *c)
{
    for (size_t i = 0; i < c->run->n_hosts; i++)
        if (c->run->hosts[i].state == EBB_HOST_PENDING)
            host_fire(c, i, EBB_HEV_CANCEL);
}

static unsigned approvals_needed(const ebb_run *r)
{
    if (r->state == EBB_RUN_GATED)
        return r->cfg.gate_approvals ? r->cfg.gate_approvals : 1;
    return r->cfg.approvals_needed;
}

static void run_action(ctx *c, ebb_run_action act)
{
    ebb_run *r = c->run;
    ebb_rollout_action *a;
    switch (act) {
    case EBB_RACT_START_WAVE:
        if (r->started) {
            r->wave++;
        } else {
            memcpy(r->run_approvers, r->approvers, sizeof r->run_approvers);
            r->n_run_approvers = r->n_approvers;
        }
        r->started = true;
        r->wave_soaked = false;
        r->soak_until = 0;
        r->decision = EBB_DECISION_NONE;
        r->n_approvers = 0;
        break;
    case EBB_RACT_START_SOAK:
        if (r->soak_until == 0) /* a resumed soak keeps its end */
            r->soak_until = c->now + c->plan->strategy.soak_s;
        if ((a = add_action(c, EBB_ACT_START_SOAK)) != NULL)
            a->deadline = r->soak_until;
        break;
    case EBB_RACT_REQUEST_APPROVAL:
        if ((a = add_action(c, EBB_ACT_REQUEST_APPROVAL)) != NULL) {
            a->approvals = approvals_needed(r);
            a->wave = r->state == EBB_RUN_GATED ? r->wave + 1 : 0;
        }
        break;
    case EBB_RACT_RECORD_COMMIT:
    case EBB_RACT_RECORD_ROLLBACK: {
        bool commit = act == EBB_RACT_RECORD_COMMIT;
        r->decision = commit ? EBB_DECISION_COMMIT : EBB_DECISION_ROLLBACK;
        if ((a = add_action(c, EBB_ACT_RECORD_DECISION)) != NULL)
            a->commit = commit;
        for (size_t i = wave_first(c); i < wave_end(c); i++) {
            if (r->hosts[i].state == EBB_HOST_PREPARED)
                host_fire(c, i, commit ? EBB_HEV_COMMIT : EBB_HEV_ROLLBACK);
            else if (r->hosts[i].state == EBB_HOST_PREPARE_FAILED && !commit)
                host_fire(c, i, EBB_HEV_ROLLBACK); /* it may hold a prepared transaction */
            else if (r->hosts[i].state == EBB_HOST_PENDING)
                host_fire(c, i, EBB_HEV_CANCEL);
        }
        break;
    }
    case EBB_RACT_CANCEL_PENDING:
        cancel_pending(c);
        break;
    case EBB_RACT_START_COMPENSATION:
        r->compensation_started = true;
        break;
    case EBB_RACT_END_RUN:
        cancel_pending(c);
        if ((a = add_action(c, EBB_ACT_END_RUN)) != NULL)
            a->end_state = r->state;
        break;
    default: /* NONE, RECORD_APPROVAL, STOP_NEW, CONTINUE: the state change says it all */
        break;
    }
}

static bool run_fire(ctx *c, ebb_run_event ev)
{
    if (c->rc != EBB_OK)
        return false;
    const ebb_fsm_row *row;
    ebb_code rc = ebb_fsm_run_lookup(c->run->state, ev, &row, c->err);
    if (rc != EBB_OK) {
        ebb_error_prefix(c->err, "run %s", c->run->run_id);
        return fail(c, rc);
    }
    add_transition(c, SIZE_MAX, row);
    c->run->state = (ebb_run_state)row->next;
    run_action(c, (ebb_run_action)row->action);
    return c->rc == EBB_OK;
}

/* ---- what follows from the state: the advance loop ---- */

static bool nothing_in_flight(const ctx *c)
{
    for (size_t i = 0; i < c->run->n_hosts; i++)
        if (in_flight(c->run->hosts[i].state))
            return false;
    return true;
}

static bool budget_exceeded(const ctx *c)
{
    return c->run->failures > c->plan->budget;
}

static bool fire_budget(ctx *c)
{
    return run_fire(c, c->plan->strategy.on_failure == EBB_ON_FAILURE_COMPENSATE
                           ? EBB_REV_BUDGET_EXCEEDED_COMPENSATE
                           : EBB_REV_BUDGET_EXCEEDED);
}

/* Start pending hosts of the current wave up to max_parallel; prepared hosts hold no slot. */
static bool fill_slots(ctx *c)
{
    ebb_run *r = c->run;
    size_t cap = c->plan->strategy.max_parallel, busy = 0;
    bool fired = false;
    if (r->decision == EBB_DECISION_ROLLBACK)
        return false;
    for (size_t i = wave_first(c); i < wave_end(c); i++)
        busy += in_flight(r->hosts[i].state) && r->hosts[i].state != EBB_HOST_PREPARED;
    for (size_t i = wave_first(c); i < wave_end(c) && (cap == 0 || busy < cap); i++)
        if (r->hosts[i].state == EBB_HOST_PENDING) {
            fired = host_fire(c, i, EBB_HEV_START) || fired;
            busy++;
        }
    return fired;
}

/* Atomic: decide when every host of the wave is prepared, or one failed first. */
static bool atomic_decide(ctx *c)
{
    ebb_run *r = c->run;
    if (!c->plan->atomic || r->decision != EBB_DECISION_NONE || wave_end(c) == 0)
        return false;
    bool all_prepared = true;
    for (size_t i = wave_first(c); i < wave_end(c); i++) {
        if (r->hosts[i].state == EBB_HOST_FAILED || r->hosts[i].counted)
            return run_fire(c, EBB_REV_PREPARE_FAILED);
        all_prepared = all_prepared && r->hosts[i].state == EBB_HOST_PREPARED;
    }
    return all_prepared && run_fire(c, EBB_REV_ALL_PREPARED);
}

static bool wave_settled(const ctx *c)
{
    for (size_t i = wave_first(c); i < wave_end(c); i++)
        if (!settled(c->run->hosts[i].state))
            return false;
    return true;
}

static bool next_wave_gated(const ctx *c)
{
    size_t next = c->run->wave + 1;
    return next < c->plan->n_waves && c->plan->waves[next].gate;
}

static bool advance_running(ctx *c)
{
    ebb_run *r = c->run;
    if (atomic_decide(c))
        return true;
    if (budget_exceeded(c) && !(c->plan->atomic && r->decision == EBB_DECISION_NONE))
        return fire_budget(c);
    if (fill_slots(c))
        return true;
    if (!wave_settled(c))
        return false;
    if (r->wave + 1 >= c->plan->n_waves)
        return run_fire(c, EBB_REV_LAST_WAVE_DONE);
    if (c->plan->strategy.soak_s > 0 && !r->wave_soaked)
        return run_fire(c, EBB_REV_WAVE_DONE_SOAK);
    if (next_wave_gated(c))
        return run_fire(c, EBB_REV_WAVE_DONE_GATE);
    return run_fire(c, EBB_REV_WAVE_DONE_NEXT);
}

/* Compensation: done hosts go back, max_parallel at a time. */
static bool advance_compensating(ctx *c)
{
    ebb_run *r = c->run;
    if (!r->compensation_started)
        return nothing_in_flight(c) && run_fire(c, EBB_REV_DRAINED);
    size_t cap = c->plan->strategy.max_parallel, busy = 0;
    bool fired = false, left = false, incomplete = false;
    for (size_t i = 0; i < r->n_hosts; i++)
        busy += r->hosts[i].state == EBB_HOST_COMPENSATING;
    for (size_t i = 0; i < r->n_hosts; i++) {
        const ebb_plan_host *ph = &c->plan->hosts[i];
        ebb_rollout_host *h = &r->hosts[i];
        if (h->state == EBB_HOST_DONE && (cap == 0 || busy < cap)) {
            bool by_migration = ph->reversible && strchr(ph->from, '+') == NULL;
            if (!by_migration && h->backup_id[0] == '\0') {
                snprintf(h->error, sizeof h->error,
                         "no path back by migration and no backup recorded in this run");
                fired = host_fire(c, i, EBB_HEV_COMPENSATE_IMPOSSIBLE) || fired;
            } else {
                fired = host_fire(c, i, EBB_HEV_COMPENSATE) || fired;
                busy++;
            }
        }
        left = left || in_flight(h->state) || h->state == EBB_HOST_DONE;
        incomplete = incomplete || h->state == EBB_HOST_COMPENSATION_FAILED;
    }
    if (fired || left)
        return fired;
    return run_fire(c, incomplete ? EBB_REV_COMPENSATION_INCOMPLETE : EBB_REV_COMPENSATION_DONE);
}

/* One step of what follows from the state; false when the run is stable. */
static bool advance_once(ctx *c)
{
    ebb_run *r = c->run;
    bool compensate = c->plan->strategy.on_failure == EBB_ON_FAILURE_COMPENSATE;
    switch (r->state) {
    case EBB_RUN_RUNNING:
        return advance_running(c);
    case EBB_RUN_COMMITTING:
        if (budget_exceeded(c))
            return fire_budget(c);
        for (size_t i = wave_first(c); i < wave_end(c); i++)
            if (r->hosts[i].state == EBB_HOST_COMMITTING)
                return false;
        return run_fire(c, EBB_REV_COMMITS_DONE);
    case EBB_RUN_ROLLING_BACK:
        if (!wave_settled(c))
            return false;
        return run_fire(c, compensate ? EBB_REV_WAVE_ROLLED_BACK_COMPENSATE
                                      : EBB_REV_WAVE_ROLLED_BACK);
    case EBB_RUN_SOAKING:
        if (c->now < r->soak_until)
            return false;
        r->wave_soaked = true;
        return run_fire(c, next_wave_gated(c) ? EBB_REV_SOAK_ELAPSED_GATE : EBB_REV_SOAK_ELAPSED);
    case EBB_RUN_HALTED:
        return budget_exceeded(c) && fire_budget(c);
    case EBB_RUN_FAILING:
    case EBB_RUN_ABORTING:
        return nothing_in_flight(c) && run_fire(c, EBB_REV_DRAINED);
    case EBB_RUN_COMPENSATING:
        return advance_compensating(c);
    default:
        return false;
    }
}

static void advance(ctx *c)
{
    /* Each round fires at least one transition and there are finitely many; the cap is a guard. */
    for (size_t round = 0; round < 64 + 16 * c->run->n_hosts && c->rc == EBB_OK; round++)
        if (!advance_once(c))
            return;
    if (c->rc == EBB_OK)
        fail(c, ebb_error_set(c->err, EBB_E_INTERNAL, "run %s: the engine did not settle",
                              c->run->run_id));
}

/* ---- events ---- */

/* Index of the first step of kind in host i's plan, or n_steps. */
static size_t step_index(const ebb_plan_host *ph, ebb_job_kind kind)
{
    size_t k = 0;
    while (k < ph->n_steps && ph->steps[k] != kind)
        k++;
    return k;
}

/*
 * What a failed step leads to (SPEC 7). Migrate or verify failed after something was committed
 * (verify runs after the migration committed; a migrate that read no state after counts as
 * changed) and this run took a backup: restore it, then start the services. The database is
 * unchanged and the services were stopped (stop_services, backup, a migrate that committed
 * nothing): start them again. Otherwise (precheck: nothing stopped; start_services / health:
 * they are being started; a change without a backup: services stay stopped on a half-done path)
 * the unit just fails.
 */
static ebb_host_event failure_event(ctx *c, size_t i, ebb_job_kind kind, ebb_result_change change)
{
    const ebb_plan_host *ph = &c->plan->hosts[i];
    ebb_rollout_host *h = &c->run->hosts[i];
    size_t at = h->step - 1, stop = step_index(ph, EBB_JOB_STOP_SERVICES),
           migrate = step_index(ph, EBB_JOB_MIGRATE);
    bool committed = (kind == EBB_JOB_MIGRATE && change != EBB_CHANGE_NONE) ||
                     (kind == EBB_JOB_VERIFY && at > migrate);
    if (committed && h->backup_id[0] != '\0')
        return EBB_HEV_STEP_FAILED_RESTORE;
    if (committed) {
        size_t l = strlen(h->error);
        snprintf(h->error + l, sizeof h->error - l,
                 "; no backup taken in this run to restore: services left stopped");
        return EBB_HEV_STEP_FAILED;
    }
    if (at >= stop && at <= migrate && stop < ph->n_steps)
        return EBB_HEV_STEP_FAILED_RESTART;
    return EBB_HEV_STEP_FAILED;
}

/* Atomic: the prepare failed or went silent; the wave is rolled back, this unit included. */
static bool prepare_failed(ctx *c, size_t i)
{
    return host_fire(c, i, EBB_HEV_PREPARE_FAILED) &&
           (c->run->decision != EBB_DECISION_ROLLBACK || host_fire(c, i, EBB_HEV_ROLLBACK));
}

static bool on_step_result(ctx *c, size_t i, const ebb_rollout_event *ev)
{
    ebb_run *r = c->run;
    ebb_rollout_host *h = &r->hosts[i];
    const ebb_plan_host *ph = &c->plan->hosts[i];
    ebb_job_kind kind = ph->steps[h->step - 1];
    if (!ev->ok) {
        bool retry = kind == EBB_JOB_HEALTH && h->attempt < r->cfg.health_retries;
        if (retry)
            return host_fire(c, i, EBB_HEV_STEP_RETRY);
        if (ev->legacy)
            return host_fire(c, i, EBB_HEV_STEP_FAILED);
        if (c->plan->atomic && kind == EBB_JOB_MIGRATE)
            return prepare_failed(c, i);
        return host_fire(c, i, failure_event(c, i, kind, ev->change));
    }
    if (kind == EBB_JOB_BACKUP && ev->backup_id != NULL)
        snprintf(h->backup_id, sizeof h->backup_id, "%s", ev->backup_id);
    if (c->plan->atomic && kind == EBB_JOB_MIGRATE) {
        /* Prepared after the wave already decided to roll back: roll this one back too. */
        return host_fire(c, i, EBB_HEV_PREPARED_OK) &&
               (r->decision != EBB_DECISION_ROLLBACK || host_fire(c, i, EBB_HEV_ROLLBACK));
    }
    if (c->plan->atomic && r->decision == EBB_DECISION_ROLLBACK)
        return host_fire(c, i, EBB_HEV_ROLLBACK); /* not prepared yet: stop before migrating */
    return host_fire(c, i, h->step == ph->n_steps ? EBB_HEV_LAST_STEP_OK : EBB_HEV_STEP_OK);
}

static bool on_result(ctx *c, const ebb_rollout_event *ev)
{
    ebb_run *r = c->run;
    size_t i = 0;
    if (ev->job_id == NULL || ev->job_id[0] == '\0')
        return fail(c, ebb_error_set(c->err, EBB_E_INVALID, "run %s: a result without a job id",
                                     r->run_id));
    while (i < r->n_hosts && strcmp(r->hosts[i].job_id, ev->job_id) != 0)
        i++;
    if (i == r->n_hosts)
        return fail(c, ebb_error_set(c->err, EBB_E_NOT_FOUND,
                                     "run %s: no job %s is out (a late or repeated result)",
                                     r->run_id, ev->job_id));
    ebb_rollout_host *h = &r->hosts[i];
    if (!ev->ok) {
        /* After the unit's failure, what went wrong next is added to it, not put in its place. */
        size_t l = h->counted && !ev->legacy ? strlen(h->error) : 0;
        snprintf(h->error + l, sizeof h->error - l, "%s%s: %s", l ? "; then " : "",
                 ebb_job_kind_name(h->job), ev->error != NULL ? ev->error : "failed");
    }
    switch (h->state) {
    case EBB_HOST_RUNNING:
    case EBB_HOST_UNKNOWN:
        return on_step_result(c, i, ev);
    case EBB_HOST_COMMITTING:
        return host_fire(c, i, ev->ok ? EBB_HEV_COMMIT_OK : EBB_HEV_STEP_FAILED);
    case EBB_HOST_ROLLING_BACK:
        return host_fire(c, i, ev->ok ? EBB_HEV_ROLLBACK_OK : EBB_HEV_STEP_FAILED);
    case EBB_HOST_RECOVERING:
        if (!ev->ok)
            return host_fire(c, i, EBB_HEV_STEP_FAILED);
        return host_fire(c, i,
                         h->recovery_step == N_RECOVERY ? EBB_HEV_LAST_STEP_OK : EBB_HEV_STEP_OK);
    case EBB_HOST_COMPENSATING:
        return host_fire(c, i, ev->ok ? EBB_HEV_COMPENSATE_OK : EBB_HEV_COMPENSATE_FAILED);
    case EBB_HOST_RESTORING:
        return host_fire(c, i, ev->ok ? EBB_HEV_STEP_OK : EBB_HEV_STEP_FAILED);
    case EBB_HOST_RESTARTING:
    case EBB_HOST_RESTARTING_RESTORED:
        if (!ev->ok)
            return host_fire(c, i, EBB_HEV_STEP_FAILED);
        return host_fire(c, i,
                         h->recovery_step == N_RECOVERY ? EBB_HEV_LAST_STEP_OK : EBB_HEV_STEP_OK);
    default:
        return fail(c, ebb_error_set(c->err, EBB_E_INTERNAL,
                                     "run %s: job %s is out on a host in state %s", r->run_id,
                                     ev->job_id, ebb_host_state_name(h->state)));
    }
}

static void on_tick(ctx *c, bool legacy)
{
    ebb_run *r = c->run;
    for (size_t i = 0; i < r->n_hosts && c->rc == EBB_OK; i++) {
        ebb_rollout_host *h = &r->hosts[i];
        if (h->job_id[0] == '\0' || c->now < h->deadline)
            continue;
        if (h->state == EBB_HOST_RUNNING) {
            host_fire(c, i, EBB_HEV_STEP_TIMEOUT);
        } else {
            size_t l = h->counted && !legacy ? strlen(h->error) : 0;
            snprintf(h->error + l, sizeof h->error - l, "%s%s: no answer (host silent)",
                     l ? "; then " : "", ebb_job_kind_name(h->job));
            /* A silent prepare may have prepared before its agent went away: roll it back. */
            if (!legacy && c->plan->atomic && h->state == EBB_HOST_UNKNOWN &&
                h->job == EBB_JOB_MIGRATE)
                prepare_failed(c, i);
            else
                host_fire(c, i, EBB_HEV_SILENT_TIMEOUT);
        }
    }
}

/* An atomic wave between its start and its decision: halting or aborting it would strand prepared
 * transactions. */
static bool atomic_undecided(const ctx *c)
{
    if (!c->plan->atomic || c->run->state != EBB_RUN_RUNNING ||
        c->run->decision != EBB_DECISION_NONE)
        return false;
    return !wave_settled(c);
}

static bool on_approve(ctx *c, const ebb_rollout_event *ev)
{
    ebb_run *r = c->run;
    const ebb_fsm_row *row;
    ebb_code rc = ebb_fsm_run_lookup(r->state, EBB_REV_APPROVAL, &row, c->err);
    if (rc != EBB_OK) {
        ebb_error_prefix(c->err, "run %s", r->run_id);
        return fail(c, rc);
    }
    const char *key = ev->operator_key;
    if (key == NULL || key[0] == '\0' || strlen(key) >= EBB_KEY_ID_MAX)
        return fail(c, ebb_error_set(c->err, EBB_E_INVALID,
                                     "run %s: an approval needs an operator key id", r->run_id));
    if (strcmp(key, c->plan->requester) == 0)
        return fail(c, ebb_error_set(c->err, EBB_E_REFUSED,
                                     "run %s: %s requested the run and cannot approve it",
                                     r->run_id, key));
    for (size_t k = 0; k < r->n_approvers; k++)
        if (strcmp(r->approvers[k], key) == 0)
            return true; /* counted once */
    if (r->n_approvers == EBB_ROLLOUT_MAX_APPROVERS)
        return fail(c, ebb_error_set(c->err, EBB_E_CONFLICT, "run %s: more than %d approvals",
                                     r->run_id, EBB_ROLLOUT_MAX_APPROVERS));
    snprintf(r->approvers[r->n_approvers++], EBB_KEY_ID_MAX, "%s", key);
    return run_fire(c, r->n_approvers >= approvals_needed(r) ? EBB_REV_APPROVED : EBB_REV_APPROVAL);
}

ebb_code ebb_rollout_apply(const ebb_run *cur, const ebb_rollout_event *ev, long long now,
                           ebb_run *next, ebb_rollout_output *out, ebb_error *err)
{
    ebb_run r;
    ebb_code rc = ebb_run_copy(cur, &r, err);
    if (rc != EBB_OK)
        return rc;
    ebb_rollout_output o;
    memset(&o, 0, sizeof o);
    ctx c = {&r, cur->plan, now, &o, err, EBB_OK};
    switch (ev->kind) {
    case EBB_EV_START:
        run_fire(&c, r.cfg.approvals_needed > 0 ? EBB_REV_NEED_APPROVAL : EBB_REV_START);
        break;
    case EBB_EV_RESULT:
        on_result(&c, ev);
        break;
    case EBB_EV_TICK:
        on_tick(&c, ev->legacy);
        break;
    case EBB_EV_HALT:
    case EBB_EV_ABORT:
        if (atomic_undecided(&c)) {
            fail(&c,
                 ebb_error_set(err, EBB_E_CONFLICT,
                               "run %s: atomic wave %zu is preparing; %s once its decision "
                               "is recorded",
                               r.run_id, r.wave + 1, ev->kind == EBB_EV_HALT ? "halt" : "abort"));
            break;
        }
        run_fire(&c, ev->kind == EBB_EV_HALT ? EBB_REV_HALT : EBB_REV_ABORT);
        break;
    case EBB_EV_RESUME:
        run_fire(&c, EBB_REV_RESUME);
        break;
    case EBB_EV_APPROVE:
        on_approve(&c, ev);
        break;
    default:
        fail(&c, ebb_error_set(err, EBB_E_INVALID, "run %s: unknown event %d", r.run_id,
                               (int)ev->kind));
    }
    if (c.rc == EBB_OK)
        advance(&c);
    if (c.rc != EBB_OK) {
        ebb_run_fini(&r);
        ebb_rollout_output_fini(&o);
        return c.rc;
    }
    *next = r;
    *out = o;
    return EBB_OK;
}
