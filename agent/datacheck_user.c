/* Data checks: user check files, the combined check after a path, and its summary. */
#include "agent/datacheck.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/migrate_plan.h"

#define BOOL_OID 16
#define MAX_SHOWN_ROWS 3

static ebb_code read_file(const char *path, char **out, ebb_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return ebb_error_errno(err, EBB_E_IO, errno, "cannot open check file %s", path);
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (len + 1 >= cap) {
            char *p = realloc(buf, cap * 2);
            if (!p) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = p;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
    }
    int failed = ferror(f);
    fclose(f);
    if (!buf)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory reading %s", path);
    if (failed) {
        free(buf);
        return ebb_error_set(err, EBB_E_IO, "cannot read check file %s", path);
    }
    buf[len] = '\0';
    *out = buf;
    return EBB_OK;
}

typedef struct check_rows {
    long rows;
    bool single_true;
    char *shown;
    size_t shown_len;
} check_rows;

static ebb_code check_row(void *ctx, const PGresult *res, int row, ebb_error *err)
{
    check_rows *c = ctx;
    c->rows++;
    int nf = PQnfields(res);
    c->single_true = c->rows == 1 && nf == 1 && PQftype(res, 0) == BOOL_OID &&
                     !PQgetisnull(res, row, 0) && strcmp(PQgetvalue(res, row, 0), "t") == 0;
    if (c->rows > MAX_SHOWN_ROWS)
        return EBB_OK;
    size_t need = 2;
    for (int i = 0; i < nf; i++)
        need += strlen(PQfname(res, i)) + 4 +
                (PQgetisnull(res, row, i) ? 4 : strlen(PQgetvalue(res, row, i)));
    char *p = realloc(c->shown, c->shown_len + need);
    if (!p)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory reading check rows");
    c->shown = p;
    char *w = c->shown + c->shown_len;
    w[0] = '\0';
    for (int i = 0; i < nf; i++) {
        size_t used = strlen(w);
        snprintf(w + used, need - used, "%s%s=%s", i ? ", " : "", PQfname(res, i),
                 PQgetisnull(res, row, i) ? "NULL" : PQgetvalue(res, row, i));
    }
    size_t used = strlen(w);
    snprintf(w + used, need - used, "\n");
    c->shown_len += strlen(w);
    return EBB_OK;
}

static ebb_code run_check(ebb_pg *pg, const char *path, ebb_user_check *uc, ebb_error *err)
{
    char *sql = NULL;
    ebb_code rc = read_file(path, &sql, err);
    if (rc != EBB_OK)
        return rc;
    if (!(uc->path = strdup(path))) {
        free(sql);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory running checks");
    }
    check_rows cr = {0};
    ebb_error qerr;
    ebb_error_clear(&qerr);
    ebb_code qrc = ebb_pg_exec_ok(pg, "BEGIN READ ONLY", &qerr);
    if (qrc == EBB_OK)
        qrc = ebb_pg_exec(pg, sql, 0, NULL, check_row, &cr, NULL, &qerr);
    free(sql);
    if (PQtransactionStatus(pg->conn) != PQTRANS_IDLE) {
        ebb_error rb_err;
        if (ebb_pg_rollback(pg, &rb_err) != EBB_OK && qrc == EBB_OK) {
            qrc = rb_err.code;
            qerr = rb_err;
        }
    }
    if (qrc == EBB_E_NOMEM) {
        free(cr.shown);
        return ebb_error_set(err, EBB_E_NOMEM, "%s", qerr.msg);
    }
    uc->rows = cr.rows;
    if (qrc != EBB_OK) {
        uc->passed = false;
        uc->error = strdup(qerr.msg);
        free(cr.shown);
        return uc->error ? EBB_OK : ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    }
    uc->passed = cr.rows == 0 || (cr.rows == 1 && cr.single_true);
    if (uc->passed) {
        free(cr.shown);
    } else {
        if (cr.shown_len && cr.shown[cr.shown_len - 1] == '\n')
            cr.shown[--cr.shown_len] = '\0';
        uc->first_rows = cr.shown;
    }
    return EBB_OK;
}

ebb_code ebb_datacheck_user_checks(ebb_pg *pg, const ebb_graph *graph, ebb_user_check_report *out,
                                   ebb_error *err)
{
    ebb_user_check_report rep = {0};
    rep.checks = calloc(graph->n_checks ? graph->n_checks : 1, sizeof *rep.checks);
    if (!rep.checks)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory running checks");
    ebb_code rc = EBB_OK;
    for (size_t i = 0; rc == EBB_OK && i < graph->n_checks; i++) {
        rc = run_check(pg, graph->check_paths[i], &rep.checks[i], err);
        rep.count = i + 1;
        if (rc == EBB_OK && !rep.checks[i].passed)
            rep.n_failed++;
    }
    if (rc != EBB_OK) {
        ebb_user_check_report_fini(&rep);
        return rc;
    }
    *out = rep;
    return EBB_OK;
}

void ebb_user_check_report_fini(ebb_user_check_report *rep)
{
    if (!rep)
        return;
    for (size_t i = 0; i < rep->count; i++) {
        free(rep->checks[i].path);
        free(rep->checks[i].first_rows);
        free(rep->checks[i].error);
    }
    free(rep->checks);
    memset(rep, 0, sizeof *rep);
}

