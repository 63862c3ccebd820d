/* The coordinator's inventory: enrolled agents (pending, accepted, revoked), their environment, the
 * databases they report, liveness; and the fleet state the planner reads. */
#ifndef EBB_COORDINATOR_INVENTORY_H
#define EBB_COORDINATOR_INVENTORY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/journal.h"
#include "common/keys.h"
#include "coordinator/plan.h"

/*
 * Plain data, no locking and no I/O: the daemon holds its lock around every
 * call and writes the journal records these functions build. Strings in
 * the structs below are owned by the inventory; pointers handed out are
 * valid until the next call that changes the inventory.
 *
 * Persistence: accept and revoke are journal records (types below); the
 * daemon replays them at start (ebb_inventory_apply_record), so a restart
 * keeps who is accepted, in which environment, and who is revoked. Pending
 * agents and reported databases are not persisted: agents say hello again
 * (a poll from an agent not heard from since the start is answered
 * resend_hello).
 */

#define EBB_INV_ACCEPTED "inventory.accepted"
#define EBB_INV_REVOKED "inventory.revoked"

typedef enum ebb_agent_state {
    EBB_AGENT_PENDING = 0, /* said hello, waits for an operator: nothing it sends is acted on */
    EBB_AGENT_ACCEPTED,
    EBB_AGENT_REVOKED, /* refused from now on */
} ebb_agent_state;

/* "pending", "accepted", "revoked". */
const char *ebb_agent_state_name(ebb_agent_state state);

/* One revision of a database's graph (from the agent's hello). */
typedef struct ebb_inv_rev {
    char *id;
    char **parents;
    size_t n_parents;
    bool no_transaction;      /* the up script */
    bool down_no_transaction; /* the down script */
    bool has_down;
    bool up_data_loss;   /* the up script classified high or unknown (see ebb_inv_risk_loses_data) */
    bool down_data_loss; /* the down script likewise */
} ebb_inv_rev;

typedef struct ebb_inv_db {
    char *name;
    char *kind;
    char **current; /* current revisions (heads of the applied set) */
    size_t n_current;
    char *graph_hash;
    char *fingerprint;
    bool drift;
    char *claimed_env; /* what the agent says; never used for decisions */
    char *error;       /* why the rest is missing */
    /* The migration graph from the hello (NULL / 0 when the agent sent none). */
    ebb_inv_rev *revs; /* topological order */
    size_t n_revs;
    char **applied;
    size_t n_applied;
} ebb_inv_db;

typedef struct ebb_inv_agent {
    char *id;
    ebb_public_key key;
    ebb_key_id key_id;
    char key_id_hex[EBB_KEY_ID_HEX_SIZE];
    ebb_agent_state state;
    char *env; /* the coordinator's record (accepted agents); NULL otherwise */
    char *software_version;
    uint32_t protocol_version;
    int64_t first_seen_ms;
    int64_t last_hello_ms; /* 0: no hello since this coordinator started */
    int64_t last_seen_ms;  /* latest hello or poll */
    ebb_inv_db *dbs;
    size_t n_dbs;
} ebb_inv_agent;

typedef struct ebb_inventory {
    ebb_inv_agent *agents;
    size_t n_agents, cap;
} ebb_inventory;

/* What an AgentHello says, converted at the wire boundary (all borrowed for the call). */
typedef struct ebb_inv_rev_report {
    const char *id;
    const char *const *parents;
    size_t n_parents;
    bool applied;
    bool no_transaction;
    bool down_no_transaction;
    bool has_down_known; /* false: an older agent that does not say (a down script assumed) */
    bool has_down;
    const char *up_risk;   /* worst level of the up script's statements, or NULL: not classified */
    const char *down_risk; /* likewise for the down script */
} ebb_inv_rev_report;

/*
 * Whether a script classified at level (agent/risk.h names: "low", "medium", "high",
 * "unknown") can lose data: high (DROP TABLE / COLUMN / SCHEMA, DELETE, UPDATE, TRUNCATE).
 * Decision: unknown (a function call, a DO block) is not counted: such statements are common
 * (SELECT setval(...)), nothing at planning time can tell what they do, and a fleet run has no
 * "accept unknown" flag; `ebb plan`'s prechecks list them. NULL (not classified) is false.
 */
bool ebb_inv_risk_loses_data(const char *level);

typedef struct ebb_inv_db_report {
    const char *name;
    const char *kind;
    const char *const *current;
    size_t n_current;
    const char *graph_hash;
    const char *fingerprint;
    bool drift;
    const char *environment;
    const char *error;
    const ebb_inv_rev_report *revs; /* the graph, parents first */
    size_t n_revs;
} ebb_inv_db_report;

typedef struct ebb_inv_hello {
    const char *agent_id;
    const ebb_public_key *key; /* already checked to be the envelope's signer */
    const char *software_version;
    uint32_t protocol_version;
    const ebb_inv_db_report *dbs;
    size_t n_dbs;
} ebb_inv_hello;

void ebb_inventory_init(ebb_inventory *inv);
void ebb_inventory_fini(ebb_inventory *inv);

