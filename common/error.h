/* One error type for all of ebb: a code, plus errno / SQLSTATE and a message. */
#ifndef EBB_COMMON_ERROR_H
#define EBB_COMMON_ERROR_H

#include <stdarg.h>
#include <stddef.h>

#define EBB_MUSTCHECK __attribute__((warn_unused_result))
#define EBB_PRINTF(f, a) __attribute__((format(printf, f, a)))

/*
 * Every fallible function returns an ebb_code (EBB_OK is 0) and, when the
 * caller passes a non-NULL ebb_error, fills it with the same code and the
 * context. Codes are stable: tests and exit-code mapping rely on them.
 */
typedef enum ebb_code {
    EBB_OK = 0,
    EBB_E_NOMEM,
    EBB_E_IO,            /* file system or OS call failed (errno kept) */
    EBB_E_INVALID,       /* bad argument or input (names what and where) */
    EBB_E_CONFIG,        /* configuration file is wrong (file, line, key) */
    EBB_E_KEY_PERM,      /* secret key file readable by group or others */
    EBB_E_KEY_FORMAT,    /* key file is not an ebb key */
    EBB_E_CRYPTO,        /* libsodium failure */

    /* Envelope rejections: each check has its own code. */
    EBB_E_ENV_TOO_LARGE,
    EBB_E_ENV_MALFORMED,
    EBB_E_ENV_VERSION,
    EBB_E_ENV_UNKNOWN_SIGNER,
    EBB_E_ENV_REVOKED_SIGNER,
    EBB_E_ENV_RECIPIENT,
    EBB_E_ENV_SIGNATURE,
    EBB_E_ENV_EXPIRED,
    EBB_E_ENV_FUTURE,
    EBB_E_ENV_REPLAY,

    EBB_E_NET,           /* nng transport error */
    EBB_E_TIMEOUT,
    EBB_E_CHILD,         /* a child process failed or could not start */
    EBB_E_PG,            /* PostgreSQL error (SQLSTATE kept) */
    EBB_E_LOCKED,        /* another migrator / process holds the lock */
    EBB_E_NOT_FOUND,
    EBB_E_CONFLICT,      /* state does not allow the operation */
    EBB_E_CHECKSUM,      /* recorded and actual checksums differ */
    EBB_E_VERIFY,        /* verification failed */
    EBB_E_REFUSED,       /* refused by policy or safety rule */
    EBB_E_INTERNAL,
    EBB_E__COUNT
} ebb_code;

#define EBB_ERROR_MSG_MAX 1024

typedef struct ebb_error {
    ebb_code code;
    int sys_errno;         /* 0 when not an OS error */
    char sqlstate[6];      /* "" when not a PostgreSQL error */
    char msg[EBB_ERROR_MSG_MAX];
} ebb_error;

/* Stable short name of a code, e.g. "env-replay". Never NULL. */
const char *ebb_code_name(ebb_code code);

/* Reset err to EBB_OK with empty context. err may be NULL. */
void ebb_error_clear(ebb_error *err);

/* Fill err (may be NULL) and return code. */
ebb_code ebb_error_set(ebb_error *err, ebb_code code, const char *fmt, ...) EBB_PRINTF(3, 4);
ebb_code ebb_error_setv(ebb_error *err, ebb_code code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Like ebb_error_set, with errno kept and strerror(errno_value) appended. */
ebb_code ebb_error_errno(ebb_error *err, ebb_code code, int errno_value,
                         const char *fmt, ...) EBB_PRINTF(4, 5);

/* Put "prefix: " in front of an existing message (adds context on the way up). */
void ebb_error_prefix(ebb_error *err, const char *fmt, ...) EBB_PRINTF(2, 3);

#endif
