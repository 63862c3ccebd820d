/* The agent daemon's session: enroll, long-poll, hand jobs to workers, deliver results, back off.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "agent/daemon_internal.h"
#include "agent/source.h"
#include "common/log.h"

#define ENVELOPE_TTL_MS 60000
#define MAX_SKEW_MS 30000
#define MAX_ENVELOPE (4u * 1024 * 1024)
#define PENDING_LOG_EVERY_MS 60000

static bool stopping(const ebb_daemon *d)
{
    return d->opts->stop != NULL && *d->opts->stop != 0;
}

static bool stopping_now(const ebb_daemon *d)
{
    return d->opts->stop != NULL && *d->opts->stop >= 2;
}

/* Sleep up to ms, in slices, returning early when a stop is asked for. */
static void nap(ebb_daemon *d, int ms, bool wake_on_stop)
{
    while (ms > 0 && !(wake_on_stop && stopping(d))) {
        int slice = ms < 100 ? ms : 100;
        nanosleep(&(struct timespec){slice / 1000, (long)(slice % 1000) * 1000000L}, NULL);
        ms -= slice;
    }
}

static void note_change(ebb_daemon *d)
{
    d->changes++;
}

static void set_state(ebb_daemon *d, daemon_state s)
{
    pthread_mutex_lock(&d->mutex);
    if (d->state != s) {
        d->state = s;
        note_change(d);
    }
    pthread_mutex_unlock(&d->mutex);
}

/*
 * Send a sealed request and open the reply with every envelope check
 * against the pinned coordinator key. An Error body or a body of another
 * type than expect is a failure; a reply that does not open is a rejection
 * (logged, counted, nothing acts on it). *reply (caller frees with
 * protobuf_c_message_free_unpacked) set only on success.
 */
static ebb_code exchange(ebb_daemon *d, const uint8_t *req, size_t req_len, uint32_t expect,
                         int timeout_ms, ProtobufCMessage **reply, ebb_error *err)
{
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    ebb_code rc = ebb_wire_client_call(d->wire, req, req_len, timeout_ms, &raw, &raw_len, err);
    if (rc != EBB_OK) {
        pthread_mutex_lock(&d->mutex);
        d->n.calls_failed++;
        d->connected = false;
        note_change(d);
        pthread_mutex_unlock(&d->mutex);
        return rc;
    }
    ebb_open_ctx oc = {
        .max_size = MAX_ENVELOPE,
        .self_id = ebb_secret_key_id(d->key),
        .lookup = ebb_keyring_lookup_fn,
        .lookup_ctx = d->ring,
        .replay = d->replay,
        .now_ms = ebb_proto_now_ms(),
        .max_skew_ms = MAX_SKEW_MS,
        .version = EBB_PROTOCOL_VERSION,
    };
    ebb_opened m;
    rc = ebb_envelope_open(&oc, raw, raw_len, &m, err);
    free(raw);
    if (rc != EBB_OK) {
        pthread_mutex_lock(&d->mutex);
        if ((int)rc >= 0 && rc < EBB_E__COUNT)
            d->n.rejected[rc]++;
        d->n.rejected_total++;
        note_change(d);
        pthread_mutex_unlock(&d->mutex);
        ebb_log_kv(EBB_LOG_WARN, "agent", (const char *const[]){"reason", ebb_code_name(rc), NULL},
                   "rejected a message from the coordinator side, nothing in it is acted on: %s",
                   err != NULL ? err->msg : "");
        return rc;
    }
    pthread_mutex_lock(&d->mutex);
    d->connected = true;
    d->last_contact_ms = ebb_proto_now_ms();
    pthread_mutex_unlock(&d->mutex);
    ProtobufCMessage *body = NULL;
    if (m.body_type == EBB__BODY_TYPE__BODY_ERROR) {
        Ebb__Error *e = ebb__error__unpack(NULL, m.body_len, m.body);
        rc = ebb_error_set(err, EBB_E_REFUSED, "the coordinator refused our request: %s: %s",
                           e != NULL ? e->code : "?",
                           e != NULL && e->message != NULL ? e->message : "");
        if (e != NULL)
            ebb__error__free_unpacked(e, NULL);
        pthread_mutex_lock(&d->mutex);
        d->n.coordinator_errors++;
        note_change(d);
        pthread_mutex_unlock(&d->mutex);
    } else if (m.body_type != expect ||
               ebb_proto_unpack(ebb_proto_body_descriptor(expect), m.body, m.body_len,
                                "coordinator reply", &body, err) != EBB_OK) {
        if (m.body_type != expect)
            ebb_error_set(err, EBB_E_ENV_MALFORMED,
                          "coordinator reply has body type %u, expected %u", m.body_type, expect);
        rc = err != NULL ? err->code : EBB_E_ENV_MALFORMED;
        pthread_mutex_lock(&d->mutex);
        d->n.rejected_body++;
        d->n.rejected_total++;
        note_change(d);
        pthread_mutex_unlock(&d->mutex);
        ebb_log(EBB_LOG_WARN, "agent", "rejected a reply from the coordinator: %s",
                err != NULL ? err->msg : "");
    } else {
        *reply = body;
    }
    ebb_opened_fini(&m);
    return rc;
}

