/* The coordinator daemon's shared context, for its own files only (coordinator.c, agent_api.c,
 * opapi_server.c, opapi_runs.c, opapi_agents.c). */
#ifndef EBB_COORDINATOR_COORDINATOR_INTERNAL_H
#define EBB_COORDINATOR_COORDINATOR_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/envelope.h"
#include "common/journal.h"
#include "common/keyring.h"
#include "common/keys.h"
#include "common/proto_util.h"
#include "common/replay.h"
#include "common/wire.h"
#include "coordinator/coord_config.h"
#include "coordinator/coordinator.h"
#include "coordinator/inventory.h"
#include "coordinator/job_queue.h"
#include "coordinator/run_driver.h"
#include "ebb.pb-c.h"

#define COORD_TTL_MS 60000
#define COORD_SKEW_MS 30000
#define COORD_LOST_JOB_GRACE_MS 3000 /* a handed-out job the agent does not hold is re-sent */
#define COORD_BUSY_RETRIES 600       /* "database busy" answers before the job counts as failed */

/* A parked long poll of one agent. */
typedef struct coord_held {
    ebb_key_id key;
    ebb_wire_request *req;
    int64_t until_ms;
} coord_held;

/* A precheck result gathered for `plan` (keyed by job id). */
typedef struct coord_precheck {
    char *job_id;
    char *plan_id;
    char *host;
    char *db;
    json_t *result; /* NULL until it arrived */
} coord_precheck;

/* A reply to send once the lock is released. */
typedef struct coord_reply {
    ebb_wire_request *req;
    uint8_t *data;
    size_t len;
} coord_reply;

struct ebb_coordinator {
    const ebb_coord_config *cfg;
    ebb_secret_key *key;
    char key_id_hex[EBB_KEY_ID_HEX_SIZE];
    ebb_journal *journal;
    char journal_path[4096];
    ebb_replay *replay;        /* persistent: accepted agents and operators */
    ebb_replay *enroll_replay; /* in memory: hellos of keys not yet accepted */
    ebb_keyring *agent_ring;   /* accepted and revoked agent keys */
    ebb_keyring *op_ring;      /* operator keys from the configuration */
    ebb_sealer sealer;
    ebb_wire_server *agents_srv;
    ebb_wire_server *ops_srv;

    pthread_mutex_t mu; /* everything below */
    pthread_cond_t cond;
    ebb_inventory inv;
    ebb_job_queue queue;
    ebb_run_driver *driver;
    coord_held *held;
    size_t n_held, cap_held;
    coord_precheck *prechecks;
    size_t n_prechecks, cap_prechecks;
    int n_waiters; /* deferred operator replies in progress */
    bool stopping;
    bool failed; /* the journal could not be written: stop */
    ebb_error fail_err;
    uint64_t counters_rejected;

    pthread_t tick;
    bool tick_started;
};

/* Current Unix time in ms. */
int64_t coord_now_ms(void);

/* Seal body for `to` (malloc'd into *out). */
EBB_MUSTCHECK ebb_code coord_seal(ebb_coordinator *c, const ebb_key_id *to, uint32_t type,
                                  const ProtobufCMessage *body, uint8_t **out, size_t *len,
                                  ebb_error *err);

/* Seal and send now (outside the lock). Failures are logged. */
void coord_reply_body(ebb_coordinator *c, ebb_wire_request *req, const ebb_key_id *to,
                      uint32_t type, const ProtobufCMessage *body);
void coord_reply_error(ebb_coordinator *c, ebb_wire_request *req, const ebb_key_id *to,
                       ebb_code code, const char *msg);

/*
 * Answer parked polls that have work (and, with due, those whose time is
 * up). Takes the lock itself; call without it.
 */
void coord_flush_polls(ebb_coordinator *c, bool due);

/* A journal append failed: remember it (under the lock) so serve() stops. */
void coord_fail(ebb_coordinator *c, const ebb_error *err);

/* The wire handlers. */
void coord_agent_handler(void *ctx, ebb_wire_request *req, const uint8_t *data, size_t len);
void coord_operator_handler(void *ctx, ebb_wire_request *req, const uint8_t *data, size_t len);

/* ---- operator commands (under the lock) ---- */

/* What a command answers. */
typedef struct coord_answer {
    int status;
    char *message; /* malloc'd or NULL */
    json_t *json;  /* owned or NULL */
    bool deferred; /* the command answers later (it took over the request) */
} coord_answer;

/* Who asks. */
typedef struct coord_caller {
    const ebb_coord_operator *op;
    ebb_wire_request *req;
    char request_id[80];
} coord_caller;

/* Fill a with an error: status from the code, json {"error": {code, message}}. */
void coord_answer_error(coord_answer *a, ebb_code code, const char *msg);

/* True when the caller holds role in env (NULL: in any); else fills a with a refusal. */
bool coord_authorize(const coord_caller *who, unsigned role, const char *env, coord_answer *a);

void coord_op_agents(ebb_coordinator *c, const coord_caller *who, const Ebb__OperatorRequest *req,
                     coord_answer *a);
void coord_op_accept(ebb_coordinator *c, const coord_caller *who, const Ebb__OperatorRequest *req,
                     coord_answer *a);
void coord_op_revoke(ebb_coordinator *c, const coord_caller *who, const Ebb__OperatorRequest *req,
                     coord_answer *a);
void coord_op_status(ebb_coordinator *c, const coord_caller *who, const Ebb__OperatorRequest *req,
                     coord_answer *a);
void coord_op_whoami(ebb_coordinator *c, const coord_caller *who, const Ebb__OperatorRequest *req,
                     coord_answer *a);
void coord_op_audit(ebb_coordinator *c, const coord_caller *who, const Ebb__OperatorRequest *req,
                    coord_answer *a);
void coord_op_audit_verify(ebb_coordinator *c, const coord_caller *who,
                           const Ebb__OperatorRequest *req, coord_answer *a);

void coord_op_plan(ebb_coordinator *c, const coord_caller *who, const Ebb__OperatorRequest *req,
                   coord_answer *a);
void coord_op_start(ebb_coordinator *c, const coord_caller *who, const Ebb__OperatorRequest *req,
                    bool rollback, coord_answer *a);
void coord_op_control(ebb_coordinator *c, const coord_caller *who, const Ebb__OperatorRequest *req,
                      const char *command, coord_answer *a);
void coord_op_runs(ebb_coordinator *c, const coord_caller *who, const Ebb__OperatorRequest *req,
                   coord_answer *a);
void coord_op_show(ebb_coordinator *c, const coord_caller *who, const Ebb__OperatorRequest *req,
                   coord_answer *a);

/* A precheck result for `plan` arrived (under the lock): stored, true; false when not one. */
bool coord_precheck_result(ebb_coordinator *c, const Ebb__JobResult *r);

/* Send an OperatorResponse for who (outside the lock). Takes a's contents. */
void coord_send_answer(ebb_coordinator *c, const coord_caller *who, coord_answer *a);

/*
 * Run fn(c, arg) on a detached waiter thread that must end with
 * coord_send_answer; counted in n_waiters (under the lock) so close waits
 * for it. arg is freed by fn.
 */
EBB_MUSTCHECK ebb_code coord_spawn_waiter(ebb_coordinator *c, void *(*fn)(void *), void *arg,
                                          ebb_error *err);
void coord_waiter_done(ebb_coordinator *c);

#endif
