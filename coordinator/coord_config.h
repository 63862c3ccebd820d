/* The coordinator's configuration file: listeners, key, journal, environments with policy and
 * waves, operator keys with roles. */
#ifndef EBB_COORDINATOR_COORD_CONFIG_H
#define EBB_COORDINATOR_COORD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "common/config.h"
#include "common/error.h"
#include "common/keys.h"
#include "common/log.h"
#include "coordinator/plan.h"
#include "coordinator/policy.h"
#include "coordinator/rollout.h"

/*
 * The file is libconfig (docs/configuration.md, section "Coordinator";
 * example in deploy/examples/coordinator.conf):
 *
 *   coordinator = {
 *     key_file = "/etc/ebb/coordinator.key";      # Ed25519 secret key, mode 0600
 *     journal_dir = "/var/lib/ebb";               # coordinator.journal, replay.db
 *     listen = { agents = "tcp://0.0.0.0:7400"; operators = "tcp://127.0.0.1:7401"; };
 *     poll_wait_ms? = 10000;   # longest an idle agent poll is held
 *     liveness_s? = 60;        # an agent unheard of for longer is not alive
 *     plan_timeout_ms? = 60000;# longest `plan` waits for the prechecks
 *     contexts? = 64;          # requests in flight per listener
 *     max_message? = 4194304;  # bytes (NNG_OPT_RECVMAXSZ)
 *     log_level? = "info"; log_format? = "text";
 *   };
 *   environments = (               # in promotion order: dev, then staging, then prod
 *     { name = "dev";
 *       policy? = { approvals? = 0; forward_only? = false; rollback_window_s? = 0;
 *                   require_backup? = true; allow_data_loss? = false; promotion? = true; };
 *       waves? = { canary? = 0; batch? = 0; batch_percent? = 0; max_parallel? = 0;
 *                  budget? = 0; budget_percent? = -; soak_s? = 0;
 *                  gate? = "none" | "after_canary" | "every_wave";
 *                  on_failure? = "halt" | "compensate"; };
 *       timeouts? = { default_s? = 600; silent_s? = 120; health_retries? = 2;
 *                     precheck_s?, stop_services_s?, backup_s?, migrate_s?, verify_s?,
 *                     start_services_s?, health_s?, restore_s?, commit_prepared_s?,
 *                     rollback_prepared_s? }; },
 *     ... );
 *   operators = (
 *     { name = "alice"; public_key = "<base64>" | public_key_file = "alice.key.pub";
 *       grants = ( { env = "*"; roles = ["read"]; },
 *                  { env = "prod"; roles = ["read", "operate", "approve"]; } ); },
 *     ... );
 *
 * promotion (default true) makes the environment before it in the list its
 * promote_from: a rollout reaches it only after it was applied and verified
 * there. Relative paths (key_file, journal_dir, public_key_file) are taken
 * from the configuration file's directory. Every error is EBB_E_CONFIG
 * "FILE:LINE: key.path: what is wrong", an unknown key with "did you mean".
 */

#define EBB_COORD_DEFAULT_POLL_WAIT_MS 10000
#define EBB_COORD_DEFAULT_LIVENESS_S 60
#define EBB_COORD_DEFAULT_PLAN_TIMEOUT_MS 60000
#define EBB_COORD_DEFAULT_STEP_TIMEOUT_S 600
#define EBB_COORD_DEFAULT_SILENT_S 120
#define EBB_COORD_DEFAULT_HEALTH_RETRIES 2

/* Operator roles, a bit set. */
typedef enum ebb_role {
    EBB_ROLE_READ = 1u << 0,    /* agents, status, plan, runs, show, audit */
    EBB_ROLE_OPERATE = 1u << 1, /* rollout, rollback, halt, resume, abort, agents accept/revoke */
    EBB_ROLE_APPROVE = 1u << 2, /* approve */
} ebb_role;

/* "read", "operate", "approve"; "?" for anything else. */
const char *ebb_role_name(ebb_role role);

/* One environment (strings owned by the config). */
typedef struct ebb_coord_env {
    char *name;
    size_t order;               /* index in promotion order */
    ebb_env_policy policy;      /* policy.env = name; policy.promote_from = previous env or NULL */
    ebb_strategy strategy;      /* wave settings */
    ebb_rollout_config rollout; /* timeouts; approvals_needed is set per run from the policy */
} ebb_coord_env;

typedef struct ebb_coord_grant {
    char *env;      /* an environment name, or "*" for all */
    unsigned roles; /* ebb_role bits */
} ebb_coord_grant;

typedef struct ebb_coord_operator {
    char *name;
    ebb_public_key key;
    ebb_key_id key_id;
    char key_id_hex[EBB_KEY_ID_HEX_SIZE];
    ebb_coord_grant *grants;
    size_t n_grants;
} ebb_coord_operator;

typedef struct ebb_coord_config {
    char *path;        /* the file as given */
    char *key_file;    /* absolute or relative to the cwd (resolved against the file's dir) */
    char *journal_dir; /* ditto */
    char *listen_agents;
    char *listen_operators;
    long poll_wait_ms;
    long liveness_s;
    long plan_timeout_ms;
    int contexts;
    size_t max_message;
    ebb_log_level log_level;
    ebb_log_format log_format;
    ebb_coord_env *envs; /* promotion order */
    size_t n_envs;
    ebb_coord_operator *operators;
    size_t n_operators;
} ebb_coord_config;

/*
 * Load and check path: every key known, environment and operator names
 * unique and non-empty, every grant naming a known environment or "*",
 * addresses that nng can parse (tcp:// or ipc://), the two listeners
 * different, operator keys readable and distinct. *out set only on success;
 * caller frees with ebb_coord_config_free.
 */
EBB_MUSTCHECK ebb_code ebb_coord_config_load(const char *path, ebb_coord_config **out,
                                             ebb_error *err);
void ebb_coord_config_free(ebb_coord_config *cfg);

/* The environment named name (borrowed), or NULL. */
const ebb_coord_env *ebb_coord_config_env(const ebb_coord_config *cfg, const char *name);

/* The operator with this key id (borrowed), or NULL. */
const ebb_coord_operator *ebb_coord_config_operator(const ebb_coord_config *cfg,
                                                    const ebb_key_id *id);

/*
 * The roles op holds in env (the union of grants for env and "*"). env NULL
 * means "in any environment" (the union of all grants), which is what
 * commands that are not tied to one environment (agents, runs, audit) check.
 */
unsigned ebb_coord_operator_roles(const ebb_coord_operator *op, const char *env);

/* Path of a file in journal_dir into buf ("journal_dir/name"); false when it does not fit. */
bool ebb_coord_config_state_path(const ebb_coord_config *cfg, const char *name, char *buf,
                                 size_t size);

#define EBB_COORD_JOURNAL_FILE "coordinator.journal"
#define EBB_COORD_REPLAY_FILE "replay.db"

#endif
