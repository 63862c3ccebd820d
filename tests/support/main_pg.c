/*
 * ebb-test-pg: run a command against throwaway PostgreSQL clusters (shell integration tests).
 *
 *   ebb-test-pg run [--keep-log] [--clusters N] -- CMD ARGS...
 *   ebb-test-pg kill I | restart I
 *
 * Starts N clusters (default 1), runs CMD with PGHOST, PGPORT, PGUSER,
 * PGDATABASE, EBB_TEST_PG_CONNINFO and EBB_TEST_PG_DIR for the first one,
 * and EBB_TEST_PG_CONNINFO_i / EBB_TEST_PG_DIR_i / EBB_TEST_PG_PORT_i
 * (i = 1..N) plus EBB_TEST_PG_COUNT for all of them; then stops the
 * clusters and exits with CMD's exit code (128 + signal when CMD was
 * killed, 125 when the clusters could not start, 127 when CMD could not be
 * run). --keep-log copies each server log to ./ebb-test-pg-<i>.log before
 * the clusters are removed; when CMD fails, the end of each log is printed.
 *
 * kill / restart (fault drills, from inside CMD): SIGKILL the postmaster of
 * cluster I (found through EBB_TEST_PG_DIR_I and EBB_TEST_PG_PORT_I) and
 * wait until it and its backends are gone / start it again on the same
 * data directory and port. Exit 0, or 1 with the reason on stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/runner.h"
#include "tests/support/pg_cluster.h"

#define MAX_CLUSTERS 16
#define EXIT_SETUP 125
#define EXIT_EXEC 127

static int usage(void)
{
    fprintf(stderr, "usage: ebb-test-pg run [--keep-log] [--clusters N] -- CMD ARGS...\n"
                    "       ebb-test-pg kill I | restart I\n");
    return 2;
}

/* kill I / restart I: on cluster I of the enclosing `ebb-test-pg run`. */
static int crash_command(const char *verb, const char *index)
{
    char *end;
    long i = strtol(index, &end, 10);
    if (*end != '\0' || i < 1 || i > MAX_CLUSTERS)
        return usage();
    char dir_var[64], port_var[64];
    snprintf(dir_var, sizeof dir_var, "EBB_TEST_PG_DIR_%ld", i);
    snprintf(port_var, sizeof port_var, "EBB_TEST_PG_PORT_%ld", i);
    const char *dir = getenv(dir_var), *port = getenv(port_var);
    if (dir == NULL || port == NULL) {
        fprintf(stderr, "ebb-test-pg %s: %s / %s not set (run it under `ebb-test-pg run`)\n", verb,
                dir_var, port_var);
        return 1;
    }
    ebb_test_pg pg;
    ebb_error err;
    ebb_code rc = ebb_test_pg_attach(&pg, dir, atoi(port), &err);
    if (rc == EBB_OK)
        rc = strcmp(verb, "kill") == 0 ? ebb_test_pg_kill(&pg, &err)
                                       : ebb_test_pg_restart(&pg, &err);
    if (rc != EBB_OK) {
        fprintf(stderr, "ebb-test-pg %s %ld: %s\n", verb, i, err.msg);
        return 1;
    }
    return 0;
}

static void copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        fprintf(stderr, "ebb-test-pg: cannot read %s: %s\n", from, strerror(errno));
        return;
    }
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        fprintf(stderr, "ebb-test-pg: cannot write %s: %s\n", to, strerror(errno));
        close(in);
        return;
    }
    char buf[8192];
    ssize_t r;
    while ((r = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)r) != r)
            break;
    close(in);
    close(out);
    fprintf(stderr, "ebb-test-pg: server log kept in %s\n", to);
}

static void print_log_tail(int i, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    char buf[2048];
    off_t size = lseek(fd, 0, SEEK_END);
    off_t from = size > (off_t)sizeof buf - 1 ? size - (off_t)sizeof buf + 1 : 0;
    ssize_t r = pread(fd, buf, sizeof buf - 1, from);
    close(fd);
    if (r <= 0)
        return;
    buf[r] = '\0';
    fprintf(stderr, "ebb-test-pg: end of server log of cluster %d:\n%s\n", i, buf);
}

