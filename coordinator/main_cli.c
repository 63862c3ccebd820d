/* ebb: the operator command line. */
#include <stdio.h>
#include <string.h>

#include "common/exit_codes.h"
#include "coordinator/cli_agents.h"
#include "coordinator/cli_audit.h"
#include "coordinator/cli_keygen.h"
#include "coordinator/cli_plan.h"
#include "coordinator/cli_runs.h"
#include "coordinator/cli_status.h"

static void usage(FILE *out)
{
    fprintf(out, "Usage: ebb COMMAND [OPTIONS]\n"
                 "\n"
                 "The ebb operator command line: plans, runs and audits schema rollouts\n"
                 "and rollbacks across a PostgreSQL fleet through the coordinator.\n"
                 "\n"
                 "Commands:\n"
                 "  " EBB_CLI_KEYGEN_SUMMARY "\n"
                 "  " EBB_CLI_AGENTS_SUMMARY "\n"
                 "  " EBB_CLI_STATUS_SUMMARY "\n"
                 "  " EBB_CLI_PLAN_SUMMARY "\n"
                 "  " EBB_CLI_ROLLOUT_SUMMARY "\n"
                 "  " EBB_CLI_ROLLBACK_SUMMARY "\n"
                 "  " EBB_CLI_RUNCTL_SUMMARY "\n"
                 "  " EBB_CLI_RUNS_SUMMARY "\n"
                 "  " EBB_CLI_SHOW_SUMMARY "\n"
                 "  " EBB_CLI_AUDIT_SUMMARY "\n"
                 "  " EBB_CLI_AUDIT_VERIFY_SUMMARY "\n"
                 "  --help             show this help (ebb COMMAND --help: the command's)\n"
                 "  --version          print the version\n"
                 "\n"
                 "Network commands sign every request with the operator key (--key, EBB_KEY)\n"
                 "and talk to the coordinator at --coordinator URL (EBB_COORDINATOR), whose\n"
                 "public key is pinned (--coordinator-key, EBB_COORDINATOR_KEY). docs/cli.md\n"
                 "has every command, its JSON and examples.\n"
                 "\n"
                 "Exit codes: 0 ok, 1 failed, 2 usage, 3 configuration, 4 refused,\n"
                 "5 verification failed, 6 restored from backup, 7 unavailable.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EBB_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return EBB_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("ebb %s\n", EBB_VERSION);
        return EBB_EXIT_OK;
    }
    if (strcmp(argv[1], "keygen") == 0)
        return ebb_cli_keygen(argc - 1, argv + 1, stdout, stderr);
    if (strcmp(argv[1], "audit") == 0)
        return ebb_cli_audit(argc - 1, argv + 1, stdout, stderr);
    if (strcmp(argv[1], "agents") == 0)
        return ebb_cli_agents(argc - 1, argv + 1, stdout, stderr);
    if (strcmp(argv[1], "status") == 0)
        return ebb_cli_status(argc - 1, argv + 1, stdout, stderr);
    if (strcmp(argv[1], "plan") == 0)
        return ebb_cli_plan(argc - 1, argv + 1, stdout, stderr);
    if (strcmp(argv[1], "rollout") == 0)
        return ebb_cli_rollout(argc - 1, argv + 1, stdout, stderr);
    if (strcmp(argv[1], "rollback") == 0)
        return ebb_cli_rollback(argc - 1, argv + 1, stdout, stderr);
    if (strcmp(argv[1], "runs") == 0)
        return ebb_cli_runs(argc - 1, argv + 1, stdout, stderr);
    if (strcmp(argv[1], "show") == 0)
        return ebb_cli_show(argc - 1, argv + 1, stdout, stderr);
    if (strcmp(argv[1], "approve") == 0 || strcmp(argv[1], "halt") == 0 ||
        strcmp(argv[1], "resume") == 0 || strcmp(argv[1], "abort") == 0)
        return ebb_cli_runctl(argc - 1, argv + 1, stdout, stderr);
    fprintf(stderr, "ebb: unknown command '%s' (try --help)\n", argv[1]);
    return EBB_EXIT_USAGE;
}
