/* Integration: the test cluster harness and common/pgsql on a real PostgreSQL 15. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/pgsql.h"
#include "tests/support/pg_cluster.h"

static ebb_test_pg cluster;

static int setup(void **state)
{
    (void)state;
    ebb_error err;
    ebb_error_clear(&err);
    if (ebb_test_pg_start(&cluster, &err) != EBB_OK) {
        fprintf(stderr, "cluster start failed: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ebb_test_pg_stop(&cluster);
    return 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static ebb_pg *connect_db(const char *conninfo)
{
    ebb_error err;
    ebb_pg *pg = NULL;
    ebb_code rc = ebb_pg_connect(conninfo, "test_pg_cluster", &pg, &err);
    if (rc != EBB_OK)
        fail_msg("connect: %s", err.msg);
    return pg;
}

static void exec_ok(ebb_pg *pg, const char *sql)
{
    ebb_error err;
    if (ebb_pg_exec_ok(pg, sql, &err) != EBB_OK)
        fail_msg("%s: %s", sql, err.msg);
}

static bool port_accepts(int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(s, (struct sockaddr *)&a, sizeof a) == 0;
    close(s);
    return ok;
}

static bool dir_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void test_cluster_layout(void **state)
{
    (void)state;
    assert_true(cluster.running);
    assert_true(cluster.port >= 20000 && cluster.port < 60000);
    assert_true(dir_exists(cluster.data_dir));
    assert_true(port_accepts(cluster.port));
    assert_non_null(strstr(cluster.conninfo, cluster.socket_dir));
    assert_true(cluster.watchdog_pid > 0);

    ebb_pg *pg = connect_db(cluster.conninfo);
    assert_true(ebb_pg_is_alive(pg));
    assert_true(ebb_pg_server_version(pg) >= 150000);
    ebb_error err;
    char *v = NULL;
    assert_int_equal(ebb_pg_query_text(pg, "SHOW max_prepared_transactions", 0, NULL, &v, &err),
                     EBB_OK);
    assert_string_equal(v, "20");
    free(v);
    assert_int_equal(
        ebb_pg_query_text(pg, "SELECT current_setting('application_name')", 0, NULL, &v, &err),
        EBB_OK);
    assert_string_equal(v, "test_pg_cluster");
    free(v);
    ebb_pg_close(pg);
}

typedef struct rows {
    int n;
    char names[8][64];
    bool null_note[8];
} rows;

static ebb_code collect(void *ctx, const PGresult *res, int row, ebb_error *err)
{
    rows *r = ctx;
    if (r->n >= 8)
        return ebb_error_set(err, EBB_E_INTERNAL, "too many rows");
    snprintf(r->names[r->n], sizeof r->names[0], "%s", PQgetvalue(res, row, 0));
    r->null_note[r->n] = PQgetisnull(res, row, 1);
    r->n++;
    return EBB_OK;
}

static ebb_code stop_at_first(void *ctx, const PGresult *res, int row, ebb_error *err)
{
    (void)res;
    int *seen = ctx;
    (*seen)++;
    return ebb_error_set(err, EBB_E_CONFLICT, "stop at row %d", row);
}

static void test_params_and_identifiers(void **state)
{
    (void)state;
    char ci[1024];
    ebb_error err;
    assert_int_equal(ebb_test_pg_create_db(&cluster, "app db", ci, sizeof ci, &err), EBB_OK);
    assert_non_null(strstr(ci, "dbname='app db'"));
    ebb_pg *pg = connect_db(ci);

    char *v = NULL;
    assert_int_equal(ebb_pg_query_text(pg, "SELECT current_database()", 0, NULL, &v, &err), EBB_OK);
    assert_string_equal(v, "app db");
    free(v);

    char *ident = NULL;
    assert_int_equal(ebb_pg_quote_ident(pg, "we\"ird tbl", &ident, &err), EBB_OK);
    assert_string_equal(ident, "\"we\"\"ird tbl\"");
    char sql[256];
    snprintf(sql, sizeof sql, "CREATE TABLE %s (name text PRIMARY KEY, note text)", ident);
    exec_ok(pg, sql);

    snprintf(sql, sizeof sql, "INSERT INTO %s VALUES ($1, $2)", ident);
    const char *p1[] = {"alice'; DROP TABLE x; --", "hello"};
    const char *p2[] = {"bob", NULL};
    long affected = -1;
    assert_int_equal(ebb_pg_exec(pg, sql, 2, p1, NULL, NULL, &affected, &err), EBB_OK);
    assert_int_equal(affected, 1);
    assert_int_equal(ebb_pg_exec(pg, sql, 2, p2, NULL, NULL, NULL, &err), EBB_OK);

    rows r = {0};
    snprintf(sql, sizeof sql, "SELECT name, note FROM %s ORDER BY name", ident);
    assert_int_equal(ebb_pg_exec(pg, sql, 0, NULL, collect, &r, &affected, &err), EBB_OK);
    assert_int_equal(r.n, 2);
    assert_int_equal(affected, 2);
    assert_string_equal(r.names[0], "alice'; DROP TABLE x; --");
    assert_false(r.null_note[0]);
    assert_string_equal(r.names[1], "bob");
    assert_true(r.null_note[1]);

    /* NULL parameter compares as SQL NULL, and query_text gives NULL for it. */
    const char *pnull[] = {NULL};
    v = (char *)"untouched";
    assert_int_equal(ebb_pg_query_text(pg, "SELECT $1::text", 1, pnull, &v, &err), EBB_OK);
    assert_null(v);
    assert_int_equal(ebb_pg_query_text(pg, "SELECT 1 WHERE false", 0, NULL, &v, &err), EBB_OK);
    assert_null(v);

    /* A row callback's error stops the iteration and is the result. */
    int seen = 0;
    assert_int_equal(ebb_pg_exec(pg, sql, 0, NULL, stop_at_first, &seen, NULL, &err),
                     EBB_E_CONFLICT);
    assert_int_equal(seen, 1);
    assert_string_equal(err.msg, "stop at row 0");

    /* UPDATE's affected count. */
    snprintf(sql, sizeof sql, "UPDATE %s SET note = 'x'", ident);
    assert_int_equal(ebb_pg_exec(pg, sql, 0, NULL, NULL, NULL, &affected, &err), EBB_OK);
    assert_int_equal(affected, 2);
    free(ident);
    ebb_pg_close(pg);
}

