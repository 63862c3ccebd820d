/* Throwaway PostgreSQL 15 clusters for tests: private port, socket dir, owner. */
#ifndef EBB_TESTS_PG_CLUSTER_H
#define EBB_TESTS_PG_CLUSTER_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "common/error.h"

/*
 * initdb + pg_ctl start in a fresh temporary directory, as the `postgres`
 * user when the tests run as root (initdb refuses root). Listens on
 * 127.0.0.1 and a private socket directory on a free port, with
 * max_prepared_transactions > 0. A watchdog child stops the cluster
 * (pg_ctl stop -m immediate) and removes the directory when the test
 * process ends for any reason, including a failed assertion or SIGKILL.
 */
typedef struct ebb_test_pg {
    char dir[PATH_MAX]; /* temporary root: data/, sock/, log */
    char data_dir[PATH_MAX];
    char socket_dir[PATH_MAX];
    char log_path[PATH_MAX];
    int port;
    char superuser[64];  /* "postgres" */
    char conninfo[1024]; /* for the "postgres" database */
    pid_t watchdog_pid;
    bool running;
    int watchdog_fd; /* write end of the watchdog's pipe (harness-internal) */
} ebb_test_pg;

/*
 * pg is filled here (no need to zero it first). Binaries come from
 * $EBB_PG_BINDIR or /usr/lib/postgresql/15/bin. The watchdog is a child of
 * the caller (waited for in ebb_test_pg_stop); its pipe's write end is
 * close-on-exec, so programs the test starts do not keep it alive.
 */
EBB_MUSTCHECK ebb_code ebb_test_pg_start(ebb_test_pg *pg, ebb_error *err);

/* pg_ctl stop -m fast and remove the directory; safe to call twice. */
void ebb_test_pg_stop(ebb_test_pg *pg);

/*
 * SIGKILL the postmaster (fault drills) and wait until it and its backends
 * are gone (backends that outlive it by 5 s get SIGKILL too, as in a
 * crash) / start it again on the same data directory and port.
 */
EBB_MUSTCHECK ebb_code ebb_test_pg_kill(ebb_test_pg *pg, ebb_error *err);
EBB_MUSTCHECK ebb_code ebb_test_pg_restart(ebb_test_pg *pg, ebb_error *err);

/*
 * Describe the running cluster that ebb_test_pg_start made in dir
 * (/tmp/ebb-pg-XXXXXX) on port, for ebb_test_pg_kill / _restart from
 * another process (ebb-test-pg kill|restart). No watchdog: the process
 * that started the cluster still owns its clean-up. Never pass pg to
 * ebb_test_pg_stop. EBB_E_NOT_FOUND when dir holds no data directory.
 */
EBB_MUSTCHECK ebb_code ebb_test_pg_attach(ebb_test_pg *pg, const char *dir, int port,
                                          ebb_error *err);

/* CREATE DATABASE name; writes its conninfo into out (size n). */
EBB_MUSTCHECK ebb_code ebb_test_pg_create_db(ebb_test_pg *pg, const char *name, char *out, size_t n,
                                             ebb_error *err);

/* conninfo of an existing database of this cluster into out (size n). */
void ebb_test_pg_conninfo(const ebb_test_pg *pg, const char *dbname, char *out, size_t n);

#endif
