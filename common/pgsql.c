/* One way to talk to PostgreSQL: connect, parameterised statements, scripts, SQLSTATE kept. */
#include "common/pgsql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* SQLSTATE given to client-side failures where the server sent none (connection_failure). */
#define SQLSTATE_CONNECTION_FAILURE "08006"

/* Append "; label: text" to buf (size n), cut to fit. */
static void append(char *buf, size_t n, const char *label, const char *text)
{
    size_t len = strlen(buf);
    if (len + 1 < n)
        snprintf(buf + len, n - len, "%s%s", label, text);
}

/*
 * 1-based character position (as the server reports it) to line and column
 * of the statement text, so a failing line of a migration script is named.
 * Characters are counted as UTF-8 code points, ebb's client encoding.
 */
static void position_to_line(const char *text, long pos, long *line, long *col)
{
    *line = 1;
    *col = 1;
    long chars = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        if ((*p & 0xC0) == 0x80)
            continue;
        chars++;
        if (chars >= pos)
            return;
        if (*p == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

/* Fill err from a failed result (or the connection when res is NULL). */
static ebb_code pg_error(ebb_pg *pg, const PGresult *res, const char *text, ebb_error *err)
{
    char msg[EBB_ERROR_MSG_MAX] = "";
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (primary == NULL) {
        /* Client-side failure (connection lost, out of memory): libpq's own text. */
        const char *m = res != NULL ? PQresultErrorMessage(res) : "";
        if (m == NULL || m[0] == '\0')
            m = PQerrorMessage(pg->conn);
        snprintf(msg, sizeof msg, "%s", m);
        size_t len = strlen(msg);
        while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
            msg[--len] = '\0';
        if (msg[0] == '\0')
            snprintf(msg, sizeof msg, "unknown libpq failure");
    } else {
        snprintf(msg, sizeof msg, "%s", primary);
        const char *posstr = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
        if (posstr != NULL && text != NULL) {
            long line, col;
            position_to_line(text, atol(posstr), &line, &col);
            char where[96];
            snprintf(where, sizeof where, " (line %ld, column %ld)", line, col);
            append(msg, sizeof msg, "", where);
        }
        const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
        const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
        const char *context = PQresultErrorField(res, PG_DIAG_CONTEXT);
        if (detail != NULL)
            append(msg, sizeof msg, "; detail: ", detail);
        if (hint != NULL)
            append(msg, sizeof msg, "; hint: ", hint);
        if (context != NULL)
            append(msg, sizeof msg, "; context: ", context);
    }
    if ((state == NULL || state[0] == '\0') && PQstatus(pg->conn) == CONNECTION_BAD)
        state = SQLSTATE_CONNECTION_FAILURE;
    if (state != NULL && state[0] != '\0')
        ebb_error_set(err, EBB_E_PG, "%s: %s", state, msg);
    else
        ebb_error_set(err, EBB_E_PG, "%s", msg);
    if (err != NULL && state != NULL)
        snprintf(err->sqlstate, sizeof err->sqlstate, "%s", state);
    return EBB_E_PG;
}

/* Server notices (RAISE NOTICE, "table does not exist, skipping") go to the debug log. */
static void notice_to_log(void *arg, const PGresult *res)
{
    (void)arg;
    const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    ebb_log(EBB_LOG_DEBUG, "pgsql", "server %s: %s", sev != NULL ? sev : "NOTICE",
            m != NULL ? m : "");
}

bool ebb_pg_conninfo_quote(const char *value, char *out, size_t n)
{
    bool plain = value[0] != '\0';
    for (const char *p = value; *p != '\0' && plain; p++)
        plain = !(*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\'' || *p == '\\' ||
                  *p == '=');
    size_t o = 0;
    if (!plain && o < n)
        out[o++] = '\'';
    for (const char *p = value; *p != '\0'; p++) {
        if (!plain && (*p == '\'' || *p == '\\')) {
            if (o + 1 >= n)
                return false;
            out[o++] = '\\';
        }
        if (o + 1 >= n)
            return false;
        out[o++] = *p;
    }
    if (!plain) {
        if (o + 1 >= n)
            return false;
        out[o++] = '\'';
    }
    if (o >= n)
        return false;
    out[o] = '\0';
    return true;
}

ebb_code ebb_pg_conninfo_mask(const char *conninfo, char **out, ebb_error *err)
{
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);
    if (opts == NULL) {
        /* libpq's message quotes parts of the string, which may hold a password. */
        PQfreemem(perr);
        return ebb_error_set(err, EBB_E_INVALID,
                             "connection string cannot be parsed (neither key=value nor a "
                             "postgresql:// URI)");
    }
    size_t cap = 64, len = 0;
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
        if (o->val != NULL)
            cap += strlen(o->keyword) + 2 * strlen(o->val) + 8;
    char *s = malloc(cap);
    if (s == NULL) {
        PQconninfoFree(opts);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    }
    s[0] = '\0';
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL)
            continue;
        bool secret = strcmp(o->keyword, "password") == 0;
        char q[2048];
        if (secret)
            snprintf(q, sizeof q, "***");
        else if (!ebb_pg_conninfo_quote(o->val, q, sizeof q))
            snprintf(q, sizeof q, "'...'");
        len += (size_t)snprintf(s + len, cap - len, "%s%s=%s", len > 0 ? " " : "", o->keyword, q);
    }
    PQconninfoFree(opts);
    *out = s;
    return EBB_OK;
}

