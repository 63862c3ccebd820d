/* Plans, rollout events and configurations as journal JSON and back (see run_store.h). */
#include "coordinator/run_store.h"

#include <stdlib.h>
#include <string.h>

#include "coordinator/plan_render.h"

static char *jdup(const json_t *o, const char *key, bool nullable, bool *ok)
{
    const json_t *v = json_object_get(o, key);
    if (json_is_string(v)) {
        char *s = strdup(json_string_value(v));
        if (s == NULL)
            *ok = false;
        return s;
    }
    if (!(nullable && (v == NULL || json_is_null(v))))
        *ok = false;
    return NULL;
}

static long long jint(const json_t *o, const char *key, bool *ok)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v)) {
        *ok = false;
        return 0;
    }
    return json_integer_value(v);
}

static bool jbool(const json_t *o, const char *key, bool *ok)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_boolean(v)) {
        *ok = false;
        return false;
    }
    return json_is_true(v);
}

static bool job_kind_parse(const char *s, ebb_job_kind *out)
{
    for (int k = 0; k < EBB_JOB__COUNT; k++)
        if (strcmp(ebb_job_kind_name((ebb_job_kind)k), s) == 0) {
            *out = (ebb_job_kind)k;
            return true;
        }
    return false;
}

static bool host_from_json(const json_t *o, size_t wave, ebb_plan_host *h)
{
    bool ok = json_is_object(o);
    if (!ok)
        return false;
    h->host = jdup(o, "host", false, &ok);
    h->db = jdup(o, "database", false, &ok);
    h->graph_hash = jdup(o, "graph_hash", false, &ok);
    h->from = jdup(o, "from", false, &ok);
    h->to = jdup(o, "to", false, &ok);
    const char *dir = json_string_value(json_object_get(o, "direction"));
    if (dir == NULL)
        ok = false;
    else if (strcmp(dir, "up") == 0)
        h->direction = EBB_DIR_UP;
    else if (strcmp(dir, "down") == 0)
        h->direction = EBB_DIR_DOWN;
    else if (strcmp(dir, "none") == 0)
        h->direction = EBB_DIR_NONE;
    else
        ok = false;
    const json_t *path = json_object_get(o, "path"), *steps = json_object_get(o, "steps");
    if (!json_is_array(path) || !json_is_array(steps) ||
        json_array_size(steps) > EBB_PLAN_MAX_STEPS)
        return false;
    h->n_path = json_array_size(path);
    h->path = calloc(h->n_path ? h->n_path : 1, sizeof *h->path);
    if (h->path == NULL)
        return false;
    for (size_t k = 0; k < h->n_path; k++) {
        const char *s = json_string_value(json_array_get(path, k));
        if (s == NULL || (h->path[k] = strdup(s)) == NULL)
            ok = false;
    }
    h->n_steps = json_array_size(steps);
    for (size_t k = 0; k < h->n_steps; k++) {
        const char *s = json_string_value(json_array_get(steps, k));
        if (s == NULL || !job_kind_parse(s, &h->steps[k]))
            ok = false;
    }
    h->data_at_risk = jbool(o, "data_at_risk", &ok);
    h->reversible = jbool(o, "reversible", &ok);
    h->drift = jbool(o, "drift", &ok);
    h->wave = wave;
    return ok;
}

static bool strategy_from_json(const json_t *o, ebb_strategy *s)
{
    bool ok = json_is_object(o);
    if (!ok)
        return false;
    s->canary = (size_t)jint(o, "canary", &ok);
    s->batch_count = (size_t)jint(o, "batch_count", &ok);
    s->batch_percent = (unsigned)jint(o, "batch_percent", &ok);
    s->max_parallel = (size_t)jint(o, "max_parallel", &ok);
    s->budget_is_percent = json_object_get(o, "budget_percent") != NULL;
    if (s->budget_is_percent)
        s->budget_percent = (unsigned)jint(o, "budget_percent", &ok);
    else
        s->budget_count = (size_t)jint(o, "budget_count", &ok);
    s->soak_s = (long)jint(o, "soak_s", &ok);
    const char *gate = json_string_value(json_object_get(o, "gate"));
    const char *onf = json_string_value(json_object_get(o, "on_failure"));
    bool g = false, f = false;
    for (int m = EBB_GATE_NONE; gate && m <= EBB_GATE_EVERY_WAVE; m++)
        if (strcmp(gate, ebb_gate_mode_name((ebb_gate_mode)m)) == 0) {
            s->gate = (ebb_gate_mode)m;
            g = true;
        }
    for (int m = EBB_ON_FAILURE_HALT; onf && m <= EBB_ON_FAILURE_COMPENSATE; m++)
        if (strcmp(onf, ebb_on_failure_name((ebb_on_failure)m)) == 0) {
            s->on_failure = (ebb_on_failure)m;
            f = true;
        }
    return ok && g && f;
}

