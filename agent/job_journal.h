/* The agent's local job journal: received / started / finished records, appended and fsynced, read
 * back after a crash. */
#ifndef EBB_AGENT_JOB_JOURNAL_H
#define EBB_AGENT_JOB_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "agent/job.h"
#include "common/error.h"

/*
 * One file, one JSON object a line, only ever appended; each append is one
 * write() followed by fdatasync() before the call returns, so a record the
 * caller was told about survives a crash. Records:
 *
 *   {"rec":"received","job_id":..,"run_id":..,"action":..,"database":..,
 *    "target":..,"backup_id":..,"cancel_job_id":..,"operator":..,"reason":..,
 *    "prepare":..,"accept_data_loss":..,"at_ms":..}
 *   {"rec":"started","job_id":..,"at_ms":..}
 *   {"rec":"finished","job_id":..,"result":{...every ebb_job_result field...}}
 *
 * A crash in the middle of an append leaves a last line without its
 * newline; open drops it (truncating the file to the last whole line: the
 * caller was never told that record was written). Any other line that does
 * not parse is an error naming the file and line: the journal is never
 * silently rewritten.
 *
 * Not thread-safe: the executor serialises every call under its mutex.
 */

typedef enum ebb_job_state {
    EBB_JOB_STATE_UNKNOWN = 0,
    EBB_JOB_STATE_RECEIVED,
    EBB_JOB_STATE_STARTED,
    EBB_JOB_STATE_FINISHED,
} ebb_job_state;

typedef struct ebb_job_journal ebb_job_journal;

/*
 * Open (creating with mode 0600 when absent) and read path. *out set only
 * on success; caller: ebb_job_journal_close.
 */
EBB_MUSTCHECK ebb_code ebb_job_journal_open(const char *path, ebb_job_journal **out,
                                            ebb_error *err);
void ebb_job_journal_close(ebb_job_journal *j);

/* Append the records (durable on EBB_OK). A job id may be received once only (EBB_E_CONFLICT). */
EBB_MUSTCHECK ebb_code ebb_job_journal_received(ebb_job_journal *j, const ebb_job_cmd *cmd,
                                                int64_t at_ms, ebb_error *err);
EBB_MUSTCHECK ebb_code ebb_job_journal_started(ebb_job_journal *j, const char *job_id,
                                               int64_t at_ms, ebb_error *err);
/* res->job_id names the job; a finished job cannot finish again (EBB_E_CONFLICT). */
EBB_MUSTCHECK ebb_code ebb_job_journal_finished(ebb_job_journal *j, const ebb_job_result *res,
                                                ebb_error *err);

/*
 * The state of job_id: EBB_E_NOT_FOUND when the journal never saw it. When
 * it is finished and result is not NULL, *result gets a copy of the
 * recorded result (caller: ebb_job_result_fini). Out-parameters set only on
 * success.
 */
EBB_MUSTCHECK ebb_code ebb_job_journal_lookup(const ebb_job_journal *j, const char *job_id,
                                              ebb_job_state *state, ebb_job_result *result,
                                              ebb_error *err);

/* A job received or started but not finished (what a crash leaves). All owned. */
typedef struct ebb_job_unfinished {
    char *job_id;
    char *run_id;
    char *database; /* NULL for cancel jobs */
    ebb_job_action action;
    ebb_job_state state; /* RECEIVED or STARTED */
    int64_t received_at_ms;
    int64_t started_at_ms; /* 0 when not started */
} ebb_job_unfinished;

/*
 * Every unfinished job in the order received. *out malloc'd (NULL when
 * *count is 0), set only on success; caller: ebb_job_unfinished_free.
 */
EBB_MUSTCHECK ebb_code ebb_job_journal_unfinished(const ebb_job_journal *j,
                                                  ebb_job_unfinished **out, size_t *count,
                                                  ebb_error *err);
void ebb_job_unfinished_free(ebb_job_unfinished *items, size_t count);

/* Number of jobs the journal knows (any state). */
size_t ebb_job_journal_count(const ebb_job_journal *j);

#endif
