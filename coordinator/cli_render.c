/* Human tables of the coordinator's answers: agents, status, runs, one run, prechecks. */
#include "coordinator/cli_render.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/exit_codes.h"

/* ---- a small column table ---- */

#define TABLE_MAX_COLS 10

typedef struct table {
    size_t ncols;
    char **cells; /* rows * ncols, owned */
    size_t nrows;
    size_t cap;
} table;

static void table_init(table *t, size_t ncols)
{
    memset(t, 0, sizeof *t);
    t->ncols = ncols;
}

static void table_fini(table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
}

/* Add a row of ncols strings (copied; NULL prints "-"). Out of memory drops the row. */
static void table_row(table *t, ...)
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        char **cells = realloc(t->cells, cap * t->ncols * sizeof *cells);
        if (cells == NULL)
            return;
        t->cells = cells;
        t->cap = cap;
    }
    va_list ap;
    va_start(ap, t);
    char **row = t->cells + t->nrows * t->ncols;
    for (size_t c = 0; c < t->ncols; c++) {
        const char *s = va_arg(ap, const char *);
        row[c] = strdup(s != NULL && s[0] != '\0' ? s : "-");
    }
    va_end(ap);
    t->nrows++;
}

static void table_print(const table *t, const char *indent, FILE *out)
{
    size_t w[TABLE_MAX_COLS] = {0};
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            size_t len = s != NULL ? strlen(s) : 1;
            if (len > w[c])
                w[c] = len;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        fputs(indent, out);
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            if (s == NULL)
                s = "-";
            if (c + 1 == t->ncols)
                fprintf(out, "%s\n", s);
            else
                fprintf(out, "%-*s  ", (int)w[c], s);
        }
    }
}

/* ---- JSON field helpers (missing or wrong type: NULL / default) ---- */

static const char *str(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool has_int(const json_t *o, const char *key, json_int_t *out)
{
    const json_t *v = json_object_get(o, key);
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return true;
    }
    if (json_is_real(v)) {
        *out = (json_int_t)json_real_value(v);
        return true;
    }
    return false;
}

static bool flag(const json_t *o, const char *key)
{
    return json_is_true(json_object_get(o, key));
}

/* Join the strings of an array with sep into buf; "" when empty or absent. */
static const char *join(const json_t *arr, const char *sep, char *buf, size_t size)
{
    buf[0] = '\0';
    size_t i, used = 0;
    const json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (!json_is_string(v))
            continue;
        int n = snprintf(buf + used, size - used, "%s%s", used ? sep : "", json_string_value(v));
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
    return buf;
}

const char *ebb_cli_duration(int64_t ms, char *buf, size_t size)
{
    if (ms < 0) {
        snprintf(buf, size, "-");
        return buf;
    }
    int64_t s = ms / 1000;
    if (s < 60)
        snprintf(buf, size, "%" PRId64 "s", s);
    else if (s < 3600)
        snprintf(buf, size, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, size, "%" PRId64 "h%02" PRId64 "m", s / 3600, (s % 3600) / 60);
    else
        snprintf(buf, size, "%" PRId64 "d%02" PRId64 "h", s / 86400, (s % 86400) / 3600);
    return buf;
}

/* "12s ago" of a field holding Unix ms; "-" when absent or zero. */
static const char *ago(const json_t *o, const char *key, int64_t now_ms, char *buf, size_t size)
{
    json_int_t t;
    if (!has_int(o, key, &t) || t <= 0) {
        snprintf(buf, size, "-");
        return buf;
    }
    char d[32];
    int64_t diff = now_ms - (int64_t)t;
    snprintf(buf, size, "%s ago", ebb_cli_duration(diff < 0 ? 0 : diff, d, sizeof d));
    return buf;
}

