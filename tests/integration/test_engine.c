/* Integration: the migration runner on a real PostgreSQL 15 (registry, steps, failures, lock, drift). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/fingerprint.h"
#include "agent/graph.h"
#include "agent/lock.h"
#include "agent/migrate.h"
#include "agent/registry.h"
#include "agent/source.h"
#include "tests/support/engine_fixture.h"
#include "tests/support/pg_cluster.h"

static ebb_test_pg cluster;

static int group_setup(void **state)
{
    (void)state;
    ebb_error err;
    if (ebb_test_pg_start(&cluster, &err) != EBB_OK) {
        fprintf(stderr, "cluster start failed: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    ebb_test_pg_stop(&cluster);
    return 0;
}

static const ebb_fx_file PROJECT[] = {
    {"1_users.up.sql",
     "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');\n"
     "CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL DEFAULT '', m mood);\n"
     "CREATE UNIQUE INDEX users_email ON users (email);\n"
     "CREATE VIEW user_emails AS SELECT email FROM users;\n"
     "CREATE FUNCTION add1(i integer) RETURNS integer LANGUAGE sql AS $$ SELECT i + 1 $$;\n"},
    {"1_users.down.sql", "DROP FUNCTION add1(integer);\nDROP VIEW user_emails;\n"
                         "DROP TABLE users;\nDROP TYPE mood;\n"},
    {"1_users.verify.sql", "SELECT id, email, m FROM users WHERE false;\n"},
    {"2_orders.up.sql",
     "CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
     "  user_id int REFERENCES users (id), total numeric(10,2) CHECK (total >= 0));\n"
     "ALTER TABLE users ADD COLUMN name varchar(40);\n"},
    {"2_orders.down.sql", "ALTER TABLE users DROP COLUMN name;\nDROP TABLE orders;\n"},
    {"3_more.up.sql", "CREATE SEQUENCE invoice_no START 100 INCREMENT 5;\n"
                      "CREATE DOMAIN posint AS integer CHECK (VALUE > 0);\n"},
    {"3_more.down.sql", "DROP DOMAIN posint;\nDROP SEQUENCE invoice_no;\n"},
    {NULL, NULL},
};

typedef struct env {
    char dir[PATH_MAX];
    ebb_graph graph;
    ebb_pg *pg;
} env;

static void env_open(env *e, const ebb_fx_file *files, const char *db)
{
    ebb_error err;
    memset(e, 0, sizeof *e);
    assert_int_equal(ebb_fx_write_project(e->dir, files), 0);
    if (ebb_source_load(e->dir, EBB_SOURCE_GOLANG, &e->graph, &err) != EBB_OK)
        fail_msg("load: %s", err.msg);
    if (ebb_fx_new_db(&cluster, db, &e->pg, &err) != EBB_OK)
        fail_msg("db: %s", err.msg);
}

static void env_reload(env *e)
{
    ebb_error err;
    ebb_graph_fini(&e->graph);
    if (ebb_source_load(e->dir, EBB_SOURCE_GOLANG, &e->graph, &err) != EBB_OK)
        fail_msg("reload: %s", err.msg);
}

static void env_close(env *e)
{
    ebb_pg_close(e->pg);
    ebb_graph_fini(&e->graph);
    ebb_fx_remove_project(e->dir);
}

static ebb_code migrate(env *e, const char *target, ebb_migrate_opts *o, ebb_migrate_result *res,
                        ebb_error *err)
{
    ebb_target t;
    assert_int_equal(ebb_target_parse(target, &t, err), EBB_OK);
    return ebb_migrate_run(e->pg, &e->graph, &t, o, res, err);
}

static void migrate_ok(env *e, const char *target, const char *run_id)
{
    ebb_migrate_opts o;
    ebb_fx_opts(&o, run_id);
    ebb_migrate_result res;
    ebb_error err;
    if (migrate(e, target, &o, &res, &err) != EBB_OK)
        fail_msg("migrate to %s: %s", target, err.msg);
    ebb_migrate_result_fini(&res);
}

static long events_of(ebb_pg *pg, const char *kind)
{
    const char *params[] = {kind};
    char *v = NULL;
    ebb_error err;
    if (ebb_pg_query_text(pg, "SELECT count(*) FROM ebb.events WHERE kind = $1", 1, params, &v,
                          &err) != EBB_OK)
        fail_msg("events: %s", err.msg);
    long n = strtol(v, NULL, 10);
    free(v);
    return n;
}

static void test_registry_created_idempotently(void **state)
{
    (void)state;
    env e;
    env_open(&e, PROJECT, "reg");
    ebb_error err;
    bool exists = true;
    assert_int_equal(ebb_registry_exists(e.pg, &exists, &err), EBB_OK);
    assert_false(exists);
    ebb_applied_list none;
    assert_int_equal(ebb_registry_load(e.pg, &none, &err), EBB_OK); /* no registry: empty */
    assert_int_equal(none.count, 0);
    ebb_applied_list_fini(&none);
    assert_int_equal(ebb_registry_ensure(e.pg, &err), EBB_OK);
    assert_int_equal(ebb_registry_ensure(e.pg, &err), EBB_OK);
    assert_int_equal(ebb_registry_exists(e.pg, &exists, &err), EBB_OK);
    assert_true(exists);
    assert_int_equal(ebb_fx_long(e.pg, "SELECT count(*) FROM ebb.registry_version"), 1);
    assert_int_equal(ebb_fx_long(e.pg, "SELECT max(version) FROM ebb.registry_version"),
                     EBB_REGISTRY_VERSION);
    /* the registry is not part of the user's schema */
    ebb_fingerprint fp;
    assert_int_equal(ebb_fingerprint_read(e.pg, &fp, &err), EBB_OK);
    assert_null(strstr(fp.description, "ebb."));
    ebb_fingerprint_fini(&fp);
    env_close(&e);
}

