/* Operator commands about agents, fleet state and the audit: agents, agents.accept,
 * agents.revoke, status, audit, audit.verify. Called under the coordinator's lock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "coordinator/audit.h"
#include "coordinator/coordinator_internal.h"
#include "coordinator/opapi.h"
#include "coordinator/plan.h"

static json_t *agents_json(ebb_coordinator *c, const char *env, const char *state, bool pending)
{
    json_t *a = json_array();
    int64_t now = coord_now_ms();
    for (size_t i = 0; a != NULL && i < c->inv.n_agents; i++) {
        const ebb_inv_agent *ag = &c->inv.agents[i];
        if (pending && ag->state != EBB_AGENT_PENDING)
            continue;
        if (env != NULL && (ag->env == NULL || strcmp(ag->env, env) != 0))
            continue;
        if (state != NULL && strcmp(ebb_agent_state_name(ag->state), state) != 0)
            continue;
        json_array_append_new(a, ebb_inv_agent_json(ag, now, c->cfg->liveness_s));
    }
    return a;
}

void coord_op_agents(ebb_coordinator *c, const coord_caller *who, const Ebb__OperatorRequest *req,
                     coord_answer *a)
{
    (void)who;
    json_t *list = agents_json(c, ebb_opapi_arg(req, "env"), ebb_opapi_arg(req, "state"), false);
    a->json = json_pack("{s:o}", "agents", list ? list : json_array());
}

/* Journal first, then memory and the keyring. */
static ebb_code record(ebb_coordinator *c, const char *type, const ebb_inv_agent *ag,
                       const coord_caller *who, ebb_error *err)
{
    json_t *p = ebb_inventory_record_json(ag, who->op->key_id_hex);
    if (p == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    ebb_code rc = ebb_journal_append(c->journal, coord_now_ms(), type, p, NULL, NULL, err);
    json_decref(p);
    if (rc == EBB_E_IO)
        coord_fail(c, err);
    return rc;
}

void coord_op_accept(ebb_coordinator *c, const coord_caller *who, const Ebb__OperatorRequest *req,
                     coord_answer *a)
{
    const char *id = ebb_opapi_arg(req, "id"), *env = ebb_opapi_arg(req, "env");
    char msg[512];
    if (id == NULL || env == NULL) {
        coord_answer_error(a, EBB_E_INVALID, "agents.accept needs id=AGENT and env=ENV");
        return;
    }
    if (ebb_coord_config_env(c->cfg, env) == NULL) {
        snprintf(msg, sizeof msg, "no environment '%s' in the configuration", env);
        coord_answer_error(a, EBB_E_INVALID, msg);
        return;
    }
    if (!coord_authorize(who, EBB_ROLE_OPERATE, env, a))
        return;
    ebb_inv_agent *ag = ebb_inventory_find(&c->inv, id);
    ebb_error err;
    if (ag == NULL) {
        snprintf(msg, sizeof msg, "no agent '%s' has enrolled", id);
        coord_answer_error(a, EBB_E_NOT_FOUND, msg);
        return;
    }
    if (ag->state == EBB_AGENT_REVOKED) {
        snprintf(msg, sizeof msg, "agent '%s' is revoked and cannot be accepted again", id);
        coord_answer_error(a, EBB_E_CONFLICT, msg);
        return;
    }
    /* The record carries the new environment. */
    char *old_env = ag->env;
    ag->env = (char *)env;
    ebb_code rc = record(c, EBB_INV_ACCEPTED, ag, who, &err);
    ag->env = old_env;
    if (rc == EBB_OK)
        rc = ebb_inventory_accept(&c->inv, id, env, &err);
    if (rc == EBB_OK) {
        ebb_error e2;
        if (ebb_keyring_add(c->agent_ring, &ag->key, ag->id, &e2) != EBB_OK)
            ebb_log(EBB_LOG_ERROR, "enroll", "keyring: %s", e2.msg);
    }
    if (rc != EBB_OK) {
        coord_answer_error(a, rc, err.msg);
        return;
    }
    ebb_log(EBB_LOG_INFO, "enroll", "agent %s (key %s) accepted into %s by %s", id, ag->key_id_hex,
            env, who->op->name);
    snprintf(msg, sizeof msg, "agent %s accepted into %s", id, env);
    a->message = strdup(msg);
    a->json =
        json_pack("{s:o}", "agent", ebb_inv_agent_json(ag, coord_now_ms(), c->cfg->liveness_s));
}

void coord_op_revoke(ebb_coordinator *c, const coord_caller *who, const Ebb__OperatorRequest *req,
                     coord_answer *a)
{
    const char *id = ebb_opapi_arg(req, "id");
    char msg[512];
    if (id == NULL) {
        coord_answer_error(a, EBB_E_INVALID, "agents.revoke needs id=AGENT");
        return;
    }
    ebb_inv_agent *ag = ebb_inventory_find(&c->inv, id);
    if (ag == NULL) {
        snprintf(msg, sizeof msg, "no agent '%s' has enrolled", id);
        coord_answer_error(a, EBB_E_NOT_FOUND, msg);
        return;
    }
    if (!coord_authorize(who, EBB_ROLE_OPERATE, ag->env, a))
        return;
    ebb_error err;
    ebb_code rc = record(c, EBB_INV_REVOKED, ag, who, &err);
    if (rc == EBB_OK)
        rc = ebb_inventory_revoke(&c->inv, id, &err);
    if (rc != EBB_OK) {
        coord_answer_error(a, rc, err.msg);
        return;
    }
    ebb_error e2;
    if ((ebb_keyring_lookup(c->agent_ring, &ag->key_id, NULL, NULL, 0) == EBB_KEY_UNKNOWN &&
         ebb_keyring_add(c->agent_ring, &ag->key, ag->id, &e2) != EBB_OK) ||
        ebb_keyring_revoke(c->agent_ring, &ag->key_id, &e2) != EBB_OK)
        ebb_log(EBB_LOG_ERROR, "enroll", "keyring: %s", e2.msg);
    ebb_log(EBB_LOG_WARN, "enroll", "agent %s (key %s) revoked by %s", id, ag->key_id_hex,
            who->op->name);
    snprintf(msg, sizeof msg, "agent %s revoked", id);
    a->message = strdup(msg);
    a->json =
        json_pack("{s:o}", "agent", ebb_inv_agent_json(ag, coord_now_ms(), c->cfg->liveness_s));
}

static json_t *policy_json(const ebb_coord_env *e)
{
    const ebb_env_policy *p = &e->policy;
    return json_pack("{s:i, s:b, s:I, s:b, s:b, s:s?, s:s, s:I}", "approvals", (int)p->approvals,
                     "forward_only", p->forward_only, "rollback_window_s",
                     (json_int_t)p->rollback_window_s, "require_backup", p->require_backup,
                     "allow_data_loss", p->allow_data_loss, "promote_from", p->promote_from,
                     "on_failure", ebb_on_failure_name(e->strategy.on_failure), "soak_s",
                     (json_int_t)e->strategy.soak_s);
}

void coord_op_status(ebb_coordinator *c, const coord_caller *who, const Ebb__OperatorRequest *req,
                     coord_answer *a)
{
    (void)who;
    const char *only = ebb_opapi_arg(req, "env");
    if (only != NULL && ebb_coord_config_env(c->cfg, only) == NULL) {
        coord_answer_error(a, EBB_E_INVALID, "no such environment");
        return;
    }
    json_t *envs = json_array(), *runs = json_array();
    for (size_t i = 0; envs != NULL && i < c->cfg->n_envs; i++) {
        const ebb_coord_env *e = &c->cfg->envs[i];
        if (only != NULL && strcmp(only, e->name) != 0)
            continue;
        json_t *hosts = agents_json(c, e->name, "accepted", false);
        json_array_append_new(envs, json_pack("{s:s, s:I, s:o, s:o}", "name", e->name, "order",
                                              (json_int_t)e->order, "policy", policy_json(e),
                                              "hosts", hosts ? hosts : json_array()));
    }
    for (size_t i = 0; runs != NULL && i < ebb_run_driver_count(c->driver); i++) {
        const ebb_run_entry *e = ebb_run_driver_at(c->driver, i);
        if (ebb_run_is_over(&e->run) || (only != NULL && strcmp(e->plan.env, only) != 0))
            continue;
        json_array_append_new(runs, ebb_run_entry_json(e, false));
    }
    json_t *pending = agents_json(c, NULL, NULL, true);
    a->json = json_pack("{s:o, s:o, s:o, s:s}", "environments", envs ? envs : json_array(),
                        "pending", pending ? pending : json_array(), "runs",
                        runs ? runs : json_array(), "coordinator_key_id", c->key_id_hex);
}

void coord_op_audit(ebb_coordinator *c, const coord_caller *who, const Ebb__OperatorRequest *req,
                    coord_answer *a)
{
    (void)who;
    ebb_audit_filter f = {0};
    long long since = 0, until = 0;
    ebb_error err;
    if (ebb_opapi_arg_long(req, "since_ms", 0, 0, INT64_MAX, &since, &err) != EBB_OK ||
        ebb_opapi_arg_long(req, "until_ms", 0, 0, INT64_MAX, &until, &err) != EBB_OK) {
        coord_answer_error(a, EBB_E_INVALID, err.msg);
        return;
    }
    f.since_ms = since;
    f.until_ms = until;
    f.environment = ebb_opapi_arg(req, "env");
    f.host = ebb_opapi_arg(req, "host");
    f.database = ebb_opapi_arg(req, "db");
    f.operator_id = ebb_opapi_arg(req, "operator");
    f.outcome = ebb_opapi_arg(req, "outcome");
    f.run_id = ebb_opapi_arg(req, "run");
    ebb_audit_history *h = ebb_audit_history_alloc();
    ebb_code rc = h != NULL ? ebb_journal_foreach(c->journal, 1, ebb_audit_history_fold_fn, h, &err)
                            : ebb_error_set(&err, EBB_E_NOMEM, "out of memory");
    json_t *runs = rc == EBB_OK ? ebb_audit_history_json(h, &f) : NULL;
    ebb_audit_history_free(h);
    if (rc != EBB_OK || runs == NULL) {
        coord_answer_error(a, rc != EBB_OK ? rc : EBB_E_NOMEM, rc != EBB_OK ? err.msg : "oom");
        return;
    }
    a->json = json_pack("{s:o}", "runs", runs);
}

void coord_op_audit_verify(ebb_coordinator *c, const coord_caller *who,
                           const Ebb__OperatorRequest *req, coord_answer *a)
{
    (void)who;
    ebb_journal_anchor anchor;
    const char *at = ebb_opapi_arg(req, "anchor");
    ebb_error err;
    if (at != NULL && ebb_journal_anchor_parse(at, &anchor, &err) != EBB_OK) {
        coord_answer_error(a, EBB_E_INVALID, err.msg);
        return;
    }
    ebb_audit_verify_report rep;
    memset(&rep, 0, sizeof rep);
    ebb_code rc = ebb_audit_verify(c->journal_path, ebb_secret_key_public(c->key),
                                   at ? &anchor : NULL, &rep, &err);
    json_t *rj = ebb_audit_verify_report_json(&rep);
    a->status = rc == EBB_OK ? 0 : 5;
    if (rc != EBB_OK && rc != EBB_E_VERIFY) {
        coord_answer_error(a, rc, err.msg);
        json_decref(rj);
        return;
    }
    a->message = strdup(rc == EBB_OK ? "journal verified" : err.msg);
    a->json = json_pack("{s:b, s:o}", "ok", rc == EBB_OK, "report", rj ? rj : json_null());
}
