/* The migration registry inside each target database (schema `ebb`): applied revisions, fingerprints, events. */
#ifndef EBB_AGENT_REGISTRY_H
#define EBB_AGENT_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/fingerprint.h"
#include "agent/migration.h"
#include "common/error.h"
#include "common/pgsql.h"

/*
 * Layout (registry version 1):
 *
 *   ebb.registry_version(version int, installed_at timestamptz)   one row
 *   ebb.applied(seq bigserial, revision text primary key,
 *               up_checksum, down_checksum, verify_checksum text,
 *               applied_at timestamptz, applied_by text, run_id text,
 *               fingerprint text, description text)
 *       the revisions applied now; a revert deletes the row. seq orders
 *       them (apply order).
 *   ebb.fingerprints(id bigserial, revision text NULL, fingerprint text,
 *               description text, run_id text, recorded_at timestamptz)
 *       history, never deleted: one row after every up step, and a
 *       baseline row (revision NULL = "base") recorded before an up path
 *       that starts from an empty registry. "The fingerprint of R" is the
 *       newest row for R, so it survives a revert and a later re-apply
 *       replaces it.
 *   ebb.events(id bigserial, kind text, revision text, run_id text,
 *               operator text, reason text, started_at, finished_at
 *               timestamptz, sqlstate text, error text, details jsonb)
 *       append-only: a trigger raises on UPDATE, DELETE and TRUNCATE (the
 *       owner cannot be revoked those rights, so a REVOKE would not do).
 *
 * Every write of the registry happens in the caller's transaction, so a
 * step's script and its registry change commit together.
 */

#define EBB_REGISTRY_VERSION 1

/*
 * Create the registry when absent, or migrate an older registry version.
 * Idempotent and safe against concurrent callers: it runs in its own
 * transaction and takes the migrator advisory lock at transaction level
 * first (a session that already holds the session-level lock gets it at
 * once). Refuses (EBB_E_CONFLICT) a registry newer than this build.
 * Must be called outside a transaction.
 */
EBB_MUSTCHECK ebb_code ebb_registry_ensure(ebb_pg *pg, ebb_error *err);

/* *out = true when schema ebb and its tables exist (no changes made). */
EBB_MUSTCHECK ebb_code ebb_registry_exists(ebb_pg *pg, bool *out, ebb_error *err);

/* One row of ebb.applied. */
typedef struct ebb_applied {
    char *revision;   /* owned */
    char up_checksum[EBB_CHECKSUM_HEX];     /* "" when not recorded */
    char down_checksum[EBB_CHECKSUM_HEX];
    char verify_checksum[EBB_CHECKSUM_HEX];
    char *applied_at; /* ISO 8601 text, UTC (owned) */
    char *applied_by; /* owned; "" when unknown */
    char *run_id;     /* owned; "" when unknown */
    char fingerprint[EBB_FINGERPRINT_HEX];
} ebb_applied;

typedef struct ebb_applied_list {
    ebb_applied *rows; /* apply order, oldest first (owned) */
    size_t count;
} ebb_applied_list;

/*
 * The applied revisions. A database without a registry has none (count 0,
 * not an error). *out is set only on success; caller: ebb_applied_list_fini.
 */
EBB_MUSTCHECK ebb_code ebb_registry_load(ebb_pg *pg, ebb_applied_list *out, ebb_error *err);
void ebb_applied_list_fini(ebb_applied_list *list);

/* Ids of list in apply order, borrowed from list, in a malloc'd array (caller frees the array only). */
EBB_MUSTCHECK ebb_code ebb_applied_list_ids(const ebb_applied_list *list, const char ***out,
                                            ebb_error *err);

/* Who and why: attached to every registry row and event of one run (all borrowed). */
typedef struct ebb_run_info {
    const char *run_id;        /* required, non-empty */
    const char *operator_name; /* may be NULL (recorded as "") */
    const char *reason;        /* may be NULL */
} ebb_run_info;

/*
 * Record that rev was applied (ebb.applied row with its script checksums)
 * and append fp to ebb.fingerprints. In the caller's transaction. Borrowed.
 * fp NULL: no fingerprint is known for that state (a revision adopted from
 * another tool's registry, see ebb_migrate_alembic_reconcile): the row's
 * fingerprint is "" and nothing is appended to ebb.fingerprints.
 */
