/* A growable string for building text piece by piece (SQL with quoted identifiers, reports). */
#ifndef EBB_COMMON_STRBUF_H
#define EBB_COMMON_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

/*
 * Zero-initialise, append, then take s (owned by the buffer until
 * ebb_strbuf_fini or ebb_strbuf_take). An allocation failure is sticky:
 * later appends do nothing and nomem stays true, so a caller checks once.
 */
typedef struct ebb_strbuf {
    char *s; /* NUL-terminated, or NULL while empty */
    size_t len, cap;
    bool nomem;
} ebb_strbuf;

void ebb_strbuf_add(ebb_strbuf *b, const char *text);
void ebb_strbuf_addf(ebb_strbuf *b, const char *fmt, ...) EBB_PRINTF(2, 3);

/* The text ("" when empty); NULL after an allocation failure. Caller frees. Resets b. */
char *ebb_strbuf_take(ebb_strbuf *b);

void ebb_strbuf_fini(ebb_strbuf *b);

#endif
