/* Folding audit records into one row per run, and the filters over those rows. */
#include "coordinator/audit.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct ebb_audit_history {
    ebb_audit_run **runs;
    size_t n, cap;
};

ebb_audit_history *ebb_audit_history_alloc(void)
{
    return calloc(1, sizeof(ebb_audit_history));
}

static void strings_fini(ebb_audit_strings *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->items[i]);
    free(s->items);
    memset(s, 0, sizeof *s);
}

static bool strings_has(const ebb_audit_strings *s, const char *v)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->items[i], v) == 0)
            return true;
    return false;
}

/* Add v unless present; false when out of memory. NULL or "" is ignored. */
static bool strings_add(ebb_audit_strings *s, const char *v)
{
    if (v == NULL || v[0] == '\0' || strings_has(s, v))
        return true;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4;
        char **items = realloc(s->items, cap * sizeof *items);
        if (items == NULL)
            return false;
        s->items = items;
        s->cap = cap;
    }
    if ((s->items[s->n] = strdup(v)) == NULL)
        return false;
    s->n++;
    return true;
}

static void run_free(ebb_audit_run *r)
{
    if (r == NULL)
        return;
    free(r->run_id);
    free(r->operator_key_id);
    free(r->operator_name);
    free(r->reason);
    free(r->environment);
    free(r->target);
    free(r->plan_hash);
    strings_fini(&r->approvers);
    strings_fini(&r->actors);
    strings_fini(&r->hosts);
    strings_fini(&r->databases);
    strings_fini(&r->restored_hosts);
    strings_fini(&r->compensated_hosts);
    json_decref(r->records);
    free(r);
}

void ebb_audit_history_free(ebb_audit_history *h)
{
    if (h == NULL)
        return;
    for (size_t i = 0; i < h->n; i++)
        run_free(h->runs[i]);
    free(h->runs);
    free(h);
}

size_t ebb_audit_history_count(const ebb_audit_history *h)
{
    return h->n;
}

const ebb_audit_run *ebb_audit_history_run(const ebb_audit_history *h, size_t i)
{
    return i < h->n ? h->runs[i] : NULL;
}

static ebb_audit_run *find_or_add(ebb_audit_history *h, const char *run_id, int64_t ts_ms)
{
    /* Newest first: records mostly belong to recent runs. */
    for (size_t i = h->n; i-- > 0;)
        if (strcmp(h->runs[i]->run_id, run_id) == 0)
            return h->runs[i];
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 16;
        ebb_audit_run **runs = realloc(h->runs, cap * sizeof *runs);
        if (runs == NULL)
            return NULL;
        h->runs = runs;
        h->cap = cap;
    }
    ebb_audit_run *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->run_id = strdup(run_id);
    r->records = json_array();
    if (r->run_id == NULL || r->records == NULL) {
        run_free(r);
        return NULL;
    }
    r->started_ms = ts_ms;
    r->outcome = "running";
    h->runs[h->n++] = r;
    return r;
}

static const char *pstr(const json_t *payload, const char *key)
{
    return json_string_value(json_object_get(payload, key));
}

/* Replace *dst with a copy of v (when v is set); false when out of memory. */
static bool set_copy(char **dst, const char *v)
{
    if (v == NULL)
        return true;
    char *c = strdup(v);
    if (c == NULL)
        return false;
    free(*dst);
    *dst = c;
    return true;
}

static bool fold_request(ebb_audit_run *r, const ebb_journal_record *rec)
{
    const json_t *p = rec->payload;
    r->requested = true;
    r->started_ms = rec->ts_ms;
    const char *kind = pstr(p, "kind");
    r->kind =
        kind && strcmp(kind, "rollback") == 0 ? EBB_AUDIT_KIND_ROLLBACK : EBB_AUDIT_KIND_ROLLOUT;
    bool ok = set_copy(&r->operator_key_id, pstr(p, "operator_key_id")) &&
              set_copy(&r->operator_name, pstr(p, "operator_name")) &&
              set_copy(&r->reason, pstr(p, "reason")) &&
              set_copy(&r->environment, pstr(p, "environment")) &&
              set_copy(&r->target, pstr(p, "target")) &&
              set_copy(&r->plan_hash, pstr(p, "plan_hash")) &&
              strings_add(&r->actors, pstr(p, "operator_key_id")) &&
              strings_add(&r->actors, pstr(p, "operator_name"));
    size_t i;
    json_t *host;
    json_array_foreach(json_object_get(p, "hosts"), i, host)
    {
        ok = ok && strings_add(&r->hosts, json_string_value(host));
    }
    return ok;
}

static bool fold_step(ebb_audit_run *r, const json_t *p)
{
    const char *outcome = pstr(p, "outcome");
    const char *step = pstr(p, "step");
    r->steps++;
    if (outcome != NULL && strcmp(outcome, "ok") != 0 && strcmp(outcome, "skipped") != 0)
        r->failed_steps++;
    bool ok =
        strings_add(&r->hosts, pstr(p, "host")) && strings_add(&r->databases, pstr(p, "database"));
    if (ok && step != NULL && strcmp(step, "restore") == 0)
        ok = strings_add(&r->restored_hosts, pstr(p, "host"));
    return ok;
}

