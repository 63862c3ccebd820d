/* The operator API's command table and argument helpers (see opapi.h). */
#include "coordinator/opapi.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator/coord_config.h"

static const char *const a_agents[] = {"env", "state", NULL};
static const char *const a_accept[] = {"id", "env", NULL};
static const char *const a_revoke[] = {"id", NULL};
static const char *const a_status[] = {"env", NULL};
static const char *const a_plan[] = {"env",         "kind",      "to",          "steps",
                                     "reason",      "host",      "db",          "atomic",
                                     "allow_drift", "skip_dead", "skip_backup", "accept_data_loss",
                                     "precheck",    "wait_ms",   "on_failure", NULL};
static const char *const a_run[] = {"env",         "to",        "steps",       "reason",
                                    "host",        "db",        "atomic",      "dry_run",
                                    "allow_drift", "skip_dead", "skip_backup", "accept_data_loss",
                                    "on_failure",  NULL};
static const char *const a_approve[] = {"run", NULL};
static const char *const a_runs[] = {"env", "active", "limit", NULL};
static const char *const a_show[] = {"run", "after", "wait_ms", NULL};
static const char *const a_control[] = {"run", "reason", NULL};
static const char *const a_audit[] = {"since_ms", "until_ms", "env", "host", "db",
                                      "operator", "outcome",  "run", NULL};
static const char *const a_verify[] = {"anchor", NULL};
static const char *const a_none[] = {NULL};

static const ebb_opapi_command commands[] = {
    {EBB_OP_AGENTS, EBB_ROLE_READ, a_agents, "list agents (pending, accepted, revoked)"},
    {EBB_OP_AGENTS_ACCEPT, EBB_ROLE_OPERATE, a_accept,
     "accept a pending agent into an environment"},
    {EBB_OP_AGENTS_REVOKE, EBB_ROLE_OPERATE, a_revoke, "revoke an agent's key for good"},
    {EBB_OP_STATUS, EBB_ROLE_READ, a_status, "fleet state per environment, and active runs"},
    {EBB_OP_PLAN, EBB_ROLE_READ, a_plan, "plan a run and gather every host's precheck"},
    {EBB_OP_ROLLOUT, EBB_ROLE_OPERATE, a_run, "start a rollout"},
    {EBB_OP_ROLLBACK, EBB_ROLE_OPERATE, a_run, "start a rollback (reason required)"},
    {EBB_OP_APPROVE, EBB_ROLE_APPROVE, a_approve, "approve a run or its next gate"},
    {EBB_OP_RUNS, EBB_ROLE_READ, a_runs, "list runs"},
    {EBB_OP_SHOW, EBB_ROLE_READ, a_show, "one run in detail (long poll for --follow)"},
    {EBB_OP_HALT, EBB_ROLE_OPERATE, a_control, "halt a run (resumable)"},
    {EBB_OP_RESUME, EBB_ROLE_OPERATE, a_control, "resume a halted run"},
    {EBB_OP_ABORT, EBB_ROLE_OPERATE, a_control, "abort a run"},
    {EBB_OP_AUDIT, EBB_ROLE_READ, a_audit, "the audit history, filtered"},
    {EBB_OP_AUDIT_VERIFY, EBB_ROLE_READ, a_verify, "verify the coordinator's journal"},
    {EBB_OP_WHOAMI, EBB_ROLE_READ, a_none, "the operator key and its grants"},
};

const ebb_opapi_command *ebb_opapi_commands(size_t *count)
{
    *count = sizeof commands / sizeof commands[0];
    return commands;
}

const ebb_opapi_command *ebb_opapi_find(const char *name)
{
    for (size_t i = 0; name != NULL && i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

ebb_code ebb_opapi_arg_split(const char *arg, char *name, size_t size, const char **value,
                             ebb_error *err)
{
    const char *eq = arg != NULL ? strchr(arg, '=') : NULL;
    if (eq == NULL || eq == arg || (size_t)(eq - arg) >= size)
        return ebb_error_set(err, EBB_E_INVALID, "argument '%s' is not name=value",
                             arg ? arg : "(null)");
    memcpy(name, arg, (size_t)(eq - arg));
    name[eq - arg] = '\0';
    *value = eq + 1;
    return EBB_OK;
}

ebb_code ebb_opapi_args_check(const ebb_opapi_command *cmd, const Ebb__OperatorRequest *req,
                              ebb_error *err)
{
    for (size_t i = 0; i < req->n_args; i++) {
        char name[64];
        const char *v;
        ebb_code rc = ebb_opapi_arg_split(req->args[i], name, sizeof name, &v, err);
        if (rc != EBB_OK)
            return rc;
        bool known = false;
        for (size_t k = 0; cmd->args[k] != NULL && !known; k++)
            known = strcmp(cmd->args[k], name) == 0;
        if (!known)
            return ebb_error_set(err, EBB_E_INVALID, "%s takes no argument '%s'", cmd->name, name);
    }
    return EBB_OK;
}

static const char *value_of(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && arg[n] == '=' ? arg + n + 1 : NULL;
}

const char *ebb_opapi_arg(const Ebb__OperatorRequest *req, const char *name)
{
    for (size_t i = 0; i < req->n_args; i++) {
        const char *v = value_of(req->args[i], name);
        if (v != NULL)
            return v;
    }
    return NULL;
}

size_t ebb_opapi_arg_all(const Ebb__OperatorRequest *req, const char *name, const char **out,
                         size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < req->n_args; i++) {
        const char *v = value_of(req->args[i], name);
        if (v == NULL)
            continue;
        if (n < max)
            out[n] = v;
        n++;
    }
    return n;
}

ebb_code ebb_opapi_arg_bool(const Ebb__OperatorRequest *req, const char *name, bool def, bool *out,
                            ebb_error *err)
{
    const char *v = ebb_opapi_arg(req, name);
    if (v == NULL) {
        *out = def;
        return EBB_OK;
    }
    if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 || v[0] == '\0') {
        *out = true;
        return EBB_OK;
    }
    if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0 || strcmp(v, "no") == 0) {
        *out = false;
        return EBB_OK;
    }
    return ebb_error_set(err, EBB_E_INVALID, "%s=%s: expected 1 or 0", name, v);
}

ebb_code ebb_opapi_arg_long(const Ebb__OperatorRequest *req, const char *name, long long def,
                            long long min, long long max, long long *out, ebb_error *err)
{
    const char *v = ebb_opapi_arg(req, name);
    if (v == NULL) {
        *out = def;
        return EBB_OK;
    }
    char *end = NULL;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || n < min || n > max)
        return ebb_error_set(err, EBB_E_INVALID, "%s=%s: expected an integer in [%lld, %lld]", name,
                             v, min, max);
    *out = n;
    return EBB_OK;
}