/* Seal body for the coordinator, then exchange. */
static ebb_code call(ebb_daemon *d, uint32_t type, const ProtobufCMessage *body, uint32_t expect,
                     int timeout_ms, ProtobufCMessage **reply, ebb_error *err)
{
    uint8_t *req = NULL;
    size_t len = 0;
    ebb_code rc = ebb_sealer_seal(&d->sealer, &d->coord_id, type, body, &req, &len, err);
    if (rc != EBB_OK)
        return rc;
    rc = exchange(d, req, len, expect, timeout_ms, reply, err);
    free(req);
    return rc;
}

/* ---- enrollment ---- */

static ebb_code send_hello(ebb_daemon *d, uint32_t *poll_timeout_ms, ebb_error *err)
{
    ebb_job_db_info *infos = NULL;
    size_t n_infos = 0;
    ebb_error e;
    if (ebb_job_executor_describe(d->ex, &infos, &n_infos, &e) != EBB_OK) {
        ebb_log(EBB_LOG_WARN, "agent", "database inventory unavailable: %s", e.msg);
        infos = NULL;
        n_infos = 0;
    }
    size_t n_intr = 0;
    const ebb_job_result *intr = ebb_job_executor_interrupted(d->ex, &n_intr);

    /* The graphs: read from each database's source directory (files only, no database). */
    ebb_graph *graphs = calloc(n_infos + 1, sizeof *graphs);
    ebb_daemon_graph_view *views = calloc(n_infos + 1, sizeof *views);
    Ebb__DatabaseInfo *dbs = calloc(n_infos + 1, sizeof *dbs);
    Ebb__DatabaseInfo **dbp = calloc(n_infos + 1, sizeof *dbp);
    Ebb__JobResult *res = calloc(n_intr + 1, sizeof *res);
    Ebb__JobResult **resp = calloc(n_intr + 1, sizeof *resp);
    ebb_code rc;
    if (graphs == NULL || views == NULL || dbs == NULL || dbp == NULL || res == NULL ||
        resp == NULL) {
        rc = ebb_error_set(err, EBB_E_NOMEM, "hello: out of memory");
        goto out;
    }
    for (size_t i = 0; i < n_infos; i++) {
        ebb_daemon_db_info_to_proto(&infos[i], &dbs[i]);
        dbp[i] = &dbs[i];
        const ebb_agent_db *db = ebb_agent_config_find_db(d->cfg, infos[i].name);
        if (db == NULL ||
            ebb_source_load(db->source_dir, db->source_kind, &graphs[i], &e) != EBB_OK ||
            ebb_daemon_graph_view_init(&views[i], &graphs[i], infos[i].current, infos[i].n_current,
                                       &e) != EBB_OK) {
            if (db != NULL)
                ebb_log(EBB_LOG_WARN, "agent", "database %s: revision graph not sent: %s",
                        infos[i].name, e.msg);
            continue;
        }
        dbs[i].revisions = views[i].ptrs;
        dbs[i].n_revisions = views[i].count;
    }
    for (size_t i = 0; i < n_intr; i++) {
        ebb_daemon_result_to_proto(&intr[i], d->cfg->agent_id, &res[i]);
        resp[i] = &res[i];
    }
    Ebb__AgentHello h = EBB__AGENT_HELLO__INIT;
    h.agent_id = (char *)d->cfg->agent_id;
    h.public_key.data = (uint8_t *)ebb_secret_key_public(d->key)->bytes;
    h.public_key.len = EBB_PUBLIC_KEY_LEN;
    h.software_version = EBB_VERSION;
    h.protocol_version = EBB_PROTOCOL_VERSION;
    h.databases = dbp;
    h.n_databases = n_infos;
    h.interrupted_jobs = resp;
    h.n_interrupted_jobs = n_intr;

    ProtobufCMessage *reply = NULL;
    pthread_mutex_lock(&d->mutex);
    d->n.hellos++;
    pthread_mutex_unlock(&d->mutex);
    rc = call(d, EBB__BODY_TYPE__BODY_AGENT_HELLO, &h.base, EBB__BODY_TYPE__BODY_AGENT_HELLO_REPLY,
              d->cfg->request_timeout_ms, &reply, err);
    if (rc == EBB_OK) {
        const Ebb__AgentHelloReply *r = (const Ebb__AgentHelloReply *)reply;
        daemon_state s = r->state == EBB__ENROLLMENT_STATE__ENROLL_ACCEPTED  ? DAEMON_ACCEPTED
                         : r->state == EBB__ENROLLMENT_STATE__ENROLL_REVOKED ? DAEMON_REVOKED
                                                                             : DAEMON_PENDING;
        if (r->has_poll_timeout_ms && r->poll_timeout_ms > 0)
            *poll_timeout_ms = r->poll_timeout_ms;
        set_state(d, s);
        protobuf_c_message_free_unpacked(reply, NULL);
    }
out:
    for (size_t i = 0; graphs != NULL && views != NULL && i < n_infos; i++) {
        ebb_daemon_graph_view_fini(&views[i]);
        ebb_graph_fini(&graphs[i]);
    }
    free(graphs);
    free(views);
    free(dbs);
    free(dbp);
    free(res);
    free(resp);
    for (size_t i = 0; i < n_infos; i++)
        ebb_job_db_info_fini(&infos[i]);
    free(infos);
    return rc;
}

