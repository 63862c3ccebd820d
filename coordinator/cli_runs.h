/* `ebb runs`, `ebb show RUN [--follow]`, `ebb approve|halt|resume|abort RUN`: runs through the
 * coordinator. */
#ifndef EBB_COORDINATOR_CLI_RUNS_H
#define EBB_COORDINATOR_CLI_RUNS_H

#include <stdbool.h>
#include <stdio.h>

#include "coordinator/cli_client.h"

#define EBB_CLI_RUNS_SUMMARY "runs [--env E] [--active] [--limit N] [--json]   recent runs"
#define EBB_CLI_SHOW_SUMMARY "show RUN [--follow] [--json]   per-host progress of a run"
#define EBB_CLI_RUNCTL_SUMMARY                                                                     \
    "approve RUN | halt RUN | resume RUN | abort RUN --reason R   act on a run"

/* `ebb runs`, `ebb show`; argv[0] is the command name. */
int ebb_cli_runs(int argc, char **argv, FILE *out, FILE *errout);
int ebb_cli_show(int argc, char **argv, FILE *out, FILE *errout);

/* `ebb approve|halt|resume|abort RUN [--reason R] [--json]`; argv[0] names the action. */
int ebb_cli_runctl(int argc, char **argv, FILE *out, FILE *errout);

/*
 * Follow run_id until it ends: long-poll `show` with after=<version>,
 * redraw on every change (the screen when out is a terminal, else a new
 * block; with json one compact RUN_DETAIL object per line), and end with
 * the run's outcome as exit code (ebb_cli_run_state_exit): succeeded 0,
 * compensated 6, failed / aborted 1, halted 1 (it waits for resume or
 * abort). A coordinator that stops answering (restart) is retried until
 * the call timeout passes without an answer: then 7.
 */
int ebb_cli_follow_run(const char *cmd, const ebb_cli_conn_args *conn, const char *run_id,
                       bool json, FILE *out, FILE *errout);

#endif
