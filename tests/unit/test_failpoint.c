/* Unit tests of the test-only failpoints: the spec parser, hold until released (once), abort, and
 * nothing for points the spec does not arm. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/failpoint.h"
#include "tests/support/tmpdir.h"

static char dir[512];

static void nap_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static bool exists(const char *name)
{
    char path[640];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

static void test_spec(void **state)
{
    (void)state;
    ebb_failpoint_action a = EBB_FAILPOINT_ABORT;
    assert_int_equal(ebb_failpoint_spec_action(NULL, "verify", &a, NULL), EBB_OK);
    assert_int_equal(a, EBB_FAILPOINT_OFF);
    assert_int_equal(
        ebb_failpoint_spec_action("verify:hold,backup.dump:abort", "backup.dump", &a, NULL),
        EBB_OK);
    assert_int_equal(a, EBB_FAILPOINT_ABORT);
    assert_int_equal(ebb_failpoint_spec_action("verify:hold,,", "verify", &a, NULL), EBB_OK);
    assert_int_equal(a, EBB_FAILPOINT_HOLD);
    assert_int_equal(ebb_failpoint_spec_action("verify:hold", "precheck", &a, NULL), EBB_OK);
    assert_int_equal(a, EBB_FAILPOINT_OFF);

    ebb_error err;
    a = EBB_FAILPOINT_HOLD;
    assert_int_equal(ebb_failpoint_spec_action("verify", "verify", &a, &err), EBB_E_INVALID);
    assert_non_null(strstr(err.msg, "'verify'"));
    assert_int_equal(a, EBB_FAILPOINT_HOLD); /* out-parameter untouched on failure */
    assert_int_equal(ebb_failpoint_spec_action("verfy:hold", "verify", &a, &err), EBB_E_INVALID);
    assert_non_null(strstr(err.msg, "no failpoint 'verfy'"));
    assert_int_equal(ebb_failpoint_spec_action("verify:sleep", "verify", &a, &err), EBB_E_INVALID);
    assert_non_null(strstr(err.msg, "sleep"));
    /* A bad entry anywhere refuses the whole spec, whichever point is asked about. */
    assert_int_equal(ebb_failpoint_spec_action("verify:hold,x:hold", "verify", &a, &err),
                     EBB_E_INVALID);
    assert_int_equal(ebb_failpoint_spec_action("verify:hold,verify:abort", "verify", &a, &err),
                     EBB_E_INVALID);
    assert_non_null(strstr(err.msg, "twice"));
    for (size_t i = 0; EBB_FAILPOINT_NAMES[i] != NULL; i++) {
        char spec[64];
        snprintf(spec, sizeof spec, "%s:hold", EBB_FAILPOINT_NAMES[i]);
        assert_int_equal(ebb_failpoint_spec_action(spec, EBB_FAILPOINT_NAMES[i], &a, NULL), EBB_OK);
        assert_int_equal(a, EBB_FAILPOINT_HOLD);
    }
}

static void test_init(void **state)
{
    (void)state;
    /* The spec main() set parses and holds have a directory. */
    assert_int_equal(ebb_failpoint_init(NULL), EBB_OK);
}

static atomic_bool passed;

static void *reach_verify(void *arg)
{
    (void)arg;
    ebb_failpoint("verify");
    atomic_store(&passed, true);
    return NULL;
}

static void test_hold(void **state)
{
    (void)state;
    /* An unarmed point and an unknown name: nothing happens. */
    ebb_failpoint("stop_services");
    ebb_failpoint("no.such.point");
    assert_false(exists("stop_services.held"));

    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, reach_verify, NULL), 0);
    int waited = 0;
    while (!exists("verify.held") && waited < 5000) {
        nap_ms(10);
        waited += 10;
    }
    assert_true(exists("verify.held"));
    nap_ms(100);
    assert_false(atomic_load(&passed)); /* still held */

    char path[640];
    snprintf(path, sizeof path, "%s/verify.release", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_true(atomic_load(&passed));
    assert_false(exists("verify.held"));
    assert_false(exists("verify.release"));

    /* Fired once: reaching it again does not hold. */
    ebb_failpoint("verify");
    assert_false(exists("verify.held"));
}

static void test_abort(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        ebb_failpoint("precheck");
        _exit(0); /* not reached when the point aborts */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
}

int main(void)
{
    if (ebb_test_tmpdir_make("ebb-failpoint", dir, sizeof dir) != 0)
        return 1;
    /* Before any failpoint is reached: the spec is read once per process. */
    setenv("EBB_FAILPOINTS", "verify:hold,precheck:abort", 1);
    setenv("EBB_FAILPOINT_DIR", dir, 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec),
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_hold),
        cmocka_unit_test(test_abort),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ebb_test_tmpdir_remove(dir);
    return rc;
}
