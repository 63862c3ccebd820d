/* The per-host state machine of a run (one unit: a database on a host), as a table. */
#ifndef EBB_COORDINATOR_FSM_HOST_H
#define EBB_COORDINATOR_FSM_HOST_H

#include "coordinator/fsm_table.h"

typedef enum ebb_host_state {
    EBB_HOST_PENDING = 0,  /* waiting for its wave (or a parallel slot) */
    EBB_HOST_RUNNING,      /* a step job is out */
    EBB_HOST_UNKNOWN,      /* a step timed out: silent, not yet counted as failed */
    EBB_HOST_PREPARED,     /* atomic: migration prepared, waiting for the wave's decision */
    EBB_HOST_COMMITTING,   /* atomic: commit_prepared is out */
    EBB_HOST_ROLLING_BACK, /* atomic: rollback_prepared is out */
    EBB_HOST_RECOVERING,   /* atomic wave rolled back: services being started again */
    EBB_HOST_DONE,         /* every step succeeded */
    EBB_HOST_FAILED,       /* a step failed or the host stayed silent (counts against the budget) */
    EBB_HOST_ROLLED_BACK,  /* atomic wave rolled back; the host is at its start revision */
    EBB_HOST_CANCELLED,    /* never started: the run stopped first */
    EBB_HOST_COMPENSATING, /* compensation job (migrate back or restore) is out */
    EBB_HOST_COMPENSATED,  /* back at its start revision */
    EBB_HOST_COMPENSATION_FAILED,
    EBB_HOST_PREPARE_FAILED,      /* atomic: the prepare failed or went silent; the agent may hold a
                                     prepared transaction: waits for the wave's rollback */
    EBB_HOST_RESTORING,           /* failed after the migration committed: restore of this run's
                                     backup is out */
    EBB_HOST_RESTARTING,          /* failed with the database unchanged: services being started */
    EBB_HOST_RESTARTING_RESTORED, /* restored: services being started */
    EBB_HOST_FAILED_RESTORED,     /* failed (counted), restored from its backup, services back */
    EBB_HOST__COUNT
} ebb_host_state;

typedef enum ebb_host_event {
    EBB_HEV_START = 0,      /* the wave starts this host */
    EBB_HEV_STEP_OK,        /* a step succeeded and more follow */
    EBB_HEV_LAST_STEP_OK,   /* the last step succeeded */
    EBB_HEV_STEP_FAILED,    /* a job failed */
    EBB_HEV_STEP_RETRY,     /* a retryable step (health) failed with attempts left */
    EBB_HEV_PREPARED_OK,    /* atomic: migrate with prepare succeeded */
    EBB_HEV_STEP_TIMEOUT,   /* no result within the step's timeout */
    EBB_HEV_SILENT_TIMEOUT, /* still no result after the silence timeout */
    EBB_HEV_COMMIT,         /* the wave's decision is commit */
    EBB_HEV_COMMIT_OK,
    EBB_HEV_ROLLBACK, /* the wave's decision is roll back */
    EBB_HEV_ROLLBACK_OK,
    EBB_HEV_CANCEL,                /* the run stops before this host started */
    EBB_HEV_COMPENSATE,            /* bring a done host back to its start revision */
    EBB_HEV_COMPENSATE_IMPOSSIBLE, /* no path back and no backup */
    EBB_HEV_COMPENSATE_OK,
    EBB_HEV_COMPENSATE_FAILED,
    EBB_HEV_STEP_FAILED_RESTORE, /* migrate or verify failed after something was committed, and
                                    a backup was taken in this run */
    EBB_HEV_STEP_FAILED_RESTART, /* a step failed after the services stopped, database unchanged */
    EBB_HEV_PREPARE_FAILED,      /* atomic: the prepare failed or its agent stayed silent */
    EBB_HEV__COUNT
} ebb_host_event;

typedef enum ebb_host_action {
    EBB_HACT_NONE = 0,
    EBB_HACT_SEND_STEP,          /* send the next step's job (fresh id) */
    EBB_HACT_RESEND_STEP,        /* send the same step again as a new attempt (new id) */
    EBB_HACT_WAIT_DECISION,      /* hold until every host of the wave is prepared */
    EBB_HACT_SEND_COMMIT,        /* commit_prepared */
    EBB_HACT_SEND_ROLLBACK,      /* rollback_prepared */
    EBB_HACT_SEND_RECOVERY_STEP, /* start_services / health after a rolled-back wave */
    EBB_HACT_MARK_UNKNOWN,       /* start the silence timer */
    EBB_HACT_COUNT_FAILURE,      /* one more failure against the run's budget */
    EBB_HACT_SEND_COMPENSATION,  /* migrate back to the start revision, or restore the backup */
    EBB_HACT_FAIL_SEND_RESTORE,  /* count the failure, send restore of this run's backup */
    EBB_HACT_FAIL_SEND_RESTART,  /* count the failure, send start_services (then health) */
    EBB_HACT__COUNT
} ebb_host_action;

/* The table (static). */
const ebb_fsm_table *ebb_fsm_host_table(void);

/* Row for event in state; EBB_E_CONFLICT when not allowed. *out set only on success. */
EBB_MUSTCHECK ebb_code ebb_fsm_host_lookup(ebb_host_state state, ebb_host_event event,
                                           const ebb_fsm_row **out, ebb_error *err);

const char *ebb_host_state_name(ebb_host_state state);

#endif
