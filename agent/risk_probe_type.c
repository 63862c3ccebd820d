/* Probes about types and dependencies: values that do not fit a new type, dependents, domain values. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/risk_probe_internal.h"

static ebb_code nomem(ebb_error *err)
{
    return ebb_error_set(err, EBB_E_NOMEM, "out of memory building a probe");
}

/* ---- ALTER COLUMN TYPE ---- */

typedef struct column_type {
    char *typname;
    int typmod;
    char *shown; /* format_type: "character varying(20)" */
} column_type;

static ebb_code column_type_of(ebb_prober *pr, const char *oid, const char *column, column_type *out,
                               bool *found, ebb_error *err)
{
    const char *params[] = {oid, column};
    char *v = NULL;
    /* A domain is checked as its base type (its own constraints are not the question here). */
    ebb_code rc = ebb_pg_query_text(
        pr->pg,
        "SELECT pg_catalog.json_build_array(coalesce(bt.typname, t.typname),"
        "  CASE WHEN bt.oid IS NULL THEN a.atttypmod ELSE t.typtypmod END,"
        "  pg_catalog.format_type(a.atttypid, a.atttypmod))::text"
        " FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid"
        " LEFT JOIN pg_catalog.pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype"
        " WHERE a.attrelid = $1::oid AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped",
        2, params, &v, err);
    *found = false;
    if (rc != EBB_OK || v == NULL) {
        free(v);
        return rc;
    }
    json_t *doc = json_loads(v, 0, NULL);
    free(v);
    const char *tn = json_string_value(json_array_get(doc, 0));
    const char *sh = json_string_value(json_array_get(doc, 2));
    out->typname = strdup(tn != NULL ? tn : "");
    out->shown = strdup(sh != NULL ? sh : "");
    out->typmod = (int)json_integer_value(json_array_get(doc, 1));
    json_decref(doc);
    if (out->typname == NULL || out->shown == NULL) {
        free(out->typname);
        free(out->shown);
        return nomem(err);
    }
    *found = true;
    return EBB_OK;
}

/* The condition (over value expression v) under which a value does not fit plan. */
static void misfit_condition(ebb_strbuf *b, const ebb_narrow_plan *plan, const char *v,
                             char params[2][32], int *nparams)
{
    static const char int_re[] = "'^\\s*[+-]?[0-9]+\\s*$'";
    static const char num_re[] = "'^\\s*[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][+-]?[0-9]+)?\\s*$'";
    static const char special_re[] = "'^\\s*([+-]?(inf|infinity)|nan)\\s*$'";
    *nparams = 0;
    switch (plan->check) {
    case EBB_NARROW_LENGTH:
        /* Assignment to varchar(n) / char(n) fails unless the excess is all spaces. */
        snprintf(params[0], 32, "%d", plan->limit);
        *nparams = 1;
        ebb_strbuf_addf(b, "pg_catalog.char_length(pg_catalog.rtrim((%s)::text, ' ')) > $1::int", v);
        return;
    case EBB_NARROW_INT_RANGE:
        snprintf(params[0], 32, "%lld", plan->min);
        snprintf(params[1], 32, "%lld", plan->max);
        *nparams = 2;
        /* NaN sorts above every number and +-Infinity outside any bound: all counted. */
        ebb_strbuf_addf(b, "round((%s)::numeric) NOT BETWEEN $1::numeric AND $2::numeric", v);
        return;
    case EBB_NARROW_NUMERIC:
        snprintf(params[0], 32, "%d", plan->scale);
        snprintf(params[1], 32, "%d", plan->precision - plan->scale);
        *nparams = 2;
        ebb_strbuf_addf(b,
                        "(%s)::numeric IN ('Infinity'::numeric, '-Infinity'::numeric) OR"
                        " ((%s)::numeric <> 'NaN'::numeric AND"
                        " abs(round((%s)::numeric, $1::int)) >= 10::numeric ^ $2::int)",
                        v, v, v);
        return;
    case EBB_NARROW_TEXT_INT:
        snprintf(params[0], 32, "%lld", plan->min);
        snprintf(params[1], 32, "%lld", plan->max);
        *nparams = 2;
        ebb_strbuf_addf(b,
                        "CASE WHEN (%s)::text ~ %s THEN pg_catalog.btrim((%s)::text)::numeric"
                        " NOT BETWEEN $1::numeric AND $2::numeric ELSE true END",
                        v, int_re, v);
        return;
    case EBB_NARROW_TEXT_NUMERIC:
        if (plan->precision > 0) {
            snprintf(params[0], 32, "%d", plan->scale);
            snprintf(params[1], 32, "%d", plan->precision - plan->scale);
            *nparams = 2;
            ebb_strbuf_addf(b,
                            "CASE WHEN (%s)::text ~* %s THEN pg_catalog.lower(pg_catalog.btrim((%s)::text))"
                            " NOT IN ('nan') WHEN (%s)::text ~ %s THEN"
                            " abs(round(pg_catalog.btrim((%s)::text)::numeric, $1::int)) >="
                            " 10::numeric ^ $2::int ELSE true END",
                            v, special_re, v, v, num_re, v);
        } else {
            ebb_strbuf_addf(b, "NOT ((%s)::text ~* %s OR (%s)::text ~ %s)", v, special_re, v,
                            num_re);
        }
        return;
    default: return;
    }
}

