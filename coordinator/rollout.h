/* The rollout engine's decision function: a run and one event in, the next run and the actions to
 * take out. Pure code. */
#ifndef EBB_COORDINATOR_ROLLOUT_H
#define EBB_COORDINATOR_ROLLOUT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "coordinator/fsm_host.h"
#include "coordinator/fsm_run.h"
#include "coordinator/plan.h"

/*
 * The shell (coordinator daemon) owns the I/O: it feeds events (job results,
 * timer ticks, operator commands) to ebb_rollout_apply, writes the returned
 * transitions and the new run to the journal, and only then carries out the
 * actions. Replaying the journal's events through this function rebuilds
 * the same run, and job ids are derived from the run, so a restarted
 * coordinator re-sends the same ids (the agent answers a known id with its
 * recorded result; nothing runs twice).
 */

#define EBB_JOB_ID_HEX 33 /* BLAKE2b-128 as hex + NUL */
#define EBB_BACKUP_ID_MAX 128
#define EBB_ROLLOUT_MAX_APPROVERS 16
#define EBB_KEY_ID_MAX 65

typedef struct ebb_rollout_config {
    long timeout_s[EBB_JOB__COUNT]; /* per job kind; 0: default_timeout_s */
    long default_timeout_s;
    long silent_timeout_s;     /* an unknown host is failed after this much more silence */
    unsigned health_retries;   /* a failed health step is tried again this many times */
    unsigned approvals_needed; /* before the run starts (the policy's verdict) */
    unsigned gate_approvals;   /* per gate; 0 means 1 */
} ebb_rollout_config;

/* Where one unit of the plan is. */
typedef struct ebb_rollout_host {
    ebb_host_state state;
    size_t step;                 /* index of the next plan step to send */
    size_t recovery_step;        /* index of the next recovery step (start_services, health) */
    unsigned attempt;            /* attempt of the job out (retries of health) */
    ebb_job_kind job;            /* kind of the job out */
    char job_id[EBB_JOB_ID_HEX]; /* "" when no job is out */
    long long deadline;          /* when the job out times out, or the silence ends */
    char backup_id[EBB_BACKUP_ID_MAX]; /* from the backup step's result */
    char error[256];                   /* the failure (and what followed it) */
    bool counted;                      /* its failure is counted against the budget (once) */
} ebb_rollout_host;

typedef enum ebb_wave_decision {
    EBB_DECISION_NONE = 0,
    EBB_DECISION_COMMIT,
    EBB_DECISION_ROLLBACK,
} ebb_wave_decision;

typedef struct ebb_run {
    const ebb_plan *plan; /* borrowed: must outlive the run */
    char run_id[64];
    ebb_rollout_config cfg;
    ebb_run_state state;
    size_t wave;                /* the wave running, or the last one run */
    bool started;               /* the first wave has been opened */
    bool wave_soaked;           /* the soak after the current wave is over */
    long long soak_until;       /* 0: not soaking */
    ebb_wave_decision decision; /* atomic: the current wave's decision */
    size_t failures;            /* host failures so far, across the run */
    bool compensation_started;
    char approvers[EBB_ROLLOUT_MAX_APPROVERS][EBB_KEY_ID_MAX]; /* for the pending approval */
    size_t n_approvers;
    /* The approvals that released the run itself (kept when the first wave starts; the
     * pending-approval list above is reused by gates). */
    char run_approvers[EBB_ROLLOUT_MAX_APPROVERS][EBB_KEY_ID_MAX];
    size_t n_run_approvers;
    ebb_rollout_host *hosts; /* parallel to plan->hosts (owned) */
    size_t n_hosts;
} ebb_run;

typedef enum ebb_rollout_event_kind {
    EBB_EV_START = 0,
    EBB_EV_RESULT, /* a job's result */
    EBB_EV_TICK,   /* time passed: timeouts, soak */
    EBB_EV_HALT,
    EBB_EV_RESUME,
    EBB_EV_ABORT,
    EBB_EV_APPROVE,
} ebb_rollout_event_kind;

/* Whether a failed job changed the database (the shell compares the result's revisions). */
typedef enum ebb_result_change {
    EBB_CHANGE_UNKNOWN = 0, /* the state after was not read: taken as changed */
    EBB_CHANGE_NONE,        /* revisions after = revisions before */
    EBB_CHANGE_SOME,        /* something was committed */
} ebb_result_change;

