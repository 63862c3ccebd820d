/* Unit tests of the agent configuration: a good file, every kind of error with FILE:LINE: key, host
 * checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent_config.h"
#include "common/keys.h"
#include "tests/support/tmpdir.h"

static char dir[4096];
static char pubkey[EBB_PUBLIC_KEY_B64_SIZE];

static int setup(void **state)
{
    (void)state;
    if (ebb_test_tmpdir_make("agentcfg", dir, sizeof dir) != 0)
        return -1;
    ebb_secret_key *k = NULL;
    if (ebb_secret_key_generate(&k, NULL) != EBB_OK)
        return -1;
    ebb_public_key_base64(ebb_secret_key_public(k), pubkey);
    char path[4200];
    snprintf(path, sizeof path, "%s/agent.key", dir);
    ebb_code rc = ebb_secret_key_save(k, path, true, NULL);
    ebb_secret_key_free(k);
    snprintf(path, sizeof path, "%s/migrations", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/migrations/1_a.up.sql", dir);
    FILE *f = fopen(path, "w");
    fputs("CREATE TABLE a (id int);\n", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/migrations/1_a.down.sql", dir);
    f = fopen(path, "w");
    fputs("DROP TABLE a;\n", f);
    fclose(f);
    return rc == EBB_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return ebb_test_tmpdir_remove(dir);
}

/* Write text (with @DIR@ and @KEY@ substituted) to dir/name; the path into out. */
static void write_conf(const char *name, const char *text, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", dir, name);
    FILE *f = fopen(out, "w");
    assert_non_null(f);
    for (const char *p = text; *p != '\0'; p++) {
        if (strncmp(p, "@DIR@", 5) == 0) {
            fputs(dir, f);
            p += 4;
        } else if (strncmp(p, "@KEY@", 5) == 0) {
            fputs(pubkey, f);
            p += 4;
        } else {
            fputc(*p, f);
        }
    }
    fclose(f);
}

#define HEAD                                                                                       \
    "agent = { id = \"host-1\"; key_file = \"@DIR@/agent.key\";\n"                     /* 1 */     \
    "  replay_store = \"@DIR@/replay\"; job_journal = \"@DIR@/jobs.journal\"; };\n"    /* 2 */     \
    "coordinator = { address = \"tcp://127.0.0.1:7400\"; public_key = \"@KEY@\"; };\n" /* 3 */

static const char good[] =
    HEAD "databases = (\n"                                                            /* 4 */
         "  { name = \"orders\";\n"                                                   /* 5 */
         "    conninfo = \"host=/tmp dbname=orders password=s3cret\";\n"              /* 6 */
         "    environment = \"prod\";\n"                                              /* 7 */
         "    source = { dir = \"@DIR@/migrations\"; kind = \"golang-migrate\"; };\n" /* 8 */
         "    migrate = { lock_timeout_ms = 5000; single_transaction = true; };\n"    /* 9 */
         "    services = { stop = [\"/bin/true\", \"stop\", \"orders\"];\n"           /* 10 */
         "                 start = [\"/bin/true\"]; status = [\"/bin/false\"];\n"     /* 11 */
         "                 timeout_ms = 3000;\n"                                      /* 12 */
         "                 health = { url = \"http://127.0.0.1:8080/health\"; expect_status = 204; "
         "attempts = 3; }; };\n"                          /* 13 */
         "    roles = [\"orders_app\", \"orders_ro\"];\n" /* 14 */
         "    backup = { dir = \"@DIR@/backups\"; retention = 3; format = \"directory\"; jobs = 4; "
         "compression = 5; };\n"                               /* 15 */
         "  },\n"                                              /* 16 */
         "  { name = \"billing\"; service = \"billing db\";\n" /* 17 */
         "    source = { dir = \"@DIR@/migrations\"; };\n"     /* 18 */
         "    services = { stop = [\"true\"]; start = [\"true\"]; status = [\"true\"];\n"
         "                 health = { command = [\"/bin/true\", \"--check\"]; }; };\n"
         "    allow = [\"inspect\", \"health\"];\n"
         "  }\n"
         ");\n";

