/* The coordinator daemon's wiring: open, the tick thread, held polls, clean shutdown. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/log.h"
#include "coordinator/coordinator_internal.h"

#define TICK_MS 100

int64_t coord_now_ms(void)
{
    return ebb_proto_now_ms();
}

ebb_code coord_seal(ebb_coordinator *c, const ebb_key_id *to, uint32_t type,
                    const ProtobufCMessage *body, uint8_t **out, size_t *len, ebb_error *err)
{
    return ebb_sealer_seal(&c->sealer, to, type, body, out, len, err);
}

void coord_reply_body(ebb_coordinator *c, ebb_wire_request *req, const ebb_key_id *to,
                      uint32_t type, const ProtobufCMessage *body)
{
    uint8_t *out = NULL;
    size_t len = 0;
    ebb_error err;
    if (coord_seal(c, to, type, body, &out, &len, &err) != EBB_OK) {
        ebb_log(EBB_LOG_ERROR, "coordinator", "cannot seal a reply: %s", err.msg);
        Ebb__Error e = EBB__ERROR__INIT;
        e.code = (char *)ebb_code_name(err.code);
        if (type == EBB__BODY_TYPE__BODY_ERROR ||
            coord_seal(c, to, EBB__BODY_TYPE__BODY_ERROR, &e.base, &out, &len, &err) != EBB_OK) {
            /* Nothing can be signed: answer with nothing rather than leave the context stuck. */
            if (ebb_wire_reply(req, (const uint8_t *)"", 0, NULL) != EBB_OK)
                ebb_log(EBB_LOG_WARN, "coordinator", "reply dropped");
            return;
        }
    }
    if (ebb_wire_reply(req, out, len, &err) != EBB_OK)
        ebb_log(EBB_LOG_WARN, "coordinator", "reply dropped: %s", err.msg);
    free(out);
}

void coord_reply_error(ebb_coordinator *c, ebb_wire_request *req, const ebb_key_id *to,
                       ebb_code code, const char *msg)
{
    Ebb__Error e = EBB__ERROR__INIT;
    e.code = (char *)ebb_code_name(code);
    e.message = (char *)msg;
    coord_reply_body(c, req, to, EBB__BODY_TYPE__BODY_ERROR, &e.base);
}

void coord_fail(ebb_coordinator *c, const ebb_error *err)
{
    if (!c->failed) {
        c->failed = true;
        c->fail_err = *err;
        ebb_log(EBB_LOG_ERROR, "coordinator", "stopping: %s", err->msg);
    }
    pthread_cond_broadcast(&c->cond);
}

/* Under the lock: the reply for a held poll of key (jobs if any, else empty if due). */
static bool held_reply(ebb_coordinator *c, coord_held *h, bool due, int64_t now, coord_reply *out)
{
    ebb_inv_agent *a = ebb_inventory_find_key(&c->inv, &h->key);
    Ebb__JobCommand **cmds = NULL;
    size_t n = 0;
    ebb_error err;
    bool work =
        a != NULL && a->state == EBB_AGENT_ACCEPTED && ebb_job_queue_has_work(&c->queue, a->id);
    if (!work && !(due && now >= h->until_ms) && !c->stopping)
        return false;
    if (work && ebb_job_queue_take(&c->queue, a->id, now, &cmds, &n, &err) != EBB_OK) {
        ebb_log(EBB_LOG_ERROR, "coordinator", "job hand-out: %s", err.msg);
        n = 0;
    }
    Ebb__PollReply pr = EBB__POLL_REPLY__INIT;
    pr.jobs = cmds;
    pr.n_jobs = n;
    out->req = h->req;
    out->data = NULL;
    out->len = 0;
    if (coord_seal(c, &h->key, EBB__BODY_TYPE__BODY_POLL_REPLY, &pr.base, &out->data, &out->len,
                   &err) != EBB_OK)
        ebb_log(EBB_LOG_ERROR, "coordinator", "cannot seal a poll reply: %s", err.msg);
    else if (n > 0)
        ebb_log(EBB_LOG_INFO, "coordinator", "handed %zu job(s) to %s", n, a->id);
    ebb_job_queue_commands_free(cmds, n);
    return true;
}

void coord_flush_polls(ebb_coordinator *c, bool due)
{
    coord_reply *replies = NULL;
    size_t n = 0;
    pthread_mutex_lock(&c->mu);
    int64_t now = coord_now_ms();
    if (c->n_held > 0)
        replies = calloc(c->n_held, sizeof *replies);
    for (size_t i = 0; replies != NULL && i < c->n_held;) {
        if (held_reply(c, &c->held[i], due, now, &replies[n])) {
            n++;
            c->held[i] = c->held[--c->n_held];
        } else {
            i++;
        }
    }
    pthread_mutex_unlock(&c->mu);
    for (size_t i = 0; i < n; i++) {
        ebb_error err;
        if (replies[i].data == NULL ||
            ebb_wire_reply(replies[i].req, replies[i].data, replies[i].len, &err) != EBB_OK)
            ebb_log(EBB_LOG_DEBUG, "coordinator", "a held poll's reply was dropped");
        free(replies[i].data);
    }
    free(replies);
}

