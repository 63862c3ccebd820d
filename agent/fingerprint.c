/* Schema fingerprint, pure part: canonical description, BLAKE2b hash, diff of two descriptions. */
#include "agent/fingerprint.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growable string; every append reports out-of-memory through ok. */
typedef struct sbuf {
    char *s;
    size_t len, cap;
    int ok;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (!b->ok)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->ok = 0;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static ebb_code sb_finish(sbuf *b, char **out, ebb_error *err)
{
    if (b->ok && !b->s)
        sb_put(b, "", 0);
    if (!b->ok) {
        free(b->s);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory building text");
    }
    *out = b->s;
    return EBB_OK;
}

/* Append s with every run of blanks (space, tab, CR, LF) as one space, trimmed. */
static void sb_squeeze(sbuf *b, const char *s)
{
    int pending = 0, any = 0;
    for (; *s; s++) {
        char c = *s;
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v') {
            pending = any;
            continue;
        }
        if (pending)
            sb_put(b, " ", 1);
        pending = 0;
        any = 1;
        sb_put(b, &c, 1);
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

ebb_code ebb_fingerprint_canonicalize(const ebb_fp_row *rows, size_t n, char **out,
                                      ebb_error *err)
{
    char **lines = calloc(n ? n : 1, sizeof *lines);
    if (!lines)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory canonicalising %zu rows", n);
    ebb_code rc = EBB_OK;
    for (size_t i = 0; i < n; i++) {
        if (!rows[i].kind || !*rows[i].kind || !rows[i].object || !*rows[i].object) {
            rc = ebb_error_set(err, EBB_E_INVALID, "fingerprint row %zu has no kind or object", i);
            goto done;
        }
        sbuf b = {.ok = 1};
        sb_squeeze(&b, rows[i].kind);
        sb_put(&b, " ", 1);
        sb_squeeze(&b, rows[i].object);
        if (rows[i].detail && *rows[i].detail) {
            size_t before = b.len;
            sb_put(&b, " ", 1);
            sb_squeeze(&b, rows[i].detail);
            if (b.ok && b.len == before + 1) { /* detail was only blanks */
                b.len = before;
                b.s[b.len] = '\0';
            }
        }
        if ((rc = sb_finish(&b, &lines[i], err)) != EBB_OK)
            goto done;
    }
    if (n > 1) /* qsort needs a valid array even for 0 elements */
        qsort(lines, n, sizeof *lines, cmp_str);
    sbuf all = {.ok = 1};
    sb_put(&all, "", 0);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(lines[i], lines[i - 1]) == 0)
            continue;
        sb_str(&all, lines[i]);
        sb_put(&all, "\n", 1);
    }
    rc = sb_finish(&all, out, err);
done:
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
    return rc;
}

void ebb_fingerprint_hash(const char *description, char out[EBB_FINGERPRINT_HEX])
{
    unsigned char h[32];
    if (sodium_init() < 0) /* idempotent; generichash itself needs no init */
        abort();
    crypto_generichash(h, sizeof h, (const unsigned char *)description, strlen(description),
                       NULL, 0);
    sodium_bin2hex(out, EBB_FINGERPRINT_HEX, h, sizeof h);
}

void ebb_fingerprint_fini(ebb_fingerprint *fp)
{
    if (!fp)
        return;
    free(fp->description);
    memset(fp, 0, sizeof *fp);
}

/* ---- diff ---- */

typedef struct fp_line {
    char *key;        /* "<kind> <object>" (owned) */
    const char *line; /* borrowed from the copy of the text */
} fp_line;

/* Length of "<kind> <object>" at the start of line; quotes and parentheses protect spaces. */
static size_t key_len(const char *line)
{
    size_t i = 0;
    while (line[i] && line[i] != ' ')
        i++;
    if (!line[i])
        return i;
    i++;
    int quoted = 0, depth = 0;
    for (; line[i]; i++) {
        if (line[i] == '"')
            quoted = !quoted;
        else if (!quoted && line[i] == '(')
            depth++;
        else if (!quoted && line[i] == ')' && depth > 0)
            depth--;
        else if (line[i] == ' ' && !quoted && depth == 0)
            break;
    }
    return i;
}

