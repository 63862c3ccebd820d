/* Splits a SQL script into statements with the PostgreSQL 15 parser (libpg_query). */
#include "agent/sql_split.h"

#include <pg_query.h>
#include <stdlib.h>
#include <string.h>

int ebb_sql_line_of(const char *script, size_t pos)
{
    int line = 1;
    for (size_t i = 0; i < pos && script[i] != '\0'; i++)
        if (script[i] == '\n')
            line++;
    return line;
}

/*
 * The split result's location may point at whitespace or comments that
 * precede the statement; step over them so that offsets and lines name the
 * first token. Only whitespace and the two comment forms are skipped: this
 * is not SQL parsing, the parser already found the boundaries.
 */
static size_t skip_blank_and_comments(const char *s, size_t pos, size_t end)
{
    for (;;) {
        while (pos < end && strchr(" \t\r\n\f\v", s[pos]) != NULL)
            pos++;
        if (pos + 1 < end && s[pos] == '-' && s[pos + 1] == '-') {
            while (pos < end && s[pos] != '\n')
                pos++;
            continue;
        }
        if (pos + 1 < end && s[pos] == '/' && s[pos + 1] == '*') {
            int depth = 0; /* PostgreSQL block comments nest */
            while (pos + 1 < end) {
                if (s[pos] == '/' && s[pos + 1] == '*') {
                    depth++;
                    pos += 2;
                } else if (s[pos] == '*' && s[pos + 1] == '/') {
                    depth--;
                    pos += 2;
                    if (depth == 0)
                        break;
                } else {
                    pos++;
                }
            }
            if (depth != 0)
                return end;
            continue;
        }
        return pos;
    }
}

static size_t trim_trailing(const char *s, size_t start, size_t end)
{
    while (end > start && strchr(" \t\r\n\f\v;", s[end - 1]) != NULL)
        end--;
    return end;
}

ebb_code ebb_sql_split(const char *script, ebb_sql_split_mode mode, ebb_sql_script *out,
                       ebb_error *err)
{
    PgQuerySplitResult res = mode == EBB_SQL_SPLIT_PARSER ? pg_query_split_with_parser(script)
                                                           : pg_query_split_with_scanner(script);
    if (res.error != NULL) {
        size_t pos = res.error->cursorpos > 0 ? (size_t)res.error->cursorpos - 1 : 0;
        ebb_code rc = ebb_error_set(err, EBB_E_INVALID, "line %d: %s",
                                    ebb_sql_line_of(script, pos), res.error->message);
        pg_query_free_split_result(res);
        return rc;
    }

    size_t script_len = strlen(script);
    ebb_sql_stmt *stmts = calloc(res.n_stmts > 0 ? (size_t)res.n_stmts : 1, sizeof *stmts);
    if (stmts == NULL) {
        pg_query_free_split_result(res);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory splitting SQL");
    }

    size_t count = 0;
    for (int i = 0; i < res.n_stmts; i++) {
        size_t start = (size_t)res.stmts[i]->stmt_location;
        size_t end = start + (size_t)res.stmts[i]->stmt_len;
        if (end > script_len || start > end)
            end = script_len;
        if (res.stmts[i]->stmt_len == 0) /* the last statement runs to the end */
            end = script_len;
        start = skip_blank_and_comments(script, start, end);
        end = trim_trailing(script, start, end);
        if (start >= end)
            continue;
        ebb_sql_stmt *st = &stmts[count];
        st->offset = start;
        st->length = end - start;
        st->line = ebb_sql_line_of(script, start);
        st->text = strndup(script + start, end - start);
        if (st->text == NULL) {
            ebb_sql_script tmp = {stmts, count};
            ebb_sql_script_fini(&tmp);
            pg_query_free_split_result(res);
            return ebb_error_set(err, EBB_E_NOMEM, "out of memory splitting SQL");
        }
        count++;
    }
    pg_query_free_split_result(res);
    out->stmts = stmts;
    out->count = count;
    return EBB_OK;
}

void ebb_sql_script_fini(ebb_sql_script *script)
{
    if (script == NULL)
        return;
    for (size_t i = 0; i < script->count; i++)
        free(script->stmts[i].text);
    free(script->stmts);
    script->stmts = NULL;
    script->count = 0;
}