static void test_good(void **state)
{
    (void)state;
    char path[4200];
    write_conf("good.conf", good, path, sizeof path);
    ebb_agent_config *cfg = NULL;
    ebb_error err;
    ebb_error_clear(&err);
    ebb_code rc = ebb_agent_config_load(path, &cfg, &err);
    if (rc != EBB_OK)
        fail_msg("load: %s", err.msg);
    assert_string_equal(cfg->agent_id, "host-1");
    assert_string_equal(cfg->coordinator_address, "tcp://127.0.0.1:7400");
    char b64[EBB_PUBLIC_KEY_B64_SIZE];
    ebb_public_key_base64(&cfg->coordinator_key, b64);
    assert_string_equal(b64, pubkey);
    assert_int_equal(cfg->poll_interval_ms, EBB_AGENT_DEFAULT_POLL_MS);
    assert_int_equal(cfg->n_dbs, 2);

    const ebb_agent_db *d = ebb_agent_config_find_db(cfg, "orders");
    assert_non_null(d);
    assert_string_equal(d->environment, "prod");
    assert_int_equal(d->source_kind, EBB_SOURCE_GOLANG);
    assert_int_equal(d->lock_timeout_ms, 5000);
    assert_true(d->single_transaction);
    assert_true(d->has_services);
    assert_string_equal(d->services.stop_argv[0], "/bin/true");
    assert_string_equal(d->services.stop_argv[2], "orders");
    assert_null(d->services.stop_argv[3]);
    assert_int_equal(d->services.timeout_ms, 3000);
    assert_int_equal(d->services.health.kind, EBB_HEALTH_HTTP);
    assert_string_equal(d->services.health.url, "http://127.0.0.1:8080/health");
    assert_int_equal(d->services.health.expect_status, 204);
    assert_int_equal(d->services.health.attempts, 3);
    assert_int_equal(d->n_roles, 2);
    assert_string_equal(d->roles[1], "orders_ro");
    assert_true(d->has_backup);
    assert_int_equal(d->backup.format, EBB_BACKUP_DIRECTORY);
    assert_int_equal(d->backup.jobs, 4);
    assert_int_equal(d->backup.compression, 5);
    assert_int_equal(d->backup.retention, 3);
    assert_true(d->allowed[EBB_JOB_MIGRATE]);
    assert_true(d->allowed[EBB_JOB_BACKUP]);
    assert_true(d->allowed[EBB_JOB_STOP_SERVICES]);

    d = ebb_agent_config_find_db(cfg, "billing");
    assert_non_null(d);
    assert_string_equal(d->conninfo, "service='billing db'");
    assert_int_equal(d->source_kind, EBB_SOURCE_UNKNOWN);
    assert_int_equal(d->services.health.kind, EBB_HEALTH_COMMAND);
    assert_string_equal(d->services.health.argv[1], "--check");
    assert_true(d->allowed[EBB_JOB_INSPECT]);
    assert_true(d->allowed[EBB_JOB_HEALTH]);
    assert_true(d->allowed[EBB_JOB_CANCEL]);
    assert_false(d->allowed[EBB_JOB_MIGRATE]);
    assert_false(d->allowed[EBB_JOB_STOP_SERVICES]);
    assert_false(d->allowed[EBB_JOB_BACKUP]);
    assert_null(ebb_agent_config_find_db(cfg, "nope"));

    /* The host checks pass: key 0600, source loads, backup dir creatable. */
    rc = ebb_agent_config_check(cfg, &err);
    if (rc != EBB_OK)
        fail_msg("check: %s", err.msg);
    ebb_agent_config_free(cfg);
}

/* Load text and expect EBB_E_CONFIG with every fragment in the message. */
static void expect_error(const char *text, const char *const *frags)
{
    char path[4200];
    write_conf("bad.conf", text, path, sizeof path);
    ebb_agent_config *cfg = NULL;
    ebb_error err;
    ebb_error_clear(&err);
    ebb_code rc = ebb_agent_config_load(path, &cfg, &err);
    if (rc == EBB_OK) {
        ebb_agent_config_free(cfg);
        fail_msg("expected an error containing '%s'", frags[0]);
    }
    assert_int_equal(rc, EBB_E_CONFIG);
    assert_int_equal(err.code, EBB_E_CONFIG);
    for (size_t i = 0; frags[i] != NULL; i++)
        if (strstr(err.msg, frags[i]) == NULL)
            fail_msg("message '%s' lacks '%s'", err.msg, frags[i]);
    /* Never the password of a connection string. */
    assert_null(strstr(err.msg, "s3cret"));
    assert_null(cfg);
}

