/* Throwaway PostgreSQL clusters for tests, with a watchdog that cleans up after a dead test. */
#include "tests/support/pg_cluster.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/pgsql.h"
#include "common/runner.h"

#define DEFAULT_BINDIR "/usr/lib/postgresql/15/bin"
#define PORT_ATTEMPTS 8
#define TOOL_TIMEOUT_MS 120000

static const char *bindir(void)
{
    const char *d = getenv("EBB_PG_BINDIR");
    return d != NULL && d[0] != '\0' ? d : DEFAULT_BINDIR;
}

static bool as_root(void)
{
    return geteuid() == 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/*
 * Run a PostgreSQL tool (args[0] is its name in bindir) as the cluster's
 * owner: through runuser when we are root, since initdb and postgres
 * refuse to run as root.
 */
static ebb_code run_tool(const ebb_test_pg *pg, const char *const *args, ebb_run_result *res,
                         ebb_error *err)
{
    char prog[PATH_MAX];
    snprintf(prog, sizeof prog, "%s/%s", bindir(), args[0]);
    const char *argv[32];
    size_t n = 0;
    if (as_root()) {
        argv[n++] = "runuser";
        argv[n++] = "-u";
        argv[n++] = "postgres";
        argv[n++] = "--";
    }
    argv[n++] = prog;
    for (size_t i = 1; args[i] != NULL && n + 1 < sizeof argv / sizeof argv[0]; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    /* A cwd the postgres user can enter (the test's may be /root/...). */
    ebb_run_opts o = {.argv = argv, .cwd = pg->dir, .timeout_ms = TOOL_TIMEOUT_MS};
    return ebb_run_check(&o, res, err);
}

/* Remove a directory tree (no child process needed). */
static void remove_tree_at(int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        unlinkat(dirfd, name, 0);
        return;
    }
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (e->d_type == DT_DIR)
            remove_tree_at(fd, e->d_name);
        else if (unlinkat(fd, e->d_name, 0) != 0 && errno == EISDIR)
            remove_tree_at(fd, e->d_name);
    }
    closedir(d);
    unlinkat(dirfd, name, AT_REMOVEDIR);
}

static void remove_tree(const char *path)
{
    remove_tree_at(AT_FDCWD, path);
}

/* A port nobody listens on right now (checked by binding it). */
static int pick_port(void)
{
    for (int tries = 0; tries < 100; tries++) {
        unsigned r = 0;
        if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
            r = (unsigned)getpid() * 2654435761u + (unsigned)time(NULL) + (unsigned)tries;
        int port = 20000 + (int)(r % 40000u);
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0)
            return port;
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int ok = bind(s, (struct sockaddr *)&a, sizeof a);
        close(s);
        if (ok == 0)
            return port;
    }
    return 20000 + (int)(getpid() % 40000);
}