/* ---- delivery ---- */

/* Send every result in the outbox until one fails; acknowledged ones leave it. */
/* Actions after which the database's revisions may differ from what the last hello said. */
static bool changes_schema(ebb_job_action action)
{
    return action == EBB_JOB_MIGRATE || action == EBB_JOB_RESTORE ||
           action == EBB_JOB_COMMIT_PREPARED || action == EBB_JOB_ROLLBACK_PREPARED;
}

static ebb_code deliver_results(ebb_daemon *d, ebb_error *err)
{
    pthread_mutex_lock(&d->mutex);
    daemon_outbox_item *it = d->outbox;
    pthread_mutex_unlock(&d->mutex);
    while (it != NULL && !stopping_now(d)) {
        /* Only this thread frees items, so it stays valid; workers only append. */
        Ebb__JobResult jr;
        ebb_daemon_result_to_proto(&it->res, d->cfg->agent_id, &jr);
        ProtobufCMessage *reply = NULL;
        ebb_code rc = call(d, EBB__BODY_TYPE__BODY_JOB_RESULT, &jr.base, EBB__BODY_TYPE__BODY_ACK,
                           d->cfg->request_timeout_ms, &reply, err);
        if (rc != EBB_OK)
            return rc;
        const Ebb__Ack *ack = (const Ebb__Ack *)reply;
        bool ok = ack->has_accepted && ack->accepted &&
                  (ack->job_id == NULL || strcmp(ack->job_id, it->res.job_id) == 0);
        if (!ok) {
            rc = ebb_error_set(err, EBB_E_REFUSED, "the coordinator did not accept result %s: %s",
                               it->res.job_id, ack->note != NULL ? ack->note : "no reason given");
            protobuf_c_message_free_unpacked(reply, NULL);
            return rc;
        }
        protobuf_c_message_free_unpacked(reply, NULL);
        ebb_log_kv(EBB_LOG_INFO, "agent", (const char *const[]){"job", it->res.job_id, NULL},
                   "result delivered");
        if (changes_schema(it->res.action))
            d->inventory_stale = true;
        pthread_mutex_lock(&d->mutex);
        daemon_outbox_item *next = it->next;
        d->n.results_delivered++;
        daemon_outbox_remove(d, it->res.job_id);
        pthread_mutex_unlock(&d->mutex);
        it = next;
    }
    return EBB_OK;
}

