/* A probed risk report as JSON (for --json, events and the agent's precheck) and as lines of text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/risk_probe.h"
#include "common/strbuf.h"

static json_t *name_json(const ebb_risk_name *n)
{
    char buf[300];
    if (n->schema[0] != '\0')
        snprintf(buf, sizeof buf, "%s.%s", n->schema, n->name);
    else
        snprintf(buf, sizeof buf, "%s", n->name);
    return json_string(buf);
}

static json_t *probe_json(const ebb_risk_probe *p)
{
    const ebb_risk_finding *f = &p->found;
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    json_object_set_new(o, "kind", json_string(ebb_risk_probe_kind_name(p->kind)));
    json_object_set_new(o, "target", name_json(&p->target));
    if (p->n_keys > 0 && p->keys[0].column != NULL &&
        (p->kind == EBB_PROBE_NONNULL_IN_COLUMN || p->kind == EBB_PROBE_NULLS ||
         p->kind == EBB_PROBE_NARROWING_TYPE))
        json_object_set_new(o, "column", json_string(p->keys[0].column));
    json_object_set_new(o, "status", json_string(ebb_risk_probe_status_name(f->status)));
    if (f->status == EBB_PROBE_DONE) {
        json_object_set_new(o, "count", json_integer(f->count));
        json_object_set_new(o, "rows", json_integer(f->rows));
        json_object_set_new(o, "estimate", json_boolean(f->estimate));
        json_object_set_new(o, "at_least", json_boolean(f->at_least));
    }
    json_t *ex = json_array();
    for (size_t i = 0; ex != NULL && i < f->n_examples; i++)
        json_array_append_new(ex, json_string(f->examples[i]));
    json_object_set_new(o, "examples", ex);
    if (f->note != NULL)
        json_object_set_new(o, "note", json_string(f->note));
    if (f->changed_by != NULL)
        json_object_set_new(o, "changed_by", json_string(f->changed_by));
    return o;
}

json_t *ebb_risk_report_json(const ebb_risk_report *report, bool all_items)
{
    ebb_risk_summary s;
    ebb_risk_summarize(report, &s);
    json_t *doc = json_object(), *items = json_array();
    if (doc == NULL || items == NULL) {
        json_decref(doc);
        json_decref(items);
        return NULL;
    }
    json_object_set_new(doc, "worst", json_string(ebb_risk_level_name(s.worst)));
    json_object_set_new(doc, "rows_at_risk", json_integer(s.rows_at_risk));
    json_object_set_new(doc, "rows_estimated", json_boolean(s.rows_estimated));
    json_object_set_new(doc, "at_risk", json_integer((json_int_t)s.n_at_risk));
    json_object_set_new(doc, "unknown", json_integer((json_int_t)s.n_unknown));
    json_object_set_new(doc, "certain_failures", json_integer((json_int_t)s.n_certain_failures));
    json_object_set_new(doc, "probes_failed", json_integer((json_int_t)s.n_probes_failed));
    json_object_set_new(doc, "statements", json_integer((json_int_t)report->count));
    for (size_t i = 0; i < report->count; i++) {
        const ebb_risk_item *it = &report->items[i];
        if (!all_items && it->level == EBB_RISK_LOW)
            continue;
        json_t *o = json_object(), *probes = json_array();
        if (o == NULL || probes == NULL) {
            json_decref(o);
            json_decref(probes);
            json_decref(doc);
            json_decref(items);
            return NULL;
        }
        if (it->revision != NULL)
            json_object_set_new(o, "revision", json_string(it->revision));
        json_object_set_new(o, "file", json_string(it->file));
        json_object_set_new(o, "line", json_integer(it->line));
        json_object_set_new(o, "kind", json_string(it->kind));
        json_object_set_new(o, "level", json_string(ebb_risk_level_name(it->level)));
        json_object_set_new(o, "reason", json_string(it->reason));
        json_object_set_new(o, "statement", json_string(it->statement));
        json_object_set_new(o, "data_at_risk", json_boolean(ebb_risk_item_data_at_risk(it)));
        json_object_set_new(o, "certain_failure", json_boolean(ebb_risk_item_certain_failure(it)));
        for (size_t k = 0; k < it->n_probes; k++)
            json_array_append_new(probes, probe_json(&it->probes[k]));
        json_object_set_new(o, "probes", probes);
        json_array_append_new(items, o);
    }
    json_object_set_new(doc, "items", items);
    return doc;
}

ebb_code ebb_risk_finding_text(const ebb_risk_item *item, const ebb_risk_probe *p, char **out,
                               ebb_error *err)
{
    (void)item;
    const ebb_risk_finding *f = &p->found;
    ebb_strbuf b = {0};
    char target[300];
    if (p->target.schema[0] != '\0')
        snprintf(target, sizeof target, "%s.%s", p->target.schema, p->target.name);
    else
        snprintf(target, sizeof target, "%s", p->target.name);
    ebb_strbuf_addf(&b, "%s %s", ebb_risk_probe_kind_name(p->kind), target);
    if (p->n_keys > 0 && p->keys[0].column != NULL &&
        (p->kind == EBB_PROBE_NONNULL_IN_COLUMN || p->kind == EBB_PROBE_NULLS ||
         p->kind == EBB_PROBE_NARROWING_TYPE))
        ebb_strbuf_addf(&b, ".%s", p->keys[0].column);
    ebb_strbuf_add(&b, ": ");
    switch (f->status) {
    case EBB_PROBE_DONE:
        ebb_strbuf_addf(&b, "%s%lld%s", f->estimate ? "~" : f->at_least ? ">= " : "", f->count,
                        f->estimate ? " (planner estimate)" : "");
        if (f->note != NULL)
            ebb_strbuf_addf(&b, " - %s", f->note);
        break;
    case EBB_PROBE_NOT_RUN: ebb_strbuf_add(&b, "not probed"); break;
    default: ebb_strbuf_add(&b, f->note != NULL ? f->note : ebb_risk_probe_status_name(f->status));
    }
    for (size_t i = 0; i < f->n_examples; i++)
        ebb_strbuf_addf(&b, "%s%s", i == 0 ? "; e.g. " : ", ", f->examples[i]);
    if (f->changed_by != NULL)
        ebb_strbuf_addf(&b, " [measured before %s changes it]", f->changed_by);
    char *s = ebb_strbuf_take(&b);
    if (s == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory formatting a finding");
    *out = s;
    return EBB_OK;
}