static bool skipped_from_json(const json_t *a, ebb_plan *p)
{
    if (!json_is_array(a))
        return false;
    p->n_skipped = json_array_size(a);
    if (p->n_skipped == 0)
        return true;
    p->skipped = calloc(p->n_skipped, sizeof *p->skipped);
    if (p->skipped == NULL) {
        p->n_skipped = 0;
        return false;
    }
    bool ok = true;
    for (size_t i = 0; i < p->n_skipped; i++) {
        const json_t *s = json_array_get(a, i);
        p->skipped[i].host = jdup(s, "host", false, &ok);
        p->skipped[i].db = jdup(s, "database", true, &ok);
        p->skipped[i].reason = jdup(s, "reason", false, &ok);
    }
    return ok;
}

static bool waves_from_json(const json_t *waves, ebb_plan *p)
{
    if (!json_is_array(waves))
        return false;
    size_t nw = json_array_size(waves), nh = 0;
    for (size_t w = 0; w < nw; w++)
        nh += json_array_size(json_object_get(json_array_get(waves, w), "hosts"));
    p->waves = calloc(nw ? nw : 1, sizeof *p->waves);
    p->hosts = calloc(nh ? nh : 1, sizeof *p->hosts);
    if (p->waves == NULL || p->hosts == NULL)
        return false;
    bool ok = true;
    size_t k = 0;
    for (size_t w = 0; w < nw && ok; w++) {
        const json_t *wo = json_array_get(waves, w);
        const json_t *hosts = json_object_get(wo, "hosts");
        if (!json_is_array(hosts))
            return false;
        p->waves[w].first = k;
        p->waves[w].count = json_array_size(hosts);
        p->waves[w].canary = jbool(wo, "canary", &ok);
        p->waves[w].gate = jbool(wo, "gate", &ok);
        p->n_waves = w + 1;
        for (size_t i = 0; i < p->waves[w].count && ok; i++) {
            ok = host_from_json(json_array_get(hosts, i), w, &p->hosts[k]);
            p->n_hosts = ++k;
        }
    }
    return ok;
}

ebb_code ebb_plan_from_json(const json_t *j, ebb_plan *out, ebb_error *err)
{
    ebb_plan p;
    memset(&p, 0, sizeof p);
    bool ok = json_is_object(j);
    if (ok) {
        const char *kind = json_string_value(json_object_get(j, "kind"));
        if (kind != NULL && strcmp(kind, ebb_run_kind_name(EBB_RUN_ROLLBACK)) == 0)
            p.kind = EBB_RUN_ROLLBACK;
        else if (kind == NULL || strcmp(kind, ebb_run_kind_name(EBB_RUN_ROLLOUT)) != 0)
            ok = false;
        p.target = jdup(j, "target", false, &ok);
        p.target_rev = jdup(j, "target_revision", true, &ok);
        p.env = jdup(j, "environment", false, &ok);
        p.requester = jdup(j, "requester", false, &ok);
        p.reason = jdup(j, "reason", false, &ok);
        p.created_at = jint(j, "created_at", &ok);
        p.graph_hash = jdup(j, "graph_hash", true, &ok);
        p.atomic = jbool(j, "atomic", &ok);
        p.dry_run = jbool(j, "dry_run", &ok);
        p.allow_drift = jbool(j, "allow_drift", &ok);
        p.skip_backup = jbool(j, "skip_backup", &ok);
        p.accept_data_loss = jbool(j, "accept_data_loss", &ok);
        p.data_at_risk = jbool(j, "data_at_risk", &ok);
        p.budget = (size_t)jint(j, "failure_budget", &ok);
        ok = ok && strategy_from_json(json_object_get(j, "strategy"), &p.strategy);
        ok = ok && waves_from_json(json_object_get(j, "waves"), &p);
        ok = ok && skipped_from_json(json_object_get(j, "skipped"), &p);
    }
    if (!ok) {
        ebb_plan_fini(&p);
        return ebb_error_set(err, EBB_E_INVALID,
                             "a recorded plan does not read back: a field is "
                             "missing or has the wrong type");
    }
    *out = p;
    return EBB_OK;
}

static const char *const event_names[] = {"start",  "result", "tick",   "halt",
                                          "resume", "abort",  "approve"};

const char *ebb_rollout_event_name(ebb_rollout_event_kind kind)
{
    if ((size_t)kind < sizeof event_names / sizeof event_names[0])
        return event_names[kind];
    return "?";
}

static const char *const change_names[] = {
    [EBB_CHANGE_UNKNOWN] = "unknown", [EBB_CHANGE_NONE] = "none", [EBB_CHANGE_SOME] = "some"};