/* ---- all of it ---- */

/*
 * A path with Alembic steps: their SQL is not known (Python runs it), so
 * every table of before and after counts as touched; only the orphan and
 * user checks then judge the data.
 */
static ebb_code all_tables_touched(const ebb_row_counts *before, const ebb_row_counts *after,
                                   char ***touched, size_t *n_touched, ebb_error *err)
{
    const ebb_row_counts *sets[] = {before, after};
    for (size_t k = 0; k < 2; k++)
        for (size_t i = 0; i < sets[k]->count; i++) {
            const ebb_table_count *t = &sets[k]->tables[i];
            char **v = realloc(*touched, (*n_touched + 1) * sizeof *v);
            if (!v)
                return ebb_error_set(err, EBB_E_NOMEM, "out of memory running data checks");
            *touched = v;
            size_t len = strlen(t->schema) + strlen(t->table) + 2;
            if (!(v[*n_touched] = malloc(len)))
                return ebb_error_set(err, EBB_E_NOMEM, "out of memory running data checks");
            snprintf(v[*n_touched], len, "%s.%s", t->schema, t->table);
            (*n_touched)++;
        }
    return EBB_OK;
}

ebb_code ebb_datacheck_after(ebb_pg *pg, const ebb_graph *graph, const ebb_path *path,
                             const ebb_row_counts *before, ebb_datacheck_report *out,
                             ebb_error *err)
{
    const char **scripts = calloc(path->count ? path->count : 1, sizeof *scripts);
    if (!scripts)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory running data checks");
    bool external = false;
    for (size_t i = 0; i < path->count; i++) {
        const ebb_script *s = ebb_plan_step_script(graph, path, i);
        external = external || (s && s->external);
        scripts[i] = s && !s->external ? s->sql : NULL;
    }
    char **touched = NULL;
    size_t n_touched = 0;
    ebb_code rc = ebb_datacheck_touched_tables(scripts, path->count, &touched, &n_touched, err);
    free(scripts);
    if (rc != EBB_OK)
        return rc;
    ebb_datacheck_report rep = {0};
    ebb_row_counts after = {0};
    rc = ebb_datacheck_count_rows(pg, &after, err);
    if (rc == EBB_OK && external)
        rc = all_tables_touched(before, &after, &touched, &n_touched, err);
    if (rc == EBB_OK)
        rc = ebb_datacheck_compare_counts(before, &after, touched, n_touched, &rep.counts, err);
    if (rc == EBB_OK)
        rc = ebb_datacheck_fk_orphans(pg, &rep.fks, err);
    if (rc == EBB_OK)
        rc = ebb_datacheck_user_checks(pg, graph, &rep.user, err);
    ebb_row_counts_fini(&after);
    for (size_t i = 0; i < n_touched; i++)
        free(touched[i]);
    free(touched);
    if (rc != EBB_OK) {
        ebb_datacheck_report_fini(&rep);
        return rc;
    }
    rep.ok = rep.counts.n_untouched == 0 && rep.fks.n_with_orphans == 0 && rep.user.n_failed == 0;
    *out = rep;
    return EBB_OK;
}

void ebb_datacheck_report_fini(ebb_datacheck_report *rep)
{
    if (!rep)
        return;
    ebb_count_diff_fini(&rep->counts);
    ebb_fk_report_fini(&rep->fks);
    ebb_user_check_report_fini(&rep->user);
    rep->ok = false;
}

/* Append a formatted line to a malloc'd text; returns -1 on out of memory. */
static int addf(char **text, size_t *len, const char *fmt, ...) EBB_PRINTF(3, 4);
static int addf(char **text, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    char *p = realloc(*text, *len + (size_t)n + 1);
    if (!p)
        return -1;
    *text = p;
    va_start(ap, fmt);
    vsnprintf(p + *len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    *len += (size_t)n;
    return 0;
}

ebb_code ebb_datacheck_report_format(const ebb_datacheck_report *rep, char **out, ebb_error *err)
{
    char *t = calloc(1, 1);
    size_t len = 0;
    int bad = !t;
    for (size_t i = 0; !bad && i < rep->counts.count; i++) {
        const ebb_count_change *c = &rep->counts.changes[i];
        if (c->touched)
            continue;
        bad = addf(&t, &len,
                   "row count of %s.%s changed (%lld -> %lld) but the path does not name it\n",
                   c->schema, c->table, c->before, c->after);
    }
    for (size_t i = 0; !bad && i < rep->fks.count; i++) {
        const ebb_fk_orphans *f = &rep->fks.fks[i];
        if (f->orphans > 0)
            bad = addf(&t, &len, "foreign key %s: %lld rows of %s have no parent in %s\n",
                       f->constraint_name, f->orphans, f->child, f->parent);
    }
    for (size_t i = 0; !bad && i < rep->user.count; i++) {
        const ebb_user_check *u = &rep->user.checks[i];
        if (u->passed)
            continue;
        if (u->error)
            bad = addf(&t, &len, "check %s failed to run: %s\n", u->path, u->error);
        else
            bad = addf(&t, &len, "check %s returned %ld rows, first:\n%s\n", u->path, u->rows,
                       u->first_rows ? u->first_rows : "");
    }
    if (bad) {
        free(t);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory formatting the data checks");
    }
    *out = t;
    return EBB_OK;
}