/* Lookups (borrowed; NULL when absent). */
ebb_inv_agent *ebb_inventory_find(ebb_inventory *inv, const char *agent_id);
ebb_inv_agent *ebb_inventory_find_key(ebb_inventory *inv, const ebb_key_id *key_id);
ebb_inv_db *ebb_inv_agent_db(ebb_inv_agent *agent, const char *name);

/*
 * Record a hello at now_ms. An unknown agent becomes pending. A known one
 * gets its databases replaced
 * and last_hello / last_seen set. A revoked agent stays revoked (its record
 * is returned; the caller refuses it). EBB_E_CONFLICT when the agent id is
 * enrolled with another key or the key is enrolled under another id (the
 * hello changes nothing then). *agent_out (may be NULL) is the record.
 */
EBB_MUSTCHECK ebb_code ebb_inventory_hello(ebb_inventory *inv, const ebb_inv_hello *hello,
                                           int64_t now_ms, ebb_inv_agent **agent_out,
                                           ebb_error *err);

/* What a job result says one database holds now (borrowed for the call). */
typedef struct ebb_inv_db_state {
    const char *const *current; /* the current revisions (heads); none: at base */
    size_t n_current;
    const char *fingerprint; /* required: a result without it did not read the state */
    bool has_drift;          /* drift below is reported (else the drift flag is kept) */
    bool drift;
} ebb_inv_db_state;

/*
 * A job result's view of database db of agent (after migrate, restore,
 * verify, commit / rollback prepared, inspect, ...): its current
 * revisions, the applied set (those and every ancestor in the graph the
 * agent reported), fingerprint and drift replace what the last hello said,
 * so `status` and the planner see the state a run left. Kept in memory like
 * the rest of the reported databases: after a coordinator restart the
 * agent's hello (a fresh inspection) gives it again. EBB_E_NOT_FOUND when
 * the agent has no such database, EBB_E_INVALID when fingerprint is missing
 * or a current revision is not in the reported graph (then nothing changes:
 * the agent's next hello brings the new graph).
 */
EBB_MUSTCHECK ebb_code ebb_inventory_db_state(ebb_inv_agent *agent, const char *db,
                                              const ebb_inv_db_state *st, ebb_error *err);

/* A poll from key_id at now_ms: last_seen. The agent, or NULL when the key is unknown. */
ebb_inv_agent *ebb_inventory_seen(ebb_inventory *inv, const ebb_key_id *key_id, int64_t now_ms);

/*
 * accept ID --env ENV: pending or accepted (moves it) -> accepted in env.
 * EBB_E_NOT_FOUND for an unknown id, EBB_E_CONFLICT for a revoked one.
 */
EBB_MUSTCHECK ebb_code ebb_inventory_accept(ebb_inventory *inv, const char *agent_id,
                                            const char *env, ebb_error *err);

/* revoke ID: any state -> revoked. EBB_E_NOT_FOUND for an unknown id. */
EBB_MUSTCHECK ebb_code ebb_inventory_revoke(ebb_inventory *inv, const char *agent_id,
                                            ebb_error *err);

/*
 * The journal payload for an accept or revoke of agent (new reference,
 * caller decrefs; NULL when out of memory): {agent_id, key_id, public_key
 * (base64), environment, operator_key_id}.
 */
json_t *ebb_inventory_record_json(const ebb_inv_agent *agent, const char *operator_key_id);

/*
 * Replay one journal record (other types are ignored): an accepted or
 * revoked agent is (re)created with its key and environment.
 * EBB_E_INVALID names a malformed record by seq.
 */
EBB_MUSTCHECK ebb_code ebb_inventory_apply_record(ebb_inventory *inv, const ebb_journal_record *rec,
                                                  ebb_error *err);

/* True when the agent reported the database's graph (its revisions). */
bool ebb_inv_db_graph_known(const ebb_inv_db *db);

/*
 * The planner's view of the accepted agents (all environments), borrowing
 * strings from inv: valid until inv changes. Per revision: has_down, the
 * transaction modes and the data-loss flags as the agent classified its
 * scripts (an older agent that does not report them gives "down script
 * exists, no data loss"; the precheck and the migrate job's own risk gate
 * still probe the live data).
 */
typedef struct ebb_inv_fleet {
    ebb_fleet fleet;
    /* storage behind fleet (owned) */
    ebb_fleet_host *hosts;
    ebb_fleet_db *dbs;
    ebb_fleet_rev *revs;
} ebb_inv_fleet;

EBB_MUSTCHECK ebb_code ebb_inventory_fleet(const ebb_inventory *inv, long liveness_s,
                                           ebb_inv_fleet *out, ebb_error *err);
void ebb_inv_fleet_fini(ebb_inv_fleet *f);

/*
 * One agent as JSON (new reference; NULL when out of memory), the shape of
 * `agents` and `status` (docs/operator-api.md): {id, key_id, state,
 * environment, software_version, first_seen_ms, last_seen_ms, alive,
 * databases: [{name, kind, current, graph_hash, fingerprint, drift,
 * claimed_environment, error, graph_known}]}.
 */
json_t *ebb_inv_agent_json(const ebb_inv_agent *agent, int64_t now_ms, long liveness_s);

#endif
