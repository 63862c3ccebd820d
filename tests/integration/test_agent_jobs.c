/* Integration: the agent's job executor on a real PostgreSQL 15, every job kind, idempotence,
 * cancel, crash recovery. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <jansson.h>
#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent_config.h"
#include "agent/job.h"
#include "common/keys.h"
#include "common/pgsql.h"
#include "tests/support/engine_fixture.h"
#include "tests/support/pg_cluster.h"
#include "tests/support/tmpdir.h"

static ebb_test_pg cluster;
static char work[4096]; /* config, journal, markers, backups */
static char project[PATH_MAX], slow_project[PATH_MAX];
static char app_ci[1024], slow_ci[1024], fail_ci[1024];
static char conf_path[4200];
static int http_port;
static nng_http_server *http_srv;
static ebb_agent_config *cfg;
static ebb_job_executor *ex;
static char backup_id[EBB_BACKUP_ID_MAX];

static const ebb_fx_file PROJECT[] = {
    {"1_users.up.sql", "CREATE TABLE users (id serial PRIMARY KEY, name text);\n"},
    {"1_users.down.sql", "DROP TABLE users;\n"},
    {"1_users.verify.sql", "SELECT id, name FROM users WHERE false;\n"},
    {"2_orders.up.sql", "CREATE TABLE orders (id serial PRIMARY KEY, user_id int REFERENCES "
                        "users (id));\n"},
    {"2_orders.down.sql", "DROP TABLE orders;\n"},
    {NULL, NULL},
};

static const ebb_fx_file SLOW_PROJECT[] = {
    {"1_slow.up.sql", "CREATE TABLE s (id int);\nSELECT pg_sleep(60);\n"},
    {"1_slow.down.sql", "DROP TABLE s;\n"},
    {NULL, NULL},
};

static long q_long(const char *conninfo, const char *sql)
{
    ebb_pg *pg = NULL;
    if (ebb_pg_connect(conninfo, "test", &pg, NULL) != EBB_OK)
        return -2;
    long v = ebb_fx_long(pg, sql);
    ebb_pg_close(pg);
    return v;
}

static void must(ebb_code rc, const ebb_error *err, const char *what)
{
    if (rc != EBB_OK)
        fail_msg("%s: %s", what, err->msg);
}

static void write_config(void)
{
    ebb_secret_key *k = NULL;
    assert_int_equal(ebb_secret_key_generate(&k, NULL), EBB_OK);
    char pub[EBB_PUBLIC_KEY_B64_SIZE];
    ebb_public_key_base64(ebb_secret_key_public(k), pub);
    ebb_secret_key_free(k);
    snprintf(conf_path, sizeof conf_path, "%s/agent.conf", work);
    FILE *f = fopen(conf_path, "w");
    assert_non_null(f);
    fprintf(f,
            "agent = { id = \"host-1\"; key_file = \"%s/agent.key\"; replay_store = "
            "\"%s/replay\"; job_journal = \"%s/jobs.journal\"; };\n"
            "coordinator = { address = \"tcp://127.0.0.1:7400\"; public_key = \"%s\"; };\n"
            "databases = (\n",
            work, work, work, pub);
    /* appdb: everything; services are a marker file. */
    fprintf(f,
            "{ name = \"appdb\"; conninfo = \"%s\"; environment = \"test\";\n"
            "  source = { dir = \"%s\"; kind = \"golang-migrate\"; };\n"
            "  migrate = { lock_timeout_ms = 2000; };\n"
            "  precheck = { long_transaction_s = 1; };\n"
            "  services = { stop = [\"/usr/bin/touch\", \"%s/stopped\"];\n"
            "               start = [\"/bin/rm\", \"-f\", \"%s/stopped\"];\n"
            "               status = [\"/usr/bin/test\", \"!\", \"-e\", \"%s/stopped\"];\n"
            "               timeout_ms = 5000;\n"
            "               health = { command = [\"/usr/bin/test\", \"!\", \"-e\", "
            "\"%s/stopped\"]; }; };\n"
            "  roles = [\"app_user\"];\n"
            "  backup = { dir = \"%s/backups\"; retention = 5; };\n"
            "},\n",
            app_ci, project, work, work, work, work, work);
    /* appdb_http: the same database, health by HTTP only. */
    fprintf(f,
            "{ name = \"appdb_http\"; conninfo = \"%s\";\n"
            "  source = { dir = \"%s\"; };\n"
            "  services = { stop = [\"/bin/true\"]; start = [\"/bin/true\"]; status = "
            "[\"/bin/true\"];\n"
            "    health = { url = \"http://127.0.0.1:%d/health\"; expect_status = 200; "
            "timeout_ms = 2000; }; };\n"
            "  allow = [\"health\"];\n"
            "},\n"
            "{ name = \"appdb_http_bad\"; conninfo = \"%s\";\n"
            "  source = { dir = \"%s\"; };\n"
            "  services = { stop = [\"/bin/true\"]; start = [\"/bin/true\"]; status = "
            "[\"/bin/true\"];\n"
            "    health = { url = \"http://127.0.0.1:%d/missing\"; attempts = 2; interval_ms = "
            "100; }; };\n"
            "  allow = [\"health\"];\n"
            "},\n",
            app_ci, project, http_port, app_ci, project, http_port);
    /* faildb: a stop command that fails; the role's sessions must survive it. */
    fprintf(f,
            "{ name = \"faildb\"; conninfo = \"%s\";\n"
            "  source = { dir = \"%s\"; };\n"
            "  services = { stop = [\"/bin/false\"]; start = [\"/bin/true\"]; status = "
            "[\"/bin/true\"]; };\n"
            "  roles = [\"app_user\"];\n"
            "},\n",
            fail_ci, project);
    /* slowdb: a migration that sleeps. */
    fprintf(f,
            "{ name = \"slowdb\"; conninfo = \"%s\";\n"
            "  source = { dir = \"%s\"; };\n"
            "}\n);\n",
            slow_ci, slow_project);
    fclose(f);
}

