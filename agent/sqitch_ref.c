/*
 * Sqitch references on a loaded graph: targets (ChangeList::index_of) and the
 * requires/conflicts rules of Engine::check_deploy_dependencies and
 * check_revert_dependencies, applied step by step to an ebb path. Pure code.
 */
#include "agent/source_sqitch.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHAIN_MAX 16

/* Like [:punct:] without '_' (ChangeList.pm $punct). */
static bool is_punct(char c)
{
    return c != '\0' && strchr("-!\"#$%&'()*+,./:;<=>?@[\\]^`{|}~", c) != NULL;
}

/* Index of the change tag follows; "HEAD" is the last change, "ROOT" the first. */
static long tag_index(const ebb_graph *g, const char *tag, size_t tlen)
{
    if (g->count == 0)
        return -1;
    if (tlen == 4 && strncmp(tag, "HEAD", 4) == 0)
        return (long)g->count - 1;
    if (tlen == 4 && strncmp(tag, "ROOT", 4) == 0)
        return 0;
    for (size_t i = 0; i < g->count; i++)
        for (size_t t = 0; t < g->revs[i].n_tags; t++)
            if (strlen(g->revs[i].tags[t]) == tlen && strncmp(g->revs[i].tags[t], tag, tlen) == 0)
                return (long)i;
    return -1;
}

static bool name_is(const ebb_revision *r, const char *name, size_t len)
{
    return r->name && strlen(r->name) == len && strncmp(r->name, name, len) == 0;
}

/* How Sqitch would call revs[i] unambiguously: name@first-own-tag, else the next tag, else @HEAD. */
static void tag_qualified(const ebb_graph *g, size_t i, char *buf, size_t n)
{
    for (size_t k = i; k < g->count; k++) {
        if (k > i && name_is(&g->revs[k], g->revs[i].name, strlen(g->revs[i].name)))
            break;
        if (g->revs[k].n_tags) {
            snprintf(buf, n, "%s@%s", g->revs[i].name, g->revs[k].tags[0]);
            return;
        }
    }
    snprintf(buf, n, "%s@HEAD", g->revs[i].name);
}

/* ChangeList::_index_of on key[0..len); -1 when unknown. Ambiguity is an error. */
static ebb_code index_of(const ebb_graph *g, const char *key, size_t len, long *out, ebb_error *err)
{
    const char *at = memchr(key, '@', len);
    *out = -1;
    if (at == key) {
        *out = tag_index(g, key + 1, len - 1);
        return EBB_OK;
    }
    size_t clen = at ? (size_t)(at - key) : len;
    if (at) {
        long t = tag_index(g, at + 1, len - clen - 1);
        if (t < 0)
            return ebb_error_set(err, EBB_E_NOT_FOUND, "unknown tag \"@%.*s\" in \"%.*s\"",
                                 (int)(len - clen - 1), at + 1, (int)len, key);
        for (long i = t; i >= 0; i--)
            if (name_is(&g->revs[i], key, clen)) {
                *out = i;
                return EBB_OK;
            }
        return EBB_OK;
    }
    if ((clen == 4 && strncmp(key, "HEAD", 4) == 0) || (clen == 4 && strncmp(key, "ROOT", 4) == 0)) {
        *out = tag_index(g, key, clen);
        return EBB_OK;
    }
    size_t n = 0;
    long first = -1;
    for (size_t i = 0; i < g->count; i++)
        if (name_is(&g->revs[i], key, clen)) {
            if (first < 0)
                first = (long)i;
            n++;
        }
    if (n > 1) {
        char msg[EBB_ERROR_MSG_MAX];
        size_t used = (size_t)snprintf(msg, sizeof msg,
                                       "change \"%.*s\" is ambiguous; use a tag-qualified name:",
                                       (int)clen, key);
        for (size_t i = g->count; i-- > 0 && used < sizeof msg;) {
            if (!name_is(&g->revs[i], key, clen))
                continue;
            char q[512];
            tag_qualified(g, i, q, sizeof q);
            used += (size_t)snprintf(msg + used, sizeof msg - used, " %s (id %s)", q,
                                     g->revs[i].id);
        }
        return ebb_error_set(err, EBB_E_INVALID, "%s", msg);
    }
    if (n == 1) {
        *out = first;
        return EBB_OK;
    }
    /* ebb's own ids of reworked changes ("name#2"). */
    for (size_t i = 0; i < g->count; i++)
        if (g->revs[i].id && strlen(g->revs[i].id) == len && strncmp(g->revs[i].id, key, len) == 0)
            *out = (long)i;
    return EBB_OK;
}

