/* Unit tests for the per-environment policy: every rule, approval counting, verdicts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "coordinator/policy.h"

#define NOW 1700000000LL

/* A one-unit plan for prod: enough for the rules, which read only these fields. */
typedef struct fixture {
    ebb_plan_host host;
    ebb_plan plan;
    ebb_env_policy pol;
} fixture;

static void fixture_init(fixture *f, ebb_run_kind kind)
{
    memset(f, 0, sizeof *f);
    f->host.host = "prod-01";
    f->host.db = "app";
    f->plan.kind = kind;
    f->plan.env = "prod";
    f->plan.requester = "op-req";
    f->plan.target_rev = "0004";
    f->plan.graph_hash = "g1";
    f->plan.hosts = &f->host;
    f->plan.n_hosts = 1;
    f->pol.env = "prod";
}

static ebb_policy_result check(const fixture *f, const ebb_run_record *hist, size_t n_hist,
                               const char *const *approvers, size_t n_appr)
{
    ebb_policy_input in = {&f->plan, &f->pol, hist, n_hist, approvers, n_appr, NOW};
    ebb_policy_result r;
    ebb_error err;
    ebb_code rc = ebb_policy_check(&in, &r, &err);
    if (rc != EBB_OK)
        fail_msg("policy check failed: %s", err.msg);
    return r;
}

static void test_no_rules_allowed(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f, EBB_RUN_ROLLOUT);
    ebb_policy_result r = check(&f, NULL, 0, NULL, 0);
    assert_int_equal(r.verdict, EBB_POLICY_ALLOWED);
    assert_int_equal(r.approvals_needed, 0);
    assert_int_equal(r.n_reasons, 0);
}

static void test_approvals_requester_and_duplicates(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f, EBB_RUN_ROLLOUT);
    f.pol.approvals = 2;
    ebb_policy_result r = check(&f, NULL, 0, NULL, 0);
    assert_int_equal(r.verdict, EBB_POLICY_NEEDS_APPROVAL);
    assert_int_equal(r.approvals_needed, 2);
    assert_int_equal(r.approvals_counted, 0);
    assert_non_null(strstr(r.reasons[0], "requires 2 approvals"));

    /* the requester's own approval and a repeated key count for nothing more */
    const char *a1[] = {"op-req", "op-bob", "op-bob", ""};
    r = check(&f, NULL, 0, a1, 4);
    assert_int_equal(r.verdict, EBB_POLICY_NEEDS_APPROVAL);
    assert_int_equal(r.approvals_counted, 1);

    const char *a2[] = {"op-bob", "op-req", "op-carol", "op-bob"};
    r = check(&f, NULL, 0, a2, 4);
    assert_int_equal(r.verdict, EBB_POLICY_ALLOWED);
    assert_int_equal(r.approvals_counted, 2);
    assert_int_equal(ebb_policy_count_approvals("op-req", a2, 4), 2);
}

static void test_forward_only(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f, EBB_RUN_ROLLBACK);
    f.pol.forward_only = true;
    ebb_policy_result r = check(&f, NULL, 0, NULL, 0);
    assert_int_equal(r.verdict, EBB_POLICY_NEEDS_APPROVAL);
    assert_int_equal(r.approvals_needed, 1);
    assert_non_null(strstr(r.reasons[0], "forward-only"));
    const char *a[] = {"op-bob"};
    r = check(&f, NULL, 0, a, 1);
    assert_int_equal(r.verdict, EBB_POLICY_ALLOWED);
    /* a rollout in a forward-only environment needs nothing */
    f.plan.kind = EBB_RUN_ROLLOUT;
    r = check(&f, NULL, 0, NULL, 0);
    assert_int_equal(r.verdict, EBB_POLICY_ALLOWED);
}

static void test_rollback_window(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f, EBB_RUN_ROLLBACK);
    f.pol.rollback_window_s = 3600;
    ebb_run_record hist[] = {
        {"prod", EBB_RUN_ROLLOUT, "0003", "g1", true, NOW - 90000},
        {"prod", EBB_RUN_ROLLOUT, "0004", "g1", true, NOW - 600}, /* the last one */
        {"staging", EBB_RUN_ROLLOUT, "0005", "g1", true, NOW - 10},
        {"prod", EBB_RUN_ROLLBACK, "0003", "g1", true, NOW - 5},
    };
    /* inside the window */
    ebb_policy_result r = check(&f, hist, 4, NULL, 0);
    assert_int_equal(r.verdict, EBB_POLICY_ALLOWED);
    assert_int_equal(r.n_reasons, 0);
    /* outside: the last prod rollout is now 7200 s old */
    hist[1].finished_at = NOW - 7200;
    r = check(&f, hist, 4, NULL, 0);
    assert_int_equal(r.verdict, EBB_POLICY_NEEDS_APPROVAL);
    assert_non_null(strstr(r.reasons[0], "rollback 7200s after the last rollout in prod"));
    /* no rollout recorded at all: outside */
    r = check(&f, &hist[2], 2, NULL, 0);
    assert_int_equal(r.verdict, EBB_POLICY_NEEDS_APPROVAL);
    assert_non_null(strstr(r.reasons[0], "no rollout recorded in prod"));
}

