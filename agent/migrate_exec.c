/* Runner internals shared by the runner and verification: split, execute and resolve, one database. */
#include "agent/migrate_exec.h"

#include <stdlib.h>
#include <string.h>

#include "agent/source_sqitch.h"
#include "agent/sql_txn.h"

static const char *file_of(const ebb_script *s)
{
    return s->path ? s->path : "(script)";
}

ebb_code ebb_exec_prepare(const char *rev, const char *what, const ebb_script *script,
                          ebb_sql_script *out, ebb_error *err)
{
    if (script->external) { /* run by its own program, not split into SQL */
        out->stmts = NULL;
        out->count = 0;
        return EBB_OK;
    }
    ebb_sql_script split;
    ebb_code rc = ebb_sql_split(script->sql ? script->sql : "", EBB_SQL_SPLIT_PARSER, &split, err);
    if (rc != EBB_OK) {
        ebb_error_prefix(err, "revision %s: %s script %s", rev, what, file_of(script));
        return rc;
    }
    if (!script->no_transaction) {
        /* A script's own BEGIN; ... COMMIT; (Sqitch's templates) runs inside the step's
         * transaction instead; any other transaction control is refused (sql_txn.h). */
        rc = ebb_sql_txn_unwrap(&split, file_of(script), script->first_line,
                                strcmp(what, "verify") == 0, NULL, err);
        if (rc != EBB_OK) {
            ebb_sql_script_fini(&split);
            ebb_error_prefix(err, "revision %s: %s script", rev, what);
            return rc;
        }
    }
    if (script->no_transaction && split.count > 1) {
        ebb_sql_script_fini(&split);
        return ebb_error_set(err, EBB_E_REFUSED,
                             "revision %s: %s script %s is marked no-transaction but holds %zu "
                             "statements; a no-transaction script must hold exactly one (each "
                             "would commit on its own and a failure would leave the step half "
                             "applied)",
                             rev, what, file_of(script), split.count);
    }
    *out = split;
    return EBB_OK;
}

ebb_code ebb_exec_statements(ebb_pg *pg, const char *rev, const char *what,
                             const ebb_script *script, const ebb_sql_script *split, int *line,
                             ebb_error *err)
{
    int base = script->first_line > 0 ? script->first_line : 1;
    for (size_t i = 0; i < split->count; i++) {
        ebb_code rc = ebb_pg_exec_script(pg, split->stmts[i].text, err);
        if (rc != EBB_OK) {
            *line = base + split->stmts[i].line - 1;
            ebb_error_prefix(err, "revision %s: %s script %s line %d", rev, what, file_of(script),
                             *line);
            return rc;
        }
    }
    return EBB_OK;
}

ebb_code ebb_exec_resolve(const ebb_graph *graph, const ebb_applied_list *applied,
                          const ebb_target *target, ebb_path *out, ebb_error *err)
{
    const char **ids = NULL;
    ebb_code rc = ebb_applied_list_ids(applied, &ids, err);
    if (rc != EBB_OK)
        return rc;
    ebb_state state;
    rc = ebb_state_from_ids(graph, ids, applied->count, &state, err);
    free(ids);
    if (rc != EBB_OK)
        return rc;
    ebb_path path;
    rc = ebb_path_resolve(graph, &state, target, &path, err);
    /* Sqitch's requires/conflicts hold on every path, previews included. */
    if (rc == EBB_OK && (rc = ebb_sqitch_check_path(graph, &state, &path, err)) != EBB_OK)
        ebb_path_fini(&path);
    ebb_state_fini(&state);
    if (rc == EBB_OK)
        *out = path;
    return rc;
}