EBB_MUSTCHECK ebb_code ebb_registry_record_apply(ebb_pg *pg, const ebb_revision *rev,
                                                 const ebb_run_info *run,
                                                 const ebb_fingerprint *fp, ebb_error *err);

/* Remove revision from ebb.applied (a revert). EBB_E_NOT_FOUND when it was not applied. */
EBB_MUSTCHECK ebb_code ebb_registry_record_revert(ebb_pg *pg, const char *revision,
                                                  ebb_error *err);

/* Append a baseline fingerprint (revision NULL, i.e. "base"). */
EBB_MUSTCHECK ebb_code ebb_registry_record_baseline(ebb_pg *pg, const ebb_run_info *run,
                                                    const ebb_fingerprint *fp, ebb_error *err);

/* Append fp to ebb.fingerprints as the fingerprint of revision (NULL = base). Borrowed. */
EBB_MUSTCHECK ebb_code ebb_registry_record_fingerprint(ebb_pg *pg, const char *revision,
                                                       const ebb_run_info *run,
                                                       const ebb_fingerprint *fp, ebb_error *err);

/*
 * Record rev as applied without running it (a stamp): an ebb.applied row
 * with the script checksums from disk and an empty fingerprint, and no
 * ebb.fingerprints row. In the caller's transaction. Borrowed.
 */
EBB_MUSTCHECK ebb_code ebb_registry_record_stamp(ebb_pg *pg, const ebb_revision *rev,
                                                 const ebb_run_info *run, ebb_error *err);

/*
 * The newest recorded fingerprint of revision (NULL = base). EBB_E_NOT_FOUND
 * when none was recorded. *out set only on success; caller:
 * ebb_fingerprint_fini.
 */
EBB_MUSTCHECK ebb_code ebb_registry_fingerprint_of(ebb_pg *pg, const char *revision,
                                                   ebb_fingerprint *out, ebb_error *err);

/* ---- Events ---- */

typedef enum ebb_event_kind {
    EBB_EVENT_DEPLOY,
    EBB_EVENT_REVERT,
    EBB_EVENT_VERIFY,
    EBB_EVENT_RESTORE,
    EBB_EVENT_FAIL,
    EBB_EVENT_STAMP,
} ebb_event_kind;

/* "deploy", "revert", ... Never NULL. */
const char *ebb_event_kind_name(ebb_event_kind kind);

/* An event to append. Every pointer is borrowed and may be NULL. */
typedef struct ebb_event {
    ebb_event_kind kind;
    const char *revision;
    const ebb_run_info *run;
    double started_at;   /* Unix time in seconds; 0 = now() */
    double finished_at;  /* 0 = now() */
    const char *sqlstate; /* fail events */
    const char *error;    /* fail events: the message */
    const char *details;  /* a JSON object as text (checked by the server: jsonb) */
} ebb_event;

/* Append ev to ebb.events in the caller's transaction (or autocommit). */
EBB_MUSTCHECK ebb_code ebb_registry_event_add(ebb_pg *pg, const ebb_event *ev, ebb_error *err);

/* One row of ebb.events as read back; every string owned ("" for SQL NULL). */
typedef struct ebb_event_row {
    long long id;
    char *kind;
    char *revision;
    char *run_id;
    char *operator_name;
    char *reason;
    char *started_at;  /* ISO 8601 UTC */
    char *finished_at;
    char *sqlstate;
    char *error;
    char *details;     /* JSON text */
} ebb_event_row;

typedef struct ebb_event_list {
    ebb_event_row *rows; /* oldest first (owned) */
    size_t count;
} ebb_event_list;

/*
 * Events, oldest first; only those of run_id when it is non-NULL; at most
 * limit newest ones when limit > 0. No registry: empty list. *out set only
 * on success; caller: ebb_event_list_fini.
 */
EBB_MUSTCHECK ebb_code ebb_registry_events(ebb_pg *pg, const char *run_id, long limit,
                                           ebb_event_list *out, ebb_error *err);
void ebb_event_list_fini(ebb_event_list *list);

#endif