/* ChangeList::_offset: a trailing ~, ~~, ~N (later) or ^, ^^, ^N (earlier). Returns the key length left. */
static size_t strip_offset(const char *text, long *offset)
{
    size_t len = strlen(text);
    *offset = 0;
    size_t d = len;
    while (d > 0 && isdigit((unsigned char)text[d - 1]))
        d--;
    size_t op; /* position of the ~ or ^ */
    long n;
    if (d < len && d > 0 && (text[d - 1] == '~' || text[d - 1] == '^')) {
        op = d - 1;
        errno = 0;
        n = strtol(text + d, NULL, 10);
        if (errno)
            return len;
    } else if (len >= 2 && (text[len - 1] == '~' || text[len - 1] == '^') &&
               text[len - 2] == text[len - 1] && (len == 2 || !is_punct(text[len - 3]))) {
        op = len - 2;
        n = 2;
    } else if (len >= 1 && (text[len - 1] == '~' || text[len - 1] == '^')) {
        op = len - 1;
        n = 1;
    } else {
        return len;
    }
    if (op > 0 && is_punct(text[op - 1]))
        return len;
    *offset = text[op] == '^' ? -n : n;
    return op;
}

static bool parse_steps(const char *text, long *steps)
{
    if ((text[0] != '+' && text[0] != '-') || !isdigit((unsigned char)text[1]))
        return false;
    for (const char *p = text + 1; *p; p++)
        if (!isdigit((unsigned char)*p))
            return false;
    errno = 0;
    long n = strtol(text + 1, NULL, 10);
    if (errno || n == 0)
        return false;
    *steps = text[0] == '-' ? -n : n;
    return true;
}

ebb_code ebb_sqitch_resolve_target(const ebb_graph *graph, const char *text,
                                   ebb_sqitch_target *out, ebb_error *err)
{
    if (!text || !text[0])
        return ebb_error_set(err, EBB_E_INVALID, "empty target");
    ebb_sqitch_target t = {0};
    if (text[0] == '+' || text[0] == '-') {
        if (!parse_steps(text, &t.steps))
            return ebb_error_set(err, EBB_E_INVALID,
                                 "target \"%s\": expected +N or -N with N a positive number", text);
        t.kind = EBB_TARGET_RELATIVE;
        *out = t;
        return EBB_OK;
    }
    if (strcmp(text, "head") == 0 || strcmp(text, "base") == 0) {
        for (size_t i = 0; i < graph->count; i++)
            if (graph->revs[i].name && strcmp(graph->revs[i].name, text) == 0)
                return ebb_error_set(err, EBB_E_INVALID,
                                     "target \"%s\" is ambiguous: a change is named %s; say "
                                     "\"%s@HEAD\" for the change, or \"%s\" for %s",
                                     text, text, text, text[0] == 'h' ? "@HEAD" : "-N",
                                     text[0] == 'h' ? "the last change" : "N steps down");
        t.kind = text[0] == 'h' ? EBB_TARGET_HEAD : EBB_TARGET_BASE;
        *out = t;
        return EBB_OK;
    }
    long offset;
    size_t klen = strip_offset(text, &offset);
    long idx;
    ebb_code rc = index_of(graph, text, klen, &idx, err);
    if (rc != EBB_OK)
        return rc;
    if (idx < 0)
        return ebb_error_set(err, EBB_E_NOT_FOUND, "unknown change \"%.*s\" in Sqitch project %s",
                             (int)klen, text, graph->project ? graph->project : "?");
    long to = idx + offset;
    if (to < 0 || to >= (long)graph->count)
        return ebb_error_set(err, EBB_E_NOT_FOUND,
                             "target \"%s\" is %ld change%s %s the plan", text,
                             to < 0 ? -to : to - (long)graph->count + 1,
                             (to < 0 ? -to : to - (long)graph->count + 1) == 1 ? "" : "s",
                             to < 0 ? "before the start of" : "past the end of");
    t.kind = EBB_TARGET_REVISION;
    t.index = (size_t)to;
    *out = t;
    return EBB_OK;
}

/* ---- dependency checks ---- */

typedef enum dep_kind {
    DEP_NAME,     /* any change of this name */
    DEP_ONE,      /* one change */
    DEP_NONE,     /* a change this plan does not have (a conflict on an unknown name) */
    DEP_EXTERNAL, /* another project, or a Sqitch change id */
} dep_kind;

