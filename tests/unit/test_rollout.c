/* Unit tests for the rollout engine: runs driven end to end through results, ticks and operator
 * commands. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator/plan.h"
#include "coordinator/rollout.h"
#include "tests/support/plan_fixture.h"

typedef struct sim {
    ebb_fix_fleet f;
    ebb_plan plan;
    ebb_run run;
    ebb_rollout_output out; /* of the last event */
    long long now;
} sim;

static const ebb_rollout_config default_cfg = {
    .default_timeout_s = 60, .silent_timeout_s = 120, .health_retries = 1};

static ebb_plan_input input(sim *s, const char *target)
{
    ebb_fix_fleet_init(&s->f);
    return ebb_fix_input(&s->f, EBB_RUN_ROLLOUT, "prod", target);
}

static void start(sim *s, const ebb_plan_input *in, const ebb_rollout_config *cfg)
{
    ebb_error err;
    if (ebb_plan_build(in, &s->plan, &err) != EBB_OK)
        fail_msg("plan: %s", err.msg);
    assert_int_equal(ebb_run_init(&s->plan, "run-0001", cfg, &s->run, &err), EBB_OK);
    memset(&s->out, 0, sizeof s->out);
    s->now = EBB_FIX_NOW;
}

static void sim_fini(sim *s)
{
    ebb_rollout_output_fini(&s->out);
    ebb_run_fini(&s->run);
    ebb_plan_fini(&s->plan);
}

/* Apply ev; on success the run moves on, on failure it must be unchanged. */
static ebb_code apply(sim *s, ebb_rollout_event ev, ebb_error *err)
{
    ebb_run next;
    ebb_rollout_output out;
    ebb_code rc = ebb_rollout_apply(&s->run, &ev, s->now, &next, &out, err);
    if (rc != EBB_OK)
        return rc;
    ebb_run_fini(&s->run);
    ebb_rollout_output_fini(&s->out);
    s->run = next;
    s->out = out;
    return EBB_OK;
}

static void apply_ok(sim *s, ebb_rollout_event ev)
{
    ebb_error err;
    if (apply(s, ev, &err) != EBB_OK)
        fail_msg("event %d refused: %s", (int)ev.kind, err.msg);
}

static void event(sim *s, ebb_rollout_event_kind kind)
{
    apply_ok(s, (ebb_rollout_event){.kind = kind});
}

static void tick(sim *s, long long at)
{
    s->now = at;
    event(s, EBB_EV_TICK);
}

static void approve(sim *s, const char *key)
{
    apply_ok(s, (ebb_rollout_event){.kind = EBB_EV_APPROVE, .operator_key = key});
}

/* Answer host h's job out. */
static void answer(sim *s, size_t h, bool ok)
{
    char id[EBB_JOB_ID_HEX], bk[64];
    assert_true(s->run.hosts[h].job_id[0] != '\0');
    memcpy(id, s->run.hosts[h].job_id, sizeof id);
    snprintf(bk, sizeof bk, "bk-%s", s->plan.hosts[h].host);
    apply_ok(s, (ebb_rollout_event){.kind = EBB_EV_RESULT,
                                    .job_id = id,
                                    .ok = ok,
                                    .error = ok ? NULL : "boom",
                                    .backup_id = bk});
}

/* Answer ok until host h's job out is `until` (or none is out). */
static void answer_until(sim *s, size_t h, ebb_job_kind until)
{
    for (int i = 0; i < 20 && s->run.hosts[h].job_id[0] != '\0' && s->run.hosts[h].job != until;
         i++)
        answer(s, h, true);
}

/* Answer ok until host h has no job out. */
static void finish(sim *s, size_t h)
{
    answer_until(s, h, EBB_JOB__COUNT);
    assert_true(s->run.hosts[h].job_id[0] == '\0');
}

static size_t count_sends(const sim *s, ebb_job_kind job)
{
    size_t n = 0;
    for (size_t i = 0; i < s->out.n_actions; i++)
        n += s->out.actions[i].kind == EBB_ACT_SEND_JOB && s->out.actions[i].job == job;
    return n;
}

static const ebb_rollout_action *find_action(const sim *s, ebb_rollout_action_kind kind)
{
    for (size_t i = 0; i < s->out.n_actions; i++)
        if (s->out.actions[i].kind == kind)
            return &s->out.actions[i];
    return NULL;
}

