/* The agent's job executor: runs one configured action on one database, idempotently, with progress
 * and cancel. */
#ifndef EBB_AGENT_JOB_H
#define EBB_AGENT_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/agent_config.h"
#include "common/error.h"

/*
 * The daemon verifies the envelope (signature, recipient, replay) and
 * converts the wire's JobCommand into an ebb_job_cmd; the executor never
 * sees protobuf. It trusts nothing in the command beyond names: the
 * database must be in the configuration and allow the action, the target is
 * parsed as a revision target, the backup id must have the shape of a
 * backup id. No SQL, command, path or connection string is ever taken
 * from a command.
 */

#define EBB_JOB_ID_MAX 128 /* job and run ids: 1..127 printable ASCII characters */

/* A command as received (all strings borrowed for the duration of the call). */
typedef struct ebb_job_cmd {
    const char *job_id; /* required, unique per job */
    const char *run_id; /* required: the run it belongs to (registry events, gid) */
    ebb_job_action action;
    const char *database;      /* required except for cancel */
    const char *target;        /* precheck, migrate: "head", "base", "-N", "+N", revision */
    const char *backup_id;     /* restore */
    const char *cancel_job_id; /* cancel: the job to cancel */
    const char *operator_name; /* who asked (operator key id), may be NULL */
    const char *reason;        /* may be NULL */
    bool prepare;              /* migrate: end in PREPARE TRANSACTION (atomic mode) */
    bool accept_data_loss;     /* migrate: the operator accepted data loss (recorded) */
    uint32_t timeout_ms;       /* 0 = none; the job is cancelled (FAILED, timeout) after it */
} ebb_job_cmd;

typedef enum ebb_job_outcome {
    EBB_JOB_OUTCOME_NONE = 0,
    EBB_JOB_SUCCEEDED,
    EBB_JOB_FAILED,
    EBB_JOB_INTERRUPTED, /* the agent died while it ran; not run again */
    EBB_JOB_REJECTED,    /* not allowed by the configuration: nothing ran */
    EBB_JOB_CANCELLED,
    EBB_JOB_RUNNING, /* a duplicate of a job still running (not a final outcome) */
} ebb_job_outcome;

/* "succeeded", "failed", "interrupted", "rejected", "cancelled", "running", "none". */
const char *ebb_job_outcome_name(ebb_job_outcome outcome);
/* EBB_JOB_OUTCOME_NONE when name is not one. */
ebb_job_outcome ebb_job_outcome_parse(const char *name);

/*
 * A result (the wire's JobResult without protobuf). Every pointer owned;
 * ebb_job_result_fini frees; NULL / 0 when not applicable.
 */
typedef struct ebb_job_result {
    char *job_id;
    char *run_id;
    ebb_job_outcome outcome;
    ebb_job_action action;
    char *database;
    char **revisions_before; /* current revision(s) before the job */
    size_t n_before;
    char **revisions_after; /* current revision(s) after (interrupted: what it holds now) */
    size_t n_after;
    char *fingerprint; /* live schema fingerprint at the end */
    bool has_drift;    /* drift below was read together with fingerprint */
    bool drift;        /* the live fingerprint differs from the one recorded for the current revision */
    char *backup_id;   /* backup taken / restored */
    char *backup_checksum;
    ebb_code error_code; /* EBB_OK unless failed / rejected / cancelled */
    char *error_message; /* secrets masked */
    char sqlstate[6];
    int64_t started_at_ms; /* Unix ms; 0 when it never started */
    int64_t finished_at_ms;
    char *report_json; /* action-specific JSON object (inspect, precheck, ...), or NULL */
    bool from_journal; /* a duplicate: this is the recorded result, nothing ran now */
} ebb_job_result;

void ebb_job_result_fini(ebb_job_result *res);
/* Deep copy; *out set only on success (caller: ebb_job_result_fini). */
EBB_MUSTCHECK ebb_code ebb_job_result_copy(const ebb_job_result *src, ebb_job_result *out,
                                           ebb_error *err);

