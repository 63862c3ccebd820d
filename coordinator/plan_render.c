/* Plans as human text and as JSON (jansson): what operators read, what scripts and golden files
 * compare. */
#include "coordinator/plan_render.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *ebb_direction_name(ebb_direction dir)
{
    switch (dir) {
    case EBB_DIR_UP:
        return "up";
    case EBB_DIR_DOWN:
        return "down";
    default:
        return "none";
    }
}

/* ---- JSON ---- */

static json_t *str_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

static json_t *host_json(const ebb_plan_host *h)
{
    json_t *o = json_object();
    json_t *path = json_array(), *steps = json_array();
    if (o == NULL || path == NULL || steps == NULL) {
        json_decref(o);
        json_decref(path);
        json_decref(steps);
        return NULL;
    }
    for (size_t k = 0; k < h->n_path; k++)
        json_array_append_new(path, json_string(h->path[k]));
    for (size_t k = 0; k < h->n_steps; k++)
        json_array_append_new(steps, json_string(ebb_job_kind_name(h->steps[k])));
    json_object_set_new(o, "host", json_string(h->host));
    json_object_set_new(o, "database", json_string(h->db));
    json_object_set_new(o, "graph_hash", json_string(h->graph_hash));
    json_object_set_new(o, "from", json_string(h->from));
    json_object_set_new(o, "to", json_string(h->to));
    json_object_set_new(o, "direction", json_string(ebb_direction_name(h->direction)));
    json_object_set_new(o, "path", path);
    json_object_set_new(o, "steps", steps);
    json_object_set_new(o, "data_at_risk", json_boolean(h->data_at_risk));
    json_object_set_new(o, "reversible", json_boolean(h->reversible));
    json_object_set_new(o, "drift", json_boolean(h->drift));
    return o;
}

static json_t *strategy_json(const ebb_plan *p)
{
    const ebb_strategy *s = &p->strategy;
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    json_object_set_new(o, "canary", json_integer((json_int_t)s->canary));
    json_object_set_new(o, "batch_count", json_integer((json_int_t)s->batch_count));
    json_object_set_new(o, "batch_percent", json_integer((json_int_t)s->batch_percent));
    json_object_set_new(o, "max_parallel", json_integer((json_int_t)s->max_parallel));
    if (s->budget_is_percent)
        json_object_set_new(o, "budget_percent", json_integer((json_int_t)s->budget_percent));
    else
        json_object_set_new(o, "budget_count", json_integer((json_int_t)s->budget_count));
    json_object_set_new(o, "soak_s", json_integer((json_int_t)s->soak_s));
    json_object_set_new(o, "gate", json_string(ebb_gate_mode_name(s->gate)));
    json_object_set_new(o, "on_failure", json_string(ebb_on_failure_name(s->on_failure)));
    return o;
}

static json_t *policy_json(const ebb_policy_result *r)
{
    json_t *o = json_object(), *reasons = json_array();
    if (o == NULL || reasons == NULL) {
        json_decref(o);
        json_decref(reasons);
        return NULL;
    }
    for (size_t i = 0; i < r->n_reasons; i++)
        json_array_append_new(reasons, json_string(r->reasons[i]));
    json_object_set_new(o, "verdict", json_string(ebb_policy_verdict_name(r->verdict)));
    json_object_set_new(o, "refusal",
                        r->verdict == EBB_POLICY_REFUSED ? json_string(r->refusal) : json_null());
    json_object_set_new(o, "approvals_needed", json_integer(r->approvals_needed));
    json_object_set_new(o, "approvals_counted", json_integer(r->approvals_counted));
    json_object_set_new(o, "approval_reasons", reasons);
    return o;
}