static int group_setup(void **state)
{
    (void)state;
    ebb_error err;
    if (ebb_test_pg_start(&cluster, &err) != EBB_OK) {
        fprintf(stderr, "cluster start failed: %s\n", err.msg);
        return -1;
    }
    if (ebb_test_tmpdir_make("agentjobs", work, sizeof work) != 0 ||
        ebb_fx_write_project(project, PROJECT) != 0 ||
        ebb_fx_write_project(slow_project, SLOW_PROJECT) != 0)
        return -1;
    if (ebb_test_pg_create_db(&cluster, "appdb", app_ci, sizeof app_ci, &err) != EBB_OK ||
        ebb_test_pg_create_db(&cluster, "slowdb", slow_ci, sizeof slow_ci, &err) != EBB_OK ||
        ebb_test_pg_create_db(&cluster, "faildb", fail_ci, sizeof fail_ci, &err) != EBB_OK) {
        fprintf(stderr, "create db: %s\n", err.msg);
        return -1;
    }
    ebb_pg *pg = NULL;
    if (ebb_pg_connect(cluster.conninfo, "test", &pg, &err) != EBB_OK ||
        ebb_pg_exec_ok(pg, "CREATE ROLE app_user LOGIN", &err) != EBB_OK) {
        fprintf(stderr, "role: %s\n", err.msg);
        return -1;
    }
    ebb_pg_close(pg);

    /* A tiny HTTP responder: /health answers 200, anything else 404. */
    static const char body[] = "ok\n";
    nng_http_handler *h = NULL;
    for (int attempt = 0; attempt < 20 && http_srv == NULL; attempt++) {
        http_port = 20000 + (int)((getpid() * 7 + attempt * 131) % 30000);
        char u[64];
        snprintf(u, sizeof u, "http://127.0.0.1:%d", http_port);
        nng_url *url = NULL;
        nng_http_server *srv = NULL;
        if (nng_url_parse(&url, u) != 0)
            return -1;
        if (nng_http_server_hold(&srv, url) == 0 &&
            nng_http_handler_alloc_static(&h, "/health", body, sizeof body - 1, "text/plain") ==
                0 &&
            nng_http_server_add_handler(srv, h) == 0 && nng_http_server_start(srv) == 0)
            http_srv = srv;
        else if (srv != NULL)
            nng_http_server_release(srv);
        nng_url_free(url);
    }
    if (http_srv == NULL)
        return -1;

    write_config();
    if (ebb_agent_config_load(conf_path, &cfg, &err) != EBB_OK) {
        fprintf(stderr, "config: %s\n", err.msg);
        return -1;
    }
    if (ebb_job_executor_open(cfg, &ex, &err) != EBB_OK) {
        fprintf(stderr, "executor: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    ebb_job_executor_free(ex);
    ebb_agent_config_free(cfg);
    if (http_srv != NULL) {
        nng_http_server_stop(http_srv);
        nng_http_server_release(http_srv);
    }
    ebb_test_pg_stop(&cluster);
    ebb_fx_remove_project(project);
    ebb_fx_remove_project(slow_project);
    ebb_test_tmpdir_remove(work);
    return 0;
}

/* ---- Helpers ---- */

typedef struct progress_log {
    int calls;
    char last_step[64];
} progress_log;

static void on_progress(void *ctx, const ebb_job_progress *p)
{
    progress_log *l = ctx;
    if (l == NULL)
        return;
    l->calls++;
    snprintf(l->last_step, sizeof l->last_step, "%s", p->step ? p->step : "");
}

static ebb_job_cmd cmd(const char *job_id, ebb_job_action action, const char *db)
{
    ebb_job_cmd c = {0};
    c.job_id = job_id;
    c.run_id = "run-1";
    c.action = action;
    c.database = db;
    c.operator_name = "op-key-1";
    c.reason = "integration test";
    return c;
}

/* Execute and return the result (the caller finis it). */
static ebb_job_result run(const ebb_job_cmd *c, progress_log *log)
{
    ebb_job_result r;
    ebb_error err;
    ebb_error_clear(&err);
    ebb_code rc = ebb_job_execute(ex, c, on_progress, log, &r, &err);
    if (rc != EBB_OK)
        fail_msg("execute %s: %s", c->job_id, err.msg);
    return r;
}

static void expect(const ebb_job_result *r, ebb_job_outcome want)
{
    if (r->outcome != want)
        fail_msg("job %s: outcome %s, expected %s (%s)", r->job_id,
                 ebb_job_outcome_name(r->outcome), ebb_job_outcome_name(want),
                 r->error_message ? r->error_message : "");
}

static json_t *report_of(const ebb_job_result *r)
{
    assert_non_null(r->report_json);
    json_t *o = json_loads(r->report_json, 0, NULL);
    assert_non_null(o);
    return o;
}

static long events(const char *kind)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM ebb.events WHERE kind = '%s'",
             kind); /* test constant */
    return q_long(app_ci, sql);
}

