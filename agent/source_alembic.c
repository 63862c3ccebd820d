/* Alembic projects as ebb graphs: the graph from Alembic's JSON, targets, heads and applied sets.
 */
#include "agent/source_alembic.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/source.h"
#include "agent/source_internal.h"

static ebb_code nomem(ebb_error *err)
{
    return ebb_error_set(err, EBB_E_NOMEM, "out of memory loading an Alembic project");
}

/* Strings of a JSON array into a new array (NULL when empty); false on a bad entry or OOM. */
static bool str_array(json_t *arr, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (arr == NULL)
        return true;
    if (!json_is_array(arr))
        return false;
    size_t count = json_array_size(arr);
    if (count == 0)
        return true;
    char **v = calloc(count, sizeof *v);
    if (!v)
        return false;
    for (size_t i = 0; i < count; i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        if (!s || !(v[i] = strdup(s))) {
            for (size_t k = 0; k < i; k++)
                free(v[k]);
            free(v);
            return false;
        }
    }
    *out = v;
    *n = count;
    return true;
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static ebb_code parse_revision(ebb_graph *g, size_t i, json_t *o, ebb_error *err)
{
    ebb_revision *r = &g->revs[i];
    const char *id = json_string_value(json_object_get(o, "revision"));
    const char *doc = json_string_value(json_object_get(o, "doc"));
    const char *path = json_string_value(json_object_get(o, "path"));
    if (!json_is_object(o) || !id || !*id || !path)
        return ebb_error_set(err, EBB_E_INVALID,
                             "Alembic graph: revision %zu lacks revision or path", i + 1);
    char **down = NULL;
    size_t n_down = 0;
    if (!(r->id = strdup(id)) || !(r->name = strdup(doc ? doc : "")) ||
        !(r->note = strdup(doc ? doc : "")) || !(r->up.path = strdup(path)) ||
        !(r->down.path = strdup(path)))
        return nomem(err);
    if (!str_array(json_object_get(o, "down_revisions"), &down, &n_down) ||
        !str_array(json_object_get(o, "depends_on"), &r->requires, &r->n_requires) ||
        !str_array(json_object_get(o, "branch_labels"), &r->tags, &r->n_tags)) {
        free_strv(down, n_down);
        return ebb_error_set(err, EBB_E_INVALID, "Alembic graph: revision %s has a malformed list",
                             id);
    }
    size_t n_par = n_down + r->n_requires;
    if (n_par && !(r->parents = calloc(n_par, sizeof *r->parents))) {
        free_strv(down, n_down);
        return nomem(err);
    }
    ebb_code rc = EBB_OK;
    for (size_t k = 0; k < n_par && rc == EBB_OK; k++) {
        const char *p = k < n_down ? down[k] : r->requires[k - n_down];
        long idx = -1;
        for (size_t j = 0; j < i && idx < 0; j++) /* parents come first: topological order */
            if (strcmp(g->revs[j].id, p) == 0)
                idx = (long)j;
        if (idx < 0) {
            rc = ebb_error_set(err, EBB_E_INVALID,
                               "Alembic graph: revision %s (%s) names %s %s, which is not an "
                               "earlier revision",
                               id, path, k < n_down ? "down_revision" : "depends_on", p);
            break;
        }
        bool dup = false;
        for (size_t j = 0; j < r->n_parents; j++)
            dup = dup || r->parents[j] == (size_t)idx;
        if (!dup)
            r->parents[r->n_parents++] = (size_t)idx;
    }
    free_strv(down, n_down);
    return rc;
}

ebb_code ebb_alembic_graph_parse(const char *json, ebb_graph *g, ebb_error *err)
{
    json_error_t je;
    json_t *doc = json_loads(json, 0, &je);
    json_t *revs = doc ? json_object_get(doc, "revisions") : NULL;
    if (!json_is_array(revs)) {
        ebb_code rc = ebb_error_set(err, EBB_E_INVALID, "Alembic graph: %s",
                                    doc ? "no \"revisions\" array" : je.text);
        json_decref(doc);
        return rc;
    }
    size_t n = json_array_size(revs);
    g->revs = calloc(n ? n : 1, sizeof *g->revs);
    if (!g->revs) {
        json_decref(doc);
        return nomem(err);
    }
    ebb_code rc = EBB_OK;
    for (size_t i = 0; i < n && rc == EBB_OK; i++) {
        g->count = i + 1; /* counted now so that ebb_graph_fini frees it */
        rc = parse_revision(g, i, json_array_get(revs, i), err);
    }
    json_decref(doc);
    return rc;
}

/* Read each revision's module: the text behind its checksum. */
static ebb_code read_modules(ebb_graph *g, ebb_error *err)
{
    for (size_t i = 0; i < g->count; i++) {
        ebb_revision *r = &g->revs[i];
        char *text = NULL;
        size_t len = 0;
        ebb_code rc = ebb_source_read_file(r->up.path, &text, &len, err);
        if (rc != EBB_OK) {
            ebb_error_prefix(err, "Alembic revision %s", r->id);
            return rc;
        }
        if (!(r->down.sql = strdup(text))) {
            free(text);
            return nomem(err);
        }
        r->up.sql = text;
        r->up.first_line = r->down.first_line = 1;
        r->up.external = r->down.external = true;
        ebb_source_checksum(text, len, r->up.checksum);
        memcpy(r->down.checksum, r->up.checksum, sizeof r->down.checksum);
    }
    return EBB_OK;
}

ebb_code ebb_source_load_alembic(const char *dir, const ebb_alembic_conf *conf, ebb_graph *out,
                                 ebb_error *err)
{
    ebb_alembic_conf c = {0};
    if (conf)
        c = *conf;
    char *ini = NULL;
    if (!c.ini) {
        if (!(ini = ebb_source_path_join(dir, "alembic.ini")))
            return nomem(err);
        c.ini = ini;
    }
    char *json = NULL;
    ebb_code rc = ebb_alembic_graph_json(&c, &json, err);
    free(ini);
    if (rc != EBB_OK)
        return rc;
    /* The JSON is the last line of the helper's output. */
    size_t len = strlen(json);
    while (len > 0 && json[len - 1] == '\n')
        json[--len] = '\0';
    char *line = strrchr(json, '\n');
    ebb_graph g = {0};
    g.kind = EBB_SOURCE_ALEMBIC;
    if (!(g.root = strdup(dir))) {
        free(json);
        return nomem(err);
    }
    rc = ebb_alembic_graph_parse(line ? line + 1 : json, &g, err);
    free(json);
    if (rc == EBB_OK)
        rc = read_modules(&g, err);
    if (rc == EBB_OK)
        rc = ebb_source_load_checks(&g, err);
    if (rc == EBB_OK)
        rc = ebb_graph_check(&g, err);
    if (rc != EBB_OK) {
        ebb_graph_fini(&g);
        return rc;
    }
    ebb_graph_compute_hash(&g);
    *out = g;
    return EBB_OK;
}

/* ---- heads, applied sets, targets (pure) ---- */

static bool is_dependency(const ebb_revision *r, const char *parent_id)
{
    for (size_t k = 0; k < r->n_requires; k++)
        if (strcmp(r->requires[k], parent_id) == 0)
            return true;
    return false;
}

ebb_code ebb_alembic_heads_of(const ebb_graph *g, const bool *applied, size_t **out, size_t *n_out,
                              ebb_error *err)
{
    bool *below = calloc(g->count ? g->count : 1, sizeof *below);
    size_t *heads = malloc((g->count ? g->count : 1) * sizeof *heads);
    if (!below || !heads) {
        free(below);
        free(heads);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory finding Alembic heads");
    }
    for (size_t i = 0; i < g->count; i++) {
        if (!applied[i])
            continue;
        const ebb_revision *r = &g->revs[i];
        for (size_t p = 0; p < r->n_parents; p++)
            if (!is_dependency(r, g->revs[r->parents[p]].id))
                below[r->parents[p]] = true;
    }
    size_t n = 0;
    for (size_t i = 0; i < g->count; i++)
        if (applied[i] && !below[i])
            heads[n++] = i;
    free(below);
    *out = heads;
    *n_out = n;
    return EBB_OK;
}

static void mark_ancestors(const ebb_graph *g, size_t i, bool *set)
{
    if (set[i])
        return;
    set[i] = true;
    for (size_t p = 0; p < g->revs[i].n_parents; p++)
        mark_ancestors(g, g->revs[i].parents[p], set);
}

ebb_code ebb_alembic_applied_from_heads(const ebb_graph *g, const char *const *heads, size_t n,
                                        bool *applied, ebb_error *err)
{
    memset(applied, 0, g->count * sizeof *applied);
    for (size_t h = 0; h < n; h++) {
        long idx = ebb_graph_find(g, heads[h]);
        if (idx < 0)
            return ebb_error_set(err, EBB_E_NOT_FOUND,
                                 "the version table names revision %s, which this Alembic "
                                 "project does not have (migrated with other files?)",
                                 heads[h]);
        mark_ancestors(g, (size_t)idx, applied);
    }
    return EBB_OK;
}

/* Index of the revision whose id is text or starts with it; -1 none, -2 ambiguous (listed). */
static long find_prefix(const ebb_graph *g, const char *text, char *list, size_t list_n)
{
    long exact = ebb_graph_find(g, text);
    if (exact >= 0)
        return exact;
    size_t len = strlen(text), found = 0;
    long idx = -1;
    list[0] = '\0';
    for (size_t i = 0; i < g->count; i++)
        if (strncmp(g->revs[i].id, text, len) == 0) {
            size_t used = strlen(list);
            snprintf(list + used, list_n - used, "%s%s", found ? ", " : "", g->revs[i].id);
            found++;
            idx = (long)i;
        }
    return found > 1 ? -2 : found == 1 ? idx : -1;
}

static void set_revision(const ebb_graph *g, size_t idx, ebb_target *out)
{
    memset(out, 0, sizeof *out);
    out->kind = EBB_TARGET_REVISION;
    snprintf(out->id, sizeof out->id, "%s", g->revs[idx].id);
}

/* The one head descending from (or equal to) revision root. */
static ebb_code head_of_branch(const ebb_graph *g, size_t root, const char *text, ebb_target *out,
                               ebb_error *err)
{
    bool *desc = calloc(g->count ? g->count : 1, sizeof *desc);
    bool *all = malloc((g->count ? g->count : 1) * sizeof *all);
    if (!desc || !all) {
        free(desc);
        free(all);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory resolving %s", text);
    }
    desc[root] = true;
    for (size_t i = root + 1; i < g->count; i++) /* topological order: one pass */
        for (size_t p = 0; p < g->revs[i].n_parents && !desc[i]; p++)
            desc[i] = desc[g->revs[i].parents[p]];
    for (size_t i = 0; i < g->count; i++)
        all[i] = true;
    size_t *heads = NULL, n_heads = 0;
    ebb_code rc = ebb_alembic_heads_of(g, all, &heads, &n_heads, err);
    long pick = -1;
    size_t n_pick = 0;
    char names[512] = "";
    for (size_t h = 0; rc == EBB_OK && h < n_heads; h++)
        if (desc[heads[h]]) {
            size_t used = strlen(names);
            snprintf(names + used, sizeof names - used, "%s%s", n_pick ? ", " : "",
                     g->revs[heads[h]].id);
            pick = (long)heads[h];
            n_pick++;
        }
    if (rc == EBB_OK && n_pick == 1)
        set_revision(g, (size_t)pick, out);
    else if (rc == EBB_OK)
        rc = ebb_error_set(err, EBB_E_INVALID, "target %s: %s", text,
                           n_pick ? "the branch has several heads; name one" : "no head");
    if (rc != EBB_OK && n_pick > 1)
        ebb_error_prefix(err, "(%s)", names);
    free(heads);
    free(desc);
    free(all);
    return rc;
}

ebb_code ebb_alembic_resolve_target(const ebb_graph *g, const char *text, ebb_target *out,
                                    ebb_error *err)
{
    if (!text || !*text)
        return ebb_error_set(err, EBB_E_INVALID, "empty target");
    ebb_target t;
    if (strcmp(text, "heads") == 0) {
        memset(&t, 0, sizeof t);
        t.kind = EBB_TARGET_HEADS;
        *out = t;
        return EBB_OK;
    }
    if (strcmp(text, "head") == 0) {
        bool *all = malloc((g->count ? g->count : 1) * sizeof *all);
        if (!all)
            return ebb_error_set(err, EBB_E_NOMEM, "out of memory resolving head");
        for (size_t i = 0; i < g->count; i++)
            all[i] = true;
        size_t *heads = NULL, n = 0;
        ebb_code rc = ebb_alembic_heads_of(g, all, &heads, &n, err);
        free(all);
        if (rc != EBB_OK)
            return rc;
        if (n > 1) {
            char names[512] = "";
            for (size_t h = 0; h < n; h++) {
                size_t used = strlen(names);
                snprintf(names + used, sizeof names - used, "%s%s", h ? ", " : "",
                         g->revs[heads[h]].id);
            }
            free(heads);
            return ebb_error_set(err, EBB_E_INVALID,
                                 "target head is ambiguous: the project has %zu heads (%s); use "
                                 "heads, BRANCH@head or a revision",
                                 n, names);
        }
        memset(&t, 0, sizeof t);
        t.kind = EBB_TARGET_HEADS; /* one head or none: everything (dependencies count as
                                      parents in ebb's graph, not as Alembic heads) */
        free(heads);
        *out = t;
        return EBB_OK;
    }
    const char *at = strchr(text, '@');
    if (at) {
        if (strcmp(at, "@head") != 0)
            return ebb_error_set(err, EBB_E_INVALID,
                                 "target %s: ebb takes BRANCH@head; relative forms such as "
                                 "BRANCH@-1 are not supported, use -N",
                                 text);
        size_t blen = (size_t)(at - text);
        char branch[256];
        if (blen == 0 || blen >= sizeof branch)
            return ebb_error_set(err, EBB_E_INVALID, "target %s: no branch name", text);
        memcpy(branch, text, blen);
        branch[blen] = '\0';
        for (size_t i = 0; i < g->count; i++)
            for (size_t k = 0; k < g->revs[i].n_tags; k++)
                if (strcmp(g->revs[i].tags[k], branch) == 0)
                    return head_of_branch(g, i, text, out, err);
        char list[512];
        long idx = find_prefix(g, branch, list, sizeof list);
        if (idx >= 0)
            return head_of_branch(g, (size_t)idx, text, out, err);
        return ebb_error_set(err, EBB_E_NOT_FOUND, "target %s: no branch label or revision %s%s%s",
                             text, branch, idx == -2 ? " (ambiguous prefix: " : "",
                             idx == -2 ? list : "");
    }
    if (strcmp(text, "base") == 0 || text[0] == '+' || text[0] == '-')
        return ebb_target_parse(text, out, err);
    char list[512];
    long idx = find_prefix(g, text, list, sizeof list);
    if (idx == -2)
        return ebb_error_set(err, EBB_E_INVALID, "revision prefix %s is ambiguous: %s", text, list);
    if (idx < 0)
        return ebb_error_set(err, EBB_E_NOT_FOUND, "unknown revision %s (%zu revisions)", text,
                             g->count);
    set_revision(g, (size_t)idx, out);
    return EBB_OK;
}
