/* Unit tests for atomic writes and bounded reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "tests/support/tmpdir.h"

static char dir[PATH_MAX];

static int setup(void **state)
{
    (void)state;
    return ebb_test_tmpdir_make("ebb-fsutil", dir, sizeof dir);
}

static int teardown(void **state)
{
    (void)state;
    return ebb_test_tmpdir_remove(dir);
}

static void test_write_then_read(void **state)
{
    (void)state;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/a", dir);
    assert_int_equal(ebb_file_write_atomic(path, "one", 3, 0600, NULL), EBB_OK);
    assert_int_equal(ebb_file_write_atomic(path, "second", 6, 0640, NULL), EBB_OK);
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(ebb_file_read_all(path, 100, &buf, &len, NULL), EBB_OK);
    assert_int_equal(len, 6);
    assert_string_equal((char *)buf, "second"); /* NUL-terminated */
    free(buf);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_false(ebb_file_exists(tmp));
    assert_true(ebb_file_exists(path));
}

static void test_mode_ignores_umask(void **state)
{
    (void)state;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/wide", dir);
    mode_t old = umask(0077);
    ebb_code rc = ebb_file_write_atomic(path, "x", 1, 0644, NULL);
    umask(old);
    assert_int_equal(rc, EBB_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
}

static void test_stale_tmp_replaced(void **state)
{
    (void)state;
    char path[PATH_MAX], tmp[PATH_MAX];
    snprintf(path, sizeof path, "%s/b", dir);
    snprintf(tmp, sizeof tmp, "%s/b.tmp", dir);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs("left over from a crash", f);
    fclose(f);
    assert_int_equal(ebb_file_write_atomic(path, "new", 3, 0600, NULL), EBB_OK);
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(ebb_file_read_all(path, 10, &buf, &len, NULL), EBB_OK);
    assert_string_equal((char *)buf, "new");
    free(buf);
}

static void test_read_limits_and_errors(void **state)
{
    (void)state;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/big", dir);
    assert_int_equal(ebb_file_write_atomic(path, "0123456789", 10, 0600, NULL), EBB_OK);
    uint8_t *buf = (uint8_t *)"untouched";
    size_t len = 42;
    ebb_error err;
    assert_int_equal(ebb_file_read_all(path, 9, &buf, &len, &err), EBB_E_INVALID);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "limit of 9"));
    assert_string_equal((char *)buf, "untouched");
    assert_int_equal(len, 42);
    assert_int_equal(ebb_file_read_all(path, 10, &buf, &len, NULL), EBB_OK); /* exactly at it */
    free(buf);

    char missing[PATH_MAX];
    snprintf(missing, sizeof missing, "%s/missing", dir);
    assert_int_equal(ebb_file_read_all(missing, 10, &buf, &len, &err), EBB_E_NOT_FOUND);
    assert_non_null(strstr(err.msg, missing));
    assert_int_equal(ebb_file_read_all(dir, 10, &buf, &len, &err), EBB_E_INVALID);
    assert_non_null(strstr(err.msg, "not a regular file"));

    char nodir[PATH_MAX];
    snprintf(nodir, sizeof nodir, "%s/no/such/dir/f", dir);
    assert_int_equal(ebb_file_write_atomic(nodir, "x", 1, 0600, &err), EBB_E_IO);
    assert_non_null(strstr(err.msg, "no/such/dir"));
}

static void test_empty_file(void **state)
{
    (void)state;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/empty", dir);
    assert_int_equal(ebb_file_write_atomic(path, "", 0, 0600, NULL), EBB_OK);
    uint8_t *buf = NULL;
    size_t len = 9;
    assert_int_equal(ebb_file_read_all(path, 0, &buf, &len, NULL), EBB_OK);
    assert_int_equal(len, 0);
    assert_string_equal((char *)buf, "");
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_then_read),    cmocka_unit_test(test_mode_ignores_umask),
        cmocka_unit_test(test_stale_tmp_replaced), cmocka_unit_test(test_read_limits_and_errors),
        cmocka_unit_test(test_empty_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