static bool marker_exists(void)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/stopped", work);
    return access(p, F_OK) == 0;
}

/* ---- Tests, in order: they share one database and one executor ---- */

static void test_rejected(void **state)
{
    (void)state;
    ebb_job_cmd c = cmd("rej-1", EBB_JOB_MIGRATE, "nosuchdb");
    c.target = "head";
    ebb_job_result r = run(&c, NULL);
    expect(&r, EBB_JOB_REJECTED);
    assert_int_equal(r.error_code, EBB_E_REFUSED);
    assert_non_null(strstr(r.error_message, "nosuchdb"));
    ebb_job_result_fini(&r);
    /* An action the database does not allow (appdb_http allows health only). */
    c = cmd("rej-2", EBB_JOB_MIGRATE, "appdb_http");
    c.target = "head";
    r = run(&c, NULL);
    expect(&r, EBB_JOB_REJECTED);
    ebb_job_result_fini(&r);
    /* A bad target. */
    c = cmd("rej-3", EBB_JOB_MIGRATE, "appdb");
    c.target = "+x";
    r = run(&c, NULL);
    expect(&r, EBB_JOB_REJECTED);
    ebb_job_result_fini(&r);
    /* Nothing ran: appdb has no registry yet. */
    assert_int_equal(q_long(app_ci, "SELECT count(*) FROM pg_namespace WHERE nspname = 'ebb'"), 0);
    /* A duplicate gets the recorded rejection. */
    c = cmd("rej-1", EBB_JOB_MIGRATE, "nosuchdb");
    c.target = "head";
    r = run(&c, NULL);
    expect(&r, EBB_JOB_REJECTED);
    assert_true(r.from_journal);
    ebb_job_result_fini(&r);
}

static void test_inspect(void **state)
{
    (void)state;
    ebb_job_cmd c = cmd("insp-1", EBB_JOB_INSPECT, "appdb");
    ebb_job_result r = run(&c, NULL);
    expect(&r, EBB_JOB_SUCCEEDED);
    assert_int_equal(r.n_after, 0);
    assert_non_null(r.fingerprint);
    json_t *o = report_of(&r);
    assert_string_equal(json_string_value(json_object_get(o, "kind")), "golang-migrate");
    json_t *revs = json_object_get(o, "revisions");
    assert_int_equal(json_array_size(revs), 2);
    json_t *r2 = json_array_get(revs, 1);
    assert_string_equal(json_string_value(json_object_get(r2, "id")), "2");
    assert_string_equal(json_string_value(json_array_get(json_object_get(r2, "parents"), 0)), "1");
    assert_int_equal(strlen(json_string_value(json_object_get(o, "graph_hash"))), 64);
    assert_false(json_is_true(json_object_get(o, "drift")));
    assert_int_equal(json_array_size(json_object_get(o, "pending")), 2);
    json_decref(o);
    ebb_job_result_fini(&r);
}

