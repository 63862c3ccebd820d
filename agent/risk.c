/* Risk report and item bookkeeping: levels, names, building and freeing items and probes. */
#include "agent/risk.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/risk_internal.h"

const char *ebb_risk_level_name(ebb_risk_level level)
{
    switch (level) {
    case EBB_RISK_LOW: return "low";
    case EBB_RISK_MEDIUM: return "medium";
    case EBB_RISK_HIGH: return "high";
    case EBB_RISK_UNKNOWN: return "unknown";
    }
    return "?";
}

bool ebb_risk_level_at_least(ebb_risk_level level, ebb_risk_level threshold)
{
    /* The enum is declared in severity order, UNKNOWN last. */
    return (int)level >= (int)threshold;
}

const char *ebb_risk_probe_kind_name(ebb_risk_probe_kind kind)
{
    switch (kind) {
    case EBB_PROBE_ROWS_IN_TABLE: return "rows-in-table";
    case EBB_PROBE_ROWS_IN_SCHEMA: return "rows-in-schema";
    case EBB_PROBE_NONNULL_IN_COLUMN: return "nonnull-in-column";
    case EBB_PROBE_ROWS_MATCHING: return "rows-matching";
    case EBB_PROBE_NARROWING_TYPE: return "narrowing-type";
    case EBB_PROBE_DUPLICATES: return "duplicates";
    case EBB_PROBE_NULLS: return "nulls";
    case EBB_PROBE_FK_ORPHANS: return "fk-orphans";
    case EBB_PROBE_CHECK: return "check";
    case EBB_PROBE_VALIDATE: return "validate";
    case EBB_PROBE_DEPENDENTS: return "dependents";
    case EBB_PROBE_DOMAIN_VALUES: return "domain-values";
    }
    return "?";
}

ebb_risk_level ebb_risk_report_worst(const ebb_risk_report *report)
{
    ebb_risk_level worst = EBB_RISK_LOW;
    for (size_t i = 0; report != NULL && i < report->count; i++)
        if (ebb_risk_level_at_least(report->items[i].level, worst))
            worst = report->items[i].level;
    return worst;
}

static void name_fini(ebb_risk_name *n)
{
    free(n->schema);
    free(n->name);
}

static void probe_fini(ebb_risk_probe *p)
{
    name_fini(&p->target);
    free(p->alias);
    for (size_t i = 0; i < p->n_keys; i++) {
        free(p->keys[i].column);
        free(p->keys[i].expr);
    }
    free(p->keys);
    name_fini(&p->ref_table);
    for (size_t i = 0; i < p->n_ref_columns; i++)
        free(p->ref_columns[i]);
    free(p->ref_columns);
    name_fini(&p->new_type.name);
    for (size_t i = 0; i < p->new_type.n_mods; i++)
        free(p->new_type.mods[i]);
    free(p->new_type.mods);
    free(p->new_type.text);
    free(p->expr);
    free(p->from_text);
    free(p->with_text);
    free(p->constraint);
}

static void item_fini(ebb_risk_item *it)
{
    free(it->file);
    free(it->statement);
    free(it->reason);
    for (size_t i = 0; i < it->n_probes; i++)
        probe_fini(&it->probes[i]);
    free(it->probes);
}

void ebb_risk_report_truncate(ebb_risk_report *report, size_t keep)
{
    while (report->count > keep)
        item_fini(&report->items[--report->count]);
}

void ebb_risk_report_fini(ebb_risk_report *report)
{
    if (report == NULL)
        return;
    ebb_risk_report_truncate(report, 0);
    free(report->items);
    memset(report, 0, sizeof *report);
}

char *ebb_risk_strdup(ebb_risk_ctx *ctx, const char *s)
{
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    if (d == NULL)
        ctx->oom = true;
    return d;
}

bool ebb_risk_name_set(ebb_risk_ctx *ctx, ebb_risk_name *out, const char *schema,
                       const char *name)
{
    out->schema = ebb_risk_strdup(ctx, schema != NULL ? schema : "");
    out->name = ebb_risk_strdup(ctx, name != NULL ? name : "");
    return out->schema != NULL && out->name != NULL;
}

ebb_risk_item *ebb_risk_add_item(ebb_risk_ctx *ctx, const char *kind, ebb_risk_level level,
                                 const char *fmt, ...)
{
    ebb_risk_report *r = ctx->out;
    if (ctx->oom)
        return NULL;
    if (r->count == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        ebb_risk_item *items = realloc(r->items, cap * sizeof *items);
        if (items == NULL) {
            ctx->oom = true;
            return NULL;
        }
        r->items = items;
        r->cap = cap;
    }
    ebb_risk_item *it = &r->items[r->count];
    memset(it, 0, sizeof *it);
    r->count++; /* counted at once so that a rollback frees what was set */
    it->kind = kind;
    it->level = level;
    it->line = ctx->line;
    it->stmt_index = ctx->stmt_index;
    it->file = ebb_risk_strdup(ctx, ctx->file);
    it->statement = ebb_risk_shorten(ctx->sql, EBB_RISK_STMT_MAX);
    if (it->statement == NULL)
        ctx->oom = true;

    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    it->reason = ebb_risk_strdup(ctx, buf);
    return ctx->oom ? NULL : it;
}

ebb_risk_probe *ebb_risk_add_probe(ebb_risk_ctx *ctx, ebb_risk_item *item,
                                   ebb_risk_probe_kind kind, const char *object_kind,
                                   const char *schema, const char *name)
{
    if (item == NULL || ctx->oom)
        return NULL;
    ebb_risk_probe *probes = realloc(item->probes, (item->n_probes + 1) * sizeof *probes);
    if (probes == NULL) {
        ctx->oom = true;
        return NULL;
    }
    item->probes = probes;
    ebb_risk_probe *p = &probes[item->n_probes++];
    memset(p, 0, sizeof *p);
    p->kind = kind;
    p->object_kind = object_kind;
    /* Every name is a valid empty string even when unused, so readers need no NULL checks. */
    if (!ebb_risk_name_set(ctx, &p->target, schema, name) ||
        !ebb_risk_name_set(ctx, &p->ref_table, "", "") ||
        !ebb_risk_name_set(ctx, &p->new_type.name, "", ""))
        return NULL;
    return p;
}

bool ebb_risk_add_key(ebb_risk_ctx *ctx, ebb_risk_probe *probe, const char *column,
                      const char *expr)
{
    if (probe == NULL || ctx->oom)
        return false;
    ebb_risk_key *keys = realloc(probe->keys, (probe->n_keys + 1) * sizeof *keys);
    if (keys == NULL) {
        ctx->oom = true;
        return false;
    }
    probe->keys = keys;
    ebb_risk_key *k = &keys[probe->n_keys++];
    k->column = ebb_risk_strdup(ctx, column);
    k->expr = ebb_risk_strdup(ctx, expr);
    return !ctx->oom;
}
