/* The state machine of a whole run (waves, soak, gates, atomic decisions, halt, compensation), as a
 * table. */
#include "coordinator/fsm_run.h"

#define ROW(s, e, n, a)                                                                            \
    {                                                                                              \
        EBB_RUN_##s, EBB_REV_##e, EBB_RUN_##n, EBB_RACT_##a                                        \
    }

static const ebb_fsm_row rows[] = {
    ROW(PLANNED, START, RUNNING, START_WAVE),
    ROW(PLANNED, NEED_APPROVAL, AWAITING_APPROVAL, REQUEST_APPROVAL),
    ROW(PLANNED, ABORT, ABORTING, CANCEL_PENDING),
    ROW(AWAITING_APPROVAL, APPROVAL, AWAITING_APPROVAL, RECORD_APPROVAL),
    ROW(AWAITING_APPROVAL, APPROVED, RUNNING, START_WAVE),
    ROW(AWAITING_APPROVAL, ABORT, ABORTING, CANCEL_PENDING),
    ROW(RUNNING, WAVE_DONE_SOAK, SOAKING, START_SOAK),
    ROW(RUNNING, WAVE_DONE_GATE, GATED, REQUEST_APPROVAL),
    ROW(RUNNING, WAVE_DONE_NEXT, RUNNING, START_WAVE),
    ROW(RUNNING, LAST_WAVE_DONE, SUCCEEDED, END_RUN),
    ROW(RUNNING, ALL_PREPARED, COMMITTING, RECORD_COMMIT),
    ROW(RUNNING, PREPARE_FAILED, ROLLING_BACK, RECORD_ROLLBACK),
    ROW(RUNNING, BUDGET_EXCEEDED, FAILING, STOP_NEW),
    ROW(RUNNING, BUDGET_EXCEEDED_COMPENSATE, COMPENSATING, STOP_NEW),
    ROW(RUNNING, HALT, HALTED, STOP_NEW),
    ROW(RUNNING, ABORT, ABORTING, CANCEL_PENDING),
    ROW(SOAKING, SOAK_ELAPSED, RUNNING, START_WAVE),
    ROW(SOAKING, SOAK_ELAPSED_GATE, GATED, REQUEST_APPROVAL),
    ROW(SOAKING, HALT, HALTED, STOP_NEW),
    ROW(SOAKING, ABORT, ABORTING, CANCEL_PENDING),
    ROW(GATED, APPROVAL, GATED, RECORD_APPROVAL),
    ROW(GATED, APPROVED, RUNNING, START_WAVE),
    ROW(GATED, HALT, HALTED, STOP_NEW),
    ROW(GATED, ABORT, ABORTING, CANCEL_PENDING),
    /* A recorded decision is carried out whole: no halt or abort in the middle. */
    ROW(COMMITTING, COMMITS_DONE, RUNNING, NONE),
    ROW(COMMITTING, BUDGET_EXCEEDED, FAILING, STOP_NEW),
    ROW(COMMITTING, BUDGET_EXCEEDED_COMPENSATE, COMPENSATING, STOP_NEW),
    ROW(ROLLING_BACK, WAVE_ROLLED_BACK, FAILING, STOP_NEW),
    ROW(ROLLING_BACK, WAVE_ROLLED_BACK_COMPENSATE, COMPENSATING, STOP_NEW),
    ROW(HALTED, RESUME, RUNNING, CONTINUE),
    ROW(HALTED, BUDGET_EXCEEDED, FAILING, STOP_NEW),
    ROW(HALTED, BUDGET_EXCEEDED_COMPENSATE, COMPENSATING, STOP_NEW),
    ROW(HALTED, ABORT, ABORTING, CANCEL_PENDING),
    ROW(FAILING, DRAINED, FAILED, END_RUN),
    ROW(ABORTING, DRAINED, ABORTED, END_RUN),
    ROW(COMPENSATING, DRAINED, COMPENSATING, START_COMPENSATION),
    ROW(COMPENSATING, COMPENSATION_DONE, COMPENSATED, END_RUN),
    ROW(COMPENSATING, COMPENSATION_INCOMPLETE, FAILED, END_RUN),
    ROW(COMPENSATING, ABORT, ABORTING, CANCEL_PENDING),
};

