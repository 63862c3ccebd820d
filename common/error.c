/* One error type for all of ebb: codes, names and message formatting. */
#include "common/error.h"

#include <stdio.h>
#include <string.h>

static const char *const code_names[EBB_E__COUNT] = {
    [EBB_OK] = "ok",
    [EBB_E_NOMEM] = "out-of-memory",
    [EBB_E_IO] = "io",
    [EBB_E_INVALID] = "invalid",
    [EBB_E_CONFIG] = "config",
    [EBB_E_KEY_PERM] = "key-permissions",
    [EBB_E_KEY_FORMAT] = "key-format",
    [EBB_E_CRYPTO] = "crypto",
    [EBB_E_ENV_TOO_LARGE] = "env-too-large",
    [EBB_E_ENV_MALFORMED] = "env-malformed",
    [EBB_E_ENV_VERSION] = "env-version",
    [EBB_E_ENV_UNKNOWN_SIGNER] = "env-unknown-signer",
    [EBB_E_ENV_REVOKED_SIGNER] = "env-revoked-signer",
    [EBB_E_ENV_RECIPIENT] = "env-wrong-recipient",
    [EBB_E_ENV_SIGNATURE] = "env-bad-signature",
    [EBB_E_ENV_EXPIRED] = "env-expired",
    [EBB_E_ENV_FUTURE] = "env-future",
    [EBB_E_ENV_REPLAY] = "env-replay",
    [EBB_E_NET] = "network",
    [EBB_E_TIMEOUT] = "timeout",
    [EBB_E_CHILD] = "child-process",
    [EBB_E_PG] = "postgresql",
    [EBB_E_LOCKED] = "locked",
    [EBB_E_NOT_FOUND] = "not-found",
    [EBB_E_CONFLICT] = "conflict",
    [EBB_E_CHECKSUM] = "checksum",
    [EBB_E_VERIFY] = "verify",
    [EBB_E_REFUSED] = "refused",
    [EBB_E_INTERNAL] = "internal",
};

const char *ebb_code_name(ebb_code code)
{
    if ((int)code < 0 || code >= EBB_E__COUNT || code_names[code] == NULL)
        return "unknown";
    return code_names[code];
}

void ebb_error_clear(ebb_error *err)
{
    if (err == NULL)
        return;
    err->code = EBB_OK;
    err->sys_errno = 0;
    err->sqlstate[0] = '\0';
    err->msg[0] = '\0';
}

ebb_code ebb_error_setv(ebb_error *err, ebb_code code, const char *fmt, va_list ap)
{
    if (err == NULL)
        return code;
    err->code = code;
    err->sys_errno = 0;
    err->sqlstate[0] = '\0';
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    return code;
}

ebb_code ebb_error_set(ebb_error *err, ebb_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ebb_error_setv(err, code, fmt, ap);
    va_end(ap);
    return code;
}

ebb_code ebb_error_errno(ebb_error *err, ebb_code code, int errno_value, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    va_list ap;
    va_start(ap, fmt);
    ebb_error_setv(err, code, fmt, ap);
    va_end(ap);
    err->sys_errno = errno_value;
    size_t len = strlen(err->msg);
    snprintf(err->msg + len, sizeof err->msg - len, ": %s", strerror(errno_value));
    return code;
}

void ebb_error_prefix(ebb_error *err, const char *fmt, ...)
{
    if (err == NULL)
        return;
    char prefix[EBB_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[EBB_ERROR_MSG_MAX];
    memcpy(old, err->msg, sizeof old);
    snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old);
}
