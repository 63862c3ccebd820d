/* `ebb keygen`: create an Ed25519 key pair file for a coordinator, agent or operator. */
#ifndef EBB_COORDINATOR_CLI_KEYGEN_H
#define EBB_COORDINATOR_CLI_KEYGEN_H

#include <stdio.h>

/* One-line summary for the top-level usage. */
#define EBB_CLI_KEYGEN_SUMMARY "keygen --out PATH [--force] [--json]   create a key pair"

/*
 * Run `ebb keygen` with argv[0] == "keygen". Writes results to out and
 * errors to errout; returns an exit code (common/exit_codes.h).
 */
int ebb_cli_keygen(int argc, char **argv, FILE *out, FILE *errout);

#endif
