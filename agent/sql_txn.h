/* Transaction control written inside migration scripts (Sqitch's BEGIN; ... COMMIT;) and how ebb
 * runs it. */
#ifndef EBB_AGENT_SQL_TXN_H
#define EBB_AGENT_SQL_TXN_H

#include <stdbool.h>

#include "agent/sql_split.h"
#include "common/error.h"

/*
 * ebb runs every step's statements inside its own transaction together
 * with the registry update, so a script must not end or start transactions
 * itself. Many projects (all of Sqitch's templates) wrap their scripts in
 * BEGIN; ... COMMIT; so that psql runs them atomically. This makes such a
 * script run inside ebb's transaction, with the same meaning:
 *
 *  - a first statement BEGIN / START TRANSACTION (without options) together
 *    with a last statement COMMIT / END is removed from split;
 *  - with rollback_ok (verify scripts, which ebb always rolls back), a last
 *    ROLLBACK / ABORT after such a BEGIN is removed too;
 *  - SAVEPOINT, RELEASE and ROLLBACK TO SAVEPOINT stay: they work inside
 *    ebb's transaction as they did inside the script's own;
 *  - anything else is refused (EBB_E_REFUSED naming file and line): a BEGIN
 *    without its COMMIT (or the reverse), transaction control in the middle
 *    of a script (a COMMIT there would commit half a step without its
 *    registry row), BEGIN with options such as ISOLATION LEVEL (ebb's
 *    transaction would not honour them), a ROLLBACK ending a deploy or
 *    revert script, PREPARE TRANSACTION and COMMIT/ROLLBACK PREPARED.
 *
 * file and first_line (where the script starts in file) are for messages;
 * line numbers in split are relative to the script. *removed (may be NULL)
 * gets the number of statements removed. split is changed only on success.
 */
EBB_MUSTCHECK ebb_code ebb_sql_txn_unwrap(ebb_sql_script *split, const char *file, int first_line,
                                          bool rollback_ok, int *removed, ebb_error *err);

#endif
