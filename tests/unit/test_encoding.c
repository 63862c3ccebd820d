/* Unit tests for the hex and base64 helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common/encoding.h"

static void test_hex_round_trip(void **state)
{
    (void)state;
    const uint8_t bin[] = {0x00, 0x01, 0xab, 0xff};
    char hex[9];
    assert_int_equal(ebb_hex_size(sizeof bin), 9);
    assert_int_equal(ebb_hex_encode(bin, sizeof bin, hex, sizeof hex, NULL), EBB_OK);
    assert_string_equal(hex, "0001abff");
    uint8_t back[4];
    size_t len = 99;
    assert_int_equal(ebb_hex_decode("0001ABff", back, sizeof back, &len, NULL), EBB_OK);
    assert_int_equal(len, 4);
    assert_memory_equal(back, bin, 4);
}

static void test_hex_rejects(void **state)
{
    (void)state;
    char small[8];
    ebb_error err;
    const uint8_t bin[4] = {0};
    assert_int_equal(ebb_hex_encode(bin, 4, small, sizeof small, &err), EBB_E_INVALID);
    uint8_t out[4];
    size_t len = 77;
    assert_int_equal(ebb_hex_decode("abc", out, sizeof out, &len, &err), EBB_E_INVALID);
    assert_non_null(strstr(err.msg, "odd length"));
    assert_int_equal(ebb_hex_decode("zz00", out, sizeof out, &len, &err), EBB_E_INVALID);
    assert_int_equal(ebb_hex_decode("00 1", out, sizeof out, &len, &err), EBB_E_INVALID);
    assert_int_equal(ebb_hex_decode("0011223344", out, sizeof out, &len, &err), EBB_E_INVALID);
    assert_int_equal(len, 77); /* untouched on failure */
}

static void test_base64_round_trip(void **state)
{
    (void)state;
    const uint8_t bin[] = "hello";
    char b64[16];
    assert_int_equal(ebb_base64_size(5), 9);
    assert_int_equal(ebb_base64_encode(bin, 5, b64, sizeof b64, NULL), EBB_OK);
    assert_string_equal(b64, "aGVsbG8=");
    uint8_t back[8];
    size_t len = 0;
    assert_int_equal(ebb_base64_decode("aGVsbG8=", back, sizeof back, &len, NULL), EBB_OK);
    assert_int_equal(len, 5);
    assert_memory_equal(back, "hello", 5);
}

static void test_base64_rejects(void **state)
{
    (void)state;
    uint8_t out[4];
    size_t len = 55;
    char small[4];
    assert_int_equal(ebb_base64_encode((const uint8_t *)"hello", 5, small, sizeof small, NULL),
                     EBB_E_INVALID);
    assert_int_equal(ebb_base64_decode("aGVsbG8", out, sizeof out, &len, NULL), EBB_E_INVALID);
    assert_int_equal(ebb_base64_decode("aGVs bG8=", out, sizeof out, &len, NULL), EBB_E_INVALID);
    assert_int_equal(ebb_base64_decode("aGVsbG8=", out, sizeof out, &len, NULL),
                     EBB_E_INVALID); /* 5 bytes do not fit in 4 */
    assert_int_equal(ebb_base64_decode("aGVs!G8=", out, sizeof out, &len, NULL), EBB_E_INVALID);
    assert_int_equal(len, 55);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hex_round_trip),
        cmocka_unit_test(test_hex_rejects),
        cmocka_unit_test(test_base64_round_trip),
        cmocka_unit_test(test_base64_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
