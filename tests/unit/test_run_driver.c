/* Unit tests of the run driver: a run driven to its end through the journal, a crash in the
 * middle replayed (same state, same job ids asked again, nothing new), plan JSON round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/journal.h"
#include "coordinator/audit.h"
#include "coordinator/plan_render.h"
#include "coordinator/run_driver.h"
#include "coordinator/run_store.h"
#include "tests/support/plan_fixture.h"
#include "tests/support/tmpdir.h"

static char dir[4096];
static char jpath[4200];

static int setup(void **state)
{
    (void)state;
    if (ebb_test_tmpdir_make("rundriver", dir, sizeof dir) != 0)
        return -1;
    snprintf(jpath, sizeof jpath, "%s/coordinator.journal", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return ebb_test_tmpdir_remove(dir);
}

/* A staging rollout to 0005 (stg-01..03 at 0004): one wave of three hosts. */
static void make_plan(ebb_plan *plan)
{
    ebb_fix_fleet f;
    ebb_fix_fleet_init(&f);
    ebb_plan_input in = ebb_fix_input(&f, EBB_RUN_ROLLOUT, "staging", "0005");
    in.strategy.batch_count = 2;
    in.strategy.budget_count = 1;
    in.requester = "a1a1a1a1a1a1a1a1";
    ebb_error err;
    if (ebb_plan_build(&in, plan, &err) != EBB_OK)
        fail_msg("plan: %s", err.msg);
}

static ebb_driver_result ok_result(const ebb_coord_job *j)
{
    return (ebb_driver_result){.job_id = j->job_id,
                               .run_id = j->run_id,
                               .agent_id = j->agent_id,
                               .database = j->database,
                               .outcome = "succeeded",
                               .ok = true,
                               .backup_id =
                                   j->action == EBB__JOB_ACTION__ACTION_BACKUP ? "bk-1" : NULL};
}

static void test_plan_round_trip(void **state)
{
    (void)state;
    ebb_plan plan, back;
    make_plan(&plan);
    json_t *j = ebb_plan_to_json(&plan, NULL);
    assert_int_equal(ebb_plan_from_json(j, &back, NULL), EBB_OK);
    char h1[EBB_PLAN_HASH_HEX], h2[EBB_PLAN_HASH_HEX];
    assert_int_equal(ebb_plan_hash(&plan, h1, NULL), EBB_OK);
    assert_int_equal(ebb_plan_hash(&back, h2, NULL), EBB_OK);
    assert_string_equal(h1, h2);
    assert_int_equal(back.n_waves, plan.n_waves);
    assert_int_equal(back.hosts[2].wave, plan.hosts[2].wave);
    json_object_del(j, "waves");
    ebb_error err;
    ebb_plan none;
    assert_int_equal(ebb_plan_from_json(j, &none, &err), EBB_E_INVALID);
    json_decref(j);
    ebb_plan_fini(&back);
    ebb_plan_fini(&plan);
}

typedef struct counts {
    int requested, steps, ends, transitions, approvals;
} counts;

static ebb_code count_fn(const ebb_journal_record *rec, void *ctx, bool *stop, ebb_error *err)
{
    (void)stop;
    (void)err;
    counts *c = ctx;
    c->requested += strcmp(rec->type, EBB_AUDIT_RUN_REQUESTED) == 0;
    c->steps += strcmp(rec->type, EBB_AUDIT_STEP_RESULT) == 0;
    c->ends += strcmp(rec->type, EBB_AUDIT_RUN_END) == 0;
    c->transitions += strcmp(rec->type, EBB_RUN_TRANSITION) == 0;
    c->approvals += strcmp(rec->type, EBB_AUDIT_APPROVAL) == 0;
    return EBB_OK;
}

/* Answer every queued job ok, up to max answers; returns how many were answered. */
static int answer_all(ebb_run_driver *d, ebb_job_queue *q, int max, int64_t *now)
{
    int n = 0;
    while (n < max && q->n > 0) {
        ebb_coord_job *j = &q->jobs[0];
        ebb_driver_result r = ok_result(j);
        char id[64];
        snprintf(id, sizeof id, "%s", j->job_id);
        r.job_id = id;
        bool matched = false;
        *now += 1000;
        ebb_error err;
        if (ebb_run_driver_result(d, &r, *now, &matched, &err) != EBB_OK)
            fail_msg("result: %s", err.msg);
        assert_true(matched);
        assert_null(ebb_job_queue_find(q, id)); /* answered jobs leave the queue */
        n++;
    }
    return n;
}

