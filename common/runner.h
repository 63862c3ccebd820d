/* The one way ebb starts programs: fork/exec of an argv (no shell), timeout, bounded output. */
#ifndef EBB_COMMON_RUNNER_H
#define EBB_COMMON_RUNNER_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

/* Default bound of each captured stream, and the default SIGTERM -> SIGKILL grace. */
#define EBB_RUN_DEFAULT_MAX_OUTPUT (64u * 1024u)
#define EBB_RUN_DEFAULT_GRACE_MS 2000

/* Which stream a line came from (ebb_run_line_fn). */
typedef enum ebb_run_stream { EBB_RUN_STDOUT = 1, EBB_RUN_STDERR = 2 } ebb_run_stream;

/*
 * Called for every line of a stream the options ask for, in order, without
 * its trailing newline (a final line without newline is delivered at EOF).
 * Lines longer than 4 KiB are delivered in 4 KiB pieces. The text is only
 * valid during the call. Runs in the caller's thread while the child runs.
 */
typedef void (*ebb_run_line_fn)(void *ctx, ebb_run_stream stream, const char *line, size_t len);

typedef struct ebb_run_opts {
    /* Program and arguments, NULL-terminated. argv[0] without '/' is
     * searched in PATH (the child's PATH when env overrides it). */
    const char *const *argv;
    /* NULL-terminated "NAME=VALUE" entries added to (or replacing in) the
     * caller's environment; may be NULL. */
    const char *const *env;
    const char *cwd;         /* NULL: the caller's */
    const char *stdin_path;  /* NULL: /dev/null */
    int timeout_ms;          /* <= 0: no timeout */
    int grace_ms;            /* SIGTERM -> SIGKILL delay; <= 0: EBB_RUN_DEFAULT_GRACE_MS */
    size_t max_output;       /* per stream; 0: EBB_RUN_DEFAULT_MAX_OUTPUT */
    ebb_run_line_fn on_line; /* may be NULL */
    void *line_ctx;
    bool lines_stdout; /* deliver stdout lines to on_line */
    bool lines_stderr; /* deliver stderr lines to on_line */
    /* Child shares the caller's stdin/stdout/stderr and process group
     * instead of capturing (wrapper programs, so that the terminal's ^C and
     * job control reach it); stdin_path is then ignored and a timeout
     * signals the child only. */
    bool inherit_stdio;
} ebb_run_opts;

/*
 * What happened. Captured output is NUL-terminated and bounded: when a
 * stream produced more than max_output bytes, the first half and the last
 * half of the bound are kept with "\n[... N bytes cut ...]\n" between them
 * (the head shows what started, the tail shows how it ended), and *_cut
 * holds N. Owned by the caller: ebb_run_result_fini().
 */
typedef struct ebb_run_result {
    int exit_code;   /* exit status, -1 when killed by a signal */
    int term_signal; /* signal that ended the child, 0 when it exited */
    bool timed_out;  /* the runner killed it after timeout_ms */
    long duration_ms;
    char *out; /* stdout ("" when inherited) */
    size_t out_len;
    size_t out_cut;
    char *err; /* stderr ("" when inherited) */
    size_t err_len;
    size_t err_cut;
} ebb_run_result;

/*
 * Run a child to completion (or timeout). EBB_OK means the child was started
 * and reaped: look at res for how it ended. Errors: EBB_E_CHILD when the
 * program cannot be found or executed (the message names it), EBB_E_IO for
 * an unreadable stdin_path / cwd, EBB_E_INVALID for an empty argv. On error
 * res is left zeroed, so ebb_run_result_fini(res) is always safe. On a
 * timeout the child's whole process group gets SIGTERM, then SIGKILL after
 * the grace period. The child runs in its own process group (except with
 * inherit_stdio) with every fd above 2 closed and default signal handling;
 * it is always reaped.
 */
EBB_MUSTCHECK ebb_code ebb_run(const ebb_run_opts *opts, ebb_run_result *res, ebb_error *err);

/*
 * ebb_run, then turn any failure of the child into an error: EBB_E_TIMEOUT
 * when it timed out, EBB_E_CHILD when it exited non-zero or died from a
 * signal (the message names the program, the status and the last line of
 * its stderr). res is filled whenever the child ran, also on those errors.
 */
EBB_MUSTCHECK ebb_code ebb_run_check(const ebb_run_opts *opts, ebb_run_result *res, ebb_error *err);

/* Free the captured output; res can be reused or discarded. NULL is fine. */
void ebb_run_result_fini(ebb_run_result *res);

/* "exited 3", "killed by signal 9 (Killed)", "timed out after 500 ms" into buf. */
const char *ebb_run_describe(const ebb_run_result *res, char *buf, size_t n);

#endif
