/* Unit tests for the planner: waves, budgets, refusals, rollback by steps, promotion; golden text
 * and JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator/plan.h"
#include "coordinator/plan_render.h"
#include "coordinator/policy.h"
#include "coordinator/rollout.h"
#include "tests/support/golden.h"
#include "tests/support/plan_fixture.h"

static void build_ok(const ebb_plan_input *in, ebb_plan *plan)
{
    ebb_error err;
    ebb_code rc = ebb_plan_build(in, plan, &err);
    if (rc != EBB_OK)
        fail_msg("plan refused: %s", err.msg);
}

/* Compare the plan's text and JSON renderings with tests/golden/plans/<name>.{txt,json}. */
static void golden_plan(const char *name, const ebb_plan *plan, const ebb_policy_result *policy)
{
    char *text = NULL, *json = NULL, path[256];
    ebb_error err;
    assert_int_equal(ebb_plan_render_text(plan, policy, &text, &err), EBB_OK);
    assert_int_equal(ebb_plan_render_json(plan, policy, false, &json, &err), EBB_OK);
    snprintf(path, sizeof path, "tests/golden/plans/%s.txt", name);
    ebb_golden_check(path, text);
    size_t len = strlen(json);
    char *with_nl = malloc(len + 2);
    memcpy(with_nl, json, len);
    memcpy(with_nl + len, "\n", 2);
    snprintf(path, sizeof path, "tests/golden/plans/%s.json", name);
    ebb_golden_check(path, with_nl);
    free(with_nl);
    free(text);
    free(json);
}

/* The refusal message, compared with tests/golden/plans/<name>.txt. */
static void golden_refusal(const char *name, const ebb_plan_input *in, ebb_code want)
{
    ebb_plan plan;
    memset(&plan, 0x5a, sizeof plan); /* must stay untouched on failure */
    ebb_error err;
    ebb_code rc = ebb_plan_build(in, &plan, &err);
    assert_int_equal(rc, want);
    assert_int_equal(err.code, want);
    assert_int_equal(((unsigned char *)&plan)[0], 0x5a);
    char path[256], text[EBB_ERROR_MSG_MAX + 2];
    snprintf(text, sizeof text, "%s\n", err.msg);
    snprintf(path, sizeof path, "tests/golden/plans/%s.txt", name);
    ebb_golden_check(path, text);
}

static void test_canary_percent_batches(void **state)
{
    (void)state;
    ebb_fix_fleet f;
    ebb_fix_fleet_init(&f);
    f.hosts[ebb_fix_host(&f, "prod-04")].canary = true; /* preferred canary goes first */
    ebb_plan_input in = ebb_fix_input(&f, EBB_RUN_ROLLOUT, "prod", "@v2");
    in.reason = "ship orders and backfill";
    in.accept_data_loss = true;
    in.strategy.canary = 1;
    in.strategy.batch_percent = 40; /* of 6 units: 3 per batch */
    in.strategy.budget_count = 1;
    in.strategy.soak_s = 300;
    in.strategy.gate = EBB_GATE_AFTER_CANARY;
    ebb_plan plan;
    build_ok(&in, &plan);
    assert_int_equal(plan.n_hosts, 6);
    assert_int_equal(plan.n_waves, 3);
    assert_int_equal(plan.waves[0].count, 1);
    assert_true(plan.waves[0].canary);
    assert_string_equal(plan.hosts[0].host, "prod-04");
    assert_int_equal(plan.waves[1].count, 3);
    assert_true(plan.waves[1].gate);
    assert_int_equal(plan.waves[2].count, 2);
    assert_false(plan.waves[2].gate);
    assert_string_equal(plan.target_rev, "0005");
    assert_string_equal(plan.hosts[0].from, "0003");
    assert_int_equal(plan.hosts[0].n_path, 2);
    assert_true(plan.data_at_risk);         /* 0005's up rewrites data */
    assert_false(plan.hosts[0].reversible); /* 0005 has no down */
    assert_int_equal(plan.budget, 1);
    golden_plan("canary_percent", &plan, NULL);
    ebb_plan_fini(&plan);
}

