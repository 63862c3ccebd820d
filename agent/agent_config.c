/* Agent configuration: libconfig file to typed structs, every error with FILE:LINE: key. */
#include "agent/agent_config.h"

#include <nng/nng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pgsql.h"

static const char *const action_names[EBB_JOB__COUNT] = {
    [EBB_JOB_NONE] = "none",
    [EBB_JOB_INSPECT] = "inspect",
    [EBB_JOB_PRECHECK] = "precheck",
    [EBB_JOB_STOP_SERVICES] = "stop_services",
    [EBB_JOB_BACKUP] = "backup",
    [EBB_JOB_MIGRATE] = "migrate",
    [EBB_JOB_VERIFY] = "verify",
    [EBB_JOB_START_SERVICES] = "start_services",
    [EBB_JOB_HEALTH] = "health",
    [EBB_JOB_RESTORE] = "restore",
    [EBB_JOB_COMMIT_PREPARED] = "commit_prepared",
    [EBB_JOB_ROLLBACK_PREPARED] = "rollback_prepared",
    [EBB_JOB_CANCEL] = "cancel",
};

const char *ebb_job_action_name(ebb_job_action action)
{
    if ((int)action <= 0 || action >= EBB_JOB__COUNT)
        return "none";
    return action_names[action];
}

ebb_job_action ebb_job_action_parse(const char *name)
{
    if (name == NULL)
        return EBB_JOB_NONE;
    for (int a = 1; a < EBB_JOB__COUNT; a++)
        if (strcmp(name, action_names[a]) == 0)
            return (ebb_job_action)a;
    return EBB_JOB_NONE;
}

static const char *const root_keys[] = {"agent", "coordinator", "databases", NULL};
static const char *const agent_keys[] = {
    "id", "key_file", "replay_store", "job_journal", "log_level", "log_format", NULL};
static const char *const coord_keys[] = {"address",
                                         "public_key",
                                         "public_key_file",
                                         "poll_interval_ms",
                                         "heartbeat_interval_ms",
                                         "reconnect_min_ms",
                                         "reconnect_max_ms",
                                         "request_timeout_ms",
                                         NULL};
static const char *const db_keys[] = {"name",   "conninfo", "service",  "environment",
                                      "source", "migrate",  "precheck", "services",
                                      "roles",  "backup",   "allow",    NULL};
static const char *const source_keys[] = {"dir", "kind", NULL};
static const char *const migrate_keys[] = {"lock_timeout_ms", "statement_timeout_ms",
                                           "single_transaction", NULL};
static const char *const precheck_keys[] = {"long_transaction_s", "free_space_percent", NULL};
static const char *const services_keys[] = {"stop",       "start",  "status",
                                            "timeout_ms", "health", NULL};
static const char *const health_keys[] = {
    "command", "url", "expect_status", "timeout_ms", "attempts", "interval_ms", NULL};
static const char *const backup_keys[] = {"dir",         "retention",  "format", "jobs",
                                          "compression", "timeout_ms", NULL};

/* A name the coordinator uses on the wire: [A-Za-z0-9_.-], 1..63 characters. */
static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

static const config_setting_t *member(const config_setting_t *group, const char *key)
{
    return config_setting_get_member((config_setting_t *)group, key);
}

static ebb_code get_name(const config_setting_t *g, const char *key, const char **out,
                         ebb_error *err)
{
    const char *s;
    ebb_code rc = ebb_config_get_string(g, key, &s, err);
    if (rc != EBB_OK)
        return rc;
    if (!name_ok(s))
        return ebb_config_error(err, member(g, key),
                                "'%s' is not a valid name (1 to 63 of A-Z a-z 0-9 _ . -)", s);
    *out = s;
    return EBB_OK;
}

static ebb_code get_nonempty(const config_setting_t *g, const char *key, const char **out,
                             ebb_error *err)
{
    const char *s;
    ebb_code rc = ebb_config_get_string(g, key, &s, err);
    if (rc != EBB_OK)
        return rc;
    if (s[0] == '\0')
        return ebb_config_error(err, member(g, key), "must not be empty");
    *out = s;
    return EBB_OK;
}

