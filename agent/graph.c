/* Revision-graph queries: lookup, heads, targets and the path between two states. Pure code. */
#include "agent/graph.h"

#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An id with its index, sortable without context (qsort has none). */
typedef struct id_index {
    const char *id;
    size_t index;
} id_index;

static int id_index_cmp(const void *a, const void *b)
{
    return strcmp(((const id_index *)a)->id, ((const id_index *)b)->id);
}

/* revs' ids sorted, for binary search and canonical order. NULL on no memory. */
static id_index *sorted_ids(const ebb_graph *graph)
{
    id_index *v = malloc((graph->count ? graph->count : 1) * sizeof *v);
    if (v == NULL)
        return NULL;
    for (size_t i = 0; i < graph->count; i++)
        v[i] = (id_index){graph->revs[i].id, i};
    qsort(v, graph->count, sizeof *v, id_index_cmp);
    return v;
}

long ebb_graph_find(const ebb_graph *graph, const char *id)
{
    if (graph == NULL || id == NULL)
        return -1;
    for (size_t i = 0; i < graph->count; i++)
        if (strcmp(graph->revs[i].id, id) == 0)
            return (long)i;
    return -1;
}

ebb_code ebb_graph_check(const ebb_graph *graph, ebb_error *err)
{
    for (size_t i = 0; i < graph->count; i++) {
        const ebb_revision *r = &graph->revs[i];
        if (r->id == NULL || r->id[0] == '\0')
            return ebb_error_set(err, EBB_E_INVALID, "revision %zu has no id", i);
        for (size_t p = 0; p < r->n_parents; p++)
            if (r->parents[p] >= i)
                return ebb_error_set(err, EBB_E_INVALID,
                                     "revision %s: parent %zu is not before it "
                                     "(revisions must be in topological order)",
                                     r->id, r->parents[p]);
    }
    id_index *ids = sorted_ids(graph);
    if (ids == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory checking the revision graph");
    ebb_code rc = EBB_OK;
    for (size_t i = 1; i < graph->count; i++)
        if (strcmp(ids[i - 1].id, ids[i].id) == 0) {
            rc = ebb_error_set(err, EBB_E_INVALID, "revision id %s appears twice", ids[i].id);
            break;
        }
    free(ids);
    return rc;
}

/* ---- state ---- */

ebb_code ebb_state_from_ids(const ebb_graph *graph, const char *const *ids, size_t n_ids,
                            ebb_state *out, ebb_error *err)
{
    bool *applied = calloc(graph->count ? graph->count : 1, sizeof *applied);
    id_index *sorted = sorted_ids(graph);
    if (applied == NULL || sorted == NULL) {
        free(applied);
        free(sorted);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory building the database state");
    }
    for (size_t i = 0; i < n_ids; i++) {
        id_index key = {ids[i], 0};
        const id_index *hit =
            graph->count == 0 ? NULL
                              : bsearch(&key, sorted, graph->count, sizeof *sorted, id_index_cmp);
        if (hit == NULL) {
            ebb_code rc =
                ebb_error_set(err, EBB_E_NOT_FOUND,
                              "the database records revision %s, which the migration source (%zu "
                              "revisions) does not have: it was migrated from another source or a "
                              "revision was deleted",
                              ids[i], graph->count);
            free(applied);
            free(sorted);
            return rc;
        }
        applied[hit->index] = true;
    }
    free(sorted);
    out->applied = applied;
    out->count = graph->count;
    return EBB_OK;
}

void ebb_state_fini(ebb_state *state)
{
    if (state == NULL)
        return;
    free(state->applied);
    state->applied = NULL;
    state->count = 0;
}

/* ---- targets ---- */

ebb_code ebb_target_parse(const char *text, ebb_target *out, ebb_error *err)
{
    if (text == NULL || text[0] == '\0')
        return ebb_error_set(err, EBB_E_INVALID, "empty migration target");
    ebb_target t;
    memset(&t, 0, sizeof t);
    if (strcmp(text, "head") == 0) {
        t.kind = EBB_TARGET_HEAD;
    } else if (strcmp(text, "base") == 0) {
        t.kind = EBB_TARGET_BASE;
    } else if (text[0] == '+' || text[0] == '-') {
        long n = 0;
        const char *p = text + 1;
        if (*p == '\0')
            return ebb_error_set(err, EBB_E_INVALID,
                                 "target %s: expected a number of steps after the sign", text);
        for (; *p != '\0'; p++) {
            if (*p < '0' || *p > '9')
                return ebb_error_set(err, EBB_E_INVALID,
                                     "target %s: relative targets are +N or -N with N digits",
                                     text);
            if (n > (LONG_MAX - 9) / 10)
                return ebb_error_set(err, EBB_E_INVALID, "target %s: too many steps", text);
            n = n * 10 + (*p - '0');
        }
        if (n == 0)
            return ebb_error_set(err, EBB_E_INVALID,
                                 "target %s: zero steps (use the current revision instead)", text);
        t.kind = EBB_TARGET_RELATIVE;
        t.steps = text[0] == '+' ? n : -n;
    } else {
        size_t len = strlen(text);
        if (len >= sizeof t.id)
            return ebb_error_set(err, EBB_E_INVALID, "target is longer than %zu characters",
                                 sizeof t.id - 1);
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)text[i] <= ' ' || text[i] == 0x7f)
                return ebb_error_set(err, EBB_E_INVALID,
                                     "target \"%s\" holds a space or control character", text);
        t.kind = EBB_TARGET_REVISION;
        memcpy(t.id, text, len + 1);
    }
    *out = t;
    return EBB_OK;
}

