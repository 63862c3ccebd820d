/* Unit tests for the SQL statement splitter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "agent/sql_split.h"

static void split_ok(const char *sql, ebb_sql_split_mode mode, ebb_sql_script *out)
{
    ebb_error err;
    ebb_code rc = ebb_sql_split(sql, mode, out, &err);
    if (rc != EBB_OK)
        fail_msg("split failed: %s", err.msg);
}

static void test_statements_lines_and_text(void **state)
{
    (void)state;
    const char *sql = "-- leading comment; with a semicolon\n"
                      "CREATE TABLE t (a int);\n"
                      "\n"
                      "/* block /* nested */ comment */ INSERT INTO t VALUES (1);\n"
                      "ALTER TABLE t ADD COLUMN b text  ;  \n";
    ebb_sql_script s;
    split_ok(sql, EBB_SQL_SPLIT_PARSER, &s);
    assert_int_equal(s.count, 3);
    assert_string_equal(s.stmts[0].text, "CREATE TABLE t (a int)");
    assert_int_equal(s.stmts[0].line, 2);
    assert_string_equal(s.stmts[1].text, "INSERT INTO t VALUES (1)");
    assert_int_equal(s.stmts[1].line, 4);
    assert_string_equal(s.stmts[2].text, "ALTER TABLE t ADD COLUMN b text");
    assert_int_equal(s.stmts[2].line, 5);
    assert_memory_equal(sql + s.stmts[2].offset, "ALTER", 5);
    ebb_sql_script_fini(&s);
}

static void test_semicolons_inside_strings_and_bodies(void **state)
{
    (void)state;
    const char *sql = "SELECT 'a;b';\n"
                      "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$;\n"
                      "DO $x$ BEGIN PERFORM 1; END $x$";
    ebb_sql_script s;
    split_ok(sql, EBB_SQL_SPLIT_PARSER, &s);
    assert_int_equal(s.count, 3);
    assert_string_equal(s.stmts[0].text, "SELECT 'a;b'");
    assert_string_equal(s.stmts[2].text, "DO $x$ BEGIN PERFORM 1; END $x$");
    assert_int_equal(s.stmts[2].line, 3);
    ebb_sql_script_fini(&s);
}

static void test_only_comments_is_empty(void **state)
{
    (void)state;
    ebb_sql_script s;
    split_ok("-- nothing here\n/* nor here */\n;\n", EBB_SQL_SPLIT_PARSER, &s);
    assert_int_equal(s.count, 0);
    ebb_sql_script_fini(&s);
    split_ok("", EBB_SQL_SPLIT_SCANNER, &s);
    assert_int_equal(s.count, 0);
    ebb_sql_script_fini(&s);
}

static void test_syntax_error_names_line(void **state)
{
    (void)state;
    ebb_sql_script s = {0};
    ebb_error err;
    ebb_code rc = ebb_sql_split("SELECT 1;\n\nCREATE TABEL x (a int);\n", EBB_SQL_SPLIT_PARSER,
                                &s, &err);
    assert_int_equal(rc, EBB_E_INVALID);
    assert_non_null(strstr(err.msg, "line 3"));
    assert_null(s.stmts); /* out untouched on failure */
}

static void test_scanner_splits_unparsable_sql(void **state)
{
    (void)state;
    ebb_sql_script s;
    split_ok("SELECT 1;\nCREATE TABEL x (a int);\nSELECT 2", EBB_SQL_SPLIT_SCANNER, &s);
    assert_int_equal(s.count, 3);
    assert_string_equal(s.stmts[1].text, "CREATE TABEL x (a int)");
    assert_int_equal(s.stmts[1].line, 2);
    ebb_sql_script_fini(&s);
}

static void test_line_of(void **state)
{
    (void)state;
    assert_int_equal(ebb_sql_line_of("a\nb\nc", 0), 1);
    assert_int_equal(ebb_sql_line_of("a\nb\nc", 2), 2);
    assert_int_equal(ebb_sql_line_of("a\nb\nc", 4), 3);
    assert_int_equal(ebb_sql_line_of("a", 99), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_statements_lines_and_text),
        cmocka_unit_test(test_semicolons_inside_strings_and_bodies),
        cmocka_unit_test(test_only_comments_is_empty),
        cmocka_unit_test(test_syntax_error_names_line),
        cmocka_unit_test(test_scanner_splits_unparsable_sql),
        cmocka_unit_test(test_line_of),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
