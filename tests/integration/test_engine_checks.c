/* Integration: data checks, the append-only events table and prepared runs on PostgreSQL 15. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/datacheck.h"
#include "agent/fingerprint.h"
#include "agent/graph.h"
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

/*
 * Revision 2's down drops orders (named) and calls purge_audit(), which
 * empties audit from inside a function body: a change the path's scripts
 * do not name.
 */
static const ebb_fx_file PROJECT[] = {
    {"1_base.up.sql",
     "CREATE TABLE customers (id int PRIMARY KEY);\n"
     "CREATE TABLE audit (id serial PRIMARY KEY, what text);\n"
     "CREATE TABLE payments (id int PRIMARY KEY, amount int);\n"
     "CREATE FUNCTION purge_audit() RETURNS void LANGUAGE sql AS $$ DELETE FROM audit $$;\n"},
    {"1_base.down.sql", "DROP FUNCTION purge_audit();\nDROP TABLE payments, audit, customers;\n"},
    {"2_orders.up.sql", "CREATE TABLE orders (id int PRIMARY KEY, customer_id int);\n"},
    {"2_orders.down.sql", "SELECT purge_audit();\nDROP TABLE orders;\n"},
    {"checks/a_no_negative_payments.sql", "SELECT id, amount FROM payments WHERE amount < 0\n"},
    {"checks/b_customers_exist.sql", "SELECT count(*) > 0 FROM customers\n"},
    {NULL, NULL},
};

typedef struct env {
    char dir[PATH_MAX];
    ebb_graph graph;
    ebb_pg *pg;
} env;

static void env_open(env *e, const char *db)
{
    ebb_error err;
    memset(e, 0, sizeof *e);
    assert_int_equal(ebb_fx_write_project(e->dir, PROJECT), 0);
    if (ebb_source_load(e->dir, EBB_SOURCE_GOLANG, &e->graph, &err) != EBB_OK)
        fail_msg("load: %s", err.msg);
    if (ebb_fx_new_db(&cluster, db, &e->pg, &err) != EBB_OK)
        fail_msg("db: %s", err.msg);
}

static void env_close(env *e)
{
    ebb_pg_close(e->pg);
    ebb_graph_fini(&e->graph);
    ebb_fx_remove_project(e->dir);
}

static void sql_ok(ebb_pg *pg, const char *sql)
{
    ebb_error err;
    if (ebb_pg_exec_script(pg, sql, &err) != EBB_OK)
        fail_msg("%s: %s", sql, err.msg);
}

static void run_to(env *e, const char *target, const char *run_id)
{
    ebb_migrate_opts o;
    ebb_fx_opts(&o, run_id);
    ebb_target t;
    ebb_migrate_result res;
    ebb_error err;
    assert_int_equal(ebb_target_parse(target, &t, &err), EBB_OK);
    if (ebb_migrate_run(e->pg, &e->graph, &t, &o, &res, &err) != EBB_OK)
        fail_msg("migrate to %s: %s", target, err.msg);
    ebb_migrate_result_fini(&res);
}

