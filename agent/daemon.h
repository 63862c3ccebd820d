/* The agent daemon: dials the coordinator, enrolls, long-polls for signed jobs, runs them, delivers
 * results. */
#ifndef EBB_AGENT_DAEMON_H
#define EBB_AGENT_DAEMON_H

#include <signal.h>
#include <stdint.h>

#include "agent/agent_config.h"
#include "agent/job.h"
#include "agent/migration.h"
#include "common/error.h"
#include "ebb.pb-c.h"

/*
 * Protocol, delivery guarantees and failure behaviour: docs/agent.md.
 *
 * Everything the daemon sends goes out one request at a time from one
 * thread (the session), so the sequence numbers of its envelopes reach the
 * coordinator in order; jobs run on worker threads (one per configured
 * database, one for cancel and unknown databases) and hand results and
 * progress to the session through an in-memory outbox. Results not yet
 * acknowledged are also listed, by job id, in "<job_journal>.undelivered",
 * so they are sent again from the job journal after a restart.
 */

typedef struct ebb_daemon_opts {
    const char *status_path; /* JSON status file rewritten as counters change; NULL: none */
    /*
     * Set by the caller's signal handler (handlers only set flags): 1 =
     * drain (no new polls; running jobs finish and their results are sent
     * if the coordinator answers), 2 or more = leave now (running jobs are
     * reported interrupted at the next start). Read, never written, here.
     */
    volatile sig_atomic_t *stop;
} ebb_daemon_opts;

/*
 * Run until *opts->stop is set. cfg and opts are borrowed. Errors are only
 * start-up failures (key, replay store, journal, executor, dial): once it
 * runs, a coordinator that is away or answers wrongly is logged, counted
 * and retried with backoff, never fatal.
 */
EBB_MUSTCHECK ebb_code ebb_daemon_run(const ebb_agent_config *cfg, const ebb_daemon_opts *opts,
                                      ebb_error *err);

/*
 * `ebb-agent run --config FILE [--status-file FILE]`: load and check the
 * configuration, set up logging and signal flags, run the daemon. Returns
 * the exit code.
 */
int ebb_agent_run_main(int argc, char **argv);

/*
 * The next reconnect delay after prev_ms (0 = first failure): doubled,
 * clamped to [min_ms, max_ms], then moved down by up to a quarter using
 * rnd (a random value) so that agents that lost the coordinator together do
 * not come back together. Pure.
 */
int ebb_daemon_backoff_next(int prev_ms, int min_ms, int max_ms, uint32_t rnd);

/* ---- wire-boundary conversion (agent/daemon_proto.c) ---- */

/*
 * Check a command from the wire and view it as an ebb_job_cmd: job id and
 * run id present (1..EBB_JOB_ID_MAX-1 printable characters), the action
 * known. *out borrows jc's strings (valid while jc lives); set only on
 * success. EBB_E_INVALID names the problem. The executor checks the rest
 * against the configuration (database, allowed action, target shape).
 */
EBB_MUSTCHECK ebb_code ebb_daemon_cmd_from_proto(const Ebb__JobCommand *jc, ebb_job_cmd *out,
                                                 ebb_error *err);

/* The proto action for an ebb_job_action and back (ACTION_NONE / EBB_JOB_NONE when unknown). */
Ebb__JobAction ebb_daemon_action_to_proto(ebb_job_action a);
ebb_job_action ebb_daemon_action_from_proto(Ebb__JobAction a);

/*
 * View res as a JobResult for packing. out borrows every string and array
 * of res (and agent_id); nothing to free. Valid while res lives.
 */
void ebb_daemon_result_to_proto(const ebb_job_result *res, const char *agent_id,
                                Ebb__JobResult *out);

/*
 * The same for a database description; out borrows info's strings.
 * out->revisions stays empty (see ebb_daemon_graph_view_init).
 */
void ebb_daemon_db_info_to_proto(const ebb_job_db_info *info, Ebb__DatabaseInfo *out);

/*
 * A migration graph as RevisionInfo messages (id, parent ids, up-script
 * checksum, no-transaction flag, applied = one of current or an ancestor of
 * one), so the coordinator can plan paths. The strings are borrowed from
 * graph and current (keep them alive); the arrays are owned by the view.
 */
typedef struct ebb_daemon_graph_view {
    Ebb__RevisionInfo *infos;
    Ebb__RevisionInfo **ptrs; /* for DatabaseInfo.revisions */
    char **parents;           /* all parent ids, sliced per revision */
    size_t count;
} ebb_daemon_graph_view;

EBB_MUSTCHECK ebb_code ebb_daemon_graph_view_init(ebb_daemon_graph_view *view,
                                                  const ebb_graph *graph, char *const *current,
                                                  size_t n_current, ebb_error *err);
void ebb_daemon_graph_view_fini(ebb_daemon_graph_view *view);

/* Progress as a JobProgress; out borrows p's strings. */
void ebb_daemon_progress_to_proto(const ebb_job_progress *p, const char *agent_id,
                                  const char *run_id, int64_t at_ms, Ebb__JobProgress *out);

/*
 * An owned copy of a command (for the queue between the session and the
 * workers). *out set only on success; caller: ebb_daemon_cmd_free.
 */
EBB_MUSTCHECK ebb_code ebb_daemon_cmd_dup(const ebb_job_cmd *cmd, ebb_job_cmd **out,
                                          ebb_error *err);
void ebb_daemon_cmd_free(ebb_job_cmd *cmd);

#endif
