/* The process runner: fork/exec of an argv, bounded capture, timeouts, no zombies. */
#include "common/runner.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define LINE_MAX_PIECE 4096
/* How often the loop checks whether the child has exited while its pipes stay open. */
#define POLL_SLICE_MS 20

/* Head + ring-buffered tail of one stream, plus the pending line. */
typedef struct capture {
    int fd;
    ebb_run_stream which;
    bool lines;
    char *head;
    size_t head_cap, head_len;
    char *tail; /* ring */
    size_t tail_cap, tail_len, tail_pos;
    size_t total;
    char line[LINE_MAX_PIECE];
    size_t line_len;
} capture;

/* What the child reports through the CLOEXEC pipe when it cannot exec. */
enum { STAGE_CWD = 1, STAGE_STDIO, STAGE_EXEC };
typedef struct child_failure {
    int stage;
    int errnum;
} child_failure;

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Environment for the child: the caller's, with opts->env entries added or replacing. */
static char **build_env(const char *const *extra)
{
    size_t nbase = 0, nextra = 0;
    while (environ != NULL && environ[nbase] != NULL)
        nbase++;
    while (extra != NULL && extra[nextra] != NULL)
        nextra++;
    char **env = calloc(nbase + nextra + 1, sizeof *env);
    if (env == NULL)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < nbase; i++) {
        const char *eq = strchr(environ[i], '=');
        size_t klen = eq != NULL ? (size_t)(eq - environ[i]) : strlen(environ[i]);
        bool overridden = false;
        for (size_t j = 0; j < nextra && !overridden; j++)
            overridden = strncmp(extra[j], environ[i], klen) == 0 && extra[j][klen] == '=';
        if (!overridden)
            env[n++] = environ[i];
    }
    for (size_t j = 0; j < nextra; j++) {
        /* A later duplicate of the same name wins; drop the earlier one. */
        const char *eq = strchr(extra[j], '=');
        size_t klen = eq != NULL ? (size_t)(eq - extra[j]) : strlen(extra[j]);
        bool later = false;
        for (size_t k = j + 1; k < nextra && !later; k++)
            later = strncmp(extra[k], extra[j], klen) == 0 && extra[k][klen] == '=';
        if (!later)
            env[n++] = (char *)extra[j];
    }
    env[n] = NULL;
    return env;
}

static const char *env_lookup(char *const *env, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; env[i] != NULL; i++)
        if (strncmp(env[i], name, len) == 0 && env[i][len] == '=')
            return env[i] + len + 1;
    return NULL;
}

/*
 * Resolve argv[0] in PATH before forking, so that "not found" is a clear
 * error and the child only has to execve. *out is malloc'd.
 */
static ebb_code resolve_program(const char *prog, char *const *env, char **out, ebb_error *err)
{
    if (strchr(prog, '/') != NULL) {
        *out = strdup(prog);
        return *out != NULL ? EBB_OK : ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    }
    const char *path = env_lookup(env, "PATH");
    if (path == NULL)
        path = "/usr/local/bin:/usr/bin:/bin";
    int last_errno = ENOENT;
    const char *p = path;
    for (;;) {
        const char *colon = strchr(p, ':');
        size_t dlen = colon != NULL ? (size_t)(colon - p) : strlen(p);
        char cand[PATH_MAX];
        int w = dlen == 0 ? snprintf(cand, sizeof cand, "./%s", prog)
                          : snprintf(cand, sizeof cand, "%.*s/%s", (int)dlen, p, prog);
        if (w > 0 && (size_t)w < sizeof cand) {
            struct stat st;
            if (stat(cand, &st) == 0 && S_ISREG(st.st_mode)) {
                if (access(cand, X_OK) == 0) {
                    *out = strdup(cand);
                    return *out != NULL ? EBB_OK : ebb_error_set(err, EBB_E_NOMEM, "out of memory");
                }
                last_errno = EACCES;
            }
        }
        if (colon == NULL)
            break;
        p = colon + 1;
    }
    if (last_errno == EACCES)
        return ebb_error_set(err, EBB_E_CHILD,
                             "cannot run \"%s\": found in PATH but not executable", prog);
    return ebb_error_set(err, EBB_E_CHILD, "cannot run \"%s\": program not found in PATH", prog);
}

