/* The operator API: commands the `ebb` CLI sends to the coordinator (OperatorRequest ->
 * OperatorResponse), their arguments, roles and JSON results; and the client call. */
#ifndef EBB_COORDINATOR_OPAPI_H
#define EBB_COORDINATOR_OPAPI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/keys.h"
#include "ebb.pb-c.h"

/*
 * Transport: the coordinator's operator listener (coordinator.listen.operators).
 * Each request is an Envelope signed with the operator's key, addressed to
 * the coordinator's key id, body_type BODY_OPERATOR_REQUEST; the reply is an
 * Envelope signed by the coordinator, addressed to the operator's key id,
 * body_type BODY_OPERATOR_RESPONSE (or BODY_ERROR when the envelope was
 * rejected: unknown operator key, replay, ...). OperatorResponse.request_id
 * echoes OperatorRequest.request_id so a client can bind the answer to its
 * question.
 *
 * OperatorRequest.command is one of the names below; args are "name=value"
 * strings (a name may repeat: host=a host=b; a flag is name=1 or name=true).
 * Unknown commands and unknown argument names are refused (status 2).
 *
 * OperatorResponse.status is the ebb exit code (common/exit_codes.h):
 * 0 ok, 1 failed, 2 usage (bad arguments), 3 configuration, 4 refused
 * (policy, role, state does not allow it), 7 unavailable. message is a
 * human line (for `plan`, the rendered plan text); json is the machine
 * result (an object, always present; {"error": {...}} on failure:
 * {"code": ebb_code_name, "message"}).
 *
 * Every request is authorised by the operator's roles in the configuration
 * (read, operate, approve per environment); the audit names the key id.
 * Full argument and result reference with examples: docs/operator-api.md.
 *
 * Commands (role; arguments; result json):
 *
 *   agents          read     [env=E] [state=pending|accepted|revoked]
 *                            {"agents": [AGENT...]}
 *   agents.accept   operate(env)  id=AGENT env=E      {"agent": AGENT}
 *   agents.revoke   operate(agent's env; any env for pending)  id=AGENT   {"agent": AGENT}
 *   status          read     [env=E]
 *                            {"environments": [{"name","order","policy":{...},
 *                              "hosts":[AGENT...]}], "pending": [AGENT...],
 *                             "runs": [RUN...] (runs not over)}
 *   plan            read(env) env=E kind=rollout|rollback (to=T | steps=N)
 *                            [reason=R] [host=H]... [db=D]... [atomic=1]
 *                            [allow_drift=1] [skip_dead=1] [skip_backup=1]
 *                            [accept_data_loss=1] [precheck=0] [wait_ms=MS]
 *                            sends a precheck job per host/database and
 *                            waits for all of them (or wait_ms, default
 *                            coordinator.plan_timeout_ms), then:
 *                            {"plan": PLAN, "plan_hash", "policy": {...},
 *                             "prechecks": [{"host","database","job_id",
 *                               "outcome","ok","error","report"}],
 *                             "prechecks_ok": bool, "complete": bool}
 *                            message = the plan as text. status 4 when the
 *                            planner or the policy refuses (json.error and
 *                            json.refusal say why), 1 when a precheck failed.
 *   rollout         operate(env) env=E to=T [reason=R] [dry_run=1] [atomic=1]
 *                            [host=H]... [db=D]... [allow_drift=1] [skip_dead=1]
 *                            [skip_backup=1] [accept_data_loss=1]
 *                            dry_run: as `plan` without prechecks.
 *                            else {"run": RUN, "plan": PLAN, "plan_hash"}
 *   rollback        operate(env) env=E (to=T | steps=N) reason=R (required) [as rollout]
 *   approve         approve(run's env) run=ID     {"run": RUN}
 *   runs            read     [env=E] [active=1] [limit=N]   {"runs": [RUN...]}
 *   show            read(run's env) run=ID [after=VERSION] [wait_ms=MS]
 *                            long poll: answers once the run's version is
 *                            above `after` or wait_ms (<= 30000) passed:
 *                            {"run": RUN_DETAIL, "version": N, "over": bool}
 *   halt            operate(run's env) run=ID [reason=R]    {"run": RUN}
 *   resume          operate(run's env) run=ID [reason=R]    {"run": RUN}
 *   abort           operate(run's env) run=ID reason=R      {"run": RUN}
 *   audit           read     [since_ms=] [until_ms=] [env=] [host=] [db=]
 *                            [operator=] [outcome=] [run=]
 *                            {"runs": [...ebb_audit_history_json...]}
 *   audit.verify    read     [anchor=SEQ:HASH]   {"report": ebb_audit_verify_report_json,
 *                            "ok": bool}  (status 5 when it does not verify)
 *   whoami          read(any) {"key_id","name","grants":[{"env","roles":[..]}]}
 *
 * AGENT = {"id","key_id","state","environment","software_version",
 *          "first_seen_ms","last_seen_ms","alive","databases":[{"name","kind",
 *          "current":[..],"graph_hash","fingerprint","drift",
 *          "claimed_environment","error","graph_known"}]}
 * RUN   = {"run_id","kind","environment","target","target_revision","state",
 *          "requester","requester_name","reason","plan_hash","atomic",
 *          "created_ms","ended_ms","wave","waves","failures","budget",
 *          "approvals_needed","approvers":[..],"hosts_total","hosts_done",
 *          "hosts_failed","over"}
 * RUN_DETAIL = RUN + {"hosts":[{"host","database","wave","state","step",
 *          "job","job_id","from","to","backup_id","error"}],
 *          "log":[{"ts_ms","host","database","step","job_id","outcome","error"}],
 *          "plan": PLAN}
 * PLAN  = ebb_plan_to_json (coordinator/plan_render.h) with "policy".
 */

