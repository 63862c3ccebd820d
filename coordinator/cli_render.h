/* Human tables of what the coordinator answers (agents, status, runs, a run, prechecks): pure, JSON
 * in, text out. */
#ifndef EBB_COORDINATOR_CLI_RENDER_H
#define EBB_COORDINATOR_CLI_RENDER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Every function takes the JSON objects of docs/operator-api.md (borrowed)
 * and writes text to out. Missing fields print as "-", so a coordinator
 * that sends less (or more) still renders. Times are shown relative to
 * now_ms ("12s ago") and as UTC; now_ms is passed in so output is
 * reproducible in tests.
 */

/* "3s", "4m10s", "2h05m", "3d04h". ms < 0 prints "-". Into buf (>= 16 bytes). */
const char *ebb_cli_duration(int64_t ms, char *buf, size_t size);

/* {"agents": [AGENT...]}: ID STATE ENVIRONMENT KEY ALIVE LAST-SEEN DATABASES. */
void ebb_cli_render_agents(const json_t *result, int64_t now_ms, FILE *out);

/*
 * The `status` result: per environment (promotion order, with its policy
 * in one line) a table HOST DATABASE REVISION DRIFT ALIVE LAST-SEEN
 * LAST-RUN; pending agents; runs in progress. runs (may be NULL) is a
 * `runs` result used for the last run of each environment.
 */
void ebb_cli_render_status(const json_t *result, const json_t *runs, int64_t now_ms, FILE *out);

/* {"runs": [RUN...]}: RUN KIND ENV TARGET STATE HOSTS REQUESTER CREATED. */
void ebb_cli_render_runs(const json_t *result, int64_t now_ms, FILE *out);

/* One RUN (after approve, halt, ...): a few lines. */
void ebb_cli_render_run_brief(const json_t *run, int64_t now_ms, FILE *out);

/* A RUN_DETAIL: header, per-host table, then the last log_lines log entries (0: none). */
void ebb_cli_render_run_detail(const json_t *run, int64_t now_ms, size_t log_lines, FILE *out);

/*
 * The prechecks of a `plan` result as one fleet-wide report: per host and
 * database the outcome, the risk found (worst level, rows at risk, each
 * risky statement) and errors; then totals (hosts checked, failed, with
 * data at risk, rows that would be lost, certain failures, unanswered).
 */
void ebb_cli_render_prechecks(const json_t *result, FILE *out);

/* True when a run state is final (succeeded, failed, aborted, compensated). */
bool ebb_cli_run_state_final(const char *state);

/*
 * The exit code `ebb show --follow` ends with for a run state: succeeded 0,
 * compensated 6 (failed, hosts brought back), failed / aborted / halted 1;
 * -1 for a state that is not an end of following.
 */
int ebb_cli_run_state_exit(const char *state);

#endif
