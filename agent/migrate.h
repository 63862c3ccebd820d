/* The migration runner on one database: lock, registry, steps in transactions, fingerprints, verify. */
#ifndef EBB_AGENT_MIGRATE_H
#define EBB_AGENT_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/alembic.h"
#include "agent/fingerprint.h"
#include "agent/graph.h"
#include "agent/migration.h"
#include "agent/registry.h"
#include "common/error.h"
#include "common/pgsql.h"

/* Progress of a run, for the CLI (stderr) or the agent's progress stream. */
typedef enum ebb_progress_phase {
    EBB_PROGRESS_STEP_START,
    EBB_PROGRESS_STEP_DONE,
    EBB_PROGRESS_STEP_FAILED,
} ebb_progress_phase;

typedef struct ebb_progress {
    ebb_progress_phase phase;
    size_t step;           /* 1-based */
    size_t total;
    const char *revision;  /* borrowed for the duration of the call */
    ebb_direction direction;
    double elapsed;        /* seconds since the run started */
} ebb_progress;

typedef void (*ebb_progress_fn)(void *ctx, const ebb_progress *p);

typedef struct ebb_migrate_opts {
    ebb_run_info run;          /* run id (required), operator, reason; borrowed */
    const char *db_name;       /* label used in the prepared gid and messages (may be NULL) */
    long lock_timeout_ms;      /* 0: server setting */
    long statement_timeout_ms; /* 0: server setting */
    bool single_transaction;   /* whole path in one transaction */
    bool prepare;              /* single transaction ended by PREPARE TRANSACTION (gid below) */
    bool ignore_checksums;     /* run a down path despite checksum mismatches (recorded) */
    bool lock_held;            /* the caller already holds ebb_lock_try on pg */
    bool skip_fingerprint_check; /* do not compare the fingerprint after a down path */
    const char *event_details; /* JSON object text whose members are added to the details of
                                  every deploy / revert / fail event of the path (may be NULL) */
    ebb_progress_fn progress;  /* may be NULL */
    void *progress_ctx;
    const ebb_alembic_conf *alembic; /* how to run Alembic; required for Alembic graphs */
} ebb_migrate_opts;

/* Defaults: everything off/zero. Set run.run_id before use. */
void ebb_migrate_opts_init(ebb_migrate_opts *opts);

#define EBB_GID_MAX 200

typedef struct ebb_migrate_result {
    ebb_direction direction;
    size_t total;           /* steps on the path */
    size_t done;            /* steps committed (or prepared, with prepare) */
    char *from_revision;    /* current revision before (owned; NULL = base) */
    char *to_revision;      /* current revision after (owned; NULL = base) */
    char *failed_revision;  /* owned; NULL unless a step failed */
    int failed_line;        /* line in failed_revision's script file; 0 unknown */
    char sqlstate[6];       /* of the failure; "" otherwise */
    char fingerprint[EBB_FINGERPRINT_HEX]; /* live, at the end ("" if not read) */
    ebb_fp_diff mismatch;   /* after a down: objects differing from the recorded fingerprint */
    char gid[EBB_GID_MAX];  /* prepared transaction id with opts.prepare ("" when the path was empty) */
    char **checksum_overrides; /* with ignore_checksums: one line per mismatch ignored (owned) */
    size_t n_overrides;
    char *program_output;   /* Alembic: stderr of the failed step (owned; NULL otherwise) */
} ebb_migrate_result;

void ebb_migrate_result_fini(ebb_migrate_result *res);

/*
 * Bring the database on pg to target. Takes the advisory lock (unless
 * opts->lock_held; EBB_E_LOCKED when another migrator has it), sets the
 * timeouts, creates the registry, resolves the path from the recorded
 * state, and refuses before anything runs: a no-transaction step in a
 * single-transaction or prepared path (EBB_E_REFUSED); a down path whose
 * recorded script checksums differ from the files (EBB_E_CHECKSUM naming
 * the revision and both checksums, unless ignore_checksums). An up path
 * from an empty registry first records a baseline fingerprint.
 *
 * Each step's script and its registry change (applied row, fingerprint
 * after an up step, deploy/revert event) run in one transaction; a
 * no-transaction step (one statement, see migrate_exec.h) runs alone and is
 * recorded after it succeeded; should the connection die between the two,
 * the step is done but unrecorded and shows as drift. A
 * failing step is rolled back, then a `fail` event (SQLSTATE, line) is
 * written in its own transaction; the result is the step's error (EBB_E_PG
 * with sqlstate) with result->failed_*. With single_transaction the whole
 * path is one transaction; with prepare it ends in PREPARE TRANSACTION
 * result->gid and nothing is committed.
 *
 * After a down path the live fingerprint must equal the one recorded for
 * the new current revision (or the baseline): otherwise EBB_E_VERIFY naming
 * the objects (result->mismatch). The lock is released before returning
 * unless opts->lock_held. result is filled as far as the run got, also on
 * failure (ebb_migrate_run zeroes it first; always call ebb_migrate_result_fini).
 */