static ebb_code opt_ms(const config_setting_t *g, const char *key, long long def, long long min,
                       int *out, ebb_error *err)
{
    long long v;
    ebb_code rc = ebb_config_opt_int(g, key, def, min, 24LL * 3600 * 1000, &v, err);
    if (rc == EBB_OK)
        *out = (int)v;
    return rc;
}

static ebb_code load_agent(ebb_agent_config *c, const config_setting_t *root, ebb_error *err)
{
    const config_setting_t *g;
    ebb_code rc = ebb_config_get_group(root, "agent", &g, err);
    if (rc == EBB_OK)
        rc = ebb_config_check_keys(g, agent_keys, err);
    if (rc == EBB_OK)
        rc = get_name(g, "id", &c->agent_id, err);
    if (rc == EBB_OK)
        rc = get_nonempty(g, "key_file", &c->key_file, err);
    if (rc == EBB_OK)
        rc = get_nonempty(g, "replay_store", &c->replay_store, err);
    if (rc == EBB_OK)
        rc = get_nonempty(g, "job_journal", &c->job_journal, err);
    if (rc == EBB_OK)
        rc = ebb_config_opt_string(g, "log_level", "info", &c->log_level, err);
    if (rc == EBB_OK)
        rc = ebb_config_opt_string(g, "log_format", "text", &c->log_format, err);
    if (rc != EBB_OK)
        return rc;
    if (strcmp(c->log_level, "debug") != 0 && strcmp(c->log_level, "info") != 0 &&
        strcmp(c->log_level, "warn") != 0 && strcmp(c->log_level, "warning") != 0 &&
        strcmp(c->log_level, "error") != 0)
        return ebb_config_error(err, member(g, "log_level"),
                                "'%s' is not debug, info, warn or error", c->log_level);
    if (strcmp(c->log_format, "text") != 0 && strcmp(c->log_format, "json") != 0)
        return ebb_config_error(err, member(g, "log_format"), "'%s' is not text or json",
                                c->log_format);
    return EBB_OK;
}

static ebb_code load_coordinator(ebb_agent_config *c, const config_setting_t *root, ebb_error *err)
{
    const config_setting_t *g;
    ebb_code rc = ebb_config_get_group(root, "coordinator", &g, err);
    if (rc == EBB_OK)
        rc = ebb_config_check_keys(g, coord_keys, err);
    if (rc == EBB_OK)
        rc = get_nonempty(g, "address", &c->coordinator_address, err);
    if (rc != EBB_OK)
        return rc;
    nng_url *url = NULL;
    if (nng_url_parse(&url, c->coordinator_address) != 0)
        return ebb_config_error(err, member(g, "address"),
                                "'%s' is not an nng address (tcp://host:port, ipc:///path)",
                                c->coordinator_address);
    nng_url_free(url);

    const char *key = NULL, *key_file = NULL;
    if ((rc = ebb_config_opt_string(g, "public_key", NULL, &key, err)) != EBB_OK ||
        (rc = ebb_config_opt_string(g, "public_key_file", NULL, &key_file, err)) != EBB_OK)
        return rc;
    if ((key == NULL) == (key_file == NULL))
        return ebb_config_error(err, g,
                                "give the coordinator's pinned key as exactly one of public_key "
                                "or public_key_file");
    ebb_error kerr;
    ebb_error_clear(&kerr);
    if (key != NULL) {
        if (ebb_public_key_parse(key, &c->coordinator_key, &kerr) != EBB_OK)
            return ebb_config_error(err, member(g, "public_key"),
                                    "not an Ed25519 public key (base64 or a .pub line)");
    } else if (ebb_public_key_load(key_file, &c->coordinator_key, &kerr) != EBB_OK) {
        return ebb_config_error(err, member(g, "public_key_file"), "%s", kerr.msg);
    }

    if ((rc = opt_ms(g, "poll_interval_ms", EBB_AGENT_DEFAULT_POLL_MS, 10, &c->poll_interval_ms,
                     err)) != EBB_OK ||
        (rc = opt_ms(g, "heartbeat_interval_ms", EBB_AGENT_DEFAULT_HEARTBEAT_MS, 100,
                     &c->heartbeat_interval_ms, err)) != EBB_OK ||
        (rc = opt_ms(g, "reconnect_min_ms", EBB_AGENT_DEFAULT_RECONNECT_MIN_MS, 10,
                     &c->reconnect_min_ms, err)) != EBB_OK ||
        (rc = opt_ms(g, "reconnect_max_ms", EBB_AGENT_DEFAULT_RECONNECT_MAX_MS, 10,
                     &c->reconnect_max_ms, err)) != EBB_OK ||
        (rc = opt_ms(g, "request_timeout_ms", EBB_AGENT_DEFAULT_REQUEST_TIMEOUT_MS, 100,
                     &c->request_timeout_ms, err)) != EBB_OK)
        return rc;
    if (c->reconnect_max_ms < c->reconnect_min_ms)
        return ebb_config_error(err, member(g, "reconnect_max_ms"),
                                "must not be less than reconnect_min_ms (%d)", c->reconnect_min_ms);
    return EBB_OK;
}