static void *tick_main(void *arg)
{
    ebb_coordinator *c = arg;
    for (;;) {
        pthread_mutex_lock(&c->mu);
        bool stop = c->stopping;
        if (!stop && !c->failed) {
            ebb_error err;
            if (ebb_run_driver_tick(c->driver, coord_now_ms(), &err) != EBB_OK) {
                if (err.code == EBB_E_IO || err.code == EBB_E_NOMEM)
                    coord_fail(c, &err);
                else
                    ebb_log(EBB_LOG_ERROR, "rollout", "tick: %s", err.msg);
            }
            pthread_cond_broadcast(&c->cond);
        }
        pthread_mutex_unlock(&c->mu);
        if (stop)
            break;
        coord_flush_polls(c, true);
        nanosleep(&(struct timespec){0, TICK_MS * 1000000L}, NULL);
    }
    return NULL;
}

ebb_code coord_spawn_waiter(ebb_coordinator *c, void *(*fn)(void *), void *arg, ebb_error *err)
{
    pthread_attr_t attr;
    pthread_t t;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    c->n_waiters++; /* under the lock (the caller holds it) */
    int rv = pthread_create(&t, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    if (rv != 0) {
        c->n_waiters--;
        return ebb_error_errno(err, EBB_E_INTERNAL, rv, "cannot start a waiter thread");
    }
    return EBB_OK;
}

void coord_waiter_done(ebb_coordinator *c)
{
    pthread_mutex_lock(&c->mu);
    c->n_waiters--;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mu);
}

static ebb_code replay_inventory(const ebb_journal_record *rec, void *ctx, bool *stop,
                                 ebb_error *err)
{
    (void)stop;
    return ebb_inventory_apply_record(ctx, rec, err);
}

/* Trust what the inventory says: accepted keys active, revoked keys revoked. */
static ebb_code load_rings(ebb_coordinator *c, ebb_error *err)
{
    ebb_code rc = EBB_OK;
    for (size_t i = 0; rc == EBB_OK && i < c->inv.n_agents; i++) {
        const ebb_inv_agent *a = &c->inv.agents[i];
        rc = ebb_keyring_add(c->agent_ring, &a->key, a->id, err);
        if (rc == EBB_OK && a->state == EBB_AGENT_REVOKED)
            rc = ebb_keyring_revoke(c->agent_ring, &a->key_id, err);
    }
    for (size_t i = 0; rc == EBB_OK && i < c->cfg->n_operators; i++)
        rc = ebb_keyring_add(c->op_ring, &c->cfg->operators[i].key, c->cfg->operators[i].name, err);
    return rc;
}

static ebb_code open_state(ebb_coordinator *c, ebb_error *err)
{
    char path[4096];
    if (mkdir(c->cfg->journal_dir, 0700) != 0 && errno != EEXIST)
        return ebb_error_errno(err, EBB_E_IO, errno, "cannot create journal_dir %s",
                               c->cfg->journal_dir);
    ebb_code rc = ebb_secret_key_load(c->cfg->key_file, &c->key, err);
    if (rc != EBB_OK)
        return rc;
    ebb_key_id_hex(ebb_secret_key_id(c->key), c->key_id_hex);
    ebb_sealer_init(&c->sealer, c->key, COORD_TTL_MS);
    if (!ebb_coord_config_state_path(c->cfg, EBB_COORD_JOURNAL_FILE, c->journal_path,
                                     sizeof c->journal_path) ||
        !ebb_coord_config_state_path(c->cfg, EBB_COORD_REPLAY_FILE, path, sizeof path))
        return ebb_error_set(err, EBB_E_CONFIG, "journal_dir %s: path too long",
                             c->cfg->journal_dir);
    ebb_journal_options jo = {.sign_key = c->key, .trust_key = ebb_secret_key_public(c->key)};
    ebb_journal_report rep;
    rc = ebb_journal_open(c->journal_path, &jo, &c->journal, &rep, err);
    if (rc != EBB_OK)
        return rc;
    ebb_journal_recovery rec;
    ebb_journal_recovery_get(c->journal, &rec);
    if (rec.truncated)
        ebb_log(EBB_LOG_WARN, "coordinator",
                "journal %s: a torn last line (line %llu, %llu bytes) from a crash was cut away",
                c->journal_path, (unsigned long long)rec.line, (unsigned long long)rec.bytes);
    rc = ebb_replay_open(path, &c->replay, err);
    if (rc == EBB_OK)
        rc = ebb_replay_open(NULL, &c->enroll_replay, err);
    if (rc == EBB_OK)
        rc = ebb_keyring_alloc(&c->agent_ring, err);
    if (rc == EBB_OK)
        rc = ebb_keyring_alloc(&c->op_ring, err);
    if (rc == EBB_OK)
        rc = ebb_journal_foreach(c->journal, 1, replay_inventory, &c->inv, err);
    if (rc == EBB_OK)
        rc = load_rings(c, err);
    if (rc == EBB_OK)
        rc = ebb_run_driver_alloc(c->journal, &c->queue, &c->driver, err);
    if (rc == EBB_OK)
        rc = ebb_run_driver_replay(c->driver, err);
    return rc;
}

