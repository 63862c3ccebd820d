/* Unit tests for the ebb CLI's pure parts: run command options, request arguments, connection
 * settings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/exit_codes.h"
#include "coordinator/cli_client.h"
#include "coordinator/cli_plan.h"

/* Parse a command line given as a NULL-terminated list; stderr text kept in errbuf. */
static char errbuf[4096];

static int parse(ebb_cli_run_cmd cmd, ebb_cli_run_opts *o, ...)
{
    char *argv[64];
    int argc = 0;
    va_list ap;
    va_start(ap, o);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && argc < 63)
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    FILE *err = fmemopen(errbuf, sizeof errbuf, "w");
    FILE *out = fopen("/dev/null", "w");
    assert_non_null(err);
    assert_non_null(out);
    int rc = ebb_cli_run_opts_parse(cmd, argc, argv, o, out, err);
    fclose(err);
    fclose(out);
    return rc;
}

/* The request as one string "a=1 b=2 ..." for comparison. */
static char *request_of(const ebb_cli_run_opts *o)
{
    ebb_cli_args args;
    ebb_cli_args_init(&args);
    ebb_cli_run_opts_request(o, &args);
    assert_false(args.oom);
    static char buf[2048];
    buf[0] = '\0';
    for (size_t i = 0; i < args.n; i++) {
        if (i)
            strcat(buf, " ");
        strcat(buf, args.items[i]);
    }
    ebb_cli_args_fini(&args);
    return buf;
}

static void test_rollback_needs_reason(void **state)
{
    (void)state;
    ebb_cli_run_opts o;
    assert_int_equal(
        parse(EBB_CLI_CMD_ROLLBACK, &o, "rollback", "--env", "prod", "--to", "0041", NULL),
        EBB_EXIT_USAGE);
    assert_non_null(strstr(errbuf, "--reason"));
    /* a blank reason is no reason */
    assert_int_equal(parse(EBB_CLI_CMD_ROLLBACK, &o, "rollback", "--env", "prod", "--to", "0041",
                           "--reason", " \t ", NULL),
                     EBB_EXIT_USAGE);
    assert_int_equal(parse(EBB_CLI_CMD_ROLLBACK, &o, "rollback", "--env", "prod", "--to", "0041",
                           "--reason", "INC-1", NULL),
                     -1);
    assert_string_equal(o.reason, "INC-1");
}

static void test_rollback_target_or_steps(void **state)
{
    (void)state;
    ebb_cli_run_opts o;
    assert_int_equal(
        parse(EBB_CLI_CMD_ROLLBACK, &o, "rollback", "--env", "prod", "--reason", "r", NULL),
        EBB_EXIT_USAGE);
    assert_int_equal(parse(EBB_CLI_CMD_ROLLBACK, &o, "rollback", "--env", "prod", "--reason", "r",
                           "--to", "1", "--steps", "2", NULL),
                     EBB_EXIT_USAGE);
    assert_non_null(strstr(errbuf, "exclude"));
    assert_int_equal(parse(EBB_CLI_CMD_ROLLBACK, &o, "rollback", "--env", "prod", "--reason", "r",
                           "--steps", "0", NULL),
                     EBB_EXIT_USAGE);
    assert_int_equal(parse(EBB_CLI_CMD_ROLLBACK, &o, "rollback", "--env", "prod", "--reason", "r",
                           "--steps", "2x", NULL),
                     EBB_EXIT_USAGE);
    assert_int_equal(parse(EBB_CLI_CMD_ROLLBACK, &o, "rollback", "--env", "prod", "--reason", "r",
                           "--steps", "2", "--hosts", "p1,,p2", "--atomic", NULL),
                     -1);
    assert_int_equal(o.steps, 2);
    assert_string_equal(request_of(&o), "env=prod steps=2 reason=r host=p1 host=p2 atomic=true");
}

