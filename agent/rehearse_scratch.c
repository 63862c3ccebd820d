/* Scratch databases for rehearsals: a copy by TEMPLATE or by pg_dump | pg_restore, or an empty one; dropped after. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/pgtool.h"
#include "agent/rehearse.h"
#include "common/runner.h"

/* PostgreSQL's SQLSTATE for "source database is being accessed by other users". */
#define SQLSTATE_OBJECT_IN_USE "55006"

static void note(const ebb_scratch_opts *o, const char *fmt, ...) EBB_PRINTF(2, 3);
static void note(const ebb_scratch_opts *o, const char *fmt, ...)
{
    if (o->note == NULL)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    o->note(o->note_ctx, line);
}

void ebb_scratch_fini(ebb_scratch *s)
{
    if (s == NULL)
        return;
    ebb_rehearse_conninfo_free(s->conninfo);
    ebb_rehearse_conninfo_free(s->admin_conninfo);
    memset(s, 0, sizeof *s);
}

/* A maintenance connection to the server: database postgres, else template1. */
static ebb_code admin_connect(const char *conninfo, char **admin_conninfo, ebb_pg **out,
                              ebb_error *err)
{
    static const char *const dbs[] = {"postgres", "template1"};
    ebb_error first;
    ebb_error_clear(&first);
    for (size_t i = 0; i < sizeof dbs / sizeof dbs[0]; i++) {
        char *ci = NULL;
        ebb_code rc = ebb_rehearse_conninfo_with_db(conninfo, dbs[i], &ci, err);
        if (rc != EBB_OK)
            return rc;
        ebb_error e;
        rc = ebb_pg_connect(ci, "ebb-agent rehearse", out, &e);
        if (rc == EBB_OK) {
            *admin_conninfo = ci;
            return EBB_OK;
        }
        ebb_rehearse_conninfo_free(ci);
        if (i == 0)
            first = e;
    }
    if (err)
        *err = first;
    ebb_error_prefix(err, "cannot open a maintenance connection (database postgres or template1) "
                          "to create the scratch database");
    return first.code;
}

static ebb_code quoted(ebb_pg *pg, const char *a, const char *b, char **qa, char **qb,
                       ebb_error *err)
{
    *qa = *qb = NULL;
    ebb_code rc = ebb_pg_quote_ident(pg, a, qa, err);
    if (rc == EBB_OK && b != NULL)
        rc = ebb_pg_quote_ident(pg, b, qb, err);
    if (rc != EBB_OK) {
        free(*qa);
        *qa = NULL;
    }
    return rc;
}

/* CREATE DATABASE name [TEMPLATE source]: identifiers quoted, nothing else in it. */
static ebb_code create_db(ebb_pg *admin, const char *name, const char *template_db,
                          ebb_error *err)
{
    char *qn = NULL, *qt = NULL;
    ebb_code rc = quoted(admin, name, template_db, &qn, &qt, err);
    if (rc != EBB_OK)
        return rc;
    size_t len = strlen(qn) + (qt ? strlen(qt) : 0) + 64;
    char *sql = malloc(len);
    if (sql == NULL)
        rc = ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    else {
        snprintf(sql, len, "CREATE DATABASE %s%s%s", qn, qt ? " TEMPLATE " : "", qt ? qt : "");
        rc = ebb_pg_exec_ok(admin, sql, err);
    }
    free(sql);
    free(qn);
    free(qt);
    return rc;
}

/* A new database with the source's encoding and locale, from template0 (for pg_restore). */
typedef struct db_locale {
    char encoding[16];
    char *collate;
    char *ctype;
} db_locale;

