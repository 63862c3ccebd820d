/* The agent daemon's configuration file: identity, coordinator, databases, services, backups. */
#ifndef EBB_AGENT_AGENT_CONFIG_H
#define EBB_AGENT_AGENT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/backup.h"
#include "agent/migration.h"
#include "common/config.h"
#include "common/error.h"
#include "common/keys.h"

/*
 * The file is libconfig (docs/configuration.md, section "Agent"; example in
 * deploy/examples/agent.conf):
 *
 *   agent       = { id, key_file, replay_store, job_journal, log_level?, log_format? };
 *   coordinator = { address, public_key | public_key_file, poll_interval_ms?,
 *                   heartbeat_interval_ms?, reconnect_min_ms?, reconnect_max_ms?,
 *                   request_timeout_ms? };
 *   databases   = ( { name, conninfo | service, environment?, source = { dir, kind? },
 *                     migrate = { lock_timeout_ms?, statement_timeout_ms?,
 *                                 single_transaction? }?,
 *                     precheck = { long_transaction_s?, free_space_percent? }?,
 *                     services = { stop, start, status, timeout_ms?,
 *                                  health = { command | url, expect_status?,
 *                                             timeout_ms?, attempts?, interval_ms? }? }?,
 *                     roles = [ ... ]?,
 *                     backup = { dir, retention?, format?, jobs?, compression?,
 *                                timeout_ms? }?,
 *                     allow = [ "inspect", "migrate", ... ]? }, ... );
 *
 * Every error is EBB_E_CONFIG "FILE:LINE: key.path: what is wrong", an
 * unknown key with "did you mean ...?".
 *
 * Every string below (argv elements included) is owned by the loaded
 * ebb_agent_config and valid until ebb_agent_config_free(); argv arrays are
 * NULL-terminated.
 */

/* Defaults (milliseconds unless said otherwise). */
#define EBB_AGENT_DEFAULT_POLL_MS 1000
#define EBB_AGENT_DEFAULT_HEARTBEAT_MS 10000
#define EBB_AGENT_DEFAULT_RECONNECT_MIN_MS 500
#define EBB_AGENT_DEFAULT_RECONNECT_MAX_MS 30000
#define EBB_AGENT_DEFAULT_REQUEST_TIMEOUT_MS 30000
#define EBB_AGENT_DEFAULT_SERVICE_TIMEOUT_MS 60000
#define EBB_AGENT_DEFAULT_HEALTH_TIMEOUT_MS 5000
#define EBB_AGENT_DEFAULT_LONG_XACT_S 60
#define EBB_AGENT_DEFAULT_BACKUP_TIMEOUT_MS (6 * 3600 * 1000)

/* The actions a job can ask for (the wire's JobAction, without protobuf). */
typedef enum ebb_job_action {
    EBB_JOB_NONE = 0,
    EBB_JOB_INSPECT,
    EBB_JOB_PRECHECK,
    EBB_JOB_STOP_SERVICES,
    EBB_JOB_BACKUP,
    EBB_JOB_MIGRATE,
    EBB_JOB_VERIFY,
    EBB_JOB_START_SERVICES,
    EBB_JOB_HEALTH,
    EBB_JOB_RESTORE,
    EBB_JOB_COMMIT_PREPARED,
    EBB_JOB_ROLLBACK_PREPARED,
    EBB_JOB_CANCEL,
    EBB_JOB__COUNT
} ebb_job_action;

/* "inspect", "precheck", "stop_services", ...; "none" for an unknown value. */
const char *ebb_job_action_name(ebb_job_action action);
/* EBB_JOB_NONE when name is not an action. */
ebb_job_action ebb_job_action_parse(const char *name);

typedef enum ebb_health_kind {
    EBB_HEALTH_NONE = 0, /* no health check configured */
    EBB_HEALTH_COMMAND,  /* argv: healthy when it exits 0 */
    EBB_HEALTH_HTTP,     /* GET url: healthy when the status is expect_status */
} ebb_health_kind;

typedef struct ebb_health_cfg {
    ebb_health_kind kind;
    const char *const *argv; /* EBB_HEALTH_COMMAND */
    const char *url;         /* EBB_HEALTH_HTTP: "http://host:port/path" */
    int expect_status;       /* EBB_HEALTH_HTTP; default 200 */
    int timeout_ms;          /* per attempt */
    int attempts;            /* >= 1; default 1 */
    int interval_ms;         /* between attempts; default 1000 */
} ebb_health_cfg;

/*
 * Service control of one database's applications. Convention for status:
 * exit 0 = running, any other exit = stopped (as `systemctl is-active
 * --quiet` does).
 */