static void test_success_three_waves_with_soak(void **state)
{
    (void)state;
    sim s;
    ebb_plan_input in = input(&s, "0004");
    in.strategy.canary = 1;
    in.strategy.batch_count = 3;
    in.strategy.soak_s = 300;
    in.strategy.gate = EBB_GATE_AFTER_CANARY;
    start(&s, &in, &default_cfg);
    assert_int_equal(s.plan.n_waves, 3);

    event(&s, EBB_EV_START);
    assert_int_equal(s.run.state, EBB_RUN_RUNNING);
    assert_int_equal(count_sends(&s, EBB_JOB_PRECHECK), 1); /* the canary only */
    assert_int_equal(s.out.actions[0].host, 0);
    assert_int_equal(s.out.actions[0].deadline, EBB_FIX_NOW + 60);

    answer_until(&s, 0, EBB_JOB_MIGRATE);
    const ebb_rollout_action *mig = find_action(&s, EBB_ACT_SEND_JOB);
    assert_int_equal(mig->job, EBB_JOB_MIGRATE);
    assert_string_equal(mig->target, "0004");
    assert_false(mig->prepare);
    assert_string_equal(s.run.hosts[0].backup_id, "bk-prod-01");
    finish(&s, 0);
    assert_int_equal(s.run.hosts[0].state, EBB_HOST_DONE);
    assert_int_equal(s.run.state, EBB_RUN_SOAKING);
    assert_int_equal(find_action(&s, EBB_ACT_START_SOAK)->deadline, EBB_FIX_NOW + 300);

    tick(&s, EBB_FIX_NOW + 299);
    assert_int_equal(s.run.state, EBB_RUN_SOAKING);
    assert_int_equal(s.out.n_actions, 0);
    tick(&s, EBB_FIX_NOW + 300);
    assert_int_equal(s.run.state, EBB_RUN_GATED); /* wave 2 has the gate */
    const ebb_rollout_action *req = find_action(&s, EBB_ACT_REQUEST_APPROVAL);
    assert_non_null(req);
    assert_int_equal(req->wave, 1);
    assert_int_equal(req->approvals, 1);

    ebb_error err;
    assert_int_equal(
        apply(&s, (ebb_rollout_event){.kind = EBB_EV_APPROVE, .operator_key = "op-alice"}, &err),
        EBB_E_REFUSED);
    assert_int_equal(s.run.state, EBB_RUN_GATED);
    approve(&s, "op-bob");
    assert_int_equal(s.run.state, EBB_RUN_RUNNING);
    assert_int_equal(s.run.wave, 1);
    assert_int_equal(count_sends(&s, EBB_JOB_PRECHECK), 3);
    for (size_t h = 1; h <= 3; h++)
        finish(&s, h);
    assert_int_equal(s.run.state, EBB_RUN_SOAKING);
    tick(&s, s.now + 300);
    assert_int_equal(s.run.state, EBB_RUN_RUNNING); /* no gate before wave 3 */
    assert_int_equal(s.run.wave, 2);
    finish(&s, 4);
    assert_int_equal(s.run.state, EBB_RUN_RUNNING);
    finish(&s, 5);
    assert_int_equal(s.run.state, EBB_RUN_SUCCEEDED);
    assert_int_equal(find_action(&s, EBB_ACT_END_RUN)->end_state, EBB_RUN_SUCCEEDED);
    assert_true(ebb_run_is_over(&s.run));
    for (size_t h = 0; h < 6; h++)
        assert_int_equal(s.run.hosts[h].state, EBB_HOST_DONE);
    assert_int_equal(s.run.failures, 0);
    sim_fini(&s);
}

static void test_failure_halts(void **state)
{
    (void)state;
    sim s;
    ebb_plan_input in = input(&s, "0004");
    in.strategy.max_parallel = 2;
    start(&s, &in, &default_cfg);
    event(&s, EBB_EV_START);
    assert_int_equal(count_sends(&s, EBB_JOB_PRECHECK), 2); /* max_parallel */
    finish(&s, 0);
    assert_int_equal(count_sends(&s, EBB_JOB_PRECHECK), 1); /* a slot freed: the third starts */
    assert_int_equal(s.run.hosts[2].state, EBB_HOST_RUNNING);
    answer_until(&s, 1, EBB_JOB_MIGRATE);
    answer(&s, 1, false); /* budget 0: the first failure halts */
    assert_int_equal(s.run.hosts[1].state, EBB_HOST_RESTORING);
    assert_string_equal(s.run.hosts[1].error, "migrate: boom");
    assert_int_equal(s.run.failures, 1);
    assert_int_equal(s.run.state, EBB_RUN_FAILING);
    /* nothing new starts; the failed unit (whose migrate may have committed) is restored */
    assert_int_equal(s.out.n_actions, 1);
    assert_int_equal(count_sends(&s, EBB_JOB_RESTORE), 1);
    assert_string_equal(find_action(&s, EBB_ACT_SEND_JOB)->backup_id, "bk-prod-02");
    /* host 2 was in flight: it completes its sequence, nothing else starts */
    answer(&s, 2, true);
    assert_int_equal(count_sends(&s, EBB_JOB_STOP_SERVICES), 1);
    assert_int_equal(count_sends(&s, EBB_JOB_PRECHECK), 0);
    finish(&s, 2);
    assert_int_equal(s.run.state, EBB_RUN_FAILING); /* the restore is still out */
    finish(&s, 1);
    assert_int_equal(s.run.hosts[1].state, EBB_HOST_FAILED_RESTORED);
    assert_int_equal(s.run.failures, 1);
    assert_int_equal(s.run.state, EBB_RUN_FAILED);
    assert_int_equal(find_action(&s, EBB_ACT_END_RUN)->end_state, EBB_RUN_FAILED);
    for (size_t h = 3; h < 6; h++)
        assert_int_equal(s.run.hosts[h].state, EBB_HOST_CANCELLED);
    /* a finished run takes no more commands */
    ebb_error err;
    assert_int_equal(apply(&s, (ebb_rollout_event){.kind = EBB_EV_RESUME}, &err), EBB_E_CONFLICT);
    sim_fini(&s);
}