static void test_server_errors_keep_sqlstate(void **state)
{
    (void)state;
    ebb_pg *pg = connect_db(cluster.conninfo);
    ebb_error err;
    ebb_error_clear(&err);
    assert_int_equal(ebb_pg_exec_ok(pg, "SELECT *\n  FROM no_such_table", &err), EBB_E_PG);
    assert_string_equal(err.sqlstate, "42P01");
    assert_non_null(strstr(err.msg, "no_such_table"));
    assert_non_null(strstr(err.msg, "(line 2, column 8)"));

    exec_ok(pg, "CREATE TABLE uniq (id int PRIMARY KEY)");
    exec_ok(pg, "INSERT INTO uniq VALUES (1)");
    const char *one[] = {"1"};
    assert_int_equal(
        ebb_pg_exec(pg, "INSERT INTO uniq VALUES ($1)", 1, one, NULL, NULL, NULL, &err), EBB_E_PG);
    assert_string_equal(err.sqlstate, "23505");
    assert_non_null(strstr(err.msg, "detail: Key (id)=(1) already exists."));

    /* A failed transaction: COMMIT reports the rollback instead of "success". */
    assert_int_equal(ebb_pg_begin(pg, &err), EBB_OK);
    assert_int_equal(
        ebb_pg_exec(pg, "INSERT INTO uniq VALUES ($1)", 1, one, NULL, NULL, NULL, &err), EBB_E_PG);
    assert_int_equal(ebb_pg_commit(pg, &err), EBB_E_PG);
    assert_string_equal(err.sqlstate, "25P02");
    assert_int_equal(ebb_pg_begin(pg, &err), EBB_OK);
    exec_ok(pg, "INSERT INTO uniq VALUES (2)");
    assert_int_equal(ebb_pg_rollback(pg, &err), EBB_OK);
    char *v = NULL;
    assert_int_equal(ebb_pg_query_text(pg, "SELECT count(*) FROM uniq", 0, NULL, &v, &err), EBB_OK);
    assert_string_equal(v, "1");
    free(v);
    assert_int_equal(ebb_pg_begin(pg, &err), EBB_OK);
    exec_ok(pg, "INSERT INTO uniq VALUES (3)");
    assert_int_equal(ebb_pg_commit(pg, &err), EBB_OK);

    /* Hints come through too. */
    assert_int_equal(ebb_pg_exec_ok(pg, "SELECT lenght('x')", &err), EBB_E_PG);
    assert_string_equal(err.sqlstate, "42883");
    assert_non_null(strstr(err.msg, "hint: "));
    ebb_pg_close(pg);
}