static int cmp_fp_line(const void *a, const void *b)
{
    const fp_line *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : strcmp(x->line, y->line);
}

/* Split a copy of text into keyed lines (blank lines skipped), sorted. */
static ebb_code split_lines(const char *text, char **copy, fp_line **out, size_t *n_out,
                            ebb_error *err)
{
    char *c = strdup(text ? text : "");
    size_t cap = 1;
    for (const char *p = c ? c : ""; *p; p++)
        cap += *p == '\n';
    fp_line *v = calloc(cap, sizeof *v);
    if (!c || !v) {
        free(c);
        free(v);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory splitting a description");
    }
    size_t n = 0;
    char *save = NULL;
    for (char *ln = strtok_r(c, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
        size_t k = strlen(ln);
        if (k && ln[k - 1] == '\r')
            ln[--k] = '\0';
        if (!k)
            continue;
        v[n].line = ln;
        v[n].key = strndup(ln, key_len(ln));
        if (!v[n].key) {
            for (size_t i = 0; i < n; i++)
                free(v[i].key);
            free(v);
            free(c);
            return ebb_error_set(err, EBB_E_NOMEM, "out of memory splitting a description");
        }
        n++;
    }
    if (n > 1)
        qsort(v, n, sizeof *v, cmp_fp_line);
    *copy = c;
    *out = v;
    *n_out = n;
    return EBB_OK;
}

static void free_lines(char *copy, fp_line *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].key);
    free(v);
    free(copy);
}

static int push_line(char ***arr, size_t *n, const char *line)
{
    char **p = realloc(*arr, (*n + 1) * sizeof **arr);
    if (!p)
        return -1;
    *arr = p;
    if (!(p[*n] = strdup(line)))
        return -1;
    (*n)++;
    return 0;
}

static void change_fini(ebb_fp_change *c)
{
    free(c->object);
    for (size_t i = 0; i < c->n_expected; i++)
        free(c->expected[i]);
    for (size_t i = 0; i < c->n_actual; i++)
        free(c->actual[i]);
    free(c->expected);
    free(c->actual);
}

/* Compare the lines of one key: e[0..ne) and a[0..na), both sorted by line. */
static int diff_key(const fp_line *e, size_t ne, const fp_line *a, size_t na, ebb_fp_change *c)
{
    size_t i = 0, j = 0;
    while (i < ne || j < na) {
        int cmp = i == ne ? 1 : j == na ? -1 : strcmp(e[i].line, a[j].line);
        if (cmp == 0) {
            i++;
            j++;
        } else if (cmp < 0) {
            if (push_line(&c->expected, &c->n_expected, e[i++].line))
                return -1;
        } else if (push_line(&c->actual, &c->n_actual, a[j++].line)) {
            return -1;
        }
    }
    c->kind = ne == 0 ? EBB_FP_ADDED : na == 0 ? EBB_FP_REMOVED : EBB_FP_CHANGED;
    return 0;
}

