/* Pure checks the runner makes before a path runs: transactions and recorded checksums. */
#ifndef EBB_AGENT_MIGRATE_PLAN_H
#define EBB_AGENT_MIGRATE_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/graph.h"
#include "agent/migration.h"
#include "agent/registry.h"
#include "common/error.h"

/*
 * The script a step of path runs: up for an up path, down for a down path.
 * NULL when the revision has no such script (the step cannot run).
 */
const ebb_script *ebb_plan_step_script(const ebb_graph *graph, const ebb_path *path, size_t i);

/*
 * Refuse (EBB_E_REFUSED naming the revision and file) a path that cannot
 * run as asked: a step without the needed script (a down without a down
 * script: EBB_E_INVALID), a down step whose script is marked
 * "-- ebb:irreversible", or a no-transaction or Alembic (external) step in
 * a single-transaction (or prepared) path.
 */
EBB_MUSTCHECK ebb_code ebb_plan_check_transactions(const ebb_graph *graph, const ebb_path *path,
                                                   bool single_transaction, ebb_error *err);

/*
 * Compare the recorded script checksums (up, down, verify) of every
 * revision on a down path with the files on disk. A checksum recorded as ""
 * is not compared (older registries). First mismatch: EBB_E_CHECKSUM with
 * "revision R: recorded down checksum X differs from <file> (Y)". With
 * ignore set, mismatches are not errors: each is described in *mismatches
 * (malloc'd array of malloc'd lines; caller frees each and the array; may
 * be NULL when the caller does not want them). An up path checks nothing.
 */
EBB_MUSTCHECK ebb_code ebb_plan_check_checksums(const ebb_graph *graph, const ebb_path *path,
                                                const ebb_applied_list *recorded, bool ignore,
                                                char ***mismatches, size_t *n_mismatches,
                                                ebb_error *err);

/*
 * The revision that is current after path runs from the applied list:
 * the newest remaining applied one for a down path (NULL = base), the last
 * step for an up path. Returned pointer is borrowed from graph or recorded.
 */
const char *ebb_plan_current_after(const ebb_graph *graph, const ebb_path *path,
                                   const ebb_applied_list *recorded);

#endif