static void test_run_with_crash(void **state)
{
    (void)state;
    ebb_journal *j = NULL;
    assert_int_equal(ebb_journal_open(jpath, NULL, &j, NULL, NULL), EBB_OK);
    ebb_job_queue q;
    ebb_job_queue_init(&q);
    ebb_run_driver *d = NULL;
    assert_int_equal(ebb_run_driver_alloc(j, &q, &d, NULL), EBB_OK);
    assert_int_equal(ebb_run_driver_replay(d, NULL), EBB_OK);

    ebb_plan plan;
    make_plan(&plan);
    size_t units = plan.n_hosts;
    assert_int_equal(units, 3);
    ebb_policy_result pol = {.verdict = EBB_POLICY_ALLOWED};
    ebb_run_start st = {.policy = &pol,
                        .cfg = {.default_timeout_s = 600, .silent_timeout_s = 60},
                        .operator_key_id = "a1a1a1a1a1a1a1a1"};
    char run_id[64];
    int64_t now = EBB_FIX_NOW * 1000;
    ebb_error err;
    if (ebb_run_driver_start(d, &plan, &st, now, run_id, &err) != EBB_OK)
        fail_msg("start: %s", err.msg);
    assert_null(plan.hosts); /* taken over */
    const ebb_run_entry *e = ebb_run_driver_find(d, run_id);
    assert_int_equal(e->run.state, EBB_RUN_RUNNING);
    assert_int_equal(q.n, 2); /* the first wave of two: their prechecks */
    assert_int_equal(q.jobs[0].action, EBB__JOB_ACTION__ACTION_PRECHECK);

    /* A few steps, then the coordinator "dies" with jobs out. */
    answer_all(d, &q, 5, &now);
    assert_true(q.n > 0);
    char out_ids[8][64];
    size_t n_out = q.n;
    for (size_t i = 0; i < n_out; i++)
        snprintf(out_ids[i], sizeof out_ids[i], "%s", q.jobs[i].job_id);
    ebb_run_state st_before = e->run.state;
    size_t step0 = e->run.hosts[0].step;
    ebb_run_driver_free(d);
    ebb_job_queue_fini(&q);
    ebb_journal_close(j);

    /* Restart: replay gives the same run and asks the same jobs again, nothing else. */
    assert_int_equal(ebb_journal_open(jpath, NULL, &j, NULL, NULL), EBB_OK);
    ebb_job_queue_init(&q);
    assert_int_equal(ebb_run_driver_alloc(j, &q, &d, NULL), EBB_OK);
    if (ebb_run_driver_replay(d, &err) != EBB_OK)
        fail_msg("replay: %s", err.msg);
    e = ebb_run_driver_find(d, run_id);
    assert_non_null(e);
    assert_int_equal(e->run.state, st_before);
    assert_int_equal(e->run.hosts[0].step, step0);
    assert_int_equal(q.n, n_out);
    for (size_t i = 0; i < n_out; i++)
        assert_non_null(ebb_job_queue_find(&q, out_ids[i]));

    /* A late duplicate of an answered job matches nothing. */
    ebb_driver_result dup = {
        .job_id = "no-such-job", .run_id = run_id, .ok = true, .outcome = "succeeded"};
    bool matched = true;
    assert_int_equal(ebb_run_driver_result(d, &dup, now, &matched, NULL), EBB_OK);
    assert_false(matched);

    /* Halt and resume are audited and change the state. */
    assert_int_equal(
        ebb_run_driver_control(d, run_id, EBB_EV_HALT, "b2b2b2b2b2b2b2b2", "look", now, NULL),
        EBB_OK);
    assert_int_equal(ebb_run_driver_find(d, run_id)->run.state, EBB_RUN_HALTED);
    assert_int_equal(
        ebb_run_driver_control(d, run_id, EBB_EV_HALT, "b2b2b2b2b2b2b2b2", NULL, now, &err),
        EBB_E_CONFLICT);
    assert_int_equal(
        ebb_run_driver_control(d, run_id, EBB_EV_RESUME, "b2b2b2b2b2b2b2b2", NULL, now, NULL),
        EBB_OK);

    answer_all(d, &q, 1000, &now);
    e = ebb_run_driver_find(d, run_id);
    assert_int_equal(e->run.state, EBB_RUN_SUCCEEDED);
    assert_true(ebb_run_is_over(&e->run));
    assert_true(e->ended_ms > 0);
    json_t *rj = ebb_run_entry_json(e, true);
    assert_int_equal(json_integer_value(json_object_get(rj, "hosts_done")), 3);
    assert_true(json_array_size(json_object_get(rj, "log")) > 10);
    json_decref(rj);
    const ebb_run_record *hist;
    size_t n_hist;
    ebb_run_driver_history(d, &hist, &n_hist);
    assert_int_equal(n_hist, 1);
    assert_true(hist[0].verified);
    assert_string_equal(hist[0].env, "staging");
    ebb_run_driver_free(d);
    ebb_job_queue_fini(&q);
    ebb_journal_close(j);

    counts c = {0};
    assert_int_equal(ebb_journal_scan(jpath, NULL, 1, count_fn, &c, NULL, NULL), EBB_OK);
    assert_int_equal(c.requested, 1);
    assert_int_equal(c.ends, 1);
    assert_int_equal(c.steps, 3 * 7); /* every step of every host, once */
    assert_true(c.transitions >= c.steps);

    /* The finished run replays as finished, and asks for nothing. */
    assert_int_equal(ebb_journal_open(jpath, NULL, &j, NULL, NULL), EBB_OK);
    ebb_job_queue_init(&q);
    assert_int_equal(ebb_run_driver_alloc(j, &q, &d, NULL), EBB_OK);
    assert_int_equal(ebb_run_driver_replay(d, NULL), EBB_OK);
    assert_int_equal(ebb_run_driver_find(d, run_id)->run.state, EBB_RUN_SUCCEEDED);
    assert_int_equal(q.n, 0);
    ebb_run_driver_free(d);
    ebb_job_queue_fini(&q);
    ebb_journal_close(j);
}

