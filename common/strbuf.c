/* Growable strings with a sticky out-of-memory flag. */
#include "common/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool reserve(ebb_strbuf *b, size_t extra)
{
    if (b->nomem)
        return false;
    if (b->len + extra + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 128;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->s, cap);
    if (p == NULL) {
        b->nomem = true;
        return false;
    }
    b->s = p;
    b->cap = cap;
    return true;
}

void ebb_strbuf_add(ebb_strbuf *b, const char *text)
{
    size_t n = strlen(text);
    if (!reserve(b, n))
        return;
    memcpy(b->s + b->len, text, n + 1);
    b->len += n;
}

void ebb_strbuf_addf(ebb_strbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->nomem = true;
        return;
    }
    if (!reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *ebb_strbuf_take(ebb_strbuf *b)
{
    char *s = NULL;
    if (!b->nomem)
        s = b->s != NULL ? b->s : strdup("");
    else
        free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
    b->nomem = false;
    return s;
}

void ebb_strbuf_fini(ebb_strbuf *b)
{
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
    b->nomem = false;
}
