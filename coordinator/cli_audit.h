/* `ebb audit` and `ebb audit verify` over a copy of the coordinator's journal, offline. */
#ifndef EBB_COORDINATOR_CLI_AUDIT_H
#define EBB_COORDINATOR_CLI_AUDIT_H

#include <stdio.h>

/* One-line summaries for the top-level usage. */
#define EBB_CLI_AUDIT_SUMMARY "audit --journal PATH [filters] [--json|--csv]   rollback history"
#define EBB_CLI_AUDIT_VERIFY_SUMMARY                                                               \
    "audit verify --journal PATH --pubkey FILE [--json]   detect tampering"

/*
 * Run `ebb audit ...` with argv[0] == "audit" (argv[1] == "verify" selects
 * the verifier). Results go to out, errors and warnings to errout; returns
 * an exit code (common/exit_codes.h): 5 when the journal does not verify.
 */
int ebb_cli_audit(int argc, char **argv, FILE *out, FILE *errout);

#endif
