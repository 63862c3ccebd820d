/*
 * ebb-test-fake-coordinator: a stand-in coordinator for the agent daemon's
 * integration tests, on the same wire and envelope code as the real one.
 * It serves REP, opens every agent envelope with all checks, keeps
 * enrollment (pending until `accept`), holds polls (long poll) and answers
 * them as soon as a job is queued, acknowledges results and progress.
 *
 * It is scripted on stdin, one command a line, and answers each command
 * with exactly one JSON line on stdout (so a shell coprocess can drive it):
 *
 *   accept AGENT | revoke AGENT
 *   send  job=J run=R action=A [to=AGENT] [db=D] [target=T] [backup=B]
 *         [cancel=J2] [prepare=1] [data_loss=1] [timeout=MS] [reason=TEXT]
 *   forge <as send>     the job goes out in a PollReply signed by a throwaway key
 *   replay J            the sealed PollReply bytes that carried J are sent again,
 *                       verbatim, as the reply to the agent's next poll
 *   wait-hello AGENT N TIMEOUT_MS      until N hellos came; the last hello
 *   wait-poll AGENT N TIMEOUT_MS       until N polls came; the last poll
 *   wait-result J TIMEOUT_MS           the first result of J and its delivery count
 *   wait-progress J TIMEOUT_MS         the last progress of J and the count
 *   status                             counters (hellos, polls, results, rejected)
 *   stop | start        close / reopen the listener (the agent sees the coordinator go away)
 *   quit
 *
 * Test-only: one process, state in memory, no journal.
 */
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/envelope.h"
#include "common/keyring.h"
#include "common/keys.h"
#include "common/proto_util.h"
#include "common/replay.h"
#include "common/wire.h"
#include "ebb.pb-c.h"

#define TTL_MS 60000
#define SKEW_MS 30000
#define MAX_ENVELOPE (1024 * 1024)
#define MAX_AGENTS 16
#define MAX_JOBS 256

struct sent_reply {
    char job_id[128];
    uint8_t *bytes; /* the sealed PollReply that carried the job */
    size_t len;
};

struct agent {
    char id[128];
    ebb_public_key pk;
    ebb_key_id key_id;
    Ebb__EnrollmentState state;
    long hellos, polls, progress;
    json_t *last_hello, *last_poll;
    uint8_t *queue[MAX_JOBS]; /* packed JobCommands waiting for a poll */
    size_t queue_len[MAX_JOBS];
    size_t n_queue;
    uint8_t *raw_next; /* forged / replayed reply bytes for the next poll */
    size_t raw_next_len;
    ebb_wire_request *held; /* a parked long poll */
    int64_t held_until_ms;
};

struct result {
    char job_id[128];
    json_t *first; /* first delivery */
    long deliveries;
    json_t *last_progress;
    long progress;
};

struct coord {
    const char *url;
    ebb_secret_key *key, *forger;
    ebb_keyring *ring;
    ebb_replay *replay;
    ebb_sealer sealer, forge_sealer;
    uint32_t wait_ms;
    pthread_rwlock_t server_lock; /* replies from outside a handler vs stop */
    pthread_mutex_t mutex;        /* everything below */
    pthread_cond_t cond;          /* any change */
    ebb_wire_server *server;
    bool listening;
    struct agent agents[MAX_AGENTS];
    size_t n_agents;
    struct sent_reply sent[MAX_JOBS];
    size_t n_sent;
    struct result results[MAX_JOBS];
    size_t n_results;
    long hellos, polls, results_total, progress_total;
    long rejected[EBB_E__COUNT];
    long rejected_bodies; /* well-signed but wrong body */
    volatile bool quit;
};

static void die(const char *what, const ebb_error *err)
{
    fprintf(stderr, "ebb-test-fake-coordinator: %s: %s\n", what, err != NULL ? err->msg : "");
    exit(1);
}

static void emit(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    printf("%s\n", s != NULL ? s : "{\"ok\":false}");
    fflush(stdout);
    free(s);
    json_decref(o);
}

static void emit_error(const char *msg)
{
    emit(json_pack("{s:b,s:s}", "ok", 0, "error", msg));
}

static struct agent *agent_find(struct coord *c, const char *id)
{
    for (size_t i = 0; i < c->n_agents; i++)
        if (strcmp(c->agents[i].id, id) == 0)
            return &c->agents[i];
    return NULL;
}

static struct agent *agent_by_key(struct coord *c, const ebb_key_id *kid)
{
    for (size_t i = 0; i < c->n_agents; i++)
        if (ebb_key_id_equal(&c->agents[i].key_id, kid))
            return &c->agents[i];
    return NULL;
}

