/* Internals shared by the risk classifier's files: item building and statement-text slicing. */
#ifndef EBB_AGENT_RISK_INTERNAL_H
#define EBB_AGENT_RISK_INTERNAL_H

#include <pg_query/pg_query.pb-c.h>
#include <stdbool.h>
#include <stddef.h>

#include "agent/risk.h"
#include "common/error.h"

/* Tokens of one statement from the PostgreSQL scanner, comments left out. */
typedef struct ebb_risk_toks {
    PgQuery__ScanResult *scan; /* owned */
    PgQuery__ScanToken **tok;  /* owned array of pointers into scan */
    size_t n;
} ebb_risk_toks;

/*
 * State while classifying one statement. Building helpers never fail
 * loudly: on allocation failure they set oom (sticky) and return NULL or
 * false, and the script-level caller rolls the report back.
 */
typedef struct ebb_risk_ctx {
    ebb_risk_report *out;
    const char *file;
    const char *sql; /* the statement's text; parse-tree locations index it */
    int line;
    size_t stmt_index;
    bool oom;
    bool toks_ready;
    ebb_risk_toks toks; /* scanned on first use (ebb_risk_ctx_toks) */
} ebb_risk_ctx;

/* --- risk.c: building items and probes --------------------------------- */

/* strdup that records failure in ctx; s NULL gives NULL without failing. */
char *ebb_risk_strdup(ebb_risk_ctx *ctx, const char *s);

/* Append an item for the current statement; NULL on allocation failure.
 * The pointer is valid until the next ebb_risk_add_item. */
ebb_risk_item *ebb_risk_add_item(ebb_risk_ctx *ctx, const char *kind, ebb_risk_level level,
                                 const char *fmt, ...) EBB_PRINTF(4, 5);

/* Append a probe to item (which may be NULL after a failure: returns NULL). */
ebb_risk_probe *ebb_risk_add_probe(ebb_risk_ctx *ctx, ebb_risk_item *item,
                                   ebb_risk_probe_kind kind, const char *object_kind,
                                   const char *schema, const char *name);

/* Append a key (copies column / expr; exactly one non-NULL). */
bool ebb_risk_add_key(ebb_risk_ctx *ctx, ebb_risk_probe *probe, const char *column,
                      const char *expr);

/* Copy schema (NULL = "") and name into *out. */
bool ebb_risk_name_set(ebb_risk_ctx *ctx, ebb_risk_name *out, const char *schema,
                       const char *name);

/* Drop items from index keep on (rollback of a failed classify call). */
void ebb_risk_report_truncate(ebb_risk_report *report, size_t keep);

/* --- risk_text.c: slicing the statement with scanner tokens ------------- */

/* Tokens of ctx->sql, scanned once; NULL (and oom or a scanner failure) if unavailable. */
const ebb_risk_toks *ebb_risk_ctx_toks(ebb_risk_ctx *ctx);
void ebb_risk_toks_fini(ebb_risk_toks *toks);

/* Index of the first token starting at or after byte pos; toks->n if none. */
size_t ebb_risk_tok_at(const ebb_risk_toks *toks, int pos);

/*
 * Index of the first token of kind token at nesting depth 0 (parentheses
 * and brackets) counting from from; toks->n when there is none before the
 * end or before the group that contains from closes.
 */
size_t ebb_risk_tok_find(const ebb_risk_toks *toks, size_t from, int token);

/* Like ebb_risk_tok_find for the first of several kinds. */
size_t ebb_risk_tok_find_any(const ebb_risk_toks *toks, size_t from, const int *tokens,
                             size_t n_tokens);

/* Index of the ')' or ']' that closes the one at open; toks->n if unbalanced. */
size_t ebb_risk_tok_close(const ebb_risk_toks *toks, size_t open);

/* Text of tokens first..last (inclusive) as written; NULL if empty or on failure. */
char *ebb_risk_tok_text(ebb_risk_ctx *ctx, size_t first, size_t last);

/* Single-line copy of a statement: whitespace runs collapsed, cut to max bytes with "...". */
char *ebb_risk_shorten(const char *sql, size_t max);

/* --- risk_classify.c / risk_alter.c ----------------------------------- */

/* String value of a String node, or NULL. */
const char *ebb_risk_node_str(const PgQuery__Node *node);

/* Classify one ALTER TABLE statement (one item per subcommand). */
void ebb_risk_classify_alter_table(ebb_risk_ctx *ctx, const PgQuery__AlterTableStmt *stmt);

/* Classify CREATE INDEX. */
void ebb_risk_classify_index(ebb_risk_ctx *ctx, const PgQuery__IndexStmt *stmt);

#endif