static void test_precheck(void **state)
{
    (void)state;
    ebb_job_cmd c = cmd("pre-1", EBB_JOB_PRECHECK, "appdb");
    c.target = "head";
    ebb_job_result r = run(&c, NULL);
    expect(&r, EBB_JOB_SUCCEEDED);
    json_t *o = report_of(&r);
    json_t *path = json_object_get(o, "path");
    assert_string_equal(json_string_value(json_object_get(path, "direction")), "up");
    assert_int_equal(json_array_size(json_object_get(path, "steps")), 2);
    json_t *risk = json_object_get(o, "risk");
    assert_string_equal(json_string_value(json_object_get(risk, "worst")), "low");
    assert_true(json_is_true(json_object_get(risk, "probed")));
    assert_string_equal(json_string_value(json_object_get(risk, "verdict")), "allow");
    assert_true(json_is_true(json_object_get(json_object_get(o, "disk"), "enough")));
    assert_false(json_is_true(json_object_get(o, "standby")));
    assert_int_equal(json_array_size(json_object_get(o, "long_transactions")), 0);
    json_decref(o);
    ebb_job_result_fini(&r);

    /* A transaction open for longer than long_transaction_s (1 s) is reported and blocks. */
    ebb_pg *holder = NULL;
    ebb_error err;
    must(ebb_pg_connect(app_ci, "long-reader", &holder, &err), &err, "connect");
    must(ebb_pg_begin(holder, &err), &err, "begin");
    must(ebb_pg_exec_ok(holder, "SELECT 1", &err), &err, "select");
    sleep(2);
    c = cmd("pre-2", EBB_JOB_PRECHECK, "appdb");
    c.target = "head";
    r = run(&c, NULL);
    expect(&r, EBB_JOB_FAILED);
    assert_int_equal(r.error_code, EBB_E_REFUSED);
    assert_non_null(strstr(r.error_message, "would block DDL"));
    o = report_of(&r);
    json_t *lt = json_object_get(o, "long_transactions");
    assert_int_equal(json_array_size(lt), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(lt, 0), "pid")),
                     PQbackendPID(holder->conn));
    assert_string_equal(json_string_value(json_object_get(json_array_get(lt, 0), "application")),
                        "long-reader");
    json_decref(o);
    ebb_job_result_fini(&r);
    must(ebb_pg_rollback(holder, &err), &err, "rollback");
    ebb_pg_close(holder);
}

static void test_stop_services(void **state)
{
    (void)state;
    char ci[1200];
    /* An application session on appdb and one on faildb. */
    ebb_pg *app = NULL, *app_fail = NULL;
    ebb_error err;
    snprintf(ci, sizeof ci, "%s user=app_user", app_ci);
    must(ebb_pg_connect(ci, "app", &app, &err), &err, "app session");
    snprintf(ci, sizeof ci, "%s user=app_user", fail_ci);
    must(ebb_pg_connect(ci, "app", &app_fail, &err), &err, "app session on faildb");

    /* A failing stop command fails the job, and nothing after it runs. */
    ebb_job_cmd c = cmd("stop-fail", EBB_JOB_STOP_SERVICES, "faildb");
    ebb_job_result r = run(&c, NULL);
    expect(&r, EBB_JOB_FAILED);
    assert_int_equal(r.error_code, EBB_E_CHILD);
    assert_non_null(strstr(r.error_message, "/bin/false"));
    ebb_job_result_fini(&r);
    assert_int_equal(q_long(fail_ci, "SELECT count(*) FROM pg_stat_activity WHERE usename = "
                                     "'app_user' AND datname = 'faildb'"),
                     1);
    assert_int_equal(ebb_pg_exec_ok(app_fail, "SELECT 1", NULL), EBB_OK);

    /* The working stop: marker written, status confirms, app_user's session ended. */
    c = cmd("stop-1", EBB_JOB_STOP_SERVICES, "appdb");
    r = run(&c, NULL);
    expect(&r, EBB_JOB_SUCCEEDED);
    assert_true(marker_exists());
    json_t *o = report_of(&r);
    assert_int_equal(json_integer_value(json_object_get(o, "terminated_sessions")), 1);
    json_decref(o);
    ebb_job_result_fini(&r);
    assert_int_equal(q_long(app_ci, "SELECT count(*) FROM pg_stat_activity WHERE usename = "
                                    "'app_user' AND datname = 'appdb'"),
                     0);
    assert_int_not_equal(ebb_pg_exec_ok(app, "SELECT 1", NULL), EBB_OK);
    /* Only appdb's sessions: the one on faildb lives on. */
    assert_int_equal(ebb_pg_exec_ok(app_fail, "SELECT 1", NULL), EBB_OK);
    ebb_pg_close(app);
    ebb_pg_close(app_fail);
}