#define DB_OPEN "databases = ( {\n" /* 4 */
#define DB_MIN                                                                                     \
    "name = \"orders\"; conninfo = \"dbname=orders password=s3cret\";\n" /* 5 */                   \
    "source = { dir = \"@DIR@/migrations\"; };\n"                        /* 6 */

static void test_errors(void **state)
{
    (void)state;
    /* Syntax error: file and line. */
    expect_error(HEAD "databases = ( { name = \"x\" } \n", (const char *[]){"bad.conf:", NULL});
    /* Missing required key. */
    expect_error("agent = { id = \"h\"; key_file = \"k\"; replay_store = \"r\"; };\n",
                 (const char *[]){"bad.conf:1: agent.job_journal", "missing", NULL});
    /* Wrong type. */
    expect_error(HEAD DB_OPEN DB_MIN "migrate = { lock_timeout_ms = \"5s\"; };\n} );\n",
                 (const char *[]){"bad.conf:7: databases.[0].migrate.lock_timeout_ms", NULL});
    /* Out of range. */
    expect_error(HEAD DB_OPEN DB_MIN "backup = { dir = \"/b\"; compression = 12; };\n} );\n",
                 (const char *[]){"bad.conf:7: databases.[0].backup.compression", NULL});
    /* Unknown key with a suggestion. */
    expect_error(HEAD DB_OPEN DB_MIN "servces = { };\n} );\n",
                 (const char *[]){"bad.conf:7", "servces", "did you mean", "services", NULL});
    /* argv must be a non-empty list of strings. */
    expect_error(HEAD DB_OPEN DB_MIN
                 "services = { stop = []; start = [\"a\"]; status = [\"b\"]; };\n} );\n",
                 (const char *[]){"bad.conf:7: databases.[0].services.stop", NULL});
    expect_error(HEAD DB_OPEN DB_MIN
                 "services = { stop = \"systemctl stop x\"; start = [\"a\"]; status = [\"b\"]; "
                 "};\n} );\n",
                 (const char *[]){"bad.conf:7: databases.[0].services.stop", NULL});
    /* Health: command xor url; url must be http://. */
    expect_error(
        HEAD DB_OPEN DB_MIN "services = { stop = [\"a\"]; start = [\"a\"]; status = [\"b\"];\n"
                            "  health = { url = \"https://x/\"; }; };\n} );\n",
        (const char *[]){"bad.conf:8: databases.[0].services.health.url", "http://", NULL});
    expect_error(
        HEAD DB_OPEN DB_MIN "services = { stop = [\"a\"]; start = [\"a\"]; status = [\"b\"];\n"
                            "  health = { url = \"http://x/\"; command = [\"c\"]; }; };\n} );\n",
        (const char *[]){"bad.conf:8: databases.[0].services.health", "exactly one", NULL});
    expect_error(HEAD DB_OPEN DB_MIN
                 "services = { stop = [\"a\"]; start = [\"a\"]; status = [\"b\"];\n"
                 "  health = { command = [\"c\"]; expect_status = 200; }; };\n} );\n",
                 (const char *[]){"health.expect_status", NULL});
    /* conninfo xor service; unparsable conninfo (not repeated). */
    expect_error(HEAD DB_OPEN "name = \"orders\"; source = { dir = \"/m\"; };\n} );\n",
                 (const char *[]){"bad.conf:4: databases.[0]", "conninfo or service", NULL});
    expect_error(HEAD DB_OPEN "name = \"o\"; conninfo = \"host='unterminated password=s3cret\";\n"
                              "source = { dir = \"/m\"; };\n} );\n",
                 (const char *[]){"bad.conf:5: databases.[0].conninfo", NULL});
    /* Bad names, kinds, formats, actions. */
    expect_error(HEAD DB_OPEN "name = \"a b\"; conninfo = \"dbname=x\"; source = { dir = \"/m\"; "
                              "};\n} );\n",
                 (const char *[]){"bad.conf:5: databases.[0].name", NULL});
    expect_error(HEAD DB_OPEN DB_MIN "allow = [\"inspect\", \"drop_database\"];\n} );\n",
                 (const char *[]){"bad.conf:7: databases.[0].allow.[1]", "drop_database", NULL});
    expect_error(HEAD DB_OPEN DB_MIN "allow = [\"backup\"];\n} );\n",
                 (const char *[]){"databases.[0].allow.[0]", "backup section", NULL});
    expect_error(HEAD DB_OPEN DB_MIN "backup = { dir = \"/b\"; format = \"tar\"; };\n} );\n",
                 (const char *[]){"databases.[0].backup.format", "tar", NULL});
    expect_error(HEAD DB_OPEN DB_MIN "backup = { dir = \"/b\"; jobs = 4; };\n} );\n",
                 (const char *[]){"databases.[0].backup.jobs", "directory", NULL});
    expect_error(HEAD DB_OPEN DB_MIN "roles = [\"app\"];\n} );\n",
                 (const char *[]){"databases.[0].roles", "services", NULL});
    /* Duplicate database name. */
    expect_error(
        HEAD DB_OPEN DB_MIN "},\n{ " DB_MIN "} );\n",
        (const char *[]){"bad.conf:8: databases.[1].name", "already defined at line 4", NULL});
    /* Coordinator key and address. */
    expect_error("agent = { id = \"h\"; key_file = \"k\"; replay_store = \"r\"; job_journal = "
                 "\"j\"; };\n"
                 "coordinator = { address = \"tcp://c:1\"; public_key = \"not-a-key\"; };\n"
                 "databases = ();\n",
                 (const char *[]){"bad.conf:2: coordinator.public_key", NULL});
    expect_error("agent = { id = \"h\"; key_file = \"k\"; replay_store = \"r\"; job_journal = "
                 "\"j\"; };\n"
                 "coordinator = { address = \"tcp://c:1\"; };\n"
                 "databases = ();\n",
                 (const char *[]){"bad.conf:2: coordinator", "exactly one", NULL});
}

