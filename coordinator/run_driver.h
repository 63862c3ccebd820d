/* The rollout engine's I/O shell: runs created from plans, driven through ebb_rollout_apply, every
 * transition journaled before it takes effect, jobs handed to the job queue, replay after a crash.
 */
#ifndef EBB_COORDINATOR_RUN_DRIVER_H
#define EBB_COORDINATOR_RUN_DRIVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/journal.h"
#include "coordinator/job_queue.h"
#include "coordinator/plan.h"
#include "coordinator/policy.h"
#include "coordinator/rollout.h"

/*
 * Not thread-safe: the daemon holds its lock around every call.
 *
 * Journal records (docs/operator-api.md, "Run records"), next to the audit
 * records of coordinator/audit.h:
 *   run.created     {run_id, plan (the plan JSON), plan_hash, cfg, operator_key_id,
 *                    operator_name, policy {verdict, approvals_needed, reasons}}
 *   run.transition  {run_id, now, event {kind, job_id?, ok?, error?, backup_id?,
 *                    operator_key_id?}, state, transitions [[host, from, event, to, action]]}
 *   run.decision    {run_id, wave, decision: "commit" | "rollback"}   (atomic mode)
 *
 * Order of every change: ebb_rollout_apply computes the next run (pure), the
 * audit records and the run.transition record are appended (fdatasync),
 * and only then does the next run replace the current one and are its
 * actions carried out (jobs queued). A crash before the append leaves the
 * event unapplied (a job result is delivered again by the agent until
 * acknowledged, and acknowledged only after the append); a crash after it
 * is replayed: ebb_run_driver_replay feeds the same events at the same
 * times through the same pure function and gets the same run, then asks
 * every job still out again by its SAME id (the agent answers with the
 * recorded result, or runs it once if it never received it). No job is
 * sent twice as new work.
 *
 * Atomic mode: the commit or rollback decision is part of the transition
 * record of the event that completed the wave's prepare phase (and
 * repeated as run.decision), so it is durable before any commit_prepared
 * or rollback_prepared leaves. After a crash, a wave with a recorded
 * decision gets the same commit/rollback jobs again; a wave without one
 * was still preparing, so its prepare jobs are asked again by id and the
 * decision is taken when the last answer arrives (any failure rolls the
 * whole wave back).
 */

#define EBB_RUN_CREATED "run.created"
#define EBB_RUN_TRANSITION "run.transition"
#define EBB_RUN_DECISION "run.decision"

/* A job result as the driver takes it (converted from a JobResult at the wire boundary). */
typedef struct ebb_driver_result {
    const char *job_id;
    const char *run_id;
    const char *agent_id;
    const char *database;
    const char *action;  /* "migrate", ... */
    const char *outcome; /* "succeeded", "failed", "interrupted", "rejected", "cancelled" */
    bool ok;             /* outcome succeeded */
    const char *const *revisions_before;
    size_t n_before;
    const char *const *revisions_after;
    size_t n_after;
    const char *fingerprint;
    const char *backup_id;
    const char *backup_checksum;
    const char *error_code;
    const char *error_message;
    const char *sqlstate;
    int64_t started_ms;
    int64_t finished_ms;
} ebb_driver_result;

/* One run as the driver keeps it. Read-only for callers. */
typedef struct ebb_run_entry {
    char run_id[64];
    ebb_plan plan; /* owned */
    ebb_run run;   /* borrows plan */
    ebb_policy_result policy;
    char plan_hash[EBB_PLAN_HASH_HEX];
    char operator_key_id[EBB_KEY_ID_MAX];
    char *operator_name;
    int64_t created_ms;
    int64_t ended_ms; /* 0 while the run goes on */
    uint64_t version; /* bumped on every change (show --follow waits on it) */
    json_t *log;      /* [{ts_ms, host, database, step, job_id, outcome, error}] (owned) */
} ebb_run_entry;

typedef struct ebb_run_driver ebb_run_driver;

/*
 * A driver writing to journal (borrowed) and putting jobs into queue
 * (borrowed). *out owned by the caller (ebb_run_driver_free).
 */