/* Convert every value; the first that does not convert stops the query with its error. */
static ebb_code cast_trial(ebb_prober *pr, ebb_risk_probe *p, const char *v, ebb_error *err)
{
    ebb_strbuf q = {0};
    ebb_strbuf_addf(&q, "SELECT count((%s)::%s) FROM ", v, p->new_type.text);
    ebb_code rc = ebb_prober_name(pr, &q, &p->target, err);
    char *sql = ebb_strbuf_take(&q);
    if (rc == EBB_OK && sql == NULL)
        rc = nomem(err);
    if (rc != EBB_OK) {
        free(sql);
        return rc;
    }
    ebb_error terr;
    ebb_error_clear(&terr);
    char *out = NULL;
    rc = ebb_pg_exec_ok(pr->pg, "SAVEPOINT ebb_cast_trial", err);
    if (rc == EBB_OK) {
        ebb_code trc = ebb_pg_query_text(pr->pg, sql, 0, NULL, &out, &terr);
        free(out);
        if (trc == EBB_OK) {
            p->found.status = EBB_PROBE_DONE;
            p->found.count = p->found.rows = 0;
            ebb_prober_note(&p->found, EBB_PROBE_DONE, "every value converts to %s (cast trial)",
                            p->new_type.text);
            rc = ebb_pg_exec_ok(pr->pg, "RELEASE SAVEPOINT ebb_cast_trial", err);
        } else if (trc == EBB_E_PG && (strncmp(terr.sqlstate, "22", 2) == 0 ||
                                       strncmp(terr.sqlstate, "23", 2) == 0)) {
            /* A data exception: the ALTER will stop at the same value. */
            rc = ebb_pg_exec_ok(pr->pg, "ROLLBACK TO SAVEPOINT ebb_cast_trial", err);
            p->found.count = p->found.rows = 1;
            p->found.at_least = true;
            ebb_prober_note(&p->found, EBB_PROBE_DONE,
                            "at least one value does not convert to %s: %s", p->new_type.text,
                            terr.msg);
        } else {
            *err = terr;
            rc = trc;
        }
    }
    free(sql);
    return rc;
}