static struct result *result_get(struct coord *c, const char *job_id, bool create)
{
    for (size_t i = 0; i < c->n_results; i++)
        if (strcmp(c->results[i].job_id, job_id) == 0)
            return &c->results[i];
    if (!create || c->n_results == MAX_JOBS)
        return NULL;
    struct result *r = &c->results[c->n_results++];
    memset(r, 0, sizeof *r);
    snprintf(r->job_id, sizeof r->job_id, "%s", job_id);
    return r;
}

/* Seal and reply from inside the handler (the request is valid there). */
static void reply_body(struct coord *c, ebb_wire_request *req, const ebb_key_id *to, uint32_t type,
                       const ProtobufCMessage *body)
{
    uint8_t *out = NULL;
    size_t len = 0;
    ebb_error err;
    if (ebb_sealer_seal(&c->sealer, to, type, body, &out, &len, &err) != EBB_OK)
        die("seal reply", &err);
    if (ebb_wire_reply(req, out, len, &err) != EBB_OK)
        fprintf(stderr, "ebb-test-fake-coordinator: reply: %s\n", err.msg);
    free(out);
}

static void reply_error(struct coord *c, ebb_wire_request *req, const ebb_key_id *to, ebb_code code,
                        const char *msg)
{
    Ebb__Error e = EBB__ERROR__INIT;
    e.code = (char *)ebb_code_name(code);
    e.message = (char *)msg;
    reply_body(c, req, to, EBB__BODY_TYPE__BODY_ERROR, &e.base);
}

/*
 * An unknown signer may be an agent enrolling: take the public key its
 * hello claims, check that it is the signer's, and trust it for opening
 * (enrollment stays pending until `accept`). Everything else is unknown.
 */
static void learn_hello_key(struct coord *c, const uint8_t *data, size_t len)
{
    Ebb__Envelope *env = ebb__envelope__unpack(NULL, len, data);
    if (env == NULL)
        return;
    if (env->body_type == EBB__BODY_TYPE__BODY_AGENT_HELLO &&
        env->signer_key_id.len == EBB_KEY_ID_LEN) {
        Ebb__AgentHello *h = ebb__agent_hello__unpack(NULL, env->body.len, env->body.data);
        if (h != NULL && h->public_key.len == EBB_PUBLIC_KEY_LEN) {
            ebb_public_key pk;
            ebb_key_id kid;
            memcpy(pk.bytes, h->public_key.data, EBB_PUBLIC_KEY_LEN);
            ebb_key_id_of(&pk, &kid);
            if (memcmp(kid.bytes, env->signer_key_id.data, EBB_KEY_ID_LEN) == 0 &&
                ebb_keyring_lookup(c->ring, &kid, NULL, NULL, 0) == EBB_KEY_UNKNOWN &&
                ebb_keyring_add(c->ring, &pk, h->agent_id, NULL) != EBB_OK)
                fprintf(stderr, "ebb-test-fake-coordinator: cannot trust %s\n", h->agent_id);
        }
        if (h != NULL)
            ebb__agent_hello__free_unpacked(h, NULL);
    }
    ebb__envelope__free_unpacked(env, NULL);
}

static void handle_hello(struct coord *c, ebb_wire_request *req, const ebb_key_id *signer,
                         const Ebb__AgentHello *h)
{
    pthread_mutex_lock(&c->mutex);
    struct agent *a = agent_find(c, h->agent_id);
    if (a == NULL && c->n_agents < MAX_AGENTS) {
        a = &c->agents[c->n_agents++];
        memset(a, 0, sizeof *a);
        snprintf(a->id, sizeof a->id, "%s", h->agent_id);
        memcpy(a->pk.bytes, h->public_key.data, EBB_PUBLIC_KEY_LEN);
        a->key_id = *signer;
        a->state = EBB__ENROLLMENT_STATE__ENROLL_PENDING;
    }
    if (a == NULL || !ebb_key_id_equal(&a->key_id, signer)) {
        c->rejected_bodies++;
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->mutex);
        reply_error(c, req, signer, EBB_E_CONFLICT, "agent id enrolled with another key");
        return;
    }
    a->hellos++;
    c->hellos++;
    json_t *j = json_object();
    json_object_set_new(j, "agent_id", json_string(h->agent_id));
    json_object_set_new(j, "software_version", json_string(h->software_version));
    json_object_set_new(j, "protocol_version", json_integer(h->protocol_version));
    json_t *dbs = json_array(), *intr = json_array();
    for (size_t i = 0; i < h->n_databases; i++)
        json_array_append_new(dbs, ebb_proto_database_json(h->databases[i]));
    for (size_t i = 0; i < h->n_interrupted_jobs; i++)
        json_array_append_new(intr, ebb_proto_result_json(h->interrupted_jobs[i]));
    json_object_set_new(j, "databases", dbs);
    json_object_set_new(j, "interrupted_jobs", intr);
    json_object_set_new(j, "state", json_string(ebb_proto_enroll_name(a->state)));
    json_decref(a->last_hello);
    a->last_hello = j;
    Ebb__AgentHelloReply r = EBB__AGENT_HELLO_REPLY__INIT;
    r.state = a->state;
    r.environment = "test";
    r.has_poll_timeout_ms = true;
    r.poll_timeout_ms = c->wait_ms;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mutex);
    reply_body(c, req, signer, EBB__BODY_TYPE__BODY_AGENT_HELLO_REPLY, &r.base);
}

