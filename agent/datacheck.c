/* Data checks, live part: row counts, foreign-key orphans and user check files on one database. */
#include "agent/datacheck.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/migrate_plan.h"

#define USER_SCHEMAS                                                                         \
    "n.nspname NOT IN ('ebb','pg_catalog','information_schema','pg_toast')"                  \
    " AND n.nspname !~ '^pg_(toast_)?temp_'"

typedef struct sbuf {
    char *s;
    size_t len, cap;
    int nomem;
} sbuf;

static void sb_add(sbuf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->nomem)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->nomem = 1;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n + 1);
    b->len += n;
}

/* Append ident quoted by the server's rules (PQescapeIdentifier). */
static ebb_code sb_ident(sbuf *b, ebb_pg *pg, const char *ident, ebb_error *err)
{
    char *q = NULL;
    ebb_code rc = ebb_pg_quote_ident(pg, ident, &q, err);
    if (rc == EBB_OK)
        sb_add(b, q);
    free(q);
    return rc;
}

static void rollback_quietly(ebb_pg *pg)
{
    if (PQtransactionStatus(pg->conn) != PQTRANS_IDLE) {
        ebb_error ignore; /* the caller's error is the one to report */
        if (ebb_pg_rollback(pg, &ignore) != EBB_OK)
            return;
    }
}

/* ---- row counts ---- */

static ebb_code table_row(void *ctx, const PGresult *res, int row, ebb_error *err)
{
    ebb_row_counts *c = ctx;
    ebb_table_count *p = realloc(c->tables, (c->count + 1) * sizeof *p);
    if (!p)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory listing tables");
    c->tables = p;
    ebb_table_count t = {strdup(PQgetvalue(res, row, 0)), strdup(PQgetvalue(res, row, 1)), 0};
    if (!t.schema || !t.table) {
        free(t.schema);
        free(t.table);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory listing tables");
    }
    c->tables[c->count++] = t;
    return EBB_OK;
}

static ebb_code count_one(ebb_pg *pg, ebb_table_count *t, ebb_error *err)
{
    sbuf q = {0};
    sb_add(&q, "SELECT count(*) FROM ");
    ebb_code rc = sb_ident(&q, pg, t->schema, err);
    sb_add(&q, ".");
    if (rc == EBB_OK)
        rc = sb_ident(&q, pg, t->table, err);
    if (rc == EBB_OK && q.nomem)
        rc = ebb_error_set(err, EBB_E_NOMEM, "out of memory building a count query");
    char *v = NULL;
    if (rc == EBB_OK)
        rc = ebb_pg_query_text(pg, q.s, 0, NULL, &v, err);
    free(q.s);
    if (rc == EBB_OK)
        t->rows = v ? strtoll(v, NULL, 10) : 0;
    free(v);
    if (rc != EBB_OK)
        ebb_error_prefix(err, "counting rows of %s.%s", t->schema, t->table);
    return rc;
}

ebb_code ebb_datacheck_count_rows(ebb_pg *pg, ebb_row_counts *out, ebb_error *err)
{
    ebb_row_counts c = {0};
    /* One snapshot for all counts. */
    ebb_code rc = ebb_pg_exec_ok(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err);
    if (rc == EBB_OK)
        rc = ebb_pg_exec(pg,
                         "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c"
                         " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                         " WHERE c.relkind IN ('r','p') AND " USER_SCHEMAS
                         " ORDER BY n.nspname COLLATE \"C\", c.relname COLLATE \"C\"",
                         0, NULL, table_row, &c, NULL, err);
    for (size_t i = 0; rc == EBB_OK && i < c.count; i++)
        rc = count_one(pg, &c.tables[i], err);
    rollback_quietly(pg);
    if (rc != EBB_OK) {
        ebb_row_counts_fini(&c);
        return rc;
    }
    *out = c;
    return EBB_OK;
}

void ebb_row_counts_fini(ebb_row_counts *counts)
{
    if (!counts)
        return;
    for (size_t i = 0; i < counts->count; i++) {
        free(counts->tables[i].schema);
        free(counts->tables[i].table);
    }
    free(counts->tables);
    memset(counts, 0, sizeof *counts);
}

