/* Unit tests of the coordinator configuration: a full file, defaults, and errors with FILE:LINE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/keys.h"
#include "coordinator/coord_config.h"
#include "tests/support/tmpdir.h"

static char dir[4096];
static char pk_alice[EBB_PUBLIC_KEY_B64_SIZE];

static int setup(void **state)
{
    (void)state;
    if (ebb_test_tmpdir_make("coordcfg", dir, sizeof dir) != 0)
        return -1;
    ebb_secret_key *k = NULL;
    if (ebb_secret_key_generate(&k, NULL) != EBB_OK)
        return -1;
    ebb_public_key_base64(ebb_secret_key_public(k), pk_alice);
    ebb_secret_key_free(k);
    k = NULL;
    char path[4200];
    snprintf(path, sizeof path, "%s/bob.key", dir);
    ebb_code rc = ebb_secret_key_generate(&k, NULL) == EBB_OK ? EBB_OK : EBB_E_CRYPTO;
    if (rc == EBB_OK)
        rc = ebb_secret_key_save(k, path, true, NULL);
    ebb_secret_key_free(k);
    return rc == EBB_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return ebb_test_tmpdir_remove(dir);
}

/* Write text with @PK@ replaced by alice's key to dir/name; path into out. */
static void write_conf(const char *name, const char *text, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", dir, name);
    FILE *f = fopen(out, "w");
    assert_non_null(f);
    for (const char *p = text; *p != '\0'; p++) {
        if (strncmp(p, "@PK@", 4) == 0) {
            fputs(pk_alice, f);
            p += 3;
        } else {
            fputc(*p, f);
        }
    }
    fclose(f);
}

static const char *good =
    "coordinator = { key_file = \"coord.key\"; journal_dir = \"state\";\n"
    "  listen = { agents = \"tcp://127.0.0.1:7400\"; operators = \"ipc:///tmp/ebb-op\"; };\n"
    "  poll_wait_ms = 2000; liveness_s = 30; };\n"
    "environments = (\n"
    "  { name = \"dev\"; },\n"
    "  { name = \"prod\";\n"
    "    policy = { approvals = 2; forward_only = true; allow_data_loss = true; };\n"
    "    waves = { canary = 1; batch_percent = 25; budget = 1; soak_s = 60; gate = "
    "\"after_canary\";\n"
    "              on_failure = \"compensate\"; };\n"
    "    timeouts = { default_s = 100; migrate_s = 900; silent_s = 30; health_retries = 4; }; }\n"
    ");\n"
    "operators = (\n"
    "  { name = \"alice\"; public_key = \"@PK@\";\n"
    "    grants = ( { env = \"*\"; roles = [\"read\"]; }, { env = \"prod\"; roles = [\"operate\", "
    "\"approve\"]; } ); },\n"
    "  { name = \"bob\"; public_key_file = \"bob.key.pub\"; grants = ( { env = \"dev\"; roles = "
    "[\"operate\"]; } ); }\n"
    ");\n";

static void test_good_file(void **state)
{
    (void)state;
    char path[4200];
    write_conf("good.conf", good, path, sizeof path);
    ebb_coord_config *c = NULL;
    ebb_error err;
    ebb_code rc = ebb_coord_config_load(path, &c, &err);
    if (rc != EBB_OK)
        fail_msg("%s", err.msg);
    char expect[4300];
    snprintf(expect, sizeof expect, "%s/coord.key", dir);
    assert_string_equal(c->key_file, expect);
    snprintf(expect, sizeof expect, "%s/state", dir);
    assert_string_equal(c->journal_dir, expect);
    assert_int_equal(c->poll_wait_ms, 2000);
    assert_int_equal(c->liveness_s, 30);
    assert_int_equal(c->plan_timeout_ms, EBB_COORD_DEFAULT_PLAN_TIMEOUT_MS);
    assert_int_equal(c->n_envs, 2);
    const ebb_coord_env *dev = ebb_coord_config_env(c, "dev"),
                        *prod = ebb_coord_config_env(c, "prod");
    assert_non_null(dev);
    assert_non_null(prod);
    assert_null(dev->policy.promote_from);
    assert_true(dev->policy.require_backup);
    assert_int_equal(dev->rollout.default_timeout_s, EBB_COORD_DEFAULT_STEP_TIMEOUT_S);
    assert_string_equal(prod->policy.promote_from, "dev");
    assert_int_equal(prod->policy.approvals, 2);
    assert_true(prod->policy.forward_only);
    assert_true(prod->policy.allow_data_loss);
    assert_int_equal(prod->strategy.canary, 1);
    assert_int_equal(prod->strategy.batch_percent, 25);
    assert_int_equal(prod->strategy.budget_count, 1);
    assert_false(prod->strategy.budget_is_percent);
    assert_int_equal(prod->strategy.gate, EBB_GATE_AFTER_CANARY);
    assert_int_equal(prod->strategy.on_failure, EBB_ON_FAILURE_COMPENSATE);
    assert_int_equal(prod->rollout.default_timeout_s, 100);
    assert_int_equal(prod->rollout.timeout_s[EBB_JOB_MIGRATE], 900);
    assert_int_equal(prod->rollout.timeout_s[EBB_JOB_BACKUP], 0);
    assert_int_equal(prod->rollout.silent_timeout_s, 30);
    assert_int_equal(prod->rollout.health_retries, 4);
    assert_int_equal(c->n_operators, 2);
    const ebb_coord_operator *alice = &c->operators[0], *bob = &c->operators[1];
    assert_ptr_equal(ebb_coord_config_operator(c, &alice->key_id), alice);
    assert_int_equal(ebb_coord_operator_roles(alice, "dev"), EBB_ROLE_READ);
    assert_int_equal(ebb_coord_operator_roles(alice, "prod"),
                     EBB_ROLE_READ | EBB_ROLE_OPERATE | EBB_ROLE_APPROVE);
    assert_int_equal(ebb_coord_operator_roles(bob, "prod"), 0);
    assert_int_equal(ebb_coord_operator_roles(bob, NULL), EBB_ROLE_OPERATE);
    char sp[4300];
    assert_true(ebb_coord_config_state_path(c, EBB_COORD_JOURNAL_FILE, sp, sizeof sp));
    assert_non_null(strstr(sp, "/state/coordinator.journal"));
    ebb_coord_config_free(c);
}