/* Seal a PollReply with the agent's queued jobs; remembers the bytes per job. Under mutex. */
static void seal_jobs(struct coord *c, struct agent *a, uint8_t **out, size_t *out_len)
{
    Ebb__PollReply pr = EBB__POLL_REPLY__INIT;
    Ebb__JobCommand *jobs[MAX_JOBS];
    size_t n = 0;
    for (size_t i = 0; i < a->n_queue; i++) {
        jobs[n] = ebb__job_command__unpack(NULL, a->queue_len[i], a->queue[i]);
        if (jobs[n] != NULL)
            n++;
    }
    pr.jobs = jobs;
    pr.n_jobs = n;
    ebb_error err;
    if (ebb_sealer_seal(&c->sealer, &a->key_id, EBB__BODY_TYPE__BODY_POLL_REPLY, &pr.base, out,
                        out_len, &err) != EBB_OK)
        die("seal poll reply", &err);
    for (size_t i = 0; i < n; i++) {
        if (c->n_sent < MAX_JOBS) {
            struct sent_reply *s = &c->sent[c->n_sent++];
            snprintf(s->job_id, sizeof s->job_id, "%s", jobs[i]->job_id);
            s->bytes = malloc(*out_len);
            memcpy(s->bytes, *out, *out_len);
            s->len = *out_len;
        }
        ebb__job_command__free_unpacked(jobs[i], NULL);
    }
    for (size_t i = 0; i < a->n_queue; i++)
        free(a->queue[i]);
    a->n_queue = 0;
}

/* What the agent's next poll gets now, or false when it should wait. Under mutex. */
static bool take_reply(struct coord *c, struct agent *a, uint8_t **out, size_t *len)
{
    if (a->raw_next != NULL) {
        *out = a->raw_next;
        *len = a->raw_next_len;
        a->raw_next = NULL;
        return true;
    }
    if (a->n_queue > 0) {
        seal_jobs(c, a, out, len);
        return true;
    }
    return false;
}

static void seal_empty(struct coord *c, const ebb_key_id *to, uint8_t **out, size_t *len)
{
    Ebb__PollReply pr = EBB__POLL_REPLY__INIT;
    ebb_error err;
    if (ebb_sealer_seal(&c->sealer, to, EBB__BODY_TYPE__BODY_POLL_REPLY, &pr.base, out, len,
                        &err) != EBB_OK)
        die("seal poll reply", &err);
}

