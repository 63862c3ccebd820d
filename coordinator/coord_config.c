/* The coordinator's configuration file (libconfig): see coord_config.h for the layout. */
#include "coordinator/coord_config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const root_keys[] = {"coordinator", "environments", "operators", NULL};
static const char *const coord_keys[] = {
    "key_file", "journal_dir", "listen",    "poll_wait_ms", "liveness_s", "plan_timeout_ms",
    "contexts", "max_message", "log_level", "log_format",   NULL};
static const char *const listen_keys[] = {"agents", "operators", NULL};
static const char *const env_keys[] = {"name", "policy", "waves", "timeouts", NULL};
static const char *const policy_keys[] = {"approvals",
                                          "forward_only",
                                          "rollback_window_s",
                                          "require_backup",
                                          "allow_data_loss",
                                          "promotion",
                                          NULL};
static const char *const wave_keys[] = {
    "canary",         "batch",  "batch_percent", "max_parallel", "budget",
    "budget_percent", "soak_s", "gate",          "on_failure",   NULL};
/* timeouts: default_s, silent_s, health_retries and <job kind>_s for the plan's jobs. */
static const char *const timeout_keys[] = {
    "default_s",           "silent_s", "health_retries", "precheck_s",
    "stop_services_s",     "backup_s", "migrate_s",      "verify_s",
    "start_services_s",    "health_s", "restore_s",      "commit_prepared_s",
    "rollback_prepared_s", NULL};
static const char *const op_keys[] = {"name", "public_key", "public_key_file", "grants", NULL};
static const char *const grant_keys[] = {"env", "roles", NULL};

const char *ebb_role_name(ebb_role role)
{
    switch (role) {
    case EBB_ROLE_READ:
        return "read";
    case EBB_ROLE_OPERATE:
        return "operate";
    case EBB_ROLE_APPROVE:
        return "approve";
    }
    return "?";
}

static bool name_ok(const char *s)
{
    if (s[0] == '\0' || strlen(s) > 64)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            return false;
    return true;
}

static const config_setting_t *member(const config_setting_t *g, const char *key)
{
    return config_setting_get_member((config_setting_t *)g, key);
}

/* A copy of path, made relative to the configuration file's directory when it is relative. */
static char *resolve(const char *cfg_path, const char *path)
{
    if (path[0] == '/')
        return strdup(path);
    const char *slash = strrchr(cfg_path, '/');
    if (slash == NULL)
        return strdup(path);
    size_t dlen = (size_t)(slash - cfg_path);
    char *out = malloc(dlen + 1 + strlen(path) + 1);
    if (out != NULL)
        sprintf(out, "%.*s/%s", (int)dlen, cfg_path, path);
    return out;
}

static ebb_code check_url(const config_setting_t *g, const char *key, const char *url,
                          ebb_error *err)
{
    if (strncmp(url, "tcp://", 6) != 0 && strncmp(url, "ipc://", 6) != 0)
        return ebb_config_error(err, member(g, key),
                                "'%s' is not an nng address (tcp://HOST:PORT or ipc:///PATH)", url);
    if (strncmp(url, "tcp://", 6) == 0 && strrchr(url + 6, ':') == NULL)
        return ebb_config_error(err, member(g, key), "'%s' has no port", url);
    return EBB_OK;
}

static ebb_code dup_into(char **dst, const char *src, ebb_error *err)
{
    *dst = strdup(src);
    return *dst ? EBB_OK : ebb_error_set(err, EBB_E_NOMEM, "out of memory");
}

