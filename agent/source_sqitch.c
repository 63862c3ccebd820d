/* Sqitch project loading: sqitch.conf -> layout, sqitch.plan -> changes, scripts -> ebb_graph. */
#include "agent/source_sqitch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/source.h"
#include "agent/source_internal.h"
#include "agent/sqitch_conf.h"
#include "agent/sqitch_plan.h"

static ebb_code nomem(ebb_error *err)
{
    return ebb_error_set(err, EBB_E_NOMEM, "out of memory loading a Sqitch project");
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void ebb_revision_fini_sqitch_fields(ebb_revision *rev)
{
    if (!rev)
        return;
    free_strv(rev->requires, rev->n_requires);
    free_strv(rev->conflicts, rev->n_conflicts);
    free_strv(rev->tags, rev->n_tags);
    free(rev->note);
    free(rev->planner);
    free(rev->planned_at);
    rev->requires = rev->conflicts = rev->tags = NULL;
    rev->n_requires = rev->n_conflicts = rev->n_tags = 0;
    rev->note = rev->planner = rev->planned_at = NULL;
}

void ebb_graph_fini_sqitch_fields(ebb_graph *graph)
{
    if (!graph)
        return;
    for (size_t i = 0; i < graph->count; i++)
        ebb_revision_fini_sqitch_fields(&graph->revs[i]);
    free(graph->project);
    free(graph->project_uri);
    graph->project = graph->project_uri = NULL;
}

/*
 * Read a file that may be absent: *out = NULL when it does not exist and
 * !required, EBB_E_NOT_FOUND "<path>: <what> does not exist" when required.
 */
static ebb_code read_optional(const char *path, bool required, const char *what, char **out,
                              size_t *len, ebb_error *err)
{
    *out = NULL;
    *len = 0;
    struct stat st;
    if (stat(path, &st) != 0 && errno == ENOENT) {
        if (!required)
            return EBB_OK;
        return ebb_error_set(err, EBB_E_NOT_FOUND, "%s: %s does not exist", path, what);
    }
    return ebb_source_read_file(path, out, len, err);
}

static char *join3(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s%s%s", a, b, c);
    return p;
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/*
 * The script file name of a change below a script directory: "name.ext",
 * or for an earlier instance of a reworked change "name@tag.ext" with the
 * first rework tag whose file exists in the reworked deploy directory (else
 * the first tag), as Plan::Change::_path_segments does.
 */
static char *script_rel(const ebb_sqitch_change *c, const ebb_sqitch_layout *l)
{
    if (c->n_rework_tags == 0)
        return join3(c->name, ".", l->extension);
    char *first = NULL;
    for (size_t i = 0; i < c->n_rework_tags; i++) {
        size_t n = strlen(c->name) + strlen(c->rework_tags[i]) + strlen(l->extension) + 3;
        char *rel = malloc(n);
        if (!rel) {
            free(first);
            return NULL;
        }
        snprintf(rel, n, "%s@%s.%s", c->name, c->rework_tags[i], l->extension);
        char *full = join3(l->reworked_deploy_dir, "/", rel);
        if (!full) {
            free(rel);
            free(first);
            return NULL;
        }
        bool found = file_exists(full);
        free(full);
        if (found) {
            free(first);
            return rel;
        }
        if (!first)
            first = rel;
        else
            free(rel);
    }
    return first;
}

static ebb_code load_script(ebb_script *s, const char *dir, const char *rel, bool required,
                            const char *what, ebb_error *err)
{
    char *path = join3(dir, "/", rel);
    if (!path)
        return nomem(err);
    char *sql;
    size_t len;
    ebb_code rc = read_optional(path, required, what, &sql, &len, err);
    if (rc != EBB_OK || !sql) {
        free(path);
        return rc;
    }
    return ebb_source_script_set(s, path, 1, sql, len, false, err);
}

static char **dep_texts(const ebb_sqitch_dep *deps, size_t n, bool *oom)
{
    if (n == 0)
        return NULL;
    char **v = calloc(n, sizeof *v);
    if (!v) {
        *oom = true;
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (!(v[i] = strdup(deps[i].text)))
            *oom = true;
    return v;
}

static ebb_code build_revision(ebb_graph *g, size_t i, const ebb_sqitch_change *c,
                               const ebb_sqitch_layout *l, ebb_error *err)
{
    ebb_revision *r = &g->revs[i];
    bool oom = false;
    if (c->instance <= 1) {
        r->id = strdup(c->name);
    } else {
        size_t n = strlen(c->name) + 24;
        if ((r->id = malloc(n)))
            snprintf(r->id, n, "%s#%zu", c->name, c->instance);
    }
    r->name = strdup(c->name);
    r->note = strdup(c->note);
    r->planner = join3(c->planner_name, " <", c->planner_email);
    if (r->planner) {
        char *p = join3(r->planner, ">", "");
        free(r->planner);
        r->planner = p;
    }
    r->planned_at = strdup(c->planned_at);
    r->requires = dep_texts(c->requires, c->n_requires, &oom);
    r->n_requires = r->requires ? c->n_requires : 0;
    r->conflicts = dep_texts(c->conflicts, c->n_conflicts, &oom);
    r->n_conflicts = r->conflicts ? c->n_conflicts : 0;
    if (c->n_tags) {
        if ((r->tags = calloc(c->n_tags, sizeof *r->tags))) {
            r->n_tags = c->n_tags;
            for (size_t t = 0; t < c->n_tags; t++)
                oom = oom || !(r->tags[t] = strdup(c->tags[t].name));
        } else {
            oom = true;
        }
    }
    if (i > 0) {
        if ((r->parents = malloc(sizeof *r->parents))) {
            r->parents[0] = i - 1;
            r->n_parents = 1;
        } else {
            oom = true;
        }
    }
    if (oom || !r->id || !r->name || !r->note || !r->planner || !r->planned_at)
        return nomem(err);

    char *rel = script_rel(c, l);
    if (!rel)
        return nomem(err);
    bool reworked = c->n_rework_tags > 0;
    ebb_code rc = load_script(&r->up, reworked ? l->reworked_deploy_dir : l->deploy_dir, rel,
                              true, "deploy script", err);
    if (rc == EBB_OK)
        rc = load_script(&r->down, reworked ? l->reworked_revert_dir : l->revert_dir, rel, false,
                         "revert script", err);
    if (rc == EBB_OK)
        rc = load_script(&r->verify, reworked ? l->reworked_verify_dir : l->verify_dir, rel,
                         false, "verify script", err);
    if (rc != EBB_OK)
        ebb_error_prefix(err, "change %s (%s:%d)", r->id, l->plan_file, c->line);
    free(rel);
    return rc;
}

ebb_code ebb_sqitch_load(const char *root, ebb_graph *g, ebb_error *err)
{
    ebb_code rc;
    ebb_sqitch_conf conf = {0};
    ebb_sqitch_layout layout = {0};
    ebb_sqitch_plan plan = {0};
    char *plan_text = NULL;
    size_t plan_len = 0;

    char *conf_path = join3(root, "/", "sqitch.conf");
    if (!conf_path)
        return nomem(err);
    rc = file_exists(conf_path) ? ebb_sqitch_conf_read(conf_path, &conf, err) : EBB_OK;
    if (rc == EBB_OK)
        rc = ebb_sqitch_layout_resolve(&conf, conf_path, root, &layout, err);
    if (rc == EBB_OK)
        rc = read_optional(layout.plan_file, true, "Sqitch plan", &plan_text, &plan_len, err);
    if (rc == EBB_OK)
        rc = ebb_sqitch_plan_parse(layout.plan_file, plan_text, plan_len, &plan, err);
    free(plan_text);
    if (rc == EBB_OK) {
        g->project = strdup(plan.project);
        g->project_uri = plan.uri ? strdup(plan.uri) : NULL;
        g->revs = calloc(plan.count ? plan.count : 1, sizeof *g->revs);
        if (!g->project || (plan.uri && !g->project_uri) || !g->revs)
            rc = nomem(err);
    }
    for (size_t i = 0; rc == EBB_OK && i < plan.count; i++) {
        g->count = i + 1; /* counted now so that the caller's ebb_graph_fini frees it */
        rc = build_revision(g, i, &plan.changes[i], &layout, err);
    }
    ebb_sqitch_plan_fini(&plan);
    ebb_sqitch_layout_fini(&layout);
    ebb_sqitch_conf_fini(&conf);
    free(conf_path);
    return rc;
}

ebb_code ebb_source_load_sqitch(const char *dir, ebb_graph *out, ebb_error *err)
{
    return ebb_source_load(dir, EBB_SOURCE_SQITCH, out, err);
}