static void handle_poll(struct coord *c, ebb_wire_request *req, const ebb_key_id *signer,
                        const Ebb__Poll *p)
{
    pthread_mutex_lock(&c->mutex);
    if (!c->listening) {
        /* The listener is closing: the request is dropped with it, never parked. */
        pthread_mutex_unlock(&c->mutex);
        return;
    }
    struct agent *a = agent_by_key(c, signer);
    c->polls++;
    if (a == NULL || strcmp(a->id, p->agent_id) != 0 ||
        a->state != EBB__ENROLLMENT_STATE__ENROLL_ACCEPTED) {
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->mutex);
        Ebb__PollReply pr = EBB__POLL_REPLY__INIT;
        pr.has_resend_hello = true;
        pr.resend_hello = true;
        reply_body(c, req, signer, EBB__BODY_TYPE__BODY_POLL_REPLY, &pr.base);
        return;
    }
    a->polls++;
    json_t *j = json_object();
    json_t *running = json_array(), *queued = json_array();
    for (size_t i = 0; i < p->n_running_job_ids; i++)
        json_array_append_new(running, json_string(p->running_job_ids[i]));
    for (size_t i = 0; i < p->n_queued_job_ids; i++)
        json_array_append_new(queued, json_string(p->queued_job_ids[i]));
    json_object_set_new(j, "running", running);
    json_object_set_new(j, "queued", queued);
    json_object_set_new(j, "wait_ms", json_integer(p->has_wait_ms ? p->wait_ms : 0));
    json_object_set_new(j, "undelivered_results",
                        json_integer(p->has_undelivered_results ? p->undelivered_results : 0));
    json_decref(a->last_poll);
    a->last_poll = j;
    uint8_t *out = NULL;
    size_t len = 0;
    bool now = take_reply(c, a, &out, &len);
    ebb_wire_request *old = NULL;
    if (!now) {
        old = a->held; /* a newer poll replaces a parked one */
        uint32_t wait = p->has_wait_ms ? p->wait_ms : 0;
        if (wait > c->wait_ms)
            wait = c->wait_ms;
        a->held = req;
        a->held_until_ms = ebb_proto_now_ms() + wait;
    }
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mutex);
    if (old != NULL) {
        uint8_t *e = NULL;
        size_t elen = 0;
        seal_empty(c, signer, &e, &elen);
        if (ebb_wire_reply(old, e, elen, NULL) != EBB_OK)
            fprintf(stderr, "ebb-test-fake-coordinator: reply to a replaced poll failed\n");
        free(e);
    }
    if (now) {
        ebb_error err;
        if (ebb_wire_reply(req, out, len, &err) != EBB_OK)
            fprintf(stderr, "ebb-test-fake-coordinator: reply: %s\n", err.msg);
        free(out);
    }
}

static void handle_result(struct coord *c, ebb_wire_request *req, const ebb_key_id *signer,
                          const Ebb__JobResult *r)
{
    pthread_mutex_lock(&c->mutex);
    struct result *res = result_get(c, r->job_id, true);
    c->results_total++;
    if (res != NULL) {
        if (res->first == NULL)
            res->first = ebb_proto_result_json(r);
        res->deliveries++;
    }
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mutex);
    Ebb__Ack ack = EBB__ACK__INIT;
    ack.has_accepted = true;
    ack.accepted = true;
    ack.job_id = r->job_id;
    reply_body(c, req, signer, EBB__BODY_TYPE__BODY_ACK, &ack.base);
}

static void handle_progress(struct coord *c, ebb_wire_request *req, const ebb_key_id *signer,
                            const Ebb__JobProgress *p)
{
    pthread_mutex_lock(&c->mutex);
    struct result *res = result_get(c, p->job_id, true);
    c->progress_total++;
    if (res != NULL) {
        json_decref(res->last_progress);
        res->last_progress = json_pack("{s:s,s:s?,s:i,s:i,s:I,s:s?}", "job_id", p->job_id, "step",
                                       p->step, "done", (int)p->done, "total", (int)p->total,
                                       "bytes", (json_int_t)p->bytes, "message", p->message);
        res->progress++;
    }
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mutex);
    Ebb__Ack ack = EBB__ACK__INIT;
    ack.has_accepted = true;
    ack.accepted = true;
    ack.job_id = p->job_id;
    reply_body(c, req, signer, EBB__BODY_TYPE__BODY_ACK, &ack.base);
}

