/* The planner: fleet state, a target, a selection and a strategy in; a plan of waves and per-host
 * steps out. Pure code. */
#include "coordinator/plan.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator/plan_render.h"

/* ---- names ---- */

static const char *const job_names[EBB_JOB__COUNT] = {
    "precheck",       "stop_services", "backup",  "migrate",         "verify",
    "start_services", "health",        "restore", "commit_prepared", "rollback_prepared",
};

const char *ebb_job_kind_name(ebb_job_kind kind)
{
    return (unsigned)kind < EBB_JOB__COUNT ? job_names[kind] : "unknown";
}

const char *ebb_run_kind_name(ebb_run_kind kind)
{
    return kind == EBB_RUN_ROLLBACK ? "rollback" : "rollout";
}

const char *ebb_gate_mode_name(ebb_gate_mode mode)
{
    switch (mode) {
    case EBB_GATE_AFTER_CANARY:
        return "after_canary";
    case EBB_GATE_EVERY_WAVE:
        return "every_wave";
    default:
        return "none";
    }
}

const char *ebb_on_failure_name(ebb_on_failure mode)
{
    return mode == EBB_ON_FAILURE_COMPENSATE ? "compensate" : "halt";
}

/* ---- refusals: every problem is collected, then reported at once ---- */

typedef struct problems {
    char buf[860];
    size_t used;
    size_t count;
    size_t dropped;
} problems;

