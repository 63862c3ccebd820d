/* Job actions on the applications around a database: stop_services, start_services, health. */
#include <stdlib.h>

#include "agent/job_internal.h"
#include "agent/services.h"

static json_t *outcome_json(const ebb_service_outcome *o)
{
    return json_pack("{s:i, s:b, s:I, s:s?}", "exit_code", o->exit_code, "timed_out", o->timed_out,
                     "duration_ms", (json_int_t)o->duration_ms, "output_tail", o->output_tail);
}

ebb_code job_do_stop_services(job_ctx *jc, ebb_error *err)
{
    job_progress(jc, "stop", 1, 2, 0, jc->db->services.stop_argv[0]);
    ebb_service_outcome o = {0};
    ebb_code rc = ebb_services_stop(&jc->db->services, &o, err);
    jc->report = json_pack("{s:o}", "stop", outcome_json(&o));
    ebb_service_outcome_fini(&o);
    if (rc != EBB_OK)
        return rc; /* the sessions stay: nothing after a failed stop runs */
    if (jc->db->n_roles == 0)
        return EBB_OK;

    /* Services are down: end what their roles still hold open (pools, stragglers). */
    job_progress(jc, "terminate_sessions", 2, 2, 0, NULL);
    ebb_pg *pg = NULL;
    rc = job_connect(jc, &pg, err);
    long terminated = 0;
    if (rc == EBB_OK)
        rc = ebb_services_terminate_roles(pg, jc->db->roles, jc->db->n_roles, &terminated, err);
    job_disconnect(jc, pg);
    if (rc == EBB_OK) {
        json_t *roles = json_array();
        for (size_t i = 0; i < jc->db->n_roles; i++)
            json_array_append_new(roles, json_string(jc->db->roles[i]));
        json_object_set_new(jc->report, "roles", roles);
        json_object_set_new(jc->report, "terminated_sessions", json_integer(terminated));
    }
    return rc;
}

ebb_code job_do_start_services(job_ctx *jc, ebb_error *err)
{
    job_progress(jc, "start", 1, 1, 0, jc->db->services.start_argv[0]);
    ebb_service_outcome o = {0};
    ebb_code rc = ebb_services_start(&jc->db->services, &o, err);
    jc->report = json_pack("{s:o}", "start", outcome_json(&o));
    ebb_service_outcome_fini(&o);
    return rc;
}

static bool cancelled_cb(void *ctx)
{
    return job_cancelled(ctx);
}

ebb_code job_do_health(job_ctx *jc, ebb_error *err)
{
    const ebb_health_cfg *h = &jc->db->services.health;
    job_progress(jc, "health", 0, (uint32_t)h->attempts, 0,
                 h->kind == EBB_HEALTH_HTTP ? h->url : h->argv[0]);
    ebb_health_result hr;
    ebb_code rc = ebb_services_health(h, cancelled_cb, jc, &hr, err);
    if (rc != EBB_OK)
        return rc;
    jc->report =
        json_pack("{s:b, s:i, s:s, s:i, s:i, s:s}", "healthy", hr.healthy, "attempts", hr.attempts,
                  "check", h->kind == EBB_HEALTH_HTTP ? "http" : "command", "http_status",
                  hr.http_status, "exit_code", hr.exit_code, "detail", hr.detail);
    if (!hr.healthy)
        return ebb_error_set(err, EBB_E_VERIFY, "not healthy after %d attempt(s): %s", hr.attempts,
                             hr.detail);
    return EBB_OK;
}