static void handler(void *ctx, ebb_wire_request *req, const uint8_t *data, size_t len)
{
    struct coord *c = ctx;
    ebb_key_id claimed;
    if (ebb_envelope_peek_signer(data, len, MAX_ENVELOPE, &claimed) &&
        ebb_keyring_lookup(c->ring, &claimed, NULL, NULL, 0) == EBB_KEY_UNKNOWN)
        learn_hello_key(c, data, len);
    ebb_open_ctx oc = {
        .max_size = MAX_ENVELOPE,
        .self_id = ebb_secret_key_id(c->key),
        .lookup = ebb_keyring_lookup_fn,
        .lookup_ctx = c->ring,
        .replay = c->replay,
        .now_ms = ebb_proto_now_ms(),
        .max_skew_ms = SKEW_MS,
        .version = EBB_PROTOCOL_VERSION,
    };
    ebb_opened m;
    ebb_error err;
    ebb_code rc = ebb_envelope_open(&oc, data, len, &m, &err);
    if (rc != EBB_OK) {
        pthread_mutex_lock(&c->mutex);
        c->rejected[rc]++;
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->mutex);
        fprintf(stderr, "ebb-test-fake-coordinator: rejected: %s\n", err.msg);
        if (!ebb_envelope_peek_signer(data, len, MAX_ENVELOPE, &claimed))
            memset(&claimed, 0, sizeof claimed);
        reply_error(c, req, &claimed, rc, err.msg);
        return;
    }
    const ProtobufCMessageDescriptor *d = ebb_proto_body_descriptor(m.body_type);
    ProtobufCMessage *body = NULL;
    if (d == NULL ||
        ebb_proto_unpack(d, m.body, m.body_len, "request body", &body, &err) != EBB_OK) {
        pthread_mutex_lock(&c->mutex);
        c->rejected_bodies++;
        pthread_mutex_unlock(&c->mutex);
        reply_error(c, req, &m.signer, EBB_E_ENV_MALFORMED, "unreadable body");
        ebb_opened_fini(&m);
        return;
    }
    switch (m.body_type) {
    case EBB__BODY_TYPE__BODY_AGENT_HELLO:
        handle_hello(c, req, &m.signer, (const Ebb__AgentHello *)body);
        break;
    case EBB__BODY_TYPE__BODY_POLL:
        handle_poll(c, req, &m.signer, (const Ebb__Poll *)body);
        break;
    case EBB__BODY_TYPE__BODY_JOB_RESULT:
        handle_result(c, req, &m.signer, (const Ebb__JobResult *)body);
        break;
    case EBB__BODY_TYPE__BODY_JOB_PROGRESS:
        handle_progress(c, req, &m.signer, (const Ebb__JobProgress *)body);
        break;
    default:
        pthread_mutex_lock(&c->mutex);
        c->rejected_bodies++;
        pthread_mutex_unlock(&c->mutex);
        reply_error(c, req, &m.signer, EBB_E_INVALID, "unexpected body type");
    }
    protobuf_c_message_free_unpacked(body, NULL);
    ebb_opened_fini(&m);
}

/* Reply to parked polls that are due (deadline) or have work (force). */
static void flush_held(struct coord *c, bool only_due)
{
    pthread_rwlock_rdlock(&c->server_lock);
    for (;;) {
        ebb_wire_request *req = NULL;
        uint8_t *out = NULL;
        size_t len = 0;
        pthread_mutex_lock(&c->mutex);
        int64_t now = ebb_proto_now_ms();
        for (size_t i = 0; i < c->n_agents && req == NULL; i++) {
            struct agent *a = &c->agents[i];
            if (a->held == NULL)
                continue;
            if (take_reply(c, a, &out, &len) || (only_due && now >= a->held_until_ms)) {
                if (out == NULL)
                    seal_empty(c, &a->key_id, &out, &len);
                req = a->held;
                a->held = NULL;
            }
        }
        pthread_mutex_unlock(&c->mutex);
        if (req == NULL)
            break;
        ebb_error err;
        if (ebb_wire_reply(req, out, len, &err) != EBB_OK)
            fprintf(stderr, "ebb-test-fake-coordinator: reply: %s\n", err.msg);
        free(out);
    }
    pthread_rwlock_unlock(&c->server_lock);
}

static void *ticker(void *arg)
{
    struct coord *c = arg;
    while (!c->quit) {
        flush_held(c, true);
        nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    }
    return NULL;
}

static void listen_start(struct coord *c)
{
    ebb_wire_server *srv = NULL;
    ebb_error err;
    ebb_wire_server_opts wo = {.recv_max = MAX_ENVELOPE, .contexts = 16};
    if (ebb_wire_server_open(c->url, &wo, handler, c, &srv, &err) != EBB_OK)
        die("listen", &err);
    pthread_mutex_lock(&c->mutex);
    c->server = srv;
    c->listening = true;
    pthread_mutex_unlock(&c->mutex);
}

static void listen_stop(struct coord *c)
{
    pthread_rwlock_wrlock(&c->server_lock);
    pthread_mutex_lock(&c->mutex);
    ebb_wire_server *srv = c->server;
    c->server = NULL;
    c->listening = false;
    for (size_t i = 0; i < c->n_agents; i++)
        c->agents[i].held = NULL; /* dropped by the close below */
    pthread_mutex_unlock(&c->mutex);
    ebb_wire_server_close(srv);
    pthread_rwlock_unlock(&c->server_lock);
}

/* ---- commands ---- */

/* Value of key=... among the tokens, or NULL. */
static const char *kv(char **tok, int n, const char *key)
{
    size_t kl = strlen(key);
    for (int i = 1; i < n; i++)
        if (strncmp(tok[i], key, kl) == 0 && tok[i][kl] == '=')
            return tok[i] + kl + 1;
    return NULL;
}