ebb_code ebb_audit_history_add(ebb_audit_history *h, const ebb_journal_record *rec, ebb_error *err)
{
    if (strncmp(rec->type, "audit.", 6) != 0)
        return EBB_OK;
    const json_t *p = rec->payload;
    const char *run_id = pstr(p, "run_id");
    if (run_id == NULL || run_id[0] == '\0')
        return ebb_error_set(err, EBB_E_INVALID,
                             "audit record seq %" PRIu64 " (%s, line %" PRIu64 ") has no run_id",
                             rec->seq, rec->type, rec->line);
    ebb_audit_run *r = find_or_add(h, run_id, rec->ts_ms);
    if (r == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory folding audit record %" PRIu64,
                             rec->seq);
    const char *t = rec->type;
    bool ok = true;
    if (strcmp(t, EBB_AUDIT_RUN_REQUESTED) == 0) {
        ok = fold_request(r, rec);
    } else if (strcmp(t, EBB_AUDIT_APPROVAL) == 0) {
        ok = strings_add(&r->approvers, pstr(p, "operator_key_id")) &&
             strings_add(&r->actors, pstr(p, "operator_key_id")) &&
             strings_add(&r->actors, pstr(p, "operator_name"));
    } else if (strcmp(t, EBB_AUDIT_STEP_RESULT) == 0) {
        ok = fold_step(r, p);
    } else if (strcmp(t, EBB_AUDIT_HALT) == 0 || strcmp(t, EBB_AUDIT_RESUME) == 0 ||
               strcmp(t, EBB_AUDIT_ABORT) == 0) {
        ok = strings_add(&r->actors, pstr(p, "operator_key_id"));
        if (r->ended_ms == 0)
            r->outcome = strcmp(t, EBB_AUDIT_HALT) == 0 ? "halted" : "running";
    } else if (strcmp(t, EBB_AUDIT_COMPENSATION) == 0) {
        ok = strings_add(&r->compensated_hosts, pstr(p, "host")) &&
             strings_add(&r->hosts, pstr(p, "host")) &&
             strings_add(&r->databases, pstr(p, "database"));
    } else if (strcmp(t, EBB_AUDIT_RUN_END) == 0) {
        const char *o = pstr(p, "outcome");
        r->outcome = "failed";
        for (int k = EBB_AUDIT_RUN_SUCCEEDED; o != NULL && k <= EBB_AUDIT_RUN_COMPENSATED; k++)
            if (strcmp(o, ebb_audit_run_outcome_name((ebb_audit_run_outcome)k)) == 0)
                r->outcome = ebb_audit_run_outcome_name((ebb_audit_run_outcome)k);
        r->ended_ms = rec->ts_ms;
    }
    /* Other audit.* types (from newer coordinators) are kept in records only. */
    json_t *entry =
        json_pack("{s:I,s:I,s:s,s:O}", "seq", (json_int_t)rec->seq, "ts", (json_int_t)rec->ts_ms,
                  "type", rec->type, "payload", (json_t *)rec->payload);
    if (!ok || entry == NULL || json_array_append_new(r->records, entry) != 0)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory folding audit record %" PRIu64,
                             rec->seq);
    return EBB_OK;
}

ebb_code ebb_audit_history_fold_fn(const ebb_journal_record *rec, void *ctx, bool *stop,
                                   ebb_error *err)
{
    return ebb_audit_history_add(ctx, rec, err);
}

ebb_code ebb_audit_history_load(ebb_audit_history *h, const char *path,
                                const ebb_public_key *trust_key, ebb_journal_report *report,
                                ebb_error *err)
{
    return ebb_journal_scan(path, trust_key, 0, ebb_audit_history_fold_fn, h, report, err);
}

static bool eq(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

bool ebb_audit_run_matches(const ebb_audit_run *run, const ebb_audit_filter *f)
{
    if (f == NULL)
        return true;
    if (f->since_ms > 0 && run->started_ms < f->since_ms)
        return false;
    if (f->until_ms > 0 && run->started_ms >= f->until_ms)
        return false;
    if (f->environment && !eq(run->environment, f->environment))
        return false;
    if (f->host && !strings_has(&run->hosts, f->host))
        return false;
    if (f->database && !strings_has(&run->databases, f->database))
        return false;
    if (f->operator_id && !strings_has(&run->actors, f->operator_id))
        return false;
    if (f->outcome && !eq(run->outcome, f->outcome))
        return false;
    if (f->run_id && !eq(run->run_id, f->run_id))
        return false;
    return true;
}

void ebb_audit_run_method(const ebb_audit_run *run, char *buf, size_t size)
{
    if (!run->requested) {
        snprintf(buf, size, "-");
        return;
    }
    int n = snprintf(buf, size, "%s to %s", ebb_audit_kind_name(run->kind),
                     run->target ? run->target : "?");
    size_t used = n < 0 ? 0 : (size_t)n;
    if (run->restored_hosts.n > 0 && used < size) {
        n = snprintf(buf + used, size - used, "; restored from backup on %zu host%s",
                     run->restored_hosts.n, run->restored_hosts.n == 1 ? "" : "s");
        used += n < 0 ? 0 : (size_t)n;
    }
    if (run->compensated_hosts.n > 0 && used < size)
        snprintf(buf + used, size - used, "; compensated on %zu host%s", run->compensated_hosts.n,
                 run->compensated_hosts.n == 1 ? "" : "s");
}