static void test_count_batches_max_parallel(void **state)
{
    (void)state;
    ebb_fix_fleet f;
    ebb_fix_fleet_init(&f);
    ebb_plan_input in = ebb_fix_input(&f, EBB_RUN_ROLLOUT, "prod", "0004");
    in.strategy.batch_count = 2;
    in.strategy.max_parallel = 1;
    in.strategy.budget_is_percent = true;
    in.strategy.budget_percent = 34; /* of 6: 2 failures tolerated */
    in.strategy.gate = EBB_GATE_EVERY_WAVE;
    in.strategy.on_failure = EBB_ON_FAILURE_COMPENSATE;
    ebb_plan plan;
    build_ok(&in, &plan);
    assert_int_equal(plan.n_waves, 3);
    for (size_t w = 0; w < 3; w++) {
        assert_int_equal(plan.waves[w].count, 2);
        assert_int_equal(plan.waves[w].gate, w > 0);
        assert_false(plan.waves[w].canary);
    }
    assert_int_equal(plan.budget, 2);
    assert_true(plan.hosts[0].reversible);
    assert_false(plan.data_at_risk);
    golden_plan("count_parallel", &plan, NULL);
    ebb_plan_fini(&plan);
}

static void test_budget_exhausted_mid_run(void **state)
{
    (void)state;
    ebb_fix_fleet f;
    ebb_fix_fleet_init(&f);
    ebb_plan_input in = ebb_fix_input(&f, EBB_RUN_ROLLOUT, "prod", "0004");
    in.strategy.batch_count = 2;
    in.strategy.budget_count = 1;
    ebb_plan plan;
    build_ok(&in, &plan);
    ebb_rollout_config cfg = {.default_timeout_s = 60, .silent_timeout_s = 120};
    ebb_run run, next;
    ebb_rollout_output out;
    ebb_error err;
    assert_int_equal(ebb_run_init(&plan, "run-budget", &cfg, &run, &err), EBB_OK);
    /* A transcript of the run: every transition and action, as the journal would see them. */
    char *log = NULL;
    size_t log_len = 0;
    FILE *lf = open_memstream(&log, &log_len);
    ebb_rollout_event start = {.kind = EBB_EV_START};
    ebb_rollout_event ev = start;
    /* wave 1: both hosts succeed; wave 2: both fail -> the second failure exceeds budget 1 */
    for (int round = 0; round < 40 && !ebb_run_is_over(&run); round++) {
        assert_int_equal(ebb_rollout_apply(&run, &ev, EBB_FIX_NOW + round, &next, &out, &err),
                         EBB_OK);
        for (size_t t = 0; t < out.n_transitions; t++) {
            const ebb_rollout_transition *tr = &out.transitions[t];
            if (tr->host == SIZE_MAX)
                fprintf(lf, "run: %s --%s--> %s\n", ebb_run_state_name(tr->from),
                        ebb_fsm_event_name(ebb_fsm_run_table(), tr->event),
                        ebb_run_state_name(tr->to));
            else
                fprintf(lf, "%s: %s --%s--> %s\n", plan.hosts[tr->host].host,
                        ebb_host_state_name(tr->from),
                        ebb_fsm_event_name(ebb_fsm_host_table(), tr->event),
                        ebb_host_state_name(tr->to));
        }
        ebb_run_fini(&run);
        run = next;
        /* answer the first job out */
        size_t h = 0;
        while (h < run.n_hosts && run.hosts[h].job_id[0] == '\0')
            h++;
        ebb_rollout_output_fini(&out);
        if (h == run.n_hosts)
            break;
        bool fails = run.hosts[h].job == EBB_JOB_MIGRATE && plan.hosts[h].wave == 1;
        ev = (ebb_rollout_event){.kind = EBB_EV_RESULT,
                                 .job_id = run.hosts[h].job_id,
                                 .ok = !fails,
                                 .error = "relation orders exists",
                                 .backup_id = "bk-1"};
        fprintf(lf, "< %s %s %s\n", plan.hosts[h].host, ebb_job_kind_name(run.hosts[h].job),
                fails ? "failed" : "ok");
    }
    fclose(lf);
    assert_int_equal(run.state, EBB_RUN_FAILED);
    assert_int_equal(run.failures, 2);
    /* nothing of wave 3 started */
    assert_int_equal(run.hosts[4].state, EBB_HOST_CANCELLED);
    assert_int_equal(run.hosts[5].state, EBB_HOST_CANCELLED);
    ebb_golden_check("tests/golden/plans/budget_exhausted_run.txt", log);
    free(log);
    ebb_run_fini(&run);
    ebb_plan_fini(&plan);
}