static void test_failure_compensates(void **state)
{
    (void)state;
    sim s;
    ebb_plan_input in = input(&s, "0004");
    /* prod-02 cannot revert 0004 (no down script there): it must be restored from its backup */
    ebb_fleet_rev revs[5];
    memcpy(revs, ebb_fix_revs(), sizeof revs);
    revs[3].has_down = false;
    s.f.dbs[ebb_fix_host(&s.f, "prod-02")].revs = revs;
    in.strategy.canary = 2;
    in.strategy.on_failure = EBB_ON_FAILURE_COMPENSATE;
    start(&s, &in, &default_cfg);
    assert_true(s.plan.hosts[0].reversible);
    assert_false(s.plan.hosts[1].reversible);
    event(&s, EBB_EV_START);
    finish(&s, 0);
    finish(&s, 1);
    assert_int_equal(s.run.state, EBB_RUN_RUNNING);
    assert_int_equal(s.run.wave, 1);
    finish(&s, 2);
    answer_until(&s, 3, EBB_JOB_VERIFY);
    answer(&s, 3, false); /* verify fails after migrate: its backup is restored */
    assert_int_equal(s.run.state, EBB_RUN_COMPENSATING);
    assert_int_equal(s.out.n_actions, 1); /* in-flight hosts 3 (restore), 4 and 5 finish first */
    assert_int_equal(count_sends(&s, EBB_JOB_RESTORE), 1);
    assert_int_equal(s.run.hosts[3].state, EBB_HOST_RESTORING);
    finish(&s, 4);
    finish(&s, 5);
    assert_false(s.run.compensation_started);
    answer_until(&s, 3, EBB_JOB_HEALTH);
    answer(&s, 3, true);
    /* drained: every done host goes back to where it started */
    assert_int_equal(s.run.state, EBB_RUN_COMPENSATING);
    assert_true(s.run.compensation_started);
    assert_int_equal(count_sends(&s, EBB_JOB_MIGRATE), 4);
    assert_int_equal(count_sends(&s, EBB_JOB_RESTORE), 1);
    for (size_t i = 0; i < s.out.n_actions; i++) {
        const ebb_rollout_action *a = &s.out.actions[i];
        if (a->job == EBB_JOB_RESTORE) {
            assert_int_equal(a->host, 1);
            assert_string_equal(a->backup_id, "bk-prod-02");
        } else {
            assert_string_equal(a->target, "0003");
            assert_false(a->prepare);
        }
    }
    assert_int_equal(s.run.hosts[3].state, EBB_HOST_FAILED_RESTORED); /* not compensated */
    size_t done[] = {0, 1, 2, 4, 5};
    for (size_t k = 0; k < 5; k++) {
        assert_int_equal(s.run.hosts[done[k]].state, EBB_HOST_COMPENSATING);
        answer(&s, done[k], true);
        assert_int_equal(s.run.hosts[done[k]].state, EBB_HOST_COMPENSATED);
    }
    assert_int_equal(s.run.state, EBB_RUN_COMPENSATED);
    assert_int_equal(find_action(&s, EBB_ACT_END_RUN)->end_state, EBB_RUN_COMPENSATED);
    sim_fini(&s);
}

static void test_compensation_impossible_without_backup(void **state)
{
    (void)state;
    sim s;
    ebb_plan_input in = input(&s, "0005"); /* 0005 has no down script anywhere */
    in.accept_data_loss = true;
    in.skip_backup = true;
    in.strategy.canary = 1;
    in.strategy.on_failure = EBB_ON_FAILURE_COMPENSATE;
    start(&s, &in, &default_cfg);
    event(&s, EBB_EV_START);
    finish(&s, 0);
    answer_until(&s, 1, EBB_JOB_MIGRATE);
    answer(&s, 1, false);
    for (size_t h = 2; h < 6; h++)
        finish(&s, h);
    assert_int_equal(s.run.hosts[0].state, EBB_HOST_COMPENSATION_FAILED);
    assert_non_null(strstr(s.run.hosts[0].error, "no backup"));
    assert_int_equal(s.run.state, EBB_RUN_FAILED);
    sim_fini(&s);
}

static void test_unknown_host_counts_after_timeout(void **state)
{
    (void)state;
    sim s;
    ebb_plan_input in = input(&s, "0004");
    in.strategy.budget_count = 1;
    start(&s, &in, &default_cfg);
    event(&s, EBB_EV_START);
    for (size_t h = 2; h < 6; h++)
        finish(&s, h);
    tick(&s, EBB_FIX_NOW + 59);
    assert_int_equal(s.run.hosts[0].state, EBB_HOST_RUNNING);
    tick(&s, EBB_FIX_NOW + 60);
    assert_int_equal(s.run.hosts[0].state, EBB_HOST_UNKNOWN);
    assert_int_equal(s.run.hosts[1].state, EBB_HOST_UNKNOWN);
    assert_int_equal(s.run.failures, 0); /* silent is not failed yet */
    /* prod-02 answers late: it goes on where it was */
    answer(&s, 1, true);
    assert_int_equal(s.run.hosts[1].state, EBB_HOST_RUNNING);
    assert_int_equal(count_sends(&s, EBB_JOB_STOP_SERVICES), 1);
    tick(&s, EBB_FIX_NOW + 180);
    assert_int_equal(s.run.hosts[0].state, EBB_HOST_FAILED);
    assert_int_equal(s.run.failures, 1);
    assert_int_equal(s.run.state, EBB_RUN_RUNNING); /* within the budget of 1 */
    /* its late answer now finds no job out */
    ebb_error err;
    ebb_rollout_event late = {
        .kind = EBB_EV_RESULT, .job_id = "00000000000000000000000000000000", .ok = true};
    assert_int_equal(apply(&s, late, &err), EBB_E_NOT_FOUND);
    /* prod-02 falls silent too: the second failure spends the budget */
    tick(&s, s.now + 60 + 1);
    assert_int_equal(s.run.hosts[1].state, EBB_HOST_UNKNOWN);
    tick(&s, s.now + 120);
    assert_int_equal(s.run.hosts[1].state, EBB_HOST_FAILED);
    assert_int_equal(s.run.failures, 2);
    assert_int_equal(s.run.state, EBB_RUN_FAILED);
    sim_fini(&s);
}