typedef struct progress_log {
    int starts, dones;
    size_t last_total;
} progress_log;

static void on_progress(void *ctx, const ebb_progress *p)
{
    progress_log *l = ctx;
    l->starts += p->phase == EBB_PROGRESS_STEP_START;
    l->dones += p->phase == EBB_PROGRESS_STEP_DONE;
    l->last_total = p->total;
    assert_true(p->step >= 1 && p->step <= p->total);
    assert_non_null(p->revision);
}

static void test_up_down_round_trip(void **state)
{
    (void)state;
    env e;
    env_open(&e, PROJECT, "roundtrip");
    ebb_error err;
    ebb_fingerprint before;
    assert_int_equal(ebb_fingerprint_read(e.pg, &before, &err), EBB_OK);

    ebb_migrate_opts o;
    ebb_fx_opts(&o, "run-up");
    progress_log log = {0};
    o.progress = on_progress;
    o.progress_ctx = &log;
    ebb_migrate_result res;
    if (migrate(&e, "head", &o, &res, &err) != EBB_OK)
        fail_msg("up: %s", err.msg);
    assert_int_equal(res.direction, EBB_DIR_UP);
    assert_int_equal(res.done, 3);
    assert_null(res.from_revision);
    assert_string_equal(res.to_revision, "3");
    assert_int_equal(log.starts, 3);
    assert_int_equal(log.dones, 3);
    assert_int_equal(log.last_total, 3);
    ebb_fingerprint fp3;
    assert_int_equal(ebb_registry_fingerprint_of(e.pg, "3", &fp3, &err), EBB_OK);
    assert_string_equal(res.fingerprint, fp3.hex);
    assert_non_null(strstr(fp3.description, "column public.users.email text not null default"));
    assert_non_null(strstr(fp3.description, "enum public.mood 'sad','ok','happy'"));
    assert_non_null(strstr(fp3.description, "sequence public.invoice_no bigint start 100 increment 5"));
    ebb_migrate_result_fini(&res);

    ebb_applied_list applied;
    assert_int_equal(ebb_registry_load(e.pg, &applied, &err), EBB_OK);
    assert_int_equal(applied.count, 3);
    assert_string_equal(applied.rows[1].revision, "2");
    assert_string_equal(applied.rows[1].up_checksum, e.graph.revs[1].up.checksum);
    assert_string_equal(applied.rows[1].down_checksum, e.graph.revs[1].down.checksum);
    assert_string_equal(applied.rows[1].applied_by, "tester");
    assert_string_equal(applied.rows[1].run_id, "run-up");
    ebb_applied_list_fini(&applied);
    assert_int_equal(events_of(e.pg, "deploy"), 3);

    ebb_db_status st;
    assert_int_equal(ebb_migrate_status(e.pg, &e.graph, &st, &err), EBB_OK);
    assert_false(st.drift);
    assert_string_equal(st.current, "3");
    assert_int_equal(st.n_pending, 0);
    ebb_db_status_fini(&st);

    /* down to 1: the fingerprint must be the one recorded when 1 was applied */
    ebb_fx_opts(&o, "run-down");
    if (migrate(&e, "1", &o, &res, &err) != EBB_OK)
        fail_msg("down to 1: %s", err.msg);
    assert_int_equal(res.direction, EBB_DIR_DOWN);
    assert_int_equal(res.done, 2);
    assert_string_equal(res.from_revision, "3");
    assert_string_equal(res.to_revision, "1");
    ebb_fingerprint fp1;
    assert_int_equal(ebb_registry_fingerprint_of(e.pg, "1", &fp1, &err), EBB_OK);
    assert_string_equal(res.fingerprint, fp1.hex);
    ebb_migrate_result_fini(&res);

    /* down to base: equal to the schema before the first up */
    if (migrate(&e, "base", &o, &res, &err) != EBB_OK)
        fail_msg("down to base: %s", err.msg);
    assert_null(res.to_revision);
    assert_string_equal(res.fingerprint, before.hex);
    ebb_migrate_result_fini(&res);
    assert_int_equal(events_of(e.pg, "revert"), 3);
    assert_int_equal(ebb_fx_long(e.pg, "SELECT count(*) FROM ebb.applied"), 0);
    /* history survives the revert */
    assert_int_equal(ebb_fx_long(e.pg, "SELECT count(*) FROM ebb.fingerprints"), 4);

    /* and up again: same fingerprint as the first time (OIDs differ, the schema does not) */
    ebb_fx_opts(&o, "run-up-again");
    assert_int_equal(migrate(&e, "head", &o, &res, &err), EBB_OK);
    assert_string_equal(res.fingerprint, fp3.hex);
    ebb_migrate_result_fini(&res);
    ebb_fingerprint_fini(&before);
    ebb_fingerprint_fini(&fp1);
    ebb_fingerprint_fini(&fp3);
    env_close(&e);
}

