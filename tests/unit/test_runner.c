/* Unit tests for the process runner: status, signals, timeouts, bounds, env, cwd, lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/runner.h"

static ebb_code run_sh(const char *script, ebb_run_opts *o, ebb_run_result *res, ebb_error *err)
{
    static const char *argv[4];
    argv[0] = "sh";
    argv[1] = "-c";
    argv[2] = script;
    argv[3] = NULL;
    o->argv = argv;
    return ebb_run(o, res, err);
}

static void assert_no_children(void)
{
    errno = 0;
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

/* Gone, or a zombie of some other parent: no longer running either way. */
static bool process_gone(pid_t pid)
{
    if (kill(pid, 0) != 0 && errno == ESRCH)
        return true;
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return true;
    size_t r = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[r] = '\0';
    const char *paren = strrchr(buf, ')');
    return paren != NULL && (paren[2] == 'Z' || paren[2] == 'X');
}

static void test_exit_code_and_capture(void **state)
{
    (void)state;
    ebb_run_opts o = {0};
    ebb_run_result res;
    ebb_error err;
    assert_int_equal(run_sh("echo out; echo err >&2; exit 3", &o, &res, &err), EBB_OK);
    assert_int_equal(res.exit_code, 3);
    assert_int_equal(res.term_signal, 0);
    assert_false(res.timed_out);
    assert_string_equal(res.out, "out\n");
    assert_int_equal(res.out_len, 4);
    assert_string_equal(res.err, "err\n");
    assert_int_equal(res.out_cut, 0);
    assert_true(res.duration_ms >= 0);
    char how[64];
    assert_string_equal(ebb_run_describe(&res, how, sizeof how), "exited 3");
    ebb_run_result_fini(&res);
    assert_null(res.out);

    /* ebb_run_check turns the exit status into an error naming the program and stderr. */
    assert_int_equal(ebb_run_check(&o, &res, &err), EBB_E_CHILD);
    assert_string_equal(err.msg, "sh exited 3: err");
    assert_int_equal(res.exit_code, 3);
    ebb_run_result_fini(&res);

    assert_int_equal(run_sh("true", &o, &res, &err), EBB_OK);
    assert_int_equal(res.exit_code, 0);
    assert_string_equal(res.out, "");
    ebb_run_result_fini(&res);
    assert_int_equal(ebb_run_check(&o, &res, &err), EBB_OK);
    ebb_run_result_fini(&res);
    assert_no_children();
}

static void test_signal_death(void **state)
{
    (void)state;
    ebb_run_opts o = {0};
    ebb_run_result res;
    ebb_error err;
    assert_int_equal(run_sh("echo dying >&2; kill -9 $$", &o, &res, &err), EBB_OK);
    assert_int_equal(res.exit_code, -1);
    assert_int_equal(res.term_signal, SIGKILL);
    assert_false(res.timed_out);
    char how[64];
    assert_non_null(strstr(ebb_run_describe(&res, how, sizeof how), "killed by signal 9"));
    ebb_run_result_fini(&res);
    assert_no_children();
}

static void test_timeout_kills_process_group(void **state)
{
    (void)state;
    ebb_run_opts o = {.timeout_ms = 300};
    ebb_run_result res;
    ebb_error err;
    /* The grandchild "sleep 30" must die with its parent's process group. */
    assert_int_equal(run_sh("sleep 30 & echo $!; wait", &o, &res, &err), EBB_OK);
    assert_true(res.timed_out);
    assert_int_equal(res.term_signal, SIGTERM);
    assert_true(res.duration_ms >= 300 && res.duration_ms < 5000);
    pid_t grandchild = (pid_t)atol(res.out);
    assert_true(grandchild > 0);
    bool gone = false;
    for (int i = 0; i < 100 && !gone; i++) {
        gone = process_gone(grandchild);
        if (!gone)
            usleep(20000);
    }
    assert_true(gone);
    char how[64];
    assert_non_null(strstr(ebb_run_describe(&res, how, sizeof how), "timed out"));
    ebb_run_result_fini(&res);

    /* SIGTERM ignored: SIGKILL after the grace period. */
    o.grace_ms = 200;
    assert_int_equal(run_sh("trap '' TERM; sleep 30", &o, &res, &err), EBB_OK);
    assert_true(res.timed_out);
    assert_int_equal(res.term_signal, SIGKILL);
    assert_true(res.duration_ms >= 500 && res.duration_ms < 5000);
    ebb_run_result_fini(&res);

    static const char *argv[] = {"sleep", "30", NULL};
    ebb_run_opts o2 = {.argv = argv, .timeout_ms = 100};
    assert_int_equal(ebb_run_check(&o2, &res, &err), EBB_E_TIMEOUT);
    assert_non_null(strstr(err.msg, "sleep timed out"));
    ebb_run_result_fini(&res);
    assert_no_children();
}