static void test_halt_resume_abort(void **state)
{
    (void)state;
    sim s;
    ebb_plan_input in = input(&s, "0004");
    in.strategy.batch_count = 2;
    start(&s, &in, &default_cfg);
    ebb_error err;
    assert_int_equal(apply(&s, (ebb_rollout_event){.kind = EBB_EV_RESUME}, &err), EBB_E_CONFLICT);
    assert_int_equal(s.run.state, EBB_RUN_PLANNED);
    event(&s, EBB_EV_START);
    answer(&s, 0, true);
    event(&s, EBB_EV_HALT);
    assert_int_equal(s.run.state, EBB_RUN_HALTED);
    assert_int_equal(apply(&s, (ebb_rollout_event){.kind = EBB_EV_HALT}, &err), EBB_E_CONFLICT);
    /* in-flight hosts finish their sequence; the next wave does not start */
    finish(&s, 0);
    finish(&s, 1);
    assert_int_equal(s.run.state, EBB_RUN_HALTED);
    assert_int_equal(s.run.hosts[2].state, EBB_HOST_PENDING);
    event(&s, EBB_EV_RESUME);
    assert_int_equal(s.run.state, EBB_RUN_RUNNING);
    assert_int_equal(s.run.wave, 1);
    assert_int_equal(count_sends(&s, EBB_JOB_PRECHECK), 2);
    answer(&s, 2, true);
    event(&s, EBB_EV_ABORT);
    assert_int_equal(s.run.state, EBB_RUN_ABORTING);
    for (size_t h = 4; h < 6; h++)
        assert_int_equal(s.run.hosts[h].state, EBB_HOST_CANCELLED);
    finish(&s, 2);
    assert_int_equal(s.run.state, EBB_RUN_ABORTING);
    finish(&s, 3);
    assert_int_equal(s.run.state, EBB_RUN_ABORTED);
    assert_int_equal(find_action(&s, EBB_ACT_END_RUN)->end_state, EBB_RUN_ABORTED);
    sim_fini(&s);
}

static void test_approval_before_start(void **state)
{
    (void)state;
    sim s;
    ebb_plan_input in = input(&s, "0004");
    ebb_rollout_config cfg = default_cfg;
    cfg.approvals_needed = 2;
    start(&s, &in, &cfg);
    event(&s, EBB_EV_START);
    assert_int_equal(s.run.state, EBB_RUN_AWAITING_APPROVAL);
    assert_int_equal(find_action(&s, EBB_ACT_REQUEST_APPROVAL)->approvals, 2);
    approve(&s, "op-bob");
    assert_int_equal(s.run.state, EBB_RUN_AWAITING_APPROVAL);
    approve(&s, "op-bob"); /* counted once */
    assert_int_equal(s.run.state, EBB_RUN_AWAITING_APPROVAL);
    assert_int_equal(s.out.n_transitions, 0);
    approve(&s, "op-carol");
    assert_int_equal(s.run.state, EBB_RUN_RUNNING);
    assert_int_equal(count_sends(&s, EBB_JOB_PRECHECK), 6);
    ebb_error err;
    assert_int_equal(
        apply(&s, (ebb_rollout_event){.kind = EBB_EV_APPROVE, .operator_key = "op-dan"}, &err),
        EBB_E_CONFLICT);
    sim_fini(&s);
}

static void test_health_retry(void **state)
{
    (void)state;
    sim s;
    ebb_plan_input in = input(&s, "0004");
    start(&s, &in, &default_cfg);
    event(&s, EBB_EV_START);
    answer_until(&s, 0, EBB_JOB_HEALTH);
    char first[EBB_JOB_ID_HEX];
    memcpy(first, s.run.hosts[0].job_id, sizeof first);
    answer(&s, 0, false); /* one retry allowed */
    assert_int_equal(s.run.hosts[0].state, EBB_HOST_RUNNING);
    assert_int_equal(s.run.hosts[0].attempt, 1);
    assert_int_equal(count_sends(&s, EBB_JOB_HEALTH), 1);
    assert_string_not_equal(first, s.run.hosts[0].job_id); /* a new attempt, a new id */
    answer(&s, 0, false);
    assert_int_equal(s.run.hosts[0].state, EBB_HOST_FAILED);
    sim_fini(&s);
}

