/* `ebb audit` and `ebb audit verify`: through the coordinator, or offline over a copy of its
 * journal. */
#ifndef EBB_COORDINATOR_CLI_AUDIT_H
#define EBB_COORDINATOR_CLI_AUDIT_H

#include <stdio.h>

/* One-line summaries for the top-level usage. */
#define EBB_CLI_AUDIT_SUMMARY "audit [--journal PATH] [filters] [--json|--csv]   rollback history"
#define EBB_CLI_AUDIT_VERIFY_SUMMARY                                                               \
    "audit verify [--anchor SEQ:HASH] [--journal PATH --pubkey FILE]   detect tampering"

/*
 * Run `ebb audit ...` with argv[0] == "audit" (argv[1] == "verify" selects
 * the verifier). Without --journal the coordinator is asked (operator API
 * commands audit / audit.verify); with it the file is read offline. Results go to out, errors and
 * warnings to errout; returns an exit code (common/exit_codes.h): 5 when the journal does not
 * verify.
 */
int ebb_cli_audit(int argc, char **argv, FILE *out, FILE *errout);

#endif