static void test_output_bound_keeps_head_and_tail(void **state)
{
    (void)state;
    ebb_run_opts o = {.max_output = 100};
    ebb_run_result res;
    ebb_error err;
    assert_int_equal(run_sh("printf START; head -c 10000 /dev/zero | tr '\\0' x; printf END; "
                            "head -c 300 /dev/zero | tr '\\0' y >&2",
                            &o, &res, &err),
                     EBB_OK);
    assert_int_equal(res.exit_code, 0);
    assert_int_equal(res.out_cut, 10008 - 100);
    assert_memory_equal(res.out, "STARTxxx", 8);
    assert_non_null(strstr(res.out, "\n[... 9908 bytes cut ...]\n"));
    size_t len = strlen(res.out);
    assert_int_equal(len, res.out_len);
    assert_string_equal(res.out + len - 6, "xxxEND");
    /* 50 bytes of head, the marker, 50 bytes of tail. */
    assert_int_equal(res.out_len, 100 + strlen("\n[... 9908 bytes cut ...]\n"));
    assert_int_equal(res.err_cut, 200);
    ebb_run_result_fini(&res);

    /* Exactly at the bound: nothing cut. */
    assert_int_equal(run_sh("head -c 100 /dev/zero | tr '\\0' z", &o, &res, &err), EBB_OK);
    assert_int_equal(res.out_len, 100);
    assert_int_equal(res.out_cut, 0);
    ebb_run_result_fini(&res);

    /* The default bound applies when none is given. */
    ebb_run_opts d = {0};
    assert_int_equal(run_sh("head -c 200000 /dev/zero", &d, &res, &err), EBB_OK);
    assert_int_equal(res.out_cut, 200000 - EBB_RUN_DEFAULT_MAX_OUTPUT);
    ebb_run_result_fini(&res);
}

static void test_env_cwd_stdin(void **state)
{
    (void)state;
    const char *env[] = {"EBB_RUNNER_X=one", "HOME=/nowhere", "EBB_RUNNER_X=two", NULL};
    ebb_run_opts o = {.env = env, .cwd = "/tmp"};
    ebb_run_result res;
    ebb_error err;
    setenv("EBB_RUNNER_KEPT", "kept", 1);
    assert_int_equal(run_sh("echo $EBB_RUNNER_X $HOME $EBB_RUNNER_KEPT; pwd", &o, &res, &err),
                     EBB_OK);
    assert_string_equal(res.out, "two /nowhere kept\n/tmp\n");
    ebb_run_result_fini(&res);

    /* stdin from a file, and /dev/null by default. */
    char path[] = "/tmp/ebb-runner-stdin-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "from file\n", 10), 10);
    close(fd);
    static const char *cat[] = {"cat", NULL};
    ebb_run_opts oc = {.argv = cat, .stdin_path = path};
    assert_int_equal(ebb_run(&oc, &res, &err), EBB_OK);
    assert_string_equal(res.out, "from file\n");
    ebb_run_result_fini(&res);
    oc.stdin_path = NULL;
    assert_int_equal(ebb_run(&oc, &res, &err), EBB_OK);
    assert_string_equal(res.out, "");
    ebb_run_result_fini(&res);
    unlink(path);

    oc.stdin_path = "/nonexistent/stdin";
    assert_int_equal(ebb_run(&oc, &res, &err), EBB_E_IO);
    assert_non_null(strstr(err.msg, "/nonexistent/stdin"));
    assert_null(res.out);

    ebb_run_opts bad = {.cwd = "/nonexistent/dir"};
    assert_int_equal(run_sh("pwd", &bad, &res, &err), EBB_E_IO);
    assert_non_null(strstr(err.msg, "/nonexistent/dir"));
    assert_int_equal(err.sys_errno, ENOENT);
    assert_no_children();
}