static void test_data_loss(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f, EBB_RUN_ROLLBACK);
    f.host.data_at_risk = true;
    f.plan.data_at_risk = true;
    /* environment does not allow it: refused even with the flag */
    f.plan.accept_data_loss = true;
    ebb_policy_result r = check(&f, NULL, 0, NULL, 0);
    assert_int_equal(r.verdict, EBB_POLICY_REFUSED);
    assert_non_null(strstr(r.refusal, "data at risk on prod-01/app"));
    assert_non_null(strstr(r.refusal, "does not allow data loss"));
    /* allowed by the environment, but without the flag */
    f.pol.allow_data_loss = true;
    f.plan.accept_data_loss = false;
    r = check(&f, NULL, 0, NULL, 0);
    assert_int_equal(r.verdict, EBB_POLICY_REFUSED);
    assert_non_null(strstr(r.refusal, "--accept-data-loss"));
    /* with the flag: needs an approval, and the requester's does not count */
    f.plan.accept_data_loss = true;
    const char *self[] = {"op-req"};
    r = check(&f, NULL, 0, self, 1);
    assert_int_equal(r.verdict, EBB_POLICY_NEEDS_APPROVAL);
    assert_non_null(strstr(r.reasons[0], "data loss accepted"));
    const char *other[] = {"op-dan"};
    r = check(&f, NULL, 0, other, 1);
    assert_int_equal(r.verdict, EBB_POLICY_ALLOWED);
    /* no data at risk: the rule says nothing */
    f.host.data_at_risk = f.plan.data_at_risk = false;
    f.pol.allow_data_loss = false;
    r = check(&f, NULL, 0, NULL, 0);
    assert_int_equal(r.verdict, EBB_POLICY_ALLOWED);
}

static void test_require_backup(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f, EBB_RUN_ROLLOUT);
    f.pol.require_backup = true;
    ebb_policy_result r = check(&f, NULL, 0, NULL, 0);
    assert_int_equal(r.verdict, EBB_POLICY_ALLOWED);
    f.plan.skip_backup = true;
    const char *a[] = {"op-bob", "op-carol"}; /* approvals do not lift a refusal */
    r = check(&f, NULL, 0, a, 2);
    assert_int_equal(r.verdict, EBB_POLICY_REFUSED);
    assert_non_null(strstr(r.refusal, "requires a backup"));
}

static void test_promotion(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f, EBB_RUN_ROLLOUT);
    f.pol.promote_from = "staging";
    ebb_run_record hist[] = {
        {"staging", EBB_RUN_ROLLBACK, "0004", "g1", true,
         NOW - 100}, /* a rollback, not a rollout */
        {"dev", EBB_RUN_ROLLOUT, "0004", "g1", true, NOW - 100},
        {"staging", EBB_RUN_ROLLOUT, "0004", "g1", true, NOW - 50},
    };
    ebb_policy_result r = check(&f, hist, 2, NULL, 0);
    assert_int_equal(r.verdict, EBB_POLICY_REFUSED);
    assert_non_null(strstr(r.refusal, "not completed and verified in staging"));
    r = check(&f, hist, 3, NULL, 0);
    assert_int_equal(r.verdict, EBB_POLICY_ALLOWED);
    /* a rollback is not a promotion */
    f.plan.kind = EBB_RUN_ROLLBACK;
    r = check(&f, hist, 0, NULL, 0);
    assert_int_equal(r.verdict, EBB_POLICY_ALLOWED);
    /* per-host targets (a -N) cannot be promoted */
    f.plan.kind = EBB_RUN_ROLLOUT;
    f.plan.target_rev = NULL;
    r = check(&f, hist, 3, NULL, 0);
    assert_int_equal(r.verdict, EBB_POLICY_REFUSED);
}

static void test_several_reasons_and_bad_input(void **state)
{
    (void)state;
    fixture f;
    fixture_init(&f, EBB_RUN_ROLLBACK);
    f.pol.approvals = 1;
    f.pol.forward_only = true;
    f.pol.rollback_window_s = 60;
    ebb_policy_result r = check(&f, NULL, 0, NULL, 0);
    assert_int_equal(r.verdict, EBB_POLICY_NEEDS_APPROVAL);
    assert_int_equal(r.approvals_needed, 1);
    assert_int_equal(r.n_reasons, 3);

    f.pol.env = "staging";
    ebb_policy_input in = {&f.plan, &f.pol, NULL, 0, NULL, 0, NOW};
    ebb_error err;
    assert_int_equal(ebb_policy_check(&in, &r, &err), EBB_E_INVALID);
    assert_non_null(strstr(err.msg, "staging"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_rules_allowed),
        cmocka_unit_test(test_approvals_requester_and_duplicates),
        cmocka_unit_test(test_forward_only),
        cmocka_unit_test(test_rollback_window),
        cmocka_unit_test(test_data_loss),
        cmocka_unit_test(test_require_backup),
        cmocka_unit_test(test_promotion),
        cmocka_unit_test(test_several_reasons_and_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