static void test_rollout_options(void **state)
{
    (void)state;
    ebb_cli_run_opts o;
    /* rollout has no --steps and needs --to */
    assert_int_equal(
        parse(EBB_CLI_CMD_ROLLOUT, &o, "rollout", "--env", "dev", "--steps", "1", NULL),
        EBB_EXIT_USAGE);
    assert_non_null(strstr(errbuf, "not an option of ebb rollout"));
    assert_int_equal(parse(EBB_CLI_CMD_ROLLOUT, &o, "rollout", "--env", "dev", NULL),
                     EBB_EXIT_USAGE);
    assert_int_equal(parse(EBB_CLI_CMD_ROLLOUT, &o, "rollout", "--to", "4", NULL), EBB_EXIT_USAGE);
    assert_non_null(strstr(errbuf, "--env"));
    assert_int_equal(parse(EBB_CLI_CMD_ROLLOUT, &o, "rollout", "--env", "dev", "--to", "4",
                           "--on-failure", "retry", NULL),
                     EBB_EXIT_USAGE);
    assert_int_equal(parse(EBB_CLI_CMD_ROLLOUT, &o, "rollout", "--env", "dev", "--to", "4",
                           "--dry-run", "--follow", NULL),
                     EBB_EXIT_USAGE);
    assert_int_equal(parse(EBB_CLI_CMD_ROLLOUT, &o, "rollout", "--env", "dev", "--to", "4",
                           "--reason", "release 7", "--on-failure", "compensate", "--databases",
                           "app", "--coordinator", "tcp://c:1", "--json", NULL),
                     -1);
    assert_true(o.json);
    assert_string_equal(o.conn.coordinator, "tcp://c:1");
    assert_string_equal(ebb_cli_run_opts_command(&o), "rollout");
    assert_string_equal(request_of(&o),
                        "env=dev to=4 reason=release 7 db=app on_failure=compensate");
    /* a stray positional argument is refused */
    assert_int_equal(
        parse(EBB_CLI_CMD_ROLLOUT, &o, "rollout", "--env", "dev", "--to", "4", "prod", NULL),
        EBB_EXIT_USAGE);
    assert_non_null(strstr(errbuf, "'prod'"));
}

static void test_plan_options(void **state)
{
    (void)state;
    ebb_cli_run_opts o;
    assert_int_equal(
        parse(EBB_CLI_CMD_PLAN, &o, "plan", "--env", "prod", "--to", "4", "--follow", NULL),
        EBB_EXIT_USAGE);
    assert_int_equal(
        parse(EBB_CLI_CMD_PLAN, &o, "plan", "--env", "prod", "--to", "4", "--wait", "0", NULL),
        EBB_EXIT_USAGE);
    assert_int_equal(parse(EBB_CLI_CMD_PLAN, &o, "plan", "--env", "prod", "--to", "4",
                           "--allow-drift", "--wait", "20", NULL),
                     -1);
    assert_false(o.rollback);
    assert_string_equal(ebb_cli_run_opts_command(&o), "plan");
    assert_string_equal(request_of(&o),
                        "env=prod kind=rollout to=4 allow_drift=true wait_ms=20000");
    /* --steps makes it a rollback plan; --no-precheck asks for the plan alone */
    assert_int_equal(
        parse(EBB_CLI_CMD_PLAN, &o, "plan", "--env", "prod", "--steps", "1", "--no-precheck", NULL),
        -1);
    assert_true(o.rollback);
    assert_string_equal(request_of(&o), "env=prod kind=rollback steps=1 precheck=0");
    assert_int_equal(parse(EBB_CLI_CMD_PLAN, &o, "plan", "--help", NULL), EBB_EXIT_OK);
}

/* ---- settings ---- */

typedef struct fake_env {
    const char *names[8];
    const char *values[8];
} fake_env;

static const char *fake_getenv(void *ctx, const char *name)
{
    const fake_env *e = ctx;
    for (size_t i = 0; i < 8 && e->names[i] != NULL; i++)
        if (strcmp(e->names[i], name) == 0)
            return e->values[i];
    return NULL;
}

static void test_settings_defaults(void **state)
{
    (void)state;
    fake_env env = {{"HOME", "EBB_COORDINATOR"}, {"/home/op", "tcp://coord:7401"}};
    ebb_cli_conn_args a = {0};
    ebb_cli_settings s;
    ebb_error err;
    assert_int_equal(ebb_cli_settings_resolve(&a, fake_getenv, &env, &s, &err), EBB_OK);
    assert_string_equal(s.coordinator, "tcp://coord:7401");
    assert_string_equal(s.key_file, "/home/op/.config/ebb/operator.key");
    assert_string_equal(s.coordinator_key, "/home/op/.config/ebb/coordinator.pub");
    assert_string_equal(s.state_dir, "/home/op/.local/state/ebb");
    assert_int_equal(s.timeout_ms, EBB_CLI_DEFAULT_TIMEOUT_S * 1000);

    /* XDG_STATE_HOME moves the state directory */
    fake_env xdg = {{"HOME", "EBB_COORDINATOR", "XDG_STATE_HOME"},
                    {"/home/op", "tcp://coord:7401", "/var/op-state"}};
    assert_int_equal(ebb_cli_settings_resolve(&a, fake_getenv, &xdg, &s, &err), EBB_OK);
    assert_string_equal(s.state_dir, "/var/op-state/ebb");
}