static ebb_code load_coordinator(ebb_coord_config *c, const config_setting_t *root, ebb_error *err)
{
    const config_setting_t *g = NULL, *l = NULL;
    const char *key_file = NULL, *dir = NULL, *agents = NULL, *ops = NULL, *lvl = NULL, *fmt = NULL;
    long long poll = 0, live = 0, plan = 0, ctx = 0, maxmsg = 0;
    ebb_code rc = ebb_config_get_group(root, "coordinator", &g, err);
    if (rc == EBB_OK)
        rc = ebb_config_check_keys(g, coord_keys, err);
    if (rc == EBB_OK)
        rc = ebb_config_get_string(g, "key_file", &key_file, err);
    if (rc == EBB_OK)
        rc = ebb_config_get_string(g, "journal_dir", &dir, err);
    if (rc == EBB_OK)
        rc = ebb_config_get_group(g, "listen", &l, err);
    if (rc == EBB_OK)
        rc = ebb_config_check_keys(l, listen_keys, err);
    if (rc == EBB_OK)
        rc = ebb_config_get_string(l, "agents", &agents, err);
    if (rc == EBB_OK)
        rc = check_url(l, "agents", agents, err);
    if (rc == EBB_OK)
        rc = ebb_config_get_string(l, "operators", &ops, err);
    if (rc == EBB_OK)
        rc = check_url(l, "operators", ops, err);
    if (rc == EBB_OK && strcmp(agents, ops) == 0)
        rc = ebb_config_error(err, member(l, "operators"),
                              "must differ from listen.agents (agents and operators have "
                              "separate listeners)");
    if (rc == EBB_OK)
        rc = ebb_config_opt_int(g, "poll_wait_ms", EBB_COORD_DEFAULT_POLL_WAIT_MS, 100, 300000,
                                &poll, err);
    if (rc == EBB_OK)
        rc =
            ebb_config_opt_int(g, "liveness_s", EBB_COORD_DEFAULT_LIVENESS_S, 1, 86400, &live, err);
    if (rc == EBB_OK)
        rc = ebb_config_opt_int(g, "plan_timeout_ms", EBB_COORD_DEFAULT_PLAN_TIMEOUT_MS, 100,
                                3600000, &plan, err);
    if (rc == EBB_OK)
        rc = ebb_config_opt_int(g, "contexts", 64, 4, 4096, &ctx, err);
    if (rc == EBB_OK)
        rc = ebb_config_opt_int(g, "max_message", 4 * 1024 * 1024, 65536, 256 * 1024 * 1024,
                                &maxmsg, err);
    if (rc == EBB_OK)
        rc = ebb_config_opt_string(g, "log_level", "info", &lvl, err);
    if (rc == EBB_OK && ebb_log_level_parse(lvl, &c->log_level, NULL) != EBB_OK)
        rc = ebb_config_error(err, member(g, "log_level"),
                              "'%s' is not a level (debug, info, warn, error)", lvl);
    if (rc == EBB_OK)
        rc = ebb_config_opt_string(g, "log_format", "text", &fmt, err);
    if (rc == EBB_OK) {
        if (strcmp(fmt, "text") == 0)
            c->log_format = EBB_LOG_TEXT;
        else if (strcmp(fmt, "json") == 0)
            c->log_format = EBB_LOG_JSON;
        else
            rc = ebb_config_error(err, member(g, "log_format"), "'%s' is not text or json", fmt);
    }
    if (rc != EBB_OK)
        return rc;
    c->key_file = resolve(c->path, key_file);
    c->journal_dir = resolve(c->path, dir);
    c->listen_agents = strdup(agents);
    c->listen_operators = strdup(ops);
    if (!c->key_file || !c->journal_dir || !c->listen_agents || !c->listen_operators)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    c->poll_wait_ms = (long)poll;
    c->liveness_s = (long)live;
    c->plan_timeout_ms = (long)plan;
    c->contexts = (int)ctx;
    c->max_message = (size_t)maxmsg;
    return EBB_OK;
}