json_t *ebb_plan_to_json(const ebb_plan *p, const ebb_policy_result *policy)
{
    json_t *o = json_object(), *waves = json_array(), *skipped = json_array();
    bool ok = o != NULL && waves != NULL && skipped != NULL;
    for (size_t w = 0; ok && w < p->n_waves; w++) {
        const ebb_plan_wave *wv = &p->waves[w];
        json_t *wo = json_object(), *hosts = json_array();
        ok = wo != NULL && hosts != NULL;
        for (size_t k = wv->first; ok && k < wv->first + wv->count; k++) {
            json_t *h = host_json(&p->hosts[k]);
            ok = h != NULL && json_array_append_new(hosts, h) == 0;
        }
        if (!ok) {
            json_decref(wo);
            json_decref(hosts);
            break;
        }
        json_object_set_new(wo, "wave", json_integer((json_int_t)w + 1));
        json_object_set_new(wo, "canary", json_boolean(wv->canary));
        json_object_set_new(wo, "gate", json_boolean(wv->gate));
        json_object_set_new(wo, "hosts", hosts);
        json_array_append_new(waves, wo);
    }
    for (size_t i = 0; ok && i < p->n_skipped; i++) {
        json_t *s = json_object();
        ok = s != NULL;
        if (ok) {
            json_object_set_new(s, "host", json_string(p->skipped[i].host));
            json_object_set_new(s, "database", str_or_null(p->skipped[i].db));
            json_object_set_new(s, "reason", json_string(p->skipped[i].reason));
            json_array_append_new(skipped, s);
        }
    }
    json_t *strategy = ok ? strategy_json(p) : NULL;
    json_t *pol = ok && policy != NULL ? policy_json(policy) : NULL;
    if (!ok || strategy == NULL || (policy != NULL && pol == NULL)) {
        json_decref(o);
        json_decref(waves);
        json_decref(skipped);
        json_decref(strategy);
        json_decref(pol);
        return NULL;
    }
    json_object_set_new(o, "kind", json_string(ebb_run_kind_name(p->kind)));
    json_object_set_new(o, "target", json_string(p->target));
    json_object_set_new(o, "target_revision", str_or_null(p->target_rev));
    json_object_set_new(o, "environment", json_string(p->env));
    json_object_set_new(o, "requester", json_string(p->requester));
    json_object_set_new(o, "reason", json_string(p->reason));
    json_object_set_new(o, "created_at", json_integer((json_int_t)p->created_at));
    json_object_set_new(o, "graph_hash", str_or_null(p->graph_hash));
    json_object_set_new(o, "atomic", json_boolean(p->atomic));
    json_object_set_new(o, "dry_run", json_boolean(p->dry_run));
    json_object_set_new(o, "allow_drift", json_boolean(p->allow_drift));
    json_object_set_new(o, "skip_backup", json_boolean(p->skip_backup));
    json_object_set_new(o, "accept_data_loss", json_boolean(p->accept_data_loss));
    json_object_set_new(o, "data_at_risk", json_boolean(p->data_at_risk));
    json_object_set_new(o, "strategy", strategy);
    json_object_set_new(o, "failure_budget", json_integer((json_int_t)p->budget));
    json_object_set_new(o, "waves", waves);
    json_object_set_new(o, "skipped", skipped);
    if (pol != NULL)
        json_object_set_new(o, "policy", pol);
    return o;
}