/* Replace the first occurrence of from in good by to; load; the error must contain want. */
static void expect_error(const char *from, const char *to, const char *want)
{
    char text[4096];
    const char *at = strstr(good, from);
    assert_non_null(at);
    snprintf(text, sizeof text, "%.*s%s%s", (int)(at - good), good, to, at + strlen(from));
    char path[4200];
    write_conf("bad.conf", text, path, sizeof path);
    ebb_coord_config *c = NULL;
    ebb_error err;
    assert_int_equal(ebb_coord_config_load(path, &c, &err), EBB_E_CONFIG);
    assert_null(c);
    if (strstr(err.msg, want) == NULL)
        fail_msg("expected '%s' in: %s", want, err.msg);
}

static void test_promotion_is_on_by_default(void **state)
{
    /* An environment without a policy group still follows the promotion order;
     * `promotion = false` is the only way to switch it off. */
    (void)state;
    char path[4200];
    write_conf("promo.conf",
               "coordinator = { key_file = \"coord.key\"; journal_dir = \"state\";\n"
               "  listen = { agents = \"tcp://127.0.0.1:7400\"; operators = \"ipc:///tmp/o\"; }; };\n"
               "environments = ( { name = \"dev\"; }, { name = \"staging\"; },\n"
               "  { name = \"prod\"; policy = { promotion = false; }; } );\n"
               "operators = ( { name = \"alice\"; public_key = \"@PK@\";\n"
               "  grants = ( { env = \"*\"; roles = [\"read\"]; } ); } );\n",
               path, sizeof path);
    ebb_coord_config *c = NULL;
    ebb_error err;
    if (ebb_coord_config_load(path, &c, &err) != EBB_OK)
        fail_msg("%s", err.msg);
    assert_null(ebb_coord_config_env(c, "dev")->policy.promote_from);
    const char *from = ebb_coord_config_env(c, "staging")->policy.promote_from;
    assert_non_null(from);
    assert_string_equal(from, "dev");
    assert_null(ebb_coord_config_env(c, "prod")->policy.promote_from);
    ebb_coord_config_free(c);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("poll_wait_ms", "poll_wait", "bad.conf:3: coordinator.poll_wait: unknown");
    expect_error("ipc:///tmp/ebb-op", "tcp://127.0.0.1:7400", "separate listeners");
    expect_error("ipc:///tmp/ebb-op", "http://x", "not an nng address");
    expect_error("\"after_canary\"", "\"often\"", "'often' is not a gate");
    expect_error("batch_percent = 25;", "batch_percent = 25; batch = 2;", "not both");
    expect_error("{ name = \"dev\"; }", "{ name = \"prod\"; }", "appears twice");
    expect_error("env = \"dev\"", "env = \"qa\"", "'qa' is not an environment");
    expect_error("[\"operate\"]", "[\"admin\"]", "'admin' is not a role");
    expect_error("public_key_file = \"bob.key.pub\";",
                 "public_key_file = \"bob.key.pub\"; public_key = \"@PK@\";",
                 "exactly one of public_key");
    expect_error("public_key_file = \"bob.key.pub\"", "public_key = \"@PK@\"", "also the key of");
    expect_error("migrate_s = 900", "migrat_s = 900", "did you mean");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_file),
        cmocka_unit_test(test_promotion_is_on_by_default),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