static void test_drift_refused_then_allowed(void **state)
{
    (void)state;
    ebb_fix_fleet f;
    ebb_fix_fleet_init(&f);
    f.dbs[ebb_fix_host(&f, "prod-03")].drift = true;
    ebb_plan_input in = ebb_fix_input(&f, EBB_RUN_ROLLOUT, "prod", "0004");
    golden_refusal("drift_refused", &in, EBB_E_REFUSED);
    in.allow_drift = true;
    ebb_plan plan;
    build_ok(&in, &plan);
    assert_true(plan.hosts[2].drift);
    assert_true(plan.allow_drift);
    golden_plan("drift_allowed", &plan, NULL);
    ebb_plan_fini(&plan);
}

static void test_graph_mismatch_refused(void **state)
{
    (void)state;
    ebb_fix_fleet f;
    ebb_fix_fleet_init(&f);
    f.dbs[ebb_fix_host(&f, "prod-05")].graph_hash = EBB_FIX_OTHER_GRAPH;
    ebb_plan_input in = ebb_fix_input(&f, EBB_RUN_ROLLOUT, "prod", "0004");
    in.strategy.batch_count = 3;
    golden_refusal("graph_mismatch_refused", &in, EBB_E_REFUSED);
    /* Alone in its wave the other graph is allowed; the plan then has no single graph. */
    in.strategy.batch_count = 1;
    ebb_plan plan;
    build_ok(&in, &plan);
    assert_null(plan.graph_hash);
    ebb_plan_fini(&plan);
}

static void test_target_not_in_graph(void **state)
{
    (void)state;
    ebb_fix_fleet f;
    ebb_fix_fleet_init(&f);
    ebb_plan_input in = ebb_fix_input(&f, EBB_RUN_ROLLOUT, "staging", "0009");
    golden_refusal("target_not_in_graph", &in, EBB_E_REFUSED);
    in.target = "@v9";
    ebb_plan plan;
    ebb_error err;
    assert_int_equal(ebb_plan_build(&in, &plan, &err), EBB_E_REFUSED);
    assert_non_null(strstr(err.msg, "@v9 is not a tag"));
}

static void test_rollback_by_steps(void **state)
{
    (void)state;
    ebb_fix_fleet f;
    ebb_fix_fleet_init(&f);
    ebb_fix_set_applied(&f, "prod-06", 2); /* one host behind: -2 takes it to base */
    ebb_plan_input in = ebb_fix_input(&f, EBB_RUN_ROLLBACK, "prod", NULL);
    in.steps = 2;
    in.reason = "index build locks orders";
    in.accept_data_loss = true;
    in.strategy.canary = 2;
    in.strategy.batch_count = 4;
    ebb_plan plan;
    build_ok(&in, &plan);
    assert_string_equal(plan.target, "-2");
    assert_null(plan.target_rev); /* prod-06 ends at base, the others at 0001 */
    assert_int_equal(plan.hosts[0].direction, EBB_DIR_DOWN);
    assert_string_equal(plan.hosts[0].path[0], "0003");
    assert_string_equal(plan.hosts[0].path[1], "0002");
    assert_string_equal(plan.hosts[0].to, "0001");
    assert_string_equal(plan.hosts[5].to, "base");
    assert_true(plan.hosts[0].data_at_risk); /* 0002's down drops a column */
    assert_false(plan.hosts[0].reversible);  /* going up again cannot bring the data back */
    golden_plan("rollback_steps", &plan, NULL);
    ebb_plan_fini(&plan);

    ebb_plan_input no_reason = in;
    no_reason.reason = "";
    ebb_error err;
    assert_int_equal(ebb_plan_build(&no_reason, &plan, &err), EBB_E_INVALID);
    assert_non_null(strstr(err.msg, "reason"));
    /* -4 goes below base on every host */
    in.steps = 4;
    assert_int_equal(ebb_plan_build(&in, &plan, &err), EBB_E_REFUSED);
    assert_non_null(strstr(err.msg, "below base"));
}