static void test_migrate_once(void **state)
{
    (void)state;
    progress_log log = {0};
    ebb_job_cmd c = cmd("mig-1", EBB_JOB_MIGRATE, "appdb");
    c.target = "head";
    c.accept_data_loss = false;
    ebb_job_result r = run(&c, &log);
    expect(&r, EBB_JOB_SUCCEEDED);
    assert_int_equal(r.n_before, 0);
    assert_int_equal(r.n_after, 1);
    assert_string_equal(r.revisions_after[0], "2");
    assert_true(log.calls >= 2);
    json_t *o = report_of(&r);
    assert_int_equal(json_integer_value(json_object_get(o, "done")), 2);
    json_decref(o);
    ebb_job_result_fini(&r);
    assert_int_equal(events("deploy"), 2);

    /* The same job id again: the recorded result, nothing executed. */
    log.calls = 0;
    r = run(&c, &log);
    expect(&r, EBB_JOB_SUCCEEDED);
    assert_true(r.from_journal);
    assert_string_equal(r.revisions_after[0], "2");
    assert_int_equal(log.calls, 0);
    ebb_job_result_fini(&r);
    assert_int_equal(events("deploy"), 2);

    /* Precheck of the way back with a row in users: the live probe finds it at risk;
     * reported for the coordinator's policy, not a blocker (a certain failure would be). */
    ebb_pg *pg = NULL;
    ebb_error err;
    must(ebb_pg_connect(app_ci, "seed", &pg, &err), &err, "connect");
    must(ebb_pg_exec_ok(pg, "INSERT INTO users (name) VALUES ('ada')", &err), &err, "insert");
    ebb_pg_close(pg);
    c = cmd("pre-down-1", EBB_JOB_PRECHECK, "appdb");
    c.target = "base";
    r = run(&c, NULL);
    expect(&r, EBB_JOB_SUCCEEDED);
    o = report_of(&r);
    json_t *risk = json_object_get(o, "risk");
    assert_string_equal(json_string_value(json_object_get(risk, "verdict")), "refuse-data-loss");
    bool users_at_risk = false;
    json_t *it;
    size_t k;
    json_array_foreach(json_object_get(risk, "items"), k, it)
        if (strcmp(json_string_value(json_object_get(it, "kind")), "DROP TABLE") == 0 &&
            json_is_true(json_object_get(it, "data_at_risk")) &&
            strstr(json_string_value(json_object_get(it, "statement")), "users") != NULL)
            users_at_risk = true;
    assert_true(users_at_risk);
    assert_non_null(json_object_get(o, "problems"));
    assert_int_equal(json_array_size(json_object_get(o, "problems")), 0);
    json_decref(o);
    ebb_job_result_fini(&r);

    /* The migrate job runs the same live gate before changing anything: the way back drops a
     * table with a row in it, so without accept_data_loss it is refused and nothing changes. */
    c = cmd("mig-risk-1", EBB_JOB_MIGRATE, "appdb");
    c.target = "base";
    r = run(&c, NULL);
    expect(&r, EBB_JOB_FAILED);
    assert_int_equal(r.error_code, EBB_E_REFUSED);
    assert_non_null(strstr(r.error_message, "data at risk"));
    assert_string_equal(r.revisions_after[0], "2");
    o = report_of(&r);
    assert_true(json_is_true(json_object_get(o, "refused")));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(o, "risk"), "verdict")),
        "refuse-data-loss");
    json_decref(o);
    ebb_job_result_fini(&r);
    assert_int_equal(events("revert"), 0);
    assert_int_equal(q_long(app_ci, "SELECT count(*) FROM users"), 1);
    /* With it, the same path runs (then back to head for the tests that follow). */
    c = cmd("mig-risk-2", EBB_JOB_MIGRATE, "appdb");
    c.target = "base";
    c.accept_data_loss = true;
    r = run(&c, NULL);
    expect(&r, EBB_JOB_SUCCEEDED);
    assert_int_equal(r.n_after, 0);
    o = report_of(&r);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(o, "risk"), "verdict")), "allow");
    json_decref(o);
    ebb_job_result_fini(&r);
    assert_int_equal(events("revert"), 2);
    c = cmd("mig-risk-3", EBB_JOB_MIGRATE, "appdb");
    c.target = "head";
    r = run(&c, NULL);
    expect(&r, EBB_JOB_SUCCEEDED);
    assert_string_equal(r.revisions_after[0], "2");
    ebb_job_result_fini(&r);
}