ebb_code ebb_coordinator_open(const ebb_coord_config *cfg, ebb_coordinator **out, ebb_error *err)
{
    ebb_coordinator *c = calloc(1, sizeof *c);
    if (c == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    c->cfg = cfg;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cond, NULL);
    ebb_inventory_init(&c->inv);
    ebb_job_queue_init(&c->queue);
    ebb_code rc = open_state(c, err);
    size_t n_runs = c->driver ? ebb_run_driver_count(c->driver) : 0;
    ebb_wire_server_opts so = {.recv_max = cfg->max_message, .contexts = cfg->contexts};
    if (rc == EBB_OK)
        rc = ebb_wire_server_open(cfg->listen_agents, &so, coord_agent_handler, c, &c->agents_srv,
                                  err);
    if (rc == EBB_OK)
        rc = ebb_wire_server_open(cfg->listen_operators, &so, coord_operator_handler, c,
                                  &c->ops_srv, err);
    if (rc == EBB_OK) {
        int rv = pthread_create(&c->tick, NULL, tick_main, c);
        if (rv != 0)
            rc = ebb_error_errno(err, EBB_E_INTERNAL, rv, "cannot start the tick thread");
        else
            c->tick_started = true;
    }
    if (rc != EBB_OK) {
        ebb_coordinator_close(c);
        return rc;
    }
    ebb_log(EBB_LOG_INFO, "coordinator",
            "key %s; agents on %s, operators on %s; %zu agent(s), %zu run(s) from the journal",
            c->key_id_hex, cfg->listen_agents, cfg->listen_operators, c->inv.n_agents, n_runs);
    *out = c;
    return EBB_OK;
}

ebb_code ebb_coordinator_serve(ebb_coordinator *c, volatile sig_atomic_t *stop, ebb_error *err)
{
    while (!*stop) {
        pthread_mutex_lock(&c->mu);
        bool failed = c->failed;
        ebb_error fe = c->fail_err;
        pthread_mutex_unlock(&c->mu);
        if (failed) {
            if (err != NULL)
                *err = fe;
            return fe.code != EBB_OK ? fe.code : EBB_E_IO;
        }
        nanosleep(&(struct timespec){0, 100 * 1000000L}, NULL);
    }
    return EBB_OK;
}

void ebb_coordinator_close(ebb_coordinator *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    c->stopping = true;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mu);
    if (c->tick_started)
        pthread_join(c->tick, NULL);
    coord_flush_polls(c, true); /* stopping: every held poll gets its answer */
    pthread_mutex_lock(&c->mu);
    while (c->n_waiters > 0)
        pthread_cond_wait(&c->cond, &c->mu);
    pthread_mutex_unlock(&c->mu);
    if (c->agents_srv != NULL)
        ebb_wire_server_close(c->agents_srv);
    if (c->ops_srv != NULL)
        ebb_wire_server_close(c->ops_srv);
    ebb_run_driver_free(c->driver);
    ebb_job_queue_fini(&c->queue);
    ebb_inventory_fini(&c->inv);
    for (size_t i = 0; i < c->n_prechecks; i++) {
        free(c->prechecks[i].job_id);
        free(c->prechecks[i].plan_id);
        free(c->prechecks[i].host);
        free(c->prechecks[i].db);
        json_decref(c->prechecks[i].result);
    }
    free(c->prechecks);
    free(c->held);
    ebb_keyring_free(c->agent_ring);
    ebb_keyring_free(c->op_ring);
    ebb_replay_close(c->replay);
    ebb_replay_close(c->enroll_replay);
    ebb_journal_close(c->journal);
    if (c->key != NULL)
        ebb_sealer_fini(&c->sealer);
    ebb_secret_key_free(c->key);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

void ebb_coordinator_key_id(const ebb_coordinator *c, char out[EBB_KEY_ID_HEX_SIZE])
{
    memcpy(out, c->key_id_hex, EBB_KEY_ID_HEX_SIZE);
}