static void test_promotion_refused_then_allowed(void **state)
{
    (void)state;
    ebb_fix_fleet f;
    ebb_fix_fleet_init(&f);
    ebb_plan_input in = ebb_fix_input(&f, EBB_RUN_ROLLOUT, "prod", "0004");
    in.strategy.canary = 1;
    ebb_plan plan;
    build_ok(&in, &plan);
    ebb_env_policy pol = {.env = "prod", .approvals = 1, .promote_from = "staging"};
    ebb_run_record history[3] = {
        {"staging", EBB_RUN_ROLLOUT, "0003", EBB_FIX_GRAPH, true, EBB_FIX_NOW - 9000},
        /* 0004 reached staging, but not verified */
        {"staging", EBB_RUN_ROLLOUT, "0004", EBB_FIX_GRAPH, false, EBB_FIX_NOW - 5000},
        /* and verified in dev only */
        {"dev", EBB_RUN_ROLLOUT, "0004", EBB_FIX_GRAPH, true, EBB_FIX_NOW - 8000},
    };
    const char *approvers[] = {"op-alice", "op-bob"};
    ebb_policy_input pin = {&plan, &pol, history, 3, approvers, 2, EBB_FIX_NOW};
    ebb_policy_result res;
    ebb_error err;
    assert_int_equal(ebb_policy_check(&pin, &res, &err), EBB_OK);
    assert_int_equal(res.verdict, EBB_POLICY_REFUSED);
    assert_non_null(strstr(res.refusal, "not completed and verified in staging"));
    golden_plan("promotion_refused", &plan, &res);

    history[1].verified = true;
    assert_int_equal(ebb_policy_check(&pin, &res, &err), EBB_OK);
    assert_int_equal(res.verdict, EBB_POLICY_ALLOWED);
    assert_int_equal(res.approvals_counted, 1); /* op-alice requested: not counted */
    golden_plan("promotion_allowed", &plan, &res);

    /* The same revision verified under another graph does not count. */
    history[1].graph_hash = EBB_FIX_OTHER_GRAPH;
    assert_int_equal(ebb_policy_check(&pin, &res, &err), EBB_OK);
    assert_int_equal(res.verdict, EBB_POLICY_REFUSED);
    ebb_plan_fini(&plan);
}