/* ---- foreign-key orphans ---- */

/* One row per key column of every foreign key: grouped by constraint oid in C. */
typedef struct fk_col {
    char *oid, *cschema, *ctable, *conname, *pschema, *ptable, *ccol, *pcol;
} fk_col;

typedef struct fk_cols {
    fk_col *v;
    size_t n;
} fk_cols;

static void fk_col_fini(fk_col *c)
{
    char **f[] = {&c->oid, &c->cschema, &c->ctable, &c->conname,
                  &c->pschema, &c->ptable, &c->ccol, &c->pcol};
    for (size_t i = 0; i < 8; i++)
        free(*f[i]);
}

static ebb_code fk_row(void *ctx, const PGresult *res, int row, ebb_error *err)
{
    fk_cols *l = ctx;
    fk_col *p = realloc(l->v, (l->n + 1) * sizeof *p);
    if (!p)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory listing foreign keys");
    l->v = p;
    fk_col c = {0};
    char **f[] = {&c.oid, &c.cschema, &c.ctable, &c.conname, &c.pschema, &c.ptable, &c.ccol, &c.pcol};
    for (int i = 0; i < 8; i++) {
        if (!(*f[i] = strdup(PQgetvalue(res, row, i)))) {
            fk_col_fini(&c);
            return ebb_error_set(err, EBB_E_NOMEM, "out of memory listing foreign keys");
        }
    }
    l->v[l->n++] = c;
    return EBB_OK;
}

/* SELECT count(*) FROM child c WHERE c.k.. IS NOT NULL AND NOT EXISTS (parent match). */
static ebb_code orphan_query(ebb_pg *pg, const fk_col *cols, size_t n, char **out, ebb_error *err)
{
    sbuf q = {0};
    ebb_code rc = EBB_OK;
    sb_add(&q, "SELECT count(*) FROM ");
    rc = sb_ident(&q, pg, cols[0].cschema, err);
    sb_add(&q, ".");
    if (rc == EBB_OK)
        rc = sb_ident(&q, pg, cols[0].ctable, err);
    sb_add(&q, " AS c WHERE ");
    for (size_t i = 0; rc == EBB_OK && i < n; i++) {
        sb_add(&q, "c.");
        rc = sb_ident(&q, pg, cols[i].ccol, err);
        sb_add(&q, " IS NOT NULL AND ");
    }
    sb_add(&q, "NOT EXISTS (SELECT 1 FROM ");
    if (rc == EBB_OK)
        rc = sb_ident(&q, pg, cols[0].pschema, err);
    sb_add(&q, ".");
    if (rc == EBB_OK)
        rc = sb_ident(&q, pg, cols[0].ptable, err);
    sb_add(&q, " AS p WHERE ");
    for (size_t i = 0; rc == EBB_OK && i < n; i++) {
        if (i)
            sb_add(&q, " AND ");
        sb_add(&q, "p.");
        rc = sb_ident(&q, pg, cols[i].pcol, err);
        sb_add(&q, " = c.");
        if (rc == EBB_OK)
            rc = sb_ident(&q, pg, cols[i].ccol, err);
    }
    sb_add(&q, ")");
    if (rc == EBB_OK && q.nomem)
        rc = ebb_error_set(err, EBB_E_NOMEM, "out of memory building an orphan query");
    if (rc != EBB_OK) {
        free(q.s);
        return rc;
    }
    *out = q.s;
    return EBB_OK;
}