static void EBB_PRINTF(2, 3) problem(problems *p, const char *fmt, ...)
{
    p->count++;
    char one[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(one, sizeof one, fmt, ap);
    va_end(ap);
    int n = snprintf(p->buf + p->used, sizeof p->buf - p->used, "%s%s", p->used ? "; " : "", one);
    if (n < 0 || (size_t)n >= sizeof p->buf - p->used) {
        p->buf[p->used] = '\0'; /* keep whole messages only */
        p->dropped++;
        return;
    }
    p->used += (size_t)n;
}

static ebb_code refuse(const problems *p, ebb_error *err)
{
    if (p->dropped)
        return ebb_error_set(err, EBB_E_REFUSED, "plan refused (%zu problems): %s; and %zu more",
                             p->count, p->buf, p->dropped);
    return ebb_error_set(err, EBB_E_REFUSED, "plan refused (%zu problem%s): %s", p->count,
                         p->count == 1 ? "" : "s", p->buf);
}

/* ---- graph from a reported revision list ---- */

ebb_code ebb_plan_graph_from_revs(const ebb_fleet_rev *revs, size_t n_revs,
                                  const char *reported_hash, ebb_graph *out, ebb_error *err)
{
    ebb_graph g;
    memset(&g, 0, sizeof g);
    g.kind = EBB_SOURCE_UNKNOWN;
    g.root = strdup("");
    g.revs = calloc(n_revs ? n_revs : 1, sizeof *g.revs);
    if (g.root == NULL || g.revs == NULL)
        goto nomem;
    for (size_t i = 0; i < n_revs; i++) {
        ebb_revision *r = &g.revs[i];
        g.count = i + 1;
        if (revs[i].id == NULL || revs[i].id[0] == '\0') {
            ebb_graph_fini(&g);
            return ebb_error_set(err, EBB_E_INVALID, "reported revision %zu has no id", i);
        }
        r->id = strdup(revs[i].id);
        r->name = strdup("");
        r->parents = calloc(revs[i].n_parents ? revs[i].n_parents : 1, sizeof *r->parents);
        if (r->id == NULL || r->name == NULL || r->parents == NULL)
            goto nomem;
        for (size_t p = 0; p < revs[i].n_parents; p++) {
            long idx = -1;
            for (size_t k = 0; k < i; k++)
                if (strcmp(g.revs[k].id, revs[i].parents[p]) == 0)
                    idx = (long)k;
            if (idx < 0) {
                ebb_code rc = ebb_error_set(err, EBB_E_INVALID,
                                            "reported revision %s: parent %s is not listed "
                                            "before it",
                                            revs[i].id, revs[i].parents[p]);
                ebb_graph_fini(&g);
                return rc;
            }
            r->parents[r->n_parents++] = (size_t)idx;
        }
    }
    ebb_code rc = ebb_graph_check(&g, err);
    if (rc != EBB_OK) {
        ebb_graph_fini(&g);
        return rc;
    }
    if (reported_hash != NULL)
        snprintf(g.hash, sizeof g.hash, "%s", reported_hash);
    *out = g;
    return EBB_OK;
nomem:
    ebb_graph_fini(&g);
    return ebb_error_set(err, EBB_E_NOMEM, "out of memory building a revision graph");
}

/* ---- per-unit planning ---- */

typedef struct unit {
    const ebb_fleet_host *host;
    const ebb_fleet_db *db;
} unit;

typedef struct build_ctx {
    const ebb_plan_input *in;
    ebb_plan *plan;
    problems pb;
    bool oom;
} build_ctx;

static char *dup(build_ctx *c, const char *s)
{
    char *d = strdup(s != NULL ? s : "");
    if (d == NULL)
        c->oom = true;
    return d;
}

/* "a", "a+b" for several heads, "base" when nothing is applied. */
static char *heads_text(build_ctx *c, const ebb_graph *g, const bool *applied)
{
    bool *child = calloc(g->count ? g->count : 1, sizeof *child);
    size_t len = 5;
    if (child == NULL) {
        c->oom = true;
        return NULL;
    }
    for (size_t i = 0; i < g->count; i++)
        if (applied[i])
            for (size_t p = 0; p < g->revs[i].n_parents; p++)
                child[g->revs[i].parents[p]] = true;
    for (size_t i = 0; i < g->count; i++)
        if (applied[i] && !child[i])
            len += strlen(g->revs[i].id) + 1;
    char *s = malloc(len);
    if (s == NULL) {
        free(child);
        c->oom = true;
        return NULL;
    }
    s[0] = '\0';
    for (size_t i = 0; i < g->count; i++)
        if (applied[i] && !child[i]) {
            if (s[0] != '\0')
                strcat(s, "+");
            strcat(s, g->revs[i].id);
        }
    if (s[0] == '\0')
        strcpy(s, "base");
    free(child);
    return s;
}

/* The agent target for this unit: -N for --steps, a tag's revision, or the parsed text. */
static bool unit_target(build_ctx *c, const unit *u, ebb_target *t)
{
    const ebb_plan_input *in = c->in;
    memset(t, 0, sizeof *t);
    if (in->steps > 0) {
        t->kind = EBB_TARGET_RELATIVE;
        t->steps = -in->steps;
        return true;
    }
    if (in->target[0] == '@') {
        for (size_t i = 0; i < u->db->n_tags; i++)
            if (strcmp(u->db->tags[i].name, in->target + 1) == 0) {
                t->kind = EBB_TARGET_REVISION;
                snprintf(t->id, sizeof t->id, "%s", u->db->tags[i].revision);
                return true;
            }
        problem(&c->pb, "%s/%s: target %s is not a tag of its graph", u->host->name, u->db->name,
                in->target);
        return false;
    }
    ebb_error e;
    if (ebb_target_parse(in->target, t, &e) != EBB_OK) {
        problem(&c->pb, "%s/%s: %s", u->host->name, u->db->name, e.msg);
        return false;
    }
    return true;
}

static void fill_steps(const ebb_plan_input *in, ebb_plan_host *h)
{
    h->n_steps = 0;
    h->steps[h->n_steps++] = EBB_JOB_PRECHECK;
    h->steps[h->n_steps++] = EBB_JOB_STOP_SERVICES;
    if (!in->skip_backup)
        h->steps[h->n_steps++] = EBB_JOB_BACKUP;
    h->steps[h->n_steps++] = EBB_JOB_MIGRATE;
    h->steps[h->n_steps++] = EBB_JOB_VERIFY;
    h->steps[h->n_steps++] = EBB_JOB_START_SERVICES;
    h->steps[h->n_steps++] = EBB_JOB_HEALTH;
}

/*
 * Plan one unit into *h. Returns false when the unit has a problem (recorded)
 * or needs no work (*skip_reason set, owned by the caller).
 */
static bool plan_unit(build_ctx *c, const unit *u, ebb_plan_host *h, char **skip_reason)
{
    const ebb_plan_input *in = c->in;
    const char *hn = u->host->name, *dn = u->db->name;
    if (!u->db->revision_known) {
        problem(&c->pb, "%s/%s: current revision unknown (the agent could not read the registry)",
                hn, dn);
        return false;
    }
    if (u->db->drift && !in->allow_drift) {
        problem(&c->pb,
                "%s/%s: drifted (the live schema differs from the registry); plan with "
                "allow_drift to go ahead",
                hn, dn);
        return false;
    }
    ebb_target t;
    if (!unit_target(c, u, &t))
        return false;
    ebb_graph g;
    ebb_error e;
    if (ebb_plan_graph_from_revs(u->db->revs, u->db->n_revs, u->db->graph_hash, &g, &e) != EBB_OK) {
        problem(&c->pb, "%s/%s: %s", hn, dn, e.msg);
        return false;
    }
    bool ok = false;
    ebb_state st = {NULL, 0};
    ebb_path path = {EBB_DIR_NONE, NULL, 0};
    bool *after = NULL;
    if (t.kind == EBB_TARGET_REVISION && ebb_graph_find(&g, t.id) < 0) {
        problem(&c->pb, "%s/%s: target %s is not in its migration graph (%zu revisions)", hn, dn,
                in->target, g.count);
        goto out;
    }
    if (ebb_state_from_ids(&g, u->db->applied, u->db->n_applied, &st, &e) != EBB_OK ||
        ebb_path_resolve(&g, &st, &t, &path, &e) != EBB_OK) {
        problem(&c->pb, "%s/%s: %s", hn, dn, e.msg);
        goto out;
    }
    if (in->kind == EBB_RUN_ROLLOUT && path.direction == EBB_DIR_DOWN) {
        problem(&c->pb, "%s/%s: a rollout to %s would revert %zu revision%s; use a rollback", hn,
                dn, in->target, path.count, path.count == 1 ? "" : "s");
        goto out;
    }
    if (in->kind == EBB_RUN_ROLLBACK && path.direction == EBB_DIR_UP) {
        problem(&c->pb, "%s/%s: a rollback to %s would apply %zu revision%s; use a rollout", hn, dn,
                in->target ? in->target : "?", path.count, path.count == 1 ? "" : "s");
        goto out;
    }
    after = malloc((g.count ? g.count : 1) * sizeof *after);
    if (after == NULL) {
        c->oom = true;
        goto out;
    }
    memcpy(after, st.applied, g.count * sizeof *after);
    bool up = path.direction == EBB_DIR_UP;
    h->reversible = true;
    for (size_t k = 0; k < path.count; k++) {
        const ebb_fleet_rev *r = &u->db->revs[path.steps[k]];
        after[path.steps[k]] = up;
        if (!up && !r->has_down) {
            problem(&c->pb, "%s/%s: revision %s has no down script, so it cannot be reverted", hn,
                    dn, r->id);
            goto out;
        }
        if (in->atomic && (up ? r->no_transaction : r->down_no_transaction)) {
            problem(&c->pb,
                    "%s/%s: revision %s must run outside a transaction, so it cannot be part of "
                    "an atomic wave",
                    hn, dn, r->id);
            goto out;
        }
        if (up ? r->up_data_loss : r->down_data_loss)
            h->data_at_risk = true;
        /* Undoing an up runs its down; undoing a down that lost data cannot bring it back. */
        if (up ? !r->has_down : r->down_data_loss)
            h->reversible = false;
    }
    if (path.direction == EBB_DIR_NONE) {
        char *now = heads_text(c, &g, st.applied);
        size_t len = (now ? strlen(now) : 0) + 32;
        *skip_reason = malloc(len);
        if (*skip_reason == NULL || now == NULL)
            c->oom = true;
        else
            snprintf(*skip_reason, len, "already at %s", now);
        free(now);
        goto out;
    }
    h->host = dup(c, hn);
    h->db = dup(c, dn);
    h->graph_hash = dup(c, u->db->graph_hash);
    h->from = heads_text(c, &g, st.applied);
    h->to = heads_text(c, &g, after);
    h->direction = path.direction;
    h->drift = u->db->drift;
    h->path = calloc(path.count, sizeof *h->path);
    if (h->path == NULL) {
        c->oom = true;
        goto out;
    }
    h->n_path = path.count;
    for (size_t k = 0; k < path.count; k++)
        h->path[k] = dup(c, g.revs[path.steps[k]].id);
    fill_steps(in, h);
    ok = true;
out:
    free(after);
    ebb_path_fini(&path);
    ebb_state_fini(&st);
    ebb_graph_fini(&g);
    return ok;
}

static void host_fini(ebb_plan_host *h)
{
    free(h->host);
    free(h->db);
    free(h->graph_hash);
    free(h->from);
    free(h->to);
    for (size_t k = 0; k < h->n_path; k++)
        free(h->path[k]);
    free(h->path);
    memset(h, 0, sizeof *h);
}

/* ---- selection ---- */

static bool selected_name(const char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return true;
    return false;
}

static const ebb_fleet_host *find_host(const ebb_fleet *f, const char *name)
{
    for (size_t i = 0; i < f->n_hosts; i++)
        if (strcmp(f->hosts[i].name, name) == 0)
            return &f->hosts[i];
    return NULL;
}

static int unit_cmp(const void *a, const void *b)
{
    const unit *x = a, *y = b;
    if (x->host->canary != y->host->canary)
        return x->host->canary ? -1 : 1;
    int c = strcmp(x->host->name, y->host->name);
    return c != 0 ? c : strcmp(x->db->name, y->db->name);
}

static void add_skip(build_ctx *c, const char *host, const char *db, char *reason)
{
    ebb_plan *p = c->plan;
    ebb_plan_skip *s = realloc(p->skipped, (p->n_skipped + 1) * sizeof *s);
    if (s == NULL || reason == NULL) {
        free(reason);
        c->oom = true;
        return;
    }
    p->skipped = s;
    s[p->n_skipped].host = dup(c, host);
    s[p->n_skipped].db = db ? dup(c, db) : NULL;
    s[p->n_skipped].reason = reason;
    p->n_skipped++;
}

/* The units the selection names, in canary-then-name order. *n_out = 0 on a problem. */
static unit *select_units(build_ctx *c, size_t *n_out, const char **env_out)
{
    const ebb_plan_input *in = c->in;
    const ebb_fleet *f = in->fleet;
    const ebb_selection *sel = &in->selection;
    const char *env = sel->env;
    *n_out = 0;
    for (size_t i = 0; i < sel->n_hosts; i++) {
        const ebb_fleet_host *h = find_host(f, sel->hosts[i]);
        if (h == NULL)
            problem(&c->pb, "host %s is not in the inventory", sel->hosts[i]);
        else if (env == NULL)
            env = h->env;
        else if (strcmp(h->env, env) != 0)
            problem(&c->pb, "host %s is in environment %s, not %s (a run covers one environment)",
                    h->name, h->env, env);
    }
    *env_out = env;
    if (c->pb.count)
        return NULL;
    size_t cap = 0;
    for (size_t i = 0; i < f->n_hosts; i++)
        cap += f->hosts[i].n_dbs;
    unit *units = calloc(cap ? cap : 1, sizeof *units);
    if (units == NULL) {
        c->oom = true;
        return NULL;
    }
    size_t n = 0, n_hosts = 0, n_dead = 0;
    for (size_t i = 0; i < f->n_hosts; i++) {
        const ebb_fleet_host *h = &f->hosts[i];
        if (strcmp(h->env, env) != 0 ||
            (sel->n_hosts && !selected_name(sel->hosts, sel->n_hosts, h->name)))
            continue;
        n_hosts++;
        long long quiet = in->now - h->last_seen;
        if (quiet > f->liveness_s) {
            if (in->skip_dead) {
                char *why = malloc(96);
                if (why != NULL)
                    snprintf(why, 96, "not alive (last seen %llds ago)", quiet);
                add_skip(c, h->name, NULL, why);
            } else {
                problem(&c->pb,
                        "host %s is not alive (last seen %llds ago, liveness %lds); plan with "
                        "skip_dead to leave it out",
                        h->name, quiet, f->liveness_s);
            }
            n_dead++;
            continue;
        }
        for (size_t d = 0; d < sel->n_dbs; d++) {
            bool found = false;
            for (size_t k = 0; k < h->n_dbs; k++)
                found = found || strcmp(h->dbs[k].name, sel->dbs[d]) == 0;
            if (!found)
                problem(&c->pb, "database %s is missing on host %s", sel->dbs[d], h->name);
        }
        for (size_t k = 0; k < h->n_dbs; k++)
            if (!sel->n_dbs || selected_name(sel->dbs, sel->n_dbs, h->dbs[k].name))
                units[n++] = (unit){h, &h->dbs[k]};
    }
    if (n_hosts == 0)
        problem(&c->pb, "no hosts selected (environment %s%s)", env,
                sel->n_hosts ? ", named hosts" : "");
    else if (n_dead == n_hosts && in->skip_dead)
        problem(&c->pb, "no alive hosts selected (all %zu not alive)", n_dead);
    if (n > 1)
        qsort(units, n, sizeof *units, unit_cmp);
    *n_out = n;
    return units;
}

/* ---- waves and budget ---- */

static void build_waves(build_ctx *c)
{
    ebb_plan *p = c->plan;
    const ebb_strategy *s = &p->strategy;
    size_t n = p->n_hosts;
    p->waves = calloc(n ? n : 1, sizeof *p->waves); /* at most one wave per unit */
    if (p->waves == NULL) {
        c->oom = true;
        return;
    }
    size_t i = 0;
    if (s->canary > 0 && n > 0) {
        size_t k = s->canary < n ? s->canary : n;
        p->waves[p->n_waves++] = (ebb_plan_wave){0, k, true, false};
        i = k;
    }
    size_t batch = s->batch_count;
    if (batch == 0 && s->batch_percent > 0)
        batch = (n * s->batch_percent + 99) / 100;
    if (batch == 0)
        batch = n - i;
    if (batch == 0)
        batch = 1;
    while (i < n) {
        size_t k = n - i < batch ? n - i : batch;
        p->waves[p->n_waves++] = (ebb_plan_wave){i, k, false, false};
        i += k;
    }
    for (size_t w = 1; w < p->n_waves; w++)
        p->waves[w].gate = s->gate == EBB_GATE_EVERY_WAVE ||
                           (s->gate == EBB_GATE_AFTER_CANARY && w == 1 && p->waves[0].canary);
    for (size_t w = 0; w < p->n_waves; w++) {
        const ebb_plan_wave *wv = &p->waves[w];
        const ebb_plan_host *first = &p->hosts[wv->first];
        for (size_t k = wv->first; k < wv->first + wv->count; k++) {
            p->hosts[k].wave = w;
            if (strcmp(p->hosts[k].graph_hash, first->graph_hash) != 0)
                problem(&c->pb,
                        "wave %zu mixes migration graphs: %s/%s has %.12s, %s/%s has %.12s "
                        "(hosts of one wave must share a graph)",
                        w + 1, first->host, first->db, first->graph_hash, p->hosts[k].host,
                        p->hosts[k].db, p->hosts[k].graph_hash);
        }
    }
    p->budget = s->budget_is_percent ? n * s->budget_percent / 100 : s->budget_count;
}

/* A string every planned unit shares (field at offset), or NULL. */
static char *common_field(build_ctx *c, size_t offset)
{
    const ebb_plan *p = c->plan;
    if (p->n_hosts == 0)
        return NULL;
    const char *first = *(char *const *)((const char *)&p->hosts[0] + offset);
    for (size_t i = 1; i < p->n_hosts; i++)
        if (strcmp(*(char *const *)((const char *)&p->hosts[i] + offset), first) != 0)
            return NULL;
    return dup(c, first);
}

static ebb_code check_input(const ebb_plan_input *in, ebb_error *err)
{
    if (in->fleet == NULL)
        return ebb_error_set(err, EBB_E_INVALID, "plan: no fleet state given");
    if ((in->target == NULL || in->target[0] == '\0') == (in->steps <= 0))
        return ebb_error_set(err, EBB_E_INVALID,
                             "plan: give exactly one of a target (--to) or a number of steps "
                             "(--steps)");
    if (in->steps > 0 && in->kind != EBB_RUN_ROLLBACK)
        return ebb_error_set(err, EBB_E_INVALID,
                             "plan: --steps is for rollbacks; a rollout "
                             "names its target with --to");
    if (in->kind == EBB_RUN_ROLLBACK && (in->reason == NULL || in->reason[0] == '\0'))
        return ebb_error_set(err, EBB_E_INVALID, "plan: a rollback needs a reason (--reason)");
    if (in->selection.env == NULL && in->selection.n_hosts == 0)
        return ebb_error_set(err, EBB_E_INVALID, "plan: select an environment or hosts");
    if (in->strategy.batch_percent > 100 || in->strategy.budget_percent > 100)
        return ebb_error_set(err, EBB_E_INVALID,
                             "plan: percentages are at most 100 "
                             "(batch %u%%, budget %u%%)",
                             in->strategy.batch_percent, in->strategy.budget_percent);
    if (in->strategy.soak_s < 0)
        return ebb_error_set(err, EBB_E_INVALID, "plan: negative soak time %lds",
                             in->strategy.soak_s);
    return EBB_OK;
}

ebb_code ebb_plan_build(const ebb_plan_input *in, ebb_plan *out, ebb_error *err)
{
    ebb_code rc = check_input(in, err);
    if (rc != EBB_OK)
        return rc;
    ebb_plan p;
    memset(&p, 0, sizeof p);
    build_ctx c = {.in = in, .plan = &p};
    p.kind = in->kind;
    p.created_at = in->now;
    p.strategy = in->strategy;
    p.atomic = in->atomic;
    p.dry_run = in->dry_run;
    p.allow_drift = in->allow_drift;
    p.skip_backup = in->skip_backup;
    p.accept_data_loss = in->accept_data_loss;
    char steps_text[32];
    snprintf(steps_text, sizeof steps_text, "-%ld", in->steps);
    p.target = dup(&c, in->steps > 0 ? steps_text : in->target);
    p.requester = dup(&c, in->requester);
    p.reason = dup(&c, in->reason);
    size_t n_units = 0;
    const char *env = NULL;
    unit *units = select_units(&c, &n_units, &env);
    p.env = dup(&c, env);
    if (units != NULL && c.pb.count == 0) {
        p.hosts = calloc(n_units ? n_units : 1, sizeof *p.hosts);
        if (p.hosts == NULL)
            c.oom = true;
        for (size_t i = 0; p.hosts != NULL && i < n_units && !c.oom; i++) {
            char *skip = NULL;
            ebb_plan_host *h = &p.hosts[p.n_hosts];
            if (plan_unit(&c, &units[i], h, &skip)) {
                p.data_at_risk = p.data_at_risk || h->data_at_risk;
                p.n_hosts++;
            } else {
                host_fini(h); /* a failed unit may hold partial strings */
                if (skip != NULL)
                    add_skip(&c, units[i].host->name, units[i].db->name, skip);
            }
        }
    }
    free(units);
    if (!c.oom && c.pb.count == 0)
        build_waves(&c);
    if (!c.oom && c.pb.count == 0) {
        p.graph_hash = common_field(&c, offsetof(ebb_plan_host, graph_hash));
        p.target_rev = common_field(&c, offsetof(ebb_plan_host, to));
    }
    if (c.oom) {
        ebb_plan_fini(&p);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory building a plan");
    }
    if (c.pb.count) {
        ebb_plan_fini(&p);
        return refuse(&c.pb, err);
    }
    *out = p;
    return EBB_OK;
}

void ebb_plan_fini(ebb_plan *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n_hosts; i++)
        host_fini(&p->hosts[i]);
    free(p->hosts);
    for (size_t i = 0; i < p->n_skipped; i++) {
        free(p->skipped[i].host);
        free(p->skipped[i].db);
        free(p->skipped[i].reason);
    }
    free(p->skipped);
    free(p->waves);
    free(p->target);
    free(p->target_rev);
    free(p->env);
    free(p->requester);
    free(p->reason);
    free(p->graph_hash);
    memset(p, 0, sizeof *p);
}

ebb_code ebb_plan_hash(const ebb_plan *plan, char out[EBB_PLAN_HASH_HEX], ebb_error *err)
{
    char *json = NULL;
    ebb_code rc = ebb_plan_render_json(plan, NULL, true, &json, err);
    if (rc != EBB_OK)
        return rc;
    unsigned char d[32];
    crypto_generichash(d, sizeof d, (const unsigned char *)json, strlen(json), NULL, 0);
    free(json);
    sodium_bin2hex(out, EBB_PLAN_HASH_HEX, d, sizeof d);
    return EBB_OK;
}