static void test_other_refusals(void **state)
{
    (void)state;
    ebb_fix_fleet f;
    ebb_fix_fleet_init(&f);
    ebb_plan plan;
    ebb_error err;

    ebb_plan_input in = ebb_fix_input(&f, EBB_RUN_ROLLOUT, "qa", "0004");
    assert_int_equal(ebb_plan_build(&in, &plan, &err), EBB_E_REFUSED);
    assert_non_null(strstr(err.msg, "no hosts selected"));

    in = ebb_fix_input(&f, EBB_RUN_ROLLOUT, NULL, "0004");
    const char *mixed[] = {"prod-01", "stg-01"};
    in.selection.hosts = mixed;
    in.selection.n_hosts = 2;
    assert_int_equal(ebb_plan_build(&in, &plan, &err), EBB_E_REFUSED);
    assert_non_null(strstr(err.msg, "stg-01 is in environment staging, not prod"));

    /* A dead host is refused, or left out with skip_dead. */
    f.hosts[ebb_fix_host(&f, "prod-02")].last_seen = EBB_FIX_NOW - 600;
    in = ebb_fix_input(&f, EBB_RUN_ROLLOUT, "prod", "0004");
    assert_int_equal(ebb_plan_build(&in, &plan, &err), EBB_E_REFUSED);
    assert_non_null(strstr(err.msg, "prod-02 is not alive (last seen 600s ago"));
    in.skip_dead = true;
    build_ok(&in, &plan);
    assert_int_equal(plan.n_hosts, 5);
    assert_int_equal(plan.n_skipped, 1);
    assert_string_equal(plan.skipped[0].host, "prod-02");
    ebb_plan_fini(&plan);
    f.hosts[ebb_fix_host(&f, "prod-02")].last_seen = EBB_FIX_NOW;

    /* A selected database missing on a host. */
    const char *dbs[] = {"billing"};
    in = ebb_fix_input(&f, EBB_RUN_ROLLOUT, "staging", "0005");
    in.selection.dbs = dbs;
    in.selection.n_dbs = 1;
    assert_int_equal(ebb_plan_build(&in, &plan, &err), EBB_E_REFUSED);
    assert_non_null(strstr(err.msg, "database billing is missing on host stg-01"));
    assert_non_null(strstr(err.msg, "3 problems"));

    /* Unknown revision: refused even with allow_drift. */
    f.dbs[ebb_fix_host(&f, "stg-02")].revision_known = false;
    in = ebb_fix_input(&f, EBB_RUN_ROLLOUT, "staging", "0005");
    in.allow_drift = true;
    assert_int_equal(ebb_plan_build(&in, &plan, &err), EBB_E_REFUSED);
    assert_non_null(strstr(err.msg, "stg-02/app: current revision unknown"));
    f.dbs[ebb_fix_host(&f, "stg-02")].revision_known = true;

    /* A rollout that would go down, and a rollback that would go up. */
    in = ebb_fix_input(&f, EBB_RUN_ROLLOUT, "dev", "0003");
    assert_int_equal(ebb_plan_build(&in, &plan, &err), EBB_E_REFUSED);
    assert_non_null(strstr(err.msg, "use a rollback"));
    in = ebb_fix_input(&f, EBB_RUN_ROLLBACK, "prod", "0005");
    assert_int_equal(ebb_plan_build(&in, &plan, &err), EBB_E_REFUSED);
    assert_non_null(strstr(err.msg, "use a rollout"));

    /* Reverting 0005 is impossible: it has no down script. */
    in = ebb_fix_input(&f, EBB_RUN_ROLLBACK, "dev", "0004");
    assert_int_equal(ebb_plan_build(&in, &plan, &err), EBB_E_REFUSED);
    assert_non_null(strstr(err.msg, "revision 0005 has no down script"));

    /* Atomic with a no-transaction step. */
    ebb_fleet_rev revs[5];
    memcpy(revs, ebb_fix_revs(), sizeof revs);
    revs[3].no_transaction = true;
    for (size_t i = 6; i < EBB_FIX_HOSTS; i++)
        f.dbs[i].revs = revs;
    in = ebb_fix_input(&f, EBB_RUN_ROLLOUT, "prod", "0004");
    in.atomic = true;
    assert_int_equal(ebb_plan_build(&in, &plan, &err), EBB_E_REFUSED);
    assert_non_null(strstr(err.msg, "cannot be part of an atomic wave"));
    in.atomic = false;
    build_ok(&in, &plan);
    ebb_plan_fini(&plan);

    /* Already at the target: nothing to do, but not an error. */
    in = ebb_fix_input(&f, EBB_RUN_ROLLOUT, "dev", "0005");
    build_ok(&in, &plan);
    assert_int_equal(plan.n_hosts, 0);
    assert_int_equal(plan.n_waves, 0);
    assert_int_equal(plan.n_skipped, 3);
    assert_string_equal(plan.skipped[0].reason, "already at 0005");
    ebb_plan_fini(&plan);

    /* Neither a target nor steps. */
    in = ebb_fix_input(&f, EBB_RUN_ROLLOUT, "dev", NULL);
    assert_int_equal(ebb_plan_build(&in, &plan, &err), EBB_E_INVALID);
}

static void test_plan_hash(void **state)
{
    (void)state;
    ebb_fix_fleet f;
    ebb_fix_fleet_init(&f);
    ebb_plan_input in = ebb_fix_input(&f, EBB_RUN_ROLLOUT, "prod", "0004");
    ebb_plan a, b;
    build_ok(&in, &a);
    build_ok(&in, &b);
    char ha[EBB_PLAN_HASH_HEX], hb[EBB_PLAN_HASH_HEX];
    ebb_error err;
    assert_int_equal(ebb_plan_hash(&a, ha, &err), EBB_OK);
    assert_int_equal(ebb_plan_hash(&b, hb, &err), EBB_OK);
    assert_int_equal(strlen(ha), 64);
    assert_string_equal(ha, hb);
    ebb_plan_fini(&b);
    in.strategy.soak_s = 1;
    build_ok(&in, &b);
    assert_int_equal(ebb_plan_hash(&b, hb, &err), EBB_OK);
    assert_string_not_equal(ha, hb);
    ebb_plan_fini(&a);
    ebb_plan_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canary_percent_batches),
        cmocka_unit_test(test_count_batches_max_parallel),
        cmocka_unit_test(test_budget_exhausted_mid_run),
        cmocka_unit_test(test_drift_refused_then_allowed),
        cmocka_unit_test(test_graph_mismatch_refused),
        cmocka_unit_test(test_target_not_in_graph),
        cmocka_unit_test(test_rollback_by_steps),
        cmocka_unit_test(test_promotion_refused_then_allowed),
        cmocka_unit_test(test_other_refusals),
        cmocka_unit_test(test_plan_hash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
