/* ebb-agent: the host agent daemon and the single-host database commands. */
#include <stdio.h>
#include <string.h>

#include "agent/agent_config.h"
#include "agent/cli_db.h"
#include "common/exit_codes.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: ebb-agent COMMAND [OPTIONS]\n"
            "\n"
            "The ebb host agent: executes signed jobs from the coordinator on this\n"
            "host's PostgreSQL databases, or acts on one database directly.\n"
            "\n"
            "Commands:\n"
            "  db COMMAND         act on one database directly (ebb-agent db --help)\n"
            "  check-config --config FILE   check the agent configuration and exit\n"
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
        printf("ebb-agent %s\n", EBB_VERSION);
        return EBB_EXIT_OK;
    }
    if (strcmp(argv[1], "db") == 0)
        return ebb_cli_db_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "check-config") == 0)
        return ebb_agent_check_config_main(argc - 1, argv + 1);
    fprintf(stderr, "ebb-agent: unknown command '%s' (try --help)\n", argv[1]);
    return EBB_EXIT_USAGE;
}