typedef struct dep_ref {
    dep_kind kind;
    const char *name;
    size_t len;
    size_t index;
} dep_ref;

static bool is_sha1(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return false;
    return n == 40;
}

static dep_ref dep_resolve(const ebb_graph *g, const char *text)
{
    dep_ref d = {.kind = DEP_NONE, .name = text, .len = strlen(text)};
    if (strchr(text, ':') || is_sha1(text)) {
        d.kind = DEP_EXTERNAL;
        return d;
    }
    if (!strchr(text, '@')) {
        for (size_t i = 0; i < g->count; i++)
            if (name_is(&g->revs[i], text, d.len))
                d.kind = DEP_NAME;
        return d;
    }
    long idx = -1;
    if (index_of(g, text, d.len, &idx, NULL) == EBB_OK && idx >= 0) {
        d.kind = DEP_ONE;
        d.index = (size_t)idx;
    }
    return d;
}

static bool covers(const ebb_graph *g, const dep_ref *d, size_t i)
{
    if (d->kind == DEP_ONE)
        return d->index == i;
    return d->kind == DEP_NAME && name_is(&g->revs[i], d->name, d->len);
}

static bool met(const ebb_graph *g, const dep_ref *d, const bool *applied)
{
    for (size_t i = 0; i < g->count; i++)
        if (applied[i] && covers(g, d, i))
            return true;
    return false;
}

/* The change a requirement points at: Sqitch's plan->find (first of a name). */
static long dep_target(const ebb_graph *g, const dep_ref *d)
{
    if (d->kind == DEP_ONE)
        return (long)d->index;
    if (d->kind == DEP_NAME)
        for (size_t i = 0; i < g->count; i++)
            if (name_is(&g->revs[i], d->name, d->len))
                return (long)i;
    return -1;
}

static void chain_add(char *buf, size_t n, const char *sep, const char *id)
{
    size_t used = strlen(buf);
    if (used < n)
        snprintf(buf + used, n - used, "%s%s", used ? sep : "", id);
}

/* "a -> b -> c": from change i down its first unmet requirement, as far as it goes. */
static void chain_down(const ebb_graph *g, const bool *applied, size_t i, char *buf, size_t n)
{
    buf[0] = '\0';
    chain_add(buf, n, " -> ", g->revs[i].id);
    for (int hop = 0; hop < CHAIN_MAX; hop++) {
        long next = -1;
        const ebb_revision *r = &g->revs[i];
        for (size_t k = 0; k < r->n_requires && next < 0; k++) {
            dep_ref d = dep_resolve(g, r->requires[k]);
            if ((d.kind == DEP_ONE || d.kind == DEP_NAME) && !met(g, &d, applied))
                next = dep_target(g, &d);
        }
        if (next < 0 || (size_t)next == i)
            return;
        i = (size_t)next;
        chain_add(buf, n, " -> ", g->revs[i].id);
    }
}

/* Index of an applied change that requires change i (met only through i), or -1. */
static long dependent_of(const ebb_graph *g, const bool *applied, size_t i)
{
    for (size_t j = 0; j < g->count; j++) {
        if (!applied[j] || j == i)
            continue;
        for (size_t k = 0; k < g->revs[j].n_requires; k++) {
            dep_ref d = dep_resolve(g, g->revs[j].requires[k]);
            if (covers(g, &d, i) && !met(g, &d, applied))
                return (long)j;
        }
    }
    return -1;
}