static const ebb_fx_file FAILING[] = {
    {"1_a.up.sql", "CREATE TABLE a (x int);\n"},
    {"1_a.down.sql", "DROP TABLE a;\n"},
    {"2_b.up.sql", "CREATE TABLE b (x int);\n"},
    {"2_b.down.sql", "DROP TABLE b;\n"},
    {"3_bad.up.sql", "CREATE TABLE c (x int);\n-- a comment line\nINSERT INTO c VALUES ('x');\n"},
    {"3_bad.down.sql", "DROP TABLE c;\n"},
    {NULL, NULL},
};

static void test_failing_step_rolls_back_with_fail_event(void **state)
{
    (void)state;
    env e;
    env_open(&e, FAILING, "failing");
    ebb_migrate_opts o;
    ebb_fx_opts(&o, "run-fail");
    ebb_migrate_result res;
    ebb_error err;
    assert_int_equal(migrate(&e, "head", &o, &res, &err), EBB_E_PG);
    assert_string_equal(err.sqlstate, "22P02");
    assert_non_null(strstr(err.msg, "revision 3"));
    assert_non_null(strstr(err.msg, "line 3"));
    assert_int_equal(res.done, 2);
    assert_string_equal(res.failed_revision, "3");
    assert_int_equal(res.failed_line, 3);
    assert_string_equal(res.sqlstate, "22P02");
    ebb_migrate_result_fini(&res);
    /* 1 and 2 committed, nothing of 3 */
    assert_int_equal(ebb_fx_long(e.pg, "SELECT count(*) FROM ebb.applied"), 2);
    assert_int_equal(ebb_fx_long(e.pg, "SELECT count(*) FROM pg_class WHERE relname = 'c'"), 0);
    assert_int_equal(ebb_fx_long(e.pg, "SELECT count(*) FROM ebb.events WHERE kind = 'fail'"
                                       " AND revision = '3' AND sqlstate = '22P02'"
                                       " AND (details->>'line')::int = 3 AND run_id = 'run-fail'"),
                     1);
    env_close(&e);
}