/* ---- heads ---- */

ebb_code ebb_graph_heads(const ebb_graph *graph, size_t **out, size_t *n_out, ebb_error *err)
{
    bool *has_child = calloc(graph->count ? graph->count : 1, sizeof *has_child);
    size_t *heads = malloc((graph->count ? graph->count : 1) * sizeof *heads);
    if (has_child == NULL || heads == NULL) {
        free(has_child);
        free(heads);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory finding heads");
    }
    for (size_t i = 0; i < graph->count; i++)
        for (size_t p = 0; p < graph->revs[i].n_parents; p++)
            has_child[graph->revs[i].parents[p]] = true;
    size_t n = 0;
    for (size_t i = 0; i < graph->count; i++)
        if (!has_child[i])
            heads[n++] = i;
    free(has_child);
    *out = heads;
    *n_out = n;
    return EBB_OK;
}

/* ---- paths ---- */

/* Mark target and all its ancestors in set (revs are topologically ordered). */
static void mark_ancestors(const ebb_graph *graph, size_t target, bool *set)
{
    set[target] = true;
    for (size_t i = target + 1; i-- > 0;) {
        if (!set[i])
            continue;
        for (size_t p = 0; p < graph->revs[i].n_parents; p++)
            set[graph->revs[i].parents[p]] = true;
    }
}

static size_t levenshtein(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 255 || lb > 255)
        return la > lb ? la : lb;
    size_t row[256];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* "a, b, c" of up to 3 ids closest to id by edit distance. */