EBB_MUSTCHECK ebb_code ebb_migrate_run(ebb_pg *pg, const ebb_graph *graph,
                                       const ebb_target *target, const ebb_migrate_opts *opts,
                                       ebb_migrate_result *result, ebb_error *err);

/*
 * Alembic graphs: alembic_version is the truth. Make ebb.applied list
 * exactly the revisions its heads imply (read through Alembic, see
 * ebb_alembic_current): revisions applied outside ebb are added (without a
 * fingerprint, except the newest one, which gets the live fingerprint),
 * rows of revisions reverted outside ebb are removed, and a `stamp` event
 * lists both. One transaction; the caller holds the migrator lock and the
 * registry exists. *changed (may be NULL) tells whether anything changed.
 * ebb_migrate_run calls it before resolving a path.
 */
EBB_MUSTCHECK ebb_code ebb_migrate_alembic_reconcile(ebb_pg *pg, const ebb_graph *graph,
                                                     const ebb_alembic_conf *conf,
                                                     const ebb_run_info *run, bool *changed,
                                                     ebb_error *err);

/*
 * Sqitch graphs: refuse (EBB_E_REFUSED) a database whose Sqitch registry
 * (sqitch.changes) lists changes of the graph's project: Sqitch and ebb keep
 * separate registries and must not both deploy one database. Other kinds,
 * and databases without that table: EBB_OK. ebb_migrate_run calls it.
 */
EBB_MUSTCHECK ebb_code ebb_migrate_sqitch_guard(ebb_pg *pg, const ebb_graph *graph,
                                                ebb_error *err);

/*
 * The path the runner would take from the recorded state to target (reads
 * the registry; no lock, no changes). For previews and for
 * ebb_datacheck_after. *out set only on success; caller: ebb_path_fini.
 */
EBB_MUSTCHECK ebb_code ebb_migrate_resolve(ebb_pg *pg, const ebb_graph *graph,
                                           const ebb_target *target, ebb_path *out,
                                           ebb_error *err);

/* The state of a database with respect to a graph (graph may be NULL: registry only). */
typedef struct ebb_db_status {
    bool has_registry;
    ebb_applied_list applied;              /* owned */
    char *current;                         /* newest applied revision (owned; NULL = base) */
    char live[EBB_FINGERPRINT_HEX];        /* live fingerprint */
    char recorded[EBB_FINGERPRINT_HEX];    /* recorded for current ("" when none) */
    bool drift;                            /* live != recorded (false when nothing recorded) */
    ebb_fp_diff drift_diff;                /* objects that differ (owned) */
    size_t *pending;                       /* graph indices of revisions to reach head (owned) */
    size_t n_pending;
    char **unknown;                        /* applied ids the graph does not know (owned) */
    size_t n_unknown;
} ebb_db_status;

/* Read-only: no lock, no registry creation. *out set only on success; ebb_db_status_fini. */
EBB_MUSTCHECK ebb_code ebb_migrate_status(ebb_pg *pg, const ebb_graph *graph, ebb_db_status *out,
                                          ebb_error *err);
void ebb_db_status_fini(ebb_db_status *st);

/*
 * Verify the database: run the verify script of every applied revision that
 * has one (oldest first) in a transaction that is rolled back (an error is
 * EBB_E_VERIFY naming the revision, the line and the server's message), then
 * compare the live fingerprint with the recorded one (drift is EBB_E_VERIFY
 * naming the objects). A `verify` event records the outcome. Takes the lock
 * unless opts->lock_held. revision_out (may be NULL) gets the failing
 * revision, malloc'd.
 */
EBB_MUSTCHECK ebb_code ebb_migrate_verify(ebb_pg *pg, const ebb_graph *graph,
                                          const ebb_migrate_opts *opts, char **revision_out,
                                          ebb_error *err);

/* Run one revision's verify script in a rolled-back transaction (EBB_E_VERIFY on error). */
EBB_MUSTCHECK ebb_code ebb_migrate_verify_revision(ebb_pg *pg, const ebb_revision *rev,
                                                   ebb_error *err);

/* "ebb-<run_id>-<db>" with characters outside [A-Za-z0-9_.-] replaced by '_'. Pure. */
void ebb_migrate_gid(const char *run_id, const char *db_name, char out[EBB_GID_MAX]);

/* COMMIT PREPARED / ROLLBACK PREPARED gid (outside a transaction). EBB_E_NOT_FOUND when absent. */
EBB_MUSTCHECK ebb_code ebb_migrate_commit_prepared(ebb_pg *pg, const char *gid, ebb_error *err);
EBB_MUSTCHECK ebb_code ebb_migrate_rollback_prepared(ebb_pg *pg, const char *gid, ebb_error *err);

/* gids of prepared transactions of this database starting with "ebb-"; caller frees each and the array. */
EBB_MUSTCHECK ebb_code ebb_migrate_list_prepared(ebb_pg *pg, char ***out, size_t *n_out,
                                                 ebb_error *err);

#endif
