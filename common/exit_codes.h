/* Exit codes of every ebb program, in one place (documented in docs/cli.md). */
#ifndef EBB_COMMON_EXIT_CODES_H
#define EBB_COMMON_EXIT_CODES_H

#include "common/error.h"

enum ebb_exit {
    EBB_EXIT_OK = 0,          /* success */
    EBB_EXIT_FAILURE = 1,     /* the operation failed (details on stderr / in JSON) */
    EBB_EXIT_USAGE = 2,       /* bad command line */
    EBB_EXIT_CONFIG = 3,      /* bad configuration or key file */
    EBB_EXIT_REFUSED = 4,     /* refused before anything changed (lock, checksum, policy, risk) */
    EBB_EXIT_VERIFY = 5,      /* changes applied but verification failed */
    EBB_EXIT_RESTORED = 6,    /* failed after changes; restored from backup */
    EBB_EXIT_UNAVAILABLE = 7, /* a peer, database or service could not be reached */
};

/* The exit code a command should use for an error code. */
int ebb_exit_for_code(ebb_code code);

#endif