static void close_from(int lowfd)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned)lowfd, ~0u, 0u) == 0)
        return;
#endif
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536)
        max = 65536;
    for (int fd = lowfd; fd < max; fd++)
        close(fd);
}

static void child_fail(int report_fd, int stage, int errnum)
{
    child_failure f = {.stage = stage, .errnum = errnum};
    ssize_t w = write(report_fd, &f, sizeof f);
    (void)w;
    _exit(127);
}

/* In the child after fork: only async-signal-safe calls from here on. */
static void child_exec(const ebb_run_opts *o, const char *path, char *const *env, int in_fd,
                       int out_fd, int err_fd, int report_fd)
{
    if (!o->inherit_stdio)
        setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++) {
        if (s != SIGKILL && s != SIGSTOP)
            sigaction(s, &dfl, NULL);
    }
    if (!o->inherit_stdio) {
        if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
            child_fail(report_fd, STAGE_STDIO, errno);
    }
    /* Keep the report pipe (CLOEXEC) and close every other inherited fd. */
    int keep = 3;
    if (report_fd != keep) {
        if (dup2(report_fd, keep) < 0)
            child_fail(report_fd, STAGE_STDIO, errno);
        fcntl(keep, F_SETFD, FD_CLOEXEC);
    }
    close_from(keep + 1);
    if (o->cwd != NULL && chdir(o->cwd) != 0)
        child_fail(keep, STAGE_CWD, errno);
    execve(path, (char *const *)o->argv, env);
    child_fail(keep, STAGE_EXEC, errno);
}

static bool capture_init(capture *c, int fd, ebb_run_stream which, size_t max, bool lines)
{
    memset(c, 0, sizeof *c);
    c->fd = fd;
    c->which = which;
    c->lines = lines;
    c->head_cap = max / 2;
    c->tail_cap = max - c->head_cap;
    c->head = malloc(c->head_cap + 1);
    c->tail = malloc(c->tail_cap + 1);
    return c->head != NULL && c->tail != NULL;
}