static ebb_code locale_row(void *ctx, const PGresult *res, int row, ebb_error *err)
{
    db_locale *l = ctx;
    snprintf(l->encoding, sizeof l->encoding, "%s", PQgetvalue(res, row, 0));
    l->collate = strdup(PQgetvalue(res, row, 1));
    l->ctype = strdup(PQgetvalue(res, row, 2));
    if (l->collate == NULL || l->ctype == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    return EBB_OK;
}

static ebb_code create_db_like(ebb_pg *admin, const char *name, const char *source,
                               ebb_error *err)
{
    db_locale l = {.encoding = ""};
    const char *params[] = {source};
    ebb_code rc = ebb_pg_exec(admin,
                              "SELECT encoding::text, datcollate, datctype FROM pg_database"
                              " WHERE datname = $1",
                              1, params, locale_row, &l, NULL, err);
    if (rc == EBB_OK && l.encoding[0] == '\0')
        rc = ebb_error_set(err, EBB_E_NOT_FOUND, "database %s is not in pg_database", source);
    char *qn = NULL, *lc = NULL, *lt = NULL, *sql = NULL;
    if (rc == EBB_OK)
        rc = ebb_pg_quote_ident(admin, name, &qn, err);
    if (rc == EBB_OK) {
        /* CREATE DATABASE takes no parameters: the locale names go in as
         * literals quoted by libpq, the encoding as the number it was read as. */
        lc = PQescapeLiteral(admin->conn, l.collate, strlen(l.collate));
        lt = PQescapeLiteral(admin->conn, l.ctype, strlen(l.ctype));
        size_t len = strlen(qn) + (lc ? strlen(lc) : 0) + (lt ? strlen(lt) : 0) + 128;
        if (lc == NULL || lt == NULL || (sql = malloc(len)) == NULL)
            rc = ebb_error_set(err, EBB_E_NOMEM, "out of memory");
        else {
            snprintf(sql, len, "CREATE DATABASE %s TEMPLATE template0 ENCODING %ld LC_COLLATE %s "
                               "LC_CTYPE %s", qn, strtol(l.encoding, NULL, 10), lc, lt);
            rc = ebb_pg_exec_ok(admin, sql, err);
        }
    }
    if (lc)
        PQfreemem(lc);
    if (lt)
        PQfreemem(lt);
    free(sql);
    free(qn);
    free(l.collate);
    free(l.ctype);
    return rc;
}

typedef struct tool_lines {
    const ebb_scratch_opts *opts;
    const char *tool;
} tool_lines;

static void on_tool_line(void *ctx, ebb_run_stream stream, const char *line, size_t len)
{
    tool_lines *t = ctx;
    (void)stream;
    note(t->opts, "%s: %.*s", t->tool, (int)(len > 400 ? 400 : len), line);
}

/* Run prog with the connection of conninfo in its environment (never on argv). */
static ebb_code run_tool(const ebb_scratch_opts *o, const char *conninfo, const char *tool,
                         const char *const *argv, ebb_error *err)
{
    ebb_pgtool_env env;
    ebb_code rc = ebb_pgtool_env_init(conninfo, &env, err);
    if (rc != EBB_OK)
        return rc;
    tool_lines t = {.opts = o, .tool = tool};
    ebb_run_opts ro = {.argv = argv,
                       .env = (const char *const *)env.env,
                       .timeout_ms = o->timeout_ms,
                       .on_line = on_tool_line,
                       .line_ctx = &t,
                       .lines_stderr = true};
    ebb_run_result res;
    rc = ebb_run_check(&ro, &res, err);
    ebb_run_result_fini(&res);
    ebb_pgtool_env_fini(&env);
    return rc;
}

/* pg_dump -Fc of the source into a private directory, pg_restore into the scratch database. */
static ebb_code dump_restore(const ebb_scratch_opts *o, const ebb_scratch *s, int major,
                             ebb_error *err)
{
    const char *tmp = getenv("TMPDIR");
    char dir[PATH_MAX], file[PATH_MAX + 32], filearg[PATH_MAX + 48];
    snprintf(dir, sizeof dir, "%s/ebb-rehearse-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL) /* mode 0700: the dump holds the data */
        return ebb_error_errno(err, EBB_E_IO, errno, "cannot create a private directory in %s",
                               tmp && *tmp ? tmp : "/tmp");
    snprintf(file, sizeof file, "%s/source.dump", dir);
    snprintf(filearg, sizeof filearg, "--file=%s", file);
    /* Databases named on argv as a conninfo holding only the (non-secret)
     * name, as backup_restore.c does, so a name never reads as options. */
    char qsrc[160], qscr[160], srcarg[200], scrarg[200];
    ebb_code rc = EBB_OK;
    if (!ebb_pg_conninfo_quote(s->source, qsrc, sizeof qsrc) ||
        !ebb_pg_conninfo_quote(s->name, qscr, sizeof qscr))
        rc = ebb_error_set(err, EBB_E_INVALID, "database name %s is too long", s->source);
    snprintf(srcarg, sizeof srcarg, "--dbname=dbname=%s", qsrc);
    snprintf(scrarg, sizeof scrarg, "--dbname=dbname=%s", qscr);
    char dump_prog[PATH_MAX], restore_prog[PATH_MAX];
    ebb_pgtool_path(o->pg_bin_dir, major, "pg_dump", dump_prog, sizeof dump_prog);
    ebb_pgtool_path(o->pg_bin_dir, major, "pg_restore", restore_prog, sizeof restore_prog);
    if (rc == EBB_OK) {
        note(o, "copying %s with pg_dump | pg_restore", s->source);
        const char *argv[] = {dump_prog, "--no-password", "--format=custom", filearg, srcarg,
                              NULL};
        rc = run_tool(o, o->conninfo, "pg_dump", argv, err);
        if (rc != EBB_OK)
            ebb_error_prefix(err, "pg_dump of %s for the scratch copy", s->source);
    }
    if (rc == EBB_OK) {
        const char *argv[] = {restore_prog, "--no-password", "--no-owner", "--exit-on-error",
                              scrarg, file, NULL};
        rc = run_tool(o, s->conninfo, "pg_restore", argv, err);
        if (rc != EBB_OK)
            ebb_error_prefix(err, "pg_restore into the scratch database %s", s->name);
    }
    (void)unlink(file);
    (void)rmdir(dir);
    return rc;
}

/* Name of the source database and its server's major version. */
static ebb_code source_facts(const char *conninfo, char *name, size_t n, int *major,
                             ebb_error *err)
{
    ebb_pg *pg = NULL;
    ebb_code rc = ebb_pg_connect(conninfo, "ebb-agent rehearse", &pg, err);
    if (rc != EBB_OK)
        return rc;
    char *db = NULL;
    rc = ebb_pg_query_text(pg, "SELECT current_database()", 0, NULL, &db, err);
    if (rc == EBB_OK)
        snprintf(name, n, "%s", db ? db : "");
    *major = ebb_pg_server_version(pg) / 10000;
    free(db);
    ebb_pg_close(pg); /* TEMPLATE needs the source without sessions, ours included */
    return rc;
}

static ebb_code check_createdb(ebb_pg *admin, ebb_error *err)
{
    char *yes = NULL, *role = NULL;
    ebb_code rc = ebb_pg_query_text(admin,
                                    "SELECT (rolcreatedb OR rolsuper)::text FROM pg_roles"
                                    " WHERE rolname = current_user",
                                    0, NULL, &yes, err);
    if (rc == EBB_OK)
        rc = ebb_pg_query_text(admin, "SELECT current_user::text", 0, NULL, &role, err);
    if (rc == EBB_OK && (yes == NULL || strcmp(yes, "true") != 0))
        rc = ebb_error_set(err, EBB_E_REFUSED,
                           "role %s cannot create databases: a rehearsal runs on a scratch "
                           "database and needs CREATEDB (ALTER ROLE %s CREATEDB), or run it as "
                           "a role that has it",
                           role ? role : "?", role ? role : "?");
    free(yes);
    free(role);
    return rc;
}

static ebb_code other_sessions(ebb_pg *admin, const char *db, int *out, ebb_error *err)
{
    const char *params[] = {db};
    char *n = NULL;
    ebb_code rc = ebb_pg_query_text(admin,
                                    "SELECT count(*)::text FROM pg_stat_activity"
                                    " WHERE datname = $1 AND pid <> pg_backend_pid()",
                                    1, params, &n, err);
    if (rc == EBB_OK)
        *out = n ? atoi(n) : 0;
    free(n);
    return rc;
}

ebb_code ebb_scratch_create(const ebb_scratch_opts *opts, uint32_t random, ebb_scratch *out,
                            ebb_error *err)
{
    ebb_scratch s;
    memset(&s, 0, sizeof s);
    int major = 0;
    ebb_code rc = source_facts(opts->conninfo, s.source, sizeof s.source, &major, err);
    if (rc != EBB_OK)
        return rc;
    ebb_pg *admin = NULL;
    rc = admin_connect(opts->conninfo, &s.admin_conninfo, &admin, err);
    if (rc != EBB_OK)
        return rc;
    rc = check_createdb(admin, err);
    ebb_rehearse_scratch_name(s.source, random, s.name);
    if (rc == EBB_OK)
        rc = ebb_rehearse_conninfo_with_db(opts->conninfo, s.name, &s.conninfo, err);
    if (rc == EBB_OK && opts->empty) {
        s.method = EBB_SCRATCH_EMPTY;
        rc = create_db(admin, s.name, NULL, err);
        s.created = rc == EBB_OK;
    } else if (rc == EBB_OK) {
        rc = other_sessions(admin, s.source, &s.sessions_on_source, err);
        bool use_template = rc == EBB_OK && s.sessions_on_source == 0 && !opts->force_dump;
        if (use_template) {
            ebb_error terr;
            rc = create_db(admin, s.name, s.source, &terr);
            if (rc == EBB_OK) {
                s.method = EBB_SCRATCH_TEMPLATE;
                s.created = true;
            } else if (rc == EBB_E_PG && strcmp(terr.sqlstate, SQLSTATE_OBJECT_IN_USE) == 0) {
                note(opts, "TEMPLATE copy refused (a session connected to %s meanwhile)",
                     s.source);
                use_template = false;
                rc = EBB_OK;
            } else if (err) {
                *err = terr;
            }
        } else if (rc == EBB_OK && s.sessions_on_source > 0) {
            note(opts, "%d other session%s connected to %s: copying with pg_dump | pg_restore",
                 s.sessions_on_source, s.sessions_on_source == 1 ? " is" : "s are", s.source);
        }
        if (rc == EBB_OK && !use_template) {
            s.method = EBB_SCRATCH_DUMP_RESTORE;
            rc = create_db_like(admin, s.name, s.source, err);
            s.created = rc == EBB_OK;
            if (rc == EBB_OK)
                rc = dump_restore(opts, &s, major, err);
        }
    }
    ebb_pg_close(admin);
    if (rc != EBB_OK) {
        if (s.created) {
            ebb_error derr;
            if (ebb_scratch_drop(&s, &derr) != EBB_OK && err) {
                size_t len = strlen(err->msg);
                snprintf(err->msg + len, sizeof err->msg - len,
                         " (and the scratch database could not be dropped: %s)", derr.msg);
            }
        }
        ebb_scratch_fini(&s);
        return rc;
    }
    *out = s;
    return EBB_OK;
}

ebb_code ebb_scratch_drop(ebb_scratch *s, ebb_error *err)
{
    if (s == NULL || !s->created || s->admin_conninfo == NULL) {
        ebb_scratch_fini(s);
        return EBB_OK;
    }
    ebb_pg *admin = NULL;
    ebb_code rc = ebb_pg_connect(s->admin_conninfo, "ebb-agent rehearse", &admin, err);
    char *qn = NULL;
    if (rc == EBB_OK)
        rc = ebb_pg_quote_ident(admin, s->name, &qn, err);
    if (rc == EBB_OK) {
        size_t len = strlen(qn) + 64;
        char *sql = malloc(len);
        if (sql == NULL)
            rc = ebb_error_set(err, EBB_E_NOMEM, "out of memory");
        else {
            /* FORCE (13+): a session left on the scratch copy must not keep it alive. */
            snprintf(sql, len, "DROP DATABASE IF EXISTS %s%s", qn,
                     ebb_pg_server_version(admin) >= 130000 ? " WITH (FORCE)" : "");
            rc = ebb_pg_exec_ok(admin, sql, err);
            free(sql);
        }
    }
    free(qn);
    ebb_pg_close(admin);
    if (rc != EBB_OK) {
        ebb_error_prefix(err, "dropping the scratch database %s", s->name);
        return rc; /* s kept: the caller can report the name */
    }
    ebb_scratch_fini(s);
    return EBB_OK;
}
