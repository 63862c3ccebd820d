/* The per-host state machine of a run (one unit: a database on a host), as a table. */
#include "coordinator/fsm_host.h"

#define ROW(s, e, n, a)                                                                            \
    {                                                                                              \
        EBB_HOST_##s, EBB_HEV_##e, EBB_HOST_##n, EBB_HACT_##a                                      \
    }

static const ebb_fsm_row rows[] = {
    ROW(PENDING, START, RUNNING, SEND_STEP),
    ROW(PENDING, CANCEL, CANCELLED, NONE),
    ROW(RUNNING, STEP_OK, RUNNING, SEND_STEP),
    ROW(RUNNING, LAST_STEP_OK, DONE, NONE),
    ROW(RUNNING, STEP_FAILED, FAILED, COUNT_FAILURE),
    ROW(RUNNING, STEP_RETRY, RUNNING, RESEND_STEP),
    ROW(RUNNING, PREPARED_OK, PREPARED, WAIT_DECISION),
    ROW(RUNNING, STEP_TIMEOUT, UNKNOWN, MARK_UNKNOWN),
    ROW(RUNNING, ROLLBACK, RECOVERING, SEND_RECOVERY_STEP),
    /* A failed unit is not left as it failed (SPEC 7): a committed change is restored from this
     * run's backup, an unchanged database gets its services back; the failure counts either way. */
    ROW(RUNNING, STEP_FAILED_RESTORE, RESTORING, FAIL_SEND_RESTORE),
    ROW(RUNNING, STEP_FAILED_RESTART, RESTARTING, FAIL_SEND_RESTART),
    ROW(RUNNING, PREPARE_FAILED, PREPARE_FAILED, COUNT_FAILURE),
    /* A silent host that answers after all resumes where it was; one that stays silent fails. */
    ROW(UNKNOWN, STEP_OK, RUNNING, SEND_STEP),
    ROW(UNKNOWN, LAST_STEP_OK, DONE, NONE),
    ROW(UNKNOWN, STEP_FAILED, FAILED, COUNT_FAILURE),
    ROW(UNKNOWN, STEP_RETRY, RUNNING, RESEND_STEP),
    ROW(UNKNOWN, PREPARED_OK, PREPARED, WAIT_DECISION),
    ROW(UNKNOWN, ROLLBACK, RECOVERING, SEND_RECOVERY_STEP),
    ROW(UNKNOWN, SILENT_TIMEOUT, FAILED, COUNT_FAILURE),
    ROW(UNKNOWN, STEP_FAILED_RESTORE, RESTORING, FAIL_SEND_RESTORE),
    ROW(UNKNOWN, STEP_FAILED_RESTART, RESTARTING, FAIL_SEND_RESTART),
    ROW(UNKNOWN, PREPARE_FAILED, PREPARE_FAILED, COUNT_FAILURE),
    /* A unit that may hold a prepared transaction gets the wave's rollback_prepared too. */
    ROW(PREPARE_FAILED, ROLLBACK, ROLLING_BACK, SEND_ROLLBACK),
    ROW(PREPARED, COMMIT, COMMITTING, SEND_COMMIT),
    ROW(PREPARED, ROLLBACK, ROLLING_BACK, SEND_ROLLBACK),
    ROW(COMMITTING, COMMIT_OK, RUNNING, SEND_STEP),
    ROW(COMMITTING, STEP_FAILED, FAILED, COUNT_FAILURE),
    ROW(COMMITTING, SILENT_TIMEOUT, FAILED, COUNT_FAILURE),
    ROW(ROLLING_BACK, ROLLBACK_OK, RECOVERING, SEND_RECOVERY_STEP),
    ROW(ROLLING_BACK, STEP_FAILED, FAILED, COUNT_FAILURE),
    ROW(ROLLING_BACK, SILENT_TIMEOUT, FAILED, COUNT_FAILURE),
    ROW(RECOVERING, STEP_OK, RECOVERING, SEND_RECOVERY_STEP),
    ROW(RECOVERING, LAST_STEP_OK, ROLLED_BACK, NONE),
    ROW(RECOVERING, STEP_FAILED, FAILED, COUNT_FAILURE),
    ROW(RECOVERING, SILENT_TIMEOUT, FAILED, COUNT_FAILURE),
    ROW(RESTORING, STEP_OK, RESTARTING_RESTORED, SEND_RECOVERY_STEP),
    ROW(RESTORING, STEP_FAILED, FAILED, NONE), /* services stay stopped on an unknown schema */
    ROW(RESTORING, SILENT_TIMEOUT, FAILED, NONE),
    ROW(RESTARTING, STEP_OK, RESTARTING, SEND_RECOVERY_STEP),
    ROW(RESTARTING, LAST_STEP_OK, FAILED, NONE),
    ROW(RESTARTING, STEP_FAILED, FAILED, NONE),
    ROW(RESTARTING, SILENT_TIMEOUT, FAILED, NONE),
    ROW(RESTARTING_RESTORED, STEP_OK, RESTARTING_RESTORED, SEND_RECOVERY_STEP),
    ROW(RESTARTING_RESTORED, LAST_STEP_OK, FAILED_RESTORED, NONE),
    ROW(RESTARTING_RESTORED, STEP_FAILED, FAILED_RESTORED, NONE),
    ROW(RESTARTING_RESTORED, SILENT_TIMEOUT, FAILED_RESTORED, NONE),
    ROW(DONE, COMPENSATE, COMPENSATING, SEND_COMPENSATION),
    ROW(DONE, COMPENSATE_IMPOSSIBLE, COMPENSATION_FAILED, NONE),
    ROW(COMPENSATING, COMPENSATE_OK, COMPENSATED, NONE),
    ROW(COMPENSATING, COMPENSATE_FAILED, COMPENSATION_FAILED, NONE),
    ROW(COMPENSATING, SILENT_TIMEOUT, COMPENSATION_FAILED, NONE),
};

