/* Unit tests for the configuration layer: typed getters and errors with FILE:LINE: key path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"

static char tmpdir[] = "/tmp/ebb-config-test-XXXXXX";

static int setup(void **state)
{
    (void)state;
    return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[PATH_MAX];
    static const char *names[] = {"agent.conf", "bad.conf", "inc.conf", "main.conf"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(cmd, sizeof cmd, "%s/%s", tmpdir, names[i]);
        unlink(cmd);
    }
    rmdir(tmpdir);
    return 0;
}

/* Write text to tmpdir/name; returns the path (static buffer). */
static const char *write_file(const char *name, const char *text)
{
    static char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static const char *agent_conf = "# agent configuration\n"                            /* 1 */
                                "agent_id = \"host-1\";\n"                           /* 2 */
                                "port = 5555;\n"                                     /* 3 */
                                "big = 10000000000L;\n"                              /* 4 */
                                "verbose = true;\n"                                  /* 5 */
                                "databases = (\n"                                    /* 6 */
                                "  {\n"                                              /* 7 */
                                "    name = \"orders\";\n"                           /* 8 */
                                "    services = {\n"                                 /* 9 */
                                "      stop = [\"systemctl\", \"stop\", \"app\"];\n" /* 10 */
                                "    };\n"                                           /* 11 */
                                "  },\n"                                             /* 12 */
                                "  {\n"                                              /* 13 */
                                "    name = \"billing\";\n"                          /* 14 */
                                "    services = {\n"                                 /* 15 */
                                "      stop = 3;\n"                                  /* 16 */
                                "      start = (\"a\", 2);\n"                        /* 17 */
                                "      empty = [];\n"                                /* 18 */
                                "    };\n"                                           /* 19 */
                                "    servces = 1;\n"                                 /* 20 */
                                "  }\n"                                              /* 21 */
                                ");\n"                                               /* 22 */
                                "ratio = 0.5;\n";                                    /* 23 */

static ebb_config *load_agent(void)
{
    ebb_config *cfg = NULL;
    ebb_error err;
    if (ebb_config_load(write_file("agent.conf", agent_conf), &cfg, &err) != EBB_OK)
        fail_msg("load: %s", err.msg);
    return cfg;
}

/* The message after the directory part of the path. */
static const char *rel(const ebb_error *err)
{
    const char *p = strstr(err->msg, "agent.conf");
    return p != NULL ? p : err->msg;
}

static void test_good_values(void **state)
{
    (void)state;
    ebb_config *cfg = load_agent();
    const config_setting_t *root = ebb_config_root(cfg);
    ebb_error err;
    const char *s = NULL;
    assert_int_equal(ebb_config_get_string(root, "agent_id", &s, &err), EBB_OK);
    assert_string_equal(s, "host-1");
    assert_int_equal(ebb_config_opt_string(root, "absent", "dflt", &s, &err), EBB_OK);
    assert_string_equal(s, "dflt");
    assert_int_equal(ebb_config_opt_string(root, "agent_id", "dflt", &s, &err), EBB_OK);
    assert_string_equal(s, "host-1");

    long long v = 0;
    assert_int_equal(ebb_config_get_int(root, "port", 1, 65535, &v, &err), EBB_OK);
    assert_int_equal(v, 5555);
    assert_int_equal(ebb_config_get_int(root, "big", 0, LLONG_MAX, &v, &err), EBB_OK);
    assert_true(v == 10000000000LL);
    assert_int_equal(ebb_config_opt_int(root, "timeout", 30, 1, 100, &v, &err), EBB_OK);
    assert_int_equal(v, 30);

    bool b = false;
    assert_int_equal(ebb_config_get_bool(root, "verbose", &b, &err), EBB_OK);
    assert_true(b);
    assert_int_equal(ebb_config_opt_bool(root, "quiet", true, &b, &err), EBB_OK);
    assert_true(b);

    const config_setting_t *dbs = NULL;
    size_t n = 0;
    assert_int_equal(ebb_config_get_group_list(root, "databases", &dbs, &n, &err), EBB_OK);
    assert_int_equal(n, 2);
    const config_setting_t *db0 = ebb_config_elem(dbs, 0);
    assert_non_null(db0);
    assert_null(ebb_config_elem(dbs, 2));
    const config_setting_t *svc = NULL;
    assert_int_equal(ebb_config_get_group(db0, "services", &svc, &err), EBB_OK);
    const char **argv = NULL;
    size_t argc = 0;
    assert_int_equal(ebb_config_get_strings(svc, "stop", 1, &argv, &argc, &err), EBB_OK);
    assert_int_equal(argc, 3);
    assert_string_equal(argv[0], "systemctl");
    assert_string_equal(argv[2], "app");
    assert_null(argv[3]);
    free(argv);

    char path[128];
    assert_string_equal(ebb_config_path(svc, path, sizeof path), "databases.[0].services");
    assert_string_equal(ebb_config_path(root, path, sizeof path), "");

    /* Optional absent things. */
    argv = (const char **)&argc; /* must be overwritten */
    assert_int_equal(ebb_config_opt_strings(svc, "status", 1, &argv, &argc, &err), EBB_OK);
    assert_null(argv);
    assert_int_equal(argc, 0);
    const config_setting_t *g = db0;
    assert_int_equal(ebb_config_opt_group(db0, "backup", &g, &err), EBB_OK);
    assert_null(g);
    assert_int_equal(ebb_config_opt_group(db0, "services", &g, &err), EBB_OK);
    assert_ptr_equal(g, svc);
    assert_int_equal(ebb_config_opt_group_list(root, "envs", &g, &n, &err), EBB_OK);
    assert_null(g);
    assert_int_equal(n, 0);
    assert_int_equal(ebb_config_opt_group_list(root, "databases", &g, &n, &err), EBB_OK);
    assert_int_equal(n, 2);

    static const char *const top[] = {"agent_id",  "port",  "big", "verbose",
                                      "databases", "ratio", NULL};
    assert_int_equal(ebb_config_check_keys(root, top, &err), EBB_OK);
    ebb_config_free(cfg);
    ebb_config_free(NULL);
}

static void test_type_errors_name_file_line_and_path(void **state)
{
    (void)state;
    ebb_config *cfg = load_agent();
    const config_setting_t *root = ebb_config_root(cfg);
    ebb_error err;
    const config_setting_t *dbs = NULL, *svc = NULL;
    size_t n;
    assert_int_equal(ebb_config_get_group_list(root, "databases", &dbs, &n, &err), EBB_OK);
    const config_setting_t *db1 = ebb_config_elem(dbs, 1);
    assert_int_equal(ebb_config_get_group(db1, "services", &svc, &err), EBB_OK);

    const char **argv = NULL;
    assert_int_equal(ebb_config_get_strings(svc, "stop", 1, &argv, NULL, &err), EBB_E_CONFIG);
    assert_int_equal(err.code, EBB_E_CONFIG);
    assert_string_equal(rel(&err), "agent.conf:16: databases.[1].services.stop: expected a list "
                                   "of strings (found an integer)");
    assert_non_null(strstr(err.msg, tmpdir));
    assert_null(argv);

    assert_int_equal(ebb_config_get_strings(svc, "start", 1, &argv, NULL, &err), EBB_E_CONFIG);
    assert_string_equal(rel(&err), "agent.conf:17: databases.[1].services.start.[1]: expected a "
                                   "list of strings (element 1 is an integer)");
    assert_int_equal(ebb_config_get_strings(svc, "empty", 1, &argv, NULL, &err), EBB_E_CONFIG);
    assert_string_equal(rel(&err), "agent.conf:18: databases.[1].services.empty: expected a list "
                                   "of at least 1 string (found 0)");
    size_t cnt = 9;
    assert_int_equal(ebb_config_get_strings(svc, "empty", 0, &argv, &cnt, &err), EBB_OK);
    assert_int_equal(cnt, 0);
    assert_null(argv[0]);
    free(argv);

    const char *s = NULL;
    assert_int_equal(ebb_config_get_string(root, "port", &s, &err), EBB_E_CONFIG);
    assert_string_equal(rel(&err), "agent.conf:3: port: expected a string (found an integer)");
    assert_null(s);
    assert_int_equal(ebb_config_opt_string(root, "verbose", NULL, &s, &err), EBB_E_CONFIG);
    assert_string_equal(rel(&err), "agent.conf:5: verbose: expected a string (found a boolean)");

    long long v = -1;
    assert_int_equal(ebb_config_get_int(root, "port", 1, 1024, &v, &err), EBB_E_CONFIG);
    assert_string_equal(rel(&err), "agent.conf:3: port: 5555 is out of range (1 to 1024)");
    assert_int_equal(v, -1);
    assert_int_equal(ebb_config_opt_int(root, "ratio", 0, 0, 1, &v, &err), EBB_E_CONFIG);
    assert_string_equal(
        rel(&err), "agent.conf:23: ratio: expected an integer (found a number with a fraction)");
    assert_int_equal(ebb_config_get_int(root, "agent_id", 0, 1, &v, &err), EBB_E_CONFIG);
    assert_non_null(strstr(err.msg, "found a string"));

    bool b;
    assert_int_equal(ebb_config_get_bool(root, "port", &b, &err), EBB_E_CONFIG);
    assert_string_equal(rel(&err), "agent.conf:3: port: expected true or false (found an integer)");
    assert_int_equal(ebb_config_opt_bool(root, "agent_id", false, &b, &err), EBB_E_CONFIG);

    const config_setting_t *g = NULL;
    assert_int_equal(ebb_config_get_group(root, "databases", &g, &err), EBB_E_CONFIG);
    assert_string_equal(rel(&err),
                        "agent.conf:6: databases: expected a group { ... } (found a list)");
    assert_int_equal(ebb_config_get_group_list(svc, "stop", &g, &n, &err), EBB_E_CONFIG);
    assert_non_null(strstr(err.msg, "expected a list of groups"));
    assert_int_equal(ebb_config_get_group_list(svc, "start", &g, &n, &err), EBB_E_CONFIG);
    assert_string_equal(rel(&err), "agent.conf:17: databases.[1].services.start.[0]: expected a "
                                   "group { ... } (found a string)");
    /* An empty [] counts as an empty list of groups. */
    assert_int_equal(ebb_config_get_group_list(svc, "empty", &g, &n, &err), EBB_OK);
    assert_int_equal(n, 0);

    /* Callers' own checks get the same prefix. */
    assert_int_equal(ebb_config_error(&err, db1, "database %s is not %s", "billing", "known"),
                     EBB_E_CONFIG);
    assert_string_equal(rel(&err), "agent.conf:13: databases.[1]: database billing is not known");
    ebb_config_free(cfg);
}

static void test_missing_required_key(void **state)
{
    (void)state;
    ebb_config *cfg = load_agent();
    const config_setting_t *root = ebb_config_root(cfg);
    ebb_error err;
    const char *s;
    assert_int_equal(ebb_config_get_string(root, "coordinator", &s, &err), EBB_E_CONFIG);
    assert_string_equal(rel(&err), "agent.conf: coordinator: required key is missing");
    const config_setting_t *dbs = NULL;
    size_t n;
    assert_int_equal(ebb_config_get_group_list(root, "databases", &dbs, &n, &err), EBB_OK);
    assert_int_equal(ebb_config_get_string(ebb_config_elem(dbs, 0), "conninfo", &s, &err),
                     EBB_E_CONFIG);
    assert_string_equal(rel(&err), "agent.conf:7: databases.[0].conninfo: required key is missing");
    long long v;
    bool b;
    const char **argv;
    const config_setting_t *g;
    assert_int_equal(ebb_config_get_int(root, "x", 0, 1, &v, &err), EBB_E_CONFIG);
    assert_int_equal(ebb_config_get_bool(root, "x", &b, &err), EBB_E_CONFIG);
    assert_int_equal(ebb_config_get_strings(root, "x", 0, &argv, NULL, &err), EBB_E_CONFIG);
    assert_int_equal(ebb_config_get_group(root, "x", &g, &err), EBB_E_CONFIG);
    assert_int_equal(ebb_config_get_group_list(root, "x", &g, &n, &err), EBB_E_CONFIG);
    assert_string_equal(rel(&err), "agent.conf: x: required key is missing");
    ebb_config_free(cfg);
}

static void test_unknown_keys(void **state)
{
    (void)state;
    ebb_config *cfg = load_agent();
    const config_setting_t *root = ebb_config_root(cfg);
    ebb_error err;
    const config_setting_t *dbs = NULL;
    size_t n;
    assert_int_equal(ebb_config_get_group_list(root, "databases", &dbs, &n, &err), EBB_OK);
    static const char *const db_keys[] = {"name", "services", "conninfo", NULL};
    assert_int_equal(ebb_config_check_keys(ebb_config_elem(dbs, 0), db_keys, &err), EBB_OK);
    assert_int_equal(ebb_config_check_keys(ebb_config_elem(dbs, 1), db_keys, &err), EBB_E_CONFIG);
    assert_string_equal(rel(&err), "agent.conf:20: databases.[1].servces: unknown key \"servces\" "
                                   "(did you mean \"services\"?)");

    /* Nothing close: no suggestion. */
    static const char *const top[] = {"agent_id", "port", "verbose", "databases", "ratio", NULL};
    assert_int_equal(ebb_config_check_keys(root, top, &err), EBB_E_CONFIG);
    assert_string_equal(rel(&err), "agent.conf:4: big: unknown key \"big\"");

    /* Only groups have keys. */
    assert_int_equal(ebb_config_check_keys(dbs, top, &err), EBB_E_CONFIG);
    assert_non_null(strstr(err.msg, "expected a group"));
    ebb_config_free(cfg);
}

static void test_load_errors_and_include(void **state)
{
    (void)state;
    ebb_config *cfg = NULL;
    ebb_error err;
    const char *path = write_file("bad.conf", "a = 1;\nb = = 2;\nc = 3;\n");
    assert_int_equal(ebb_config_load(path, &cfg, &err), EBB_E_CONFIG);
    assert_null(cfg);
    char expect[PATH_MAX + 16];
    snprintf(expect, sizeof expect, "%s:2: ", path);
    assert_memory_equal(err.msg, expect, strlen(expect));

    path = write_file("bad.conf", "a = 1;\nb = 2\nc = ;\n");
    assert_int_equal(ebb_config_load(path, &cfg, &err), EBB_E_CONFIG);
    assert_non_null(strstr(err.msg, "bad.conf:3: syntax error"));

    path = write_file("bad.conf", "a = 1;\na = 2;\n");
    assert_int_equal(ebb_config_load(path, &cfg, &err), EBB_E_CONFIG);
    assert_non_null(strstr(err.msg, "bad.conf:2: "));

    assert_int_equal(ebb_config_load("/nonexistent/ebb.conf", &cfg, &err), EBB_E_IO);
    assert_int_equal(err.sys_errno, ENOENT);
    assert_non_null(strstr(err.msg, "/nonexistent/ebb.conf"));
    assert_null(cfg);

    /* @include is relative to the including file; errors name the included file. */
    write_file("inc.conf", "\nextra = \"x\";\nnum = \"not a number\";\n");
    char saved[PATH_MAX];
    snprintf(saved, sizeof saved, "%s",
             write_file("main.conf", "top = 1;\n@include \"inc.conf\"\n"));
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir("/"), 0);
    assert_int_equal(ebb_config_load(saved, &cfg, &err), EBB_OK);
    assert_int_equal(chdir(cwd), 0);
    const char *s;
    assert_int_equal(ebb_config_get_string(ebb_config_root(cfg), "extra", &s, &err), EBB_OK);
    assert_string_equal(s, "x");
    long long v;
    assert_int_equal(ebb_config_get_int(ebb_config_root(cfg), "num", 0, 9, &v, &err), EBB_E_CONFIG);
    assert_non_null(strstr(err.msg, "inc.conf:3: num: expected an integer"));
    ebb_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_values),
        cmocka_unit_test(test_type_errors_name_file_line_and_path),
        cmocka_unit_test(test_missing_required_key),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_load_errors_and_include),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
