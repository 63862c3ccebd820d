/* Runner internals shared by the runner and verification: split, execute and resolve, one database. */
#ifndef EBB_AGENT_MIGRATE_EXEC_H
#define EBB_AGENT_MIGRATE_EXEC_H

#include "agent/graph.h"
#include "agent/migration.h"
#include "agent/registry.h"
#include "agent/sql_split.h"
#include "common/error.h"
#include "common/pgsql.h"

/*
 * Split script (the `what` script of revision rev: "up", "down", "verify")
 * into statements before anything runs, so a syntax error anywhere on a
 * path stops it before its first step. A no-transaction script must hold
 * exactly one statement (EBB_E_REFUSED otherwise): its statements would
 * each commit on their own and a failure would leave the step half done.
 * A transactional script's own BEGIN; ... COMMIT; is removed so that it
 * runs inside the step transaction; other transaction control is refused
 * (agent/sql_txn.h). *out set only on success; caller: ebb_sql_script_fini.
 */
EBB_MUSTCHECK ebb_code ebb_exec_prepare(const char *rev, const char *what,
                                        const ebb_script *script, ebb_sql_script *out,
                                        ebb_error *err);

/*
 * Run the statements of split (from script) one by one in the session's
 * current state (inside a transaction or not). On failure *line is the
 * failing statement's first line in the script's file and err names the
 * revision, file and line (SQLSTATE kept).
 */
EBB_MUSTCHECK ebb_code ebb_exec_statements(ebb_pg *pg, const char *rev, const char *what,
                                           const ebb_script *script, const ebb_sql_script *split,
                                           int *line, ebb_error *err);

/*
 * Path from the applied list to target (graph.h rules), refused when it
 * would break a Sqitch dependency (ebb_sqitch_check_path). *out set only
 * on success.
 */
EBB_MUSTCHECK ebb_code ebb_exec_resolve(const ebb_graph *graph, const ebb_applied_list *applied,
                                        const ebb_target *target, ebb_path *out, ebb_error *err);

#endif