#define EVENT_ENGINE 2

json_t *ebb_rollout_event_to_json(const ebb_rollout_event *ev)
{
    json_t *o = json_pack("{s:s}", "kind", ebb_rollout_event_name(ev->kind));
    if (o == NULL)
        return NULL;
    if (ev->kind == EBB_EV_RESULT) {
        json_object_set_new(o, "job_id", json_string(ev->job_id ? ev->job_id : ""));
        json_object_set_new(o, "ok", json_boolean(ev->ok));
        if (ev->error != NULL)
            json_object_set_new(o, "error", json_string(ev->error));
        if (ev->backup_id != NULL)
            json_object_set_new(o, "backup_id", json_string(ev->backup_id));
        if (!ev->ok)
            json_object_set_new(o, "change", json_string(change_names[ev->change]));
    }
    if (ev->operator_key != NULL)
        json_object_set_new(o, "operator_key_id", json_string(ev->operator_key));
    /* Records without it were written before failed units were restored or restarted. */
    if (!ev->legacy)
        json_object_set_new(o, "engine", json_integer(EVENT_ENGINE));
    return o;
}

ebb_code ebb_rollout_event_from_json(const json_t *j, ebb_rollout_event *out, ebb_error *err)
{
    ebb_rollout_event ev;
    memset(&ev, 0, sizeof ev);
    const char *kind = json_string_value(json_object_get(j, "kind"));
    size_t k = 0;
    while (kind != NULL && k < sizeof event_names / sizeof event_names[0] &&
           strcmp(event_names[k], kind) != 0)
        k++;
    if (kind == NULL || k == sizeof event_names / sizeof event_names[0])
        return ebb_error_set(err, EBB_E_INVALID, "a recorded event has no known kind");
    ev.kind = (ebb_rollout_event_kind)k;
    ev.job_id = json_string_value(json_object_get(j, "job_id"));
    ev.ok = json_is_true(json_object_get(j, "ok"));
    ev.error = json_string_value(json_object_get(j, "error"));
    ev.backup_id = json_string_value(json_object_get(j, "backup_id"));
    ev.operator_key = json_string_value(json_object_get(j, "operator_key_id"));
    ev.legacy = json_integer_value(json_object_get(j, "engine")) < EVENT_ENGINE;
    const char *change = json_string_value(json_object_get(j, "change"));
    for (size_t c = 0; change != NULL && c < sizeof change_names / sizeof change_names[0]; c++)
        if (strcmp(change, change_names[c]) == 0)
            ev.change = (ebb_result_change)c;
    if (ev.kind == EBB_EV_RESULT && ev.job_id == NULL)
        return ebb_error_set(err, EBB_E_INVALID, "a recorded result event has no job id");
    *out = ev;
    return EBB_OK;
}

json_t *ebb_rollout_config_to_json(const ebb_rollout_config *c)
{
    json_t *t = json_object();
    for (int k = 0; t != NULL && k < EBB_JOB__COUNT; k++)
        json_object_set_new(t, ebb_job_kind_name((ebb_job_kind)k),
                            json_integer((json_int_t)c->timeout_s[k]));
    return json_pack("{s:o, s:I, s:I, s:i, s:i, s:i}", "timeout_s", t ? t : json_object(),
                     "default_timeout_s", (json_int_t)c->default_timeout_s, "silent_timeout_s",
                     (json_int_t)c->silent_timeout_s, "health_retries", (int)c->health_retries,
                     "approvals_needed", (int)c->approvals_needed, "gate_approvals",
                     (int)c->gate_approvals);
}

ebb_code ebb_rollout_config_from_json(const json_t *j, ebb_rollout_config *out, ebb_error *err)
{
    ebb_rollout_config c;
    memset(&c, 0, sizeof c);
    bool ok = json_is_object(j);
    const json_t *t = json_object_get(j, "timeout_s");
    for (int k = 0; ok && k < EBB_JOB__COUNT; k++)
        c.timeout_s[k] = (long)jint(t, ebb_job_kind_name((ebb_job_kind)k), &ok);
    if (ok) {
        c.default_timeout_s = (long)jint(j, "default_timeout_s", &ok);
        c.silent_timeout_s = (long)jint(j, "silent_timeout_s", &ok);
        c.health_retries = (unsigned)jint(j, "health_retries", &ok);
        c.approvals_needed = (unsigned)jint(j, "approvals_needed", &ok);
        c.gate_approvals = (unsigned)jint(j, "gate_approvals", &ok);
    }
    if (!ok)
        return ebb_error_set(err, EBB_E_INVALID, "a recorded rollout configuration is malformed");
    *out = c;
    return EBB_OK;
}