ebb_code ebb_pg_connect(const char *conninfo, const char *application_name, ebb_pg **out,
                        ebb_error *err)
{
    char *safe = NULL;
    ebb_code rc = ebb_pg_conninfo_mask(conninfo, &safe, err);
    if (rc != EBB_OK)
        return rc;
    ebb_pg *pg = calloc(1, sizeof *pg);
    if (pg == NULL) {
        free(safe);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    }
    pg->safe_conninfo = safe;
    /* Later keywords override what the expanded dbname string says. */
    const char *keys[4] = {"dbname", "fallback_application_name", NULL, NULL};
    const char *vals[4] = {conninfo, "ebb", NULL, NULL};
    if (application_name != NULL) {
        keys[2] = "application_name";
        vals[2] = application_name;
    }
    pg->conn = PQconnectdbParams(keys, vals, 1);
    if (pg->conn == NULL) {
        ebb_pg_close(pg);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory connecting to PostgreSQL");
    }
    if (PQstatus(pg->conn) != CONNECTION_OK) {
        char m[EBB_ERROR_MSG_MAX];
        snprintf(m, sizeof m, "%s", PQerrorMessage(pg->conn));
        size_t len = strlen(m);
        while (len > 0 && (m[len - 1] == '\n' || m[len - 1] == ' '))
            m[--len] = '\0';
        ebb_error_set(err, EBB_E_PG, "cannot connect to PostgreSQL (%s): %s", safe, m);
        if (err != NULL)
            snprintf(err->sqlstate, sizeof err->sqlstate, "%s", SQLSTATE_CONNECTION_FAILURE);
        ebb_pg_close(pg);
        return EBB_E_PG;
    }
    PQsetNoticeReceiver(pg->conn, notice_to_log, NULL);
    *out = pg;
    return EBB_OK;
}

void ebb_pg_close(ebb_pg *pg)
{
    if (pg == NULL)
        return;
    if (pg->conn != NULL)
        PQfinish(pg->conn);
    free(pg->safe_conninfo);
    free(pg);
}

static long affected_rows(const PGresult *res)
{
    const char *n = PQcmdTuples((PGresult *)res);
    if (n != NULL && n[0] != '\0')
        return atol(n);
    return PQresultStatus(res) == PGRES_TUPLES_OK ? PQntuples(res) : 0;
}

ebb_code ebb_pg_exec(ebb_pg *pg, const char *sql, int nparams, const char *const *params,
                     ebb_pg_row_fn row_fn, void *ctx, long *affected, ebb_error *err)
{
    PGresult *res = PQexecParams(pg->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        ebb_code rc = pg_error(pg, res, sql, err);
        PQclear(res);
        return rc;
    }
    if (row_fn != NULL) {
        int rows = PQntuples(res);
        for (int i = 0; i < rows; i++) {
            ebb_code rc = row_fn(ctx, res, i, err);
            if (rc != EBB_OK) {
                PQclear(res);
                return rc;
            }
        }
    }
    if (affected != NULL)
        *affected = affected_rows(res);
    PQclear(res);
    return EBB_OK;
}

ebb_code ebb_pg_exec_ok(ebb_pg *pg, const char *sql, ebb_error *err)
{
    return ebb_pg_exec(pg, sql, 0, NULL, NULL, NULL, NULL, err);
}