static ebb_code load_policy(ebb_coord_env *e, const config_setting_t *g, ebb_error *err)
{
    ebb_env_policy *p = &e->policy;
    long long approvals = 0, window = 0;
    bool promotion = true;
    p->require_backup = true;
    /* promote_from is filled by the caller (it knows the order); "" marks promotion on. */
    p->promote_from = "";
    if (g == NULL)
        return EBB_OK; /* no policy group: the defaults, promotion order included */
    ebb_code rc = ebb_config_check_keys(g, policy_keys, err);
    if (rc == EBB_OK)
        rc = ebb_config_opt_int(g, "approvals", 0, 0, EBB_ROLLOUT_MAX_APPROVERS, &approvals, err);
    if (rc == EBB_OK)
        rc = ebb_config_opt_bool(g, "forward_only", false, &p->forward_only, err);
    if (rc == EBB_OK)
        rc = ebb_config_opt_int(g, "rollback_window_s", 0, 0, 10LL * 365 * 86400, &window, err);
    if (rc == EBB_OK)
        rc = ebb_config_opt_bool(g, "require_backup", true, &p->require_backup, err);
    if (rc == EBB_OK)
        rc = ebb_config_opt_bool(g, "allow_data_loss", false, &p->allow_data_loss, err);
    if (rc == EBB_OK)
        rc = ebb_config_opt_bool(g, "promotion", true, &promotion, err);
    p->approvals = (unsigned)approvals;
    p->rollback_window_s = (long)window;
    p->promote_from = promotion ? "" : NULL;
    return rc;
}

static ebb_code load_waves(ebb_coord_env *e, const config_setting_t *g, ebb_error *err)
{
    ebb_strategy *s = &e->strategy;
    if (g == NULL)
        return EBB_OK;
    long long canary = 0, batch = 0, pct = 0, par = 0, budget = 0, bpct = -1, soak = 0;
    const char *gate = NULL, *onf = NULL;
    ebb_code rc = ebb_config_check_keys(g, wave_keys, err);
    if (rc == EBB_OK)
        rc = ebb_config_opt_int(g, "canary", 0, 0, 100000, &canary, err);
    if (rc == EBB_OK)
        rc = ebb_config_opt_int(g, "batch", 0, 0, 100000, &batch, err);
    if (rc == EBB_OK)
        rc = ebb_config_opt_int(g, "batch_percent", 0, 0, 100, &pct, err);
    if (rc == EBB_OK && batch > 0 && pct > 0)
        rc = ebb_config_error(err, member(g, "batch_percent"),
                              "give batch or batch_percent, not both");
    if (rc == EBB_OK)
        rc = ebb_config_opt_int(g, "max_parallel", 0, 0, 100000, &par, err);
    if (rc == EBB_OK)
        rc = ebb_config_opt_int(g, "budget", 0, 0, 100000, &budget, err);
    if (rc == EBB_OK)
        rc = ebb_config_opt_int(g, "budget_percent", -1, 0, 100, &bpct, err);
    if (rc == EBB_OK && budget > 0 && bpct >= 0)
        rc = ebb_config_error(err, member(g, "budget_percent"),
                              "give budget or budget_percent, not both");
    if (rc == EBB_OK)
        rc = ebb_config_opt_int(g, "soak_s", 0, 0, 7 * 86400, &soak, err);
    if (rc == EBB_OK)
        rc = ebb_config_opt_string(g, "gate", "none", &gate, err);
    if (rc == EBB_OK) {
        if (strcmp(gate, "none") == 0)
            s->gate = EBB_GATE_NONE;
        else if (strcmp(gate, "after_canary") == 0)
            s->gate = EBB_GATE_AFTER_CANARY;
        else if (strcmp(gate, "every_wave") == 0)
            s->gate = EBB_GATE_EVERY_WAVE;
        else
            rc = ebb_config_error(err, member(g, "gate"),
                                  "'%s' is not a gate (none, after_canary, every_wave)", gate);
    }
    if (rc == EBB_OK)
        rc = ebb_config_opt_string(g, "on_failure", "halt", &onf, err);
    if (rc == EBB_OK) {
        if (strcmp(onf, "halt") == 0)
            s->on_failure = EBB_ON_FAILURE_HALT;
        else if (strcmp(onf, "compensate") == 0)
            s->on_failure = EBB_ON_FAILURE_COMPENSATE;
        else
            rc = ebb_config_error(err, member(g, "on_failure"), "'%s' is not halt or compensate",
                                  onf);
    }
    if (rc != EBB_OK)
        return rc;
    s->canary = (size_t)canary;
    s->batch_count = (size_t)batch;
    s->batch_percent = (unsigned)pct;
    s->max_parallel = (size_t)par;
    s->budget_is_percent = bpct >= 0;
    s->budget_count = (size_t)budget;
    s->budget_percent = bpct >= 0 ? (unsigned)bpct : 0;
    s->soak_s = (long)soak;
    return EBB_OK;
}

