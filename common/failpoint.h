/* Test-only failpoints: named places in the agent where a fault drill can make the process block or
 * abort, armed only by the EBB_FAILPOINTS environment variable. */
#ifndef EBB_COMMON_FAILPOINT_H
#define EBB_COMMON_FAILPOINT_H

#include "common/error.h"

/*
 * NEVER set EBB_FAILPOINTS in production. It exists so that fault drills
 * (tests/integration/test_fault_drills.sh) know exactly where a process is
 * when they SIGKILL it, or the PostgreSQL server under it.
 *
 *   EBB_FAILPOINTS="NAME:ACTION[,NAME:ACTION...]"
 *   EBB_FAILPOINT_DIR=DIR      (required by hold)
 *
 * ACTION is one of:
 *   hold   the thread that reaches NAME writes DIR/NAME.held (its pid) and
 *          blocks until DIR/NAME.release exists; it then removes both files
 *          and carries on as if nothing happened;
 *   abort  the process calls abort() at NAME (a crash at that point).
 * Each armed point fires the first time it is reached in the life of the
 * process, never again. A failpoint can do nothing else: it reads no other
 * input, changes no data and is a single relaxed atomic load while the
 * variable is unset. The spec is read once, at the first failpoint reached;
 * armed points are logged (warn) then, and each firing is logged too.
 *
 * Names (EBB_FAILPOINT_NAMES): the start of the agent's precheck,
 * stop_services, backup, migrate, verify, start_services, health and
 * restore jobs (after the job's "started" record); "backup.dump" once
 * pg_dump has written the dump, before its checksum, verification and
 * manifest; "migrate.commit" inside a migration step's transaction (or the
 * single transaction of a whole path) after its statements and registry
 * rows, before COMMIT or PREPARE TRANSACTION.
 */

typedef enum ebb_failpoint_action {
    EBB_FAILPOINT_OFF = 0,
    EBB_FAILPOINT_HOLD,
    EBB_FAILPOINT_ABORT,
} ebb_failpoint_action;

/* Every failpoint name, NULL-terminated (a spec naming another is refused). */
extern const char *const EBB_FAILPOINT_NAMES[];

/*
 * Pure: the action spec gives name (EBB_FAILPOINT_OFF when it is not
 * named). A malformed spec (an entry without ':', an unknown name or
 * action, a name twice) is EBB_E_INVALID naming the entry. *out set only
 * on success.
 */
EBB_MUSTCHECK ebb_code ebb_failpoint_spec_action(const char *spec, const char *name,
                                                 ebb_failpoint_action *out, ebb_error *err);

/*
 * Read EBB_FAILPOINTS now (otherwise it is read at the first failpoint
 * reached), so that a program can refuse to start with a spec that arms
 * nothing: EBB_E_INVALID naming the problem (a malformed spec, or hold
 * without EBB_FAILPOINT_DIR). EBB_OK when the variable is unset.
 */
EBB_MUSTCHECK ebb_code ebb_failpoint_init(ebb_error *err);

/*
 * The failpoint called name (one of EBB_FAILPOINT_NAMES): nothing unless
 * EBB_FAILPOINTS arms it (see above). Thread-safe. A spec that does not
 * parse is logged (error) once and arms nothing; so is a hold without
 * EBB_FAILPOINT_DIR.
 */
void ebb_failpoint(const char *name);

#endif