static void test_single_transaction_failure_applies_nothing(void **state)
{
    (void)state;
    env e;
    env_open(&e, FAILING, "single");
    ebb_migrate_opts o;
    ebb_fx_opts(&o, "run-single");
    o.single_transaction = true;
    ebb_migrate_result res;
    ebb_error err;
    assert_int_equal(migrate(&e, "head", &o, &res, &err), EBB_E_PG);
    assert_int_equal(res.done, 0);
    assert_string_equal(res.failed_revision, "3");
    ebb_migrate_result_fini(&res);
    assert_int_equal(ebb_fx_long(e.pg, "SELECT count(*) FROM ebb.applied"), 0);
    assert_int_equal(ebb_fx_long(e.pg, "SELECT count(*) FROM pg_class WHERE relname IN"
                                       " ('a', 'b', 'c')"),
                     0);
    assert_int_equal(events_of(e.pg, "deploy"), 0);
    assert_int_equal(events_of(e.pg, "fail"), 1);
    env_close(&e);
}

static const ebb_fx_file CONCURRENTLY[] = {
    {"1_t.up.sql", "CREATE TABLE t (a int);\nINSERT INTO t SELECT generate_series(1, 100);\n"},
    {"1_t.down.sql", "DROP TABLE t;\n"},
    {"2_idx.up.sql", "-- ebb:no-transaction\nCREATE INDEX CONCURRENTLY t_a ON t (a);\n"},
    {"2_idx.down.sql", "-- ebb:no-transaction\nDROP INDEX CONCURRENTLY t_a;\n"},
    {NULL, NULL},
};

static void test_no_transaction_step(void **state)
{
    (void)state;
    env e;
    env_open(&e, CONCURRENTLY, "concurrently");
    ebb_migrate_opts o;
    ebb_fx_opts(&o, "run-cic");
    o.single_transaction = true;
    ebb_migrate_result res;
    ebb_error err;
    /* refused before anything runs */
    assert_int_equal(migrate(&e, "head", &o, &res, &err), EBB_E_REFUSED);
    assert_non_null(strstr(err.msg, "revision 2"));
    ebb_migrate_result_fini(&res);
    assert_int_equal(ebb_fx_long(e.pg, "SELECT count(*) FROM pg_class WHERE relname = 't'"), 0);

    o.single_transaction = false;
    if (migrate(&e, "head", &o, &res, &err) != EBB_OK)
        fail_msg("up: %s", err.msg);
    assert_int_equal(res.done, 2);
    ebb_migrate_result_fini(&res);
    assert_int_equal(ebb_fx_long(e.pg, "SELECT count(*) FROM pg_index i JOIN pg_class c"
                                       " ON c.oid = i.indexrelid WHERE c.relname = 't_a'"
                                       " AND i.indisvalid"),
                     1);
    assert_int_equal(ebb_fx_long(e.pg, "SELECT count(*) FROM ebb.applied WHERE revision = '2'"),
                     1);
    migrate_ok(&e, "base", "run-cic-down");
    env_close(&e);
}

