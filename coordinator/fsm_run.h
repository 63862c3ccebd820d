/* The state machine of a whole run (waves, soak, gates, atomic decisions, halt, compensation), as a
 * table. */
#ifndef EBB_COORDINATOR_FSM_RUN_H
#define EBB_COORDINATOR_FSM_RUN_H

#include "coordinator/fsm_table.h"

typedef enum ebb_run_state {
    EBB_RUN_PLANNED = 0,       /* created from a plan, not started */
    EBB_RUN_AWAITING_APPROVAL, /* the policy wants approvals before anything starts */
    EBB_RUN_RUNNING,           /* a wave is in progress */
    EBB_RUN_SOAKING,           /* a wave finished; waiting out the soak time */
    EBB_RUN_GATED,             /* the next wave waits for an approval */
    EBB_RUN_COMMITTING,        /* atomic: commit decision recorded, commits out */
    EBB_RUN_ROLLING_BACK,      /* atomic: rollback decision recorded, the wave rolls back */
    EBB_RUN_HALTED,            /* operator halt: nothing new starts; resumable */
    EBB_RUN_FAILING,           /* budget spent: in-flight hosts finish, nothing new starts */
    EBB_RUN_ABORTING,          /* operator abort: in-flight hosts finish, then the run ends */
    EBB_RUN_COMPENSATING,      /* budget spent with compensate: done hosts go back */
    EBB_RUN_SUCCEEDED,
    EBB_RUN_FAILED,
    EBB_RUN_ABORTED,
    EBB_RUN_COMPENSATED,
    EBB_RUN__COUNT
} ebb_run_state;

typedef enum ebb_run_event {
    EBB_REV_START = 0,      /* no approval needed */
    EBB_REV_NEED_APPROVAL,  /* the policy wants approvals first */
    EBB_REV_APPROVAL,       /* an approval arrived, more are needed */
    EBB_REV_APPROVED,       /* the last needed approval arrived */
    EBB_REV_WAVE_DONE_SOAK, /* wave finished; soak before the next */
    EBB_REV_WAVE_DONE_GATE, /* wave finished; the next has a gate */
    EBB_REV_WAVE_DONE_NEXT, /* wave finished; the next starts now */
    EBB_REV_LAST_WAVE_DONE, /* the last wave finished within the budget */
    EBB_REV_SOAK_ELAPSED,
    EBB_REV_SOAK_ELAPSED_GATE,
    EBB_REV_ALL_PREPARED,                /* atomic: every host of the wave prepared */
    EBB_REV_COMMITS_DONE,                /* atomic: every commit answered */
    EBB_REV_PREPARE_FAILED,              /* atomic: a host of the wave failed before commit */
    EBB_REV_WAVE_ROLLED_BACK,            /* atomic: the wave is back where it started */
    EBB_REV_WAVE_ROLLED_BACK_COMPENSATE, /* the same, on_failure compensate */
    EBB_REV_BUDGET_EXCEEDED,             /* more host failures than the budget, on_failure halt */
    EBB_REV_BUDGET_EXCEEDED_COMPENSATE,
    EBB_REV_DRAINED,           /* no job is out any more */
    EBB_REV_COMPENSATION_DONE, /* every done host compensated */
    EBB_REV_COMPENSATION_INCOMPLETE,
    EBB_REV_HALT,   /* operator */
    EBB_REV_RESUME, /* operator */
    EBB_REV_ABORT,  /* operator */
    EBB_REV__COUNT
} ebb_run_event;

typedef enum ebb_run_action {
    EBB_RACT_NONE = 0,
    EBB_RACT_START_WAVE,
    EBB_RACT_START_SOAK,
    EBB_RACT_REQUEST_APPROVAL,
    EBB_RACT_RECORD_APPROVAL,
    EBB_RACT_RECORD_COMMIT,   /* journal the commit decision before any commit is sent */
    EBB_RACT_RECORD_ROLLBACK, /* journal the rollback decision */
    EBB_RACT_STOP_NEW,        /* start nothing new */
    EBB_RACT_CONTINUE,        /* start what is due again */
    EBB_RACT_CANCEL_PENDING,
    EBB_RACT_START_COMPENSATION,
    EBB_RACT_END_RUN,
    EBB_RACT__COUNT
} ebb_run_action;

/* The table (static). */
const ebb_fsm_table *ebb_fsm_run_table(void);

/* Row for event in state; EBB_E_CONFLICT when not allowed. *out set only on success. */
EBB_MUSTCHECK ebb_code ebb_fsm_run_lookup(ebb_run_state state, ebb_run_event event,
                                          const ebb_fsm_row **out, ebb_error *err);

const char *ebb_run_state_name(ebb_run_state state);

#endif