static void test_exec_script(void **state)
{
    (void)state;
    ebb_pg *pg = connect_db(cluster.conninfo);
    ebb_error err;
    assert_int_equal(ebb_pg_exec_script(pg,
                                        "CREATE TABLE s1 (a int);\n"
                                        "INSERT INTO s1 VALUES (1), (2);\n"
                                        "SELECT * FROM s1;\n"
                                        "CREATE VIEW s1v AS SELECT a FROM s1;\n"
                                        "DO $$ BEGIN RAISE NOTICE 'hi'; END $$;\n"
                                        "-- only a comment at the end\n",
                                        &err),
                     EBB_OK);
    char *v = NULL;
    assert_int_equal(ebb_pg_query_text(pg, "SELECT sum(a) FROM s1v", 0, NULL, &v, &err), EBB_OK);
    assert_string_equal(v, "3");
    free(v);

    /* The error of the third statement is reported with its script line; the
     * script ran as one implicit transaction, so nothing of it stayed. */
    assert_int_equal(ebb_pg_exec_script(pg,
                                        "CREATE TABLE s2 (a int);\n"
                                        "INSERT INTO s2 VALUES (1);\n"
                                        "INSERT INTO missing VALUES (1);\n"
                                        "INSERT INTO s2 VALUES (2);\n",
                                        &err),
                     EBB_E_PG);
    assert_string_equal(err.sqlstate, "42P01");
    assert_non_null(strstr(err.msg, "(line 3, column 13)"));
    assert_int_equal(ebb_pg_query_text(pg, "SELECT to_regclass('s2')::text", 0, NULL, &v, &err),
                     EBB_OK);
    assert_null(v);

    /* COPY FROM STDIN has no data here: an error, and the connection stays usable. */
    assert_int_equal(ebb_pg_exec_script(pg, "COPY s1 FROM STDIN;", &err), EBB_E_PG);
    assert_int_equal(ebb_pg_exec_script(pg, "COPY s1 TO STDOUT; SELECT 1;", &err), EBB_OK);
    assert_int_equal(ebb_pg_query_text(pg, "SELECT count(*) FROM s1", 0, NULL, &v, &err), EBB_OK);
    assert_string_equal(v, "2");
    free(v);
    ebb_pg_close(pg);
}

static void test_prepared_transactions(void **state)
{
    (void)state;
    ebb_pg *pg = connect_db(cluster.conninfo);
    ebb_error err;
    exec_ok(pg, "CREATE TABLE p (a int)");
    assert_int_equal(ebb_pg_begin(pg, &err), EBB_OK);
    exec_ok(pg, "INSERT INTO p VALUES (42)");
    exec_ok(pg, "PREPARE TRANSACTION 'ebb-test-1'");
    char *v = NULL;
    const char *gid[] = {"ebb-test-1"};
    assert_int_equal(ebb_pg_query_text(pg, "SELECT count(*) FROM pg_prepared_xacts WHERE gid = $1",
                                       1, gid, &v, &err),
                     EBB_OK);
    assert_string_equal(v, "1");
    free(v);
    exec_ok(pg, "COMMIT PREPARED 'ebb-test-1'");
    assert_int_equal(ebb_pg_query_text(pg, "SELECT sum(a) FROM p", 0, NULL, &v, &err), EBB_OK);
    assert_string_equal(v, "42");
    free(v);
    ebb_pg_close(pg);
}