/* Send the latest progress of each job that changed; best effort (never retried). */
static ebb_code send_progress(ebb_daemon *d, ebb_error *err)
{
    for (;;) {
        uint8_t *req = NULL;
        size_t len = 0;
        ebb_code rc = EBB_OK;
        pthread_mutex_lock(&d->mutex);
        daemon_progress *pr = d->progress;
        while (pr != NULL && !pr->dirty)
            pr = pr->next;
        if (pr != NULL) {
            ebb_job_progress p = {.job_id = pr->job_id,
                                  .step = pr->step,
                                  .done = pr->done,
                                  .total = pr->total,
                                  .bytes = pr->bytes,
                                  .message = pr->message};
            Ebb__JobProgress jp;
            ebb_daemon_progress_to_proto(&p, d->cfg->agent_id, pr->run_id, pr->at_ms, &jp);
            rc = ebb_sealer_seal(&d->sealer, &d->coord_id, EBB__BODY_TYPE__BODY_JOB_PROGRESS,
                                 &jp.base, &req, &len, err);
            pr->dirty = false;
        }
        pthread_mutex_unlock(&d->mutex);
        if (pr == NULL || rc != EBB_OK)
            return rc;
        ProtobufCMessage *reply = NULL;
        rc = exchange(d, req, len, EBB__BODY_TYPE__BODY_ACK, d->cfg->request_timeout_ms, &reply,
                      err);
        free(req);
        pthread_mutex_lock(&d->mutex);
        if (rc == EBB_OK)
            d->n.progress_sent++;
        else
            d->n.progress_failed++;
        note_change(d);
        pthread_mutex_unlock(&d->mutex);
        if (rc != EBB_OK)
            return rc;
        protobuf_c_message_free_unpacked(reply, NULL);
    }
}

/* ---- polling ---- */

/* A command with an id but no valid content: answered REJECTED without running anything. */
static void reject_command(ebb_daemon *d, const Ebb__JobCommand *jc, const ebb_error *why)
{
    ebb_job_result r = {0};
    r.job_id = jc->job_id;
    r.run_id = jc->run_id;
    r.outcome = EBB_JOB_REJECTED;
    r.action = ebb_daemon_action_from_proto(jc->action);
    r.database = jc->database;
    r.error_code = why->code;
    r.error_message = (char *)why->msg;
    r.finished_at_ms = ebb_proto_now_ms();
    daemon_outbox_add(d, &r); /* copies */
}

static void handle_command(ebb_daemon *d, const Ebb__JobCommand *jc)
{
    ebb_job_cmd view;
    ebb_error e;
    pthread_mutex_lock(&d->mutex);
    d->n.jobs_received++;
    note_change(d);
    if (ebb_daemon_cmd_from_proto(jc, &view, &e) != EBB_OK) {
        d->n.jobs_invalid++;
        ebb_log_kv(EBB_LOG_WARN, "agent",
                   (const char *const[]){"job", jc->job_id, "reason", "invalid-command", NULL},
                   "refused a job command, nothing runs: %s", e.msg);
        /* Answer when the ids let the coordinator match the answer. */
        if (jc->job_id != NULL && jc->job_id[0] != '\0' && jc->run_id != NULL &&
            jc->run_id[0] != '\0' && strlen(jc->job_id) < EBB_JOB_ID_MAX &&
            strlen(jc->run_id) < EBB_JOB_ID_MAX && !daemon_job_known(d, jc->job_id))
            reject_command(d, jc, &e);
        pthread_mutex_unlock(&d->mutex);
        return;
    }
    if (daemon_job_known(d, view.job_id)) {
        d->n.jobs_duplicate++;
        ebb_log_kv(EBB_LOG_INFO, "agent", (const char *const[]){"job", view.job_id, NULL},
                   "job already queued, running or awaiting delivery: not run again");
        pthread_mutex_unlock(&d->mutex);
        return;
    }
    if (stopping(d)) {
        ebb_log(EBB_LOG_WARN, "agent", "job %s arrived during shutdown: not started", view.job_id);
        pthread_mutex_unlock(&d->mutex);
        return;
    }
    ebb_job_cmd *copy = NULL;
    if (ebb_daemon_cmd_dup(&view, &copy, &e) != EBB_OK || daemon_dispatch(d, copy, &e) != EBB_OK) {
        ebb_daemon_cmd_free(copy);
        ebb_log(EBB_LOG_ERROR, "agent", "job %s not queued (the coordinator may send it again): %s",
                view.job_id, e.msg);
    }
    pthread_mutex_unlock(&d->mutex);
}