static void test_checksum_mismatch_refuses_down(void **state)
{
    (void)state;
    env e;
    env_open(&e, PROJECT, "checksum");
    migrate_ok(&e, "head", "run-up");
    char old[EBB_CHECKSUM_HEX];
    strcpy(old, e.graph.revs[1].down.checksum);
    assert_int_equal(ebb_fx_write_file(e.dir, "2_orders.down.sql",
                                       "DROP TABLE orders;\nALTER TABLE users DROP COLUMN name;\n"),
                     0);
    env_reload(&e);
    ebb_migrate_opts o;
    ebb_fx_opts(&o, "run-down");
    ebb_migrate_result res;
    ebb_error err;
    assert_int_equal(migrate(&e, "base", &o, &res, &err), EBB_E_CHECKSUM);
    assert_non_null(strstr(err.msg, "revision 2"));
    assert_non_null(strstr(err.msg, old));
    assert_non_null(strstr(err.msg, e.graph.revs[1].down.checksum));
    assert_int_equal(res.done, 0);
    ebb_migrate_result_fini(&res);
    assert_int_equal(ebb_fx_long(e.pg, "SELECT count(*) FROM ebb.applied"), 3);

    o.ignore_checksums = true;
    if (migrate(&e, "base", &o, &res, &err) != EBB_OK)
        fail_msg("down ignoring checksums: %s", err.msg);
    assert_int_equal(res.n_overrides, 1);
    ebb_migrate_result_fini(&res);
    assert_int_equal(ebb_fx_long(e.pg, "SELECT count(*) FROM ebb.events WHERE kind = 'revert'"
                                       " AND details ? 'checksums_ignored'"),
                     3);
    env_close(&e);
}

static void test_second_runner_gets_locked(void **state)
{
    (void)state;
    env e;
    env_open(&e, PROJECT, "locked");
    ebb_error err;
    char conninfo[1024];
    ebb_test_pg_conninfo(&cluster, "locked", conninfo, sizeof conninfo);
    ebb_pg *other = NULL;
    assert_int_equal(ebb_pg_connect(conninfo, "other-migrator", &other, &err), EBB_OK);
    assert_int_equal(ebb_lock_try(other, &err), EBB_OK);
    long pid = ebb_fx_long(other, "SELECT pg_backend_pid()");

    ebb_migrate_opts o;
    ebb_fx_opts(&o, "run-2");
    ebb_migrate_result res;
    assert_int_equal(migrate(&e, "head", &o, &res, &err), EBB_E_LOCKED);
    char want[64];
    snprintf(want, sizeof want, "pid %ld", pid);
    assert_non_null(strstr(err.msg, want));
    assert_non_null(strstr(err.msg, "another migrator holds the lock"));
    assert_non_null(strstr(err.msg, "since"));
    ebb_migrate_result_fini(&res);
    bool exists = true;
    assert_int_equal(ebb_registry_exists(e.pg, &exists, &err), EBB_OK);
    assert_false(exists); /* nothing was done */

    assert_int_equal(ebb_lock_release(other, &err), EBB_OK);
    ebb_pg_close(other);
    migrate_ok(&e, "head", "run-3");
    env_close(&e);
}