static void test_conninfo_masking(void **state)
{
    (void)state;
    ebb_error err;
    char *m = NULL;
    assert_int_equal(
        ebb_pg_conninfo_mask("host=db1 user=app password='s3 cret' dbname=x", &m, &err), EBB_OK);
    assert_null(strstr(m, "s3"));
    assert_non_null(strstr(m, "password=***"));
    assert_non_null(strstr(m, "host=db1"));
    free(m);
    assert_int_equal(
        ebb_pg_conninfo_mask("postgresql://app:hunter2@db2:5433/orders?sslmode=disable", &m, &err),
        EBB_OK);
    assert_null(strstr(m, "hunter2"));
    assert_non_null(strstr(m, "user=app"));
    assert_non_null(strstr(m, "port=5433"));
    free(m);
    m = NULL;
    assert_int_equal(ebb_pg_conninfo_mask("host=db1 password", &m, &err), EBB_E_INVALID);
    assert_null(m);

    /* A failing connection names the target, without the password. */
    char ci[1024];
    snprintf(ci, sizeof ci, "%s password=topsecret connect_timeout=3", cluster.conninfo);
    ebb_pg *pg = connect_db(ci);
    assert_null(strstr(pg->safe_conninfo, "topsecret"));
    ebb_pg_close(pg);
    snprintf(ci, sizeof ci, "host=%s port=%d user=postgres dbname=nope password=topsecret",
             cluster.socket_dir, cluster.port);
    pg = NULL;
    assert_int_equal(ebb_pg_connect(ci, NULL, &pg, &err), EBB_E_PG);
    assert_null(pg);
    assert_null(strstr(err.msg, "topsecret"));
    assert_non_null(strstr(err.msg, "dbname=nope"));
}

static void test_kill_and_restart(void **state)
{
    (void)state;
    ebb_error err;
    ebb_pg *pg = connect_db(cluster.conninfo);
    exec_ok(pg, "CREATE TABLE k (a int)");
    exec_ok(pg, "INSERT INTO k VALUES (7)");
    assert_int_equal(ebb_test_pg_kill(&cluster, &err), EBB_OK);
    assert_false(cluster.running);
    assert_false(port_accepts(cluster.port));
    /* The open connection notices: a client-side failure with a class 08 SQLSTATE. */
    assert_int_equal(ebb_pg_exec_ok(pg, "SELECT 1", &err), EBB_E_PG);
    assert_memory_equal(err.sqlstate, "08", 2);
    assert_false(ebb_pg_is_alive(pg));
    ebb_pg_close(pg);

    if (ebb_test_pg_restart(&cluster, &err) != EBB_OK)
        fail_msg("restart: %s", err.msg);
    assert_true(cluster.running);
    pg = connect_db(cluster.conninfo);
    char *v = NULL;
    assert_int_equal(ebb_pg_query_text(pg, "SELECT sum(a) FROM k", 0, NULL, &v, &err), EBB_OK);
    assert_string_equal(v, "7");
    free(v);
    ebb_pg_close(pg);
}

/* A test process that dies by SIGKILL leaves no cluster behind. */
static void test_watchdog_cleans_up_after_sigkill(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        close(fds[0]);
        ebb_test_pg own;
        ebb_error err;
        if (ebb_test_pg_start(&own, &err) != EBB_OK)
            _exit(1);
        char line[PATH_MAX + 32];
        int len = snprintf(line, sizeof line, "%d %s\n", own.port, own.dir);
        if (write(fds[1], line, (size_t)len) != len)
            _exit(1);
        for (;;)
            pause();
    }
    close(fds[1]);
    char line[PATH_MAX + 32] = "";
    size_t got = 0;
    while (got + 1 < sizeof line && strchr(line, '\n') == NULL) {
        ssize_t r = read(fds[0], line + got, sizeof line - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        line[got] = '\0';
    }
    close(fds[0]);
    int port = 0;
    char dir[PATH_MAX] = "";
    if (sscanf(line, "%d %4095s", &port, dir) != 2) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        fail_msg("child did not report its cluster: \"%s\"", line);
    }
    assert_true(dir_exists(dir));
    assert_true(port_accepts(port));

    assert_int_equal(kill(child, SIGKILL), 0);
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFSIGNALED(status));

    bool gone = false;
    for (int waited = 0; waited < 10000 && !gone; waited += 100) {
        gone = !dir_exists(dir) && !port_accepts(port);
        if (!gone)
            sleep_ms(100);
    }
    assert_true(gone);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cluster_layout),
        cmocka_unit_test(test_params_and_identifiers),
        cmocka_unit_test(test_server_errors_keep_sqlstate),
        cmocka_unit_test(test_exec_script),
        cmocka_unit_test(test_prepared_transactions),
        cmocka_unit_test(test_conninfo_masking),
        cmocka_unit_test(test_kill_and_restart),
        cmocka_unit_test(test_watchdog_cleans_up_after_sigkill),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