static void test_verify_start_health(void **state)
{
    (void)state;
    ebb_job_cmd c = cmd("ver-1", EBB_JOB_VERIFY, "appdb");
    ebb_job_result r = run(&c, NULL);
    expect(&r, EBB_JOB_SUCCEEDED);
    ebb_job_result_fini(&r);
    assert_int_equal(events("verify"), 1);

    /* Health by command while stopped: the marker makes it fail. */
    c = cmd("health-0", EBB_JOB_HEALTH, "appdb");
    r = run(&c, NULL);
    expect(&r, EBB_JOB_FAILED);
    ebb_job_result_fini(&r);

    c = cmd("start-1", EBB_JOB_START_SERVICES, "appdb");
    r = run(&c, NULL);
    expect(&r, EBB_JOB_SUCCEEDED);
    assert_false(marker_exists());
    ebb_job_result_fini(&r);

    c = cmd("health-1", EBB_JOB_HEALTH, "appdb");
    r = run(&c, NULL);
    expect(&r, EBB_JOB_SUCCEEDED);
    json_t *o = report_of(&r);
    assert_string_equal(json_string_value(json_object_get(o, "check")), "command");
    json_decref(o);
    ebb_job_result_fini(&r);

    /* Health by HTTP: 200 on /health; /missing answers 404 twice. */
    c = cmd("health-http", EBB_JOB_HEALTH, "appdb_http");
    r = run(&c, NULL);
    expect(&r, EBB_JOB_SUCCEEDED);
    o = report_of(&r);
    assert_int_equal(json_integer_value(json_object_get(o, "http_status")), 200);
    json_decref(o);
    ebb_job_result_fini(&r);
    c = cmd("health-http-bad", EBB_JOB_HEALTH, "appdb_http_bad");
    r = run(&c, NULL);
    expect(&r, EBB_JOB_FAILED);
    assert_non_null(strstr(r.error_message, "404"));
    o = report_of(&r);
    assert_int_equal(json_integer_value(json_object_get(o, "attempts")), 2);
    json_decref(o);
    ebb_job_result_fini(&r);
}

static void test_backup_down_restore(void **state)
{
    (void)state;
    progress_log log = {0};
    ebb_job_cmd c = cmd("bak-1", EBB_JOB_BACKUP, "appdb");
    ebb_job_result r = run(&c, &log);
    expect(&r, EBB_JOB_SUCCEEDED);
    assert_non_null(r.backup_id);
    assert_int_equal(strlen(r.backup_checksum), 64);
    snprintf(backup_id, sizeof backup_id, "%s", r.backup_id);
    char p[4400];
    snprintf(p, sizeof p, "%s/backups/%s.manifest.json", work, backup_id);
    assert_int_equal(access(p, F_OK), 0);
    assert_true(log.calls >= 1);
    ebb_job_result_fini(&r);

    /* Down one step (data checks run), then restore the backup: back at 2. */
    c = cmd("down-1", EBB_JOB_MIGRATE, "appdb");
    c.target = "-1";
    c.accept_data_loss = true;
    r = run(&c, NULL);
    expect(&r, EBB_JOB_SUCCEEDED);
    assert_string_equal(r.revisions_before[0], "2");
    assert_string_equal(r.revisions_after[0], "1");
    json_t *o = report_of(&r);
    assert_true(json_is_true(json_object_get(o, "accept_data_loss")));
    assert_true(json_is_true(json_object_get(o, "data_checks_ok")));
    json_decref(o);
    ebb_job_result_fini(&r);
    assert_int_equal(q_long(app_ci, "SELECT count(*) FROM pg_tables WHERE tablename = 'orders'"),
                     0);

    c = cmd("restore-1", EBB_JOB_RESTORE, "appdb");
    c.backup_id = backup_id;
    r = run(&c, NULL);
    expect(&r, EBB_JOB_SUCCEEDED);
    assert_string_equal(r.revisions_after[0], "2");
    ebb_job_result_fini(&r);
    assert_int_equal(q_long(app_ci, "SELECT count(*) FROM pg_tables WHERE tablename = 'orders'"),
                     1);
    assert_int_equal(events("restore"), 1);

    /* A backup id that is not one is rejected before anything runs. */
    c = cmd("restore-bad", EBB_JOB_RESTORE, "appdb");
    c.backup_id = "../../etc/passwd";
    r = run(&c, NULL);
    expect(&r, EBB_JOB_REJECTED);
    ebb_job_result_fini(&r);
}