static void test_data_checks_around_down(void **state)
{
    (void)state;
    env e;
    env_open(&e, "datachecks");
    run_to(&e, "head", "run-up");
    sql_ok(e.pg, "INSERT INTO customers VALUES (1), (2);"
                 "INSERT INTO audit (what) VALUES ('x'), ('y'), ('z');"
                 "INSERT INTO payments VALUES (1, 10), (2, -5);"
                 "INSERT INTO orders VALUES (1, 1), (2, 2);");
    ebb_error err;
    ebb_row_counts before;
    assert_int_equal(ebb_datacheck_count_rows(e.pg, &before, &err), EBB_OK);
    assert_int_equal(before.count, 4);
    assert_string_equal(before.tables[0].table, "audit");
    assert_int_equal(before.tables[0].rows, 3);

    ebb_target t;
    assert_int_equal(ebb_target_parse("1", &t, &err), EBB_OK);
    ebb_path path;
    assert_int_equal(ebb_migrate_resolve(e.pg, &e.graph, &t, &path, &err), EBB_OK);
    assert_int_equal(path.count, 1);
    run_to(&e, "1", "run-down");

    ebb_datacheck_report rep;
    if (ebb_datacheck_after(e.pg, &e.graph, &path, &before, &rep, &err) != EBB_OK)
        fail_msg("after: %s", err.msg);
    assert_false(rep.ok);
    /* audit emptied behind the path's back, orders dropped by name */
    assert_int_equal(rep.counts.count, 2);
    assert_string_equal(rep.counts.changes[0].table, "audit");
    assert_false(rep.counts.changes[0].touched);
    assert_int_equal(rep.counts.changes[0].after, 0);
    assert_string_equal(rep.counts.changes[1].table, "orders");
    assert_true(rep.counts.changes[1].touched);
    assert_int_equal(rep.counts.n_untouched, 1);
    /* the negative payment fails a user check, the boolean check passes */
    assert_int_equal(rep.user.count, 2);
    assert_int_equal(rep.user.n_failed, 1);
    assert_false(rep.user.checks[0].passed);
    assert_int_equal(rep.user.checks[0].rows, 1);
    assert_string_equal(rep.user.checks[0].first_rows, "id=2, amount=-5");
    assert_true(rep.user.checks[1].passed);
    char *text = NULL;
    assert_int_equal(ebb_datacheck_report_format(&rep, &text, &err), EBB_OK);
    assert_non_null(strstr(text, "public.audit changed (3 -> 0)"));
    assert_non_null(strstr(text, "a_no_negative_payments.sql"));
    assert_null(strstr(text, "orders"));
    free(text);
    ebb_datacheck_report_fini(&rep);
    ebb_path_fini(&path);
    ebb_row_counts_fini(&before);

    /* a failing boolean check: no customers */
    sql_ok(e.pg, "DELETE FROM customers; DELETE FROM payments WHERE amount < 0");
    ebb_user_check_report uc;
    assert_int_equal(ebb_datacheck_user_checks(e.pg, &e.graph, &uc, &err), EBB_OK);
    assert_int_equal(uc.n_failed, 1);
    assert_false(uc.checks[1].passed);
    assert_string_equal(uc.checks[1].first_rows, "?column?=f");
    ebb_user_check_report_fini(&uc);
    env_close(&e);
}

static void test_fk_orphans(void **state)
{
    (void)state;
    env e;
    env_open(&e, "orphans");
    sql_ok(e.pg, "CREATE SCHEMA \"Shop\";"
                 "CREATE TABLE \"Shop\".parent (a int, b int, PRIMARY KEY (a, b));"
                 "CREATE TABLE \"Shop\".\"child table\" (id int, pa int, pb int);"
                 "INSERT INTO \"Shop\".parent VALUES (1, 1);"
                 "INSERT INTO \"Shop\".\"child table\" VALUES"
                 " (1, 1, 1), (2, 1, 2), (3, NULL, 2), (4, 9, 9);"
                 "ALTER TABLE \"Shop\".\"child table\" ADD CONSTRAINT child_fk"
                 " FOREIGN KEY (pa, pb) REFERENCES \"Shop\".parent (a, b) NOT VALID;"
                 "CREATE TABLE clean_parent (id int PRIMARY KEY);"
                 "CREATE TABLE clean_child (p int REFERENCES clean_parent);");
    ebb_fk_report rep;
    ebb_error err;
    if (ebb_datacheck_fk_orphans(e.pg, &rep, &err) != EBB_OK)
        fail_msg("orphans: %s", err.msg);
    assert_int_equal(rep.count, 2);
    assert_int_equal(rep.n_with_orphans, 1);
    assert_string_equal(rep.fks[0].constraint_name, "Shop.child table.child_fk");
    assert_int_equal(rep.fks[0].orphans, 2); /* (1,2) and (9,9); the NULL key is not an orphan */
    assert_string_equal(rep.fks[0].parent, "Shop.parent");
    assert_int_equal(rep.fks[1].orphans, 0);
    ebb_fk_report_fini(&rep);
    env_close(&e);
}