static ebb_code load_timeouts(ebb_coord_env *e, const config_setting_t *g, ebb_error *err)
{
    ebb_rollout_config *r = &e->rollout;
    r->default_timeout_s = EBB_COORD_DEFAULT_STEP_TIMEOUT_S;
    r->silent_timeout_s = EBB_COORD_DEFAULT_SILENT_S;
    r->health_retries = EBB_COORD_DEFAULT_HEALTH_RETRIES;
    if (g == NULL)
        return EBB_OK;
    long long v = 0;
    ebb_code rc = ebb_config_check_keys(g, timeout_keys, err);
    if (rc == EBB_OK)
        rc = ebb_config_opt_int(g, "default_s", EBB_COORD_DEFAULT_STEP_TIMEOUT_S, 1, 7 * 86400, &v,
                                err);
    if (rc != EBB_OK)
        return rc;
    r->default_timeout_s = (long)v;
    rc = ebb_config_opt_int(g, "silent_s", EBB_COORD_DEFAULT_SILENT_S, 1, 7 * 86400, &v, err);
    if (rc != EBB_OK)
        return rc;
    r->silent_timeout_s = (long)v;
    rc = ebb_config_opt_int(g, "health_retries", EBB_COORD_DEFAULT_HEALTH_RETRIES, 0, 100, &v, err);
    if (rc != EBB_OK)
        return rc;
    r->health_retries = (unsigned)v;
    for (int k = 0; k < EBB_JOB__COUNT; k++) {
        char key[48];
        snprintf(key, sizeof key, "%s_s", ebb_job_kind_name((ebb_job_kind)k));
        rc = ebb_config_opt_int(g, key, 0, 0, 7 * 86400, &v, err);
        if (rc != EBB_OK)
            return rc;
        r->timeout_s[k] = (long)v;
    }
    return EBB_OK;
}

static ebb_code load_envs(ebb_coord_config *c, const config_setting_t *root, ebb_error *err)
{
    const config_setting_t *list = NULL;
    size_t n = 0;
    ebb_code rc = ebb_config_get_group_list(root, "environments", &list, &n, err);
    if (rc != EBB_OK)
        return rc;
    if (n == 0)
        return ebb_config_error(err, list, "at least one environment is needed");
    c->envs = calloc(n, sizeof *c->envs);
    if (c->envs == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const config_setting_t *g = ebb_config_elem(list, i), *sub = NULL;
        ebb_coord_env *e = &c->envs[i];
        const char *name = NULL;
        rc = ebb_config_check_keys(g, env_keys, err);
        if (rc == EBB_OK)
            rc = ebb_config_get_string(g, "name", &name, err);
        if (rc == EBB_OK && !name_ok(name))
            rc = ebb_config_error(err, member(g, "name"),
                                  "'%s' is not a name (1-64 of A-Z a-z 0-9 - _ .)", name);
        for (size_t j = 0; rc == EBB_OK && j < i; j++)
            if (strcmp(c->envs[j].name, name) == 0)
                rc = ebb_config_error(err, member(g, "name"), "environment '%s' appears twice",
                                      name);
        if (rc == EBB_OK)
            rc = dup_into(&e->name, name, err);
        if (rc == EBB_OK)
            c->n_envs = i + 1;
        if (rc == EBB_OK)
            rc = ebb_config_opt_group(g, "policy", &sub, err);
        if (rc == EBB_OK)
            rc = load_policy(e, sub, err);
        if (rc == EBB_OK)
            rc = ebb_config_opt_group(g, "waves", &sub, err);
        if (rc == EBB_OK)
            rc = load_waves(e, sub, err);
        if (rc == EBB_OK)
            rc = ebb_config_opt_group(g, "timeouts", &sub, err);
        if (rc == EBB_OK)
            rc = load_timeouts(e, sub, err);
        if (rc != EBB_OK)
            return rc;
        e->order = i;
        e->policy.env = e->name;
        e->policy.promote_from =
            (e->policy.promote_from != NULL && i > 0) ? c->envs[i - 1].name : NULL;
    }
    return EBB_OK;
}

