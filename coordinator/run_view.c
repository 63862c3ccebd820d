/* Runs as operators see them (JSON for `runs` and `show`) and as the policy sees them (history). */
#include <stdlib.h>
#include <string.h>

#include "coordinator/plan_render.h"
#include "coordinator/run_driver.h"

bool ebb_run_state_is_final(ebb_run_state st)
{
    return st == EBB_RUN_SUCCEEDED || st == EBB_RUN_FAILED || st == EBB_RUN_ABORTED ||
           st == EBB_RUN_COMPENSATED;
}

static json_t *str_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

json_t *ebb_run_entry_json(const ebb_run_entry *e, bool detail)
{
    const ebb_plan *p = &e->plan;
    const ebb_run *r = &e->run;
    size_t done = 0, failed = 0;
    for (size_t i = 0; i < r->n_hosts; i++) {
        if (r->hosts[i].state == EBB_HOST_DONE)
            done++;
        else if (r->hosts[i].counted || r->hosts[i].state == EBB_HOST_FAILED ||
                 r->hosts[i].state == EBB_HOST_COMPENSATION_FAILED)
            failed++; /* a failed unit restored or rolled back afterwards still failed */
    }
    /* "approvers" are the approvals counted for approvals_needed: while the run waits for them
     * the pending list, afterwards the ones kept when it started (the pending list then serves
     * the gates: "gate_approvers"). */
    bool waiting = !r->started;
    json_t *approvers = json_array(), *gate = json_array();
    for (size_t i = 0; approvers != NULL && i < (waiting ? r->n_approvers : r->n_run_approvers);
         i++)
        json_array_append_new(approvers,
                              json_string(waiting ? r->approvers[i] : r->run_approvers[i]));
    for (size_t i = 0; gate != NULL && !waiting && i < r->n_approvers; i++)
        json_array_append_new(gate, json_string(r->approvers[i]));
    json_t *o = json_object();
    if (o == NULL || approvers == NULL || gate == NULL) {
        json_decref(o);
        json_decref(approvers);
        json_decref(gate);
        return NULL;
    }
    json_object_set_new(o, "run_id", json_string(e->run_id));
    json_object_set_new(o, "kind", json_string(ebb_run_kind_name(p->kind)));
    json_object_set_new(o, "environment", json_string(p->env));
    json_object_set_new(o, "target", json_string(p->target));
    json_object_set_new(o, "target_revision", str_or_null(p->target_rev));
    json_object_set_new(o, "state", json_string(ebb_run_state_name(r->state)));
    json_object_set_new(o, "requester", json_string(e->operator_key_id));
    json_object_set_new(o, "requester_name", str_or_null(e->operator_name));
    json_object_set_new(o, "reason", json_string(p->reason));
    json_object_set_new(o, "plan_hash", json_string(e->plan_hash));
    json_object_set_new(o, "atomic", json_boolean(p->atomic));
    json_object_set_new(o, "created_ms", json_integer(e->created_ms));
    json_object_set_new(o, "ended_ms", e->ended_ms ? json_integer(e->ended_ms) : json_null());
    json_object_set_new(o, "wave", json_integer((json_int_t)r->wave + (r->started ? 1 : 0)));
    json_object_set_new(o, "waves", json_integer((json_int_t)p->n_waves));
    json_object_set_new(o, "failures", json_integer((json_int_t)r->failures));
    json_object_set_new(o, "budget", json_integer((json_int_t)p->budget));
    json_object_set_new(o, "approvals_needed", json_integer(r->cfg.approvals_needed));
    json_object_set_new(o, "approvers", approvers);
    json_object_set_new(o, "gate_approvers", gate);
    json_object_set_new(o, "hosts_total", json_integer((json_int_t)r->n_hosts));
    json_object_set_new(o, "hosts_done", json_integer((json_int_t)done));
    json_object_set_new(o, "hosts_failed", json_integer((json_int_t)failed));
    json_object_set_new(o, "over", json_boolean(ebb_run_is_over(r)));
    json_object_set_new(o, "version", json_integer((json_int_t)e->version));
    if (!detail)
        return o;
    json_t *hosts = json_array();
    for (size_t i = 0; hosts != NULL && i < r->n_hosts; i++) {
        const ebb_rollout_host *h = &r->hosts[i];
        const ebb_plan_host *ph = &p->hosts[i];
        json_array_append_new(
            hosts, json_pack("{s:s, s:s, s:I, s:s, s:I, s:s?, s:s?, s:s, s:s, s:s?, s:s?}", "host",
                             ph->host, "database", ph->db, "wave", (json_int_t)ph->wave + 1,
                             "state", ebb_host_state_name(h->state), "step", (json_int_t)h->step,
                             "job", h->job_id[0] ? ebb_job_kind_name(h->job) : NULL, "job_id",
                             h->job_id[0] ? h->job_id : NULL, "from", ph->from, "to", ph->to,
                             "backup_id", h->backup_id[0] ? h->backup_id : NULL, "error",
                             h->error[0] ? h->error : NULL));
    }
    json_object_set_new(o, "hosts", hosts ? hosts : json_array());
    json_object_set(o, "log", e->log ? e->log : json_array());
    json_t *pj = ebb_plan_to_json(p, &e->policy);
    json_object_set_new(o, "plan", pj ? pj : json_null());
    return o;
}
