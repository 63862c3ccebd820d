/* `ebb-agent db ...`: the single-host commands on one database (status, up, down, backups, ...). */
#ifndef EBB_AGENT_CLI_DB_H
#define EBB_AGENT_CLI_DB_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "agent/alembic.h"
#include "agent/backup.h"
#include "agent/fingerprint.h"
#include "agent/graph.h"
#include "agent/migration.h"
#include "agent/registry.h"
#include "agent/risk_probe.h"
#include "common/error.h"
#include "common/pgsql.h"

/* Run `ebb-agent db ARGS...` (argv[0] is "db"); returns the process exit code. */
int ebb_cli_db_main(int argc, char **argv);

/* ---- Shared by the cli_db_*.c files ---- */

/* One command invocation: its options and what it has opened. */
typedef struct ebb_cli_db {
    const char *command;
    /* options (borrowed from argv, or from the agent configuration with --config/--db) */
    const char *config_path;  /* --config FILE */
    const char *db_name;      /* --db NAME */
    struct ebb_agent_config *config; /* loaded from config_path (owned) */
    const char *dsn;
    const char *source;
    ebb_source_kind kind;
    const char *backup_dir;
    const char *to;
    const char *operator_name;
    const char *reason;
    const char *run_filter;   /* history --run */
    const char *pg_bin_dir;
    const char *from;         /* rehearse --from */
    bool keep_scratch;        /* rehearse --keep */
    bool strict;              /* rehearse --strict */
    bool json;
    bool dry_run;
    bool no_restore;
    bool describe;
    long lock_timeout_ms;
    long statement_timeout_ms;
    long probe_timeout_ms;    /* risk probes' statement_timeout; 0 = default */
    bool accept_data_loss;    /* go ahead although the risk probes found data at risk */
    bool accept_unknown;      /* go ahead although statements cannot be analysed */
    char *risk_details;       /* owned: JSON object text merged into the run's events, or NULL */
    long limit;
    int compress;
    int jobs;
    long keep;
    ebb_backup_format format;
    char run_id[96];
    /* Alembic projects: extra environment (--alembic-env, NULL-terminated) and interpreter */
    const char *alembic_env[33];
    size_t n_alembic_env;
    const char *alembic_python;
    char *alembic_ini;      /* <source>/alembic.ini (owned) */
    ebb_alembic_conf alembic; /* filled by ebb_cli_db_load_source for Alembic projects */
    char **args; /* positional arguments after the command */
    int n_args;
    /* opened on demand, closed by the dispatcher */
    ebb_pg *pg;
    ebb_graph graph;
    bool have_graph;
    bool lock_held;
} ebb_cli_db;

/* Open the database (once). Errors name the masked connection string. */
EBB_MUSTCHECK ebb_code ebb_cli_db_connect(ebb_cli_db *c, ebb_error *err);
/*
 * Load the migration source (once); --source is required by the caller's
 * command. An Alembic project (--kind alembic, or detected by alembic.ini)
 * is loaded through Alembic with c->alembic, which the runner then uses.
 */
EBB_MUSTCHECK ebb_code ebb_cli_db_load_source(ebb_cli_db *c, ebb_error *err);

/*
 * Report a failure: with --json one JSON document on stdout ({"ok": false,
 * "command", "error": {code, message, sqlstate}, "exit_code"} merged into
 * extra when given, which is consumed); else "ebb-agent db CMD: message"
 * on stderr. Returns exit_code.
 */
int ebb_cli_db_fail(ebb_cli_db *c, const ebb_error *err, int exit_code, json_t *extra);

/* With --json print doc (consumed) with "ok": true and "command" added; else only free it. */
void ebb_cli_db_emit(ebb_cli_db *c, json_t *doc);

/* The run information for registry writes (borrowed from c). */
ebb_run_info ebb_cli_db_run_info(const ebb_cli_db *c);

/*
 * Append an event (best effort: a database without a registry, or an event
 * that cannot be written, is reported on stderr but does not change the
 * command's outcome). details (consumed, may be NULL) is a JSON object.
 */
void ebb_cli_db_event(ebb_cli_db *c, ebb_event_kind kind, const char *revision,
                      const ebb_error *failure, json_t *details);

/* Backup options from the command line, with progress on stderr. */
void ebb_cli_db_backup_opts(ebb_cli_db *c, ebb_backup_opts *out);

/* Fingerprint differences as a JSON array of {change, object, expected, actual} (new reference). */
json_t *ebb_cli_db_diff_json(const ebb_fp_diff *d);

/* Manifest as JSON (new reference). */
json_t *ebb_cli_db_manifest_json(const ebb_backup_manifest *m);

/*
 * Restore backup id and check that the registry's applied revisions and the
 * live fingerprint equal the manifest's (EBB_E_VERIFY naming what differs);
 * records a restore event (or a fail event). *out (may be NULL) gets the
 * manifest. The caller holds the migrator lock.
 */
EBB_MUSTCHECK ebb_code ebb_cli_db_restore_checked(ebb_cli_db *c, const char *id,
                                                  ebb_backup_manifest *out, ebb_error *err);

/*
 * Probe the risks of path (agent/risk_probe.h) and decide (risk_verdict.h)
 * with c's --accept-* flags. A refusal is EBB_E_REFUSED naming the first
 * offending statement and what the probe found; going ahead only because of
 * a flag sets c->risk_details for the events. Prints the report on stderr
 * unless --json; *risk_json gets it as JSON (new reference, may be NULL).
 */
EBB_MUSTCHECK ebb_code ebb_cli_db_risk_gate(ebb_cli_db *c, const ebb_path *path,
                                            json_t **risk_json, ebb_error *err);

/* Commands: each returns the exit code. */
int ebb_cli_db_cmd_status(ebb_cli_db *c);
int ebb_cli_db_cmd_history(ebb_cli_db *c);
int ebb_cli_db_cmd_verify(ebb_cli_db *c);
int ebb_cli_db_cmd_fingerprint(ebb_cli_db *c);
int ebb_cli_db_cmd_up(ebb_cli_db *c);
int ebb_cli_db_cmd_down(ebb_cli_db *c);
int ebb_cli_db_cmd_backup(ebb_cli_db *c);
int ebb_cli_db_cmd_backups(ebb_cli_db *c);
int ebb_cli_db_cmd_restore(ebb_cli_db *c);
int ebb_cli_db_cmd_rehearse(ebb_cli_db *c); /* cli_db_rehearse.c */
int ebb_cli_db_cmd_stamp(ebb_cli_db *c);    /* cli_db_stamp.c */
int ebb_cli_db_cmd_plan(ebb_cli_db *c);

/*
 * Alembic projects: the offline SQL of every step of path (or why there is
 * none), path->count entries, for previews and the risk gate; NULL for other
 * kinds. Free with ebb_cli_db_external_free. cli_db_external.c
 */
ebb_risk_external_sql *ebb_cli_db_external_sql(ebb_cli_db *c, const ebb_path *path);
void ebb_cli_db_external_free(ebb_risk_external_sql *ext, size_t n);

#endif
