/* Unit tests for the dbmate source reader. */
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

#define SIMPLE "-- migrate:up\nSELECT 1;\n-- migrate:down\nSELECT 2;\n"

static void test_good_tree(void **state)
{
    (void)state;
    char *root = ebb_test_tree_new();
    ebb_test_tree_put(root, "20240101120000_create_users.sql",
        "-- a comment before the first section is fine\n"
        "\n"
        "-- migrate:up\n"
        "CREATE TABLE users (id int);\n"
        "-- migrate:down\n"
        "DROP TABLE users;\n");
    ebb_test_tree_put(root, "20240102000000_index.sql",
        "-- migrate:up transaction:false\n"
        "CREATE INDEX CONCURRENTLY users_id ON users (id);\n"
        "\n"
        "-- migrate:down\n"
        "-- ebb:no-transaction\n"
        "DROP INDEX CONCURRENTLY users_id;\n");
    ebb_test_tree_put(root, "20240102000000_index.sql.verify", "SELECT 1;\n");
    ebb_test_tree_put(root, "schema.txt", "ignored\n");
    ebb_graph g;
    ebb_error err;
    if (ebb_source_load(root, EBB_SOURCE_UNKNOWN, &g, &err) != EBB_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(g.kind, EBB_SOURCE_DBMATE);
    assert_int_equal(g.count, 2);
    assert_string_equal(g.revs[0].id, "20240101120000");
    assert_string_equal(g.revs[0].name, "create_users");
    assert_string_equal(g.revs[0].up.sql, "CREATE TABLE users (id int);\n");
    assert_int_equal(g.revs[0].up.first_line, 4);
    assert_string_equal(g.revs[0].down.sql, "DROP TABLE users;\n");
    assert_int_equal(g.revs[0].down.first_line, 6);
    assert_false(g.revs[0].up.no_transaction);
    assert_false(g.revs[0].down.no_transaction);
    assert_string_not_equal(g.revs[0].up.checksum, g.revs[0].down.checksum);

    assert_true(g.revs[1].up.no_transaction);   /* transaction:false */
    assert_true(g.revs[1].down.no_transaction); /* first line of the section */
    assert_string_equal(g.revs[1].up.sql, "CREATE INDEX CONCURRENTLY users_id ON users (id);\n\n");
    assert_non_null(g.revs[1].verify.sql);
    assert_null(g.revs[0].verify.sql);
    assert_int_equal(g.revs[1].parents[0], 0);
    ebb_graph_fini(&g);
    ebb_tmptree_remove(root);
}

static void test_numeric_sort(void **state)
{
    (void)state;
    char *root = ebb_test_tree_new();
    ebb_test_tree_put(root, "00011_c.sql", SIMPLE);
    ebb_test_tree_put(root, "9_a.sql", SIMPLE);
    ebb_test_tree_put(root, "10.sql", SIMPLE);
    ebb_graph g;
    ebb_error err;
    if (ebb_source_load(root, EBB_SOURCE_DBMATE, &g, &err) != EBB_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(g.count, 3);
    assert_string_equal(g.revs[0].id, "9");
    assert_string_equal(g.revs[1].id, "10");
    assert_string_equal(g.revs[1].name, "");
    assert_string_equal(g.revs[2].id, "00011");
    ebb_graph_fini(&g);
    ebb_tmptree_remove(root);
}

static void test_duplicate_version(void **state)
{
    (void)state;
    char *root = ebb_test_tree_new();
    ebb_test_tree_put(root, "001_a.sql", SIMPLE);
    ebb_test_tree_put(root, "01_b.sql", SIMPLE);
    ebb_test_load_fails(root, EBB_SOURCE_DBMATE, EBB_E_INVALID, "001_a.sql", "01_b.sql");
    ebb_tmptree_remove(root);
}

static void test_up_without_down(void **state)
{
    (void)state;
    char *root = ebb_test_tree_new();
    ebb_test_tree_put(root, "001_a.sql", "-- migrate:up\nSELECT 1;\n");
    ebb_test_load_fails(root, EBB_SOURCE_DBMATE, EBB_E_INVALID, "001_a.sql", "no -- migrate:down");
    ebb_tmptree_remove(root);
}

static void test_bad_sections(void **state)
{
    (void)state;
    const char *bad[][2] = {
        {"SELECT 0;\n-- migrate:up\nSELECT 1;\n-- migrate:down\n", "001_a.sql:1"},
        {"-- migrate:down\nSELECT 1;\n-- migrate:up\n", "before -- migrate:up"},
        {"-- migrate:up\n-- migrate:up\n-- migrate:down\n", "001_a.sql:2"},
        {"-- migrate:up transaction:maybe\n-- migrate:down\n", "transaction:maybe"},
        {"-- migrate:upgrade\n", "migrate:upgrade"},
        {"-- ebb:no-transaction\n-- migrate:up\nSELECT 1;\n-- migrate:down\n", "no effect"},
        {"nothing\n", "SQL before"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *root = ebb_test_tree_new();
        ebb_test_tree_put(root, "001_a.sql", bad[i][0]);
        ebb_test_load_fails(root, EBB_SOURCE_DBMATE, EBB_E_INVALID, "001_a.sql", bad[i][1]);
        ebb_tmptree_remove(root);
    }
}

static void test_unreadable_file(void **state)
{
    (void)state;
    char *root = ebb_test_tree_new();
    ebb_test_tree_put(root, "001_a.sql", SIMPLE);
    ebb_error err;
    assert_int_equal(ebb_tmptree_mkdir(root, "002_b.sql", &err), EBB_OK);
    ebb_test_load_fails(root, EBB_SOURCE_DBMATE, EBB_E_IO, "002_b.sql", "not a regular file");
    ebb_tmptree_remove(root);
}

static void test_no_transaction_two_statements(void **state)
{
    (void)state;
    char *root = ebb_test_tree_new();
    ebb_test_tree_put(root, "001_a.sql",
        "-- migrate:up\nSELECT 1;\n-- migrate:down transaction:false\nDROP INDEX CONCURRENTLY "
        "i;\nDROP INDEX CONCURRENTLY j;\n");
    /* The second statement is on line 5 of the file. */
    ebb_test_load_fails(root, EBB_SOURCE_DBMATE, EBB_E_INVALID, "001_a.sql:5", "one statement");
    ebb_tmptree_remove(root);
}

static void test_verify_named_like_a_migration(void **state)
{
    (void)state;
    char *root = ebb_test_tree_new();
    ebb_test_tree_put(root, "001_a.sql", SIMPLE);
    ebb_test_tree_put(root, "001_a.verify.sql", "SELECT 1;");
    ebb_test_load_fails(root, EBB_SOURCE_DBMATE, EBB_E_INVALID, "001_a.verify.sql", ".sql.verify");
    ebb_tmptree_remove(root);

    root = ebb_test_tree_new();
    ebb_test_tree_put(root, "001_a.sql", SIMPLE);
    ebb_test_tree_put(root, "002_b.sq", SIMPLE);
    ebb_test_load_fails(root, EBB_SOURCE_DBMATE, EBB_E_INVALID, "002_b.sq", "looks like a migration");
    ebb_tmptree_remove(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_tree),
        cmocka_unit_test(test_numeric_sort),
        cmocka_unit_test(test_duplicate_version),
        cmocka_unit_test(test_up_without_down),
        cmocka_unit_test(test_bad_sections),
        cmocka_unit_test(test_unreadable_file),
        cmocka_unit_test(test_no_transaction_two_statements),
        cmocka_unit_test(test_verify_named_like_a_migration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