typedef struct ebb_services_cfg {
    const char *const *stop_argv;
    const char *const *start_argv;
    const char *const *status_argv;
    int timeout_ms; /* per command */
    ebb_health_cfg health;
} ebb_services_cfg;

typedef struct ebb_backup_cfg {
    const char *dir;
    size_t retention;         /* backups kept per database; 0 = keep all */
    ebb_backup_format format; /* "custom" (default) or "directory" */
    int jobs;                 /* pg_dump -j for the directory format (default 1) */
    int compression;          /* -Z 0..9; -1 = pg_dump's default */
    int timeout_ms;           /* per pg_dump / pg_restore */
} ebb_backup_cfg;

typedef struct ebb_agent_db {
    const char *name;        /* the name the coordinator uses */
    const char *conninfo;    /* libpq string, or "service=NAME" built from `service` */
    char *conninfo_owned;    /* internal: the built string (freed with the config) */
    const char *environment; /* label; "" when absent */
    const char *source_dir;
    ebb_source_kind source_kind; /* EBB_SOURCE_UNKNOWN = detect */
    long lock_timeout_ms;        /* 0 = server setting */
    long statement_timeout_ms;   /* 0 = server setting */
    bool single_transaction;
    long long_xact_s;         /* precheck: transactions older than this block DDL */
    double free_space_factor; /* precheck: free bytes needed = factor * database size
                               * (free_space_percent / 100; default 100 %) */
    bool has_services;
    ebb_services_cfg services;
    const char *const *roles; /* sessions terminated after stop_services (may be empty) */
    size_t n_roles;
    bool has_backup;
    ebb_backup_cfg backup;
    bool allowed[EBB_JOB__COUNT]; /* which actions jobs may run on this database */
    int line;                     /* line of the entry, for messages */
} ebb_agent_db;

typedef struct ebb_agent_config {
    char *path; /* as given to load (owned) */
    const char *agent_id;
    const char *key_file;
    const char *replay_store;
    const char *job_journal;
    const char *log_level;           /* "info" by default */
    const char *log_format;          /* "text" or "json" */
    const char *coordinator_address; /* nng URL, e.g. "tcp://coord:7400" */
    ebb_public_key coordinator_key;  /* pinned */
    int poll_interval_ms;
    int heartbeat_interval_ms;
    int reconnect_min_ms;
    int reconnect_max_ms;
    int request_timeout_ms;
    ebb_agent_db *dbs; /* owned */
    size_t n_dbs;
    ebb_config *file; /* the parsed file; owns the strings */
} ebb_agent_config;

/*
 * Load and validate path: types, ranges, required keys, unknown keys,
 * duplicate database names, conninfo xor service, health command xor url
 * (url must be http://), allow lists naming real actions. No I/O beyond
 * reading the file (and public_key_file): see ebb_agent_config_check for
 * the checks that look at the host. By default a database allows every
 * action it has configuration for (services: stop/start/health; backup:
 * backup/restore; always inspect, precheck, migrate, verify,
 * commit/rollback_prepared, cancel); `allow` narrows that (naming an action
 * whose configuration is missing is an error). *out set only on success;
 * caller: ebb_agent_config_free.
 */
EBB_MUSTCHECK ebb_code ebb_agent_config_load(const char *path, ebb_agent_config **out,
                                             ebb_error *err);
void ebb_agent_config_free(ebb_agent_config *cfg);

/* The database named name, or NULL. Borrowed from cfg. */
const ebb_agent_db *ebb_agent_config_find_db(const ebb_agent_config *cfg, const char *name);

/*
 * Checks against the host (check-config and daemon start): the key file
 * exists, has mode 0600 and loads; each database's source directory loads;
 * each backup directory exists (or can be created) and is writable; the
 * services' programs exist. Stops at the first problem (EBB_E_CONFIG
 * "FILE:LINE: key: problem"; key problems keep EBB_E_KEY_PERM /
 * EBB_E_KEY_FORMAT with the location prefixed).
 */
EBB_MUSTCHECK ebb_code ebb_agent_config_check(const ebb_agent_config *cfg, ebb_error *err);

/*
 * For a command that needs a usable configuration: ebb_agent_config_load,
 * then ebb_agent_config_check. On failure prints "PROG: message" to stderr
 * and returns EBB_EXIT_CONFIG; on success sets *out (caller frees) and
 * returns EBB_EXIT_OK.
 */
int ebb_agent_config_open_for(const char *prog, const char *path, ebb_agent_config **out);

/*
 * `ebb-agent check-config --config FILE`: load + check, prints "FILE: ok"
 * or the error. Returns the exit code (0 ok, 2 usage, 3 configuration).
 */
int ebb_agent_check_config_main(int argc, char **argv);

#endif