static const char *const state_names[EBB_RUN__COUNT] = {
    [EBB_RUN_PLANNED] = "planned",
    [EBB_RUN_AWAITING_APPROVAL] = "awaiting_approval",
    [EBB_RUN_RUNNING] = "running",
    [EBB_RUN_SOAKING] = "soaking",
    [EBB_RUN_GATED] = "gated",
    [EBB_RUN_COMMITTING] = "committing",
    [EBB_RUN_ROLLING_BACK] = "rolling_back",
    [EBB_RUN_HALTED] = "halted",
    [EBB_RUN_FAILING] = "failing",
    [EBB_RUN_ABORTING] = "aborting",
    [EBB_RUN_COMPENSATING] = "compensating",
    [EBB_RUN_SUCCEEDED] = "succeeded",
    [EBB_RUN_FAILED] = "failed",
    [EBB_RUN_ABORTED] = "aborted",
    [EBB_RUN_COMPENSATED] = "compensated",
};

static const bool terminal[EBB_RUN__COUNT] = {
    [EBB_RUN_SUCCEEDED] = true,
    [EBB_RUN_FAILED] = true,
    [EBB_RUN_ABORTED] = true,
    [EBB_RUN_COMPENSATED] = true,
};

static const char *const event_names[EBB_REV__COUNT] = {
    [EBB_REV_START] = "start",
    [EBB_REV_NEED_APPROVAL] = "need_approval",
    [EBB_REV_APPROVAL] = "approval",
    [EBB_REV_APPROVED] = "approved",
    [EBB_REV_WAVE_DONE_SOAK] = "wave_done_soak",
    [EBB_REV_WAVE_DONE_GATE] = "wave_done_gate",
    [EBB_REV_WAVE_DONE_NEXT] = "wave_done_next",
    [EBB_REV_LAST_WAVE_DONE] = "last_wave_done",
    [EBB_REV_SOAK_ELAPSED] = "soak_elapsed",
    [EBB_REV_SOAK_ELAPSED_GATE] = "soak_elapsed_gate",
    [EBB_REV_ALL_PREPARED] = "all_prepared",
    [EBB_REV_COMMITS_DONE] = "commits_done",
    [EBB_REV_PREPARE_FAILED] = "prepare_failed",
    [EBB_REV_WAVE_ROLLED_BACK] = "wave_rolled_back",
    [EBB_REV_WAVE_ROLLED_BACK_COMPENSATE] = "wave_rolled_back_compensate",
    [EBB_REV_BUDGET_EXCEEDED] = "budget_exceeded",
    [EBB_REV_BUDGET_EXCEEDED_COMPENSATE] = "budget_exceeded_compensate",
    [EBB_REV_DRAINED] = "drained",
    [EBB_REV_COMPENSATION_DONE] = "compensation_done",
    [EBB_REV_COMPENSATION_INCOMPLETE] = "compensation_incomplete",
    [EBB_REV_HALT] = "halt",
    [EBB_REV_RESUME] = "resume",
    [EBB_REV_ABORT] = "abort",
};

static const char *const action_names[EBB_RACT__COUNT] = {
    [EBB_RACT_NONE] = "none",
    [EBB_RACT_START_WAVE] = "start_wave",
    [EBB_RACT_START_SOAK] = "start_soak",
    [EBB_RACT_REQUEST_APPROVAL] = "request_approval",
    [EBB_RACT_RECORD_APPROVAL] = "record_approval",
    [EBB_RACT_RECORD_COMMIT] = "record_commit",
    [EBB_RACT_RECORD_ROLLBACK] = "record_rollback",
    [EBB_RACT_STOP_NEW] = "stop_new",
    [EBB_RACT_CONTINUE] = "continue",
    [EBB_RACT_CANCEL_PENDING] = "cancel_pending",
    [EBB_RACT_START_COMPENSATION] = "start_compensation",
    [EBB_RACT_END_RUN] = "end_run",
};

static const ebb_fsm_table table = {
    "run",           rows,           sizeof rows / sizeof rows[0],
    state_names,     EBB_RUN__COUNT, terminal,
    event_names,     EBB_REV__COUNT, action_names,
    EBB_RACT__COUNT,
};

const ebb_fsm_table *ebb_fsm_run_table(void)
{
    return &table;
}

ebb_code ebb_fsm_run_lookup(ebb_run_state state, ebb_run_event event, const ebb_fsm_row **out,
                            ebb_error *err)
{
    return ebb_fsm_lookup(&table, (int)state, (int)event, out, err);
}

const char *ebb_run_state_name(ebb_run_state state)
{
    return ebb_fsm_state_name(&table, (int)state);
}
