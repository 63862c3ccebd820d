/* The planner: fleet state, a target, a selection and a strategy in; a plan of waves and per-host
 * steps out. Pure code. */
#ifndef EBB_COORDINATOR_PLAN_H
#define EBB_COORDINATOR_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/graph.h"
#include "agent/migration.h"
#include "common/error.h"

/*
 * Everything here is plain C structs: the coordinator converts what agents
 * report (protobuf) into these at the wire boundary. Input structs borrow
 * their strings from the caller; the plan owns every string it holds.
 */

/* ---- fleet state (input) ---- */

/* One revision of a host's migration graph, as its agent reports it. */
typedef struct ebb_fleet_rev {
    const char *id;
    const char *const *parents; /* parent ids; each must come earlier in the list */
    size_t n_parents;
    bool has_down;       /* a down script exists, so the revision can be reverted */
    bool no_transaction; /* its up script must run outside a transaction */
    bool up_data_loss;   /* the up script can lose data (risk high: DROP, DELETE, ...) */
    bool down_data_loss; /* the down script can lose data */
    bool down_no_transaction; /* its down script must run outside a transaction */
} ebb_fleet_rev;

/* A named tag (Sqitch @tag) pointing at a revision. */
typedef struct ebb_fleet_tag {
    const char *name; /* without the '@' */
    const char *revision;
} ebb_fleet_tag;

/* One database on a host. */
typedef struct ebb_fleet_db {
    const char *name;
    const char *graph_hash;    /* ebb_graph.hash as the agent computed it */
    const ebb_fleet_rev *revs; /* topological order (parents first) */
    size_t n_revs;
    const ebb_fleet_tag *tags;
    size_t n_tags;
    const char *const *applied; /* applied revision ids from the registry */
    size_t n_applied;
    bool revision_known; /* false: the agent could not read the registry */
    bool drift;          /* the live schema differs from what the registry says */
} ebb_fleet_db;

typedef struct ebb_fleet_host {
    const char *name;    /* agent id */
    const char *env;     /* the coordinator's inventory record, not the agent's claim */
    long long last_seen; /* unix seconds of the last heartbeat */
    bool canary;         /* preferred for the canary wave */
    const ebb_fleet_db *dbs;
    size_t n_dbs;
} ebb_fleet_host;

typedef struct ebb_fleet {
    const ebb_fleet_host *hosts;
    size_t n_hosts;
    long liveness_s; /* a host unheard of for longer is not alive */
} ebb_fleet;

/* ---- request (input) ---- */

typedef enum ebb_run_kind {
    EBB_RUN_ROLLOUT = 0,
    EBB_RUN_ROLLBACK,
} ebb_run_kind;

typedef enum ebb_gate_mode {
    EBB_GATE_NONE = 0,
    EBB_GATE_AFTER_CANARY, /* approval before the first wave after the canary */
    EBB_GATE_EVERY_WAVE,   /* approval before every wave but the first */
} ebb_gate_mode;

typedef enum ebb_on_failure {
    EBB_ON_FAILURE_HALT = 0,
    EBB_ON_FAILURE_COMPENSATE,
} ebb_on_failure;

typedef struct ebb_selection {
    const char *env;          /* NULL: the one environment of the named hosts */
    const char *const *hosts; /* empty: every host of env */
    size_t n_hosts;
    const char *const *dbs; /* empty: every database of each host */
    size_t n_dbs;
} ebb_selection;

typedef struct ebb_strategy {
    size_t canary;          /* units in the first wave; 0: no canary wave */
    size_t batch_count;     /* units per later wave; 0: use batch_percent */
    unsigned batch_percent; /* of all units, rounded up; 0 (with batch_count 0): one batch */
    size_t max_parallel;    /* units running at once within a wave; 0: no cap */
    bool budget_is_percent;
    size_t budget_count;     /* host failures tolerated across the run */
    unsigned budget_percent; /* of all units, rounded down */
    long soak_s;             /* wait between waves */
    ebb_gate_mode gate;
    ebb_on_failure on_failure;
} ebb_strategy;

typedef struct ebb_plan_input {
    ebb_run_kind kind;
    const char *target; /* revision id, "@tag", "head", "base", "+N", "-N"; NULL with steps */
    long steps;         /* rollback --steps N (N > 0) instead of a target; else 0 */
    const ebb_fleet *fleet;
    ebb_selection selection;
    ebb_strategy strategy;
    const char *requester; /* operator key id */
    const char *reason;    /* required for a rollback */
    bool atomic;
    bool dry_run;
    bool allow_drift;
    bool skip_dead;        /* leave hosts that are not alive out instead of refusing */
    bool skip_backup;      /* no backup step (policy require_backup refuses it) */
    bool accept_data_loss; /* the operator accepts a path with data at risk */
    long long now;         /* unix seconds */
} ebb_plan_input;

/* ---- plan (output) ---- */

