/* Probes of statements that existing rows can make fail: duplicates, NULLs, orphans, CHECKs, validation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/risk_probe_internal.h"

static ebb_code nomem(ebb_error *err)
{
    return ebb_error_set(err, EBB_E_NOMEM, "out of memory building a probe");
}

static void absent_table(ebb_risk_probe *p, const ebb_risk_name *n)
{
    char buf[300];
    ebb_prober_disp(n, buf, sizeof buf);
    ebb_prober_note(&p->found, EBB_PROBE_ABSENT,
                    "not probed: table %s does not exist before the path runs", buf);
}

/* Append key k of p as SQL: a quoted column (after qualifier.) or the expression in parentheses. */
static ebb_code add_key(ebb_prober *pr, ebb_strbuf *b, const char *qualifier, const ebb_risk_key *k,
                        ebb_error *err)
{
    if (k->column == NULL) {
        ebb_strbuf_addf(b, "(%s)", k->expr);
        return EBB_OK;
    }
    if (qualifier != NULL)
        ebb_strbuf_addf(b, "%s.", qualifier);
    return ebb_prober_ident(pr, b, k->column, err);
}

/* "a, b" / "lower(email)" for labels. */
static char *key_label(const ebb_risk_probe *p)
{
    ebb_strbuf b = {0};
    for (size_t i = 0; i < p->n_keys; i++)
        ebb_strbuf_addf(&b, "%s%s", i ? ", " : p->n_keys > 1 ? "(" : "",
                        p->keys[i].column ? p->keys[i].column : p->keys[i].expr);
    if (p->n_keys > 1)
        ebb_strbuf_add(&b, ")");
    return ebb_strbuf_take(&b);
}

ebb_code ebb_prober_duplicates(ebb_prober *pr, ebb_risk_probe *p, ebb_error *err)
{
    if (p->n_keys == 0) {
        ebb_prober_note(&p->found, EBB_PROBE_CANNOT,
                        "the key columns could not be read from the statement");
        return EBB_OK;
    }
    char *oid = NULL;
    ebb_code rc = ebb_prober_table(pr, &p->target, &oid, err);
    if (rc != EBB_OK || oid == NULL) {
        if (rc == EBB_OK)
            absent_table(p, &p->target);
        return rc;
    }
    free(oid);
    ebb_strbuf keys = {0}, q = {0};
    for (size_t i = 0; rc == EBB_OK && i < p->n_keys; i++) {
        if (i > 0)
            ebb_strbuf_add(&keys, ", ");
        rc = add_key(pr, &keys, NULL, &p->keys[i], err);
    }
    char *k = ebb_strbuf_take(&keys);
    if (rc == EBB_OK && k == NULL)
        rc = nomem(err);
    /* Groups of more than one row over the keys; NULLs are distinct unless NULLS NOT DISTINCT. */
    ebb_strbuf_addf(&q, "SELECT g.k, count(*) OVER (), sum(g.n) OVER (), g.n FROM (SELECT %s(%s)::text AS k,"
                        " count(*) AS n FROM %s", p->n_keys > 1 ? "row" : "", k ? k : "",
                    p->only ? "ONLY " : "");
    if (rc == EBB_OK)
        rc = ebb_prober_name(pr, &q, &p->target, err);
    ebb_strbuf_add(&q, " WHERE true");
    for (size_t i = 0; rc == EBB_OK && !p->nulls_not_distinct && i < p->n_keys; i++) {
        ebb_strbuf_add(&q, " AND ");
        rc = add_key(pr, &q, NULL, &p->keys[i], err);
        ebb_strbuf_add(&q, " IS NOT NULL");
    }
    if (p->expr != NULL)
        ebb_strbuf_addf(&q, " AND (%s\n)", p->expr);
    ebb_strbuf_addf(&q, " GROUP BY %s HAVING count(*) > 1) g ORDER BY g.n DESC, g.k LIMIT %zu",
                    k ? k : "", pr->o.max_examples);
    char *sql = ebb_strbuf_take(&q), *label = key_label(p);
    if (rc == EBB_OK && (sql == NULL || label == NULL))
        rc = nomem(err);
    if (rc == EBB_OK)
        rc = ebb_prober_collect(pr, sql, 0, NULL, label, &p->found, err);
    if (rc == EBB_OK && p->found.count > 0)
        ebb_prober_note(&p->found, EBB_PROBE_DONE,
                        "%lld duplicate group%s (%lld rows) over %s", p->found.count,
                        p->found.count == 1 ? "" : "s", p->found.rows, label);
    free(k);
    free(sql);
    free(label);
    return rc;
}