static ebb_code load_health(ebb_health_cfg *h, const config_setting_t *g, ebb_error *err)
{
    ebb_code rc = ebb_config_check_keys(g, health_keys, err);
    if (rc != EBB_OK)
        return rc;
    const char **argv = NULL;
    if ((rc = ebb_config_opt_strings(g, "command", 1, &argv, NULL, err)) != EBB_OK ||
        (rc = ebb_config_opt_string(g, "url", NULL, &h->url, err)) != EBB_OK) {
        free(argv);
        return rc;
    }
    h->argv = argv;
    if ((argv == NULL) == (h->url == NULL))
        return ebb_config_error(err, g, "give exactly one of command (an argv list) or url");
    if (argv != NULL) {
        h->kind = EBB_HEALTH_COMMAND;
    } else {
        h->kind = EBB_HEALTH_HTTP;
        nng_url *url = NULL;
        if (strncmp(h->url, "http://", 7) != 0 || nng_url_parse(&url, h->url) != 0 ||
            url->u_hostname == NULL || url->u_hostname[0] == '\0') {
            nng_url_free(url);
            return ebb_config_error(err, member(g, "url"),
                                    "'%s' is not an http:// URL (http://host:port/path)", h->url);
        }
        nng_url_free(url);
    }
    long long v;
    if ((rc = ebb_config_opt_int(g, "expect_status", 200, 100, 599, &v, err)) != EBB_OK)
        return rc;
    h->expect_status = (int)v;
    if (h->kind == EBB_HEALTH_COMMAND && member(g, "expect_status") != NULL)
        return ebb_config_error(err, member(g, "expect_status"),
                                "only applies to an http:// url (a command is healthy on exit 0)");
    if ((rc = opt_ms(g, "timeout_ms", EBB_AGENT_DEFAULT_HEALTH_TIMEOUT_MS, 1, &h->timeout_ms,
                     err)) != EBB_OK ||
        (rc = ebb_config_opt_int(g, "attempts", 1, 1, 1000, &v, err)) != EBB_OK)
        return rc;
    h->attempts = (int)v;
    return opt_ms(g, "interval_ms", 1000, 0, &h->interval_ms, err);
}

static ebb_code load_services(ebb_services_cfg *s, const config_setting_t *g, ebb_error *err)
{
    ebb_code rc = ebb_config_check_keys(g, services_keys, err);
    const char **argv;
    if (rc != EBB_OK)
        return rc;
    if ((rc = ebb_config_get_strings(g, "stop", 1, &argv, NULL, err)) != EBB_OK)
        return rc;
    s->stop_argv = argv;
    if ((rc = ebb_config_get_strings(g, "start", 1, &argv, NULL, err)) != EBB_OK)
        return rc;
    s->start_argv = argv;
    if ((rc = ebb_config_get_strings(g, "status", 1, &argv, NULL, err)) != EBB_OK)
        return rc;
    s->status_argv = argv;
    if ((rc = opt_ms(g, "timeout_ms", EBB_AGENT_DEFAULT_SERVICE_TIMEOUT_MS, 1, &s->timeout_ms,
                     err)) != EBB_OK)
        return rc;
    const config_setting_t *h;
    if ((rc = ebb_config_opt_group(g, "health", &h, err)) != EBB_OK)
        return rc;
    if (h != NULL)
        return load_health(&s->health, h, err);
    return EBB_OK;
}