/* Jobs an agent runs; the first seven are the steps of a plan. */
typedef enum ebb_job_kind {
    EBB_JOB_PRECHECK = 0,
    EBB_JOB_STOP_SERVICES,
    EBB_JOB_BACKUP,
    EBB_JOB_MIGRATE,
    EBB_JOB_VERIFY,
    EBB_JOB_START_SERVICES,
    EBB_JOB_HEALTH,
    EBB_JOB_RESTORE,
    EBB_JOB_COMMIT_PREPARED,
    EBB_JOB_ROLLBACK_PREPARED,
    EBB_JOB__COUNT
} ebb_job_kind;

#define EBB_PLAN_MAX_STEPS 7

/* "precheck", "stop_services", ... Never NULL. */
const char *ebb_job_kind_name(ebb_job_kind kind);
const char *ebb_run_kind_name(ebb_run_kind kind);
const char *ebb_gate_mode_name(ebb_gate_mode mode);
const char *ebb_on_failure_name(ebb_on_failure mode);

/* One unit of a plan: one database on one host. Owns its strings. */
typedef struct ebb_plan_host {
    char *host;
    char *db;
    char *graph_hash;
    char *from; /* heads of the applied set before ("base" when empty, "a+b" for several) */
    char *to;   /* heads after the path */
    ebb_direction direction;
    char **path; /* revision ids in execution order */
    size_t n_path;
    ebb_job_kind steps[EBB_PLAN_MAX_STEPS];
    size_t n_steps;
    bool data_at_risk; /* a script on the path can lose data */
    bool reversible;   /* the path back can run as a migration without losing data */
    bool drift;        /* drifted, planned because allow_drift */
    size_t wave;       /* index into ebb_plan.waves */
} ebb_plan_host;

/* A unit left out of the waves, with the reason ("already at 0042", "not alive"). */
typedef struct ebb_plan_skip {
    char *host;
    char *db; /* NULL when the whole host is skipped */
    char *reason;
} ebb_plan_skip;

/* Units hosts[first .. first + count) of the plan. */
typedef struct ebb_plan_wave {
    size_t first;
    size_t count;
    bool canary;
    bool gate; /* needs an approval before it starts */
} ebb_plan_wave;

typedef struct ebb_plan {
    ebb_run_kind kind;
    char *target;     /* as requested ("0042", "@v2", "-2") */
    char *target_rev; /* the revision every unit ends at; NULL when they differ */
    char *env;
    char *requester;
    char *reason;     /* "" when none */
    char *graph_hash; /* shared by every unit; NULL when waves differ */
    bool atomic;
    bool dry_run;
    bool allow_drift;
    bool skip_backup;
    bool accept_data_loss;
    bool data_at_risk; /* some unit's path can lose data */
    ebb_strategy strategy;
    size_t budget; /* host failures tolerated across the run */
    long long created_at;
    ebb_plan_host *hosts; /* in wave order */
    size_t n_hosts;
    ebb_plan_wave *waves;
    size_t n_waves;
    ebb_plan_skip *skipped;
    size_t n_skipped;
} ebb_plan;

/*
 * Build the plan for in. A request the planner must not carry out is
 * EBB_E_REFUSED with every problem found named in err (host/db and why): no
 * hosts selected, unknown host or environment, a host not alive (unless
 * skip_dead, which lists it in skipped), a selected database missing on a
 * host, a revision unknown, drift (unless allow_drift), a target not in a
 * host's graph, a rollout that would go down or a rollback that would go up,
 * a revert without a down script, a no-transaction step in an atomic run,
 * and hosts of one wave with different graph hashes. Bad arguments (no
 * target, no reason for a rollback) are EBB_E_INVALID. *out is set only on
 * success and owned by the caller (ebb_plan_fini).
 */
EBB_MUSTCHECK ebb_code ebb_plan_build(const ebb_plan_input *in, ebb_plan *out, ebb_error *err);

/* Free everything a plan owns and zero it. Safe on a zeroed plan. */
void ebb_plan_fini(ebb_plan *plan);

#define EBB_PLAN_HASH_HEX 65

/*
 * BLAKE2b-256 (lower-case hex into out, EBB_PLAN_HASH_HEX bytes) of the
 * plan's canonical JSON (ebb_plan_render_json, compact, keys sorted): the
 * hash the audit records with the run request.
 */
EBB_MUSTCHECK ebb_code ebb_plan_hash(const ebb_plan *plan, char out[EBB_PLAN_HASH_HEX],
                                     ebb_error *err);

/*
 * A script-less revision graph from a host's reported revision list (ids and
 * parents), with graph->hash set to reported_hash (may be NULL). The same
 * path code as the agent's then runs on it. *out is set only on success;
 * free it with ebb_graph_fini.
 */
EBB_MUSTCHECK ebb_code ebb_plan_graph_from_revs(const ebb_fleet_rev *revs, size_t n_revs,
                                                const char *reported_hash, ebb_graph *out,
                                                ebb_error *err);

#endif
