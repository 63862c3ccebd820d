/* Logging for daemons and commands: levels, text or JSON lines, secrets masked before output. */
#ifndef EBB_COMMON_LOG_H
#define EBB_COMMON_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

typedef enum ebb_log_level {
    EBB_LOG_DEBUG = 0,
    EBB_LOG_INFO,
    EBB_LOG_WARN,
    EBB_LOG_ERROR,
} ebb_log_level;

typedef enum ebb_log_format {
    EBB_LOG_TEXT = 0, /* 2026-11-22T03:40:00.123Z info agent: message key=value */
    EBB_LOG_JSON, /* {"ts":"...","level":"info","component":"agent","msg":"...","key":"value"} */
} ebb_log_format;

/*
 * Configure the process-wide logger: format, lowest level written, and the
 * fd lines go to (2 for stderr; tests pass a pipe). Call before starting
 * threads; until called, text lines of level info and up go to stderr.
 * Each line is written with one write(), so lines from threads never mix.
 */
void ebb_log_init(ebb_log_format format, ebb_log_level min_level, int fd);

/* Whether a message of this level would be written (skip expensive formatting). */
bool ebb_log_enabled(ebb_log_level level);

/* "debug" / "info" / "warn" / "error". */
const char *ebb_log_level_name(ebb_log_level level);

/* Parse a level name (also "warning"); *out set only on success. */
EBB_MUSTCHECK ebb_code ebb_log_level_parse(const char *name, ebb_log_level *out, ebb_error *err);

/* Log one message; component names the subsystem ("agent", "rollout", ...). */
void ebb_log(ebb_log_level level, const char *component, const char *fmt, ...) EBB_PRINTF(3, 4);

/*
 * Log one message with structured fields: kv is a NULL-terminated list of
 * alternating key and value strings (a NULL value is written as null in
 * JSON and as "-" in text), may be NULL.
 */
void ebb_log_kv(ebb_log_level level, const char *component, const char *const *kv, const char *fmt,
                ...) EBB_PRINTF(4, 5);

/*
 * Copy in to out (size n, always NUL-terminated when n > 0) with secrets
 * replaced by "***": the value after "password" in any spelling that ends
 * in it followed by "=" or ":" (password=..., PGPASSWORD=..., quoted values
 * 'a b' and "a b" included, unquoted values up to the next space), and the
 * password part of URIs (scheme://user:secret@host -> scheme://user:***@host).
 * Returns the length of the full masked text (like snprintf), so a result
 * >= n means out was cut.
 */
size_t ebb_mask_secrets(const char *in, char *out, size_t n);

/* The same into a malloc'd string (caller frees); NULL when out of memory. */
char *ebb_mask_secrets_dup(const char *in);

#endif