ebb_code ebb_prober_narrowing(ebb_prober *pr, ebb_risk_probe *p, ebb_error *err)
{
    const char *col = p->n_keys > 0 ? p->keys[0].column : NULL;
    if (col == NULL || p->new_type.text == NULL) {
        ebb_prober_note(&p->found, EBB_PROBE_CANNOT, "the column or the new type is not known");
        return EBB_OK;
    }
    char *oid = NULL;
    ebb_code rc = ebb_prober_table(pr, &p->target, &oid, err);
    column_type ct = {0};
    bool found = false;
    if (rc == EBB_OK && oid != NULL)
        rc = column_type_of(pr, oid, col, &ct, &found, err);
    if (rc != EBB_OK || !found) {
        if (rc == EBB_OK) {
            char buf[300];
            ebb_prober_disp(&p->target, buf, sizeof buf);
            ebb_prober_note(&p->found, EBB_PROBE_ABSENT,
                            "not probed: %s %s%s%s does not exist before the path runs",
                            oid ? "column" : "table", buf, oid ? "." : "", oid ? col : "");
        }
        free(oid);
        return rc;
    }
    ebb_narrow_plan plan;
    ebb_narrow_decide(ct.typname, ct.typmod, &p->new_type, p->expr != NULL, &plan);
    ebb_strbuf vb = {0};
    if (p->expr != NULL)
        ebb_strbuf_add(&vb, p->expr);
    else
        rc = ebb_prober_ident(pr, &vb, col, err);
    char *v = ebb_strbuf_take(&vb);
    if (rc == EBB_OK && v == NULL)
        rc = nomem(err);
    if (rc != EBB_OK) {
        /* fall through to cleanup */
    } else if (plan.check == EBB_NARROW_FITS) {
        p->found.status = EBB_PROBE_DONE;
        ebb_prober_note(&p->found, EBB_PROBE_DONE, "every %s value fits %s", ct.shown,
                        p->new_type.text);
    } else if (plan.check == EBB_NARROW_CAST_TRIAL) {
        rc = cast_trial(pr, p, v, err);
    } else {
        char params[2][32];
        int np = 0;
        ebb_strbuf cb = {0};
        ebb_strbuf_addf(&cb, "(%s) IS NOT NULL AND (", v);
        misfit_condition(&cb, &plan, v, params, &np);
        ebb_strbuf_add(&cb, ")");
        char *cond = ebb_strbuf_take(&cb);
        const char *pv[] = {params[0], params[1]};
        rc = cond != NULL ? EBB_OK : nomem(err);
        if (rc == EBB_OK) {
            char *rowid = NULL, *label = NULL;
            rc = ebb_prober_row_id(pr, oid, NULL, &rowid, &label, err);
            ebb_strbuf q = {0};
            ebb_strbuf_addf(&q, "SELECT %s, count(*) OVER () FROM ", rowid ? rowid : "");
            if (rc == EBB_OK)
                rc = ebb_prober_name(pr, &q, &p->target, err);
            ebb_strbuf_addf(&q, " WHERE %s ORDER BY 1 LIMIT %zu", cond, pr->o.max_examples);
            char *sql = ebb_strbuf_take(&q);
            if (rc == EBB_OK && sql == NULL)
                rc = nomem(err);
            if (rc == EBB_OK)
                rc = ebb_prober_collect(pr, sql, np, pv, label, &p->found, err);
            if (rc == EBB_OK)
                ebb_prober_note(&p->found, EBB_PROBE_DONE, "%lld %s value%s do%s not fit %s (%s check)",
                                p->found.count, ct.shown, p->found.count == 1 ? "" : "s",
                                p->found.count == 1 ? "es" : "", p->new_type.text,
                                ebb_narrow_check_name(plan.check));
            free(sql);
            free(rowid);
            free(label);
        }
        free(cond);
    }
    free(v);
    free(ct.typname);
    free(ct.shown);
    free(oid);
    return rc;
}

/* ---- dependents ---- */

