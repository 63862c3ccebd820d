/* One way to talk to PostgreSQL: parameterised statements, row callbacks, SQLSTATE kept. */
#ifndef EBB_COMMON_PGSQL_H
#define EBB_COMMON_PGSQL_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "common/error.h"

/*
 * A connection. The conninfo is kept only in masked form (no password) so
 * that it can appear in messages. Owned by the caller: ebb_pg_close().
 */
typedef struct ebb_pg {
    PGconn *conn;
    char *safe_conninfo; /* masked, for messages */
} ebb_pg;

/* Connect; *out is set only on success. application_name may be NULL. */
EBB_MUSTCHECK ebb_code ebb_pg_connect(const char *conninfo, const char *application_name,
                                      ebb_pg **out, ebb_error *err);
void ebb_pg_close(ebb_pg *pg);

/*
 * Called once per result row. Returning non-EBB_OK stops the iteration and
 * becomes the result of ebb_pg_exec.
 */
typedef ebb_code (*ebb_pg_row_fn)(void *ctx, const PGresult *res, int row, ebb_error *err);

/*
 * Run one statement with text parameters ($1..$n; NULL entries are SQL NULL)
 * through the extended protocol. row_fn may be NULL. On a server error the
 * result is EBB_E_PG with err->sqlstate and the server's message (primary,
 * detail, hint). *affected (may be NULL) gets the command's row count.
 */
EBB_MUSTCHECK ebb_code ebb_pg_exec(ebb_pg *pg, const char *sql, int nparams,
                                   const char *const *params, ebb_pg_row_fn row_fn,
                                   void *ctx, long *affected, ebb_error *err);

/*
 * Run a script of any number of statements through the simple-query
 * protocol (migration scripts). No parameters: scripts come from files the
 * operator owns, never from values pasted into SQL.
 */
EBB_MUSTCHECK ebb_code ebb_pg_exec_script(ebb_pg *pg, const char *script, ebb_error *err);

/* First column of the first row as a malloc'd string (NULL when SQL NULL or no row). */
EBB_MUSTCHECK ebb_code ebb_pg_query_text(ebb_pg *pg, const char *sql, int nparams,
                                         const char *const *params, char **out, ebb_error *err);

/* Quote an identifier with PQescapeIdentifier; *out is malloc'd. */
EBB_MUSTCHECK ebb_code ebb_pg_quote_ident(ebb_pg *pg, const char *ident, char **out,
                                          ebb_error *err);

/* Run one statement without parameters whose rows, if any, are ignored (SET, DDL, ...). */
EBB_MUSTCHECK ebb_code ebb_pg_exec_ok(ebb_pg *pg, const char *sql, ebb_error *err);

/* BEGIN / COMMIT / ROLLBACK. A COMMIT that the server turns into a rollback
 * (the transaction had failed) is an EBB_E_PG error with SQLSTATE 25P02. */
EBB_MUSTCHECK ebb_code ebb_pg_begin(ebb_pg *pg, ebb_error *err);
EBB_MUSTCHECK ebb_code ebb_pg_commit(ebb_pg *pg, ebb_error *err);
EBB_MUSTCHECK ebb_code ebb_pg_rollback(ebb_pg *pg, ebb_error *err);

/* Server version as PQserverVersion gives it (150004 for 15.4); 0 when not connected. */
int ebb_pg_server_version(const ebb_pg *pg);

/* Whether the connection is still usable (false after the server went away). */
bool ebb_pg_is_alive(const ebb_pg *pg);

/*
 * A copy of a connection string (key=value or postgresql:// URI) that is
 * safe to show: parsed by libpq, printed back as key=value with the
 * password replaced by "***". *out is malloc'd, set only on success; an
 * unparsable string is EBB_E_INVALID (the message never repeats the text).
 */
EBB_MUSTCHECK ebb_code ebb_pg_conninfo_mask(const char *conninfo, char **out, ebb_error *err);

/*
 * Put a value into key=value connection-string form, quoted when needed
 * (spaces, quotes, backslashes, empty), into out (size n). Returns false
 * when it does not fit.
 */
bool ebb_pg_conninfo_quote(const char *value, char *out, size_t n);

#endif
