/* Printing audit history: the rollback-history table, JSON and CSV (RFC 4180). */
#include "coordinator/audit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Column caps for the table; JSON and CSV always carry the full text. */
#define CAP_REASON 48
#define CAP_METHOD 48
#define CAP_HOSTS 40
#define CAP_OTHER 40

static void utc_parts(int64_t ms, char date[11], char tod[9])
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    if (ms <= 0 || gmtime_r(&s, &tm) == NULL) {
        snprintf(date, 11, "-");
        snprintf(tod, 9, "-");
        return;
    }
    strftime(date, 11, "%Y-%m-%d", &tm);
    strftime(tod, 9, "%H:%M:%S", &tm);
}

/* "2024-06-01T10:00:00.123Z", or "" for 0. */
static void iso_time(int64_t ms, char out[32])
{
    char d[11], t[9];
    if (ms <= 0) {
        out[0] = '\0';
        return;
    }
    utc_parts(ms, d, t);
    snprintf(out, 32, "%sT%s.%03dZ", d, t, (int)(ms % 1000));
}

static char *join(const ebb_audit_strings *s, const char *sep)
{
    size_t len = 1;
    for (size_t i = 0; i < s->n; i++)
        len += strlen(s->items[i]) + strlen(sep);
    char *out = malloc(len);
    if (out == NULL)
        return NULL;
    out[0] = '\0';
    for (size_t i = 0; i < s->n; i++) {
        if (i > 0)
            strcat(out, sep);
        strcat(out, s->items[i]);
    }
    return out;
}

static void performed_by(const ebb_audit_run *r, char *buf, size_t size)
{
    if (r->operator_name && r->operator_key_id)
        snprintf(buf, size, "%s (%s)", r->operator_name, r->operator_key_id);
    else
        snprintf(buf, size, "%s", r->operator_key_id ? r->operator_key_id : "-");
}

/* ---- table ---- */

enum { COL_RUN, COL_DATE, COL_TIME, COL_BY, COL_REASON, COL_METHOD, COL_OUTCOME, COL_HOSTS, NCOL };

static const char *const col_head[NCOL] = {"RUN",    "DATE",   "TIME (UTC)", "PERFORMED BY",
                                           "REASON", "METHOD", "OUTCOME",    "HOSTS"};
static const size_t col_cap[NCOL] = {CAP_OTHER,  10,         10, CAP_OTHER,
                                     CAP_REASON, CAP_METHOD, 12, CAP_HOSTS};

/* Characters shown (UTF-8 continuation bytes take no column). */
static size_t width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