static ebb_code load_grants(ebb_coord_config *c, ebb_coord_operator *op, const config_setting_t *g,
                            ebb_error *err)
{
    const config_setting_t *list = NULL;
    size_t n = 0;
    ebb_code rc = ebb_config_get_group_list(g, "grants", &list, &n, err);
    if (rc != EBB_OK)
        return rc;
    op->grants = calloc(n ? n : 1, sizeof *op->grants);
    if (op->grants == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const config_setting_t *gg = ebb_config_elem(list, i);
        const char *env = NULL, **roles = NULL;
        size_t nr = 0;
        rc = ebb_config_check_keys(gg, grant_keys, err);
        if (rc == EBB_OK)
            rc = ebb_config_get_string(gg, "env", &env, err);
        if (rc == EBB_OK && strcmp(env, "*") != 0 && ebb_coord_config_env(c, env) == NULL)
            rc = ebb_config_error(err, member(gg, "env"),
                                  "'%s' is not an environment of this file (or \"*\")", env);
        if (rc == EBB_OK)
            rc = ebb_config_get_strings(gg, "roles", 1, &roles, &nr, err);
        unsigned mask = 0;
        for (size_t r = 0; rc == EBB_OK && r < nr; r++) {
            if (strcmp(roles[r], "read") == 0)
                mask |= EBB_ROLE_READ;
            else if (strcmp(roles[r], "operate") == 0)
                mask |= EBB_ROLE_OPERATE;
            else if (strcmp(roles[r], "approve") == 0)
                mask |= EBB_ROLE_APPROVE;
            else
                rc = ebb_config_error(err, ebb_config_elem(member(gg, "roles"), r),
                                      "'%s' is not a role (read, operate, approve)", roles[r]);
        }
        free(roles);
        if (rc == EBB_OK)
            rc = dup_into(&op->grants[i].env, env, err);
        if (rc != EBB_OK)
            return rc;
        op->grants[i].roles = mask;
        op->n_grants = i + 1;
    }
    return EBB_OK;
}

static ebb_code load_operators(ebb_coord_config *c, const config_setting_t *root, ebb_error *err)
{
    const config_setting_t *list = NULL;
    size_t n = 0;
    ebb_code rc = ebb_config_opt_group_list(root, "operators", &list, &n, err);
    if (rc != EBB_OK || n == 0)
        return rc;
    c->operators = calloc(n, sizeof *c->operators);
    if (c->operators == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const config_setting_t *g = ebb_config_elem(list, i);
        ebb_coord_operator *op = &c->operators[i];
        const char *name = NULL, *pk = NULL, *pkf = NULL;
        rc = ebb_config_check_keys(g, op_keys, err);
        if (rc == EBB_OK)
            rc = ebb_config_get_string(g, "name", &name, err);
        if (rc == EBB_OK && !name_ok(name))
            rc = ebb_config_error(err, member(g, "name"), "'%s' is not a name", name);
        if (rc == EBB_OK)
            rc = ebb_config_opt_string(g, "public_key", NULL, &pk, err);
        if (rc == EBB_OK)
            rc = ebb_config_opt_string(g, "public_key_file", NULL, &pkf, err);
        if (rc == EBB_OK && (pk == NULL) == (pkf == NULL))
            rc = ebb_config_error(err, g, "give exactly one of public_key and public_key_file");
        if (rc == EBB_OK)
            rc = dup_into(&op->name, name, err);
        if (rc == EBB_OK)
            c->n_operators = i + 1;
        if (rc == EBB_OK && pk != NULL) {
            ebb_error e2;
            if (ebb_public_key_parse(pk, &op->key, &e2) != EBB_OK)
                rc = ebb_config_error(err, member(g, "public_key"), "%s", e2.msg);
        } else if (rc == EBB_OK) {
            char *path = resolve(c->path, pkf);
            ebb_error e2;
            if (path == NULL)
                rc = ebb_error_set(err, EBB_E_NOMEM, "out of memory");
            else if (ebb_public_key_load(path, &op->key, &e2) != EBB_OK)
                rc = ebb_config_error(err, member(g, "public_key_file"), "%s", e2.msg);
            free(path);
        }
        if (rc == EBB_OK) {
            ebb_key_id_of(&op->key, &op->key_id);
            ebb_key_id_hex(&op->key_id, op->key_id_hex);
            for (size_t j = 0; rc == EBB_OK && j < i; j++) {
                if (strcmp(c->operators[j].name, name) == 0)
                    rc = ebb_config_error(err, member(g, "name"), "operator '%s' appears twice",
                                          name);
                else if (ebb_key_id_equal(&c->operators[j].key_id, &op->key_id))
                    rc = ebb_config_error(err, g, "the key of '%s' is also the key of '%s'", name,
                                          c->operators[j].name);
            }
        }
        if (rc == EBB_OK)
            rc = load_grants(c, op, g, err);
        if (rc != EBB_OK)
            return rc;
    }
    return EBB_OK;
}

