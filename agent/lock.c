/* Per-database session guards for migrators: the advisory lock and the session timeouts. */
#include "agent/lock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The bigint key as pg_locks shows it: classid = high 32 bits, objid = low 32 bits, objsubid 1. */
static void key_text(char *buf, size_t n)
{
    snprintf(buf, n, "%lld", (long long)EBB_LOCK_KEY);
}

typedef struct holder {
    int pid;
    char *since;
    char *app;
    char *db;
} holder;

static ebb_code holder_row(void *ctx, const PGresult *res, int row, ebb_error *err)
{
    holder *h = ctx;
    h->pid = atoi(PQgetvalue(res, row, 0));
    h->since = strdup(PQgetisnull(res, row, 1) ? "unknown time" : PQgetvalue(res, row, 1));
    h->app = strdup(PQgetisnull(res, row, 2) ? "" : PQgetvalue(res, row, 2));
    h->db = strdup(PQgetvalue(res, row, 3));
    if (!h->since || !h->app || !h->db)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory reading the lock holder");
    return EBB_OK;
}

static void holder_fini(holder *h)
{
    free(h->since);
    free(h->app);
    free(h->db);
}

/*
 * The session holding the key, with the time it started what it is doing
 * (xact_start when in a transaction, else backend_start).
 */
static ebb_code find_holder(ebb_pg *pg, holder *h, ebb_error *err)
{
    char key[32];
    key_text(key, sizeof key);
    const char *params[] = {key};
    return ebb_pg_exec(
        pg,
        "SELECT l.pid, to_char(coalesce(a.xact_start, a.backend_start) AT TIME ZONE 'UTC',"
        "  'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), a.application_name, current_database()"
        " FROM pg_catalog.pg_locks l"
        " LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted"
        "   AND l.database = (SELECT oid FROM pg_catalog.pg_database"
        "                      WHERE datname = current_database())"
        "   AND l.classid::bigint = ($1::bigint >> 32)"
        "   AND l.objid::bigint = ($1::bigint & 4294967295) AND l.objsubid = 1"
        "   AND l.pid <> pg_catalog.pg_backend_pid()"
        " LIMIT 1",
        1, params, holder_row, h, NULL, err);
}

ebb_code ebb_lock_try(ebb_pg *pg, ebb_error *err)
{
    char key[32];
    key_text(key, sizeof key);
    const char *params[] = {key};
    char *got = NULL;
    ebb_code rc = ebb_pg_query_text(pg, "SELECT pg_catalog.pg_try_advisory_lock($1::bigint)", 1,
                                    params, &got, err);
    if (rc != EBB_OK)
        return rc;
    bool ok = got && strcmp(got, "t") == 0;
    free(got);
    if (ok)
        return EBB_OK;
    holder h = {0};
    rc = find_holder(pg, &h, err);
    if (rc != EBB_OK) {
        holder_fini(&h);
        return rc;
    }
    if (h.pid == 0) /* released between the two queries */
        rc = ebb_error_set(err, EBB_E_LOCKED,
                           "another migrator held the lock on this database (it has just "
                           "finished; try again)");
    else
        rc = ebb_error_set(err, EBB_E_LOCKED,
                           "another migrator holds the lock on database %s (pid %d%s%s%s, since "
                           "%s)",
                           h.db, h.pid, *h.app ? ", application \"" : "", h.app,
                           *h.app ? "\"" : "", h.since);
    holder_fini(&h);
    return rc;
}

ebb_code ebb_lock_release(ebb_pg *pg, ebb_error *err)
{
    char key[32];
    key_text(key, sizeof key);
    const char *params[] = {key};
    char *got = NULL;
    ebb_code rc = ebb_pg_query_text(pg, "SELECT pg_catalog.pg_advisory_unlock($1::bigint)", 1,
                                    params, &got, err);
    if (rc != EBB_OK)
        return rc;
    bool ok = got && strcmp(got, "t") == 0;
    free(got);
    if (!ok)
        return ebb_error_set(err, EBB_E_CONFLICT,
                             "this session does not hold the migrator lock it tried to release");
    return EBB_OK;
}

ebb_code ebb_lock_holder(ebb_pg *pg, int *pid, char **since, ebb_error *err)
{
    holder h = {0};
    ebb_code rc = find_holder(pg, &h, err);
    if (rc == EBB_OK) {
        *pid = h.pid;
        *since = h.since;
        h.since = NULL;
    }
    holder_fini(&h);
    return rc;
}

static ebb_code set_ms(ebb_pg *pg, const char *name, long ms, ebb_error *err)
{
    if (ms <= 0)
        return EBB_OK;
    char val[32];
    snprintf(val, sizeof val, "%ldms", ms);
    const char *params[] = {name, val};
    ebb_code rc = ebb_pg_exec(pg, "SELECT pg_catalog.set_config($1, $2, false)", 2, params, NULL,
                              NULL, NULL, err);
    if (rc != EBB_OK)
        ebb_error_prefix(err, "setting %s", name);
    return rc;
}

ebb_code ebb_session_set_timeouts(ebb_pg *pg, long lock_timeout_ms, long statement_timeout_ms,
                                  ebb_error *err)
{
    ebb_code rc = set_ms(pg, "lock_timeout", lock_timeout_ms, err);
    if (rc == EBB_OK)
        rc = set_ms(pg, "statement_timeout", statement_timeout_ms, err);
    return rc;
}