ebb_code ebb_plan_render_json(const ebb_plan *plan, const ebb_policy_result *policy, bool canonical,
                              char **out, ebb_error *err)
{
    json_t *o = ebb_plan_to_json(plan, policy);
    if (o == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory rendering a plan as JSON");
    size_t flags = canonical ? (JSON_COMPACT | JSON_SORT_KEYS) : JSON_INDENT(2);
    char *s = json_dumps(o, flags | JSON_ENSURE_ASCII);
    json_decref(o);
    if (s == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory rendering a plan as JSON");
    *out = s;
    return EBB_OK;
}

/* ---- text ---- */

static void list_steps(FILE *f, const ebb_plan_host *h)
{
    for (size_t k = 0; k < h->n_steps; k++)
        fprintf(f, "%s%s", k ? ", " : "", ebb_job_kind_name(h->steps[k]));
}

static void host_text(FILE *f, const ebb_plan_host *h)
{
    fprintf(f, "  %s/%s  %s -> %s  %s %zu:", h->host, h->db, h->from, h->to,
            ebb_direction_name(h->direction), h->n_path);
    for (size_t k = 0; k < h->n_path; k++)
        fprintf(f, "%s%s", k ? ", " : " ", h->path[k]);
    if (h->data_at_risk)
        fputs("  [data at risk]", f);
    if (!h->reversible)
        fputs("  [back only by restore]", f);
    if (h->drift)
        fputs("  [drifted]", f);
    fputs("\n    steps: ", f);
    list_steps(f, h);
    fputc('\n', f);
}

static void policy_text(FILE *f, const ebb_policy_result *r)
{
    fprintf(f, "\npolicy: %s", ebb_policy_verdict_name(r->verdict));
    if (r->verdict == EBB_POLICY_REFUSED)
        fprintf(f, ": %s", r->refusal);
    else if (r->approvals_needed > 0)
        fprintf(f, " (%u of %u approval%s)", r->approvals_counted, r->approvals_needed,
                r->approvals_needed == 1 ? "" : "s");
    fputc('\n', f);
    for (size_t i = 0; i < r->n_reasons; i++)
        fprintf(f, "  approval: %s\n", r->reasons[i]);
}

static void header_text(FILE *f, const ebb_plan *p)
{
    const ebb_strategy *s = &p->strategy;
    fprintf(f, "plan: %s of %s to %s\n", ebb_run_kind_name(p->kind), p->env, p->target);
    fprintf(f, "requested by: %s\n", p->requester);
    fprintf(f, "reason: %s\n", p->reason[0] ? p->reason : "(none)");
    fprintf(f, "created at: %lld\n", p->created_at);
    fprintf(f, "target revision: %s\n", p->target_rev ? p->target_rev : "(differs per host)");
    fprintf(f, "graph: %.16s\n", p->graph_hash ? p->graph_hash : "(differs per wave)");
    fprintf(f, "mode: %s%s\n", p->atomic ? "atomic (prepare, then commit all)" : "staged",
            p->dry_run ? ", dry run (plan only)" : "");
    fprintf(f, "on failure: %s\n", ebb_on_failure_name(s->on_failure));
    fprintf(f, "failure budget: %zu host failure%s across the run", p->budget,
            p->budget == 1 ? "" : "s");
    if (s->budget_is_percent)
        fprintf(f, " (%u%%)", s->budget_percent);
    fputc('\n', f);
    fprintf(f, "soak: %lds between waves\n", s->soak_s);
    if (s->max_parallel)
        fprintf(f, "max parallel: %zu\n", s->max_parallel);
    else
        fputs("max parallel: no cap\n", f);
    if (p->allow_drift || p->skip_backup || p->accept_data_loss)
        fprintf(f, "options:%s%s%s\n", p->allow_drift ? " allow_drift" : "",
                p->skip_backup ? " skip_backup" : "",
                p->accept_data_loss ? " accept_data_loss" : "");
    fprintf(f, "units: %zu in %zu wave%s, %zu skipped\n", p->n_hosts, p->n_waves,
            p->n_waves == 1 ? "" : "s", p->n_skipped);
}

ebb_code ebb_plan_render_text(const ebb_plan *p, const ebb_policy_result *policy, char **out,
                              ebb_error *err)
{
    char *buf = NULL;
    size_t len = 0;
    /* A memory stream: fprintf formatting without a hand-made string builder. */
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL)
        return ebb_error_errno(err, EBB_E_NOMEM, errno, "rendering a plan");
    header_text(f, p);
    for (size_t w = 0; w < p->n_waves; w++) {
        const ebb_plan_wave *wv = &p->waves[w];
        fprintf(f, "\nwave %zu: %s, %zu unit%s%s\n", w + 1, wv->canary ? "canary" : "batch",
                wv->count, wv->count == 1 ? "" : "s", wv->gate ? ", gate: approval" : "");
        for (size_t k = wv->first; k < wv->first + wv->count; k++)
            host_text(f, &p->hosts[k]);
    }
    if (p->n_skipped) {
        fputs("\nskipped:\n", f);
        for (size_t i = 0; i < p->n_skipped; i++) {
            const ebb_plan_skip *s = &p->skipped[i];
            fprintf(f, "  %s%s%s: %s\n", s->host, s->db ? "/" : "", s->db ? s->db : "", s->reason);
        }
    }
    if (policy != NULL)
        policy_text(f, policy);
    bool failed = ferror(f) != 0;
    if (fclose(f) != 0 || failed || buf == NULL) {
        free(buf);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory rendering a plan");
    }
    *out = buf;
    return EBB_OK;
}
