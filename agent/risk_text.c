/*
 * Statement text for probes, cut out by the PostgreSQL scanner's tokens.
 *
 * The parse tree gives where a node starts but not where an expression
 * ends (an A_Expr's location is its operator), so WHERE, USING, CHECK and
 * index-expression texts are taken from the statement between keyword
 * tokens found at parenthesis depth 0. WHERE, RETURNING, USING, CHECK and
 * COLLATE are reserved words, so at depth 0 they cannot be identifiers.
 */
#include <pg_query.h>
#include <stdlib.h>
#include <string.h>

#include "agent/risk_internal.h"

static bool is_comment(const PgQuery__ScanToken *t)
{
    return t->token == PG_QUERY__TOKEN__SQL_COMMENT || t->token == PG_QUERY__TOKEN__C_COMMENT;
}

static bool scan(const char *sql, ebb_risk_toks *out)
{
    PgQueryScanResult res = pg_query_scan(sql);
    if (res.error != NULL) {
        pg_query_free_scan_result(res);
        return false;
    }
    PgQuery__ScanResult *sr = pg_query__scan_result__unpack(NULL, res.pbuf.len,
                                                            (const uint8_t *)res.pbuf.data);
    pg_query_free_scan_result(res);
    if (sr == NULL)
        return false;
    PgQuery__ScanToken **tok = calloc(sr->n_tokens + 1, sizeof *tok);
    if (tok == NULL) {
        pg_query__scan_result__free_unpacked(sr, NULL);
        return false;
    }
    size_t n = 0;
    for (size_t i = 0; i < sr->n_tokens; i++)
        if (!is_comment(sr->tokens[i]))
            tok[n++] = sr->tokens[i];
    out->scan = sr;
    out->tok = tok;
    out->n = n;
    return true;
}

const ebb_risk_toks *ebb_risk_ctx_toks(ebb_risk_ctx *ctx)
{
    if (!ctx->toks_ready) {
        /* A statement that parsed always scans; failure here is memory. */
        if (!scan(ctx->sql, &ctx->toks)) {
            ctx->oom = true;
            return NULL;
        }
        ctx->toks_ready = true;
    }
    return &ctx->toks;
}

void ebb_risk_toks_fini(ebb_risk_toks *toks)
{
    if (toks->scan != NULL)
        pg_query__scan_result__free_unpacked(toks->scan, NULL);
    free(toks->tok);
    memset(toks, 0, sizeof *toks);
}

size_t ebb_risk_tok_at(const ebb_risk_toks *toks, int pos)
{
    for (size_t i = 0; i < toks->n; i++)
        if (toks->tok[i]->start >= pos)
            return i;
    return toks->n;
}

static int depth_step(const PgQuery__ScanToken *t)
{
    switch ((int)t->token) {
    case '(':
    case '[': return 1;
    case ')':
    case ']': return -1;
    default: return 0;
    }
}

size_t ebb_risk_tok_find_any(const ebb_risk_toks *toks, size_t from, const int *tokens,
                             size_t n_tokens)
{
    int depth = 0;
    for (size_t i = from; i < toks->n; i++) {
        if (depth == 0)
            for (size_t k = 0; k < n_tokens; k++)
                if ((int)toks->tok[i]->token == tokens[k])
                    return i;
        depth += depth_step(toks->tok[i]);
        if (depth < 0)
            return toks->n; /* left the enclosing group */
    }
    return toks->n;
}

size_t ebb_risk_tok_find(const ebb_risk_toks *toks, size_t from, int token)
{
    return ebb_risk_tok_find_any(toks, from, &token, 1);
}

size_t ebb_risk_tok_close(const ebb_risk_toks *toks, size_t open)
{
    int depth = 0;
    for (size_t i = open; i < toks->n; i++) {
        depth += depth_step(toks->tok[i]);
        if (depth == 0)
            return i;
    }
    return toks->n;
}

char *ebb_risk_tok_text(ebb_risk_ctx *ctx, size_t first, size_t last)
{
    const ebb_risk_toks *t = ebb_risk_ctx_toks(ctx);
    if (t == NULL || first > last || last >= t->n)
        return NULL;
    size_t start = (size_t)t->tok[first]->start, end = (size_t)t->tok[last]->end;
    char *s = strndup(ctx->sql + start, end - start);
    if (s == NULL)
        ctx->oom = true;
    return s;
}

char *ebb_risk_shorten(const char *sql, size_t max)
{
    size_t len = strlen(sql);
    char *out = malloc((len < max ? len : max) + 4);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    bool space = false, cut = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)sql[i];
        if (strchr(" \t\r\n\f\v", c) != NULL) {
            space = o > 0;
            continue;
        }
        if (o + (space ? 1 : 0) + 1 > max) {
            cut = true;
            break;
        }
        if (space)
            out[o++] = ' ';
        space = false;
        out[o++] = (char)c;
    }
    if (cut) {
        /* Do not end inside a UTF-8 sequence: drop continuation bytes and their lead. */
        while (o > 0 && ((unsigned char)out[o - 1] & 0xC0) == 0x80)
            o--;
        if (o > 0 && ((unsigned char)out[o - 1] & 0x80) != 0)
            o--;
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}