/* Ids of queued and running jobs (strings borrowed under the mutex: copy before unlocking). */
static ebb_code poll_once(ebb_daemon *d, uint32_t idle_wait_ms, ebb_error *err)
{
    pthread_mutex_lock(&d->mutex);
    bool busy = daemon_running_count(d) > 0 || daemon_queued_count(d) > 0;
    size_t n_ids = 0;
    for (size_t i = 0; i < d->n_lanes; i++)
        n_ids += 1 + d->lanes[i].queued;
    char **running = calloc(n_ids + 1, sizeof *running);
    char **queued = calloc(n_ids + 1, sizeof *queued);
    size_t n_run = 0, n_q = 0;
    for (size_t i = 0; running != NULL && queued != NULL && i < d->n_lanes; i++) {
        if (d->lanes[i].running_job != NULL)
            running[n_run++] = strdup(d->lanes[i].running_job);
        for (const daemon_job *j = d->lanes[i].head; j != NULL; j = j->next)
            queued[n_q++] = strdup(j->cmd->job_id);
    }
    uint32_t undelivered = (uint32_t)d->n_outbox;
    d->n.polls++;
    note_change(d);
    pthread_mutex_unlock(&d->mutex);

    ebb_code rc;
    if (running == NULL || queued == NULL) {
        rc = ebb_error_set(err, EBB_E_NOMEM, "poll: out of memory");
        goto out;
    }
    /* Busy: come back soon so results and progress go out within about a poll interval. */
    uint32_t wait = busy ? (uint32_t)d->cfg->poll_interval_ms : idle_wait_ms;
    Ebb__Poll p = EBB__POLL__INIT;
    p.agent_id = (char *)d->cfg->agent_id;
    p.has_wait_ms = true;
    p.wait_ms = wait;
    p.running_job_ids = running;
    p.n_running_job_ids = n_run;
    p.queued_job_ids = queued;
    p.n_queued_job_ids = n_q;
    p.has_undelivered_results = true;
    p.undelivered_results = undelivered;
    ProtobufCMessage *reply = NULL;
    rc = call(d, EBB__BODY_TYPE__BODY_POLL, &p.base, EBB__BODY_TYPE__BODY_POLL_REPLY,
              (int)wait + d->cfg->request_timeout_ms, &reply, err);
    if (rc == EBB_OK) {
        const Ebb__PollReply *pr = (const Ebb__PollReply *)reply;
        if (pr->has_resend_hello && pr->resend_hello) {
            ebb_log(EBB_LOG_INFO, "agent", "the coordinator asks for a new hello");
            set_state(d, DAEMON_CONNECTING);
        }
        for (size_t i = 0; i < pr->n_jobs && d->state == DAEMON_ACCEPTED; i++)
            handle_command(d, pr->jobs[i]);
        protobuf_c_message_free_unpacked(reply, NULL);
    }
out:
    for (size_t i = 0; i < n_run; i++)
        free(running[i]);
    for (size_t i = 0; i < n_q; i++)
        free(queued[i]);
    free(running);
    free(queued);
    return rc;
}

/* ---- the loop ---- */