EBB_MUSTCHECK ebb_code ebb_run_driver_alloc(ebb_journal *journal, ebb_job_queue *queue,
                                            ebb_run_driver **out, ebb_error *err);
void ebb_run_driver_free(ebb_run_driver *d);

/*
 * Rebuild every run from the journal (run.* records; audit records give
 * the completed-run history for the policy) and queue again, by the same
 * ids, the jobs that were out. Call once, before anything else. A record
 * that does not replay (the plan does not parse back to its hash, an event
 * the run refuses) is EBB_E_VERIFY naming its seq.
 */
EBB_MUSTCHECK ebb_code ebb_run_driver_replay(ebb_run_driver *d, ebb_error *err);

/* What starting a run needs besides the plan. Strings borrowed for the call. */
typedef struct ebb_run_start {
    const ebb_policy_result *policy; /* the verdict for this plan (not REFUSED) */
    ebb_rollout_config cfg;          /* approvals_needed is taken from policy */
    const char *operator_key_id;
    const char *operator_name; /* may be NULL */
    const char *const *hosts;  /* the selection as requested (audit), may be empty */
    size_t n_hosts;
} ebb_run_start;

/*
 * Start a run of *plan (taken over: *plan is zeroed on success; on failure
 * the caller keeps it). Writes audit.run_requested and run.created, then
 * applies the start event (which waits for approvals when the policy asks).
 * The new run's id (fresh, random) into run_id_out.
 */
EBB_MUSTCHECK ebb_code ebb_run_driver_start(ebb_run_driver *d, ebb_plan *plan,
                                            const ebb_run_start *start, int64_t now_ms,
                                            char run_id_out[64], ebb_error *err);

/*
 * A job result. *matched (may be NULL) is false when no run has this job
 * out (a late duplicate, or a job of a run that ended): not an error. The
 * step result (or compensation) is audited before the transition.
 */
EBB_MUSTCHECK ebb_code ebb_run_driver_result(ebb_run_driver *d, const ebb_driver_result *r,
                                             int64_t now_ms, bool *matched, ebb_error *err);

/* Time passed: timeouts, silence, soak. Only ticks that change a run are journaled. */
EBB_MUSTCHECK ebb_code ebb_run_driver_tick(ebb_run_driver *d, int64_t now_ms, ebb_error *err);

/*
 * Operator commands: kind is EBB_EV_HALT, _RESUME, _ABORT or _APPROVE.
 * Audited (naming operator_key_id) before the transition. EBB_E_NOT_FOUND
 * for an unknown run, EBB_E_CONFLICT when the run's state does not take the
 * command, EBB_E_REFUSED for an approval by the requester.
 */
EBB_MUSTCHECK ebb_code ebb_run_driver_control(ebb_run_driver *d, const char *run_id,
                                              ebb_rollout_event_kind kind,
                                              const char *operator_key_id, const char *reason,
                                              int64_t now_ms, ebb_error *err);

/* Runs in creation order (borrowed, valid until the driver changes). */
size_t ebb_run_driver_count(const ebb_run_driver *d);
const ebb_run_entry *ebb_run_driver_at(const ebb_run_driver *d, size_t i);
const ebb_run_entry *ebb_run_driver_find(const ebb_run_driver *d, const char *run_id);

/* Bumped whenever any run changes. */
uint64_t ebb_run_driver_version(const ebb_run_driver *d);

/*
 * Completed runs for ebb_policy_check (borrowed strings; valid until the
 * driver changes): *out set to an internal array of *count records.
 */
void ebb_run_driver_history(ebb_run_driver *d, const ebb_run_record **out, size_t *count);

/*
 * A run as JSON (new reference; NULL when out of memory), the shape of
 * `runs` (detail false) and `show` (detail true) in docs/operator-api.md.
 */
json_t *ebb_run_entry_json(const ebb_run_entry *e, bool detail);

/* True when a run with state st can change no more. */
bool ebb_run_state_is_final(ebb_run_state st);

#endif
