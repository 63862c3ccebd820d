/* Stamp: make the registry say a database is at a revision without running scripts (break-glass repairs). */
#ifndef EBB_AGENT_STAMP_H
#define EBB_AGENT_STAMP_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/fingerprint.h"
#include "agent/graph.h"
#include "agent/migration.h"
#include "agent/registry.h"
#include "common/error.h"
#include "common/pgsql.h"

/* What a stamp changes in ebb.applied. */
typedef struct ebb_stamp_plan {
    ebb_direction direction; /* UP: rows inserted, DOWN: rows removed, NONE: nothing */
    ebb_path path;           /* the revisions, in the order their rows change (owned) */
    char *from;              /* current revision before (owned; NULL = base) */
    char *to;                /* current revision after (owned; NULL = base) */
} ebb_stamp_plan;

/*
 * The rows a stamp to target changes, from the applied list (pure): the
 * graph's path rules (graph.h), so a revision id the source does not know
 * is EBB_E_NOT_FOUND and an applied id it does not know is an error naming
 * it. *out set only on success; caller: ebb_stamp_plan_fini.
 */
EBB_MUSTCHECK ebb_code ebb_stamp_plan_make(const ebb_graph *graph,
                                           const ebb_applied_list *applied,
                                           const ebb_target *target, ebb_stamp_plan *out,
                                           ebb_error *err);
void ebb_stamp_plan_fini(ebb_stamp_plan *plan);

typedef struct ebb_stamp_result {
    ebb_stamp_plan plan;
    char live[EBB_FINGERPRINT_HEX];     /* live fingerprint */
    char recorded[EBB_FINGERPRINT_HEX]; /* recorded for the target ("" when none) */
    bool fingerprint_differs;           /* recorded known and != live: the warning */
    ebb_fp_diff diff;                   /* objects that differ (owned) */
    bool recorded_live;                 /* nothing was recorded: live now recorded for the target */
    bool dry_run;
} ebb_stamp_result;

void ebb_stamp_result_fini(ebb_stamp_result *res);

/*
 * Stamp the database on pg at target without running any script: under the
 * migrator lock (EBB_E_LOCKED when held) and in one transaction, insert the
 * ebb.applied rows of the revisions up to target (checksums from the files,
 * fingerprint not measured, see ebb_registry_record_stamp) or delete those
 * above it, and append a `stamp` event (operator, reason, from, to, rows,
 * fingerprints). The live fingerprint is compared with the one recorded for
 * the target: a difference is not an error (res->fingerprint_differs, for
 * the caller to warn about); when none is recorded, the live one is recorded
 * as the target's (the operator asserts the schema is the target's). With
 * dry_run nothing is written (no registry is created either). Alembic
 * sources are stamped with `alembic stamp` (the Alembic driver's job):
 * EBB_E_INVALID here. *res set only on success (ebb_stamp_result_fini).
 */
EBB_MUSTCHECK ebb_code ebb_stamp_run(ebb_pg *pg, const ebb_graph *graph, const ebb_target *target,
                                     const ebb_run_info *run, bool dry_run,
                                     ebb_stamp_result *res, ebb_error *err);

#endif
