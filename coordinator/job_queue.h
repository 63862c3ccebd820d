/* Jobs on their way to agents: queued per agent, handed out in the agent's next poll reply, asked
 * again by the same id when lost, matched to their results. */
#ifndef EBB_COORDINATOR_JOB_QUEUE_H
#define EBB_COORDINATOR_JOB_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "ebb.pb-c.h"

/*
 * Plain data, no locking: the daemon holds its lock. Delivery is at least
 * once and execution at most once: the agent answers a job id it has seen
 * with its recorded result (or ignores it while it runs), so sending the
 * same id again is always safe, and the queue does it whenever a job may
 * have been lost (see ebb_job_queue_poll).
 */

typedef enum ebb_job_delivery {
    EBB_JOB_QUEUED = 0, /* waits for the agent's next poll */
    EBB_JOB_HANDED_OUT, /* in a poll reply; the result is awaited */
} ebb_job_delivery;

/* One job (every string owned by the queue). */
typedef struct ebb_coord_job {
    char *job_id;
    char *run_id;
    char *agent_id;
    char *database;
    Ebb__JobAction action;
    char *target;          /* precheck, migrate */
    char *backup_id;       /* restore */
    char *operator_key_id; /* who asked */
    char *reason;
    bool prepare;
    bool accept_data_loss;
    uint32_t timeout_ms;
    /* delivery */
    ebb_job_delivery delivery;
    int64_t handed_out_ms;
    unsigned deliveries;   /* poll replies that carried it */
    unsigned busy_retries; /* "database busy" answers (nothing ran) */
} ebb_coord_job;

typedef struct ebb_job_queue {
    ebb_coord_job *jobs;
    size_t n, cap;
} ebb_job_queue;

void ebb_job_queue_init(ebb_job_queue *q);
void ebb_job_queue_fini(ebb_job_queue *q);

/*
 * Queue a copy of job (its delivery fields are ignored; strings copied).
 * A job id already in the queue is left as it is (*added false).
 * added may be NULL.
 */
EBB_MUSTCHECK ebb_code ebb_job_queue_add(ebb_job_queue *q, const ebb_coord_job *job, bool *added,
                                         ebb_error *err);

/* The job with this id (borrowed), or NULL. */
ebb_coord_job *ebb_job_queue_find(ebb_job_queue *q, const char *job_id);

/* True when agent_id has queued jobs. */
bool ebb_job_queue_has_work(const ebb_job_queue *q, const char *agent_id);

/*
 * The agent's queued jobs as a PollReply's JobCommands: *out is a malloc'd
 * array of *count malloc'd JobCommands whose strings borrow from the queue
 * (free with ebb_job_queue_commands_free before the queue changes). The
 * jobs become handed out at now_ms. *out NULL and *count 0 when none.
 */
EBB_MUSTCHECK ebb_code ebb_job_queue_take(ebb_job_queue *q, const char *agent_id, int64_t now_ms,
                                          Ebb__JobCommand ***out, size_t *count, ebb_error *err);
void ebb_job_queue_commands_free(Ebb__JobCommand **cmds, size_t count);

/*
 * A poll from agent_id that lists the jobs the agent holds (running and
 * queued) and how many results wait for delivery. A job handed out at
 * least grace_ms ago that the agent does not hold, while no result waits,
 * was lost on the way: it is queued again (same id). Returns how many were.
 */
size_t ebb_job_queue_poll(ebb_job_queue *q, const char *agent_id, const char *const *held,
                          size_t n_held, unsigned undelivered, int64_t now_ms, int64_t grace_ms);

/* Queue a handed-out job again (same id), e.g. after "database busy". EBB_E_NOT_FOUND. */
EBB_MUSTCHECK ebb_code ebb_job_queue_requeue(ebb_job_queue *q, const char *job_id, ebb_error *err);

/* Forget a job (its result arrived, or its run is over). False when unknown. */
bool ebb_job_queue_remove(ebb_job_queue *q, const char *job_id);

/* Forget every job of run_id that is still queued (not handed out). Returns how many. */
size_t ebb_job_queue_drop_queued(ebb_job_queue *q, const char *run_id);

#endif