static void cmd_send(struct coord *c, char **tok, int n, bool forged)
{
    const char *job = kv(tok, n, "job"), *run = kv(tok, n, "run"), *action = kv(tok, n, "action");
    const char *to = kv(tok, n, "to");
    Ebb__JobAction act = EBB__JOB_ACTION__ACTION_NONE;
    if (job == NULL || run == NULL || action == NULL) {
        emit_error("send needs job=, run= and action=");
        return;
    }
    /* An unknown action name goes out as its number (tests of the agent's check). */
    if (ebb_proto_action_parse(action, &act, NULL) != EBB_OK)
        act = (Ebb__JobAction)atoi(action);
    Ebb__JobCommand jc = EBB__JOB_COMMAND__INIT;
    jc.job_id = (char *)job;
    jc.run_id = (char *)run;
    jc.action = act;
    jc.database = (char *)kv(tok, n, "db");
    jc.target = (char *)kv(tok, n, "target");
    jc.backup_id = (char *)kv(tok, n, "backup");
    jc.cancel_job_id = (char *)kv(tok, n, "cancel");
    jc.reason = (char *)kv(tok, n, "reason");
    jc.operator_key_id = "0123456789abcdef";
    if (kv(tok, n, "prepare") != NULL)
        jc.has_prepare = true, jc.prepare = true;
    if (kv(tok, n, "data_loss") != NULL)
        jc.has_accept_data_loss = true, jc.accept_data_loss = true;
    if (kv(tok, n, "timeout") != NULL)
        jc.has_timeout_ms = true, jc.timeout_ms = (uint32_t)atol(kv(tok, n, "timeout"));
    pthread_mutex_lock(&c->mutex);
    struct agent *a = to != NULL ? agent_find(c, to) : (c->n_agents > 0 ? &c->agents[0] : NULL);
    if (a == NULL) {
        pthread_mutex_unlock(&c->mutex);
        emit_error("no such agent");
        return;
    }
    uint8_t *packed = NULL;
    size_t plen = 0;
    ebb_error err;
    if (forged) {
        /* A PollReply carrying the job, signed by a key the agent never pinned. */
        Ebb__PollReply pr = EBB__POLL_REPLY__INIT;
        Ebb__JobCommand *jobs[1] = {&jc};
        pr.jobs = jobs;
        pr.n_jobs = 1;
        free(a->raw_next);
        if (ebb_sealer_seal(&c->forge_sealer, &a->key_id, EBB__BODY_TYPE__BODY_POLL_REPLY, &pr.base,
                            &a->raw_next, &a->raw_next_len, &err) != EBB_OK)
            die("forge", &err);
    } else if (a->n_queue == MAX_JOBS || ebb_proto_pack(&jc.base, &packed, &plen, &err) != EBB_OK) {
        pthread_mutex_unlock(&c->mutex);
        emit_error("queue full");
        return;
    } else {
        a->queue[a->n_queue] = packed;
        a->queue_len[a->n_queue++] = plen;
    }
    pthread_mutex_unlock(&c->mutex);
    flush_held(c, false);
    emit(json_pack("{s:b,s:s,s:s}", "ok", 1, "job_id", job, "to", a->id));
}

static void cmd_replay(struct coord *c, const char *job)
{
    pthread_mutex_lock(&c->mutex);
    struct sent_reply *s = NULL;
    for (size_t i = 0; i < c->n_sent; i++)
        if (strcmp(c->sent[i].job_id, job) == 0)
            s = &c->sent[i];
    struct agent *a = c->n_agents > 0 ? &c->agents[0] : NULL;
    if (s == NULL || a == NULL) {
        pthread_mutex_unlock(&c->mutex);
        emit_error("no sent reply carried that job");
        return;
    }
    free(a->raw_next);
    a->raw_next = malloc(s->len);
    memcpy(a->raw_next, s->bytes, s->len);
    a->raw_next_len = s->len;
    pthread_mutex_unlock(&c->mutex);
    flush_held(c, false);
    emit(json_pack("{s:b,s:s}", "ok", 1, "replayed", job));
}

/* Wait (under mutex) until pred holds or timeout; true when it holds. */
static bool wait_until(struct coord *c, long timeout_ms, bool (*pred)(struct coord *, void *),
                       void *arg)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L)
        dl.tv_sec++, dl.tv_nsec -= 1000000000L;
    while (!pred(c, arg))
        if (pthread_cond_timedwait(&c->cond, &c->mutex, &dl) != 0)
            return pred(c, arg);
    return true;
}

