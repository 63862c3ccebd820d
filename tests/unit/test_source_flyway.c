/* Unit tests for the Flyway source reader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/graph.h"
#include "agent/source.h"
#include "tests/support/source_fixture.h"
#include "tests/support/tmptree.h"

static void pair(const char *root, const char *version, const char *name)
{
    char f[256];
    snprintf(f, sizeof f, "V%s__%s.sql", version, name);
    ebb_test_tree_put(root, f, "SELECT 1;\n");
    snprintf(f, sizeof f, "U%s__%s.sql", version, name);
    ebb_test_tree_put(root, f, "SELECT 2;\n");
}

static void test_good_tree(void **state)
{
    (void)state;
    char *root = ebb_test_tree_new();
    pair(root, "1", "init");
    pair(root, "1_10", "more");
    ebb_test_tree_put(root, "V1.2__index.sql", "-- ebb:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (a);\n");
    ebb_test_tree_put(root, "U1.2__index.sql", "DROP INDEX i;\n");
    ebb_test_tree_put(root, "V1.2__index.sql.verify", "SELECT 1;\n");
    ebb_test_tree_put(root, "notes.txt", "ignored\n");
    ebb_graph g;
    ebb_error err;
    if (ebb_source_load(root, EBB_SOURCE_UNKNOWN, &g, &err) != EBB_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(g.kind, EBB_SOURCE_FLYWAY);
    assert_int_equal(g.count, 3);
    assert_string_equal(g.revs[0].id, "1");
    assert_string_equal(g.revs[0].name, "init");
    assert_string_equal(g.revs[1].id, "1.2");  /* 1.2 < 1.10: numeric components */
    assert_string_equal(g.revs[2].id, "1.10"); /* recorded with dots, as Flyway does */
    assert_true(g.revs[1].up.no_transaction);
    assert_false(g.revs[1].down.no_transaction);
    assert_non_null(g.revs[1].verify.sql);
    assert_non_null(strstr(g.revs[1].verify.path, "V1.2__index.sql.verify"));
    assert_null(g.revs[0].verify.sql);
    assert_string_equal(g.revs[2].down.sql, "SELECT 2;\n");
    assert_int_equal(g.revs[2].parents[0], 1);
    ebb_graph_fini(&g);
    ebb_tmptree_remove(root);
}

static void test_numeric_sort(void **state)
{
    (void)state;
    char *root = ebb_test_tree_new();
    pair(root, "00011", "c");
    pair(root, "9", "a");
    pair(root, "10", "b");
    pair(root, "20240101120000", "d");
    pair(root, "2.0.1", "e");
    ebb_graph g;
    ebb_error err;
    if (ebb_source_load(root, EBB_SOURCE_FLYWAY, &g, &err) != EBB_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(g.count, 5);
    const char *want[] = {"2.0.1", "9", "10", "00011", "20240101120000"};
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(g.revs[i].id, want[i]);
    ebb_graph_fini(&g);
    ebb_tmptree_remove(root);
}

static void test_duplicate_version(void **state)
{
    (void)state;
    char *root = ebb_test_tree_new();
    pair(root, "1", "a");
    pair(root, "1.0", "b"); /* Flyway reads 1.0 as 1 */
    ebb_test_load_fails(root, EBB_SOURCE_FLYWAY, EBB_E_INVALID, "V1__a.sql", "V1.0__b.sql");
    ebb_tmptree_remove(root);
}

static void test_up_without_down(void **state)
{
    (void)state;
    char *root = ebb_test_tree_new();
    pair(root, "1", "a");
    ebb_test_tree_put(root, "V2__b.sql", "SELECT 1;");
    ebb_test_load_fails(root, EBB_SOURCE_FLYWAY, EBB_E_INVALID, "V2__b.sql", "no down");
    ebb_tmptree_remove(root);
}

static void test_unreadable_file(void **state)
{
    (void)state;
    char *root = ebb_test_tree_new();
    ebb_test_tree_put(root, "V1__a.sql", "SELECT 1;");
    ebb_error err;
    assert_int_equal(ebb_tmptree_mkdir(root, "U1__a.sql", &err), EBB_OK);
    ebb_test_load_fails(root, EBB_SOURCE_FLYWAY, EBB_E_IO, "U1__a.sql", "not a regular file");
    ebb_tmptree_remove(root);
}

static void test_no_transaction_two_statements(void **state)
{
    (void)state;
    char *root = ebb_test_tree_new();
    ebb_test_tree_put(root, "V1__a.sql", "-- ebb:no-transaction\nVACUUM t;\n\nVACUUM u;\n");
    ebb_test_tree_put(root, "U1__a.sql", "SELECT 1;");
    ebb_test_load_fails(root, EBB_SOURCE_FLYWAY, EBB_E_INVALID, "V1__a.sql:4", "one statement");
    ebb_tmptree_remove(root);
}

static void test_refused_files(void **state)
{
    (void)state;
    const char *bad[][2] = {
        {"R__views.sql", "repeatable"},
        {"B2__baseline.sql", "baseline"},
        {"V1__a.sql.conf", "-- ebb:no-transaction"},
        {"V1__a.verify.sql", "V<version>__<name>.sql.verify"},
        {"V1_a.sql", "looks like a migration"},
        {"v2__lower.sql", "looks like a migration"},
        {"add_users.sql", "looks like a migration"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *root = ebb_test_tree_new();
        pair(root, "1", "a");
        ebb_test_tree_put(root, bad[i][0], "SELECT 1;");
        ebb_test_load_fails(root, EBB_SOURCE_FLYWAY, EBB_E_INVALID, bad[i][0], bad[i][1]);
        ebb_tmptree_remove(root);
    }
}

static void test_subdirectory_refused(void **state)
{
    (void)state;
    char *root = ebb_test_tree_new();
    pair(root, "1", "a");
    ebb_test_tree_put(root, "release2/V2__b.sql", "SELECT 1;");
    ebb_test_load_fails(root, EBB_SOURCE_FLYWAY, EBB_E_INVALID, "release2/V2__b.sql", "subdirectories");
    ebb_tmptree_remove(root);

    /* A subdirectory without migrations, and checks/, are fine. */
    root = ebb_test_tree_new();
    pair(root, "1", "a");
    ebb_test_tree_put(root, "docs/readme.txt", "x");
    ebb_test_tree_put(root, "checks/V9__not_a_migration.sql", "SELECT true;");
    ebb_graph g;
    ebb_error err;
    if (ebb_source_load(root, EBB_SOURCE_FLYWAY, &g, &err) != EBB_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(g.count, 1);
    assert_int_equal(g.n_checks, 1);
    ebb_graph_fini(&g);
    ebb_tmptree_remove(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_tree),
        cmocka_unit_test(test_numeric_sort),
        cmocka_unit_test(test_duplicate_version),
        cmocka_unit_test(test_up_without_down),
        cmocka_unit_test(test_unreadable_file),
        cmocka_unit_test(test_no_transaction_two_statements),
        cmocka_unit_test(test_refused_files),
        cmocka_unit_test(test_subdirectory_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