static void session(ebb_daemon *d)
{
    const ebb_agent_config *cfg = d->cfg;
    uint32_t idle_wait = (uint32_t)cfg->heartbeat_interval_ms;
    int backoff = 0;
    int64_t pending_logged = 0;
    unsigned long status_written = (unsigned long)-1;
    bool draining = false;

    for (;;) {
        pthread_mutex_lock(&d->mutex);
        daemon_status_write(d, &status_written);
        size_t running = daemon_running_count(d);
        size_t outbox = d->n_outbox;
        pthread_mutex_unlock(&d->mutex);
        if (stopping_now(d))
            break;
        if (stopping(d) && !draining) {
            draining = true;
            ebb_log(EBB_LOG_INFO, "agent",
                    "stopping: no new jobs; %zu running job(s) finish and are reported", running);
            pthread_mutex_lock(&d->mutex);
            d->workers_stop = true; /* queued jobs never start; running ones finish */
            pthread_cond_broadcast(&d->cond);
            pthread_mutex_unlock(&d->mutex);
        }
        if (draining && running == 0 && (outbox == 0 || d->state != DAEMON_ACCEPTED))
            break;

        ebb_error e;
        ebb_code rc = EBB_OK;
        if (d->state != DAEMON_ACCEPTED) {
            rc = send_hello(d, &idle_wait, &e);
            if (rc == EBB_OK && d->state == DAEMON_PENDING) {
                int64_t now = ebb_proto_now_ms();
                if (now - pending_logged >= PENDING_LOG_EVERY_MS) {
                    ebb_log_kv(EBB_LOG_WARN, "agent",
                               (const char *const[]){"key_id", d->key_hex, NULL},
                               "waiting for an operator to accept key %s", d->key_hex);
                    pending_logged = now;
                }
                backoff = 0;
                nap(d, cfg->poll_interval_ms, true);
                continue;
            }
            if (rc == EBB_OK && d->state == DAEMON_REVOKED) {
                ebb_log(EBB_LOG_ERROR, "agent",
                        "the coordinator revoked key %s: acting on nothing, asking again later",
                        d->key_hex);
                nap(d, cfg->reconnect_max_ms, true);
                continue;
            }
            if (rc == EBB_OK) {
                ebb_log(EBB_LOG_INFO, "agent", "enrolled: the coordinator accepted key %s",
                        d->key_hex);
                pending_logged = 0;
            }
        }
        if (rc == EBB_OK)
            rc = deliver_results(d, &e);
        if (rc == EBB_OK && d->inventory_stale && d->state == DAEMON_ACCEPTED) {
            /* The coordinator plans from the revisions of the last hello: tell it the new ones
             * before it plans the next run. */
            rc = send_hello(d, &idle_wait, &e);
            if (rc == EBB_OK)
                d->inventory_stale = false;
        }
        if (rc == EBB_OK)
            rc = send_progress(d, &e);
        if (rc == EBB_OK && !draining)
            rc = poll_once(d, idle_wait, &e);
        if (rc == EBB_OK) {
            backoff = 0;
            if (draining)
                nap(d, 200, false);
            continue;
        }
        /* Any failure: assume the connection is gone; say hello again after a pause. */
        backoff = ebb_daemon_backoff_next(backoff, cfg->reconnect_min_ms, cfg->reconnect_max_ms,
                                          randombytes_random());
        ebb_log_kv(EBB_LOG_WARN, "agent", (const char *const[]){"reason", ebb_code_name(rc), NULL},
                   "coordinator %s: %s; retrying in %d ms", cfg->coordinator_address, e.msg,
                   backoff);
        set_state(d, DAEMON_CONNECTING);
        nap(d, backoff, false);
    }
    pthread_mutex_lock(&d->mutex);
    daemon_status_write(d, &status_written);
    daemon_status_log(d);
    pthread_mutex_unlock(&d->mutex);
}

static void daemon_free(ebb_daemon *d)
{
    daemon_workers_join(d);
    ebb_job_executor_free(d->ex);
    daemon_outbox_free(d);
    ebb_wire_client_close(d->wire);
    ebb_sealer_fini(&d->sealer);
    ebb_replay_close(d->replay);
    ebb_keyring_free(d->ring);
    ebb_secret_key_free(d->key);
    free(d->undelivered_path);
    pthread_cond_destroy(&d->cond);
    pthread_mutex_destroy(&d->mutex);
    free(d);
}