struct count_arg {
    const char *id;
    long n;
    int what; /* 0 hellos, 1 polls, 2 result, 3 progress */
};

static bool count_reached(struct coord *c, void *arg)
{
    struct count_arg *ca = arg;
    if (ca->what >= 2) {
        struct result *r = result_get(c, ca->id, false);
        return r != NULL && (ca->what == 2 ? r->deliveries : r->progress) >= ca->n;
    }
    struct agent *a = agent_find(c, ca->id);
    return a != NULL && (ca->what == 0 ? a->hellos : a->polls) >= ca->n;
}

static void cmd_wait(struct coord *c, char **tok, int n, int what)
{
    if (n < (what >= 2 ? 3 : 4)) {
        emit_error("usage: wait-hello|wait-poll AGENT N MS, wait-result|wait-progress JOB MS");
        return;
    }
    struct count_arg ca = {tok[1], what >= 2 ? 1 : atol(tok[2]), what};
    long ms = atol(tok[what >= 2 ? 2 : 3]);
    pthread_mutex_lock(&c->mutex);
    bool ok = wait_until(c, ms, count_reached, &ca);
    json_t *o;
    if (!ok) {
        o = json_pack("{s:b,s:s,s:s}", "ok", 0, "error", "timeout", "waited_for", tok[1]);
    } else if (what >= 2) {
        struct result *r = result_get(c, tok[1], false);
        json_t *body = what == 2 ? r->first : r->last_progress;
        o = json_pack("{s:b,s:O,s:I}", "ok", 1, what == 2 ? "result" : "progress", body,
                      what == 2 ? "deliveries" : "count",
                      (json_int_t)(what == 2 ? r->deliveries : r->progress));
    } else {
        struct agent *a = agent_find(c, tok[1]);
        json_t *body = what == 0 ? a->last_hello : a->last_poll;
        o = json_pack("{s:b,s:O,s:I}", "ok", 1, what == 0 ? "hello" : "poll", body, "count",
                      (json_int_t)(what == 0 ? a->hellos : a->polls));
    }
    pthread_mutex_unlock(&c->mutex);
    emit(o);
}

static void cmd_status(struct coord *c)
{
    pthread_mutex_lock(&c->mutex);
    json_t *rej = json_object();
    for (int i = 0; i < EBB_E__COUNT; i++)
        if (c->rejected[i] > 0)
            json_object_set_new(rej, ebb_code_name((ebb_code)i), json_integer(c->rejected[i]));
    json_t *res = json_object();
    for (size_t i = 0; i < c->n_results; i++)
        json_object_set_new(res, c->results[i].job_id, json_integer(c->results[i].deliveries));
    json_t *o =
        json_pack("{s:b,s:I,s:I,s:I,s:I,s:o,s:I,s:o,s:b}", "ok", 1, "hellos", (json_int_t)c->hellos,
                  "polls", (json_int_t)c->polls, "results", (json_int_t)c->results_total,
                  "progress", (json_int_t)c->progress_total, "rejected", rej, "rejected_bodies",
                  (json_int_t)c->rejected_bodies, "deliveries", res, "listening", c->listening);
    pthread_mutex_unlock(&c->mutex);
    emit(o);
}

static void cmd_enroll(struct coord *c, const char *id, Ebb__EnrollmentState st)
{
    pthread_mutex_lock(&c->mutex);
    struct agent *a = agent_find(c, id);
    if (a != NULL)
        a->state = st;
    pthread_mutex_unlock(&c->mutex);
    if (a == NULL) {
        emit_error("no such agent (it has not said hello)");
        return;
    }
    if (st == EBB__ENROLLMENT_STATE__ENROLL_REVOKED &&
        ebb_keyring_revoke(c->ring, &a->key_id, NULL) != EBB_OK)
        fprintf(stderr, "ebb-test-fake-coordinator: revoke failed\n");
    emit(json_pack("{s:b,s:s,s:s}", "ok", 1, "agent", id, "state", ebb_proto_enroll_name(st)));
}