static ebb_code check_fk(ebb_pg *pg, const fk_col *cols, size_t n, ebb_fk_report *rep,
                         ebb_error *err)
{
    char *sql = NULL;
    ebb_code rc = orphan_query(pg, cols, n, &sql, err);
    char *v = NULL;
    if (rc == EBB_OK)
        rc = ebb_pg_query_text(pg, sql, 0, NULL, &v, err);
    free(sql);
    if (rc != EBB_OK) {
        ebb_error_prefix(err, "checking foreign key %s on %s.%s", cols[0].conname, cols[0].cschema,
                         cols[0].ctable);
        return rc;
    }
    ebb_fk_orphans o = {0};
    o.orphans = v ? strtoll(v, NULL, 10) : 0;
    free(v);
    size_t lc = strlen(cols[0].cschema) + strlen(cols[0].ctable) + strlen(cols[0].conname) + 3;
    size_t lp = strlen(cols[0].pschema) + strlen(cols[0].ptable) + 2;
    o.constraint_name = malloc(lc);
    o.child = malloc(lc);
    o.parent = malloc(lp);
    ebb_fk_orphans *p = realloc(rep->fks, (rep->count + 1) * sizeof *p);
    if (p)
        rep->fks = p;
    if (!o.constraint_name || !o.child || !o.parent || !p) {
        free(o.constraint_name);
        free(o.child);
        free(o.parent);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory checking foreign keys");
    }
    snprintf(o.constraint_name, lc, "%s.%s.%s", cols[0].cschema, cols[0].ctable, cols[0].conname);
    snprintf(o.child, lc, "%s.%s", cols[0].cschema, cols[0].ctable);
    snprintf(o.parent, lp, "%s.%s", cols[0].pschema, cols[0].ptable);
    rep->fks[rep->count++] = o;
    if (o.orphans > 0)
        rep->n_with_orphans++;
    return EBB_OK;
}

ebb_code ebb_datacheck_fk_orphans(ebb_pg *pg, ebb_fk_report *out, ebb_error *err)
{
    fk_cols cols = {0};
    ebb_fk_report rep = {0};
    ebb_code rc = ebb_pg_exec_ok(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err);
    /* conparentid = 0: a partition's clone of its parent's key is checked through the parent. */
    if (rc == EBB_OK)
        rc = ebb_pg_exec(
            pg,
            "SELECT co.oid::text, n.nspname, c.relname, co.conname, pn.nspname, pc.relname,"
            "       ca.attname, pa.attname"
            "  FROM pg_catalog.pg_constraint co"
            "  JOIN pg_catalog.pg_class c ON c.oid = co.conrelid"
            "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
            "  JOIN pg_catalog.pg_class pc ON pc.oid = co.confrelid"
            "  JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace"
            "  CROSS JOIN LATERAL unnest(co.conkey, co.confkey) WITH ORDINALITY AS k(ck, pk, ord)"
            "  JOIN pg_catalog.pg_attribute ca ON ca.attrelid = co.conrelid AND ca.attnum = k.ck"
            "  JOIN pg_catalog.pg_attribute pa ON pa.attrelid = co.confrelid AND pa.attnum = k.pk"
            " WHERE co.contype = 'f' AND co.conparentid = 0 AND " USER_SCHEMAS
            " ORDER BY n.nspname COLLATE \"C\", c.relname COLLATE \"C\","
            "          co.conname COLLATE \"C\", co.oid, k.ord",
            0, NULL, fk_row, &cols, NULL, err);
    for (size_t i = 0; rc == EBB_OK && i < cols.n;) {
        size_t j = i;
        while (j < cols.n && strcmp(cols.v[j].oid, cols.v[i].oid) == 0)
            j++;
        rc = check_fk(pg, cols.v + i, j - i, &rep, err);
        i = j;
    }
    rollback_quietly(pg);
    for (size_t i = 0; i < cols.n; i++)
        fk_col_fini(&cols.v[i]);
    free(cols.v);
    if (rc != EBB_OK) {
        ebb_fk_report_fini(&rep);
        return rc;
    }
    *out = rep;
    return EBB_OK;
}

void ebb_fk_report_fini(ebb_fk_report *rep)
{
    if (!rep)
        return;
    for (size_t i = 0; i < rep->count; i++) {
        free(rep->fks[i].constraint_name);
        free(rep->fks[i].child);
        free(rep->fks[i].parent);
    }
    free(rep->fks);
    memset(rep, 0, sizeof *rep);
}