/* Rows of the target matching cond (SQL over unqualified columns), named by their keys. */
static ebb_code offending_rows(ebb_prober *pr, ebb_risk_probe *p, const char *oid, const char *cond,
                               int nparams, const char *const *params, ebb_error *err)
{
    char *rowid = NULL, *label = NULL;
    ebb_code rc = ebb_prober_row_id(pr, oid, NULL, &rowid, &label, err);
    if (rc != EBB_OK)
        return rc;
    ebb_strbuf q = {0};
    ebb_strbuf_addf(&q, "SELECT %s, count(*) OVER () FROM %s", rowid, p->only ? "ONLY " : "");
    rc = ebb_prober_name(pr, &q, &p->target, err);
    ebb_strbuf_addf(&q, " WHERE %s\nORDER BY 1 LIMIT %zu", cond, pr->o.max_examples);
    char *sql = ebb_strbuf_take(&q);
    if (rc == EBB_OK && sql == NULL)
        rc = nomem(err);
    if (rc == EBB_OK)
        rc = ebb_prober_collect(pr, sql, nparams, params, label, &p->found, err);
    free(sql);
    free(rowid);
    free(label);
    return rc;
}

/* Table oid, and whether column exists; notes ABSENT when either does not. */
static ebb_code table_column(ebb_prober *pr, ebb_risk_probe *p, const char *column, char **oid,
                             ebb_error *err)
{
    *oid = NULL;
    char *o = NULL;
    ebb_code rc = ebb_prober_table(pr, &p->target, &o, err);
    if (rc != EBB_OK || o == NULL) {
        if (rc == EBB_OK)
            absent_table(p, &p->target);
        return rc;
    }
    if (column != NULL) {
        const char *params[] = {o, column};
        char *v = NULL;
        rc = ebb_pg_query_text(pr->pg,
                               "SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = $1::oid"
                               " AND attname = $2 AND attnum > 0 AND NOT attisdropped",
                               2, params, &v, err);
        if (rc == EBB_OK && v == NULL) {
            char buf[300];
            ebb_prober_disp(&p->target, buf, sizeof buf);
            ebb_prober_note(&p->found, EBB_PROBE_ABSENT,
                            "not probed: column %s.%s does not exist before the path runs", buf,
                            column);
        }
        bool ok = v != NULL;
        free(v);
        if (rc != EBB_OK || !ok) {
            free(o);
            return rc;
        }
    }
    *oid = o;
    return EBB_OK;
}

ebb_code ebb_prober_nulls(ebb_prober *pr, ebb_risk_probe *p, ebb_error *err)
{
    if (p->n_keys == 0 || p->keys[0].column == NULL) {
        ebb_prober_note(&p->found, EBB_PROBE_CANNOT, "the column is not named in the statement");
        return EBB_OK;
    }
    char *oid = NULL;
    ebb_code rc = table_column(pr, p, p->keys[0].column, &oid, err);
    if (rc != EBB_OK || oid == NULL)
        return rc;
    ebb_strbuf c = {0};
    rc = ebb_prober_ident(pr, &c, p->keys[0].column, err);
    ebb_strbuf_add(&c, " IS NULL");
    char *cond = ebb_strbuf_take(&c);
    if (rc == EBB_OK && cond == NULL)
        rc = nomem(err);
    if (rc == EBB_OK)
        rc = offending_rows(pr, p, oid, cond, 0, NULL, err);
    if (rc == EBB_OK && p->found.count > 0)
        ebb_prober_note(&p->found, EBB_PROBE_DONE, "%lld row%s with %s NULL", p->found.count,
                        p->found.count == 1 ? "" : "s", p->keys[0].column);
    free(cond);
    free(oid);
    return rc;
}

ebb_code ebb_prober_check(ebb_prober *pr, ebb_risk_probe *p, ebb_error *err)
{
    if (p->expr == NULL) {
        ebb_prober_note(&p->found, EBB_PROBE_CANNOT, "the CHECK expression is not known");
        return EBB_OK;
    }
    char *oid = NULL;
    ebb_code rc = table_column(pr, p, NULL, &oid, err);
    if (rc != EBB_OK || oid == NULL)
        return rc;
    /* A CHECK fails only on false; NULL passes. The text is the operator's own SQL. */
    ebb_strbuf c = {0};
    ebb_strbuf_addf(&c, "((%s\n)) IS FALSE", p->expr);
    char *cond = ebb_strbuf_take(&c);
    rc = cond != NULL ? offending_rows(pr, p, oid, cond, 0, NULL, err) : nomem(err);
    if (rc == EBB_OK && p->found.count > 0)
        ebb_prober_note(&p->found, EBB_PROBE_DONE, "%lld row%s fail CHECK (%s)", p->found.count,
                        p->found.count == 1 ? "" : "s", p->expr);
    free(cond);
    free(oid);
    return rc;
}

