/* Rollback rehearsal, pure parts: verdicts, irreversible-by-design detection, scratch names and conninfo. */
#include "agent/rehearse.h"

#include <ctype.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <pg_query.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *ebb_rehearse_verdict_name(ebb_rehearse_verdict v)
{
    static const char *const names[] = {
        [EBB_REHEARSE_OK] = "ok",
        [EBB_REHEARSE_DOWN_FAILED] = "down_failed",
        [EBB_REHEARSE_DRIFT] = "drift",
        [EBB_REHEARSE_IRREVERSIBLE] = "irreversible",
        [EBB_REHEARSE_REUP_FAILED] = "reup_failed",
        [EBB_REHEARSE_CHECK_FAILED] = "check_failed",
        [EBB_REHEARSE_UP_FAILED] = "up_failed",
        [EBB_REHEARSE_NOT_RUN] = "not_run",
    };
    if ((size_t)v >= sizeof names / sizeof names[0] || names[v] == NULL)
        return "unknown";
    return names[v];
}

bool ebb_rehearse_verdict_broken(ebb_rehearse_verdict v, bool strict)
{
    if (v == EBB_REHEARSE_OK)
        return false;
    if (v == EBB_REHEARSE_IRREVERSIBLE)
        return strict;
    return true;
}

const char *ebb_irreversible_name(ebb_irreversible why)
{
    switch (why) {
    case EBB_IRREVERSIBLE_NO: return "no";
    case EBB_IRREVERSIBLE_DIRECTIVE: return "directive";
    case EBB_IRREVERSIBLE_RAISE_ONLY: return "raise-only";
    case EBB_IRREVERSIBLE_RAISES: return "raises";
    }
    return "unknown";
}

ebb_rehearse_verdict ebb_rehearse_classify(const ebb_rehearse_outcome *o)
{
    if (!o->reached)
        return EBB_REHEARSE_NOT_RUN;
    if (!o->up_ok)
        return EBB_REHEARSE_UP_FAILED;
    if (o->irreversible != EBB_IRREVERSIBLE_NO)
        return EBB_REHEARSE_IRREVERSIBLE;
    if (!o->down_ok)
        return EBB_REHEARSE_DOWN_FAILED;
    if (o->n_drift > 0)
        return EBB_REHEARSE_DRIFT;
    if (!o->reup_ok)
        return EBB_REHEARSE_REUP_FAILED;
    if (!o->checks_ok)
        return EBB_REHEARSE_CHECK_FAILED;
    return EBB_REHEARSE_OK;
}

bool ebb_rehearse_message_irreversible(const char *message)
{
    static const char word[] = "irreversible";
    size_t n = sizeof word - 1;
    for (const char *p = message; p && *p; p++) {
        size_t i = 0;
        while (i < n && p[i] && tolower((unsigned char)p[i]) == word[i])
            i++;
        if (i == n)
            return true;
    }
    return false;
}

/* ---- DO blocks that only raise ---- */

/* elog.h of PostgreSQL 15: RAISE EXCEPTION (and a RAISE without level) is ERROR. */
#define PG15_ELOG_ERROR 21

/* The string value of a DefElem named name in a DoStmt's args, or NULL. Borrowed. */
static const char *do_arg(json_t *args, const char *name)
{
    size_t i;
    json_t *a;
    json_array_foreach(args, i, a) {
        json_t *d = json_object_get(a, "DefElem");
        const char *defname = json_string_value(json_object_get(d, "defname"));
        if (defname && strcmp(defname, name) == 0)
            return json_string_value(
                json_object_get(json_object_get(json_object_get(d, "arg"), "String"), "sval"));
    }
    return NULL;
}

/*
 * True when the PL/pgSQL body only raises an ERROR: the function's block
 * holds one RAISE at ERROR level and nothing else but the RETURN the
 * compiler appends. No exception handlers, no declarations needed.
 */
static bool body_only_raises(const char *body)
{
    /* Wrapped in CREATE FUNCTION only to be handed to the in-process
     * PL/pgSQL parser (pg_query_parse_plpgsql reads functions): this text
     * is never sent to a server. The dollar-quote tag is one the body does
     * not contain. */
    char tag[32];
    for (int k = 0;; k++) {
        snprintf(tag, sizeof tag, "$ebb%d$", k);
        if (strstr(body, tag) == NULL)
            break;
    }
    static const char head[] = "CREATE FUNCTION ebb_rehearse_do() RETURNS void LANGUAGE plpgsql AS ";
    size_t len = strlen(head) + 2 * strlen(tag) + strlen(body) + 2;
    char *fn = malloc(len);
    if (fn == NULL)
        return false;
    snprintf(fn, len, "%s%s%s%s", head, tag, body, tag);
    PgQueryPlpgsqlParseResult r = pg_query_parse_plpgsql(fn);
    free(fn);
    bool only = false;
    if (r.error == NULL && r.plpgsql_funcs != NULL) {
        json_t *funcs = json_loads(r.plpgsql_funcs, 0, NULL);
        json_t *fn0 = json_object_get(json_array_get(funcs, 0), "PLpgSQL_function");
        json_t *block = json_object_get(json_object_get(fn0, "action"), "PLpgSQL_stmt_block");
        json_t *body_stmts = json_object_get(block, "body");
        size_t n_raise = 0, n_other = 0, i;
        json_t *st;
        json_array_foreach(body_stmts, i, st) {
            json_t *raise = json_object_get(st, "PLpgSQL_stmt_raise");
            json_t *ret = json_object_get(st, "PLpgSQL_stmt_return");
            if (raise != NULL &&
                json_integer_value(json_object_get(raise, "elog_level")) >= PG15_ELOG_ERROR)
                n_raise++;
            else if (ret == NULL || json_object_size(ret) != 0)
                n_other++;
        }
        only = block != NULL && json_object_get(block, "exceptions") == NULL && n_raise == 1 &&
               n_other == 0;
        json_decref(funcs);
    }
    pg_query_free_plpgsql_parse_result(r);
    return only;
}