ebb_code ebb_daemon_run(const ebb_agent_config *cfg, const ebb_daemon_opts *opts, ebb_error *err)
{
    /* On the heap: when a second signal leaves jobs running, their threads keep using it
     * until the process exits, so it is then deliberately not freed. */
    ebb_daemon *d = calloc(1, sizeof *d);
    if (d == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "agent: out of memory");
    d->cfg = cfg;
    d->opts = opts;
    pthread_mutex_init(&d->mutex, NULL);
    pthread_cond_init(&d->cond, NULL);
    ebb_code rc;
    size_t plen = strlen(cfg->job_journal) + sizeof ".undelivered";
    if ((d->undelivered_path = malloc(plen)) == NULL) {
        rc = ebb_error_set(err, EBB_E_NOMEM, "agent: out of memory");
        goto fail;
    }
    snprintf(d->undelivered_path, plen, "%s.undelivered", cfg->job_journal);
    if ((rc = ebb_secret_key_load(cfg->key_file, &d->key, err)) != EBB_OK)
        goto fail;
    ebb_key_id_hex(ebb_secret_key_id(d->key), d->key_hex);
    ebb_key_id_of(&cfg->coordinator_key, &d->coord_id);
    ebb_key_id_hex(&d->coord_id, d->coord_hex);
    ebb_sealer_init(&d->sealer, d->key, ENVELOPE_TTL_MS);
    /* Trust exactly one key: the pinned coordinator's. */
    if ((rc = ebb_keyring_alloc(&d->ring, err)) != EBB_OK ||
        (rc = ebb_keyring_add(d->ring, &cfg->coordinator_key, "coordinator", err)) != EBB_OK ||
        (rc = ebb_replay_open(cfg->replay_store, &d->replay, err)) != EBB_OK ||
        (rc = daemon_outbox_recover(d, err)) != EBB_OK ||
        (rc = ebb_job_executor_open(cfg, &d->ex, err)) != EBB_OK)
        goto fail;
    size_t n_intr = 0;
    const ebb_job_result *intr = ebb_job_executor_interrupted(d->ex, &n_intr);
    pthread_mutex_lock(&d->mutex);
    for (size_t i = 0; i < n_intr; i++) {
        ebb_log_kv(EBB_LOG_WARN, "agent",
                   (const char *const[]){"job", intr[i].job_id, "run", intr[i].run_id, NULL},
                   "job was interrupted by a stop or crash of the agent; it is reported, never "
                   "run again");
        daemon_outbox_add(d, &intr[i]);
    }
    pthread_mutex_unlock(&d->mutex);
    ebb_wire_client_opts wo = {.recv_max = MAX_ENVELOPE,
                               .reconnect_min_ms = cfg->reconnect_min_ms,
                               .reconnect_max_ms = cfg->reconnect_max_ms};
    if ((rc = ebb_wire_client_open(cfg->coordinator_address, &wo, &d->wire, err)) != EBB_OK ||
        (rc = daemon_workers_start(d, err)) != EBB_OK)
        goto fail;
    ebb_log_kv(EBB_LOG_INFO, "agent",
               (const char *const[]){"agent_id", cfg->agent_id, "key_id", d->key_hex, "coordinator",
                                     cfg->coordinator_address, "coordinator_key", d->coord_hex,
                                     NULL},
               "agent started");
    session(d);
    pthread_mutex_lock(&d->mutex);
    size_t still_running = daemon_running_count(d);
    pthread_mutex_unlock(&d->mutex);
    if (still_running > 0) {
        /* Second signal: the jobs die with the process (an open transaction rolls back;
         * the journal reports them interrupted at the next start). */
        ebb_log(EBB_LOG_WARN, "agent",
                "exiting with %zu job(s) running: they will be reported interrupted at the "
                "next start",
                still_running);
        return EBB_OK;
    }
    daemon_free(d);
    ebb_log(EBB_LOG_INFO, "agent", "agent stopped");
    return EBB_OK;
fail:
    daemon_free(d);
    return rc;
}