/* Drive every host of wave 0 to its migrate job and answer it ok. */
static void prepare_wave(sim *s, size_t from, size_t to)
{
    for (size_t h = from; h < to; h++) {
        answer_until(s, h, EBB_JOB_MIGRATE);
        const ebb_rollout_action *a = find_action(s, EBB_ACT_SEND_JOB);
        assert_int_equal(a->job, EBB_JOB_MIGRATE);
        assert_true(a->prepare);
    }
}

static void test_atomic_commit_all(void **state)
{
    (void)state;
    sim s;
    ebb_plan_input in = input(&s, "0004");
    in.atomic = true;
    in.strategy.batch_count = 3;
    in.strategy.max_parallel = 2; /* prepared hosts hold no slot */
    start(&s, &in, &default_cfg);
    event(&s, EBB_EV_START);
    prepare_wave(&s, 0, 2);
    answer(&s, 0, true);
    assert_int_equal(s.run.hosts[0].state, EBB_HOST_PREPARED);
    assert_int_equal(s.run.hosts[2].state, EBB_HOST_RUNNING); /* the freed slot */
    ebb_error err;
    assert_int_equal(apply(&s, (ebb_rollout_event){.kind = EBB_EV_HALT}, &err), EBB_E_CONFLICT);
    assert_non_null(strstr(err.msg, "atomic wave 1 is preparing"));
    answer(&s, 1, true);
    prepare_wave(&s, 2, 3);
    assert_int_equal(s.run.decision, EBB_DECISION_NONE);
    answer(&s, 2, true); /* the last one prepared: decide */
    assert_int_equal(s.run.state, EBB_RUN_COMMITTING);
    assert_int_equal(s.run.decision, EBB_DECISION_COMMIT);
    /* the decision is recorded before any commit goes out */
    assert_true(s.out.n_actions == 4);
    assert_int_equal(s.out.actions[0].kind, EBB_ACT_RECORD_DECISION);
    assert_true(s.out.actions[0].commit);
    assert_int_equal(count_sends(&s, EBB_JOB_COMMIT_PREPARED), 3);
    answer(&s, 0, true);
    assert_int_equal(s.run.hosts[0].state, EBB_HOST_RUNNING);
    assert_int_equal(s.run.hosts[0].job, EBB_JOB_VERIFY);
    assert_int_equal(s.run.state, EBB_RUN_COMMITTING);
    answer(&s, 1, true);
    answer(&s, 2, true);
    assert_int_equal(s.run.state, EBB_RUN_RUNNING);
    for (size_t h = 0; h < 3; h++)
        finish(&s, h);
    assert_int_equal(s.run.wave, 1);
    prepare_wave(&s, 3, 5);
    for (size_t h = 3; h < 5; h++)
        answer(&s, h, true);
    prepare_wave(&s, 5, 6);
    answer(&s, 5, true);
    assert_int_equal(s.run.state, EBB_RUN_COMMITTING);
    for (size_t h = 3; h < 6; h++)
        finish(&s, h);
    assert_int_equal(s.run.state, EBB_RUN_SUCCEEDED);
    sim_fini(&s);
}

static void test_atomic_prepare_fails_rolls_back_all(void **state)
{
    (void)state;
    sim s;
    ebb_plan_input in = input(&s, "0004");
    in.atomic = true;
    in.strategy.batch_count = 3;
    start(&s, &in, &default_cfg);
    event(&s, EBB_EV_START);
    prepare_wave(&s, 0, 1);
    answer(&s, 0, true);
    assert_int_equal(s.run.hosts[0].state, EBB_HOST_PREPARED);
    answer_until(&s, 2, EBB_JOB_BACKUP); /* host 2 is still taking its backup */
    prepare_wave(&s, 1, 2);
    answer(&s, 1, false); /* host 1 cannot prepare */
    assert_int_equal(s.run.state, EBB_RUN_ROLLING_BACK);
    assert_int_equal(s.run.decision, EBB_DECISION_ROLLBACK);
    assert_int_equal(s.out.actions[0].kind, EBB_ACT_RECORD_DECISION);
    assert_false(s.out.actions[0].commit);
    /* every unit that was sent a prepare gets rollback_prepared, the failed one too */
    assert_int_equal(count_sends(&s, EBB_JOB_ROLLBACK_PREPARED), 2);
    assert_int_equal(s.run.hosts[0].state, EBB_HOST_ROLLING_BACK);
    assert_int_equal(s.run.hosts[1].state, EBB_HOST_ROLLING_BACK);
    assert_int_equal(s.run.failures, 1);
    /* host 2's backup completes: it does not migrate, it brings its services back */
    answer(&s, 2, true);
    assert_int_equal(s.run.hosts[2].state, EBB_HOST_RECOVERING);
    assert_int_equal(count_sends(&s, EBB_JOB_START_SERVICES), 1);
    assert_int_equal(count_sends(&s, EBB_JOB_MIGRATE), 0);
    answer(&s, 0, true); /* rolled back */
    assert_int_equal(s.run.hosts[0].state, EBB_HOST_RECOVERING);
    finish(&s, 0);
    finish(&s, 2);
    assert_int_equal(s.run.state, EBB_RUN_ROLLING_BACK); /* host 1's rollback is out */
    finish(&s, 1);
    assert_int_equal(s.run.hosts[0].state, EBB_HOST_ROLLED_BACK);
    assert_int_equal(s.run.hosts[2].state, EBB_HOST_ROLLED_BACK);
    assert_int_equal(s.run.hosts[1].state, EBB_HOST_ROLLED_BACK);
    assert_true(s.run.hosts[1].counted);
    assert_int_equal(s.run.failures, 1);
    assert_int_equal(s.run.state, EBB_RUN_FAILED);
    for (size_t h = 3; h < 6; h++)
        assert_int_equal(s.run.hosts[h].state, EBB_HOST_CANCELLED);
    sim_fini(&s);
}