ebb_code ebb_fp_diff_compute(const char *expected, const char *actual, ebb_fp_diff *out,
                             ebb_error *err)
{
    char *ce = NULL, *ca = NULL;
    fp_line *e = NULL, *a = NULL;
    size_t ne = 0, na = 0;
    ebb_code rc = split_lines(expected, &ce, &e, &ne, err);
    if (rc != EBB_OK)
        return rc;
    if ((rc = split_lines(actual, &ca, &a, &na, err)) != EBB_OK) {
        free_lines(ce, e, ne);
        return rc;
    }
    ebb_fp_diff d = {0};
    size_t i = 0, j = 0;
    while (i < ne || j < na) {
        const char *key = i == ne ? a[j].key
                          : j == na ? e[i].key
                          : strcmp(e[i].key, a[j].key) <= 0 ? e[i].key : a[j].key;
        size_t i2 = i, j2 = j;
        while (i2 < ne && strcmp(e[i2].key, key) == 0)
            i2++;
        while (j2 < na && strcmp(a[j2].key, key) == 0)
            j2++;
        ebb_fp_change c = {0};
        if (diff_key(e + i, i2 - i, a + j, j2 - j, &c) != 0 || !(c.object = strdup(key))) {
            change_fini(&c);
            goto nomem;
        }
        if (c.n_expected + c.n_actual == 0) {
            change_fini(&c);
        } else {
            ebb_fp_change *p = realloc(d.changes, (d.count + 1) * sizeof *p);
            if (!p) {
                change_fini(&c);
                goto nomem;
            }
            d.changes = p;
            d.changes[d.count++] = c;
        }
        i = i2;
        j = j2;
    }
    free_lines(ce, e, ne);
    free_lines(ca, a, na);
    *out = d;
    return EBB_OK;
nomem:
    ebb_fp_diff_fini(&d);
    free_lines(ce, e, ne);
    free_lines(ca, a, na);
    return ebb_error_set(err, EBB_E_NOMEM, "out of memory comparing fingerprints");
}

void ebb_fp_diff_fini(ebb_fp_diff *diff)
{
    if (!diff)
        return;
    for (size_t i = 0; i < diff->count; i++)
        change_fini(&diff->changes[i]);
    free(diff->changes);
    diff->changes = NULL;
    diff->count = 0;
}

static const char *change_word(ebb_fp_change_kind k)
{
    return k == EBB_FP_ADDED ? "added" : k == EBB_FP_REMOVED ? "removed" : "changed";
}

/* The detail part of a line (after "<kind> <object>"). */
static const char *line_detail(const char *line)
{
    const char *d = line + key_len(line);
    return *d == ' ' ? d + 1 : d;
}

static void sb_more(sbuf *b, size_t shown, size_t total, const char *sep)
{
    if (shown < total) {
        char tail[64];
        snprintf(tail, sizeof tail, "%s... and %zu more", sep, total - shown);
        sb_str(b, tail);
    }
}

ebb_code ebb_fp_diff_format(const ebb_fp_diff *diff, size_t max_objects, char **out,
                            ebb_error *err)
{
    sbuf b = {.ok = 1};
    sb_put(&b, "", 0);
    size_t shown = max_objects && max_objects < diff->count ? max_objects : diff->count;
    for (size_t i = 0; i < shown; i++) {
        const ebb_fp_change *c = &diff->changes[i];
        if (i)
            sb_put(&b, "\n", 1);
        sb_str(&b, change_word(c->kind));
        sb_put(&b, " ", 1);
        sb_str(&b, c->object);
        sb_put(&b, ":", 1);
        for (size_t k = 0; k < c->n_expected; k++) {
            sb_str(&b, " - ");
            sb_str(&b, line_detail(c->expected[k]));
        }
        for (size_t k = 0; k < c->n_actual; k++) {
            sb_str(&b, " + ");
            sb_str(&b, line_detail(c->actual[k]));
        }
    }
    sb_more(&b, shown, diff->count, "\n");
    return sb_finish(&b, out, err);
}

ebb_code ebb_fp_diff_objects(const ebb_fp_diff *diff, size_t max_objects, char **out,
                             ebb_error *err)
{
    sbuf b = {.ok = 1};
    sb_put(&b, "", 0);
    size_t shown = max_objects && max_objects < diff->count ? max_objects : diff->count;
    for (size_t i = 0; i < shown; i++) {
        if (i)
            sb_str(&b, ", ");
        sb_str(&b, diff->changes[i].object);
        sb_put(&b, " (", 2);
        sb_str(&b, change_word(diff->changes[i].kind));
        sb_put(&b, ")", 1);
    }
    sb_more(&b, shown, diff->count, ", ");
    return sb_finish(&b, out, err);
}
