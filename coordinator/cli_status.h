/* `ebb status`: the fleet per environment, host and database (through the coordinator). */
#ifndef EBB_COORDINATOR_CLI_STATUS_H
#define EBB_COORDINATOR_CLI_STATUS_H

#include <stdio.h>

#define EBB_CLI_STATUS_SUMMARY                                                                     \
    "status [--env E] [--json]   revisions, drift, liveness, last run per host"

/* Run `ebb status` with argv[0] == "status"; returns an exit code. */
int ebb_cli_status(int argc, char **argv, FILE *out, FILE *errout);

#endif