int main(int argc, char **argv)
{
    if (argc == 3 && (strcmp(argv[1], "kill") == 0 || strcmp(argv[1], "restart") == 0))
        return crash_command(argv[1], argv[2]);
    if (argc < 2 || strcmp(argv[1], "run") != 0)
        return usage();
    bool keep_log = false;
    int count = 1;
    int i = 2;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--keep-log") == 0) {
            keep_log = true;
        } else if (strcmp(argv[i], "--clusters") == 0 && i + 1 < argc) {
            char *end;
            long n = strtol(argv[++i], &end, 10);
            if (*end != '\0' || n < 1 || n > MAX_CLUSTERS) {
                fprintf(stderr, "ebb-test-pg: --clusters wants 1..%d\n", MAX_CLUSTERS);
                return 2;
            }
            count = (int)n;
        } else {
            return usage();
        }
    }
    if (i + 1 >= argc)
        return usage();
    const char *const *cmd = (const char *const *)&argv[i + 1];

    static ebb_test_pg clusters[MAX_CLUSTERS];
    int started = 0;
    ebb_error err;
    for (; started < count; started++) {
        if (ebb_test_pg_start(&clusters[started], &err) != EBB_OK) {
            fprintf(stderr, "ebb-test-pg: cluster %d: %s\n", started + 1, err.msg);
            for (int k = 0; k < started; k++)
                ebb_test_pg_stop(&clusters[k]);
            return EXIT_SETUP;
        }
    }

    /* Environment entries: 6 for the first cluster, 3 per cluster, the count. */
    static char envbuf[6 + 3 * MAX_CLUSTERS + 1][PATH_MAX + 64];
    const char *env[6 + 3 * MAX_CLUSTERS + 2];
    size_t ne = 0;
    const ebb_test_pg *c1 = &clusters[0];
    snprintf(envbuf[ne], sizeof envbuf[0], "PGHOST=%s", c1->socket_dir);
    ne++;
    snprintf(envbuf[ne], sizeof envbuf[0], "PGPORT=%d", c1->port);
    ne++;
    snprintf(envbuf[ne], sizeof envbuf[0], "PGUSER=%s", c1->superuser);
    ne++;
    snprintf(envbuf[ne], sizeof envbuf[0], "PGDATABASE=postgres");
    ne++;
    snprintf(envbuf[ne], sizeof envbuf[0], "EBB_TEST_PG_CONNINFO=%s", c1->conninfo);
    ne++;
    snprintf(envbuf[ne], sizeof envbuf[0], "EBB_TEST_PG_DIR=%s", c1->dir);
    ne++;
    for (int k = 0; k < count; k++) {
        snprintf(envbuf[ne++], sizeof envbuf[0], "EBB_TEST_PG_CONNINFO_%d=%s", k + 1,
                 clusters[k].conninfo);
        snprintf(envbuf[ne++], sizeof envbuf[0], "EBB_TEST_PG_DIR_%d=%s", k + 1, clusters[k].dir);
        snprintf(envbuf[ne++], sizeof envbuf[0], "EBB_TEST_PG_PORT_%d=%d", k + 1, clusters[k].port);
    }
    snprintf(envbuf[ne++], sizeof envbuf[0], "EBB_TEST_PG_COUNT=%d", count);
    for (size_t k = 0; k < ne; k++)
        env[k] = envbuf[k];
    env[ne] = NULL;

    ebb_run_opts o = {.argv = cmd, .env = env, .inherit_stdio = true};
    ebb_run_result res;
    int status;
    if (ebb_run(&o, &res, &err) != EBB_OK) {
        fprintf(stderr, "ebb-test-pg: %s\n", err.msg);
        status = EXIT_EXEC;
    } else if (res.term_signal != 0) {
        status = 128 + res.term_signal;
    } else {
        status = res.exit_code;
    }
    ebb_run_result_fini(&res);

    for (int k = 0; k < count; k++) {
        if (status != 0)
            print_log_tail(k + 1, clusters[k].log_path);
        if (keep_log) {
            char to[64];
            snprintf(to, sizeof to, "ebb-test-pg-%d.log", k + 1);
            copy_file(clusters[k].log_path, to);
        }
        ebb_test_pg_stop(&clusters[k]);
    }
    return status;
}