typedef struct ebb_rollout_event {
    ebb_rollout_event_kind kind;
    const char *job_id;       /* RESULT */
    bool ok;                  /* RESULT */
    const char *error;        /* RESULT, when !ok */
    const char *backup_id;    /* RESULT of a backup job */
    ebb_result_change change; /* RESULT, when !ok */
    const char *operator_key; /* APPROVE */
    /* Replayed from a journal record written before failed units were restored / restarted
     * (no "engine" field): the engine then decides as it did (a failure ends the unit), so old
     * journals replay to the states they recorded. */
    bool legacy;
} ebb_rollout_event;

typedef enum ebb_rollout_action_kind {
    EBB_ACT_SEND_JOB = 0,
    EBB_ACT_RECORD_DECISION, /* atomic: make durable before sending the jobs that follow */
    EBB_ACT_START_SOAK,
    EBB_ACT_REQUEST_APPROVAL,
    EBB_ACT_END_RUN,
} ebb_rollout_action_kind;

typedef struct ebb_rollout_action {
    ebb_rollout_action_kind kind;
    size_t host;      /* SEND_JOB: index into plan->hosts */
    ebb_job_kind job; /* SEND_JOB */
    char job_id[EBB_JOB_ID_HEX];
    const char *target; /* SEND_JOB migrate: the revision to reach (borrowed from the plan) */
    bool prepare;       /* SEND_JOB migrate: PREPARE TRANSACTION, do not commit */
    char backup_id[EBB_BACKUP_ID_MAX]; /* SEND_JOB restore */
    long long deadline;      /* SEND_JOB: when it times out; START_SOAK: when the soak ends */
    size_t wave;             /* RECORD_DECISION, START_SOAK, REQUEST_APPROVAL */
    bool commit;             /* RECORD_DECISION: commit (true) or roll back */
    unsigned approvals;      /* REQUEST_APPROVAL: distinct approvals needed */
    ebb_run_state end_state; /* END_RUN */
} ebb_rollout_action;

/* One table transition taken, for the journal. host is SIZE_MAX for the run's own machine. */
typedef struct ebb_rollout_transition {
    size_t host;
    int from;
    int event;
    int to;
    int action;
} ebb_rollout_transition;

typedef struct ebb_rollout_output {
    ebb_rollout_transition *transitions; /* in the order taken (owned) */
    size_t n_transitions;
    ebb_rollout_action *actions; /* in the order to carry out (owned) */
    size_t n_actions;
} ebb_rollout_output;

void ebb_rollout_output_fini(ebb_rollout_output *out);

/*
 * A new run of plan in state planned, every unit pending. A dry-run plan is
 * EBB_E_REFUSED: it is for reading only. plan is borrowed
 * and must outlive the run. *out is set only on success; ebb_run_fini frees.
 */
EBB_MUSTCHECK ebb_code ebb_run_init(const ebb_plan *plan, const char *run_id,
                                    const ebb_rollout_config *cfg, ebb_run *out, ebb_error *err);
void ebb_run_fini(ebb_run *run);

/* A deep copy of src (the plan still borrowed). *out set only on success. */
EBB_MUSTCHECK ebb_code ebb_run_copy(const ebb_run *src, ebb_run *out, ebb_error *err);

/*
 * Apply one event at time now. On success *next is the new run (caller
 * owns, ebb_run_fini) and *out the transitions and actions; cur is never
 * changed. An event the run cannot take is an error and changes nothing:
 * EBB_E_CONFLICT for an event not allowed in the current state (the table's
 * message), EBB_E_NOT_FOUND for a result whose job id is not out, and
 * EBB_E_REFUSED for an approval by the requester.
 */
EBB_MUSTCHECK ebb_code ebb_rollout_apply(const ebb_run *cur, const ebb_rollout_event *ev,
                                         long long now, ebb_run *next, ebb_rollout_output *out,
                                         ebb_error *err);

/*
 * The job id for one job of a run: BLAKE2b-128 over run id, host, database,
 * purpose ("step", "recovery", "commit", "rollback", "compensate"), step
 * index, job kind and attempt. Deterministic, so a restarted coordinator
 * derives the same ids.
 */
void ebb_rollout_job_id(const char *run_id, const char *host, const char *db, const char *purpose,
                        size_t step, ebb_job_kind job, unsigned attempt, char out[EBB_JOB_ID_HEX]);

/* True when no more events can change the run. */
bool ebb_run_is_over(const ebb_run *run);

#endif