/* The last bytes of the server log, for error messages. */
static void log_tail(const ebb_test_pg *pg, char *out, size_t n)
{
    out[0] = '\0';
    int fd = open(pg->log_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    off_t size = lseek(fd, 0, SEEK_END);
    off_t from = size > (off_t)(n - 1) ? size - (off_t)(n - 1) : 0;
    ssize_t r = pread(fd, out, n - 1, from);
    close(fd);
    out[r > 0 ? r : 0] = '\0';
    for (char *p = out; *p != '\0'; p++)
        if (*p == '\n')
            *p = ' ';
}

static bool log_says_port_taken(const ebb_test_pg *pg)
{
    char tail[4096];
    log_tail(pg, tail, sizeof tail);
    return strstr(tail, "Address already in use") != NULL ||
           strstr(tail, "could not create any TCP/IP sockets") != NULL;
}

static ebb_code pg_ctl_start(const ebb_test_pg *pg, ebb_error *err)
{
    char opts[PATH_MAX + 256];
    snprintf(opts, sizeof opts,
             "-p %d -k %s -c listen_addresses=127.0.0.1 -c max_prepared_transactions=20 "
             "-c fsync=off -c max_connections=100",
             pg->port, pg->socket_dir);
    const char *args[] = {"pg_ctl", "-w",         "-t", "60", "-D",    pg->data_dir,
                          "-l",     pg->log_path, "-o", opts, "start", NULL};
    ebb_run_result res;
    ebb_code rc = run_tool(pg, args, &res, err);
    ebb_run_result_fini(&res);
    return rc;
}

static ebb_code pg_ctl_stop(const ebb_test_pg *pg, const char *mode, ebb_error *err)
{
    const char *args[] = {"pg_ctl", "-w", "-t", "60", "-D", pg->data_dir, "-m", mode, "stop", NULL};
    ebb_run_result res;
    ebb_code rc = run_tool(pg, args, &res, err);
    ebb_run_result_fini(&res);
    return rc;
}

static void devnull_stdio(void)
{
    int fd = open("/dev/null", O_RDWR);
    if (fd < 0)
        return;
    dup2(fd, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    if (fd > 2)
        close(fd);
}

/*
 * The watchdog: waits on a pipe whose write end only the test process holds.
 * 'q' means "stopped normally, leave quietly"; EOF means the test died.
 */
static void watchdog_main(const ebb_test_pg *pg, int rfd)
{
    setsid(); /* no terminal signals: a ^C to the test must not kill the cleanup */
    devnull_stdio();
    /* Drop every other inherited fd (other clusters' pipes, the test's sockets). */
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536)
        max = 65536;
    for (int fd = 3; fd < max; fd++)
        if (fd != rfd)
            close(fd);
    char c = 0;
    ssize_t r;
    do {
        r = read(rfd, &c, 1);
    } while (r < 0 && errno == EINTR);
    if (r == 1 && c == 'q')
        _exit(0);
    ebb_error err;
    if (pg_ctl_stop(pg, "immediate", &err) != EBB_OK) {
        /* Not running (killed by a drill) or pg_ctl failed: nothing more to try. */
    }
    remove_tree(pg->dir);
    _exit(0);
}

static ebb_code watchdog_start(ebb_test_pg *pg, ebb_error *err)
{
    int fds[2];
    if (pipe(fds) != 0)
        return ebb_error_errno(err, EBB_E_IO, errno, "watchdog pipe");
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        return ebb_error_errno(err, EBB_E_CHILD, e, "watchdog fork");
    }
    if (pid == 0) {
        close(fds[1]);
        watchdog_main(pg, fds[0]);
    }
    close(fds[0]);
    pg->watchdog_pid = pid;
    pg->watchdog_fd = fds[1];
    return EBB_OK;
}

void ebb_test_pg_conninfo(const ebb_test_pg *pg, const char *dbname, char *out, size_t n)
{
    char q[512];
    if (!ebb_pg_conninfo_quote(dbname, q, sizeof q))
        snprintf(q, sizeof q, "postgres");
    snprintf(out, n, "host=%s port=%d user=%s dbname=%s", pg->socket_dir, pg->port, pg->superuser,
             q);
}

static ebb_code prepare_dirs(ebb_test_pg *pg, ebb_error *err)
{
    snprintf(pg->dir, sizeof pg->dir, "/tmp/ebb-pg-XXXXXX");
    if (mkdtemp(pg->dir) == NULL) {
        int e = errno;
        pg->dir[0] = '\0';
        return ebb_error_errno(err, EBB_E_IO, e, "mkdtemp /tmp/ebb-pg-XXXXXX");
    }
    snprintf(pg->data_dir, sizeof pg->data_dir, "%s/data", pg->dir);
    snprintf(pg->socket_dir, sizeof pg->socket_dir, "%s/sock", pg->dir);
    snprintf(pg->log_path, sizeof pg->log_path, "%s/log", pg->dir);
    if (mkdir(pg->socket_dir, 0700) != 0)
        return ebb_error_errno(err, EBB_E_IO, errno, "mkdir %s", pg->socket_dir);
    if (as_root()) {
        struct passwd *pw = getpwnam("postgres");
        if (pw == NULL)
            return ebb_error_set(err, EBB_E_NOT_FOUND,
                                 "running as root but there is no \"postgres\" user to own the "
                                 "test cluster");
        if (chown(pg->dir, pw->pw_uid, pw->pw_gid) != 0 ||
            chown(pg->socket_dir, pw->pw_uid, pw->pw_gid) != 0)
            return ebb_error_errno(err, EBB_E_IO, errno, "chown %s to postgres", pg->dir);
    }
    return EBB_OK;
}