static void test_missing_program(void **state)
{
    (void)state;
    ebb_run_result res;
    ebb_error err;
    static const char *missing[] = {"ebb-no-such-program", "arg", NULL};
    ebb_run_opts o = {.argv = missing};
    assert_int_equal(ebb_run(&o, &res, &err), EBB_E_CHILD);
    assert_non_null(strstr(err.msg, "\"ebb-no-such-program\""));
    assert_non_null(strstr(err.msg, "not found"));
    ebb_run_result_fini(&res);

    /* The child's PATH decides where a bare name is looked up. */
    static const char *sh[] = {"sh", "-c", "true", NULL};
    const char *env[] = {"PATH=/nonexistent", NULL};
    ebb_run_opts o2 = {.argv = sh, .env = env};
    assert_int_equal(ebb_run(&o2, &res, &err), EBB_E_CHILD);

    /* A path that does not exist fails in exec, and is reported as such. */
    static const char *abs[] = {"/nonexistent/prog", NULL};
    ebb_run_opts o3 = {.argv = abs};
    assert_int_equal(ebb_run(&o3, &res, &err), EBB_E_CHILD);
    assert_non_null(strstr(err.msg, "/nonexistent/prog"));
    assert_int_equal(err.sys_errno, ENOENT);

    /* A file in PATH without execute permission. */
    char dir[] = "/tmp/ebb-runner-path-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char file[128];
    snprintf(file, sizeof file, "%s/noexec", dir);
    int fd = open(file, O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    close(fd);
    char pathvar[160];
    snprintf(pathvar, sizeof pathvar, "PATH=%s", dir);
    const char *env2[] = {pathvar, NULL};
    static const char *noexec[] = {"noexec", NULL};
    ebb_run_opts o4 = {.argv = noexec, .env = env2};
    assert_int_equal(ebb_run(&o4, &res, &err), EBB_E_CHILD);
    assert_non_null(strstr(err.msg, "not executable"));
    unlink(file);
    rmdir(dir);

    static const char *empty[] = {NULL};
    ebb_run_opts o5 = {.argv = empty};
    assert_int_equal(ebb_run(&o5, &res, &err), EBB_E_INVALID);
    assert_no_children();
}

typedef struct lines {
    int n;
    ebb_run_stream stream[16];
    char text[16][64];
    size_t len[16];
} lines;

static void on_line(void *ctx, ebb_run_stream stream, const char *line, size_t len)
{
    lines *l = ctx;
    if (l->n >= 16)
        return;
    l->stream[l->n] = stream;
    l->len[l->n] = len;
    snprintf(l->text[l->n], sizeof l->text[0], "%.*s", (int)(len < 63 ? len : 63), line);
    l->n++;
}

static void test_line_callback(void **state)
{
    (void)state;
    lines l = {0};
    ebb_run_opts o = {.on_line = on_line, .line_ctx = &l, .lines_stderr = true};
    ebb_run_result res;
    ebb_error err;
    assert_int_equal(run_sh("printf 'a\\nb\\n'; printf 'p1\\n\\np2' >&2", &o, &res, &err), EBB_OK);
    /* Only stderr asked for; an empty line is a line; the last one has no newline. */
    assert_int_equal(l.n, 3);
    assert_int_equal(l.stream[0], EBB_RUN_STDERR);
    assert_string_equal(l.text[0], "p1");
    assert_string_equal(l.text[1], "");
    assert_string_equal(l.text[2], "p2");
    assert_string_equal(res.out, "a\nb\n"); /* still captured */
    ebb_run_result_fini(&res);

    memset(&l, 0, sizeof l);
    o.lines_stdout = true;
    o.lines_stderr = false;
    assert_int_equal(run_sh("head -c 5000 /dev/zero | tr '\\0' q; echo; echo end", &o, &res, &err),
                     EBB_OK);
    /* A 5000-byte line comes in a 4096-byte piece and the rest. */
    assert_int_equal(l.n, 3);
    assert_int_equal(l.stream[0], EBB_RUN_STDOUT);
    assert_int_equal(l.len[0], 4096);
    assert_int_equal(l.len[1], 5000 - 4096);
    assert_string_equal(l.text[2], "end");
    ebb_run_result_fini(&res);
}

static void test_fds_closed_and_grandchild_pipes(void **state)
{
    (void)state;
    int leaked = open("/dev/null", O_RDONLY); /* no CLOEXEC on purpose */
    assert_true(leaked > 2);
    char script[128];
    snprintf(script, sizeof script,
             "if [ -e /proc/$$/fd/%d ]; then echo open; else echo closed; fi", leaked);
    ebb_run_opts o = {0};
    ebb_run_result res;
    ebb_error err;
    assert_int_equal(run_sh(script, &o, &res, &err), EBB_OK);
    assert_string_equal(res.out, "closed\n");
    ebb_run_result_fini(&res);
    close(leaked);

    /* A background grandchild keeps the pipes open; the run still ends with the child. */
    assert_int_equal(run_sh("sleep 3 & echo started", &o, &res, &err), EBB_OK);
    assert_string_equal(res.out, "started\n");
    assert_true(res.duration_ms < 2500);
    ebb_run_result_fini(&res);
    assert_no_children();
}

static void test_inherit_stdio(void **state)
{
    (void)state;
    ebb_run_opts o = {.inherit_stdio = true};
    ebb_run_result res;
    ebb_error err;
    /* Same process group as the test, nothing captured. */
    char script[96];
    snprintf(script, sizeof script, "[ \"$(ps -o pgid= -p $$ | tr -d ' ')\" = %d ] && exit 5",
             (int)getpgrp());
    assert_int_equal(run_sh(script, &o, &res, &err), EBB_OK);
    assert_int_equal(res.exit_code, 5);
    assert_string_equal(res.out, "");
    assert_int_equal(res.out_len, 0);
    ebb_run_result_fini(&res);

    o.timeout_ms = 100;
    static const char *argv[] = {"sleep", "30", NULL};
    o.argv = argv;
    assert_int_equal(ebb_run(&o, &res, &err), EBB_OK);
    assert_true(res.timed_out);
    assert_int_equal(res.term_signal, SIGTERM);
    ebb_run_result_fini(&res);
    assert_no_children();
}

static void test_fini_null_and_zeroed(void **state)
{
    (void)state;
    ebb_run_result_fini(NULL);
    ebb_run_result res;
    memset(&res, 0, sizeof res);
    ebb_run_result_fini(&res);
    res.timed_out = false;
    res.term_signal = 0;
    res.exit_code = 0;
    char how[32];
    assert_string_equal(ebb_run_describe(&res, how, sizeof how), "exited 0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_code_and_capture),
        cmocka_unit_test(test_signal_death),
        cmocka_unit_test(test_timeout_kills_process_group),
        cmocka_unit_test(test_output_bound_keeps_head_and_tail),
        cmocka_unit_test(test_env_cwd_stdin),
        cmocka_unit_test(test_missing_program),
        cmocka_unit_test(test_line_callback),
        cmocka_unit_test(test_fds_closed_and_grandchild_pipes),
        cmocka_unit_test(test_inherit_stdio),
        cmocka_unit_test(test_fini_null_and_zeroed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
