/* Transaction control inside migration scripts: unwrap BEGIN/COMMIT, refuse the rest (PostgreSQL
 * parser). */
#include "agent/sql_txn.h"

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>
#include <stdlib.h>
#include <string.h>

typedef enum txn_class {
    TXN_NONE,  /* not transaction control */
    TXN_BEGIN, /* BEGIN / START TRANSACTION without options */
    TXN_BEGIN_OPTS,
    TXN_COMMIT,    /* COMMIT / END (without AND CHAIN) */
    TXN_ROLLBACK,  /* ROLLBACK / ABORT (without AND CHAIN) */
    TXN_SAVEPOINT, /* SAVEPOINT, RELEASE, ROLLBACK TO */
    TXN_OTHER,     /* PREPARE TRANSACTION, COMMIT/ROLLBACK PREPARED, ... AND CHAIN */
} txn_class;

/* Class of one statement; -1 when out of memory. A statement the parser cannot read is TXN_NONE
 * (the split already parsed the whole script, so this does not happen in practice). */
static int classify(const char *sql)
{
    PgQueryProtobufParseResult res = pg_query_parse_protobuf(sql);
    if (res.error != NULL) {
        pg_query_free_protobuf_parse_result(res);
        return TXN_NONE;
    }
    PgQuery__ParseResult *tree = pg_query__parse_result__unpack(
        NULL, res.parse_tree.len, (const uint8_t *)res.parse_tree.data);
    pg_query_free_protobuf_parse_result(res);
    if (tree == NULL)
        return -1;
    int c = TXN_NONE;
    if (tree->n_stmts == 1 && tree->stmts[0]->stmt != NULL &&
        tree->stmts[0]->stmt->node_case == PG_QUERY__NODE__NODE_TRANSACTION_STMT) {
        const PgQuery__TransactionStmt *t = tree->stmts[0]->stmt->transaction_stmt;
        switch (t->kind) {
        case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_BEGIN:
        case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_START:
            c = t->n_options == 0 ? TXN_BEGIN : TXN_BEGIN_OPTS;
            break;
        case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_COMMIT:
            c = t->chain ? TXN_OTHER : TXN_COMMIT;
            break;
        case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK:
            c = t->chain ? TXN_OTHER : TXN_ROLLBACK;
            break;
        case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_SAVEPOINT:
        case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_RELEASE:
        case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK_TO:
            c = TXN_SAVEPOINT;
            break;
        default:
            c = TXN_OTHER;
            break;
        }
    }
    pg_query__parse_result__free_unpacked(tree, NULL);
    return c;
}

static void drop(ebb_sql_script *split, size_t i)
{
    free(split->stmts[i].text);
    memmove(&split->stmts[i], &split->stmts[i + 1], (split->count - i - 1) * sizeof *split->stmts);
    split->count--;
}

ebb_code ebb_sql_txn_unwrap(ebb_sql_script *split, const char *file, int first_line,
                            bool rollback_ok, int *removed, ebb_error *err)
{
    size_t n = split->count;
    if (!file)
        file = "(script)";
    int base = first_line > 0 ? first_line - 1 : 0;
    int *cls = calloc(n ? n : 1, sizeof *cls);
    if (!cls)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory reading %s", file);
    for (size_t i = 0; i < n; i++) {
        cls[i] = classify(split->stmts[i].text);
        if (cls[i] < 0) {
            free(cls);
            return ebb_error_set(err, EBB_E_NOMEM, "out of memory parsing %s", file);
        }
    }
    bool wrapped = n >= 2 && cls[0] == TXN_BEGIN &&
                   (cls[n - 1] == TXN_COMMIT || (rollback_ok && cls[n - 1] == TXN_ROLLBACK));
    ebb_code rc = EBB_OK;
    /* Statement 0 last (a COMMIT in the middle says more than "BEGIN without COMMIT"),
     * unless it is a BEGIN with options, the real reason then. */
    for (size_t k = n && cls[0] == TXN_BEGIN_OPTS ? 0 : 1; k <= n && rc == EBB_OK; k++) {
        size_t i = k % n;
        int line = base + split->stmts[i].line;
        if (cls[i] == TXN_NONE || cls[i] == TXN_SAVEPOINT)
            continue;
        if (wrapped && (i == 0 || i == n - 1))
            continue;
        const char *why;
        if (cls[i] == TXN_BEGIN_OPTS)
            why = "BEGIN with options (ebb runs the script in its own transaction, which would "
                  "not honour them)";
        else if (cls[i] == TXN_BEGIN && i == 0)
            why = "BEGIN without a COMMIT as the script's last statement";
        else if (cls[i] == TXN_COMMIT && i == n - 1)
            why = "COMMIT without a BEGIN as the script's first statement";
        else if (cls[i] == TXN_ROLLBACK && i == n - 1 && !rollback_ok)
            why = "a deploy or revert script that ends in ROLLBACK (it would change nothing, "
                  "but ebb would record it as run)";
        else if (cls[i] == TXN_OTHER)
            why = "transaction control ebb cannot run inside its step transaction "
                  "(PREPARE TRANSACTION, COMMIT/ROLLBACK PREPARED, AND CHAIN)";
        else
            why = "transaction control in the middle of the script (it would end ebb's step "
                  "transaction before the registry row is written)";
        rc = ebb_error_set(err, EBB_E_REFUSED,
                           "%s:%d: %s; only a leading BEGIN with a trailing COMMIT, and "
                           "savepoints, are allowed",
                           file, line, why);
    }
    if (rc == EBB_OK && wrapped) {
        drop(split, n - 1);
        drop(split, 0);
    }
    if (rc == EBB_OK && removed)
        *removed = wrapped ? 2 : 0;
    free(cls);
    return rc;
}
