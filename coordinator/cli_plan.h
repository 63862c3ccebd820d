/* `ebb plan`, `ebb rollout`, `ebb rollback`: argument parsing (pure) and the requests that plan or
 * start runs. */
#ifndef EBB_COORDINATOR_CLI_PLAN_H
#define EBB_COORDINATOR_CLI_PLAN_H

#include <stdbool.h>
#include <stdio.h>

#include "coordinator/cli_client.h"

#define EBB_CLI_PLAN_SUMMARY                                                                       \
    "plan --env E --to T [--rollback] [--hosts ..]   plan + prechecks, fleet-wide risk report"
#define EBB_CLI_ROLLOUT_SUMMARY                                                                    \
    "rollout --env E --to T --reason R [--atomic] [--on-failure halt|compensate] [--dry-run]"
#define EBB_CLI_ROLLBACK_SUMMARY                                                                   \
    "rollback --env E (--to T | --steps N) --reason R [--hosts ..] [--accept-data-loss]"

typedef enum ebb_cli_run_cmd {
    EBB_CLI_CMD_PLAN = 0,
    EBB_CLI_CMD_ROLLOUT,
    EBB_CLI_CMD_ROLLBACK,
} ebb_cli_run_cmd;

/* What the command line asked for. Strings borrowed from argv. */
typedef struct ebb_cli_run_opts {
    ebb_cli_run_cmd cmd;
    bool rollback; /* plan: of a rollback (--rollback, or implied by --steps) */
    const char *env;
    const char *to;
    long steps; /* > 0 with --steps */
    const char *reason;
    const char *hosts;      /* comma-separated, as given */
    const char *databases;  /* comma-separated, as given */
    const char *on_failure; /* "halt" | "compensate" | NULL (the environment's policy) */
    long wait_s;            /* plan: longest wait for the prechecks; 0 = coordinator default */
    bool atomic, dry_run, allow_drift, skip_dead, skip_backup, accept_data_loss;
    bool no_precheck; /* plan */
    bool follow;      /* rollout/rollback: follow the run until it ends (as ebb show --follow) */
    bool json;
    ebb_cli_conn_args conn;
} ebb_cli_run_opts;

/*
 * Parse argv (argv[0] is the command name) into *o and check it: --env
 * required; rollout needs --to (no --steps); rollback needs exactly one of
 * --to / --steps N (N >= 1) and a --reason that is not blank; plan takes
 * one of --to / --steps; --on-failure is halt or compensate; --dry-run and
 * --follow exclude each other. Problems and --help go to errout / out.
 * Returns -1 to go on, else the exit code to end with (0 after --help,
 * 2 for a usage error).
 */
int ebb_cli_run_opts_parse(ebb_cli_run_cmd cmd, int argc, char **argv, ebb_cli_run_opts *o,
                           FILE *out, FILE *errout);

/* The OperatorRequest arguments for o (docs/operator-api.md) into args. */
void ebb_cli_run_opts_request(const ebb_cli_run_opts *o, ebb_cli_args *args);

/* The operator API command for o ("plan", "rollout", "rollback"). */
const char *ebb_cli_run_opts_command(const ebb_cli_run_opts *o);

/* `ebb plan|rollout|rollback ...`; return exit codes. */
int ebb_cli_plan(int argc, char **argv, FILE *out, FILE *errout);
int ebb_cli_rollout(int argc, char **argv, FILE *out, FILE *errout);
int ebb_cli_rollback(int argc, char **argv, FILE *out, FILE *errout);

#endif