/* A cell: control characters become spaces, cut to cap characters with "...". */
static char *cell(const char *s, size_t cap)
{
    if (s == NULL)
        s = "-";
    char *c = strdup(s);
    if (c == NULL)
        return NULL;
    for (char *p = c; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    if (width(c) > cap) {
        size_t keep = 0, w = 0;
        while (c[keep] && w < cap - 3) {
            keep++; /* a lead byte, then its continuation bytes */
            while (c[keep] && ((unsigned char)c[keep] & 0xC0) == 0x80)
                keep++;
            w++;
        }
        memcpy(c + keep, "...", 4);
    }
    return c;
}

static ebb_code write_table(const ebb_audit_history *h, const ebb_audit_filter *f, FILE *out,
                            ebb_error *err)
{
    size_t n = ebb_audit_history_count(h), rows = 0;
    char **cells = calloc(n * NCOL + 1, sizeof *cells);
    if (cells == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory printing the audit table");
    size_t w[NCOL];
    for (int c = 0; c < NCOL; c++)
        w[c] = strlen(col_head[c]);
    ebb_code rc = EBB_OK;
    for (size_t i = 0; i < n && rc == EBB_OK; i++) {
        const ebb_audit_run *r = ebb_audit_history_run(h, i);
        if (!ebb_audit_run_matches(r, f))
            continue;
        char date[11], tod[9], by[160], method[256];
        utc_parts(r->started_ms, date, tod);
        performed_by(r, by, sizeof by);
        ebb_audit_run_method(r, method, sizeof method);
        char *hosts = join(&r->hosts, ",");
        const char *v[NCOL] = {r->run_id, date, tod, by, r->reason, method, r->outcome, hosts};
        char **row = cells + rows * NCOL;
        for (int c = 0; c < NCOL; c++) {
            row[c] = cell(c == COL_HOSTS && hosts && !hosts[0] ? "-" : v[c], col_cap[c]);
            if (row[c] == NULL)
                rc = ebb_error_set(err, EBB_E_NOMEM, "out of memory printing the audit table");
            else if (width(row[c]) > w[c])
                w[c] = width(row[c]);
        }
        free(hosts);
        rows++;
    }
    for (size_t r = 0; rc == EBB_OK && r <= rows; r++) {
        for (int c = 0; c < NCOL; c++) {
            const char *s = r == 0 ? col_head[c] : cells[(r - 1) * NCOL + c];
            if (c == NCOL - 1)
                fprintf(out, "%s\n", s);
            else
                fprintf(out, "%s%*s  ", s, (int)(w[c] - width(s)), "");
        }
    }
    if (rc == EBB_OK && rows == 0)
        fprintf(out, "(no runs match)\n");
    for (size_t i = 0; i < rows * NCOL; i++)
        free(cells[i]);
    free(cells);
    return rc;
}

/* ---- JSON ---- */

static json_t *strings_json(const ebb_audit_strings *s)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < s->n; i++)
        if (json_array_append_new(a, json_string(s->items[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *run_json(const ebb_audit_run *r)
{
    char started[32], ended[32], method[256];
    iso_time(r->started_ms, started);
    iso_time(r->ended_ms, ended);
    ebb_audit_run_method(r, method, sizeof method);
    return json_pack(
        "{s:s,s:s,s:o,s:o,s:s,s:I,s:o,s:o,s:o,s:o,s:o,s:s,s:s,s:o,s:I,s:I,s:I,"
        "s:o,s:o,s:o,s:O}",
        "run_id", r->run_id, "kind", r->requested ? ebb_audit_kind_name(r->kind) : "unknown",
        "environment", str_or_null(r->environment), "target", str_or_null(r->target), "started_at",
        started, "started_ms", (json_int_t)r->started_ms, "operator_key_id",
        str_or_null(r->operator_key_id), "operator_name", str_or_null(r->operator_name), "reason",
        str_or_null(r->reason), "plan_hash", str_or_null(r->plan_hash), "approvers",
        strings_json(&r->approvers), "method", method, "outcome", r->outcome, "ended_at",
        r->ended_ms ? json_string(ended) : json_null(), "ended_ms", (json_int_t)r->ended_ms,
        "steps", (json_int_t)r->steps, "failed_steps", (json_int_t)r->failed_steps, "hosts",
        strings_json(&r->hosts), "databases", strings_json(&r->databases), "compensated_hosts",
        strings_json(&r->compensated_hosts), "records", r->records);
}

json_t *ebb_audit_history_json(const ebb_audit_history *h, const ebb_audit_filter *f)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < ebb_audit_history_count(h); i++) {
        const ebb_audit_run *r = ebb_audit_history_run(h, i);
        if (!ebb_audit_run_matches(r, f))
            continue;
        json_t *o = run_json(r);
        if (o == NULL || json_array_append_new(a, o) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* ---- CSV ---- */

void ebb_audit_csv_field(FILE *out, const char *s)
{
    if (s == NULL)
        s = "";
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

static const char *const csv_head[] = {
    "run_id",    "date",      "time",        "performed_by", "operator_key_id", "reason",
    "method",    "kind",      "environment", "target",       "outcome",         "hosts",
    "databases", "approvers", "steps",       "failed_steps", "started_at",      "ended_at",
};
#define CSV_COLS (sizeof csv_head / sizeof csv_head[0])

static ebb_code write_csv(const ebb_audit_history *h, const ebb_audit_filter *f, FILE *out,
                          ebb_error *err)
{
    for (size_t c = 0; c < CSV_COLS; c++)
        fprintf(out, "%s%s", c ? "," : "", csv_head[c]);
    fputs("\r\n", out);
    for (size_t i = 0; i < ebb_audit_history_count(h); i++) {
        const ebb_audit_run *r = ebb_audit_history_run(h, i);
        if (!ebb_audit_run_matches(r, f))
            continue;
        char date[11], tod[9], by[160], method[256], steps[24], failed[24], started[32], ended[32];
        utc_parts(r->started_ms, date, tod);
        performed_by(r, by, sizeof by);
        ebb_audit_run_method(r, method, sizeof method);
        snprintf(steps, sizeof steps, "%zu", r->steps);
        snprintf(failed, sizeof failed, "%zu", r->failed_steps);
        iso_time(r->started_ms, started);
        iso_time(r->ended_ms, ended);
        char *hosts = join(&r->hosts, " "), *dbs = join(&r->databases, " "),
             *appr = join(&r->approvers, " ");
        if (hosts == NULL || dbs == NULL || appr == NULL) {
            free(hosts);
            free(dbs);
            free(appr);
            return ebb_error_set(err, EBB_E_NOMEM, "out of memory printing CSV");
        }
        const char *v[CSV_COLS] = {
            r->run_id,
            date,
            tod,
            by,
            r->operator_key_id,
            r->reason,
            method,
            r->requested ? ebb_audit_kind_name(r->kind) : "",
            r->environment,
            r->target,
            r->outcome,
            hosts,
            dbs,
            appr,
            steps,
            failed,
            started,
            ended,
        };
        for (size_t c = 0; c < CSV_COLS; c++) {
            if (c)
                fputc(',', out);
            ebb_audit_csv_field(out, v[c]);
        }
        fputs("\r\n", out);
        free(hosts);
        free(dbs);
        free(appr);
    }
    return EBB_OK;
}

ebb_code ebb_audit_history_write(const ebb_audit_history *h, const ebb_audit_filter *f,
                                 ebb_audit_format format, FILE *out, ebb_error *err)
{
    ebb_code rc = EBB_OK;
    if (format == EBB_AUDIT_FORMAT_JSON) {
        json_t *a = ebb_audit_history_json(h, f);
        if (a == NULL)
            return ebb_error_set(err, EBB_E_NOMEM, "out of memory building the audit JSON");
        if (json_dumpf(a, out, JSON_INDENT(2)) != 0)
            rc = ebb_error_set(err, EBB_E_IO, "writing the audit JSON failed");
        fputc('\n', out);
        json_decref(a);
    } else if (format == EBB_AUDIT_FORMAT_CSV) {
        rc = write_csv(h, f, out, err);
    } else {
        rc = write_table(h, f, out, err);
    }
    if (rc == EBB_OK && (fflush(out) != 0 || ferror(out)))
        rc = ebb_error_errno(err, EBB_E_IO, errno, "writing the audit output failed");
    return rc;
}