static void test_manual_change_is_drift_and_fails_down(void **state)
{
    (void)state;
    env e;
    env_open(&e, PROJECT, "drift");
    migrate_ok(&e, "head", "run-up");
    ebb_error err;
    assert_int_equal(ebb_pg_exec_ok(e.pg, "ALTER TABLE users ADD COLUMN sneaky int", &err), EBB_OK);

    ebb_db_status st;
    assert_int_equal(ebb_migrate_status(e.pg, &e.graph, &st, &err), EBB_OK);
    assert_true(st.drift);
    assert_int_equal(st.drift_diff.count, 1);
    assert_string_equal(st.drift_diff.changes[0].object, "column public.users.sneaky");
    ebb_db_status_fini(&st);

    ebb_migrate_opts o;
    ebb_fx_opts(&o, "run-verify");
    char *failed = NULL;
    assert_int_equal(ebb_migrate_verify(e.pg, &e.graph, &o, &failed, &err), EBB_E_VERIFY);
    assert_non_null(strstr(err.msg, "column public.users.sneaky"));
    free(failed);

    ebb_migrate_result res;
    ebb_fx_opts(&o, "run-down");
    assert_int_equal(migrate(&e, "2", &o, &res, &err), EBB_E_VERIFY);
    assert_non_null(strstr(err.msg, "column public.users.sneaky"));
    assert_non_null(strstr(err.msg, "revision 2"));
    assert_int_equal(res.done, 1); /* the step ran; the check after it failed */
    assert_int_equal(res.mismatch.count, 1);
    ebb_migrate_result_fini(&res);
    env_close(&e);
}

static const ebb_fx_file VERIFYING[] = {
    {"1_t.up.sql", "CREATE TABLE t (a int);\n"},
    {"1_t.down.sql", "DROP TABLE t;\n"},
    {"1_t.verify.sql", "INSERT INTO t VALUES (1);\nSELECT a FROM t;\n"},
    {"2_u.up.sql", "CREATE TABLE u (b int);\n"},
    {"2_u.down.sql", "DROP TABLE u;\n"},
    {"2_u.verify.sql", "INSERT INTO t VALUES (2);\nSELECT missing_column FROM u;\n"},
    {NULL, NULL},
};

static void test_verify_script_error_fails_and_changes_nothing(void **state)
{
    (void)state;
    env e;
    env_open(&e, VERIFYING, "verifying");
    migrate_ok(&e, "1", "run-up");
    ebb_migrate_opts o;
    ebb_fx_opts(&o, "run-verify-1");
    ebb_error err;
    char *failed = NULL;
    if (ebb_migrate_verify(e.pg, &e.graph, &o, &failed, &err) != EBB_OK)
        fail_msg("verify 1: %s", err.msg);
    assert_int_equal(ebb_fx_long(e.pg, "SELECT count(*) FROM t"), 0); /* rolled back */

    migrate_ok(&e, "head", "run-up-2");
    ebb_fx_opts(&o, "run-verify-2");
    assert_int_equal(ebb_migrate_verify(e.pg, &e.graph, &o, &failed, &err), EBB_E_VERIFY);
    assert_non_null(strstr(err.msg, "revision 2"));
    assert_non_null(strstr(err.msg, "missing_column"));
    assert_string_equal(err.sqlstate, "42703");
    assert_string_equal(failed, "2");
    free(failed);
    assert_int_equal(ebb_fx_long(e.pg, "SELECT count(*) FROM t"), 0);
    assert_int_equal(ebb_fx_long(e.pg, "SELECT count(*) FROM ebb.events WHERE kind = 'verify'"
                                       " AND run_id = 'run-verify-2' AND error IS NOT NULL"),
                     1);
    env_close(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_created_idempotently),
        cmocka_unit_test(test_up_down_round_trip),
        cmocka_unit_test(test_failing_step_rolls_back_with_fail_event),
        cmocka_unit_test(test_single_transaction_failure_applies_nothing),
        cmocka_unit_test(test_no_transaction_step),
        cmocka_unit_test(test_checksum_mismatch_refuses_down),
        cmocka_unit_test(test_second_runner_gets_locked),
        cmocka_unit_test(test_manual_change_is_drift_and_fails_down),
        cmocka_unit_test(test_verify_script_error_fails_and_changes_nothing),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