static void nearest_ids(const ebb_graph *graph, const char *id, char *buf, size_t size)
{
    size_t best[3] = {0}, dist[3] = {SIZE_MAX, SIZE_MAX, SIZE_MAX};
    for (size_t i = 0; i < graph->count; i++) {
        size_t d = levenshtein(id, graph->revs[i].id);
        for (size_t k = 0; k < 3; k++) {
            if (d < dist[k]) {
                for (size_t m = 2; m > k; m--) {
                    dist[m] = dist[m - 1];
                    best[m] = best[m - 1];
                }
                dist[k] = d;
                best[k] = i;
                break;
            }
        }
    }
    buf[0] = '\0';
    size_t used = 0;
    for (size_t k = 0; k < 3 && dist[k] != SIZE_MAX; k++) {
        int n = snprintf(buf + used, size - used, "%s%s", k ? ", " : "", graph->revs[best[k]].id);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
}

/* Append revision ids of idx[0..n) to buf as "a, b, c" (cut to fit). */
static void list_ids(const ebb_graph *graph, const size_t *idx, size_t n, char *buf, size_t size)
{
    buf[0] = '\0';
    size_t used = 0;
    for (size_t k = 0; k < n; k++) {
        int w = snprintf(buf + used, size - used, "%s%s", k ? ", " : "", graph->revs[idx[k]].id);
        if (w < 0 || (size_t)w >= size - used)
            break;
        used += (size_t)w;
    }
}

/*
 * Revisions that could be taken next in one direction: up, an unapplied
 * revision with no unapplied ancestor; down, an applied revision with no
 * applied descendant. With a gap in a linear history (1 and 3 applied) the
 * candidate up is 2 and the candidate down is 3.
 */
static size_t candidates(const ebb_graph *graph, const bool *applied, bool up, bool *blocked,
                         size_t *out)
{
    size_t n = 0;
    memset(blocked, 0, graph->count * sizeof *blocked);
    if (up) {
        for (size_t i = 0; i < graph->count; i++) {
            const ebb_revision *r = &graph->revs[i];
            for (size_t p = 0; p < r->n_parents; p++)
                if (!applied[r->parents[p]] || blocked[r->parents[p]])
                    blocked[i] = true;
            if (!applied[i] && !blocked[i])
                out[n++] = i;
        }
    } else {
        for (size_t i = graph->count; i-- > 0;) {
            if (applied[i] && !blocked[i])
                out[n++] = i;
            const ebb_revision *r = &graph->revs[i];
            for (size_t p = 0; p < r->n_parents; p++)
                if (applied[i] || blocked[i])
                    blocked[r->parents[p]] = true;
        }
    }
    return n;
}

static ebb_code resolve_relative(const ebb_graph *graph, const ebb_state *state, long steps,
                                 ebb_path *path, ebb_error *err)
{
    bool up = steps > 0;
    size_t want = (size_t)(up ? steps : -steps);
    size_t possible = 0;
    for (size_t i = 0; i < graph->count; i++)
        if (state->applied[i] != up)
            possible++;
    if (want > possible) {
        if (up)
            return ebb_error_set(err, EBB_E_INVALID,
                                 "+%zu goes beyond head: only %zu step%s up %s possible "
                                 "(%zu revisions, %zu applied)",
                                 want, possible, possible == 1 ? "" : "s",
                                 possible == 1 ? "is" : "are", graph->count,
                                 graph->count - possible);
        return ebb_error_set(err, EBB_E_INVALID,
                             "-%zu goes below base: only %zu revision%s applied, so at most "
                             "-%zu",
                             want, possible, possible == 1 ? " is" : "s are", possible);
    }
    bool *applied = malloc(graph->count * sizeof *applied);
    bool *blocked = malloc(graph->count * sizeof *blocked);
    size_t *cand = malloc(graph->count * sizeof *cand);
    path->steps = malloc(want * sizeof *path->steps);
    ebb_code rc = EBB_OK;
    if (applied == NULL || blocked == NULL || cand == NULL || path->steps == NULL) {
        rc = ebb_error_set(err, EBB_E_NOMEM, "out of memory resolving a relative target");
        goto out;
    }
    memcpy(applied, state->applied, graph->count * sizeof *applied);
    for (size_t s = 0; s < want; s++) {
        size_t n = candidates(graph, applied, up, blocked, cand);
        if (n > 1) {
            char names[512];
            list_ids(graph, cand, n, names, sizeof names);
            rc = ebb_error_set(err, EBB_E_INVALID,
                               "%c%zu is ambiguous: step %zu could %s any of %s (branches); "
                               "name a revision as the target instead",
                               up ? '+' : '-', want, s + 1, up ? "apply" : "revert", names);
            goto out;
        }
        if (n == 0) { /* cannot happen when the counts above agree; kept as a guard */
            rc = ebb_error_set(err, EBB_E_INTERNAL, "no step %zu found for %c%zu", s + 1,
                               up ? '+' : '-', want);
            goto out;
        }
        path->steps[s] = cand[0];
        applied[cand[0]] = up;
    }
    path->count = want;
    path->direction = up ? EBB_DIR_UP : EBB_DIR_DOWN;
out:
    free(applied);
    free(blocked);
    free(cand);
    if (rc != EBB_OK) {
        free(path->steps);
        path->steps = NULL;
    }
    return rc;
}

/* Path to "exactly the ancestors-or-self of the revisions in want". */
static ebb_code resolve_set(const ebb_graph *graph, const ebb_state *state, const bool *want,
                            const char *target_name, ebb_path *path, ebb_error *err)
{
    size_t n_up = 0, n_down = 0;
    for (size_t i = 0; i < graph->count; i++) {
        if (want[i] && !state->applied[i])
            n_up++;
        if (!want[i] && state->applied[i])
            n_down++;
    }
    if (n_up > 0 && n_down > 0) {
        size_t *off = malloc(n_down * sizeof *off);
        if (off == NULL)
            return ebb_error_set(err, EBB_E_NOMEM, "out of memory resolving a target");
        size_t k = 0;
        for (size_t i = 0; i < graph->count; i++)
            if (!want[i] && state->applied[i])
                off[k++] = i;
        char names[512];
        list_ids(graph, off, k, names, sizeof names);
        free(off);
        return ebb_error_set(err, EBB_E_INVALID,
                             "target %s is on another branch: applied revision%s %s %s not "
                             "among its ancestors; go down to a common ancestor first, then up",
                             target_name, n_down == 1 ? "" : "s", names,
                             n_down == 1 ? "is" : "are");
    }
    size_t n = n_up + n_down;
    path->direction = n_up ? EBB_DIR_UP : n_down ? EBB_DIR_DOWN : EBB_DIR_NONE;
    path->count = n;
    path->steps = NULL;
    if (n == 0)
        return EBB_OK;
    path->steps = malloc(n * sizeof *path->steps);
    if (path->steps == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory resolving a target");
    size_t k = 0;
    if (n_up) {
        for (size_t i = 0; i < graph->count; i++)
            if (want[i] && !state->applied[i])
                path->steps[k++] = i;
    } else {
        for (size_t i = graph->count; i-- > 0;)
            if (!want[i] && state->applied[i])
                path->steps[k++] = i;
    }
    return EBB_OK;
}

/* EBB_TARGET_APPLY_ONE / REVERT_ONE: a path of exactly that revision, when it can run alone. */
static ebb_code resolve_one(const ebb_graph *graph, const ebb_state *state,
                            const ebb_target *target, ebb_path *out, ebb_error *err)
{
    long idx = ebb_graph_find(graph, target->id);
    if (idx < 0)
        return ebb_error_set(err, EBB_E_NOT_FOUND, "unknown revision '%s'", target->id);
    const ebb_revision *rev = &graph->revs[idx];
    bool up = target->kind == EBB_TARGET_APPLY_ONE;
    if (state->applied[idx] == up)
        return ebb_error_set(err, EBB_E_INVALID, "revision %s is %s applied", rev->id,
                             up ? "already" : "not");
    if (up) {
        for (size_t p = 0; p < rev->n_parents; p++)
            if (!state->applied[rev->parents[p]])
                return ebb_error_set(err, EBB_E_INVALID,
                                     "revision %s cannot be applied alone: its parent %s is not "
                                     "applied",
                                     rev->id, graph->revs[rev->parents[p]].id);
    } else {
        for (size_t i = 0; i < graph->count; i++) {
            if (!state->applied[i])
                continue;
            for (size_t p = 0; p < graph->revs[i].n_parents; p++)
                if (graph->revs[i].parents[p] == (size_t)idx)
                    return ebb_error_set(err, EBB_E_INVALID,
                                         "revision %s cannot be reverted alone: applied revision "
                                         "%s depends on it",
                                         rev->id, graph->revs[i].id);
        }
    }
    size_t *steps = malloc(sizeof *steps);
    if (steps == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory resolving a target");
    steps[0] = (size_t)idx;
    out->direction = up ? EBB_DIR_UP : EBB_DIR_DOWN;
    out->steps = steps;
    out->count = 1;
    return EBB_OK;
}

ebb_code ebb_path_resolve(const ebb_graph *graph, const ebb_state *state, const ebb_target *target,
                          ebb_path *out, ebb_error *err)
{
    if (state->count != graph->count)
        return ebb_error_set(err, EBB_E_INVALID,
                             "database state has %zu revisions, the graph %zu: built from "
                             "another graph",
                             state->count, graph->count);
    ebb_path path = {EBB_DIR_NONE, NULL, 0};
    ebb_code rc = EBB_OK;
    if (target->kind == EBB_TARGET_APPLY_ONE || target->kind == EBB_TARGET_REVERT_ONE)
        return resolve_one(graph, state, target, out, err);
    if (target->kind == EBB_TARGET_RELATIVE) {
        if (target->steps == 0)
            return ebb_error_set(err, EBB_E_INVALID, "relative target of zero steps");
        rc = resolve_relative(graph, state, target->steps, &path, err);
        if (rc == EBB_OK)
            *out = path;
        return rc;
    }
    bool *want = calloc(graph->count ? graph->count : 1, sizeof *want);
    if (want == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory resolving a target");
    const char *name = "base";
    if (target->kind == EBB_TARGET_HEAD) {
        name = "head";
        size_t *heads = NULL, n_heads = 0;
        rc = ebb_graph_heads(graph, &heads, &n_heads, err);
        if (rc != EBB_OK)
            goto out;
        if (n_heads > 1) {
            char names[512];
            list_ids(graph, heads, n_heads, names, sizeof names);
            rc = ebb_error_set(err, EBB_E_INVALID,
                               "target head is ambiguous: the graph has %zu heads (%s); "
                               "name one of them",
                               n_heads, names);
            free(heads);
            goto out;
        }
        if (n_heads == 1)
            mark_ancestors(graph, heads[0], want);
        free(heads);
    } else if (target->kind == EBB_TARGET_REVISION) {
        name = target->id;
        long idx = ebb_graph_find(graph, target->id);
        if (idx < 0) {
            char near[512];
            nearest_ids(graph, target->id, near, sizeof near);
            if (graph->count == 0)
                rc = ebb_error_set(err, EBB_E_NOT_FOUND,
                                   "unknown revision %s: the source has no revisions", target->id);
            else
                rc = ebb_error_set(err, EBB_E_NOT_FOUND,
                                   "unknown revision %s (the source has %zu revisions; "
                                   "nearest: %s)",
                                   target->id, graph->count, near);
            goto out;
        }
        mark_ancestors(graph, (size_t)idx, want);
    } else if (target->kind == EBB_TARGET_HEADS) {
        name = "heads";
        for (size_t i = 0; i < graph->count; i++)
            want[i] = true;
    } else if (target->kind != EBB_TARGET_BASE) {
        rc = ebb_error_set(err, EBB_E_INVALID, "unknown target kind %d", (int)target->kind);
        goto out;
    }
    rc = resolve_set(graph, state, want, name, &path, err);
    if (rc == EBB_OK)
        *out = path;
out:
    free(want);
    return rc;
}

void ebb_path_fini(ebb_path *path)
{
    if (path == NULL)
        return;
    free(path->steps);
    path->steps = NULL;
    path->count = 0;
    path->direction = EBB_DIR_NONE;
}

/* ---- hash ---- */

static void hash_u64(crypto_generichash_state *h, uint64_t v)
{
    uint8_t n[8]; /* little-endian, so hosts of any byte order agree */
    for (int i = 0; i < 8; i++)
        n[i] = (uint8_t)(v >> (8 * i));
    crypto_generichash_update(h, n, sizeof n);
}

static void hash_bytes(crypto_generichash_state *h, const void *data, size_t len)
{
    hash_u64(h, len);
    if (len)
        crypto_generichash_update(h, data, len);
}

static void hash_str(crypto_generichash_state *h, const char *s)
{
    hash_bytes(h, s, strlen(s));
}

static void hash_script(crypto_generichash_state *h, const ebb_script *s)
{
    uint8_t flags[2] = {s->sql != NULL, s->no_transaction};
    crypto_generichash_update(h, flags, sizeof flags);
    hash_str(h, s->sql != NULL ? s->checksum : "");
}

static int str_ptr_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * The hash must not depend on where the project lives or on which of the
 * valid topological orders the loader produced, so revisions are taken in id
 * order and each one's parents by id. Every field is length-prefixed, so no
 * two different graphs serialise alike.
 */
void ebb_graph_compute_hash(ebb_graph *graph)
{
    crypto_generichash_state h;
    unsigned char digest[32];
    if (sodium_init() < 0) {
        /* Only the choice of the fastest BLAKE2b code failed; the portable one still works. */
    }
    crypto_generichash_init(&h, NULL, 0, sizeof digest);
    hash_str(&h, "ebb-graph-v1");
    hash_u64(&h, graph->count);
    id_index *order = sorted_ids(graph);
    size_t max_parents = 0;
    for (size_t i = 0; i < graph->count; i++)
        if (graph->revs[i].n_parents > max_parents)
            max_parents = graph->revs[i].n_parents;
    const char **parents = malloc((max_parents ? max_parents : 1) * sizeof *parents);
    if (order == NULL || parents == NULL) {
        /* No memory: leave a hash no real graph has rather than a stale one. */
        free(order);
        free(parents);
        memset(graph->hash, 0, sizeof graph->hash);
        return;
    }
    for (size_t k = 0; k < graph->count; k++) {
        const ebb_revision *r = &graph->revs[order[k].index];
        hash_str(&h, r->id);
        for (size_t p = 0; p < r->n_parents; p++)
            parents[p] = graph->revs[r->parents[p]].id;
        qsort(parents, r->n_parents, sizeof *parents, str_ptr_cmp);
        hash_u64(&h, r->n_parents);
        for (size_t p = 0; p < r->n_parents; p++)
            hash_str(&h, parents[p]);
        hash_script(&h, &r->up);
        hash_script(&h, &r->down);
        hash_script(&h, &r->verify);
    }
    free(order);
    free(parents);
    crypto_generichash_final(&h, digest, sizeof digest);
    sodium_bin2hex(graph->hash, sizeof graph->hash, digest, sizeof digest);
}