/* The host checks name the key with file, line and key path. */
static void test_check(void **state)
{
    (void)state;
    char path[4200], key[4200];
    write_conf("good.conf", good, path, sizeof path);
    snprintf(key, sizeof key, "%s/agent.key", dir);
    assert_int_equal(chmod(key, 0644), 0);
    ebb_agent_config *cfg = NULL;
    ebb_error err;
    ebb_error_clear(&err);
    assert_int_equal(ebb_agent_config_load(path, &cfg, &err), EBB_OK);
    ebb_code rc = ebb_agent_config_check(cfg, &err);
    assert_int_equal(rc, EBB_E_KEY_PERM);
    assert_non_null(strstr(err.msg, "good.conf:1: agent.key_file"));
    assert_int_equal(chmod(key, 0600), 0);
    ebb_agent_config_free(cfg);

    /* A source directory that does not load. */
    static const char bad_source[] =
        HEAD "databases = (\n"
             "  { name = \"x\"; conninfo = \"dbname=x\";\n"
             "    source = { dir = \"@DIR@/no-such-dir\"; kind = \"golang-migrate\"; }; } );\n";
    write_conf("src.conf", bad_source, path, sizeof path);
    assert_int_equal(ebb_agent_config_load(path, &cfg, &err), EBB_OK);
    rc = ebb_agent_config_check(cfg, &err);
    assert_int_not_equal(rc, EBB_OK);
    assert_non_null(strstr(err.msg, "src.conf:6: databases.[0].source.dir"));
    ebb_agent_config_free(cfg);

    /* A service program that does not exist. */
    static const char bad_prog[] =
        HEAD "databases = (\n"
             "  { name = \"x\"; conninfo = \"dbname=x\";\n"
             "    source = { dir = \"@DIR@/migrations\"; };\n"
             "    services = { stop = [\"/nonexistent/stopper\"]; start = [\"true\"]; status = "
             "[\"true\"]; }; } );\n";
    write_conf("prog.conf", bad_prog, path, sizeof path);
    assert_int_equal(ebb_agent_config_load(path, &cfg, &err), EBB_OK);
    rc = ebb_agent_config_check(cfg, &err);
    assert_int_equal(rc, EBB_E_CONFIG);
    assert_non_null(strstr(err.msg, "prog.conf:7: databases.[0].services.stop"));
    assert_non_null(strstr(err.msg, "/nonexistent/stopper"));
    ebb_agent_config_free(cfg);
}

static void test_actions(void **state)
{
    (void)state;
    for (int a = 1; a < EBB_JOB__COUNT; a++)
        assert_int_equal(ebb_job_action_parse(ebb_job_action_name((ebb_job_action)a)), a);
    assert_int_equal(ebb_job_action_parse("shell"), EBB_JOB_NONE);
    assert_string_equal(ebb_job_action_name(EBB_JOB__COUNT), "none");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_actions),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