ebb_code ebb_test_pg_start(ebb_test_pg *pg, ebb_error *err)
{
    memset(pg, 0, sizeof *pg);
    pg->watchdog_fd = -1;
    snprintf(pg->superuser, sizeof pg->superuser, "postgres");
    ebb_code rc = prepare_dirs(pg, err);
    if (rc != EBB_OK)
        goto fail;

    const char *initdb[] = {"initdb",   "-D",        pg->data_dir, "-A",   "trust",      "-U",
                            "postgres", "--no-sync", "-E",         "UTF8", "--locale=C", NULL};
    ebb_run_result res;
    rc = run_tool(pg, initdb, &res, err);
    ebb_run_result_fini(&res);
    if (rc != EBB_OK) {
        ebb_error_prefix(err, "test cluster in %s", pg->dir);
        goto fail;
    }

    for (int attempt = 1;; attempt++) {
        pg->port = pick_port();
        rc = pg_ctl_start(pg, err);
        if (rc == EBB_OK)
            break;
        if (attempt >= PORT_ATTEMPTS || !log_says_port_taken(pg)) {
            char tail[512];
            log_tail(pg, tail, sizeof tail);
            ebb_error_prefix(err, "test cluster in %s on port %d (server log: %s)", pg->dir,
                             pg->port, tail);
            goto fail;
        }
    }
    pg->running = true;
    ebb_test_pg_conninfo(pg, "postgres", pg->conninfo, sizeof pg->conninfo);

    rc = watchdog_start(pg, err);
    if (rc != EBB_OK)
        goto fail;
    return EBB_OK;

fail:
    if (pg->running && pg_ctl_stop(pg, "immediate", NULL) != EBB_OK) {
        /* already reported the first failure */
    }
    pg->running = false;
    if (pg->dir[0] != '\0')
        remove_tree(pg->dir);
    pg->dir[0] = '\0';
    return rc;
}

void ebb_test_pg_stop(ebb_test_pg *pg)
{
    if (pg->dir[0] == '\0')
        return;
    if (pg->running && pg_ctl_stop(pg, "fast", NULL) != EBB_OK &&
        pg_ctl_stop(pg, "immediate", NULL) != EBB_OK) {
        /* Still running: the directory removal below makes it fail soon. */
    }
    pg->running = false;
    remove_tree(pg->dir);
    pg->dir[0] = '\0';
    if (pg->watchdog_fd >= 0) {
        ssize_t w = write(pg->watchdog_fd, "q", 1);
        (void)w;
        close(pg->watchdog_fd);
        pg->watchdog_fd = -1;
    }
    if (pg->watchdog_pid > 0) {
        while (waitpid(pg->watchdog_pid, NULL, 0) < 0 && errno == EINTR) {
        }
        pg->watchdog_pid = 0;
    }
}

/* Whether pid is gone (or a zombie nobody has reaped yet: not running any more). */
static bool process_gone(pid_t pid)
{
    if (kill(pid, 0) != 0 && errno == ESRCH)
        return true;
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return true;
    size_t r = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[r] = '\0';
    const char *paren = strrchr(buf, ')');
    return paren != NULL && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
}

/* Pids of live processes whose working directory is the data directory (the backends). */
static size_t cluster_processes(const ebb_test_pg *pg, pid_t *pids, size_t max)
{
    size_t n = 0;
    DIR *d = opendir("/proc");
    if (d == NULL)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < max) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end != '\0' || pid <= 0)
            continue;
        char link[64], target[PATH_MAX];
        snprintf(link, sizeof link, "/proc/%ld/cwd", pid);
        ssize_t len = readlink(link, target, sizeof target - 1);
        if (len <= 0)
            continue;
        target[len] = '\0';
        if (strcmp(target, pg->data_dir) == 0 && !process_gone((pid_t)pid))
            pids[n++] = (pid_t)pid;
    }
    closedir(d);
    return n;
}