static const char *const state_names[EBB_HOST__COUNT] = {
    [EBB_HOST_PENDING] = "pending",         [EBB_HOST_RUNNING] = "running",
    [EBB_HOST_UNKNOWN] = "unknown",         [EBB_HOST_PREPARED] = "prepared",
    [EBB_HOST_COMMITTING] = "committing",   [EBB_HOST_ROLLING_BACK] = "rolling_back",
    [EBB_HOST_RECOVERING] = "recovering",   [EBB_HOST_DONE] = "done",
    [EBB_HOST_FAILED] = "failed",           [EBB_HOST_ROLLED_BACK] = "rolled_back",
    [EBB_HOST_CANCELLED] = "cancelled",     [EBB_HOST_COMPENSATING] = "compensating",
    [EBB_HOST_COMPENSATED] = "compensated", [EBB_HOST_COMPENSATION_FAILED] = "compensation_failed",
    [EBB_HOST_PREPARE_FAILED] = "prepare_failed", [EBB_HOST_RESTORING] = "restoring",
    [EBB_HOST_RESTARTING] = "restarting", [EBB_HOST_RESTARTING_RESTORED] = "restarting_restored",
    [EBB_HOST_FAILED_RESTORED] = "failed_restored",
};

static const bool terminal[EBB_HOST__COUNT] = {
    [EBB_HOST_FAILED] = true,
    [EBB_HOST_ROLLED_BACK] = true,
    [EBB_HOST_CANCELLED] = true,
    [EBB_HOST_COMPENSATED] = true,
    [EBB_HOST_COMPENSATION_FAILED] = true,
    [EBB_HOST_FAILED_RESTORED] = true,
};

static const char *const event_names[EBB_HEV__COUNT] = {
    [EBB_HEV_START] = "start",
    [EBB_HEV_STEP_OK] = "step_ok",
    [EBB_HEV_LAST_STEP_OK] = "last_step_ok",
    [EBB_HEV_STEP_FAILED] = "step_failed",
    [EBB_HEV_STEP_RETRY] = "step_retry",
    [EBB_HEV_PREPARED_OK] = "prepared_ok",
    [EBB_HEV_STEP_TIMEOUT] = "step_timeout",
    [EBB_HEV_SILENT_TIMEOUT] = "silent_timeout",
    [EBB_HEV_COMMIT] = "commit",
    [EBB_HEV_COMMIT_OK] = "commit_ok",
    [EBB_HEV_ROLLBACK] = "rollback",
    [EBB_HEV_ROLLBACK_OK] = "rollback_ok",
    [EBB_HEV_CANCEL] = "cancel",
    [EBB_HEV_COMPENSATE] = "compensate",
    [EBB_HEV_COMPENSATE_IMPOSSIBLE] = "compensate_impossible",
    [EBB_HEV_COMPENSATE_OK] = "compensate_ok",
    [EBB_HEV_COMPENSATE_FAILED] = "compensate_failed",
    [EBB_HEV_STEP_FAILED_RESTORE] = "step_failed_restore",
    [EBB_HEV_STEP_FAILED_RESTART] = "step_failed_restart",
    [EBB_HEV_PREPARE_FAILED] = "prepare_failed",
};

static const char *const action_names[EBB_HACT__COUNT] = {
    [EBB_HACT_NONE] = "none",
    [EBB_HACT_SEND_STEP] = "send_step",
    [EBB_HACT_RESEND_STEP] = "resend_step",
    [EBB_HACT_WAIT_DECISION] = "wait_decision",
    [EBB_HACT_SEND_COMMIT] = "send_commit",
    [EBB_HACT_SEND_ROLLBACK] = "send_rollback",
    [EBB_HACT_SEND_RECOVERY_STEP] = "send_recovery_step",
    [EBB_HACT_MARK_UNKNOWN] = "mark_unknown",
    [EBB_HACT_COUNT_FAILURE] = "count_failure",
    [EBB_HACT_SEND_COMPENSATION] = "send_compensation",
    [EBB_HACT_FAIL_SEND_RESTORE] = "count_failure_send_restore",
    [EBB_HACT_FAIL_SEND_RESTART] = "count_failure_send_restart",
};

static const ebb_fsm_table table = {
    "host",
    rows,
    sizeof rows / sizeof rows[0],
    state_names,
    EBB_HOST__COUNT,
    terminal,
    event_names,
    EBB_HEV__COUNT,
    action_names,
    EBB_HACT__COUNT,
};

const ebb_fsm_table *ebb_fsm_host_table(void)
{
    return &table;
}

ebb_code ebb_fsm_host_lookup(ebb_host_state state, ebb_host_event event, const ebb_fsm_row **out,
                             ebb_error *err)
{
    return ebb_fsm_lookup(&table, (int)state, (int)event, out, err);
}

const char *ebb_host_state_name(ebb_host_state state)
{
    return ebb_fsm_state_name(&table, (int)state);
}
