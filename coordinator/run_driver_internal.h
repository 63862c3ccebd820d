/* The run driver's state and helpers shared by run_driver.c (driving) and run_replay.c (rebuilding
 * runs from the journal). Internal to those two files. */
#ifndef EBB_COORDINATOR_RUN_DRIVER_INTERNAL_H
#define EBB_COORDINATOR_RUN_DRIVER_INTERNAL_H

#include "coordinator/run_driver.h"

struct ebb_run_driver {
    ebb_journal *journal;
    ebb_job_queue *queue;
    ebb_run_entry **runs;
    size_t n, cap;
    uint64_t version;
    bool replaying;
    ebb_run_record *hist; /* rebuilt by ebb_run_driver_history */
    size_t n_hist;
    char **ended_audited; /* run ids with an audit.run_end (replay) */
    size_t n_ended_audited;
};

typedef ebb_code (*drv_audit_fn)(ebb_run_driver *d, ebb_run_entry *e, int64_t now_ms, void *ctx,
                                 ebb_error *err);

ebb_run_entry *drv_find(const ebb_run_driver *d, const char *run_id);
/* One event through the pure function, journaled (unless replaying) before it is taken. */
EBB_MUSTCHECK ebb_code drv_step(ebb_run_driver *d, ebb_run_entry *e, const ebb_rollout_event *ev,
                                int64_t now_ms, drv_audit_fn audit, void *actx, ebb_error *err);
EBB_MUSTCHECK ebb_code drv_add_entry(ebb_run_driver *d, ebb_run_entry *e, ebb_error *err);
void drv_entry_free(ebb_run_entry *e);
void drv_log_add(ebb_run_entry *e, int64_t ts_ms, const char *host, const char *db,
                 const char *step, const char *job_id, const char *outcome, const char *error);
void drv_policy_from_record(const json_t *j, ebb_policy_result *p);
EBB_MUSTCHECK ebb_code drv_write_run_end(ebb_run_driver *d, ebb_run_entry *e, int64_t now_ms,
                                         ebb_error *err);
/* Queue the job host i of e has out (same id). */
EBB_MUSTCHECK ebb_code drv_queue_job(ebb_run_driver *d, ebb_run_entry *e, size_t i, int64_t now_ms,
                                     ebb_error *err);

#endif