/* UTC "2024-05-01 09:00:00Z" of a Unix ms field; "-" when absent. */
static const char *utc(const json_t *o, const char *key, char *buf, size_t size)
{
    json_int_t t;
    if (!has_int(o, key, &t) || t <= 0) {
        snprintf(buf, size, "-");
        return buf;
    }
    time_t secs = (time_t)(t / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(buf, size, "%Y-%m-%d %H:%M:%SZ", &tm);
    return buf;
}

/* ---- agents ---- */

/* "app@0004, crm@base" of an agent's databases. */
static const char *db_summary(const json_t *agent, char *buf, size_t size)
{
    buf[0] = '\0';
    size_t used = 0, i;
    const json_t *db;
    json_array_foreach(json_object_get(agent, "databases"), i, db)
    {
        char cur[256];
        join(json_object_get(db, "current"), "+", cur, sizeof cur);
        int n = snprintf(buf + used, size - used, "%s%s@%s%s", used ? ", " : "",
                         str(db, "name") ? str(db, "name") : "?", cur[0] ? cur : "base",
                         flag(db, "drift") ? " (drift)" : "");
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
    return buf;
}

void ebb_cli_render_agents(const json_t *result, int64_t now_ms, FILE *out)
{
    const json_t *agents = json_object_get(result, "agents");
    if (json_array_size(agents) == 0) {
        fprintf(out, "no agents\n");
        return;
    }
    table t;
    table_init(&t, 7);
    table_row(&t, "AGENT", "STATE", "ENVIRONMENT", "KEY", "ALIVE", "LAST SEEN", "DATABASES");
    size_t i;
    const json_t *a;
    json_array_foreach(agents, i, a)
    {
        char seen[48], dbs[512];
        const char *state = str(a, "state");
        bool accepted = state != NULL && strcmp(state, "accepted") == 0;
        table_row(&t, str(a, "id"), state, str(a, "environment"), str(a, "key_id"),
                  accepted ? (flag(a, "alive") ? "yes" : "no") : "-",
                  ago(a, "last_seen_ms", now_ms, seen, sizeof seen),
                  db_summary(a, dbs, sizeof dbs));
    }
    table_print(&t, "", out);
    table_fini(&t);
}

/* ---- runs ---- */

static const char *hosts_cell(const json_t *run, char *buf, size_t size)
{
    json_int_t done = 0, total = 0, failed = 0;
    (void)has_int(run, "hosts_done", &done);
    (void)has_int(run, "hosts_total", &total);
    (void)has_int(run, "hosts_failed", &failed);
    if (failed > 0)
        snprintf(buf, size, "%" PRId64 "/%" PRId64 " (%" PRId64 " failed)", (int64_t)done,
                 (int64_t)total, (int64_t)failed);
    else
        snprintf(buf, size, "%" PRId64 "/%" PRId64, (int64_t)done, (int64_t)total);
    return buf;
}

static const char *requester(const json_t *run)
{
    const char *name = str(run, "requester_name");
    return name != NULL && name[0] != '\0' ? name : str(run, "requester");
}

void ebb_cli_render_runs(const json_t *result, int64_t now_ms, FILE *out)
{
    const json_t *runs = json_object_get(result, "runs");
    if (json_array_size(runs) == 0) {
        fprintf(out, "no runs\n");
        return;
    }
    table t;
    table_init(&t, 8);
    table_row(&t, "RUN", "KIND", "ENV", "TARGET", "STATE", "HOSTS", "REQUESTER", "CREATED");
    size_t i;
    const json_t *r;
    json_array_foreach(runs, i, r)
    {
        char hosts[64], created[48];
        table_row(&t, str(r, "run_id"), str(r, "kind"), str(r, "environment"), str(r, "target"),
                  str(r, "state"), hosts_cell(r, hosts, sizeof hosts), requester(r),
                  ago(r, "created_ms", now_ms, created, sizeof created));
    }
    table_print(&t, "", out);
    table_fini(&t);
}

void ebb_cli_render_run_brief(const json_t *run, int64_t now_ms, FILE *out)
{
    char hosts[64], created[48];
    fprintf(out, "run %s: %s of %s to %s, %s\n", str(run, "run_id") ? str(run, "run_id") : "?",
            str(run, "kind") ? str(run, "kind") : "?",
            str(run, "environment") ? str(run, "environment") : "?",
            str(run, "target") ? str(run, "target") : "?",
            str(run, "state") ? str(run, "state") : "?");
    fprintf(out, "  requested by %s %s, reason: %s\n", requester(run) ? requester(run) : "?",
            ago(run, "created_ms", now_ms, created, sizeof created),
            str(run, "reason") && str(run, "reason")[0] ? str(run, "reason") : "-");
    fprintf(out, "  hosts: %s", hosts_cell(run, hosts, sizeof hosts));
    json_int_t wave, waves;
    /* wave is 1-based, 0 before the first wave started */
    if (has_int(run, "wave", &wave) && has_int(run, "waves", &waves) && wave > 0)
        fprintf(out, ", wave %" PRId64 " of %" PRId64, (int64_t)wave, (int64_t)waves);
    else if (has_int(run, "waves", &waves))
        fprintf(out, ", %" PRId64 " waves", (int64_t)waves);
    fputc('\n', out);
    json_int_t needed;
    if (has_int(run, "approvals_needed", &needed) && needed > 0) {
        char who[512];
        const json_t *approvers = json_object_get(run, "approvers");
        fprintf(out, "  approvals: %zu of %" PRId64 "%s%s\n", json_array_size(approvers),
                (int64_t)needed, json_array_size(approvers) ? " by " : "",
                join(approvers, ", ", who, sizeof who));
    }
}

void ebb_cli_render_run_detail(const json_t *run, int64_t now_ms, size_t log_lines, FILE *out)
{
    ebb_cli_render_run_brief(run, now_ms, out);
    const json_t *hosts = json_object_get(run, "hosts");
    if (json_array_size(hosts) > 0) {
        fputc('\n', out);
        table t;
        table_init(&t, 8);
        table_row(&t, "HOST", "DATABASE", "WAVE", "STATE", "STEP", "FROM", "TO", "ERROR");
        size_t i;
        const json_t *h;
        json_array_foreach(hosts, i, h)
        {
            char wave[24] = "-";
            json_int_t w;
            if (has_int(h, "wave", &w)) /* 1-based */
                snprintf(wave, sizeof wave, "%" PRId64, (int64_t)w);
            const char *step = str(h, "step");
            if (step == NULL)
                step = str(h, "job");
            table_row(&t, str(h, "host"), str(h, "database"), wave, str(h, "state"), step,
                      str(h, "from"), str(h, "to"), str(h, "error"));
        }
        table_print(&t, "  ", out);
        table_fini(&t);
    }
    const json_t *log = json_object_get(run, "log");
    size_t n = json_array_size(log);
    if (log_lines == 0 || n == 0)
        return;
    fprintf(out, "\n  recent steps:\n");
    for (size_t i = n > log_lines ? n - log_lines : 0; i < n; i++) {
        const json_t *e = json_array_get(log, i);
        char when[48];
        const char *err = str(e, "error");
        fprintf(out, "    %s  %s/%s  %s  %s%s%s\n", utc(e, "ts_ms", when, sizeof when),
                str(e, "host") ? str(e, "host") : "-",
                str(e, "database") ? str(e, "database") : "-",
                str(e, "step") ? str(e, "step") : "-", str(e, "outcome") ? str(e, "outcome") : "-",
                err && err[0] ? ": " : "", err && err[0] ? err : "");
    }
}

/* ---- status ---- */

/* The newest run of env in a `runs` result (newest first), or NULL. */
static const json_t *last_run_of(const json_t *runs, const char *env)
{
    size_t i;
    const json_t *r;
    json_array_foreach(json_object_get(runs, "runs"), i, r)
    {
        const char *e = str(r, "environment");
        if (e != NULL && env != NULL && strcmp(e, env) == 0)
            return r;
    }
    return NULL;
}

static const char *run_cell(const json_t *run, int64_t now_ms, char *buf, size_t size)
{
    if (run == NULL) {
        snprintf(buf, size, "-");
        return buf;
    }
    char when[48];
    const char *key =
        json_object_get(run, "ended_ms") && !json_is_null(json_object_get(run, "ended_ms"))
            ? "ended_ms"
            : "created_ms";
    snprintf(buf, size, "%s %s %s (%s)", str(run, "run_id") ? str(run, "run_id") : "?",
             str(run, "kind") ? str(run, "kind") : "?", str(run, "state") ? str(run, "state") : "?",
             ago(run, key, now_ms, when, sizeof when));
    return buf;
}

static void policy_line(const json_t *p, FILE *out)
{
    if (!json_is_object(p))
        return;
    json_int_t approvals = 0, window = 0;
    (void)has_int(p, "approvals", &approvals);
    (void)has_int(p, "rollback_window_s", &window);
    const char *from = str(p, "promote_from");
    fprintf(out, "  policy: approvals %" PRId64 "%s%s%s%s%s%s\n", (int64_t)approvals,
            flag(p, "forward_only") ? ", forward-only" : "",
            flag(p, "require_backup") ? ", backup required" : "",
            flag(p, "allow_data_loss") ? ", data loss allowed" : "",
            from != NULL ? ", promoted from " : "", from != NULL ? from : "",
            window > 0 ? ", rollback window" : "");
}

void ebb_cli_render_status(const json_t *result, const json_t *runs, int64_t now_ms, FILE *out)
{
    size_t i;
    const json_t *env;
    bool first = true;
    json_array_foreach(json_object_get(result, "environments"), i, env)
    {
        if (!first)
            fputc('\n', out);
        first = false;
        const char *name = str(env, "name");
        char lr[160];
        fprintf(out, "environment %s\n", name ? name : "?");
        policy_line(json_object_get(env, "policy"), out);
        const json_t *last_env = last_run_of(runs, name);
        if (runs != NULL)
            fprintf(out, "  last run: %s\n", run_cell(last_env, now_ms, lr, sizeof lr));
        const json_t *hosts = json_object_get(env, "hosts");
        if (json_array_size(hosts) == 0) {
            fprintf(out, "  no hosts\n");
            continue;
        }
        table t;
        table_init(&t, 7);
        table_row(&t, "HOST", "DATABASE", "REVISION", "DRIFT", "ALIVE", "LAST SEEN", "LAST RUN");
        size_t j;
        const json_t *h;
        json_array_foreach(hosts, j, h)
        {
            char seen[48], hr[160];
            /* a per-host last run when the coordinator sends one, else the environment's */
            const json_t *host_run = json_object_get(h, "last_run");
            const char *alive = flag(h, "alive") ? "yes" : "no";
            run_cell(json_is_object(host_run) ? host_run : last_env, now_ms, hr, sizeof hr);
            ago(h, "last_seen_ms", now_ms, seen, sizeof seen);
            const json_t *dbs = json_object_get(h, "databases");
            if (json_array_size(dbs) == 0)
                table_row(&t, str(h, "id"), "-", "-", "-", alive, seen, hr);
            size_t k;
            const json_t *db;
            json_array_foreach(dbs, k, db)
            {
                char cur[256];
                join(json_object_get(db, "current"), "+", cur, sizeof cur);
                const char *e = str(db, "error");
                char rev[320];
                snprintf(rev, sizeof rev, "%s%s%s", cur[0] ? cur : "base", e && e[0] ? " ! " : "",
                         e && e[0] ? e : "");
                table_row(&t, str(h, "id"), str(db, "name"), rev,
                          flag(db, "drift") ? "DRIFT" : "no", alive, seen, hr);
            }
        }
        table_print(&t, "  ", out);
        table_fini(&t);
    }
    const json_t *pending = json_object_get(result, "pending");
    if (json_array_size(pending) > 0) {
        fprintf(out, "\npending agents (accept with: ebb agents accept ID --env ENV):\n");
        const json_t *a;
        json_array_foreach(pending, i, a)
            fprintf(out, "  %s  key %s\n", str(a, "id") ? str(a, "id") : "?",
                    str(a, "key_id") ? str(a, "key_id") : "?");
    }
    const json_t *active = json_object_get(result, "runs");
    if (json_array_size(active) > 0) {
        fprintf(out, "\nruns in progress:\n");
        json_t *wrap = json_pack("{s:O}", "runs", active);
        if (wrap != NULL)
            ebb_cli_render_runs(wrap, now_ms, out);
        json_decref(wrap);
    }
}

/* ---- prechecks ---- */

/* The risk report inside a precheck report: report.risk, or the report itself. */
static const json_t *risk_of(const json_t *report)
{
    const json_t *r = json_object_get(report, "risk");
    if (json_is_object(r))
        return r;
    return json_object_get(report, "worst") != NULL ? report : NULL;
}

void ebb_cli_render_prechecks(const json_t *result, FILE *out)
{
    const json_t *pcs = json_object_get(result, "prechecks");
    size_t n = json_array_size(pcs);
    fprintf(out, "prechecks (%zu):\n", n);
    size_t failed = 0, at_risk = 0, unanswered = 0, certain = 0;
    int64_t rows = 0;
    bool rows_estimated = false;
    size_t i;
    const json_t *pc;
    json_array_foreach(pcs, i, pc)
    {
        const char *outcome = str(pc, "outcome");
        bool ok = flag(pc, "ok");
        if (outcome == NULL || strcmp(outcome, "none") == 0 || strcmp(outcome, "pending") == 0)
            unanswered++;
        else if (!ok)
            failed++;
        const json_t *risk = risk_of(json_object_get(pc, "report"));
        json_int_t r = 0, c = 0;
        bool host_at_risk = false;
        if (risk != NULL) {
            if (has_int(risk, "rows_at_risk", &r) && r > 0) {
                rows += r;
                host_at_risk = true;
            }
            if (has_int(risk, "certain_failures", &c))
                certain += (size_t)c;
            if (flag(risk, "rows_estimated"))
                rows_estimated = true;
            if (json_is_true(json_object_get(risk, "at_risk")) ||
                (json_is_integer(json_object_get(risk, "at_risk")) &&
                 json_integer_value(json_object_get(risk, "at_risk")) > 0))
                host_at_risk = true;
        }
        if (host_at_risk)
            at_risk++;
        fprintf(out, "  %s/%s: %s", str(pc, "host") ? str(pc, "host") : "?",
                str(pc, "database") ? str(pc, "database") : "?",
                outcome == NULL ? "no answer"
                : ok            ? "ok"
                                : outcome);
        if (risk != NULL)
            fprintf(out, ", risk %s, %" PRId64 " rows at risk",
                    str(risk, "worst") ? str(risk, "worst") : "none", (int64_t)r);
        const char *err = str(pc, "error");
        if (err != NULL && err[0] != '\0')
            fprintf(out, ": %s", err);
        fputc('\n', out);
        size_t j;
        const json_t *item;
        json_array_foreach(json_object_get(risk, "items"), j, item)
        {
            json_int_t line = 0;
            (void)has_int(item, "line", &line);
            fprintf(out, "      %s:%" PRId64 " %s %s: %s%s%s\n",
                    str(item, "file") ? str(item, "file") : "?", (int64_t)line,
                    str(item, "kind") ? str(item, "kind") : "?",
                    str(item, "level") ? str(item, "level") : "?",
                    str(item, "reason") ? str(item, "reason") : "",
                    flag(item, "data_at_risk") ? " [data at risk]" : "",
                    flag(item, "certain_failure") ? " [will fail]" : "");
        }
    }
    fprintf(out,
            "fleet: %zu checked, %zu failed, %zu unanswered; %zu with data at risk, %" PRId64
            "%s rows would be lost; %zu certain failures\n",
            n, failed, unanswered, at_risk, rows, rows_estimated ? " (estimated)" : "", certain);
}

/* ---- run states ---- */

bool ebb_cli_run_state_final(const char *state)
{
    static const char *const finals[] = {"succeeded", "failed", "aborted", "compensated"};
    for (size_t i = 0; state != NULL && i < sizeof finals / sizeof finals[0]; i++)
        if (strcmp(state, finals[i]) == 0)
            return true;
    return false;
}

int ebb_cli_run_state_exit(const char *state)
{
    if (state == NULL)
        return -1;
    if (strcmp(state, "succeeded") == 0)
        return EBB_EXIT_OK;
    if (strcmp(state, "compensated") == 0)
        return EBB_EXIT_RESTORED;
    if (strcmp(state, "failed") == 0 || strcmp(state, "aborted") == 0 ||
        strcmp(state, "halted") == 0)
        return EBB_EXIT_FAILURE;
    return -1;
}
