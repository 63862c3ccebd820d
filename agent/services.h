/* Service control around a migration: stop / start / status commands, health checks, role sessions.
 */
#ifndef EBB_AGENT_SERVICES_H
#define EBB_AGENT_SERVICES_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/agent_config.h"
#include "common/error.h"
#include "common/pgsql.h"

/*
 * Every command runs through the process runner (argv, no shell) with the
 * configured timeout. Status convention: exit 0 = running, anything else =
 * stopped (systemctl is-active --quiet, pg_ctl status, ...).
 */

/* What a service command did, for reports (owned: ebb_service_outcome_fini). */
typedef struct ebb_service_outcome {
    int exit_code; /* -1 when killed or not run */
    bool timed_out;
    long duration_ms;
    char *output_tail; /* last lines of stderr (or stdout), bounded; NULL when empty */
} ebb_service_outcome;

void ebb_service_outcome_fini(ebb_service_outcome *o);

/* Status command: *running = (exit 0). A command that cannot start or times out is an error. */
EBB_MUSTCHECK ebb_code ebb_services_status(const ebb_services_cfg *svc, bool *running,
                                           ebb_error *err);

/*
 * Run the stop command; it must exit 0 (else EBB_E_CHILD / EBB_E_TIMEOUT
 * naming the program and its last stderr line); then the status command
 * must say stopped (non-zero), else EBB_E_CONFLICT. out (may be NULL) gets
 * the stop command's outcome, also on failure.
 */
EBB_MUSTCHECK ebb_code ebb_services_stop(const ebb_services_cfg *svc, ebb_service_outcome *out,
                                         ebb_error *err);

/* The same for start: start must exit 0, then status must say running (0). */
EBB_MUSTCHECK ebb_code ebb_services_start(const ebb_services_cfg *svc, ebb_service_outcome *out,
                                          ebb_error *err);

/* Result of a health check. */
typedef struct ebb_health_result {
    bool healthy;
    int attempts;     /* attempts made */
    int http_status;  /* last HTTP status (0 for a command or no answer) */
    int exit_code;    /* last command exit (-1 for HTTP or not run) */
    char detail[256]; /* why not healthy (last attempt), or "" */
} ebb_health_result;

/* Asked between attempts; true = give up (the job was cancelled). May be NULL. */
typedef bool (*ebb_cancel_fn)(void *ctx);

/*
 * Run the health check up to h->attempts times, h->interval_ms apart, until
 * healthy: a command must exit 0; an http:// URL is fetched with nng's HTTP
 * client (GET, h->timeout_ms) and must answer h->expect_status. EBB_OK
 * means the check ran: out->healthy says how it went. A configuration of
 * kind NONE is EBB_E_INVALID. out is set whenever EBB_OK is returned.
 */
EBB_MUSTCHECK ebb_code ebb_services_health(const ebb_health_cfg *h, ebb_cancel_fn cancelled,
                                           void *cancel_ctx, ebb_health_result *out,
                                           ebb_error *err);

/*
 * pg_terminate_backend every session of the given roles on pg's database
 * (datname = current_database()) except pg's own, parameterised: usename =
 * ANY($1), waiting up to 5 s for each to end. *terminated (may be NULL)
 * gets how many sessions ended. n_roles 0 does nothing.
 */
EBB_MUSTCHECK ebb_code ebb_services_terminate_roles(ebb_pg *pg, const char *const *roles,
                                                    size_t n_roles, long *terminated,
                                                    ebb_error *err);

#endif
