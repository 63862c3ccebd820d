/* Unit tests for the Diesel source reader (folders and metadata.toml). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/graph.h"
#include "agent/source.h"
#include "tests/support/source_fixture.h"
#include "tests/support/tmptree.h"

static void folder(const char *root, const char *name)
{
    char f[512];
    snprintf(f, sizeof f, "%s/up.sql", name);
    ebb_test_tree_put(root, f, "SELECT 1;\n");
    snprintf(f, sizeof f, "%s/down.sql", name);
    ebb_test_tree_put(root, f, "SELECT 2;\n");
}

static void test_good_tree(void **state)
{
    (void)state;
    char *root = ebb_test_tree_new();
    ebb_test_tree_put(root, ".keep", "");
    folder(root, "00000000000000_diesel_initial_setup");
    folder(root, "2017-08-31-210424_create_users");
    ebb_test_tree_put(root, "2017-08-31-210424_create_users/verify.sql", "SELECT 1 FROM users LIMIT 0;\n");
    ebb_test_tree_put(root, "2017-08-31-210424_create_users/README.md", "ignored\n");
    ebb_test_tree_put(root, "2018-01-01-000000_index/up.sql", "CREATE INDEX CONCURRENTLY i ON users (id);\n");
    ebb_test_tree_put(root, "2018-01-01-000000_index/down.sql", "DROP INDEX CONCURRENTLY i;\n");
    ebb_test_tree_put(root, "2018-01-01-000000_index/metadata.toml",
        "# written by hand\n\n  run_in_transaction = false   # CONCURRENTLY\n");
    ebb_test_tree_put(root, "2019-01-01-000000_tx/metadata.toml", "run_in_transaction=true\n");
    folder(root, "2019-01-01-000000_tx");
    ebb_graph g;
    ebb_error err;
    if (ebb_source_load(root, EBB_SOURCE_UNKNOWN, &g, &err) != EBB_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(g.kind, EBB_SOURCE_DIESEL);
    assert_int_equal(g.count, 4);
    assert_string_equal(g.revs[0].id, "00000000000000");
    assert_string_equal(g.revs[0].name, "diesel_initial_setup");
    assert_string_equal(g.revs[1].id, "20170831210424"); /* dashes removed, as Diesel records */
    assert_string_equal(g.revs[1].name, "create_users");
    assert_non_null(g.revs[1].verify.sql);
    assert_non_null(strstr(g.revs[1].verify.path, "2017-08-31-210424_create_users/verify.sql"));
    assert_false(g.revs[1].up.no_transaction);
    assert_string_equal(g.revs[2].id, "20180101000000");
    assert_true(g.revs[2].up.no_transaction);
    assert_true(g.revs[2].down.no_transaction);
    assert_false(g.revs[3].up.no_transaction);
    assert_int_equal(g.revs[3].parents[0], 2);
    ebb_graph_fini(&g);
    ebb_tmptree_remove(root);
}

static void test_numeric_sort(void **state)
{
    (void)state;
    char *root = ebb_test_tree_new();
    folder(root, "00011_c");
    folder(root, "9_a");
    folder(root, "10_b");
    ebb_graph g;
    ebb_error err;
    if (ebb_source_load(root, EBB_SOURCE_DIESEL, &g, &err) != EBB_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(g.count, 3);
    assert_string_equal(g.revs[0].id, "9");
    assert_string_equal(g.revs[1].id, "10");
    assert_string_equal(g.revs[2].id, "00011");
    ebb_graph_fini(&g);
    ebb_tmptree_remove(root);
}

static void test_duplicate_version(void **state)
{
    (void)state;
    char *root = ebb_test_tree_new();
    folder(root, "2017-08-31-210424_a");
    folder(root, "20170831210424_b");
    ebb_test_load_fails(root, EBB_SOURCE_DIESEL, EBB_E_INVALID, "2017-08-31-210424_a/", "20170831210424_b/");
    ebb_tmptree_remove(root);
}

static void test_up_without_down(void **state)
{
    (void)state;
    char *root = ebb_test_tree_new();
    folder(root, "1_a");
    ebb_test_tree_put(root, "2_b/up.sql", "SELECT 1;");
    ebb_test_load_fails(root, EBB_SOURCE_DIESEL, EBB_E_INVALID, "2_b/up.sql", "no down");
    ebb_tmptree_remove(root);

    root = ebb_test_tree_new();
    ebb_test_tree_put(root, "3_c/README", "no scripts");
    ebb_test_load_fails(root, EBB_SOURCE_DIESEL, EBB_E_INVALID, "3_c", "without up.sql");
    ebb_tmptree_remove(root);
}

static void test_unreadable_file(void **state)
{
    (void)state;
    char *root = ebb_test_tree_new();
    ebb_test_tree_put(root, "1_a/down.sql", "SELECT 1;");
    ebb_error err;
    assert_int_equal(ebb_tmptree_mkdir(root, "1_a/up.sql", &err), EBB_OK);
    ebb_test_load_fails(root, EBB_SOURCE_DIESEL, EBB_E_IO, "1_a/up.sql", "not a regular file");
    ebb_tmptree_remove(root);
}

static void test_no_transaction_two_statements(void **state)
{
    (void)state;
    char *root = ebb_test_tree_new();
    ebb_test_tree_put(root, "1_a/up.sql",
        "CREATE INDEX CONCURRENTLY i ON t (a);\nCREATE INDEX CONCURRENTLY j ON t (b);\n");
    ebb_test_tree_put(root, "1_a/down.sql", "DROP INDEX i;");
    ebb_test_tree_put(root, "1_a/metadata.toml", "run_in_transaction = false\n");
    ebb_test_load_fails(root, EBB_SOURCE_DIESEL, EBB_E_INVALID, "1_a/up.sql:2", "one statement");
    ebb_tmptree_remove(root);
}

static void test_metadata_reader_refuses_what_it_does_not_know(void **state)
{
    (void)state;
    const char *bad[][2] = {
        {"run_in_transaction = \"false\"\n", "metadata.toml:1"},
        {"# ok\nrun_in_transaction = false\nrun_in_transaction = true\n", "metadata.toml:3"},
        {"\n[section]\n", "metadata.toml:2"},
        {"run_in_transactions = false\n", "metadata.toml:1"},
        {"run_in_transaction = false extra\n", "metadata.toml:1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *root = ebb_test_tree_new();
        folder(root, "1_a");
        ebb_test_tree_put(root, "1_a/metadata.toml", bad[i][0]);
        ebb_test_load_fails(root, EBB_SOURCE_DIESEL, EBB_E_INVALID, "1_a/", bad[i][1]);
        ebb_tmptree_remove(root);
    }
}

static void test_near_misses(void **state)
{
    (void)state;
    char *root = ebb_test_tree_new();
    folder(root, "1_a");
    ebb_test_tree_put(root, "1_a/up.sq", "SELECT 1;");
    ebb_test_load_fails(root, EBB_SOURCE_DIESEL, EBB_E_INVALID, "1_a/up.sq", "looks like a migration");
    ebb_tmptree_remove(root);

    root = ebb_test_tree_new();
    folder(root, "1_a");
    folder(root, "2x_b");
    ebb_test_load_fails(root, EBB_SOURCE_DIESEL, EBB_E_INVALID, "2x_b", "looks like a migration folder");
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
        cmocka_unit_test(test_metadata_reader_refuses_what_it_does_not_know),
        cmocka_unit_test(test_near_misses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
