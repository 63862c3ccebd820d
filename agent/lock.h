/* Per-database session guards for migrators: the advisory lock and the session timeouts. */
#ifndef EBB_AGENT_LOCK_H
#define EBB_AGENT_LOCK_H

#include <stdbool.h>

#include "common/error.h"
#include "common/pgsql.h"

/*
 * The one advisory lock key every ebb migrator (and restore) takes on a
 * database: two migrators never run at once. 0x65626221 is "ebb!" in ASCII;
 * the registry takes the same key at transaction level when it creates
 * itself.
 */
#define EBB_LOCK_KEY 0x656262216d696772LL /* "ebb!migr" */

/*
 * pg_try_advisory_lock(EBB_LOCK_KEY) at session level. When another session
 * holds it: EBB_E_LOCKED with "another migrator holds the lock on database
 * D (pid N, application A, since T)" read from pg_locks/pg_stat_activity.
 * Taking it twice in one session nests (PostgreSQL counts session locks);
 * release as often as acquired.
 */
EBB_MUSTCHECK ebb_code ebb_lock_try(ebb_pg *pg, ebb_error *err);

/* pg_advisory_unlock(EBB_LOCK_KEY); EBB_E_CONFLICT when this session did not hold it. */
EBB_MUSTCHECK ebb_code ebb_lock_release(ebb_pg *pg, ebb_error *err);

/* Who holds the lock now: *pid 0 when nobody. since is malloc'd text (may be NULL); caller frees. */
EBB_MUSTCHECK ebb_code ebb_lock_holder(ebb_pg *pg, int *pid, char **since, ebb_error *err);

/*
 * Set lock_timeout and statement_timeout for the session (milliseconds;
 * 0 leaves the server's setting alone). Through set_config with parameters.
 */
EBB_MUSTCHECK ebb_code ebb_session_set_timeouts(ebb_pg *pg, long lock_timeout_ms,
                                                long statement_timeout_ms, ebb_error *err);

#endif