ebb_code ebb_prober_fk(ebb_prober *pr, ebb_risk_probe *p, ebb_error *err)
{
    if (p->n_keys == 0) {
        ebb_prober_note(&p->found, EBB_PROBE_CANNOT, "the key columns are not named");
        return EBB_OK;
    }
    char *oid = NULL, *ref_oid = NULL;
    ebb_code rc = table_column(pr, p, NULL, &oid, err);
    if (rc != EBB_OK || oid == NULL)
        return rc;
    rc = ebb_prober_table(pr, &p->ref_table, &ref_oid, err);
    if (rc == EBB_OK && ref_oid == NULL) {
        char buf[300];
        ebb_prober_disp(&p->ref_table, buf, sizeof buf);
        ebb_prober_note(&p->found, EBB_PROBE_ABSENT,
                        "not probed: referenced table %s does not exist before the path runs", buf);
        free(oid);
        return EBB_OK;
    }
    char **ref = p->ref_columns, **pk = NULL;
    size_t n_ref = p->n_ref_columns, n_pk = 0;
    if (rc == EBB_OK && n_ref == 0) {
        rc = ebb_prober_pkey(pr, ref_oid, &pk, &n_pk, err);
        ref = pk;
        n_ref = n_pk;
    }
    if (rc == EBB_OK && n_ref != p->n_keys) {
        ebb_prober_note(&p->found, EBB_PROBE_CANNOT,
                        "the referenced columns (%zu) do not line up with the keys (%zu)", n_ref,
                        p->n_keys);
        goto done;
    }
    ebb_strbuf q = {0}, keys = {0}, anynull = {0}, allnull = {0}, match = {0};
    for (size_t i = 0; rc == EBB_OK && i < p->n_keys; i++) {
        const char *sep = i ? ", " : "";
        ebb_strbuf_add(&keys, sep);
        rc = add_key(pr, &keys, "c", &p->keys[i], err);
        ebb_strbuf_add(&anynull, i ? " OR " : "");
        ebb_strbuf_add(&allnull, i ? " AND " : "");
        if (rc == EBB_OK)
            rc = add_key(pr, &anynull, "c", &p->keys[i], err);
        if (rc == EBB_OK)
            rc = add_key(pr, &allnull, "c", &p->keys[i], err);
        ebb_strbuf_add(&anynull, " IS NULL");
        ebb_strbuf_add(&allnull, " IS NULL");
        ebb_strbuf_add(&match, i ? " AND p." : "p.");
        if (rc == EBB_OK)
            rc = ebb_prober_ident(pr, &match, ref[i], err);
        ebb_strbuf_add(&match, " = ");
        if (rc == EBB_OK)
            rc = add_key(pr, &match, "c", &p->keys[i], err);
    }
    char *k = ebb_strbuf_take(&keys), *an = ebb_strbuf_take(&anynull), *al = ebb_strbuf_take(&allnull),
         *m = ebb_strbuf_take(&match);
    if (rc == EBB_OK && (k == NULL || an == NULL || al == NULL || m == NULL))
        rc = nomem(err);
    if (rc == EBB_OK) {
        ebb_strbuf_addf(&q, "SELECT %s(%s)::text, count(*) OVER () FROM ", p->n_keys > 1 ? "row" : "",
                        k);
        rc = ebb_prober_name(pr, &q, &p->target, err);
        ebb_strbuf_add(&q, " AS c WHERE ");
        /* MATCH SIMPLE skips keys with a NULL; MATCH FULL fails on partly NULL keys too. */
        if (p->match_full)
            ebb_strbuf_addf(&q, "NOT (%s) AND ((%s) OR NOT EXISTS (SELECT 1 FROM ", al, an);
        else
            ebb_strbuf_addf(&q, "NOT (%s) AND (NOT EXISTS (SELECT 1 FROM ", an);
        if (rc == EBB_OK)
            rc = ebb_prober_name(pr, &q, &p->ref_table, err);
        ebb_strbuf_addf(&q, " AS p WHERE %s)) ORDER BY 1 LIMIT %zu", m, pr->o.max_examples);
    }
    char *sql = ebb_strbuf_take(&q), *label = key_label(p);
    if (rc == EBB_OK && (sql == NULL || label == NULL))
        rc = nomem(err);
    if (rc == EBB_OK)
        rc = ebb_prober_collect(pr, sql, 0, NULL, label, &p->found, err);
    if (rc == EBB_OK && p->found.count > 0) {
        char buf[300];
        ebb_prober_disp(&p->ref_table, buf, sizeof buf);
        ebb_prober_note(&p->found, EBB_PROBE_DONE, "%lld row%s reference no row of %s",
                        p->found.count, p->found.count == 1 ? "" : "s", buf);
    }
    free(k);
    free(an);
    free(al);
    free(m);
    free(sql);
    free(label);
done:
    for (size_t i = 0; i < n_pk; i++)
        free(pk[i]);
    free(pk);
    free(oid);
    free(ref_oid);
    return rc;
}

