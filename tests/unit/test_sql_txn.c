/* Transaction control in scripts: BEGIN/COMMIT unwrapped, the rest refused with file and line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "agent/sql_txn.h"

static ebb_code unwrap(const char *sql, bool rollback_ok, ebb_sql_script *out, int *removed,
                       ebb_error *err)
{
    ebb_code rc = ebb_sql_split(sql, EBB_SQL_SPLIT_PARSER, out, err);
    if (rc != EBB_OK)
        fail_msg("split: %s", err->msg);
    return ebb_sql_txn_unwrap(out, "deploy/x.sql", 1, rollback_ok, removed, err);
}

static void test_wrapped(void **state)
{
    (void)state;
    ebb_sql_script s;
    ebb_error err;
    int removed = -1;
    assert_int_equal(unwrap("-- Deploy x\n\nBEGIN;\nCREATE TABLE a (id int);\nSAVEPOINT p;\n"
                            "ROLLBACK TO SAVEPOINT p;\nCOMMIT;\n",
                            false, &s, &removed, &err),
                     EBB_OK);
    assert_int_equal(removed, 2);
    assert_int_equal(s.count, 3);
    assert_string_equal(s.stmts[0].text, "CREATE TABLE a (id int)");
    assert_int_equal(s.stmts[0].line, 4);
    ebb_sql_script_fini(&s);

    /* START TRANSACTION ... END, lower case */
    assert_int_equal(unwrap("start transaction; select 1; end;", false, &s, &removed, &err),
                     EBB_OK);
    assert_int_equal(s.count, 1);
    ebb_sql_script_fini(&s);

    /* No transaction control at all: unchanged. */
    assert_int_equal(unwrap("SELECT 1; SELECT 2;", false, &s, &removed, &err), EBB_OK);
    assert_int_equal(removed, 0);
    assert_int_equal(s.count, 2);
    ebb_sql_script_fini(&s);
}

static void test_verify_rollback(void **state)
{
    (void)state;
    ebb_sql_script s;
    ebb_error err;
    const char *verify = "BEGIN;\nSELECT 1 FROM pg_class WHERE false;\nROLLBACK;\n";
    assert_int_equal(unwrap(verify, true, &s, NULL, &err), EBB_OK);
    assert_int_equal(s.count, 1);
    ebb_sql_script_fini(&s);
    /* The same ending in a deploy script is refused: it would change nothing. */
    assert_int_equal(unwrap(verify, false, &s, NULL, &err), EBB_E_REFUSED);
    assert_non_null(strstr(err.msg, "deploy/x.sql:3: "));
    assert_int_equal(s.count, 3); /* unchanged on failure */
    ebb_sql_script_fini(&s);
}

static void expect_refused(const char *sql, const char *where, const char *why)
{
    ebb_sql_script s;
    ebb_error err;
    assert_int_equal(unwrap(sql, false, &s, NULL, &err), EBB_E_REFUSED);
    if (!strstr(err.msg, where) || !strstr(err.msg, why))
        fail_msg("message \"%s\" lacks \"%s\" or \"%s\"", err.msg, where, why);
    ebb_sql_script_fini(&s);
}

static void test_refused(void **state)
{
    (void)state;
    expect_refused("BEGIN;\nCREATE TABLE a (id int);\nCOMMIT;\nCREATE TABLE b (id int);\n",
                   "deploy/x.sql:3: ", "middle");
    expect_refused("BEGIN;\nCREATE TABLE a (id int);\n", "deploy/x.sql:1: ", "without a COMMIT");
    expect_refused("CREATE TABLE a (id int);\nCOMMIT;\n", "deploy/x.sql:2: ", "without a BEGIN");
    expect_refused("BEGIN ISOLATION LEVEL SERIALIZABLE;\nSELECT 1;\nCOMMIT;\n",
                   "deploy/x.sql:1: ", "options");
    expect_refused("BEGIN;\nSELECT 1;\nPREPARE TRANSACTION 'x';\n",
                   "deploy/x.sql:3: ", "PREPARE TRANSACTION");
    expect_refused("SELECT 1;\nBEGIN;\nSELECT 2;\nCOMMIT;\n", "deploy/x.sql:2: ", "middle");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrapped),
        cmocka_unit_test(test_verify_rollback),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