static void test_settings_precedence(void **state)
{
    (void)state;
    fake_env env = {{"HOME", "EBB_COORDINATOR", "EBB_KEY", "EBB_COORDINATOR_KEY", "EBB_STATE_DIR",
                     "EBB_TIMEOUT"},
                    {"/home/op", "tcp://env:1", "/env/op.key", "/env/c.pub", "/env/state", "5"}};
    ebb_cli_conn_args a = {0};
    ebb_cli_settings s;
    ebb_error err;
    assert_int_equal(ebb_cli_settings_resolve(&a, fake_getenv, &env, &s, &err), EBB_OK);
    assert_string_equal(s.coordinator, "tcp://env:1");
    assert_string_equal(s.key_file, "/env/op.key");
    assert_string_equal(s.coordinator_key, "/env/c.pub");
    assert_string_equal(s.state_dir, "/env/state");
    assert_int_equal(s.timeout_ms, 5000);
    /* options win over the environment */
    assert_true(ebb_cli_conn_option(&a, EBB_CLI_OPT_COORDINATOR, "ipc:///tmp/c.sock"));
    assert_true(ebb_cli_conn_option(&a, EBB_CLI_OPT_KEY, "/opt/k"));
    assert_true(ebb_cli_conn_option(&a, EBB_CLI_OPT_TIMEOUT, "90"));
    assert_false(ebb_cli_conn_option(&a, 'j', "x"));
    assert_int_equal(ebb_cli_settings_resolve(&a, fake_getenv, &env, &s, &err), EBB_OK);
    assert_string_equal(s.coordinator, "ipc:///tmp/c.sock");
    assert_string_equal(s.key_file, "/opt/k");
    assert_string_equal(s.coordinator_key, "/env/c.pub");
    assert_int_equal(s.timeout_ms, 90000);
}

static void test_settings_errors(void **state)
{
    (void)state;
    ebb_cli_conn_args a = {0};
    ebb_cli_settings s;
    memset(&s, 0x5a, sizeof s);
    ebb_error err;
    fake_env none = {{"HOME"}, {"/home/op"}};
    assert_int_equal(ebb_cli_settings_resolve(&a, fake_getenv, &none, &s, &err), EBB_E_CONFIG);
    assert_non_null(strstr(err.msg, "--coordinator"));
    assert_int_equal((unsigned char)s.coordinator[0], 0x5a); /* untouched on failure */
    fake_env nohome = {{"EBB_COORDINATOR"}, {"tcp://c:1"}};
    assert_int_equal(ebb_cli_settings_resolve(&a, fake_getenv, &nohome, &s, &err), EBB_E_CONFIG);
    assert_non_null(strstr(err.msg, "HOME"));
    fake_env env = {{"HOME", "EBB_COORDINATOR"}, {"/h", "tcp://c:1"}};
    const char *bad[] = {"0", "-3", "ten", "3601"};
    for (size_t i = 0; i < 4; i++) {
        a.timeout = bad[i];
        assert_int_equal(ebb_cli_settings_resolve(&a, fake_getenv, &env, &s, &err), EBB_E_INVALID);
    }
}

static void test_args_list(void **state)
{
    (void)state;
    ebb_cli_args a;
    ebb_cli_args_init(&a);
    ebb_cli_args_list(&a, "host", ",h1,,h2,");
    ebb_cli_args_add(&a, "env", NULL);
    ebb_cli_args_flag(&a, "atomic", false);
    ebb_cli_args_flag(&a, "dry_run", true);
    ebb_cli_args_add(&a, "reason", "a=b, c");
    assert_int_equal(a.n, 4);
    assert_string_equal(a.items[0], "host=h1");
    assert_string_equal(a.items[1], "host=h2");
    assert_string_equal(a.items[2], "dry_run=true");
    assert_string_equal(a.items[3], "reason=a=b, c");
    ebb_cli_args_fini(&a);
    assert_int_equal(a.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rollback_needs_reason),
        cmocka_unit_test(test_rollback_target_or_steps),
        cmocka_unit_test(test_rollout_options),
        cmocka_unit_test(test_plan_options),
        cmocka_unit_test(test_settings_defaults),
        cmocka_unit_test(test_settings_precedence),
        cmocka_unit_test(test_settings_errors),
        cmocka_unit_test(test_args_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
