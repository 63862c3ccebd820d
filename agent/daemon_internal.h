/* Internal to agent/daemon*.c: the daemon's state shared by the session, the workers and the status
 * file. */
#ifndef EBB_AGENT_DAEMON_INTERNAL_H
#define EBB_AGENT_DAEMON_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent/daemon.h"
#include "agent/job.h"
#include "common/keyring.h"
#include "common/keys.h"
#include "common/proto_util.h"
#include "common/replay.h"
#include "common/wire.h"

#define DAEMON_MAX_QUEUE 64 /* commands waiting per worker */

/* A job handed to a worker: the command (owned copy) and nothing else. */
typedef struct daemon_job {
    ebb_job_cmd *cmd;
    struct daemon_job *next;
} daemon_job;

/* One worker thread and its FIFO: jobs of one database run one at a time, in order. */
typedef struct daemon_lane {
    struct ebb_daemon *d;
    pthread_t thread;
    bool started;
    daemon_job *head, *tail;
    size_t queued;
    char *running_job; /* id of the job executing now (owned), NULL when idle */
    char *running_run;
} daemon_lane;

/* A result waiting for the coordinator's Ack (owned). */
typedef struct daemon_outbox_item {
    ebb_job_result res;
    struct daemon_outbox_item *next;
} daemon_outbox_item;

/* Latest progress of a running job, sent once per change (owned strings). */
typedef struct daemon_progress {
    char *job_id, *run_id, *step, *message;
    uint32_t done, total;
    uint64_t bytes;
    int64_t at_ms;
    bool dirty;
    struct daemon_progress *next;
} daemon_progress;

typedef enum daemon_state {
    DAEMON_CONNECTING = 0, /* no hello answered since the last failure */
    DAEMON_PENDING,        /* coordinator knows the key, no operator accepted it yet */
    DAEMON_ACCEPTED,
    DAEMON_REVOKED,
} daemon_state;

/* Counters for logs and the status file (guarded by the daemon's mutex). */
typedef struct daemon_counters {
    long hellos, polls, calls_failed, coordinator_errors;
    long jobs_received, jobs_duplicate, jobs_invalid, jobs_resent_from_journal;
    long results_delivered, progress_sent, progress_failed;
    long rejected[EBB_E__COUNT]; /* coordinator messages refused, by envelope code */
    long rejected_body;          /* well-signed but not the expected body */
    long rejected_total;
} daemon_counters;

typedef struct ebb_daemon {
    const ebb_agent_config *cfg;
    const ebb_daemon_opts *opts;
    ebb_secret_key *key;
    char key_hex[EBB_KEY_ID_HEX_SIZE];
    ebb_key_id coord_id;
    char coord_hex[EBB_KEY_ID_HEX_SIZE];
    ebb_keyring *ring; /* the pinned coordinator key only */
    ebb_replay *replay;
    ebb_sealer sealer;
    ebb_wire_client *wire;
    ebb_job_executor *ex;
    char *undelivered_path; /* "<job_journal>.undelivered" */

    pthread_mutex_t mutex; /* everything below */
    pthread_cond_t cond;   /* workers -> session: a result or progress is ready; and back: stop */
    daemon_lane *lanes;    /* [0]: cancel and unknown databases; [1 + i]: cfg->dbs[i] */
    size_t n_lanes;
    bool workers_stop;
    daemon_outbox_item *outbox;
    size_t n_outbox;
    daemon_progress *progress;
    daemon_state state;
    bool inventory_stale; /* a delivered result changed a database: hello again (session only) */
    bool connected;
    int64_t last_contact_ms;
    daemon_counters n;
    unsigned long changes; /* bumped on every counter change (status file rewrite) */
} ebb_daemon;

/* ---- agent/daemon_work.c ---- */

/* Start one worker per lane. */
EBB_MUSTCHECK ebb_code daemon_workers_start(ebb_daemon *d, ebb_error *err);
/* Stop: queued jobs are dropped (never journaled: the coordinator sends them again); running ones
 * are waited for. */
void daemon_workers_join(ebb_daemon *d);
/* Queue cmd (taken) on its lane. Under mutex. EBB_E_CONFLICT when the lane is full. */
EBB_MUSTCHECK ebb_code daemon_dispatch(ebb_daemon *d, ebb_job_cmd *cmd, ebb_error *err);
/* True when the job id is queued, running or waiting for delivery. Under mutex. */
bool daemon_job_known(const ebb_daemon *d, const char *job_id);
/* Jobs running / queued now (counts). Under mutex. */
size_t daemon_running_count(const ebb_daemon *d);
size_t daemon_queued_count(const ebb_daemon *d);

/* Add a result to the outbox (copied) and persist the undelivered list. Under mutex. */
void daemon_outbox_add(ebb_daemon *d, const ebb_job_result *res);
/* Drop a delivered result and persist the list. Under mutex. */
void daemon_outbox_remove(ebb_daemon *d, const char *job_id);
/* Rewrite the undelivered list from the outbox. Under mutex; failures are logged. */
void daemon_outbox_persist(ebb_daemon *d);
/*
 * At start-up, before the executor opens the journal: results listed in
 * the undelivered file are read back from the journal into the outbox.
 */
EBB_MUSTCHECK ebb_code daemon_outbox_recover(ebb_daemon *d, ebb_error *err);
void daemon_outbox_free(ebb_daemon *d);

/* ---- agent/daemon_status.c ---- */

/* Rewrite the status file when something changed since the last write. Under mutex. */
void daemon_status_write(ebb_daemon *d, unsigned long *written);
/* One log line with the counters (at exit). Under mutex. */
void daemon_status_log(ebb_daemon *d);
const char *daemon_state_name(daemon_state s);

#endif