/* Answer host h's job out with a failure that says whether the database changed. */
static void answer_failed(sim *s, size_t h, ebb_result_change change)
{
    char id[EBB_JOB_ID_HEX];
    memcpy(id, s->run.hosts[h].job_id, sizeof id);
    apply_ok(s, (ebb_rollout_event){
                    .kind = EBB_EV_RESULT, .job_id = id, .ok = false, .error = "boom",
                    .change = change});
}

/* SPEC 7: a unit failing after its migration committed is restored from this run's backup, then
 * its services come back; the failure counts against the budget. */
static void test_failed_unit_restored(void **state)
{
    (void)state;
    sim s;
    ebb_plan_input in = input(&s, "0004");
    in.strategy.budget_count = 1;
    start(&s, &in, &default_cfg);
    event(&s, EBB_EV_START);
    answer_until(&s, 0, EBB_JOB_MIGRATE);
    answer_failed(&s, 0, EBB_CHANGE_SOME); /* a broken down/up step after others committed */
    assert_int_equal(s.run.hosts[0].state, EBB_HOST_RESTORING);
    assert_int_equal(s.run.failures, 1);
    const ebb_rollout_action *a = find_action(&s, EBB_ACT_SEND_JOB);
    assert_int_equal(a->job, EBB_JOB_RESTORE);
    assert_string_equal(a->backup_id, "bk-prod-01");
    answer(&s, 0, true);
    assert_int_equal(s.run.hosts[0].state, EBB_HOST_RESTARTING_RESTORED);
    assert_int_equal(count_sends(&s, EBB_JOB_START_SERVICES), 1);
    answer(&s, 0, true);
    assert_int_equal(count_sends(&s, EBB_JOB_HEALTH), 1);
    answer(&s, 0, true);
    assert_int_equal(s.run.hosts[0].state, EBB_HOST_FAILED_RESTORED);
    assert_string_equal(s.run.hosts[0].error, "migrate: boom");
    assert_int_equal(s.run.state, EBB_RUN_RUNNING); /* within the budget of 1 */

    /* A failed restore leaves the unit failed, services stopped, both errors kept. */
    answer_until(&s, 1, EBB_JOB_VERIFY);
    answer_failed(&s, 1, EBB_CHANGE_NONE); /* verify: the migration committed regardless */
    assert_int_equal(s.run.hosts[1].state, EBB_HOST_RESTORING);
    answer_failed(&s, 1, EBB_CHANGE_UNKNOWN);
    assert_int_equal(s.run.hosts[1].state, EBB_HOST_FAILED);
    assert_int_equal(s.out.n_actions, 0); /* no start_services on an unknown schema */
    assert_string_equal(s.run.hosts[1].error, "verify: boom; then restore: boom");
    assert_int_equal(s.run.failures, 2); /* counted once per unit */
    assert_int_equal(s.run.state, EBB_RUN_FAILING);
    for (size_t h = 2; h < 6; h++)
        if (s.run.hosts[h].job_id[0] != '\0')
            finish(&s, h);
    assert_int_equal(s.run.state, EBB_RUN_FAILED);
    sim_fini(&s);
}

/* A failure with the database unchanged brings the services back; a precheck failure has
 * nothing to bring back; a change without a backup leaves the services stopped. */
static void test_failed_unit_restarted(void **state)
{
    (void)state;
    sim s;
    ebb_plan_input in = input(&s, "0004");
    in.strategy.budget_count = 5;
    start(&s, &in, &default_cfg);
    event(&s, EBB_EV_START);
    /* migrate refused before changing anything */
    answer_until(&s, 0, EBB_JOB_MIGRATE);
    answer_failed(&s, 0, EBB_CHANGE_NONE);
    assert_int_equal(s.run.hosts[0].state, EBB_HOST_RESTARTING);
    assert_int_equal(count_sends(&s, EBB_JOB_START_SERVICES), 1);
    assert_int_equal(count_sends(&s, EBB_JOB_RESTORE), 0);
    finish(&s, 0);
    assert_int_equal(s.run.hosts[0].state, EBB_HOST_FAILED);
    /* the backup fails: the services stopped for it come back */
    answer_until(&s, 1, EBB_JOB_BACKUP);
    answer_failed(&s, 1, EBB_CHANGE_UNKNOWN);
    assert_int_equal(s.run.hosts[1].state, EBB_HOST_RESTARTING);
    answer(&s, 1, true);
    answer_failed(&s, 1, EBB_CHANGE_UNKNOWN); /* health fails too: still one failure */
    assert_int_equal(s.run.hosts[1].state, EBB_HOST_FAILED);
    assert_string_equal(s.run.hosts[1].error, "backup: boom; then health: boom");
    /* stop_services fails: start them again */
    answer_until(&s, 2, EBB_JOB_STOP_SERVICES);
    answer_failed(&s, 2, EBB_CHANGE_UNKNOWN);
    assert_int_equal(s.run.hosts[2].state, EBB_HOST_RESTARTING);
    finish(&s, 2);
    /* precheck fails: nothing was stopped */
    answer_failed(&s, 3, EBB_CHANGE_UNKNOWN);
    assert_int_equal(s.run.hosts[3].state, EBB_HOST_FAILED);
    assert_int_equal(s.out.n_actions, 0);
    assert_int_equal(s.run.failures, 4);
    finish(&s, 4);
    finish(&s, 5);
    assert_int_equal(s.run.state, EBB_RUN_SUCCEEDED); /* within the budget of 5 */
    sim_fini(&s);

    /* skip_backup: a migrate that committed part of its path cannot be restored */
    sim t;
    ebb_plan_input in2 = input(&t, "0004");
    in2.skip_backup = true;
    start(&t, &in2, &default_cfg);
    event(&t, EBB_EV_START);
    answer_until(&t, 0, EBB_JOB_MIGRATE);
    answer_failed(&t, 0, EBB_CHANGE_SOME);
    assert_int_equal(t.run.hosts[0].state, EBB_HOST_FAILED);
    assert_non_null(strstr(t.run.hosts[0].error, "no backup taken in this run"));
    assert_int_equal(count_sends(&t, EBB_JOB_START_SERVICES), 0);
    sim_fini(&t);
}