static ebb_code load_backup(ebb_backup_cfg *b, const config_setting_t *g, ebb_error *err)
{
    ebb_code rc = ebb_config_check_keys(g, backup_keys, err);
    long long v;
    const char *fmt;
    if (rc == EBB_OK)
        rc = get_nonempty(g, "dir", &b->dir, err);
    if (rc == EBB_OK)
        rc = ebb_config_opt_int(g, "retention", 0, 0, 100000, &v, err);
    if (rc != EBB_OK)
        return rc;
    b->retention = (size_t)v;
    if ((rc = ebb_config_opt_string(g, "format", "custom", &fmt, err)) != EBB_OK)
        return rc;
    if (ebb_backup_format_parse(fmt, &b->format, NULL) != EBB_OK)
        return ebb_config_error(err, member(g, "format"), "'%s' is not custom or directory", fmt);
    if ((rc = ebb_config_opt_int(g, "jobs", 1, 1, 64, &v, err)) != EBB_OK)
        return rc;
    b->jobs = (int)v;
    if (b->jobs > 1 && b->format != EBB_BACKUP_DIRECTORY)
        return ebb_config_error(err, member(g, "jobs"),
                                "parallel jobs need format = \"directory\" (pg_dump -j)");
    if ((rc = ebb_config_opt_int(g, "compression", -1, -1, 9, &v, err)) != EBB_OK)
        return rc;
    b->compression = (int)v;
    return opt_ms(g, "timeout_ms", EBB_AGENT_DEFAULT_BACKUP_TIMEOUT_MS, 1, &b->timeout_ms, err);
}

/* Which actions a database allows: what its configuration supports, narrowed by `allow`. */
static ebb_code load_allow(ebb_agent_db *d, const config_setting_t *g, ebb_error *err)
{
    bool can[EBB_JOB__COUNT] = {false};
    for (int a = 1; a < EBB_JOB__COUNT; a++)
        can[a] = true;
    can[EBB_JOB_STOP_SERVICES] = can[EBB_JOB_START_SERVICES] = d->has_services;
    can[EBB_JOB_HEALTH] = d->has_services && d->services.health.kind != EBB_HEALTH_NONE;
    can[EBB_JOB_BACKUP] = can[EBB_JOB_RESTORE] = d->has_backup;

    const char **names = NULL;
    size_t n = 0;
    ebb_code rc = ebb_config_opt_strings(g, "allow", 0, &names, &n, err);
    if (rc != EBB_OK)
        return rc;
    if (names == NULL) {
        memcpy(d->allowed, can, sizeof can);
        return EBB_OK;
    }
    const config_setting_t *list = member(g, "allow");
    for (size_t i = 0; i < n && rc == EBB_OK; i++) {
        ebb_job_action a = ebb_job_action_parse(names[i]);
        if (a == EBB_JOB_NONE)
            rc = ebb_config_error(err, ebb_config_elem(list, i), "'%s' is not an action", names[i]);
        else if (!can[a])
            rc = ebb_config_error(err, ebb_config_elem(list, i),
                                  "'%s' needs a %s section in this database", names[i],
                                  a == EBB_JOB_BACKUP || a == EBB_JOB_RESTORE ? "backup"
                                  : a == EBB_JOB_HEALTH                       ? "services.health"
                                                                              : "services");
        else
            d->allowed[a] = true;
    }
    /* cancel only ever stops a job; it cannot be switched off. */
    d->allowed[EBB_JOB_CANCEL] = true;
    free(names);
    return rc;
}