ebb_code ebb_prober_dependents(ebb_prober *pr, ebb_risk_probe *p, ebb_error *err)
{
    const char *k = p->object_kind != NULL ? p->object_kind : "";
    bool rel = strcmp(k, "table") == 0 || strcmp(k, "view") == 0 ||
               strcmp(k, "materialized view") == 0 || strcmp(k, "index") == 0 ||
               strcmp(k, "sequence") == 0 || strcmp(k, "foreign table") == 0 ||
               strcmp(k, "column") == 0;
    bool type = strcmp(k, "type") == 0 || strcmp(k, "domain") == 0;
    bool by_name = strcmp(k, "schema") == 0 || strcmp(k, "extension") == 0;
    if (!rel && !type && !by_name) {
        ebb_prober_note(&p->found, EBB_PROBE_CANNOT,
                        "dependents of a %s are not probed (routines are named by their argument types)",
                        k);
        return EBB_OK;
    }
    ebb_strbuf nb = {0};
    ebb_code rc = by_name ? EBB_OK : ebb_prober_name(pr, &nb, &p->target, err);
    if (by_name)
        ebb_strbuf_add(&nb, p->target.name);
    char *name = ebb_strbuf_take(&nb);
    if (rc == EBB_OK && name == NULL)
        rc = nomem(err);
    if (rc != EBB_OK) {
        free(name);
        return rc;
    }
    const char *catalog = rel ? "pg_class" : type ? "pg_type" : strcmp(k, "schema") == 0 ? "pg_namespace" : "pg_extension";
    const char *column = strcmp(k, "column") == 0 && p->n_keys > 0 ? p->keys[0].column : NULL;
    const char *params[] = {name, catalog, column};
    /* The object's oid (and column number), resolved from its name; no row = it does not exist. */
    char *v = NULL;
    rc = ebb_pg_query_text(
        pr->pg,
        "SELECT o::text FROM (SELECT CASE $2"
        "  WHEN 'pg_class' THEN pg_catalog.to_regclass($1)::oid"
        "  WHEN 'pg_type' THEN pg_catalog.to_regtype($1)::oid"
        "  WHEN 'pg_namespace' THEN (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = $1)"
        "  ELSE (SELECT oid FROM pg_catalog.pg_extension WHERE extname = $1) END AS o) s"
        " WHERE o IS NOT NULL AND ($3::name IS NULL OR EXISTS (SELECT 1 FROM pg_catalog.pg_attribute"
        "  WHERE attrelid = o AND attname = $3 AND NOT attisdropped))",
        3, params, &v, err);
    if (rc == EBB_OK && v == NULL) {
        char buf[300];
        ebb_prober_disp(&p->target, buf, sizeof buf);
        ebb_prober_note(&p->found, EBB_PROBE_ABSENT,
                        "not probed: %s %s%s%s does not exist before the path runs", k, buf,
                        column ? "." : "", column ? column : "");
    }
    if (rc == EBB_OK && v != NULL) {
        const char *dp[] = {catalog, v, column};
        rc = ebb_prober_collect(
            pr,
            "SELECT pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid), count(*) OVER ()"
            " FROM pg_catalog.pg_depend d"
            " WHERE d.refclassid = $1::regclass AND d.refobjid = $2::oid AND d.deptype = 'n'"
            "  AND ($3::name IS NULL OR d.refobjsubid = (SELECT attnum FROM pg_catalog.pg_attribute"
            "       WHERE attrelid = $2::oid AND attname = $3))"
            "  AND NOT (d.classid = $1::regclass AND d.objid = $2::oid)"
            " ORDER BY 1 LIMIT 20",
            3, dp, NULL, &p->found, err);
        if (rc == EBB_OK && p->found.n_examples > pr->o.max_examples) {
            for (size_t i = pr->o.max_examples; i < p->found.n_examples; i++)
                free(p->found.examples[i]);
            p->found.n_examples = pr->o.max_examples;
        }
        if (rc == EBB_OK)
            ebb_prober_note(&p->found, EBB_PROBE_DONE, "%lld object%s depend%s on it",
                            p->found.count, p->found.count == 1 ? "" : "s",
                            p->found.count == 1 ? "s" : "");
    }
    free(v);
    free(name);
    return rc;
}

/* ---- domain values ---- */

typedef struct dom_col {
    char *schema, *table, *column;
} dom_col;

typedef struct dom_cols {
    dom_col *c;
    size_t n;
} dom_cols;

static ebb_code dom_row(void *ctx, const PGresult *res, int row, ebb_error *err)
{
    dom_cols *l = ctx;
    dom_col *c = realloc(l->c, (l->n + 1) * sizeof *c);
    if (c == NULL)
        return nomem(err);
    l->c = c;
    c[l->n] = (dom_col){strdup(PQgetvalue(res, row, 0)), strdup(PQgetvalue(res, row, 1)),
                        strdup(PQgetvalue(res, row, 2))};
    l->n++;
    if (c[l->n - 1].schema == NULL || c[l->n - 1].table == NULL || c[l->n - 1].column == NULL)
        return nomem(err);
    return EBB_OK;
}

