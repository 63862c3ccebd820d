/* Unit tests for the error type and the exit-code mapping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "common/error.h"
#include "common/exit_codes.h"

static void test_every_code_has_a_name(void **state)
{
    (void)state;
    for (int c = 0; c < EBB_E__COUNT; c++)
        assert_string_not_equal(ebb_code_name((ebb_code)c), "unknown");
    assert_string_equal(ebb_code_name(EBB_E__COUNT), "unknown");
    assert_string_equal(ebb_code_name((ebb_code)-1), "unknown");
}

static void test_set_and_prefix(void **state)
{
    (void)state;
    ebb_error err;
    ebb_error_clear(&err);
    assert_int_equal(ebb_error_set(&err, EBB_E_CONFIG, "key %s", "x"), EBB_E_CONFIG);
    assert_int_equal(err.code, EBB_E_CONFIG);
    assert_string_equal(err.msg, "key x");
    ebb_error_prefix(&err, "agent.conf:%d", 3);
    assert_string_equal(err.msg, "agent.conf:3: key x");
    assert_int_equal(ebb_error_set(NULL, EBB_E_IO, "ignored"), EBB_E_IO);
}

static void test_errno_appends_strerror(void **state)
{
    (void)state;
    ebb_error err;
    assert_int_equal(ebb_error_errno(&err, EBB_E_IO, ENOENT, "open %s", "f"), EBB_E_IO);
    assert_int_equal(err.sys_errno, ENOENT);
    assert_non_null(strstr(err.msg, "open f: "));
    assert_non_null(strstr(err.msg, strerror(ENOENT)));
}

static void test_exit_mapping(void **state)
{
    (void)state;
    assert_int_equal(ebb_exit_for_code(EBB_OK), EBB_EXIT_OK);
    assert_int_equal(ebb_exit_for_code(EBB_E_INVALID), EBB_EXIT_USAGE);
    assert_int_equal(ebb_exit_for_code(EBB_E_KEY_PERM), EBB_EXIT_CONFIG);
    assert_int_equal(ebb_exit_for_code(EBB_E_LOCKED), EBB_EXIT_REFUSED);
    assert_int_equal(ebb_exit_for_code(EBB_E_VERIFY), EBB_EXIT_VERIFY);
    assert_int_equal(ebb_exit_for_code(EBB_E_TIMEOUT), EBB_EXIT_UNAVAILABLE);
    assert_int_equal(ebb_exit_for_code(EBB_E_PG), EBB_EXIT_FAILURE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_code_has_a_name),
        cmocka_unit_test(test_set_and_prefix),
        cmocka_unit_test(test_errno_appends_strerror),
        cmocka_unit_test(test_exit_mapping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