/* The approvers of a run, from its JSON, joined by ",". */
static void approvers_of(const ebb_run_entry *e, char *out, size_t size)
{
    json_t *rj = ebb_run_entry_json(e, false);
    const json_t *a = json_object_get(rj, "approvers");
    out[0] = '\0';
    for (size_t i = 0; i < json_array_size(a); i++) {
        size_t l = strlen(out);
        snprintf(out + l, size - l, "%s%s", i ? "," : "", json_string_value(json_array_get(a, i)));
    }
    json_decref(rj);
}

/* Approvals: a repeat by one key is refused and not audited twice; the run keeps showing who
 * approved it once it runs. A migrate that failed after committing is restored from the run's
 * backup, and the journal replays to the same states. */
static void test_approvals_and_restore(void **state)
{
    (void)state;
    char path[4300];
    snprintf(path, sizeof path, "%s/approve.journal", dir);
    ebb_journal *j = NULL;
    assert_int_equal(ebb_journal_open(path, NULL, &j, NULL, NULL), EBB_OK);
    ebb_job_queue q;
    ebb_job_queue_init(&q);
    ebb_run_driver *d = NULL;
    assert_int_equal(ebb_run_driver_alloc(j, &q, &d, NULL), EBB_OK);
    assert_int_equal(ebb_run_driver_replay(d, NULL), EBB_OK);
    ebb_plan plan;
    make_plan(&plan);
    ebb_policy_result pol = {.verdict = EBB_POLICY_NEEDS_APPROVAL, .approvals_needed = 2};
    ebb_run_start st = {.policy = &pol,
                        .cfg = {.default_timeout_s = 600, .silent_timeout_s = 60},
                        .operator_key_id = "a1a1a1a1a1a1a1a1"};
    char run_id[64];
    int64_t now = EBB_FIX_NOW * 1000;
    ebb_error err;
    assert_int_equal(ebb_run_driver_start(d, &plan, &st, now, run_id, &err), EBB_OK);
    assert_int_equal(ebb_run_driver_control(d, run_id, EBB_EV_APPROVE, "b2b2b2b2b2b2b2b2", NULL,
                                            now, NULL),
                     EBB_OK);
    assert_int_equal(ebb_run_driver_control(d, run_id, EBB_EV_APPROVE, "b2b2b2b2b2b2b2b2", NULL,
                                            now, &err),
                     EBB_E_REFUSED);
    assert_non_null(strstr(err.msg, "already approved by this key"));
    const ebb_run_entry *e = ebb_run_driver_find(d, run_id);
    assert_int_equal(e->run.state, EBB_RUN_AWAITING_APPROVAL);
    char who[256];
    approvers_of(e, who, sizeof who);
    assert_string_equal(who, "b2b2b2b2b2b2b2b2");
    assert_int_equal(ebb_run_driver_control(d, run_id, EBB_EV_APPROVE, "c3c3c3c3c3c3c3c3", NULL,
                                            now, NULL),
                     EBB_OK);
    e = ebb_run_driver_find(d, run_id);
    assert_int_equal(e->run.state, EBB_RUN_RUNNING);
    approvers_of(e, who, sizeof who); /* not "0 of 2" once it runs */
    assert_string_equal(who, "b2b2b2b2b2b2b2b2,c3c3c3c3c3c3c3c3");

    /* Host 0 up to its migrate, which fails after committing one revision. */
    for (int k = 0; k < 20; k++) {
        ebb_coord_job *job = NULL;
        for (size_t i = 0; i < q.n && job == NULL; i++)
            if (strcmp(q.jobs[i].agent_id, e->plan.hosts[0].host) == 0)
                job = &q.jobs[i];
        assert_non_null(job);
        char id[64];
        snprintf(id, sizeof id, "%s", job->job_id);
        ebb_driver_result r = ok_result(job);
        r.job_id = id;
        bool migrate = job->action == EBB__JOB_ACTION__ACTION_MIGRATE;
        static const char *const before[] = {"0004"}, *const after[] = {"0005"};
        if (migrate) {
            r.ok = false;
            r.outcome = "failed";
            r.error_message = "relation x does not exist";
            r.revisions_before = before;
            r.n_before = 1;
            r.revisions_after = after; /* pretend a first step committed */
            r.n_after = 1;
            r.fingerprint = "fp";
        }
        now += 1000;
        assert_int_equal(ebb_run_driver_result(d, &r, now, NULL, &err), EBB_OK);
        if (migrate)
            break;
    }
    e = ebb_run_driver_find(d, run_id);
    assert_int_equal(e->run.hosts[0].state, EBB_HOST_RESTORING);
    ebb_coord_job *restore = NULL;
    for (size_t i = 0; i < q.n; i++)
        if (q.jobs[i].action == EBB__JOB_ACTION__ACTION_RESTORE)
            restore = &q.jobs[i];
    assert_non_null(restore);
    assert_string_equal(restore->backup_id, "bk-1");
    ebb_run_driver_free(d);
    ebb_job_queue_fini(&q);
    ebb_journal_close(j);

    /* Restart: the same states, the restore asked again. */
    assert_int_equal(ebb_journal_open(path, NULL, &j, NULL, NULL), EBB_OK);
    ebb_job_queue_init(&q);
    assert_int_equal(ebb_run_driver_alloc(j, &q, &d, NULL), EBB_OK);
    if (ebb_run_driver_replay(d, &err) != EBB_OK)
        fail_msg("replay: %s", err.msg);
    e = ebb_run_driver_find(d, run_id);
    assert_int_equal(e->run.hosts[0].state, EBB_HOST_RESTORING);
    approvers_of(e, who, sizeof who);
    assert_string_equal(who, "b2b2b2b2b2b2b2b2,c3c3c3c3c3c3c3c3");
    answer_all(d, &q, 1000, &now);
    e = ebb_run_driver_find(d, run_id);
    assert_int_equal(e->run.hosts[0].state, EBB_HOST_FAILED_RESTORED);
    assert_int_equal(e->run.failures, 1);
    assert_true(ebb_run_is_over(&e->run));
    json_t *rj = ebb_run_entry_json(e, false);
    assert_int_equal(json_integer_value(json_object_get(rj, "hosts_failed")), 1);
    json_decref(rj);
    ebb_run_driver_free(d);
    ebb_job_queue_fini(&q);
    ebb_journal_close(j);

    counts c = {0};
    assert_int_equal(ebb_journal_scan(path, NULL, 1, count_fn, &c, NULL, NULL), EBB_OK);
    assert_int_equal(c.approvals, 2); /* the repeat left no record */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_round_trip),
        cmocka_unit_test(test_run_with_crash),
        cmocka_unit_test(test_approvals_and_restore),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