ebb_code ebb_test_pg_kill(ebb_test_pg *pg, ebb_error *err)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/postmaster.pid", pg->data_dir);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return ebb_error_errno(err, EBB_E_NOT_FOUND, errno, "no running server: %s", path);
    long pid = 0;
    int got = fscanf(f, "%ld", &pid);
    fclose(f);
    if (got != 1 || pid <= 0)
        return ebb_error_set(err, EBB_E_INVALID, "%s: no postmaster pid", path);
    if (kill((pid_t)pid, SIGKILL) != 0)
        return ebb_error_errno(err, EBB_E_IO, errno, "kill -9 postmaster %ld", pid);
    pg->running = false;
    /* Backends notice the postmaster's death and leave; a restart needs them gone. */
    for (int waited = 0; waited < 15000; waited += 50) {
        pid_t pids[256];
        size_t n = cluster_processes(pg, pids, 256);
        if (n == 0 && process_gone((pid_t)pid)) {
            /* A dead postmaster that nobody reaped yet (a zombie whose parent is a busy init)
             * still answers kill(pid, 0), and the server refuses to start while its lock
             * files name it: that pid is known dead here, so drop them. */
            unlink(path);
            char sock_lock[PATH_MAX + 32];
            snprintf(sock_lock, sizeof sock_lock, "%s/.s.PGSQL.%d.lock", pg->socket_dir, pg->port);
            unlink(sock_lock);
            return EBB_OK;
        }
        if (waited >= 5000)
            for (size_t i = 0; i < n; i++)
                kill(pids[i], SIGKILL);
        sleep_ms(50);
    }
    return ebb_error_set(err, EBB_E_TIMEOUT,
                         "postmaster %ld of %s or its backends still alive 15 s after SIGKILL", pid,
                         pg->data_dir);
}

ebb_code ebb_test_pg_restart(ebb_test_pg *pg, ebb_error *err)
{
    if (pg->dir[0] == '\0')
        return ebb_error_set(err, EBB_E_INVALID, "restart: cluster was stopped and removed");
    ebb_code rc = EBB_OK;
    /* A just-killed cluster's shared memory can take a moment to be released. */
    for (int attempt = 0; attempt < 10; attempt++) {
        rc = pg_ctl_start(pg, err);
        if (rc == EBB_OK) {
            pg->running = true;
            return EBB_OK;
        }
        sleep_ms(500);
    }
    char tail[512];
    log_tail(pg, tail, sizeof tail);
    ebb_error_prefix(err, "restart of %s on port %d (server log: %s)", pg->dir, pg->port, tail);
    return rc;
}

ebb_code ebb_test_pg_attach(ebb_test_pg *pg, const char *dir, int port, ebb_error *err)
{
    memset(pg, 0, sizeof *pg);
    pg->watchdog_fd = -1;
    if (strlen(dir) + 8 >= sizeof pg->dir)
        return ebb_error_set(err, EBB_E_INVALID, "cluster directory %s is too long", dir);
    snprintf(pg->dir, sizeof pg->dir, "%s", dir);
    snprintf(pg->data_dir, sizeof pg->data_dir, "%s/data", dir);
    snprintf(pg->socket_dir, sizeof pg->socket_dir, "%s/sock", dir);
    snprintf(pg->log_path, sizeof pg->log_path, "%s/log", dir);
    snprintf(pg->superuser, sizeof pg->superuser, "postgres");
    pg->port = port;
    char version[PATH_MAX + 16];
    snprintf(version, sizeof version, "%s/PG_VERSION", pg->data_dir);
    if (access(version, F_OK) != 0) {
        ebb_code rc = ebb_error_errno(err, EBB_E_NOT_FOUND, errno, "no test cluster in %s", dir);
        pg->dir[0] = '\0';
        return rc;
    }
    pg->running = true;
    ebb_test_pg_conninfo(pg, "postgres", pg->conninfo, sizeof pg->conninfo);
    return EBB_OK;
}

ebb_code ebb_test_pg_create_db(ebb_test_pg *pg, const char *name, char *out, size_t n,
                               ebb_error *err)
{
    ebb_pg *conn = NULL;
    ebb_code rc = ebb_pg_connect(pg->conninfo, "ebb-test", &conn, err);
    if (rc != EBB_OK)
        return rc;
    char *q = NULL;
    rc = ebb_pg_quote_ident(conn, name, &q, err);
    if (rc == EBB_OK) {
        char sql[1024];
        snprintf(sql, sizeof sql, "CREATE DATABASE %s", q);
        rc = ebb_pg_exec_ok(conn, sql, err);
        free(q);
    }
    ebb_pg_close(conn);
    if (rc != EBB_OK)
        return rc;
    ebb_test_pg_conninfo(pg, name, out, n);
    return EBB_OK;
}