ebb_code ebb_coord_config_load(const char *path, ebb_coord_config **out, ebb_error *err)
{
    ebb_config *file = NULL;
    ebb_code rc = ebb_config_load(path, &file, err);
    if (rc != EBB_OK)
        return rc;
    ebb_coord_config *c = calloc(1, sizeof *c);
    if (c == NULL || (c->path = strdup(path)) == NULL) {
        free(c);
        ebb_config_free(file);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    }
    const config_setting_t *root = ebb_config_root(file);
    rc = ebb_config_check_keys(root, root_keys, err);
    if (rc == EBB_OK)
        rc = load_coordinator(c, root, err);
    if (rc == EBB_OK)
        rc = load_envs(c, root, err);
    if (rc == EBB_OK)
        rc = load_operators(c, root, err);
    ebb_config_free(file);
    if (rc != EBB_OK) {
        ebb_coord_config_free(c);
        return rc;
    }
    *out = c;
    return EBB_OK;
}

void ebb_coord_config_free(ebb_coord_config *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n_envs; i++)
        free(c->envs[i].name);
    free(c->envs);
    for (size_t i = 0; i < c->n_operators; i++) {
        for (size_t g = 0; g < c->operators[i].n_grants; g++)
            free(c->operators[i].grants[g].env);
        free(c->operators[i].grants);
        free(c->operators[i].name);
    }
    free(c->operators);
    free(c->path);
    free(c->key_file);
    free(c->journal_dir);
    free(c->listen_agents);
    free(c->listen_operators);
    free(c);
}

const ebb_coord_env *ebb_coord_config_env(const ebb_coord_config *cfg, const char *name)
{
    for (size_t i = 0; name != NULL && i < cfg->n_envs; i++)
        if (cfg->envs[i].name != NULL && strcmp(cfg->envs[i].name, name) == 0)
            return &cfg->envs[i];
    return NULL;
}

const ebb_coord_operator *ebb_coord_config_operator(const ebb_coord_config *cfg,
                                                    const ebb_key_id *id)
{
    for (size_t i = 0; i < cfg->n_operators; i++)
        if (ebb_key_id_equal(&cfg->operators[i].key_id, id))
            return &cfg->operators[i];
    return NULL;
}

unsigned ebb_coord_operator_roles(const ebb_coord_operator *op, const char *env)
{
    unsigned roles = 0;
    for (size_t i = 0; i < op->n_grants; i++)
        if (env == NULL || strcmp(op->grants[i].env, "*") == 0 ||
            strcmp(op->grants[i].env, env) == 0)
            roles |= op->grants[i].roles;
    return roles;
}

bool ebb_coord_config_state_path(const ebb_coord_config *cfg, const char *name, char *buf,
                                 size_t size)
{
    int n = snprintf(buf, size, "%s/%s", cfg->journal_dir, name);
    return n > 0 && (size_t)n < size;
}
