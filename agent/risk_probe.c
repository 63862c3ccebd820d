/* Probe runner: one read-only, timed-out transaction; row-count probes; shared SQL helpers. */
#include "agent/risk_probe.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/risk_probe_internal.h"

void ebb_risk_probe_opts_init(ebb_risk_probe_opts *opts)
{
    memset(opts, 0, sizeof *opts);
}

/* ---- helpers ---- */

void ebb_prober_note(ebb_risk_finding *f, ebb_risk_probe_status status, const char *fmt, ...)
{
    char buf[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    f->status = status;
    free(f->note);
    f->note = strdup(buf); /* a lost note loses words, not the finding */
}

ebb_code ebb_prober_ident(ebb_prober *pr, ebb_strbuf *b, const char *ident, ebb_error *err)
{
    char *q = NULL;
    ebb_code rc = ebb_pg_quote_ident(pr->pg, ident, &q, err);
    if (rc == EBB_OK)
        ebb_strbuf_add(b, q);
    free(q);
    return rc;
}

ebb_code ebb_prober_name(ebb_prober *pr, ebb_strbuf *b, const ebb_risk_name *n, ebb_error *err)
{
    if (n->schema[0] != '\0') {
        ebb_code rc = ebb_prober_ident(pr, b, n->schema, err);
        if (rc != EBB_OK)
            return rc;
        ebb_strbuf_add(b, ".");
    }
    return ebb_prober_ident(pr, b, n->name, err);
}

void ebb_prober_disp(const ebb_risk_name *n, char *buf, size_t size)
{
    if (n->schema[0] != '\0')
        snprintf(buf, size, "%s.%s", n->schema, n->name);
    else
        snprintf(buf, size, "%s", n->name);
}

static ebb_code nomem(ebb_error *err)
{
    return ebb_error_set(err, EBB_E_NOMEM, "out of memory building a probe");
}

ebb_code ebb_prober_table(ebb_prober *pr, const ebb_risk_name *n, char **oid_text, ebb_error *err)
{
    ebb_strbuf b = {0};
    ebb_code rc = ebb_prober_name(pr, &b, n, err);
    char *qname = ebb_strbuf_take(&b);
    if (rc == EBB_OK && qname == NULL)
        rc = nomem(err);
    if (rc == EBB_OK) {
        const char *params[] = {qname};
        /* A name, not SQL: to_regclass parses it and returns NULL when it does not exist. */
        rc = ebb_pg_query_text(pr->pg, "SELECT pg_catalog.to_regclass($1)::oid::text", 1, params,
                               oid_text, err);
    }
    free(qname);
    return rc;
}

ebb_code ebb_prober_reltuples(ebb_prober *pr, const char *oid_text, bool only, double *out,
                              ebb_error *err)
{
    const char *params[] = {oid_text, only ? "t" : "f"};
    char *v = NULL;
    ebb_code rc = ebb_pg_query_text(
        pr->pg,
        "WITH RECURSIVE tree(oid) AS (SELECT $1::oid UNION"
        "  SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN tree ON i.inhparent = tree.oid"
        "  WHERE NOT $2::bool)"
        " SELECT sum(CASE WHEN c.reltuples < 0 THEN 0 ELSE c.reltuples END)::float8::text"
        " FROM pg_catalog.pg_class c WHERE c.oid IN (SELECT oid FROM tree)",
        2, params, &v, err);
    if (rc == EBB_OK)
        *out = v != NULL ? strtod(v, NULL) : -1;
    free(v);
    return rc;
}

ebb_code ebb_prober_pkey(ebb_prober *pr, const char *oid_text, char ***cols, size_t *n,
                         ebb_error *err)
{
    const char *params[] = {oid_text};
    char *v = NULL;
    /* One row, a JSON array of names in key order (jansson reads it back). */
    ebb_code rc = ebb_pg_query_text(
        pr->pg,
        "SELECT pg_catalog.array_to_json(array_agg(a.attname ORDER BY k.ord))::text"
        " FROM pg_catalog.pg_index i"
        " CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)"
        " JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
        " WHERE i.indrelid = $1::oid AND i.indisprimary",
        1, params, &v, err);
    if (rc != EBB_OK)
        return rc;
    char **out = NULL;
    size_t count = 0;
    json_t *arr = v != NULL ? json_loads(v, 0, NULL) : NULL;
    free(v);
    if (json_is_array(arr) && json_array_size(arr) > 0) {
        out = calloc(json_array_size(arr), sizeof *out);
        for (size_t i = 0; out != NULL && i < json_array_size(arr); i++) {
            const char *name = json_string_value(json_array_get(arr, i));
            out[i] = strdup(name != NULL ? name : "");
            if (out[i] == NULL) {
                for (size_t k = 0; k < i; k++)
                    free(out[k]);
                free(out);
                out = NULL;
                break;
            }
            count++;
        }
        if (out == NULL) {
            json_decref(arr);
            return nomem(err);
        }
    }
    json_decref(arr);
    *cols = out;
    *n = count;
    return EBB_OK;
}

ebb_code ebb_prober_row_id(ebb_prober *pr, const char *oid_text, const char *qualifier, char **sql,
                           char **label, ebb_error *err)
{
    char **cols = NULL;
    size_t n = 0;
    ebb_code rc = ebb_prober_pkey(pr, oid_text, &cols, &n, err);
    if (rc != EBB_OK)
        return rc;
    ebb_strbuf s = {0}, l = {0};
    ebb_strbuf_add(&s, n > 1 ? "row(" : "(");
    for (size_t i = 0; rc == EBB_OK && i < (n ? n : 1); i++) {
        if (i > 0) {
            ebb_strbuf_add(&s, ", ");
            ebb_strbuf_add(&l, ", ");
        }
        if (qualifier != NULL) {
            ebb_strbuf_add(&s, qualifier);
            ebb_strbuf_add(&s, ".");
        }
        if (n == 0)
            ebb_strbuf_add(&s, "ctid");
        else
            rc = ebb_prober_ident(pr, &s, cols[i], err);
        ebb_strbuf_add(&l, n == 0 ? "ctid" : cols[i]);
    }
    ebb_strbuf_add(&s, ")::text");
    for (size_t i = 0; i < n; i++)
        free(cols[i]);
    free(cols);
    char *st = ebb_strbuf_take(&s), *lt = ebb_strbuf_take(&l);
    if (rc == EBB_OK && (st == NULL || lt == NULL))
        rc = nomem(err);
    if (rc != EBB_OK) {
        free(st);
        free(lt);
        return rc;
    }
    *sql = st;
    *label = lt;
    return EBB_OK;
}

typedef struct collect_ctx {
    ebb_risk_finding *f;
    const char *label;
    size_t max;
} collect_ctx;

static ebb_code collect_row(void *ctx, const PGresult *res, int row, ebb_error *err)
{
    collect_ctx *c = ctx;
    if (row == 0) {
        c->f->count = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
        c->f->rows = PQnfields(res) > 2 && !PQgetisnull(res, 0, 2)
                         ? strtoll(PQgetvalue(res, 0, 2), NULL, 10)
                         : c->f->count;
    }
    if (c->f->n_examples >= c->max || PQgetisnull(res, row, 0))
        return EBB_OK;
    char **ex = realloc(c->f->examples, (c->f->n_examples + 1) * sizeof *ex);
    if (ex == NULL)
        return nomem(err);
    c->f->examples = ex;
    ebb_strbuf b = {0};
    if (c->label != NULL)
        ebb_strbuf_addf(&b, "%s=", c->label);
    const char *v = PQgetvalue(res, row, 0);
    ebb_strbuf_addf(&b, "%.*s%s", 120, v, strlen(v) > 120 ? "..." : "");
    if (PQnfields(res) > 3 && !PQgetisnull(res, row, 3))
        ebb_strbuf_addf(&b, " (%s rows)", PQgetvalue(res, row, 3));
    char *t = ebb_strbuf_take(&b);
    if (t == NULL)
        return nomem(err);
    ex[c->f->n_examples++] = t;
    return EBB_OK;
}

ebb_code ebb_prober_collect(ebb_prober *pr, const char *sql, int nparams, const char *const *params,
                            const char *label, ebb_risk_finding *f, ebb_error *err)
{
    collect_ctx c = {.f = f, .label = label, .max = pr->o.max_examples};
    f->count = f->rows = 0;
    ebb_code rc = ebb_pg_exec(pr->pg, sql, nparams, params, collect_row, &c, NULL, err);
    if (rc == EBB_OK)
        f->status = EBB_PROBE_DONE;
    return rc;
}

ebb_code ebb_prober_count(ebb_prober *pr, const char *sql, int nparams, const char *const *params,
                          ebb_risk_finding *f, ebb_error *err)
{
    char *v = NULL;
    ebb_code rc = ebb_pg_query_text(pr->pg, sql, nparams, params, &v, err);
    if (rc == EBB_OK) {
        f->count = f->rows = v != NULL ? strtoll(v, NULL, 10) : 0;
        f->status = EBB_PROBE_DONE;
    }
    free(v);
    return rc;
}

ebb_code ebb_prober_estimate(ebb_prober *pr, const char *sql, ebb_risk_finding *f, ebb_error *err)
{
    ebb_strbuf b = {0};
    ebb_strbuf_add(&b, "EXPLAIN (FORMAT JSON) ");
    ebb_strbuf_add(&b, sql);
    char *q = ebb_strbuf_take(&b);
    if (q == NULL)
        return nomem(err);
    char *v = NULL;
    ebb_code rc = ebb_pg_query_text(pr->pg, q, 0, NULL, &v, err);
    free(q);
    if (rc != EBB_OK)
        return rc;
    json_t *doc = v != NULL ? json_loads(v, 0, NULL) : NULL;
    free(v);
    json_t *rows = json_object_get(json_object_get(json_array_get(doc, 0), "Plan"), "Plan Rows");
    if (!json_is_number(rows)) {
        json_decref(doc);
        ebb_prober_note(f, EBB_PROBE_FAILED, "the planner gave no row estimate");
        return EBB_OK;
    }
    f->count = f->rows = (long long)json_number_value(rows);
    f->estimate = true;
    f->status = EBB_PROBE_DONE;
    json_decref(doc);
    return EBB_OK;
}

/* ---- row-count probes ---- */

/*
 * Count "FROM <from> [WHERE <where>]" (after an optional WITH prefix), or
 * take the planner's estimate when the target table is larger than
 * estimate_above. count_expr is what count() counts ("*" or a DISTINCT).
 */
static ebb_code count_rows(ebb_prober *pr, ebb_risk_probe *p, const char *oid, const char *with,
                           const char *from, const char *where, const char *count_expr,
                           ebb_error *err)
{
    double tuples = -1;
    ebb_code rc = ebb_prober_reltuples(pr, oid, p->only, &tuples, err);
    if (rc != EBB_OK)
        return rc;
    bool estimate = tuples > pr->o.estimate_above;
    ebb_strbuf b = {0};
    if (with != NULL) {
        ebb_strbuf_add(&b, with);
        ebb_strbuf_add(&b, "\n");
    }
    ebb_strbuf_addf(&b, "SELECT %s%s%s FROM %s", estimate ? "1" : "count(", estimate ? "" : count_expr,
                    estimate ? "" : ")", from);
    if (where != NULL)
        ebb_strbuf_addf(&b, "\nWHERE (%s\n)", where);
    char *q = ebb_strbuf_take(&b);
    if (q == NULL)
        return nomem(err);
    rc = estimate ? ebb_prober_estimate(pr, q, &p->found, err)
                  : ebb_prober_count(pr, q, 0, NULL, &p->found, err);
    free(q);
    if (rc == EBB_OK && estimate)
        ebb_prober_note(&p->found, EBB_PROBE_DONE,
                        "planner estimate: the table has about %.0f rows (more than %.0f)", tuples,
                        pr->o.estimate_above);
    return rc;
}

/* "not probed: table X does not exist before the path runs". */
static void absent(ebb_risk_probe *p, const char *what, const ebb_risk_name *n, const char *column)
{
    char buf[300];
    ebb_prober_disp(n, buf, sizeof buf);
    ebb_prober_note(&p->found, EBB_PROBE_ABSENT, "not probed: %s %s%s%s does not exist before the path runs",
                    what, buf, column ? "." : "", column ? column : "");
}

static ebb_code probe_table_rows(ebb_prober *pr, ebb_risk_probe *p, ebb_error *err)
{
    char *oid = NULL;
    ebb_code rc = ebb_prober_table(pr, &p->target, &oid, err);
    if (rc != EBB_OK || oid == NULL) {
        if (rc == EBB_OK)
            absent(p, "table", &p->target, NULL);
        return rc;
    }
    ebb_strbuf from = {0};
    ebb_strbuf_add(&from, p->only ? "ONLY " : "");
    rc = ebb_prober_name(pr, &from, &p->target, err);
    char *f = ebb_strbuf_take(&from);
    if (rc == EBB_OK && f == NULL)
        rc = nomem(err);
    if (rc == EBB_OK)
        rc = count_rows(pr, p, oid, NULL, f, NULL, "*", err);
    free(f);
    free(oid);
    return rc;
}

/* Whether column exists in table oid. */
static ebb_code column_exists(ebb_prober *pr, const char *oid, const char *column, bool *out,
                              ebb_error *err)
{
    const char *params[] = {oid, column};
    char *v = NULL;
    ebb_code rc = ebb_pg_query_text(pr->pg,
                                    "SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = $1::oid"
                                    " AND attname = $2 AND attnum > 0 AND NOT attisdropped",
                                    2, params, &v, err);
    if (rc == EBB_OK)
        *out = v != NULL;
    free(v);
    return rc;
}

static ebb_code probe_nonnull(ebb_prober *pr, ebb_risk_probe *p, ebb_error *err)
{
    if (p->n_keys == 0 || p->keys[0].column == NULL) {
        ebb_prober_note(&p->found, EBB_PROBE_CANNOT, "the column is not named in the statement");
        return EBB_OK;
    }
    char *oid = NULL;
    bool exists = false;
    ebb_code rc = ebb_prober_table(pr, &p->target, &oid, err);
    if (rc == EBB_OK && oid != NULL)
        rc = column_exists(pr, oid, p->keys[0].column, &exists, err);
    if (rc != EBB_OK || !exists) {
        if (rc == EBB_OK)
            absent(p, oid ? "column" : "table", &p->target, oid ? p->keys[0].column : NULL);
        free(oid);
        return rc;
    }
    ebb_strbuf from = {0}, where = {0};
    rc = ebb_prober_name(pr, &from, &p->target, err);
    if (rc == EBB_OK)
        rc = ebb_prober_ident(pr, &where, p->keys[0].column, err);
    ebb_strbuf_add(&where, " IS NOT NULL");
    char *f = ebb_strbuf_take(&from), *w = ebb_strbuf_take(&where);
    if (rc == EBB_OK && (f == NULL || w == NULL))
        rc = nomem(err);
    if (rc == EBB_OK)
        rc = count_rows(pr, p, oid, NULL, f, w, "*", err);
    free(f);
    free(w);
    free(oid);
    return rc;
}

static ebb_code probe_matching(ebb_prober *pr, ebb_risk_probe *p, ebb_error *err)
{
    char *oid = NULL;
    ebb_code rc = ebb_prober_table(pr, &p->target, &oid, err);
    if (rc != EBB_OK || oid == NULL) {
        if (rc == EBB_OK)
            absent(p, "table", &p->target, NULL);
        return rc;
    }
    /* The WHERE text names the table by its alias, or by its bare name. */
    ebb_strbuf from = {0}, ref = {0}, cnt = {0};
    ebb_strbuf_add(&from, p->only ? "ONLY " : "");
    rc = ebb_prober_name(pr, &from, &p->target, err);
    if (rc == EBB_OK && p->alias != NULL) {
        ebb_strbuf_add(&from, " AS ");
        rc = ebb_prober_ident(pr, &from, p->alias, err);
    }
    if (rc == EBB_OK)
        rc = ebb_prober_ident(pr, &ref, p->alias != NULL ? p->alias : p->target.name, err);
    char *r = ebb_strbuf_take(&ref);
    if (p->from_text != NULL) {
        /* A joined row may match many times: count target rows once each. */
        ebb_strbuf_addf(&from, ",\n%s\n", p->from_text);
        ebb_strbuf_addf(&cnt, "DISTINCT (%s.tableoid, %s.ctid)", r ? r : "", r ? r : "");
    } else {
        ebb_strbuf_add(&cnt, "*");
    }
    char *f = ebb_strbuf_take(&from), *c = ebb_strbuf_take(&cnt);
    if (rc == EBB_OK && (f == NULL || c == NULL || r == NULL))
        rc = nomem(err);
    if (rc == EBB_OK)
        rc = count_rows(pr, p, oid, p->with_text, f, p->expr, c, err);
    free(f);
    free(c);
    free(r);
    free(oid);
    return rc;
}

typedef struct schema_table {
    char *schema, *name;
} schema_table;

typedef struct schema_list {
    schema_table *t;
    size_t n;
} schema_list;

static ebb_code schema_row(void *ctx, const PGresult *res, int row, ebb_error *err)
{
    schema_list *l = ctx;
    schema_table *t = realloc(l->t, (l->n + 1) * sizeof *t);
    if (t == NULL)
        return nomem(err);
    l->t = t;
    t[l->n].schema = strdup(PQgetvalue(res, row, 0));
    t[l->n].name = strdup(PQgetvalue(res, row, 1));
    l->n++;
    if (t[l->n - 1].schema == NULL || t[l->n - 1].name == NULL)
        return nomem(err);
    return EBB_OK;
}

static ebb_code probe_schema_rows(ebb_prober *pr, ebb_risk_probe *p, ebb_error *err)
{
    const char *params[] = {p->target.name};
    char *v = NULL;
    ebb_code rc = ebb_pg_query_text(pr->pg, "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1",
                                    1, params, &v, err);
    if (rc != EBB_OK)
        return rc;
    if (v == NULL) {
        ebb_prober_note(&p->found, EBB_PROBE_ABSENT,
                        "not probed: schema %s does not exist before the path runs", p->target.name);
        return EBB_OK;
    }
    free(v);
    schema_list l = {0};
    /* Leaf tables only ('r'): a partitioned parent's rows are its partitions' rows. */
    rc = ebb_pg_exec(pr->pg,
                     "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c"
                     " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                     " WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY c.relname COLLATE \"C\"",
                     1, params, schema_row, &l, NULL, err);
    long long total = 0;
    bool estimated = false;
    for (size_t i = 0; rc == EBB_OK && i < l.n; i++) {
        ebb_risk_probe one = {.kind = EBB_PROBE_ROWS_IN_TABLE, .only = true,
                              .target = {.schema = l.t[i].schema, .name = l.t[i].name}};
        rc = probe_table_rows(pr, &one, err);
        if (rc == EBB_OK && one.found.status == EBB_PROBE_DONE) {
            total += one.found.count;
            estimated = estimated || one.found.estimate;
            if (one.found.count > 0 && p->found.n_examples < pr->o.max_examples) {
                char **ex = realloc(p->found.examples, (p->found.n_examples + 1) * sizeof *ex);
                char buf[400];
                snprintf(buf, sizeof buf, "%s: %lld rows%s", l.t[i].name, one.found.count,
                         one.found.estimate ? " (estimate)" : "");
                if (ex != NULL) {
                    p->found.examples = ex;
                    if ((ex[p->found.n_examples] = strdup(buf)) != NULL)
                        p->found.n_examples++;
                }
            }
        }
        ebb_risk_finding_fini(&one.found);
    }
    for (size_t i = 0; i < l.n; i++) {
        free(l.t[i].schema);
        free(l.t[i].name);
    }
    free(l.t);
    if (rc == EBB_OK) {
        p->found.status = EBB_PROBE_DONE;
        p->found.count = p->found.rows = total;
        p->found.estimate = estimated;
    }
    return rc;
}

/* ---- the transaction ---- */

static ebb_code run_probe(ebb_prober *pr, ebb_risk_probe *p, ebb_error *err)
{
    switch (p->kind) {
    case EBB_PROBE_ROWS_IN_TABLE: return probe_table_rows(pr, p, err);
    case EBB_PROBE_ROWS_IN_SCHEMA: return probe_schema_rows(pr, p, err);
    case EBB_PROBE_NONNULL_IN_COLUMN: return probe_nonnull(pr, p, err);
    case EBB_PROBE_ROWS_MATCHING: return probe_matching(pr, p, err);
    case EBB_PROBE_NARROWING_TYPE: return ebb_prober_narrowing(pr, p, err);
    case EBB_PROBE_DUPLICATES: return ebb_prober_duplicates(pr, p, err);
    case EBB_PROBE_NULLS: return ebb_prober_nulls(pr, p, err);
    case EBB_PROBE_FK_ORPHANS: return ebb_prober_fk(pr, p, err);
    case EBB_PROBE_CHECK: return ebb_prober_check(pr, p, err);
    case EBB_PROBE_VALIDATE: return ebb_prober_validate(pr, p, err);
    case EBB_PROBE_DEPENDENTS: return ebb_prober_dependents(pr, p, err);
    case EBB_PROBE_DOMAIN_VALUES: return ebb_prober_domain(pr, p, err);
    }
    ebb_prober_note(&p->found, EBB_PROBE_CANNOT, "probe kind %d is unknown", (int)p->kind);
    return EBB_OK;
}

/* Turn a failed probe query into its finding; EBB_OK unless the session itself is lost. */
static ebb_code settle(ebb_prober *pr, ebb_risk_probe *p, ebb_code rc, const ebb_error *perr,
                       ebb_error *err)
{
    char *changed = p->found.changed_by;
    p->found.changed_by = NULL;
    ebb_risk_finding_fini(&p->found); /* partial examples of a failed query mean nothing */
    p->found.changed_by = changed;
    if (rc == EBB_E_NOMEM) {
        *err = *perr;
        return rc;
    }
    if (!ebb_pg_is_alive(pr->pg)) {
        *err = *perr;
        return EBB_E_PG;
    }
    const char *st = perr->sqlstate;
    if (strcmp(st, "42P01") == 0 || strcmp(st, "42703") == 0 || strcmp(st, "42704") == 0 ||
        strcmp(st, "3F000") == 0)
        ebb_prober_note(&p->found, EBB_PROBE_ABSENT,
                        "not probed: %s (it does not exist before the path runs)", perr->msg);
    else if (strcmp(st, "57014") == 0)
        ebb_prober_note(&p->found, EBB_PROBE_FAILED, "timed out after %ld ms (statement_timeout)",
                        pr->o.statement_timeout_ms);
    else if (strcmp(st, "55P03") == 0)
        ebb_prober_note(&p->found, EBB_PROBE_FAILED,
                        "could not lock the table within %ld ms (lock_timeout)",
                        pr->o.lock_timeout_ms);
    else
        ebb_prober_note(&p->found, EBB_PROBE_FAILED, "probe failed: %s", perr->msg);
    return EBB_OK;
}

static void rollback_quietly(ebb_pg *pg)
{
    if (pg->conn != NULL && PQtransactionStatus(pg->conn) != PQTRANS_IDLE) {
        ebb_error ignore;
        if (ebb_pg_rollback(pg, &ignore) != EBB_OK)
            return;
    }
}

ebb_code ebb_risk_probe_report(ebb_pg *pg, const ebb_risk_probe_opts *opts,
                               ebb_risk_report *report, ebb_error *err)
{
    ebb_prober pr = {.pg = pg};
    if (opts != NULL)
        pr.o = *opts;
    if (pr.o.statement_timeout_ms <= 0)
        pr.o.statement_timeout_ms = 5000;
    if (pr.o.lock_timeout_ms <= 0)
        pr.o.lock_timeout_ms = 2000;
    if (pr.o.estimate_above <= 0)
        pr.o.estimate_above = 1000000;
    if (pr.o.max_examples == 0)
        pr.o.max_examples = 5;

    char st[32], lt[32];
    snprintf(st, sizeof st, "%ld", pr.o.statement_timeout_ms);
    snprintf(lt, sizeof lt, "%ld", pr.o.lock_timeout_ms);
    const char *params[] = {st, lt};
    ebb_code rc = ebb_pg_exec_ok(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err);
    if (rc == EBB_OK)
        rc = ebb_pg_exec(pg,
                         "SELECT pg_catalog.set_config('statement_timeout', $1, true),"
                         " pg_catalog.set_config('lock_timeout', $2, true)",
                         2, params, NULL, NULL, NULL, err);
    for (size_t i = 0; rc == EBB_OK && i < report->count; i++) {
        ebb_risk_item *it = &report->items[i];
        for (size_t k = 0; rc == EBB_OK && k < it->n_probes; k++) {
            ebb_risk_probe *p = &it->probes[k];
            rc = ebb_pg_exec_ok(pg, "SAVEPOINT ebb_probe", err);
            if (rc != EBB_OK)
                break;
            ebb_error perr;
            ebb_error_clear(&perr);
            ebb_code prc = run_probe(&pr, p, &perr);
            if (prc == EBB_OK) {
                rc = ebb_pg_exec_ok(pg, "RELEASE SAVEPOINT ebb_probe", err);
                continue;
            }
            if (ebb_pg_is_alive(pg) && prc != EBB_E_NOMEM)
                rc = ebb_pg_exec_ok(pg, "ROLLBACK TO SAVEPOINT ebb_probe", err);
            if (rc == EBB_OK)
                rc = settle(&pr, p, prc, &perr, err);
        }
    }
    rollback_quietly(pg);
    if (rc != EBB_OK)
        ebb_error_prefix(err, "risk probes");
    return rc;
}

ebb_code ebb_risk_probe_path(ebb_pg *pg, const ebb_graph *graph, const ebb_path *path,
                             const ebb_risk_external_sql *external,
                             const ebb_risk_probe_opts *opts, ebb_risk_report *out,
                             ebb_error *err)
{
    ebb_risk_report rep;
    ebb_code rc = ebb_risk_classify_path(graph, path, external, &rep, err);
    if (rc != EBB_OK)
        return rc;
    rc = ebb_risk_probe_report(pg, opts, &rep, err);
    if (rc != EBB_OK) {
        ebb_risk_report_fini(&rep);
        return rc;
    }
    *out = rep;
    return EBB_OK;
}
