/* The operator listener: open the signed request, check the command, its arguments and the
 * operator's role, dispatch, answer (or defer the answer to a waiter thread). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/exit_codes.h"
#include "common/log.h"
#include "coordinator/coordinator_internal.h"
#include "coordinator/opapi.h"

void coord_answer_error(coord_answer *a, ebb_code code, const char *msg)
{
    a->status = ebb_exit_for_code(code);
    if (code == EBB_E_INVALID)
        a->status = EBB_EXIT_USAGE;
    free(a->message);
    a->message = strdup(msg);
    json_decref(a->json);
    a->json = json_pack("{s:{s:s, s:s}}", "error", "code", ebb_code_name(code), "message", msg);
}

bool coord_authorize(const coord_caller *who, unsigned role, const char *env, coord_answer *a)
{
    if (ebb_coord_operator_roles(who->op, env) & role)
        return true;
    char msg[300];
    snprintf(msg, sizeof msg, "operator %s (key %s) has no %s role%s%s", who->op->name,
             who->op->key_id_hex, ebb_role_name((ebb_role)role), env ? " in " : " anywhere",
             env ? env : "");
    ebb_log(EBB_LOG_WARN, "operator-api", "refused: %s", msg);
    coord_answer_error(a, EBB_E_REFUSED, msg);
    return false;
}

void coord_send_answer(ebb_coordinator *c, const coord_caller *who, coord_answer *a)
{
    char *json = a->json != NULL ? json_dumps(a->json, JSON_COMPACT) : NULL;
    Ebb__OperatorResponse r = EBB__OPERATOR_RESPONSE__INIT;
    r.status = a->status;
    r.message = a->message;
    r.json = json != NULL ? json : "{}";
    r.request_id = (char *)who->request_id;
    coord_reply_body(c, who->req, &who->op->key_id, EBB__BODY_TYPE__BODY_OPERATOR_RESPONSE,
                     &r.base);
    free(json);
    free(a->message);
    json_decref(a->json);
    memset(a, 0, sizeof *a);
}

static void whoami(const coord_caller *who, coord_answer *a)
{
    json_t *grants = json_array();
    for (size_t i = 0; grants != NULL && i < who->op->n_grants; i++) {
        json_t *roles = json_array();
        for (unsigned r = EBB_ROLE_READ; roles != NULL && r <= EBB_ROLE_APPROVE; r <<= 1)
            if (who->op->grants[i].roles & r)
                json_array_append_new(roles, json_string(ebb_role_name((ebb_role)r)));
        json_array_append_new(grants, json_pack("{s:s, s:o}", "env", who->op->grants[i].env,
                                                "roles", roles ? roles : json_array()));
    }
    a->json = json_pack("{s:s, s:s, s:o}", "key_id", who->op->key_id_hex, "name", who->op->name,
                        "grants", grants ? grants : json_array());
}

void coord_op_whoami(ebb_coordinator *c, const coord_caller *who, const Ebb__OperatorRequest *req,
                     coord_answer *a)
{
    (void)c;
    (void)req;
    whoami(who, a);
}

static void dispatch(ebb_coordinator *c, const coord_caller *who, const Ebb__OperatorRequest *req,
                     coord_answer *a)
{
    const char *cmd = req->command;
    if (strcmp(cmd, EBB_OP_AGENTS) == 0)
        coord_op_agents(c, who, req, a);
    else if (strcmp(cmd, EBB_OP_AGENTS_ACCEPT) == 0)
        coord_op_accept(c, who, req, a);
    else if (strcmp(cmd, EBB_OP_AGENTS_REVOKE) == 0)
        coord_op_revoke(c, who, req, a);
    else if (strcmp(cmd, EBB_OP_STATUS) == 0)
        coord_op_status(c, who, req, a);
    else if (strcmp(cmd, EBB_OP_PLAN) == 0)
        coord_op_plan(c, who, req, a);
    else if (strcmp(cmd, EBB_OP_ROLLOUT) == 0)
        coord_op_start(c, who, req, false, a);
    else if (strcmp(cmd, EBB_OP_ROLLBACK) == 0)
        coord_op_start(c, who, req, true, a);
    else if (strcmp(cmd, EBB_OP_APPROVE) == 0 || strcmp(cmd, EBB_OP_HALT) == 0 ||
             strcmp(cmd, EBB_OP_RESUME) == 0 || strcmp(cmd, EBB_OP_ABORT) == 0)
        coord_op_control(c, who, req, cmd, a);
    else if (strcmp(cmd, EBB_OP_RUNS) == 0)
        coord_op_runs(c, who, req, a);
    else if (strcmp(cmd, EBB_OP_SHOW) == 0)
        coord_op_show(c, who, req, a);
    else if (strcmp(cmd, EBB_OP_AUDIT) == 0)
        coord_op_audit(c, who, req, a);
    else if (strcmp(cmd, EBB_OP_AUDIT_VERIFY) == 0)
        coord_op_audit_verify(c, who, req, a);
    else if (strcmp(cmd, EBB_OP_WHOAMI) == 0)
        coord_op_whoami(c, who, req, a);
    else
        coord_answer_error(a, EBB_E_INVALID, "unknown command");
}

void coord_operator_handler(void *ctx, ebb_wire_request *wreq, const uint8_t *data, size_t len)
{
    ebb_coordinator *c = ctx;
    ebb_open_ctx oc = {
        .max_size = c->cfg->max_message,
        .self_id = ebb_secret_key_id(c->key),
        .lookup = ebb_keyring_lookup_fn,
        .lookup_ctx = c->op_ring,
        .replay = c->replay,
        .now_ms = coord_now_ms(),
        .max_skew_ms = COORD_SKEW_MS,
        .version = EBB_PROTOCOL_VERSION,
    };
    ebb_opened m;
    ebb_error err;
    ebb_code rc = ebb_envelope_open(&oc, data, len, &m, &err);
    if (rc != EBB_OK) {
        ebb_key_id claimed;
        if (!ebb_envelope_peek_signer(data, len, c->cfg->max_message, &claimed))
            memset(&claimed, 0, sizeof claimed);
        ebb_log(EBB_LOG_WARN, "operator-api", "rejected (%s): %s", ebb_code_name(rc), err.msg);
        coord_reply_error(c, wreq, &claimed, rc, err.msg);
        return;
    }
    ProtobufCMessage *body = NULL;
    if (m.body_type != EBB__BODY_TYPE__BODY_OPERATOR_REQUEST ||
        ebb_proto_unpack(&ebb__operator_request__descriptor, m.body, m.body_len, "OperatorRequest",
                         &body, &err) != EBB_OK) {
        coord_reply_error(c, wreq, &m.signer, EBB_E_ENV_MALFORMED, "expected an OperatorRequest");
        ebb_opened_fini(&m);
        return;
    }
    const Ebb__OperatorRequest *req = (const Ebb__OperatorRequest *)body;
    coord_caller who = {.op = ebb_coord_config_operator(c->cfg, &m.signer), .req = wreq};
    snprintf(who.request_id, sizeof who.request_id, "%s", req->request_id ? req->request_id : "");
    coord_answer a = {0};
    const ebb_opapi_command *cmd = ebb_opapi_find(req->command);
    if (who.op == NULL) {
        coord_reply_error(c, wreq, &m.signer, EBB_E_ENV_UNKNOWN_SIGNER, "not an operator key");
    } else {
        if (cmd == NULL)
            coord_answer_error(&a, EBB_E_INVALID, "unknown command (see docs/operator-api.md)");
        else if (ebb_opapi_args_check(cmd, req, &err) != EBB_OK)
            coord_answer_error(&a, EBB_E_INVALID, err.msg);
        else if (coord_authorize(&who, cmd->role, NULL, &a)) {
            ebb_log(EBB_LOG_INFO, "operator-api", "%s (key %s): %s", who.op->name,
                    who.op->key_id_hex, req->command);
            pthread_mutex_lock(&c->mu);
            if (c->stopping)
                coord_answer_error(&a, EBB_E_NET, "the coordinator is shutting down");
            else
                dispatch(c, &who, req, &a);
            pthread_mutex_unlock(&c->mu);
        }
        if (!a.deferred)
            coord_send_answer(c, &who, &a);
        coord_flush_polls(c, false); /* a command may have queued jobs */
    }
    protobuf_c_message_free_unpacked(body, NULL);
    ebb_opened_fini(&m);
}