static ebb_code load_db(ebb_agent_db *d, const config_setting_t *g, ebb_error *err)
{
    d->line = (int)config_setting_source_line(g);
    ebb_code rc = ebb_config_check_keys(g, db_keys, err);
    if (rc == EBB_OK)
        rc = get_name(g, "name", &d->name, err);
    if (rc != EBB_OK)
        return rc;

    const char *conninfo = NULL, *service = NULL;
    if ((rc = ebb_config_opt_string(g, "conninfo", NULL, &conninfo, err)) != EBB_OK ||
        (rc = ebb_config_opt_string(g, "service", NULL, &service, err)) != EBB_OK)
        return rc;
    if ((conninfo == NULL) == (service == NULL))
        return ebb_config_error(err, g, "give exactly one of conninfo or service");
    if (conninfo != NULL) {
        char *masked = NULL;
        if (ebb_pg_conninfo_mask(conninfo, &masked, NULL) != EBB_OK)
            return ebb_config_error(err, member(g, "conninfo"),
                                    "not a libpq connection string (key=value or postgresql://)");
        free(masked);
        d->conninfo = conninfo;
    } else {
        char quoted[300];
        if (service[0] == '\0' || !ebb_pg_conninfo_quote(service, quoted, sizeof quoted))
            return ebb_config_error(err, member(g, "service"), "not a usable service name");
        size_t len = strlen(quoted) + sizeof "service=";
        d->conninfo_owned = malloc(len);
        if (d->conninfo_owned == NULL)
            return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
        snprintf(d->conninfo_owned, len, "service=%s", quoted);
        d->conninfo = d->conninfo_owned;
    }
    if ((rc = ebb_config_opt_string(g, "environment", "", &d->environment, err)) != EBB_OK)
        return rc;

    const config_setting_t *s;
    const char *kind;
    if ((rc = ebb_config_get_group(g, "source", &s, err)) != EBB_OK ||
        (rc = ebb_config_check_keys(s, source_keys, err)) != EBB_OK ||
        (rc = get_nonempty(s, "dir", &d->source_dir, err)) != EBB_OK ||
        (rc = ebb_config_opt_string(s, "kind", "auto", &kind, err)) != EBB_OK)
        return rc;
    d->source_kind = ebb_source_kind_parse(kind);
    if (d->source_kind == EBB_SOURCE_UNKNOWN && strcmp(kind, "auto") != 0)
        return ebb_config_error(err, member(s, "kind"),
                                "'%s' is not a source kind (auto, golang-migrate, flyway, "
                                "dbmate, diesel, sqitch, alembic)",
                                kind);

    long long v;
    if ((rc = ebb_config_opt_group(g, "migrate", &s, err)) != EBB_OK)
        return rc;
    if (s != NULL) {
        if ((rc = ebb_config_check_keys(s, migrate_keys, err)) != EBB_OK ||
            (rc = ebb_config_opt_int(s, "lock_timeout_ms", 0, 0, 86400000LL, &v, err)) != EBB_OK)
            return rc;
        d->lock_timeout_ms = (long)v;
        if ((rc = ebb_config_opt_int(s, "statement_timeout_ms", 0, 0, 86400000LL, &v, err)) !=
                EBB_OK ||
            (rc = ebb_config_opt_bool(s, "single_transaction", false, &d->single_transaction,
                                      err)) != EBB_OK)
            return rc;
        d->statement_timeout_ms = (long)v;
    }

    d->long_xact_s = EBB_AGENT_DEFAULT_LONG_XACT_S;
    d->free_space_factor = 1.0;
    if ((rc = ebb_config_opt_group(g, "precheck", &s, err)) != EBB_OK)
        return rc;
    if (s != NULL) {
        if ((rc = ebb_config_check_keys(s, precheck_keys, err)) != EBB_OK ||
            (rc = ebb_config_opt_int(s, "long_transaction_s", EBB_AGENT_DEFAULT_LONG_XACT_S, 1,
                                     86400 * 7, &v, err)) != EBB_OK)
            return rc;
        d->long_xact_s = (long)v;
        if ((rc = ebb_config_opt_int(s, "free_space_percent", 100, 0, 10000, &v, err)) != EBB_OK)
            return rc;
        d->free_space_factor = (double)v / 100.0;
    }

    if ((rc = ebb_config_opt_group(g, "services", &s, err)) != EBB_OK)
        return rc;
    if (s != NULL) {
        d->has_services = true;
        if ((rc = load_services(&d->services, s, err)) != EBB_OK)
            return rc;
    }
    const char **roles = NULL;
    if ((rc = ebb_config_opt_strings(g, "roles", 0, &roles, &d->n_roles, err)) != EBB_OK)
        return rc;
    d->roles = roles;
    for (size_t i = 0; i < d->n_roles; i++)
        if (roles[i][0] == '\0')
            return ebb_config_error(err, ebb_config_elem(member(g, "roles"), i),
                                    "a role name must not be empty");
    if (d->n_roles > 0 && !d->has_services)
        return ebb_config_error(err, member(g, "roles"),
                                "roles are terminated by stop_services: add a services section");

    if ((rc = ebb_config_opt_group(g, "backup", &s, err)) != EBB_OK)
        return rc;
    if (s != NULL) {
        d->has_backup = true;
        if ((rc = load_backup(&d->backup, s, err)) != EBB_OK)
            return rc;
    }
    return load_allow(d, g, err);
}

