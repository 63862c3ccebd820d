/* Unit tests for the pure data-check logic: tables named by scripts, row-count comparison. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "agent/datacheck.h"

static void free_names(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void test_touched_tables_from_parser(void **state)
{
    (void)state;
    const char *scripts[] = {
        "DROP TABLE app.orders, audit_log;\n"
        "ALTER TABLE users DROP COLUMN email;\n"
        "-- a comment naming fake_table\n"
        "INSERT INTO app.items SELECT * FROM staging;",
        NULL, /* a revision without this script */
        "TRUNCATE t1; ALTER TABLE old_name RENAME TO new_name; DROP INDEX users_idx;"
        " UPDATE \"Mixed Case\" SET a = 1",
    };
    char **names = NULL;
    size_t n = 0;
    ebb_error err;
    assert_int_equal(ebb_datacheck_touched_tables(scripts, 3, &names, &n, &err), EBB_OK);
    const char *want[] = {"Mixed Case", "app.items", "app.orders", "audit_log", "new_name",
                          "old_name",   "staging",   "t1",         "users"};
    assert_int_equal(n, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(names[i], want[i]);
    free_names(names, n);
}

/* A path that names no table (views, indexes): an empty list (found by the fault drills under
 * UBSan: the agent died sorting a NULL array). */
static void test_touched_tables_none(void **state)
{
    (void)state;
    const char *scripts[] = {"DROP VIEW account_totals;", "DROP INDEX orders_account_idx;"};
    char **names = NULL;
    size_t n = 7;
    assert_int_equal(ebb_datacheck_touched_tables(scripts, 2, &names, &n, NULL), EBB_OK);
    assert_int_equal(n, 0);
    free_names(names, n);
}

static void test_touched_tables_bad_sql(void **state)
{
    (void)state;
    const char *scripts[] = {"ALTER TABL x"};
    char **names = NULL;
    size_t n = 0;
    ebb_error err;
    assert_int_equal(ebb_datacheck_touched_tables(scripts, 1, &names, &n, &err), EBB_E_INVALID);
    assert_null(names);
}

static void test_name_matching(void **state)
{
    (void)state;
    char *names[] = {"app.orders", "users"};
    assert_true(ebb_datacheck_name_matches("app", "orders", names, 2));
    assert_false(ebb_datacheck_name_matches("public", "orders", names, 2));
    assert_true(ebb_datacheck_name_matches("public", "users", names, 2));
    assert_true(ebb_datacheck_name_matches("app", "users", names, 2));
    assert_false(ebb_datacheck_name_matches("ap", "orders", names, 2));
    assert_false(ebb_datacheck_name_matches("public", "user", names, 2));
}

static void test_compare_counts(void **state)
{
    (void)state;
    ebb_table_count b[] = {{"public", "a", 10}, {"public", "b", 5}, {"public", "gone", 3},
                           {"public", "same", 7}};
    ebb_table_count a[] = {{"public", "a", 9}, {"public", "b", 5}, {"public", "new", 0},
                           {"public", "same", 7}};
    ebb_row_counts before = {b, 4}, after = {a, 4};
    char *touched[] = {"gone"};
    ebb_count_diff d;
    ebb_error err;
    assert_int_equal(ebb_datacheck_compare_counts(&before, &after, touched, 1, &d, &err), EBB_OK);
    assert_int_equal(d.count, 3);
    assert_string_equal(d.changes[0].table, "a");
    assert_int_equal(d.changes[0].before, 10);
    assert_int_equal(d.changes[0].after, 9);
    assert_false(d.changes[0].touched);
    assert_string_equal(d.changes[1].table, "gone");
    assert_int_equal(d.changes[1].after, -1);
    assert_true(d.changes[1].touched);
    assert_string_equal(d.changes[2].table, "new");
    assert_int_equal(d.changes[2].before, -1);
    assert_int_equal(d.n_untouched, 2);
    ebb_count_diff_fini(&d);

    assert_int_equal(ebb_datacheck_compare_counts(&before, &before, NULL, 0, &d, &err), EBB_OK);
    assert_int_equal(d.count, 0);
    assert_int_equal(d.n_untouched, 0);
    ebb_count_diff_fini(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_touched_tables_from_parser),
        cmocka_unit_test(test_touched_tables_none),
        cmocka_unit_test(test_touched_tables_bad_sql),
        cmocka_unit_test(test_name_matching),
        cmocka_unit_test(test_compare_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