static void capture_fini(capture *c)
{
    free(c->head);
    free(c->tail);
    c->head = c->tail = NULL;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static void deliver_line(capture *c, const ebb_run_opts *o)
{
    o->on_line(o->line_ctx, c->which, c->line, c->line_len);
    c->line_len = 0;
}

static void capture_feed(capture *c, const ebb_run_opts *o, const char *buf, size_t n)
{
    c->total += n;
    for (size_t i = 0; i < n; i++) {
        if (c->head_len < c->head_cap) {
            c->head[c->head_len++] = buf[i];
        } else if (c->tail_cap > 0) {
            c->tail[c->tail_pos] = buf[i];
            c->tail_pos = (c->tail_pos + 1) % c->tail_cap;
            if (c->tail_len < c->tail_cap)
                c->tail_len++;
        }
        if (c->lines && o->on_line != NULL) {
            if (buf[i] == '\n') {
                deliver_line(c, o);
            } else {
                c->line[c->line_len++] = buf[i];
                if (c->line_len == sizeof c->line)
                    deliver_line(c, o);
            }
        }
    }
}

/* Assemble head + marker + tail into a malloc'd string. */
static char *capture_take(capture *c, size_t *len, size_t *cut)
{
    size_t kept = c->head_len + c->tail_len;
    size_t dropped = c->total - kept;
    char marker[64] = "";
    if (dropped > 0)
        snprintf(marker, sizeof marker, "\n[... %zu bytes cut ...]\n", dropped);
    size_t mlen = strlen(marker);
    char *s = malloc(kept + mlen + 1);
    if (s == NULL)
        return NULL;
    memcpy(s, c->head, c->head_len);
    memcpy(s + c->head_len, marker, mlen);
    size_t start = c->tail_len < c->tail_cap ? 0 : c->tail_pos;
    size_t off = c->head_len + mlen;
    for (size_t i = 0; i < c->tail_len; i++)
        s[off + i] = c->tail[(start + i) % c->tail_cap];
    s[off + c->tail_len] = '\0';
    *len = off + c->tail_len;
    *cut = dropped;
    return s;
}

/* Read what is available; returns false at EOF (or a read error). */
static bool capture_read(capture *c, const ebb_run_opts *o)
{
    char buf[8192];
    for (;;) {
        ssize_t r = read(c->fd, buf, sizeof buf);
        if (r > 0) {
            capture_feed(c, o, buf, (size_t)r);
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
        if (c->lines && o->on_line != NULL && c->line_len > 0)
            deliver_line(c, o);
        close(c->fd);
        c->fd = -1;
        return false;
    }
}

static bool reap(pid_t pid, int *status, bool block)
{
    for (;;) {
        pid_t r = waitpid(pid, status, block ? 0 : WNOHANG);
        if (r == pid)
            return true;
        if (r < 0 && errno == EINTR)
            continue;
        return false;
    }
}

static int make_pipe(int fds[2])
{
    if (pipe(fds) != 0)
        return -1;
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    return 0;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Everything ebb_run sets up before the fork, released in one place. */
typedef struct run_setup {
    char **env;
    char *path;
    int in_fd;
    int out_pipe[2], err_pipe[2], report_pipe[2];
} run_setup;

static void setup_release(run_setup *s)
{
    free(s->env);
    free(s->path);
    close_fd(&s->in_fd);
    for (int i = 0; i < 2; i++) {
        close_fd(&s->out_pipe[i]);
        close_fd(&s->err_pipe[i]);
        close_fd(&s->report_pipe[i]);
    }
}

static ebb_code setup_prepare(const ebb_run_opts *o, run_setup *s, ebb_error *err)
{
    s->env = build_env(o->env);
    if (s->env == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    ebb_code rc = resolve_program(o->argv[0], s->env, &s->path, err);
    if (rc != EBB_OK)
        return rc;
    if (!o->inherit_stdio) {
        const char *in = o->stdin_path != NULL ? o->stdin_path : "/dev/null";
        s->in_fd = open(in, O_RDONLY | O_CLOEXEC);
        if (s->in_fd < 0)
            return ebb_error_errno(err, EBB_E_IO, errno, "%s: cannot open stdin file %s",
                                   o->argv[0], in);
        if (make_pipe(s->out_pipe) != 0 || make_pipe(s->err_pipe) != 0)
            return ebb_error_errno(err, EBB_E_IO, errno, "%s: pipe", o->argv[0]);
    }
    if (make_pipe(s->report_pipe) != 0)
        return ebb_error_errno(err, EBB_E_IO, errno, "%s: pipe", o->argv[0]);
    return EBB_OK;
}

/* After fork: did the child fail before exec? (EOF on the report pipe means exec worked.) */
static ebb_code check_exec(const ebb_run_opts *o, run_setup *s, pid_t pid, ebb_error *err)
{
    close_fd(&s->report_pipe[1]);
    child_failure f;
    ssize_t r;
    do {
        r = read(s->report_pipe[0], &f, sizeof f);
    } while (r < 0 && errno == EINTR);
    close_fd(&s->report_pipe[0]);
    if (r != (ssize_t)sizeof f)
        return EBB_OK;
    int status;
    reap(pid, &status, true);
    switch (f.stage) {
    case STAGE_CWD:
        return ebb_error_errno(err, EBB_E_IO, f.errnum, "%s: cannot change to directory %s",
                               o->argv[0], o->cwd);
    case STAGE_STDIO:
        return ebb_error_errno(err, EBB_E_CHILD, f.errnum, "%s: cannot set up stdio", o->argv[0]);
    default:
        return ebb_error_errno(err, EBB_E_CHILD, f.errnum, "cannot execute \"%s\" (%s)", o->argv[0],
                               s->path);
    }
}

/* The child's whole process group, or only the child when it shares ours (inherit_stdio). */
static void kill_group(const ebb_run_opts *o, pid_t pid, int sig)
{
    if (o->inherit_stdio || kill(-pid, sig) != 0)
        kill(pid, sig);
}

ebb_code ebb_run(const ebb_run_opts *o, ebb_run_result *res, ebb_error *err)
{
    memset(res, 0, sizeof *res);
    if (o == NULL || o->argv == NULL || o->argv[0] == NULL || o->argv[0][0] == '\0')
        return ebb_error_set(err, EBB_E_INVALID, "run: empty argv");

    run_setup s = {
        .in_fd = -1, .out_pipe = {-1, -1}, .err_pipe = {-1, -1}, .report_pipe = {-1, -1}};
    ebb_code rc = setup_prepare(o, &s, err);
    if (rc != EBB_OK) {
        setup_release(&s);
        return rc;
    }

    size_t max = o->max_output > 0 ? o->max_output : EBB_RUN_DEFAULT_MAX_OUTPUT;
    capture caps[2];
    bool cap_ok = capture_init(&caps[0], -1, EBB_RUN_STDOUT, max, o->lines_stdout) &
                  capture_init(&caps[1], -1, EBB_RUN_STDERR, max, o->lines_stderr);
    if (!cap_ok) {
        capture_fini(&caps[0]);
        capture_fini(&caps[1]);
        setup_release(&s);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    }

    long start = now_ms();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        capture_fini(&caps[0]);
        capture_fini(&caps[1]);
        setup_release(&s);
        return ebb_error_errno(err, EBB_E_CHILD, e, "%s: fork", o->argv[0]);
    }
    if (pid == 0)
        child_exec(o, s.path, s.env, s.in_fd, s.out_pipe[1], s.err_pipe[1], s.report_pipe[1]);

    if (!o->inherit_stdio)
        setpgid(pid, pid); /* also done in the child; whichever runs first wins */
    close_fd(&s.in_fd);
    close_fd(&s.out_pipe[1]);
    close_fd(&s.err_pipe[1]);
    rc = check_exec(o, &s, pid, err);
    if (rc != EBB_OK) {
        capture_fini(&caps[0]);
        capture_fini(&caps[1]);
        setup_release(&s);
        return rc;
    }
    caps[0].fd = s.out_pipe[0];
    caps[1].fd = s.err_pipe[0];
    s.out_pipe[0] = s.err_pipe[0] = -1;
    for (int i = 0; i < 2; i++)
        if (caps[i].fd >= 0)
            fcntl(caps[i].fd, F_SETFL, fcntl(caps[i].fd, F_GETFL) | O_NONBLOCK);

    long deadline = o->timeout_ms > 0 ? start + o->timeout_ms : 0;
    long grace = o->grace_ms > 0 ? o->grace_ms : EBB_RUN_DEFAULT_GRACE_MS;
    long kill_at = 0; /* when SIGKILL is due after SIGTERM */
    int status = 0;
    bool exited = false;

    while (!exited) {
        struct pollfd pfd[2];
        int np = 0;
        for (int i = 0; i < 2; i++) {
            if (caps[i].fd >= 0) {
                pfd[np].fd = caps[i].fd;
                pfd[np].events = POLLIN;
                pfd[np].revents = 0;
                np++;
            }
        }
        long wait = POLL_SLICE_MS;
        long now = now_ms();
        if (deadline > 0 && !res->timed_out && deadline - now < wait)
            wait = deadline - now > 0 ? deadline - now : 0;
        if (kill_at > 0 && kill_at - now < wait)
            wait = kill_at - now > 0 ? kill_at - now : 0;
        if (np > 0) {
            int pr = poll(pfd, (nfds_t)np, (int)wait);
            if (pr > 0) {
                for (int i = 0; i < 2; i++)
                    if (caps[i].fd >= 0)
                        capture_read(&caps[i], o);
            }
        } else {
            sleep_ms(wait > 0 ? (wait < 5 ? wait : 5) : 0);
        }
        exited = reap(pid, &status, false);
        now = now_ms();
        if (!exited && deadline > 0 && !res->timed_out && now >= deadline) {
            res->timed_out = true;
            kill_group(o, pid, SIGTERM);
            kill_at = now + grace;
        }
        if (!exited && kill_at > 0 && now >= kill_at) {
            kill_group(o, pid, SIGKILL);
            kill_at = 0;
        }
    }
    res->duration_ms = now_ms() - start;
    if (res->timed_out) /* grandchildren that ignored SIGTERM */
        kill_group(o, pid, SIGKILL);

    /*
     * The child is gone: everything it wrote is already in the pipes. Drain
     * without waiting, since a grandchild may still hold the write ends.
     */
    for (int i = 0; i < 2; i++) {
        if (caps[i].fd >= 0)
            capture_read(&caps[i], o);
        if (caps[i].lines && o->on_line != NULL && caps[i].line_len > 0)
            deliver_line(&caps[i], o);
    }

    if (WIFEXITED(status)) {
        res->exit_code = WEXITSTATUS(status);
    } else {
        res->exit_code = -1;
        res->term_signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    }
    res->out = capture_take(&caps[0], &res->out_len, &res->out_cut);
    res->err = capture_take(&caps[1], &res->err_len, &res->err_cut);
    capture_fini(&caps[0]);
    capture_fini(&caps[1]);
    setup_release(&s);
    if (res->out == NULL || res->err == NULL) {
        ebb_run_result_fini(res);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    }
    return EBB_OK;
}

void ebb_run_result_fini(ebb_run_result *res)
{
    if (res == NULL)
        return;
    free(res->out);
    free(res->err);
    memset(res, 0, sizeof *res);
}

const char *ebb_run_describe(const ebb_run_result *res, char *buf, size_t n)
{
    if (res->timed_out)
        snprintf(buf, n, "timed out (killed after %ld ms)", res->duration_ms);
    else if (res->term_signal != 0)
        snprintf(buf, n, "killed by signal %d (%s)", res->term_signal, strsignal(res->term_signal));
    else
        snprintf(buf, n, "exited %d", res->exit_code);
    return buf;
}

/* Last non-empty line of s (for error messages), as pointer + length. */
static const char *last_line(const char *s, size_t len, int *out_len)
{
    while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' '))
        len--;
    size_t b = len;
    while (b > 0 && s[b - 1] != '\n')
        b--;
    *out_len = (int)(len - b > 300 ? 300 : len - b);
    return s + b;
}

ebb_code ebb_run_check(const ebb_run_opts *o, ebb_run_result *res, ebb_error *err)
{
    ebb_code rc = ebb_run(o, res, err);
    if (rc != EBB_OK)
        return rc;
    if (!res->timed_out && res->term_signal == 0 && res->exit_code == 0)
        return EBB_OK;
    char how[96];
    ebb_run_describe(res, how, sizeof how);
    int llen;
    const char *line = last_line(res->err, res->err_len, &llen);
    if (llen == 0)
        line = last_line(res->out, res->out_len, &llen);
    ebb_code code = res->timed_out ? EBB_E_TIMEOUT : EBB_E_CHILD;
    if (llen > 0)
        return ebb_error_set(err, code, "%s %s: %.*s", o->argv[0], how, llen, line);
    return ebb_error_set(err, code, "%s %s", o->argv[0], how);
}
