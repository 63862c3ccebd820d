/* Service control: the configured stop / start / status argv through the runner, health checks,
 * role sessions. */
#include "agent/services.h"

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/runner.h"

/* Output kept from a service command: enough for a message, never the whole log. */
#define SERVICE_MAX_OUTPUT (16u * 1024u)
#define TAIL_MAX 512

void ebb_service_outcome_fini(ebb_service_outcome *o)
{
    if (o == NULL)
        return;
    free(o->output_tail);
    memset(o, 0, sizeof *o);
}

/* The last TAIL_MAX bytes of text (masked), without trailing blank lines. */
static char *tail_of(const char *text)
{
    if (text == NULL || text[0] == '\0')
        return NULL;
    size_t len = strlen(text);
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
        len--;
    if (len == 0)
        return NULL;
    size_t start = len > TAIL_MAX ? len - TAIL_MAX : 0;
    char *cut = strndup(text + start, len - start);
    if (cut == NULL)
        return NULL;
    char *masked = ebb_mask_secrets_dup(cut);
    free(cut);
    return masked;
}

static ebb_code run_cmd(const char *const *argv, int timeout_ms, ebb_run_result *res,
                        ebb_error *err)
{
    ebb_run_opts o = {0};
    o.argv = argv;
    o.timeout_ms = timeout_ms;
    o.max_output = SERVICE_MAX_OUTPUT;
    return ebb_run(&o, res, err);
}

ebb_code ebb_services_status(const ebb_services_cfg *svc, bool *running, ebb_error *err)
{
    ebb_run_result res;
    ebb_code rc = run_cmd(svc->status_argv, svc->timeout_ms, &res, err);
    if (rc == EBB_OK && (res.timed_out || res.term_signal != 0)) {
        char how[128];
        rc = ebb_error_set(err, res.timed_out ? EBB_E_TIMEOUT : EBB_E_CHILD, "status command %s %s",
                           svc->status_argv[0], ebb_run_describe(&res, how, sizeof how));
    }
    if (rc == EBB_OK)
        *running = res.exit_code == 0;
    ebb_run_result_fini(&res);
    return rc;
}

/* Run the stop or start command; then status must be want_running. */
static ebb_code control(const ebb_services_cfg *svc, const char *const *argv, const char *what,
                        bool want_running, ebb_service_outcome *out, ebb_error *err)
{
    ebb_run_result res;
    ebb_run_opts o = {0};
    o.argv = argv;
    o.timeout_ms = svc->timeout_ms;
    o.max_output = SERVICE_MAX_OUTPUT;
    ebb_code rc = ebb_run_check(&o, &res, err);
    if (out != NULL) {
        memset(out, 0, sizeof *out);
        out->exit_code = res.exit_code;
        out->timed_out = res.timed_out;
        out->duration_ms = res.duration_ms;
        out->output_tail = tail_of(res.err != NULL && res.err[0] != '\0' ? res.err : res.out);
    }
    ebb_run_result_fini(&res);
    if (rc != EBB_OK) {
        ebb_error_prefix(err, "%s command", what);
        return rc;
    }
    bool running = !want_running;
    rc = ebb_services_status(svc, &running, err);
    if (rc != EBB_OK)
        return rc;
    if (running != want_running)
        return ebb_error_set(err, EBB_E_CONFLICT,
                             "%s command %s succeeded but the status command %s says the "
                             "services are still %s",
                             what, argv[0], svc->status_argv[0],
                             want_running ? "stopped (non-zero exit)" : "running (exit 0)");
    return EBB_OK;
}

ebb_code ebb_services_stop(const ebb_services_cfg *svc, ebb_service_outcome *out, ebb_error *err)
{
    return control(svc, svc->stop_argv, "stop", false, out, err);
}

ebb_code ebb_services_start(const ebb_services_cfg *svc, ebb_service_outcome *out, ebb_error *err)
{
    return control(svc, svc->start_argv, "start", true, out, err);
}

