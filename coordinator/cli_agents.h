/* `ebb agents`: list agents, accept one into an environment, revoke one (through the coordinator).
 */
#ifndef EBB_COORDINATOR_CLI_AGENTS_H
#define EBB_COORDINATOR_CLI_AGENTS_H

#include <stdio.h>

#define EBB_CLI_AGENTS_SUMMARY                                                                     \
    "agents [list] [--env E] [--state S] [--json]   enrolled agents\n"                             \
    "  agents accept ID --env ENV | agents revoke ID   enrollment decisions"

/* Run `ebb agents ...` with argv[0] == "agents"; returns an exit code. */
int ebb_cli_agents(int argc, char **argv, FILE *out, FILE *errout);

#endif
