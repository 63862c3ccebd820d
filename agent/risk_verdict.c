/* Pure meaning of probe results: changes earlier on a path, totals and the refusal decision. */
#include "agent/risk_verdict.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- changes earlier on the path ---- */

static bool same_table(const ebb_risk_name *a, const ebb_risk_name *b)
{
    /* An empty schema is the search_path: it may be any schema, so it matches. */
    if (strcmp(a->name, b->name) != 0)
        return false;
    return a->schema[0] == '\0' || b->schema[0] == '\0' || strcmp(a->schema, b->schema) == 0;
}

/* Whether touch t changes what probe p reads. */
static bool touch_hits(const ebb_risk_touch *t, const ebb_risk_probe *p)
{
    const char *col = p->n_keys > 0 ? p->keys[0].column : NULL;
    switch (p->kind) {
    case EBB_PROBE_ROWS_IN_SCHEMA:
        return (t->kind == EBB_TOUCH_ROWS || t->kind == EBB_TOUCH_IDENTITY) &&
               strcmp(t->table.schema, p->target.name) == 0;
    case EBB_PROBE_DEPENDENTS:
        return t->kind == EBB_TOUCH_IDENTITY && same_table(&t->table, &p->target);
    case EBB_PROBE_DOMAIN_VALUES:
        return false; /* the columns of a domain are not named by touches */
    case EBB_PROBE_FK_ORPHANS:
        if (same_table(&t->table, &p->ref_table))
            return true; /* the referenced columns may be its primary key: any change counts */
        break;
    default: break;
    }
    if (!same_table(&t->table, &p->target))
        return false;
    if (t->kind == EBB_TOUCH_DROPPED) {
        /* Only a probe of that very column reads something the path has removed. */
        for (size_t k = 0; k < p->n_keys; k++)
            if (p->keys[k].column != NULL && strcmp(p->keys[k].column, t->column) == 0)
                return true;
        return false;
    }
    if (t->kind != EBB_TOUCH_VALUES)
        return true;
    if (p->kind == EBB_PROBE_ROWS_IN_TABLE)
        return false; /* new or changed values keep the row count */
    if (t->column == NULL)
        return true;
    switch (p->kind) {
    case EBB_PROBE_NONNULL_IN_COLUMN:
    case EBB_PROBE_NULLS:
    case EBB_PROBE_NARROWING_TYPE:
        return col == NULL || strcmp(col, t->column) == 0 || p->expr != NULL;
    case EBB_PROBE_DUPLICATES:
    case EBB_PROBE_FK_ORPHANS:
        if (p->expr != NULL || p->n_keys == 0)
            return true;
        for (size_t k = 0; k < p->n_keys; k++)
            if (p->keys[k].column == NULL || strcmp(p->keys[k].column, t->column) == 0)
                return true;
        return false;
    default:
        return true; /* WHERE / CHECK texts may read any column */
    }
}

ebb_code ebb_risk_mark_changes(ebb_risk_report *report, ebb_error *err)
{
    for (size_t i = 0; i < report->count; i++) {
        ebb_risk_item *it = &report->items[i];
        for (size_t k = 0; k < it->n_probes; k++) {
            ebb_risk_probe *p = &it->probes[k];
            if (p->found.changed_by != NULL)
                continue;
            for (size_t j = 0; j < i; j++) {
                const ebb_risk_item *e = &report->items[j];
                bool hit = e->level == EBB_RISK_UNKNOWN;
                for (size_t t = 0; !hit && t < e->n_touches; t++)
                    hit = touch_hits(&e->touches[t], p);
                if (!hit)
                    continue;
                char buf[600];
                snprintf(buf, sizeof buf, "%s:%d %s", e->file, e->line, e->kind);
                p->found.changed_by = strdup(buf);
                if (p->found.changed_by == NULL)
                    return ebb_error_set(err, EBB_E_NOMEM, "out of memory marking path changes");
                break;
            }
        }
    }
    return EBB_OK;
}

/* ---- totals and the decision ---- */