static void run_commands(struct coord *c)
{
    char line[4096];
    while (!c->quit && fgets(line, sizeof line, stdin) != NULL) {
        char *tok[32];
        int n = 0;
        for (char *save = NULL, *t = strtok_r(line, " \t\r\n", &save); t != NULL && n < 32;
             t = strtok_r(NULL, " \t\r\n", &save))
            tok[n++] = t;
        if (n == 0)
            continue;
        if (strcmp(tok[0], "accept") == 0 && n == 2)
            cmd_enroll(c, tok[1], EBB__ENROLLMENT_STATE__ENROLL_ACCEPTED);
        else if (strcmp(tok[0], "revoke") == 0 && n == 2)
            cmd_enroll(c, tok[1], EBB__ENROLLMENT_STATE__ENROLL_REVOKED);
        else if (strcmp(tok[0], "send") == 0)
            cmd_send(c, tok, n, false);
        else if (strcmp(tok[0], "forge") == 0)
            cmd_send(c, tok, n, true);
        else if (strcmp(tok[0], "replay") == 0 && n == 2)
            cmd_replay(c, tok[1]);
        else if (strcmp(tok[0], "wait-hello") == 0)
            cmd_wait(c, tok, n, 0);
        else if (strcmp(tok[0], "wait-poll") == 0)
            cmd_wait(c, tok, n, 1);
        else if (strcmp(tok[0], "wait-result") == 0)
            cmd_wait(c, tok, n, 2);
        else if (strcmp(tok[0], "wait-progress") == 0)
            cmd_wait(c, tok, n, 3);
        else if (strcmp(tok[0], "status") == 0)
            cmd_status(c);
        else if (strcmp(tok[0], "stop") == 0) {
            listen_stop(c);
            emit(json_pack("{s:b,s:b}", "ok", 1, "listening", 0));
        } else if (strcmp(tok[0], "start") == 0) {
            listen_start(c);
            emit(json_pack("{s:b,s:b}", "ok", 1, "listening", 1));
        } else if (strcmp(tok[0], "quit") == 0) {
            emit(json_pack("{s:b}", "ok", 1));
            break;
        } else
            emit_error("unknown command");
    }
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"url", required_argument, NULL, 'u'},
        {"key", required_argument, NULL, 'k'},
        {"replay", required_argument, NULL, 'r'},
        {"wait-ms", required_argument, NULL, 'w'},
        {NULL, 0, NULL, 0},
    };
    struct coord c = {.wait_ms = 5000};
    const char *key = NULL, *replay = NULL;
    int o;
    while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        if (o == 'u')
            c.url = optarg;
        else if (o == 'k')
            key = optarg;
        else if (o == 'r')
            replay = optarg;
        else if (o == 'w')
            c.wait_ms = (uint32_t)atol(optarg);
        else
            goto usage;
    }
    if (c.url == NULL || key == NULL)
        goto usage;
    signal(SIGPIPE, SIG_IGN);
    ebb_error err;
    if (ebb_secret_key_load(key, &c.key, &err) != EBB_OK ||
        ebb_secret_key_generate(&c.forger, &err) != EBB_OK ||
        ebb_keyring_alloc(&c.ring, &err) != EBB_OK ||
        ebb_replay_open(replay, &c.replay, &err) != EBB_OK)
        die("setup", &err);
    ebb_sealer_init(&c.sealer, c.key, TTL_MS);
    ebb_sealer_init(&c.forge_sealer, c.forger, TTL_MS);
    pthread_mutex_init(&c.mutex, NULL);
    pthread_cond_init(&c.cond, NULL);
    pthread_rwlock_init(&c.server_lock, NULL);
    listen_start(&c);
    pthread_t tick;
    pthread_create(&tick, NULL, ticker, &c);
    run_commands(&c);
    c.quit = true;
    pthread_join(tick, NULL);
    listen_stop(&c);
    for (size_t i = 0; i < c.n_agents; i++) {
        json_decref(c.agents[i].last_hello);
        json_decref(c.agents[i].last_poll);
        free(c.agents[i].raw_next);
        for (size_t j = 0; j < c.agents[i].n_queue; j++)
            free(c.agents[i].queue[j]);
    }
    for (size_t i = 0; i < c.n_sent; i++)
        free(c.sent[i].bytes);
    for (size_t i = 0; i < c.n_results; i++) {
        json_decref(c.results[i].first);
        json_decref(c.results[i].last_progress);
    }
    ebb_sealer_fini(&c.sealer);
    ebb_sealer_fini(&c.forge_sealer);
    ebb_replay_close(c.replay);
    ebb_keyring_free(c.ring);
    ebb_secret_key_free(c.key);
    ebb_secret_key_free(c.forger);
    return 0;
usage:
    fprintf(stderr, "Usage: ebb-test-fake-coordinator --url URL --key KEY [--replay FILE] "
                    "[--wait-ms N]\n  (commands on stdin; see the source's header)\n");
    return 2;
}