ebb_code ebb_rehearse_script_irreversible(const ebb_script *down, ebb_irreversible *out,
                                          ebb_error *err)
{
    if (down->irreversible) {
        *out = EBB_IRREVERSIBLE_DIRECTIVE;
        return EBB_OK;
    }
    ebb_irreversible why = EBB_IRREVERSIBLE_NO;
    if (down->sql == NULL) {
        *out = why;
        return EBB_OK;
    }
    PgQueryParseResult r = pg_query_parse(down->sql);
    if (r.error == NULL && r.parse_tree != NULL) {
        json_error_t jerr;
        json_t *tree = json_loads(r.parse_tree, 0, &jerr);
        if (tree == NULL) {
            pg_query_free_parse_result(r);
            return ebb_error_set(err, EBB_E_INTERNAL, "%s: cannot read the parse tree: %s",
                                 down->path ? down->path : "down script", jerr.text);
        }
        json_t *stmts = json_object_get(tree, "stmts");
        if (json_array_size(stmts) == 1) {
            json_t *st = json_object_get(json_array_get(stmts, 0), "stmt");
            json_t *args = json_object_get(json_object_get(st, "DoStmt"), "args");
            const char *lang = do_arg(args, "language");
            const char *body = do_arg(args, "as");
            if (body != NULL && (lang == NULL || strcmp(lang, "plpgsql") == 0) &&
                body_only_raises(body))
                why = EBB_IRREVERSIBLE_RAISE_ONLY;
        }
        json_decref(tree);
    }
    pg_query_free_parse_result(r);
    *out = why;
    return EBB_OK;
}

/* ---- scratch names and connection strings ---- */

void ebb_rehearse_scratch_name(const char *db, uint32_t random, char out[EBB_SCRATCH_NAME_MAX])
{
    static const char prefix[] = "ebb_rehearse_";
    /* prefix + db + '_' + 8 hex must fit NAMEDATALEN - 1 = 63 bytes. */
    size_t room = EBB_SCRATCH_NAME_MAX - 1 - (sizeof prefix - 1) - 1 - 8;
    char part[EBB_SCRATCH_NAME_MAX];
    size_t n = 0;
    for (const char *p = db ? db : ""; *p && n < room; p++) {
        unsigned char ch = (unsigned char)tolower((unsigned char)*p);
        part[n++] = (char)((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ? ch : '_');
    }
    part[n] = '\0';
    snprintf(out, EBB_SCRATCH_NAME_MAX, "%s%s_%08x", prefix, part, (unsigned)random);
}

void ebb_rehearse_conninfo_free(char *conninfo)
{
    if (conninfo != NULL) {
        sodium_memzero(conninfo, strlen(conninfo));
        free(conninfo);
    }
}

/* Append "key=value " with value quoted; false when it does not fit or is too long. */
static bool append_kv(char *buf, size_t size, size_t *len, const char *key, const char *value)
{
    size_t vsize = 2 * strlen(value) + 3;
    char *q = malloc(vsize);
    if (q == NULL || !ebb_pg_conninfo_quote(value, q, vsize)) {
        free(q);
        return false;
    }
    int w = snprintf(buf + *len, size - *len, "%s%s=%s", *len ? " " : "", key, q);
    sodium_memzero(q, strlen(q));
    free(q);
    if (w < 0 || (size_t)w >= size - *len)
        return false;
    *len += (size_t)w;
    return true;
}

ebb_code ebb_rehearse_conninfo_with_db(const char *conninfo, const char *dbname, char **out,
                                       ebb_error *err)
{
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo ? conninfo : "", &perr);
    if (opts == NULL) {
        PQfreemem(perr); /* it may quote the string, password and all */
        return ebb_error_set(err, EBB_E_INVALID, "the connection string cannot be parsed");
    }
    size_t size = 2 * strlen(dbname) + 16;
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
        if (o->val != NULL)
            size += strlen(o->keyword) + 2 * strlen(o->val) + 8;
    char *buf = malloc(size);
    bool ok = buf != NULL;
    size_t len = 0;
    if (ok)
        buf[0] = '\0';
    for (PQconninfoOption *o = opts; ok && o->keyword != NULL; o++)
        if (o->val != NULL && strcmp(o->keyword, "dbname") != 0)
            ok = append_kv(buf, size, &len, o->keyword, o->val);
    if (ok)
        ok = append_kv(buf, size, &len, "dbname", dbname);
    PQconninfoFree(opts);
    if (!ok) {
        ebb_rehearse_conninfo_free(buf);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory building a connection string");
    }
    *out = buf;
    return EBB_OK;
}

const char *ebb_scratch_method_name(ebb_scratch_method m)
{
    switch (m) {
    case EBB_SCRATCH_TEMPLATE: return "template";
    case EBB_SCRATCH_DUMP_RESTORE: return "dump-restore";
    case EBB_SCRATCH_EMPTY: return "empty";
    }
    return "unknown";
}