static void test_prepared(void **state)
{
    (void)state;
    /* Prepare a down to 1, roll it back: still at 2. */
    ebb_job_cmd c = cmd("prep-1", EBB_JOB_MIGRATE, "appdb");
    c.run_id = "run-prep-a";
    c.target = "1";
    c.prepare = true;
    ebb_job_result r = run(&c, NULL);
    expect(&r, EBB_JOB_SUCCEEDED);
    json_t *o = report_of(&r);
    assert_string_equal(json_string_value(json_object_get(o, "gid")), "ebb-run-prep-a-appdb");
    json_decref(o);
    ebb_job_result_fini(&r);
    assert_int_equal(q_long(app_ci, "SELECT count(*) FROM pg_prepared_xacts"), 1);
    c = cmd("prep-1-rb", EBB_JOB_ROLLBACK_PREPARED, "appdb");
    c.run_id = "run-prep-a";
    r = run(&c, NULL);
    expect(&r, EBB_JOB_SUCCEEDED);
    assert_string_equal(r.revisions_after[0], "2");
    ebb_job_result_fini(&r);
    assert_int_equal(q_long(app_ci, "SELECT count(*) FROM pg_prepared_xacts"), 0);

    /* Prepare again in another run and commit: at 1. */
    c = cmd("prep-2", EBB_JOB_MIGRATE, "appdb");
    c.run_id = "run-prep-b";
    c.target = "1";
    c.prepare = true;
    r = run(&c, NULL);
    expect(&r, EBB_JOB_SUCCEEDED);
    ebb_job_result_fini(&r);
    c = cmd("prep-2-commit", EBB_JOB_COMMIT_PREPARED, "appdb");
    c.run_id = "run-prep-b";
    r = run(&c, NULL);
    expect(&r, EBB_JOB_SUCCEEDED);
    assert_string_equal(r.revisions_after[0], "1");
    ebb_job_result_fini(&r);
    /* A decision sent again is idempotent: the commit is already there. */
    c = cmd("prep-2-commit-again", EBB_JOB_COMMIT_PREPARED, "appdb");
    c.run_id = "run-prep-b";
    r = run(&c, NULL);
    expect(&r, EBB_JOB_SUCCEEDED);
    o = report_of(&r);
    assert_non_null(strstr(json_string_value(json_object_get(o, "note")), "nothing to do"));
    json_decref(o);
    ebb_job_result_fini(&r);
    /* ... but that run cannot be rolled back by a missing gid. */
    c = cmd("prep-2-rollback", EBB_JOB_ROLLBACK_PREPARED, "appdb");
    c.run_id = "run-prep-b";
    r = run(&c, NULL);
    expect(&r, EBB_JOB_FAILED);
    assert_int_equal(r.error_code, EBB_E_CONFLICT);
    ebb_job_result_fini(&r);
    /* A rollback for a unit that never prepared (its agent died first): nothing to do. */
    c = cmd("prep-3-rollback", EBB_JOB_ROLLBACK_PREPARED, "appdb");
    c.run_id = "run-prep-c";
    r = run(&c, NULL);
    expect(&r, EBB_JOB_SUCCEEDED);
    o = report_of(&r);
    assert_non_null(strstr(json_string_value(json_object_get(o, "note")), "nothing to do"));
    json_decref(o);
    ebb_job_result_fini(&r);
    /* A commit whose transaction is gone without its steps fails. */
    c = cmd("prep-3-commit", EBB_JOB_COMMIT_PREPARED, "appdb");
    c.run_id = "run-prep-c";
    r = run(&c, NULL);
    expect(&r, EBB_JOB_FAILED);
    assert_int_equal(r.error_code, EBB_E_NOT_FOUND);
    ebb_job_result_fini(&r);
}

typedef struct bg_job {
    ebb_job_cmd cmd;
    ebb_job_result res;
    ebb_code rc;
    pthread_t thread;
} bg_job;

static void *bg_main(void *arg)
{
    bg_job *b = arg;
    b->rc = ebb_job_execute(ex, &b->cmd, NULL, NULL, &b->res, NULL);
    return NULL;
}

/* Wait until the slow migration's pg_sleep runs. */
static void wait_for_sleep(void)
{
    for (int i = 0; i < 200; i++) {
        if (q_long(slow_ci, "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND "
                            "query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()") == 1)
            return;
        usleep(50000);
    }
    fail_msg("the slow migration never reached pg_sleep");
}