ebb_code ebb_pg_begin(ebb_pg *pg, ebb_error *err)
{
    return ebb_pg_exec_ok(pg, "BEGIN", err);
}

ebb_code ebb_pg_rollback(ebb_pg *pg, ebb_error *err)
{
    return ebb_pg_exec_ok(pg, "ROLLBACK", err);
}

ebb_code ebb_pg_commit(ebb_pg *pg, ebb_error *err)
{
    PGresult *res = PQexec(pg->conn, "COMMIT");
    ExecStatusType st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK) {
        ebb_code rc = pg_error(pg, res, "COMMIT", err);
        PQclear(res);
        return rc;
    }
    /* COMMIT of a failed transaction "succeeds" with the tag ROLLBACK. */
    bool rolled_back = strcmp(PQcmdStatus(res), "ROLLBACK") == 0;
    PQclear(res);
    if (rolled_back) {
        ebb_error_set(err, EBB_E_PG,
                      "25P02: COMMIT rolled back: the transaction had already failed");
        if (err != NULL)
            snprintf(err->sqlstate, sizeof err->sqlstate, "25P02");
        return EBB_E_PG;
    }
    return EBB_OK;
}

/* COPY inside a script has no data source here: end it so the connection stays usable. */
static void finish_copy(ebb_pg *pg, ExecStatusType st)
{
    if (st == PGRES_COPY_IN) {
        PQputCopyEnd(pg->conn, "COPY FROM STDIN is not supported in ebb scripts");
    } else if (st == PGRES_COPY_OUT) {
        char *buf;
        while (PQgetCopyData(pg->conn, &buf, 0) > 0)
            PQfreemem(buf);
    }
}

ebb_code ebb_pg_exec_script(ebb_pg *pg, const char *script, ebb_error *err)
{
    if (!PQsendQuery(pg->conn, script))
        return pg_error(pg, NULL, script, err);
    /* Collect every result; the first error is the one that stopped the script. */
    ebb_code rc = EBB_OK;
    PGresult *res;
    while ((res = PQgetResult(pg->conn)) != NULL) {
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT) {
            finish_copy(pg, st);
        } else if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY &&
                   rc == EBB_OK) {
            rc = pg_error(pg, res, script, err);
        }
        PQclear(res);
        if (PQstatus(pg->conn) == CONNECTION_BAD) {
            if (rc == EBB_OK)
                rc = pg_error(pg, NULL, script, err);
            break;
        }
    }
    return rc;
}

ebb_code ebb_pg_query_text(ebb_pg *pg, const char *sql, int nparams, const char *const *params,
                           char **out, ebb_error *err)
{
    PGresult *res = PQexecParams(pg->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        ebb_code rc = pg_error(pg, res, sql, err);
        PQclear(res);
        return rc;
    }
    char *v = NULL;
    if (st == PGRES_TUPLES_OK && PQntuples(res) > 0 && PQnfields(res) > 0 &&
        !PQgetisnull(res, 0, 0)) {
        v = strdup(PQgetvalue(res, 0, 0));
        if (v == NULL) {
            PQclear(res);
            return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
        }
    }
    PQclear(res);
    *out = v;
    return EBB_OK;
}

ebb_code ebb_pg_quote_ident(ebb_pg *pg, const char *ident, char **out, ebb_error *err)
{
    char *q = PQescapeIdentifier(pg->conn, ident, strlen(ident));
    if (q == NULL) {
        char m[256];
        snprintf(m, sizeof m, "%s", PQerrorMessage(pg->conn));
        size_t len = strlen(m);
        while (len > 0 && m[len - 1] == '\n')
            m[--len] = '\0';
        return ebb_error_set(err, EBB_E_INVALID, "cannot quote identifier: %s", m);
    }
    char *copy = strdup(q);
    PQfreemem(q);
    if (copy == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    *out = copy;
    return EBB_OK;
}

int ebb_pg_server_version(const ebb_pg *pg)
{
    if (pg == NULL || pg->conn == NULL || PQstatus(pg->conn) != CONNECTION_OK)
        return 0;
    return PQserverVersion(pg->conn);
}

bool ebb_pg_is_alive(const ebb_pg *pg)
{
    return pg != NULL && pg->conn != NULL && PQstatus(pg->conn) == CONNECTION_OK;
}