static void test_events_append_only(void **state)
{
    (void)state;
    env e;
    env_open(&e, "events");
    ebb_error err;
    assert_int_equal(ebb_registry_ensure(e.pg, &err), EBB_OK);
    ebb_run_info run = {"run-ev", "alice", "because"};
    ebb_event ev = {.kind = EBB_EVENT_RESTORE, .revision = "7", .run = &run,
                    .details = "{\"backup\": \"b1\"}"};
    assert_int_equal(ebb_registry_event_add(e.pg, &ev, &err), EBB_OK);
    assert_int_equal(ebb_pg_exec_ok(e.pg, "UPDATE ebb.events SET reason = 'edited'", &err),
                     EBB_E_PG);
    assert_string_equal(err.sqlstate, "42501");
    assert_non_null(strstr(err.msg, "append-only"));
    assert_int_equal(ebb_pg_exec_ok(e.pg, "DELETE FROM ebb.events", &err), EBB_E_PG);
    assert_int_equal(ebb_pg_exec_ok(e.pg, "TRUNCATE ebb.events", &err), EBB_E_PG);
    ebb_event_list list;
    assert_int_equal(ebb_registry_events(e.pg, "run-ev", 0, &list, &err), EBB_OK);
    assert_int_equal(list.count, 1);
    assert_string_equal(list.rows[0].kind, "restore");
    assert_string_equal(list.rows[0].operator_name, "alice");
    assert_string_equal(list.rows[0].reason, "because");
    assert_non_null(strstr(list.rows[0].details, "b1"));
    ebb_event_list_fini(&list);
    /* bad details are refused by the server */
    ev.details = "not json";
    assert_int_equal(ebb_registry_event_add(e.pg, &ev, &err), EBB_E_PG);
    env_close(&e);
}

static void test_prepared_run(void **state)
{
    (void)state;
    env e;
    env_open(&e, "prepared");
    char conninfo[1024];
    ebb_test_pg_conninfo(&cluster, "prepared", conninfo, sizeof conninfo);
    ebb_pg *other = NULL;
    ebb_error err;
    assert_int_equal(ebb_pg_connect(conninfo, "observer", &other, &err), EBB_OK);

    ebb_migrate_opts o;
    ebb_fx_opts(&o, "run:1");
    o.prepare = true;
    ebb_target t;
    assert_int_equal(ebb_target_parse("head", &t, &err), EBB_OK);
    ebb_migrate_result res;
    if (ebb_migrate_run(e.pg, &e.graph, &t, &o, &res, &err) != EBB_OK)
        fail_msg("prepare: %s", err.msg);
    assert_string_equal(res.gid, "ebb-run_1-testdb");
    assert_int_equal(res.done, 2);
    char gid[EBB_GID_MAX];
    strcpy(gid, res.gid);
    ebb_migrate_result_fini(&res);
    char **gids = NULL;
    size_t n = 0;
    assert_int_equal(ebb_migrate_list_prepared(e.pg, &gids, &n, &err), EBB_OK);
    assert_int_equal(n, 1);
    assert_string_equal(gids[0], gid);
    free(gids[0]);
    free(gids);
    /* nothing visible before the decision */
    assert_int_equal(ebb_fx_long(other, "SELECT count(*) FROM pg_class WHERE relname = 'orders'"),
                     0);
    assert_int_equal(ebb_migrate_commit_prepared(other, gid, &err), EBB_OK);
    assert_int_equal(ebb_fx_long(other, "SELECT count(*) FROM ebb.applied"), 2);
    assert_int_equal(ebb_migrate_commit_prepared(other, gid, &err), EBB_E_NOT_FOUND);

    /* a prepared down rolled back leaves everything as it was */
    ebb_fx_opts(&o, "run-2");
    o.prepare = true;
    assert_int_equal(ebb_target_parse("base", &t, &err), EBB_OK);
    if (ebb_migrate_run(e.pg, &e.graph, &t, &o, &res, &err) != EBB_OK)
        fail_msg("prepare down: %s", err.msg);
    strcpy(gid, res.gid);
    ebb_migrate_result_fini(&res);
    assert_int_equal(ebb_migrate_rollback_prepared(other, gid, &err), EBB_OK);
    assert_int_equal(ebb_fx_long(other, "SELECT count(*) FROM ebb.applied"), 2);
    assert_int_equal(ebb_fx_long(other, "SELECT count(*) FROM pg_class WHERE relname = 'orders'"),
                     1);
    ebb_pg_close(other);
    env_close(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_data_checks_around_down),
        cmocka_unit_test(test_fk_orphans),
        cmocka_unit_test(test_events_append_only),
        cmocka_unit_test(test_prepared_run),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