/* One GET with nng's HTTP client; *status 0 when nothing answered (detail says why). */
static void http_get(const char *url_text, int timeout_ms, int *status, char *detail, size_t n)
{
    nng_url *url = NULL;
    nng_http_client *client = NULL;
    nng_http_req *req = NULL;
    nng_http_res *res = NULL;
    nng_aio *aio = NULL;
    *status = 0;
    int rv = nng_url_parse(&url, url_text);
    if (rv == 0)
        rv = nng_http_client_alloc(&client, url);
    if (rv == 0)
        rv = nng_http_req_alloc(&req, url);
    if (rv == 0)
        rv = nng_http_res_alloc(&res);
    if (rv == 0)
        rv = nng_aio_alloc(&aio, NULL, NULL);
    if (rv == 0) {
        nng_aio_set_timeout(aio, timeout_ms);
        nng_http_client_transact(client, req, res, aio);
        nng_aio_wait(aio);
        rv = nng_aio_result(aio);
    }
    if (rv == 0)
        *status = nng_http_res_get_status(res);
    else
        snprintf(detail, n, "GET %s: %s", url_text,
                 rv == NNG_ETIMEDOUT ? "no answer within the timeout" : nng_strerror(rv));
    nng_aio_free(aio);
    if (res != NULL)
        nng_http_res_free(res);
    if (req != NULL)
        nng_http_req_free(req);
    if (client != NULL)
        nng_http_client_free(client);
    nng_url_free(url);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

ebb_code ebb_services_health(const ebb_health_cfg *h, ebb_cancel_fn cancelled, void *cancel_ctx,
                             ebb_health_result *out, ebb_error *err)
{
    if (h->kind == EBB_HEALTH_NONE)
        return ebb_error_set(err, EBB_E_INVALID, "no health check is configured");
    ebb_health_result r = {0};
    r.exit_code = -1;
    int attempts = h->attempts > 0 ? h->attempts : 1;
    for (int i = 0; i < attempts && !r.healthy; i++) {
        if (i > 0) {
            /* Sleep in slices so that a cancel is seen within 100 ms. */
            for (int slept = 0; slept < h->interval_ms; slept += 100) {
                if (cancelled != NULL && cancelled(cancel_ctx))
                    break;
                sleep_ms(h->interval_ms - slept < 100 ? h->interval_ms - slept : 100);
            }
        }
        if (cancelled != NULL && cancelled(cancel_ctx)) {
            snprintf(r.detail, sizeof r.detail, "cancelled after %d attempt(s)", r.attempts);
            break;
        }
        r.attempts++;
        r.detail[0] = '\0';
        if (h->kind == EBB_HEALTH_HTTP) {
            http_get(h->url, h->timeout_ms, &r.http_status, r.detail, sizeof r.detail);
            if (r.http_status == h->expect_status)
                r.healthy = true;
            else if (r.http_status != 0)
                snprintf(r.detail, sizeof r.detail, "GET %s answered %d, expected %d", h->url,
                         r.http_status, h->expect_status);
        } else {
            ebb_run_result res;
            ebb_error rerr;
            ebb_code rc = run_cmd(h->argv, h->timeout_ms, &res, &rerr);
            if (rc != EBB_OK) {
                ebb_run_result_fini(&res);
                return ebb_error_set(err, rc, "health command: %s", rerr.msg);
            }
            r.exit_code = res.exit_code;
            if (res.exit_code == 0 && !res.timed_out) {
                r.healthy = true;
            } else {
                char how[128];
                char *tail = tail_of(res.err != NULL && res.err[0] ? res.err : res.out);
                snprintf(r.detail, sizeof r.detail, "health command %s %s%s%s", h->argv[0],
                         ebb_run_describe(&res, how, sizeof how), tail ? ": " : "",
                         tail ? tail : "");
                free(tail);
            }
            ebb_run_result_fini(&res);
        }
    }
    *out = r;
    return EBB_OK;
}

/* One terminated session counted per row (true = gone within the 5 s wait). */
static ebb_code count_row(void *ctx, const PGresult *res, int row, ebb_error *err)
{
    (void)err;
    if (strcmp(PQgetvalue(res, row, 0), "t") == 0)
        (*(long *)ctx)++;
    return EBB_OK;
}

/* A text[] literal of names for $1 (array syntax, every element double-quoted and escaped). */
static char *array_literal(const char *const *names, size_t n)
{
    size_t len = 3;
    for (size_t i = 0; i < n; i++)
        len += 2 * strlen(names[i]) + 3;
    char *s = malloc(len);
    if (s == NULL)
        return NULL;
    char *p = s;
    *p++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            *p++ = ',';
        *p++ = '"';
        for (const char *c = names[i]; *c != '\0'; c++) {
            if (*c == '"' || *c == '\\')
                *p++ = '\\';
            *p++ = *c;
        }
        *p++ = '"';
    }
    *p++ = '}';
    *p = '\0';
    return s;
}

ebb_code ebb_services_terminate_roles(ebb_pg *pg, const char *const *roles, size_t n_roles,
                                      long *terminated, ebb_error *err)
{
    long count = 0;
    if (n_roles > 0) {
        char *arr = array_literal(roles, n_roles);
        if (arr == NULL)
            return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
        const char *params[1] = {arr};
        ebb_code rc =
            ebb_pg_exec(pg,
                        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                        "WHERE usename = ANY($1::text[]) AND datname = current_database() "
                        "AND pid <> pg_backend_pid() "
                        "AND backend_type = 'client backend'",
                        1, params, count_row, &count, NULL, err);
        free(arr);
        if (rc != EBB_OK) {
            ebb_error_prefix(err, "terminating the sessions of the application roles");
            return rc;
        }
    }
    if (terminated != NULL)
        *terminated = count;
    return EBB_OK;
}
