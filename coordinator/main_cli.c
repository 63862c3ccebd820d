/* ebb: the operator command line. */
#include <stdio.h>
#include <string.h>

#include "common/exit_codes.h"
#include "coordinator/cli_audit.h"
#include "coordinator/cli_keygen.h"

static void usage(FILE *out)
{
    fprintf(out, "Usage: ebb COMMAND [OPTIONS]\n"
                 "\n"
                 "The ebb operator command line: plans, runs and audits schema rollouts\n"
                 "and rollbacks across a PostgreSQL fleet through the coordinator.\n"
                 "\n"
                 "Commands:\n"
                 "  " EBB_CLI_KEYGEN_SUMMARY "\n"
                 "  " EBB_CLI_AUDIT_SUMMARY "\n"
                 "  " EBB_CLI_AUDIT_VERIFY_SUMMARY "\n"
                 "  --help             show this help\n"
                 "  --version          print the version\n"
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
    fprintf(stderr, "ebb: unknown command '%s' (try --help)\n", argv[1]);
    return EBB_EXIT_USAGE;
}