/* ---- VALIDATE CONSTRAINT: the constraint comes from the catalog ---- */

static char **json_names(json_t *arr, size_t *n)
{
    *n = 0;
    size_t count = json_array_size(arr);
    char **out = calloc(count + 1, sizeof *out);
    for (size_t i = 0; out != NULL && i < count; i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        if ((out[i] = strdup(s != NULL ? s : "")) == NULL) {
            for (size_t k = 0; k < i; k++)
                free(out[k]);
            free(out);
            return NULL;
        }
        (*n)++;
    }
    return out;
}

ebb_code ebb_prober_validate(ebb_prober *pr, ebb_risk_probe *p, ebb_error *err)
{
    char *oid = NULL;
    ebb_code rc = table_column(pr, p, NULL, &oid, err);
    if (rc != EBB_OK || oid == NULL)
        return rc;
    const char *params[] = {oid, p->constraint != NULL ? p->constraint : ""};
    char *v = NULL;
    rc = ebb_pg_query_text(
        pr->pg,
        "SELECT pg_catalog.json_build_array(c.contype, pg_catalog.pg_get_expr(c.conbin, c.conrelid),"
        "  rn.nspname, rc.relname, c.confmatchtype,"
        "  (SELECT array_agg(a.attname ORDER BY u.ord) FROM unnest(c.conkey) WITH ORDINALITY u(n, ord)"
        "    JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = u.n),"
        "  (SELECT array_agg(a.attname ORDER BY u.ord) FROM unnest(c.confkey) WITH ORDINALITY u(n, ord)"
        "    JOIN pg_catalog.pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = u.n))::text"
        " FROM pg_catalog.pg_constraint c"
        " LEFT JOIN pg_catalog.pg_class rc ON rc.oid = c.confrelid"
        " LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace"
        " WHERE c.conrelid = $1::oid AND c.conname = $2",
        2, params, &v, err);
    free(oid);
    if (rc != EBB_OK)
        return rc;
    if (v == NULL) {
        ebb_prober_note(&p->found, EBB_PROBE_ABSENT,
                        "not probed: constraint %s does not exist before the path runs",
                        p->constraint ? p->constraint : "?");
        return EBB_OK;
    }
    json_t *doc = json_loads(v, 0, NULL);
    free(v);
    const char *type = json_string_value(json_array_get(doc, 0));
    ebb_risk_probe q = {.kind = EBB_PROBE_CHECK, .target = p->target};
    if (type != NULL && strcmp(type, "c") == 0) {
        q.expr = (char *)json_string_value(json_array_get(doc, 1));
        rc = ebb_prober_check(pr, &q, err);
    } else if (type != NULL && strcmp(type, "f") == 0) {
        ebb_risk_name ref = {.schema = (char *)json_string_value(json_array_get(doc, 2)),
                             .name = (char *)json_string_value(json_array_get(doc, 3))};
        size_t nk = 0, nr = 0;
        char **kc = json_names(json_array_get(doc, 5), &nk);
        char **rcn = json_names(json_array_get(doc, 6), &nr);
        ebb_risk_key *keys = calloc(nk + 1, sizeof *keys);
        if (kc == NULL || rcn == NULL || keys == NULL || ref.schema == NULL || ref.name == NULL) {
            rc = kc && rcn && keys ? EBB_OK : nomem(err);
            if (rc == EBB_OK)
                ebb_prober_note(&q.found, EBB_PROBE_CANNOT, "the foreign key is not readable");
        } else {
            for (size_t i = 0; i < nk; i++)
                keys[i].column = kc[i];
            q.kind = EBB_PROBE_FK_ORPHANS;
            q.keys = keys;
            q.n_keys = nk;
            q.ref_table = ref;
            q.ref_columns = rcn;
            q.n_ref_columns = nr;
            const char *mt = json_string_value(json_array_get(doc, 4));
            q.match_full = mt != NULL && strcmp(mt, "f") == 0;
            rc = ebb_prober_fk(pr, &q, err);
        }
        for (size_t i = 0; kc != NULL && i < nk; i++)
            free(kc[i]);
        for (size_t i = 0; rcn != NULL && i < nr; i++)
            free(rcn[i]);
        free(kc);
        free(rcn);
        free(keys);
    } else {
        ebb_prober_note(&q.found, EBB_PROBE_CANNOT,
                        "constraint %s is not a CHECK or FOREIGN KEY constraint", p->constraint);
    }
    json_decref(doc);
    /* The finding moves to the real probe (q only borrowed names). */
    char *changed = p->found.changed_by;
    q.found.changed_by = changed;
    p->found = q.found;
    return rc;
}