static void db_fini(ebb_agent_db *d)
{
    free((void *)d->services.stop_argv);
    free((void *)d->services.start_argv);
    free((void *)d->services.status_argv);
    free((void *)d->services.health.argv);
    free((void *)d->roles);
    free(d->conninfo_owned);
}

ebb_code ebb_agent_config_load(const char *path, ebb_agent_config **out, ebb_error *err)
{
    ebb_agent_config *c = calloc(1, sizeof *c);
    if (c == NULL || (c->path = strdup(path)) == NULL) {
        free(c);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    }
    ebb_code rc = ebb_config_load(path, &c->file, err);
    const config_setting_t *root = rc == EBB_OK ? ebb_config_root(c->file) : NULL;
    if (rc == EBB_OK)
        rc = ebb_config_check_keys(root, root_keys, err);
    if (rc == EBB_OK)
        rc = load_agent(c, root, err);
    if (rc == EBB_OK)
        rc = load_coordinator(c, root, err);
    const config_setting_t *list = NULL;
    size_t n = 0;
    if (rc == EBB_OK)
        rc = ebb_config_get_group_list(root, "databases", &list, &n, err);
    if (rc == EBB_OK && n > 0) {
        c->dbs = calloc(n, sizeof *c->dbs);
        if (c->dbs == NULL)
            rc = ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; rc == EBB_OK && i < n; i++) {
        const config_setting_t *g = ebb_config_elem(list, i);
        c->n_dbs = i + 1;
        rc = load_db(&c->dbs[i], g, err);
        for (size_t k = 0; rc == EBB_OK && k < i; k++)
            if (strcmp(c->dbs[k].name, c->dbs[i].name) == 0)
                rc = ebb_config_error(err, member(g, "name"),
                                      "database '%s' is already defined at line %d", c->dbs[i].name,
                                      c->dbs[k].line);
    }
    if (rc != EBB_OK) {
        ebb_agent_config_free(c);
        return rc;
    }
    *out = c;
    return EBB_OK;
}

void ebb_agent_config_free(ebb_agent_config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < cfg->n_dbs; i++)
        db_fini(&cfg->dbs[i]);
    free(cfg->dbs);
    ebb_config_free(cfg->file);
    free(cfg->path);
    free(cfg);
}

const ebb_agent_db *ebb_agent_config_find_db(const ebb_agent_config *cfg, const char *name)
{
    if (cfg == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < cfg->n_dbs; i++)
        if (strcmp(cfg->dbs[i].name, name) == 0)
            return &cfg->dbs[i];
    return NULL;
}