ebb_code ebb_prober_domain(ebb_prober *pr, ebb_risk_probe *p, ebb_error *err)
{
    if (!p->not_null && p->expr == NULL) {
        ebb_prober_note(&p->found, EBB_PROBE_CANNOT,
                        "the constraint to validate is not in the statement");
        return EBB_OK;
    }
    ebb_strbuf nb = {0};
    ebb_code rc = ebb_prober_name(pr, &nb, &p->target, err);
    char *name = ebb_strbuf_take(&nb);
    if (rc == EBB_OK && name == NULL)
        rc = nomem(err);
    char *oid = NULL;
    const char *params[] = {name};
    if (rc == EBB_OK)
        rc = ebb_pg_query_text(pr->pg, "SELECT pg_catalog.to_regtype($1)::oid::text", 1, params,
                               &oid, err);
    free(name);
    if (rc != EBB_OK)
        return rc;
    if (oid == NULL) {
        char buf[300];
        ebb_prober_disp(&p->target, buf, sizeof buf);
        ebb_prober_note(&p->found, EBB_PROBE_ABSENT,
                        "not probed: domain %s does not exist before the path runs", buf);
        return EBB_OK;
    }
    dom_cols l = {0};
    const char *op[] = {oid};
    rc = ebb_pg_exec(pr->pg,
                     "SELECT n.nspname, c.relname, a.attname FROM pg_catalog.pg_attribute a"
                     " JOIN pg_catalog.pg_class c ON c.oid = a.attrelid"
                     " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                     " WHERE a.atttypid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped"
                     "  AND c.relkind = 'r' ORDER BY 1, 2, 3",
                     1, op, dom_row, &l, NULL, err);
    free(oid);
    long long total = 0;
    for (size_t i = 0; rc == EBB_OK && i < l.n; i++) {
        /* The column is exposed as "value", the name a domain CHECK uses for it. */
        ebb_strbuf q = {0};
        ebb_strbuf_add(&q, "SELECT count(*) FROM (SELECT ");
        rc = ebb_prober_ident(pr, &q, l.c[i].column, err);
        ebb_strbuf_add(&q, " AS value FROM ");
        ebb_risk_name tn = {.schema = l.c[i].schema, .name = l.c[i].table};
        if (rc == EBB_OK)
            rc = ebb_prober_name(pr, &q, &tn, err);
        if (p->not_null)
            ebb_strbuf_add(&q, ") v WHERE value IS NULL");
        else
            ebb_strbuf_addf(&q, ") v WHERE ((%s\n)) IS FALSE", p->expr);
        char *sql = ebb_strbuf_take(&q);
        ebb_risk_finding one = {0};
        if (rc == EBB_OK && sql == NULL)
            rc = nomem(err);
        if (rc == EBB_OK)
            rc = ebb_prober_count(pr, sql, 0, NULL, &one, err);
        if (rc == EBB_OK && one.count > 0) {
            total += one.count;
            char buf[600];
            snprintf(buf, sizeof buf, "%s.%s: %lld", l.c[i].table, l.c[i].column, one.count);
            char **ex = realloc(p->found.examples, (p->found.n_examples + 1) * sizeof *ex);
            if (ex != NULL && p->found.n_examples < pr->o.max_examples) {
                p->found.examples = ex;
                if ((ex[p->found.n_examples] = strdup(buf)) != NULL)
                    p->found.n_examples++;
            } else if (ex != NULL) {
                p->found.examples = ex;
            }
        }
        ebb_risk_finding_fini(&one);
        free(sql);
    }
    for (size_t i = 0; i < l.n; i++) {
        free(l.c[i].schema);
        free(l.c[i].table);
        free(l.c[i].column);
    }
    free(l.c);
    if (rc == EBB_OK) {
        p->found.status = EBB_PROBE_DONE;
        p->found.count = p->found.rows = total;
        ebb_prober_note(&p->found, EBB_PROBE_DONE, "%lld value%s in %zu column%s break%s %s", total,
                        total == 1 ? "" : "s", l.n, l.n == 1 ? "" : "s", total == 1 ? "s" : "",
                        p->not_null ? "NOT NULL" : "the CHECK");
    }
    return rc;
}