static bool constraint_kind(ebb_risk_probe_kind k)
{
    switch (k) {
    case EBB_PROBE_DUPLICATES:
    case EBB_PROBE_NULLS:
    case EBB_PROBE_FK_ORPHANS:
    case EBB_PROBE_CHECK:
    case EBB_PROBE_NARROWING_TYPE:
    case EBB_PROBE_VALIDATE:
    case EBB_PROBE_DOMAIN_VALUES:
        return true;
    default:
        return false;
    }
}

static bool row_kind(ebb_risk_probe_kind k)
{
    return k == EBB_PROBE_ROWS_IN_TABLE || k == EBB_PROBE_ROWS_IN_SCHEMA ||
           k == EBB_PROBE_NONNULL_IN_COLUMN || k == EBB_PROBE_ROWS_MATCHING;
}

bool ebb_risk_item_certain_failure(const ebb_risk_item *item)
{
    /*
     * Only an exact count of today's data, not changed earlier on the path
     * (a DELETE before an ADD UNIQUE may remove the duplicates), proves the
     * statement will fail.
     */
    for (size_t k = 0; k < item->n_probes; k++) {
        const ebb_risk_probe *p = &item->probes[k];
        if (constraint_kind(p->kind) && p->found.status == EBB_PROBE_DONE && p->found.count > 0 &&
            !p->found.estimate && p->found.changed_by == NULL)
            return true;
    }
    return false;
}

bool ebb_risk_item_data_at_risk(const ebb_risk_item *item)
{
    if (item->level != EBB_RISK_HIGH)
        return false;
    if (item->n_probes == 0)
        return true; /* nothing measured it */
    for (size_t k = 0; k < item->n_probes; k++) {
        const ebb_risk_finding *f = &item->probes[k].found;
        if (f->status == EBB_PROBE_ABSENT)
            continue;
        if (f->status != EBB_PROBE_DONE || f->count > 0)
            return true;
    }
    return false;
}

void ebb_risk_summarize(const ebb_risk_report *report, ebb_risk_summary *out)
{
    memset(out, 0, sizeof *out);
    out->worst = ebb_risk_report_worst(report);
    for (size_t i = 0; i < report->count; i++) {
        const ebb_risk_item *it = &report->items[i];
        if (it->level == EBB_RISK_UNKNOWN)
            out->n_unknown++;
        if (ebb_risk_item_certain_failure(it))
            out->n_certain_failures++;
        if (ebb_risk_item_data_at_risk(it))
            out->n_at_risk++;
        for (size_t k = 0; k < it->n_probes; k++) {
            const ebb_risk_probe *p = &it->probes[k];
            if (p->found.status == EBB_PROBE_FAILED)
                out->n_probes_failed++;
            if (it->level == EBB_RISK_HIGH && row_kind(p->kind) &&
                p->found.status == EBB_PROBE_DONE && p->found.count > 0) {
                out->rows_at_risk += p->found.count;
                if (p->found.estimate || p->found.at_least)
                    out->rows_estimated = true;
            }
        }
    }
}

const char *ebb_risk_verdict_name(ebb_risk_verdict verdict)
{
    switch (verdict) {
    case EBB_RISK_ALLOW: return "allow";
    case EBB_RISK_REFUSE_DATA_LOSS: return "refuse-data-loss";
    case EBB_RISK_REFUSE_UNKNOWN: return "refuse-unknown";
    case EBB_RISK_REFUSE_CERTAIN: return "refuse-certain-failure";
    }
    return "?";
}

ebb_risk_verdict ebb_risk_decide(const ebb_risk_report *report, bool accept_data_loss,
                                 bool accept_unknown)
{
    ebb_risk_summary s;
    ebb_risk_summarize(report, &s);
    if (s.n_certain_failures > 0)
        return EBB_RISK_REFUSE_CERTAIN;
    if (s.n_at_risk > 0 && !accept_data_loss)
        return EBB_RISK_REFUSE_DATA_LOSS;
    if (s.n_unknown > 0 && !accept_unknown)
        return EBB_RISK_REFUSE_UNKNOWN;
    return EBB_RISK_ALLOW;
}