static ebb_code check_deploy(const ebb_graph *g, const bool *applied, size_t i, ebb_error *err)
{
    const ebb_revision *r = &g->revs[i];
    char chain[600];
    for (size_t k = 0; k < r->n_requires; k++) {
        dep_ref d = dep_resolve(g, r->requires[k]);
        if (d.kind == DEP_EXTERNAL)
            return ebb_error_set(err, EBB_E_REFUSED,
                                 "cannot deploy %s: it requires %s, %s; ebb cannot see whether it "
                                 "is deployed (ebb keeps one registry per project)",
                                 r->id, r->requires[k],
                                 strchr(r->requires[k], ':') ? "a change of another Sqitch project"
                                                             : "a Sqitch change id");
        if (d.kind == DEP_NONE)
            return ebb_error_set(err, EBB_E_REFUSED,
                                 "cannot deploy %s: it requires %s, which is not in the plan",
                                 r->id, r->requires[k]);
        if (!met(g, &d, applied)) {
            chain_down(g, applied, i, chain, sizeof chain);
            return ebb_error_set(err, EBB_E_REFUSED,
                                 "cannot deploy %s: it requires %s, which is not deployed "
                                 "(chain: %s)",
                                 r->id, r->requires[k], chain);
        }
    }
    for (size_t k = 0; k < r->n_conflicts; k++) {
        dep_ref d = dep_resolve(g, r->conflicts[k]);
        if (d.kind == DEP_EXTERNAL)
            return ebb_error_set(err, EBB_E_REFUSED,
                                 "cannot deploy %s: it conflicts with %s, %s; ebb cannot see "
                                 "whether it is deployed (ebb keeps one registry per project)",
                                 r->id, r->conflicts[k],
                                 strchr(r->conflicts[k], ':') ? "a change of another Sqitch project"
                                                              : "a Sqitch change id");
        for (size_t j = 0; j < g->count; j++)
            if (applied[j] && covers(g, &d, j))
                return ebb_error_set(err, EBB_E_REFUSED,
                                     "cannot deploy %s: it conflicts with %s, which is deployed "
                                     "(chain: %s -> !%s); revert %s first",
                                     r->id, r->conflicts[k], r->id, g->revs[j].id, g->revs[j].id);
    }
    return EBB_OK;
}

/* Index of an applied change that requires change j (met or not), or -1. */
static long requirer_of(const ebb_graph *g, const bool *applied, size_t j)
{
    for (size_t k = 0; k < g->count; k++) {
        if (!applied[k] || k == j)
            continue;
        for (size_t r = 0; r < g->revs[k].n_requires; r++) {
            dep_ref d = dep_resolve(g, g->revs[k].requires[r]);
            if (covers(g, &d, j))
                return (long)k;
        }
    }
    return -1;
}

/* applied already has i cleared. */
static ebb_code check_revert(const ebb_graph *g, const bool *applied, size_t i, ebb_error *err)
{
    long j = dependent_of(g, applied, i);
    if (j < 0)
        return EBB_OK;
    /* Who keeps j in place: the longest chain of deployed dependents above it. */
    char chain[600] = "";
    size_t ids[CHAIN_MAX + 2];
    size_t n = 0;
    ids[n++] = i;
    ids[n++] = (size_t)j;
    while (n < CHAIN_MAX + 2) {
        long up = requirer_of(g, applied, ids[n - 1]);
        if (up < 0)
            break;
        bool loop = false;
        for (size_t k = 0; k < n; k++)
            loop = loop || ids[k] == (size_t)up;
        if (loop)
            break;
        ids[n++] = (size_t)up;
    }
    for (size_t k = n; k-- > 0;)
        chain_add(chain, sizeof chain, " -> ", g->revs[ids[k]].id);
    return ebb_error_set(err, EBB_E_REFUSED,
                         "cannot revert %s: deployed change %s requires it and this path does "
                         "not revert %s (chain: %s)",
                         g->revs[i].id, g->revs[j].id, g->revs[j].id, chain);
}

ebb_code ebb_sqitch_check_path(const ebb_graph *graph, const ebb_state *state,
                               const ebb_path *path, ebb_error *err)
{
    if (graph->kind != EBB_SOURCE_SQITCH || path->direction == EBB_DIR_NONE || path->count == 0)
        return EBB_OK;
    if (state->count != graph->count)
        return ebb_error_set(err, EBB_E_INVALID, "state has %zu revisions, the graph %zu",
                             state->count, graph->count);
    bool *applied = malloc(graph->count ? graph->count * sizeof *applied : 1);
    if (!applied)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory checking Sqitch dependencies");
    if (graph->count)
        memcpy(applied, state->applied, graph->count * sizeof *applied);
    ebb_code rc = EBB_OK;
    for (size_t s = 0; s < path->count && rc == EBB_OK; s++) {
        size_t i = path->steps[s];
        if (i >= graph->count) {
            rc = ebb_error_set(err, EBB_E_INVALID, "path step %zu is revision %zu of %zu", s, i,
                               graph->count);
        } else if (path->direction == EBB_DIR_UP) {
            rc = check_deploy(graph, applied, i, err);
            applied[i] = true;
        } else {
            applied[i] = false;
            rc = check_revert(graph, applied, i, err);
        }
    }
    free(applied);
    return rc;
}