/* An old journal record (no "engine" field) replays as it was decided then: the unit fails. */
static void test_legacy_failure_replays_as_recorded(void **state)
{
    (void)state;
    sim s;
    ebb_plan_input in = input(&s, "0004");
    start(&s, &in, &default_cfg);
    event(&s, EBB_EV_START);
    answer_until(&s, 0, EBB_JOB_MIGRATE);
    char id[EBB_JOB_ID_HEX];
    memcpy(id, s.run.hosts[0].job_id, sizeof id);
    apply_ok(&s, (ebb_rollout_event){
                     .kind = EBB_EV_RESULT, .job_id = id, .ok = false, .legacy = true});
    assert_int_equal(s.run.hosts[0].state, EBB_HOST_FAILED);
    assert_int_equal(count_sends(&s, EBB_JOB_RESTORE), 0);
    sim_fini(&s);
}

/* Atomic: an agent that dies right after PREPARE TRANSACTION gets rollback_prepared too. */
static void test_atomic_silent_prepare_rolled_back(void **state)
{
    (void)state;
    sim s;
    ebb_plan_input in = input(&s, "0004");
    in.atomic = true;
    in.strategy.batch_count = 3;
    start(&s, &in, &default_cfg);
    event(&s, EBB_EV_START);
    prepare_wave(&s, 0, 3);
    answer(&s, 0, true);
    answer(&s, 2, true);
    assert_int_equal(s.run.hosts[1].job, EBB_JOB_MIGRATE); /* host 1's agent died after PREPARE */
    tick(&s, s.now + 60);
    assert_int_equal(s.run.hosts[1].state, EBB_HOST_UNKNOWN);
    assert_int_equal(s.run.decision, EBB_DECISION_NONE);
    tick(&s, s.now + 120);
    assert_int_equal(s.run.decision, EBB_DECISION_ROLLBACK);
    assert_int_equal(s.run.state, EBB_RUN_ROLLING_BACK);
    assert_int_equal(s.out.actions[0].kind, EBB_ACT_RECORD_DECISION);
    assert_int_equal(count_sends(&s, EBB_JOB_ROLLBACK_PREPARED), 3);
    for (size_t h = 0; h < 3; h++)
        assert_int_equal(s.run.hosts[h].state, EBB_HOST_ROLLING_BACK);
    assert_int_equal(s.run.failures, 1);
    /* the agent comes back: its rollback_prepared (idempotent on the agent) succeeds */
    for (size_t h = 0; h < 3; h++)
        finish(&s, h);
    for (size_t h = 0; h < 3; h++)
        assert_int_equal(s.run.hosts[h].state, EBB_HOST_ROLLED_BACK);
    assert_int_equal(s.run.state, EBB_RUN_FAILED);

    /* A unit whose prepare failed after the decision was already rollback is rolled back too. */
    sim t;
    ebb_plan_input in2 = input(&t, "0004");
    in2.atomic = true;
    in2.strategy.batch_count = 3;
    start(&t, &in2, &default_cfg);
    event(&t, EBB_EV_START);
    prepare_wave(&t, 0, 3);
    answer(&t, 0, false); /* decision: rollback */
    assert_int_equal(count_sends(&t, EBB_JOB_ROLLBACK_PREPARED), 1);
    answer(&t, 1, false); /* its prepare failed late */
    assert_int_equal(t.run.hosts[1].state, EBB_HOST_ROLLING_BACK);
    assert_int_equal(count_sends(&t, EBB_JOB_ROLLBACK_PREPARED), 1);
    assert_int_equal(t.run.failures, 2);
    sim_fini(&t);
    sim_fini(&s);
}