/* Progress of a running job (all strings borrowed for the call). */
typedef struct ebb_job_progress {
    const char *job_id;
    ebb_job_action action;
    const char *step;    /* "stop", "dump", "verify", "migrate", "restore", "health", ... */
    uint32_t done;       /* statement / step n ... */
    uint32_t total;      /* ... of m (0 = unknown) */
    uint64_t bytes;      /* bytes dumped (backup) */
    const char *message; /* e.g. the revision being applied; may be NULL */
    int64_t elapsed_ms;  /* since the job started: the daemon streams only jobs past 1 s */
} ebb_job_progress;

/* Called from the thread running the job; must not call back into the executor. */
typedef void (*ebb_job_progress_fn)(void *ctx, const ebb_job_progress *p);

/* Description of one database for the hello (the wire's DatabaseInfo). Owned. */
typedef struct ebb_job_db_info {
    char *name;
    char *kind;     /* source kind name */
    char **current; /* current revision(s): applied revisions no applied child has */
    size_t n_current;
    char *graph_hash;
    char *fingerprint;
    bool drift;
    char *environment;
    char *error; /* why the rest is missing (NULL when fine) */
} ebb_job_db_info;

void ebb_job_db_info_fini(ebb_job_db_info *info);

/*
 * The executor. One per daemon; thread-safe: the daemon calls
 * ebb_job_execute from worker threads, several at once. At most one job
 * runs per database: a job for a database that is busy is refused at once
 * with FAILED / EBB_E_LOCKED ("database D is busy with job J") and, because
 * nothing ran, is NOT recorded, so the coordinator may deliver the same job
 * id again later. cancel jobs are exempt (they act on another job).
 */
typedef struct ebb_job_executor ebb_job_executor;

/*
 * Open the job journal cfg->job_journal and recover: every job recorded as
 * received or started without a finish is finished now as INTERRUPTED, with
 * revisions_after / fingerprint read from its database (inspect; a database
 * that cannot be read gives the reason in error_message). cfg is borrowed
 * and must outlive the executor. *out set only on success; caller:
 * ebb_job_executor_free (which waits for nothing: stop the workers first).
 */
EBB_MUSTCHECK ebb_code ebb_job_executor_open(const ebb_agent_config *cfg, ebb_job_executor **out,
                                             ebb_error *err);
void ebb_job_executor_free(ebb_job_executor *ex);

/*
 * The jobs found interrupted at open (for the hello's interrupted_jobs).
 * Borrowed from ex; valid until it is freed.
 */
const ebb_job_result *ebb_job_executor_interrupted(const ebb_job_executor *ex, size_t *count);

/*
 * Execute cmd (or answer it from the journal) and fill *out (caller:
 * ebb_job_result_fini). In order:
 *   - a job id already in the journal: the recorded result
 *     (out->from_journal), or outcome RUNNING while it still runs; nothing
 *     runs a second time;
 *   - an invalid command (empty or overlong ids, bad target or backup id),
 *     an unknown database or an action the database does not allow:
 *     REJECTED, recorded, nothing runs;
 *   - a busy database: FAILED / EBB_E_LOCKED, not recorded (see above);
 *   - else "received", "started" and "finished" are recorded (fsync) around
 *     the action, and progress (may be NULL) is called while it runs.
 * Returns EBB_OK when *out is filled. An error (the journal cannot be
 * written) leaves *out unset; when it happens after "received" the job is
 * reported INTERRUPTED at the next start.
 */
EBB_MUSTCHECK ebb_code ebb_job_execute(ebb_job_executor *ex, const ebb_job_cmd *cmd,
                                       ebb_job_progress_fn progress, void *progress_ctx,
                                       ebb_job_result *out, ebb_error *err);

/*
 * Ids of the jobs running now (for Poll.running_job_ids): malloc'd array of
 * malloc'd strings (caller frees each and the array). *out set only on success.
 */
EBB_MUSTCHECK ebb_code ebb_job_executor_running(ebb_job_executor *ex, char ***out, size_t *count,
                                                ebb_error *err);

/*
 * Inspect every configured database (for the hello). *out is a malloc'd
 * array of n_dbs entries (caller: ebb_job_db_info_fini on each, then free);
 * a database that cannot be read has its error set, it is not a failure.
 */
EBB_MUSTCHECK ebb_code ebb_job_executor_describe(ebb_job_executor *ex, ebb_job_db_info **out,
                                                 size_t *count, ebb_error *err);

#endif