/* Command names. */
#define EBB_OP_AGENTS "agents"
#define EBB_OP_AGENTS_ACCEPT "agents.accept"
#define EBB_OP_AGENTS_REVOKE "agents.revoke"
#define EBB_OP_STATUS "status"
#define EBB_OP_PLAN "plan"
#define EBB_OP_ROLLOUT "rollout"
#define EBB_OP_ROLLBACK "rollback"
#define EBB_OP_APPROVE "approve"
#define EBB_OP_RUNS "runs"
#define EBB_OP_SHOW "show"
#define EBB_OP_HALT "halt"
#define EBB_OP_RESUME "resume"
#define EBB_OP_ABORT "abort"
#define EBB_OP_AUDIT "audit"
#define EBB_OP_AUDIT_VERIFY "audit.verify"
#define EBB_OP_WHOAMI "whoami"

#define EBB_OP_SHOW_MAX_WAIT_MS 30000

/* One command of the table. */
typedef struct ebb_opapi_command {
    const char *name;
    unsigned role;           /* ebb_role bit the operator needs */
    const char *const *args; /* accepted argument names, NULL-terminated */
    const char *summary;     /* one line for help */
} ebb_opapi_command;

/* The table (static) and a lookup by name (NULL when unknown). */
const ebb_opapi_command *ebb_opapi_commands(size_t *count);
const ebb_opapi_command *ebb_opapi_find(const char *name);

/*
 * Split "name=value": name into buf (size bytes), *value points into arg.
 * EBB_E_INVALID when there is no '=' or the name is empty or too long.
 */
EBB_MUSTCHECK ebb_code ebb_opapi_arg_split(const char *arg, char *name, size_t size,
                                           const char **value, ebb_error *err);

/*
 * Check every argument of req against cmd's list (EBB_E_INVALID naming the
 * first unknown or malformed one).
 */
EBB_MUSTCHECK ebb_code ebb_opapi_args_check(const ebb_opapi_command *cmd,
                                            const Ebb__OperatorRequest *req, ebb_error *err);

/* The value of the first argument called name (borrowed from req), or NULL. */
const char *ebb_opapi_arg(const Ebb__OperatorRequest *req, const char *name);

/* Every value of name, up to max, into out (borrowed). Returns how many there are. */
size_t ebb_opapi_arg_all(const Ebb__OperatorRequest *req, const char *name, const char **out,
                         size_t max);

/* A flag: "1", "true", "yes" are true; absent is def; anything else EBB_E_INVALID. */
EBB_MUSTCHECK ebb_code ebb_opapi_arg_bool(const Ebb__OperatorRequest *req, const char *name,
                                          bool def, bool *out, ebb_error *err);

/* An integer in [min, max]; absent is def; anything else EBB_E_INVALID naming it. */
EBB_MUSTCHECK ebb_code ebb_opapi_arg_long(const Ebb__OperatorRequest *req, const char *name,
                                          long long def, long long min, long long max,
                                          long long *out, ebb_error *err);

/* ---- client side (the `ebb` CLI and tests) ---- */

typedef struct ebb_opapi_client ebb_opapi_client;

/*
 * A client of the coordinator at url whose public key is pinned
 * (coordinator_pk), signing with operator_key (borrowed; must outlive the
 * client). Replies are opened with every envelope check against a keyring
 * holding only the pinned key (replay marks in memory: a CLI process is
 * short-lived and every answer must also echo the request id).
 * *out owned by the caller (ebb_opapi_client_close).
 */
EBB_MUSTCHECK ebb_code ebb_opapi_client_open(const char *url, const ebb_public_key *coordinator_pk,
                                             const ebb_secret_key *operator_key,
                                             ebb_opapi_client **out, ebb_error *err);
void ebb_opapi_client_close(ebb_opapi_client *c);

/* An answer. message and json owned (ebb_opapi_response_fini). */
typedef struct ebb_opapi_response {
    int status;    /* ebb exit code */
    char *message; /* "" when none */
    json_t *json;  /* parsed; an empty object when the coordinator sent none */
} ebb_opapi_response;

void ebb_opapi_response_fini(ebb_opapi_response *r);

/*
 * Send command with args (n_args "name=value" strings, borrowed) and wait
 * at most timeout_ms for the answer. Transport failures are EBB_E_NET /
 * EBB_E_TIMEOUT (exit 7); a rejected envelope answered with an Error body
 * is that error's code (e.g. EBB_E_ENV_UNKNOWN_SIGNER: "this operator key
 * is not configured on the coordinator"); a reply that fails the envelope
 * checks or does not echo the request id is EBB_E_VERIFY. *out (the
 * coordinator's answer, whatever its status) set only on EBB_OK.
 */
EBB_MUSTCHECK ebb_code ebb_opapi_client_call(ebb_opapi_client *c, const char *command,
                                             const char *const *args, size_t n_args, int timeout_ms,
                                             ebb_opapi_response *out, ebb_error *err);

#endif