/* Every job id a run sends, in order, for a fixed sequence of events. */
static size_t collect_ids(const char *run_id, char ids[][EBB_JOB_ID_HEX], size_t max)
{
    sim s;
    ebb_plan_input in = input(&s, "0004");
    in.strategy.canary = 1;
    start(&s, &in, &default_cfg);
    snprintf(s.run.run_id, sizeof s.run.run_id, "%s", run_id);
    size_t n = 0;
    event(&s, EBB_EV_START);
    while (!ebb_run_is_over(&s.run) && n < max) {
        for (size_t i = 0; i < s.out.n_actions && n < max; i++)
            if (s.out.actions[i].kind == EBB_ACT_SEND_JOB)
                memcpy(ids[n++], s.out.actions[i].job_id, EBB_JOB_ID_HEX);
        size_t h = 0;
        while (h < s.run.n_hosts && s.run.hosts[h].job_id[0] == '\0')
            h++;
        if (h == s.run.n_hosts)
            break;
        answer(&s, h, true);
    }
    sim_fini(&s);
    return n;
}

static void test_deterministic_job_ids(void **state)
{
    (void)state;
    static char a[64][EBB_JOB_ID_HEX], b[64][EBB_JOB_ID_HEX], c[64][EBB_JOB_ID_HEX];
    size_t na = collect_ids("run-7", a, 64);
    size_t nb = collect_ids("run-7", b, 64);
    size_t nc = collect_ids("run-8", c, 64);
    assert_int_equal(na, 42); /* 6 hosts x 7 steps */
    assert_int_equal(nb, na);
    assert_int_equal(nc, na);
    for (size_t i = 0; i < na; i++) {
        assert_int_equal(strlen(a[i]), 32);
        assert_string_equal(a[i], b[i]); /* a restarted coordinator derives the same ids */
        assert_string_not_equal(a[i], c[i]);
        for (size_t k = 0; k < i; k++)
            assert_string_not_equal(a[i], a[k]);
    }
    char x[EBB_JOB_ID_HEX], y[EBB_JOB_ID_HEX];
    ebb_rollout_job_id("run-7", "prod-01", "app", "step", 0, EBB_JOB_PRECHECK, 0, x);
    assert_string_equal(x, a[0]);
    ebb_rollout_job_id("run-7", "prod-01", "app", "step", 0, EBB_JOB_PRECHECK, 1, y);
    assert_string_not_equal(x, y);
    ebb_rollout_job_id("run-7", "prod-01", "app", "compensate", 0, EBB_JOB_PRECHECK, 0, y);
    assert_string_not_equal(x, y);
}

static void test_apply_is_pure(void **state)
{
    (void)state;
    sim s;
    ebb_plan_input in = input(&s, "0004");
    start(&s, &in, &default_cfg);
    event(&s, EBB_EV_START);
    ebb_run before;
    ebb_error err;
    assert_int_equal(ebb_run_copy(&s.run, &before, &err), EBB_OK);
    ebb_rollout_event ev = {.kind = EBB_EV_RESULT, .job_id = s.run.hosts[0].job_id, .ok = true};
    ebb_run n1, n2;
    ebb_rollout_output o1, o2;
    assert_int_equal(ebb_rollout_apply(&s.run, &ev, s.now, &n1, &o1, &err), EBB_OK);
    assert_int_equal(ebb_rollout_apply(&s.run, &ev, s.now, &n2, &o2, &err), EBB_OK);
    /* the input run is unchanged and the same event gives the same result */
    assert_memory_equal(before.hosts, s.run.hosts, s.run.n_hosts * sizeof *s.run.hosts);
    assert_int_equal(before.state, s.run.state);
    assert_memory_equal(n1.hosts, n2.hosts, n1.n_hosts * sizeof *n1.hosts);
    assert_int_equal(o1.n_actions, o2.n_actions);
    assert_memory_equal(o1.actions, o2.actions, o1.n_actions * sizeof *o1.actions);
    assert_int_equal(o1.n_transitions, 1);
    assert_int_equal(o1.transitions[0].from, EBB_HOST_RUNNING);
    assert_int_equal(o1.transitions[0].event, EBB_HEV_STEP_OK);
    ebb_run_fini(&n1);
    ebb_run_fini(&n2);
    ebb_run_fini(&before);
    /* a dry-run plan never becomes a run */
    ebb_plan dry = s.plan;
    dry.dry_run = true;
    assert_int_equal(ebb_run_init(&dry, "run-dry", &default_cfg, &before, &err), EBB_E_REFUSED);
    ebb_rollout_output_fini(&o1);
    ebb_rollout_output_fini(&o2);
    sim_fini(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_success_three_waves_with_soak),
        cmocka_unit_test(test_failure_halts),
        cmocka_unit_test(test_failure_compensates),
        cmocka_unit_test(test_compensation_impossible_without_backup),
        cmocka_unit_test(test_unknown_host_counts_after_timeout),
        cmocka_unit_test(test_halt_resume_abort),
        cmocka_unit_test(test_approval_before_start),
        cmocka_unit_test(test_health_retry),
        cmocka_unit_test(test_atomic_commit_all),
        cmocka_unit_test(test_atomic_prepare_fails_rolls_back_all),
        cmocka_unit_test(test_failed_unit_restored),
        cmocka_unit_test(test_failed_unit_restarted),
        cmocka_unit_test(test_legacy_failure_replays_as_recorded),
        cmocka_unit_test(test_atomic_silent_prepare_rolled_back),
        cmocka_unit_test(test_deterministic_job_ids),
        cmocka_unit_test(test_apply_is_pure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