static void test_cancel(void **state)
{
    (void)state;
    bg_job b = {0};
    b.cmd = cmd("slow-1", EBB_JOB_MIGRATE, "slowdb");
    b.cmd.target = "head";
    assert_int_equal(pthread_create(&b.thread, NULL, bg_main, &b), 0);
    wait_for_sleep();

    /* While it runs: the same id is "running", another job on slowdb is refused (busy). */
    ebb_job_result r = run(&b.cmd, NULL);
    expect(&r, EBB_JOB_RUNNING);
    ebb_job_result_fini(&r);
    ebb_job_cmd other = cmd("slow-inspect", EBB_JOB_INSPECT, "slowdb");
    r = run(&other, NULL);
    expect(&r, EBB_JOB_FAILED);
    assert_int_equal(r.error_code, EBB_E_LOCKED);
    ebb_job_result_fini(&r);
    char **ids = NULL;
    size_t n = 0;
    assert_int_equal(ebb_job_executor_running(ex, &ids, &n, NULL), EBB_OK);
    assert_int_equal(n, 1);
    assert_string_equal(ids[0], "slow-1");
    free(ids[0]);
    free(ids);

    ebb_job_cmd cc = cmd("cancel-1", EBB_JOB_CANCEL, NULL);
    cc.cancel_job_id = "slow-1";
    r = run(&cc, NULL);
    expect(&r, EBB_JOB_SUCCEEDED);
    ebb_job_result_fini(&r);
    pthread_join(b.thread, NULL);
    assert_int_equal(b.rc, EBB_OK);
    expect(&b.res, EBB_JOB_CANCELLED);
    assert_string_equal(b.res.sqlstate, "57014");
    ebb_job_result_fini(&b.res);
    /* Database unchanged: no table, nothing applied. */
    assert_int_equal(q_long(slow_ci, "SELECT count(*) FROM pg_tables WHERE tablename = 's'"), 0);
    assert_int_equal(q_long(slow_ci, "SELECT count(*) FROM ebb.applied"), 0);

    /* The busy refusal was not recorded: the same id runs now (it is quick). */
    r = run(&other, NULL);
    expect(&r, EBB_JOB_SUCCEEDED);
    ebb_job_result_fini(&r);

    /* A job timeout cancels it the same way, reported as a failure by timeout. */
    ebb_job_cmd t = cmd("slow-timeout", EBB_JOB_MIGRATE, "slowdb");
    t.target = "head";
    t.timeout_ms = 1500;
    r = run(&t, NULL);
    expect(&r, EBB_JOB_FAILED);
    assert_int_equal(r.error_code, EBB_E_TIMEOUT);
    ebb_job_result_fini(&r);
    assert_int_equal(q_long(slow_ci, "SELECT count(*) FROM pg_tables WHERE tablename = 's'"), 0);
}

static void test_crash_recovery(void **state)
{
    (void)state;
    long deploys = events("deploy");
    ebb_job_executor_free(ex);
    ex = NULL;
    /* What a kill -9 mid-job leaves: received and started, never finished. */
    char jp[4200];
    snprintf(jp, sizeof jp, "%s/jobs.journal", work);
    FILE *f = fopen(jp, "a");
    assert_non_null(f);
    fputs("{\"action\":\"migrate\",\"at_ms\":1,\"database\":\"appdb\",\"job_id\":\"crash-1\","
          "\"rec\":\"received\",\"run_id\":\"run-9\",\"target\":\"head\"}\n"
          "{\"at_ms\":2,\"job_id\":\"crash-1\",\"rec\":\"started\"}\n",
          f);
    fclose(f);
    ebb_error err;
    must(ebb_job_executor_open(cfg, &ex, &err), &err, "reopen");
    size_t n = 0;
    const ebb_job_result *ir = ebb_job_executor_interrupted(ex, &n);
    assert_int_equal(n, 1);
    assert_string_equal(ir[0].job_id, "crash-1");
    assert_int_equal(ir[0].outcome, EBB_JOB_INTERRUPTED);
    assert_int_equal(ir[0].n_after, 1);
    assert_string_equal(ir[0].revisions_after[0], "1"); /* what appdb holds now */
    assert_non_null(ir[0].fingerprint);

    /* Delivered again: interrupted, not run. */
    ebb_job_cmd c = cmd("crash-1", EBB_JOB_MIGRATE, "appdb");
    c.run_id = "run-9";
    c.target = "head";
    ebb_job_result r = run(&c, NULL);
    expect(&r, EBB_JOB_INTERRUPTED);
    assert_true(r.from_journal);
    ebb_job_result_fini(&r);
    assert_int_equal(events("deploy"), deploys);
    assert_int_equal(q_long(app_ci, "SELECT count(*) FROM pg_tables WHERE tablename = 'orders'"),
                     0);

    /* A new job id does run. */
    c.job_id = "crash-1-again";
    r = run(&c, NULL);
    expect(&r, EBB_JOB_SUCCEEDED);
    assert_string_equal(r.revisions_after[0], "2");
    ebb_job_result_fini(&r);

    /* Hello material: every database described. */
    ebb_job_db_info *infos = NULL;
    must(ebb_job_executor_describe(ex, &infos, &n, &err), &err, "describe");
    assert_int_equal(n, cfg->n_dbs);
    assert_string_equal(infos[0].name, "appdb");
    assert_null(infos[0].error);
    assert_int_equal(infos[0].n_current, 1);
    assert_string_equal(infos[0].current[0], "2");
    for (size_t i = 0; i < n; i++)
        ebb_job_db_info_fini(&infos[i]);
    free(infos);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rejected),
        cmocka_unit_test(test_inspect),
        cmocka_unit_test(test_precheck),
        cmocka_unit_test(test_stop_services),
        cmocka_unit_test(test_migrate_once),
        cmocka_unit_test(test_verify_start_health),
        cmocka_unit_test(test_backup_down_restore),
        cmocka_unit_test(test_prepared),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_crash_recovery),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
