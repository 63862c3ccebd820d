/*
 * ebb-test-wire-peer: both ends of the loopback wire test.
 *   serve   REP server that opens every request with the envelope code and
 *           counts deliveries and rejections; prints them as JSON on exit.
 *   send    seals N TestPayload messages, sends them one by one, checks acks.
 *   inject  sends forged, replayed, stale, oversized and garbage messages and
 *           checks that each is refused with the expected code.
 */
#include <errno.h>
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
#include "common/replay.h"
#include "common/wire.h"
#include "ebb.pb-c.h"

#define TTL_MS 60000
#define SKEW_MS 30000
#define CALL_TIMEOUT_MS 5000
#define MAX_KEYS 16

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void die(const char *what, const ebb_error *err)
{
    fprintf(stderr, "ebb-test-wire-peer: %s: %s\n", what, err->msg);
    exit(1);
}

static void usage(void)
{
    fprintf(stderr,
            "Usage:\n"
            "  ebb-test-wire-peer serve  --url URL --key KEY [--trust PUB]... [--revoked PUB]...\n"
            "                            [--replay FILE] [--max-envelope N] [--recv-max N]\n"
            "                            [--contexts N]\n"
            "  ebb-test-wire-peer send   --url URL --key KEY --server-pub PUB --count N\n"
            "                            [--capture FILE] [--capture-count K] [--shutdown]\n"
            "  ebb-test-wire-peer inject --url URL --key KEY --server-pub PUB --unknown-key KEY\n"
            "                            [--revoked-key KEY] [--capture FILE]\n"
            "                            [--max-envelope N] [--recv-max N]\n");
    exit(2);
}

/* Everything a mode can be given; each mode uses its part. */
struct opts {
    const char *url, *key, *server_pub, *unknown_key, *revoked_key, *capture, *replay;
    const char *trust[MAX_KEYS], *revoked[MAX_KEYS];
    int ntrust, nrevoked;
    long count, capture_count, contexts;
    size_t max_envelope, recv_max;
    bool shutdown;
};

static void parse_opts(int argc, char **argv, struct opts *o)
{
    static const struct option lo[] = {
        {"url", required_argument, NULL, 'u'},
        {"key", required_argument, NULL, 'k'},
        {"server-pub", required_argument, NULL, 'p'},
        {"unknown-key", required_argument, NULL, 'U'},
        {"revoked-key", required_argument, NULL, 'R'},
        {"capture", required_argument, NULL, 'c'},
        {"capture-count", required_argument, NULL, 'C'},
        {"replay", required_argument, NULL, 'r'},
        {"trust", required_argument, NULL, 't'},
        {"revoked", required_argument, NULL, 'v'},
        {"count", required_argument, NULL, 'n'},
        {"contexts", required_argument, NULL, 'x'},
        {"max-envelope", required_argument, NULL, 'm'},
        {"recv-max", required_argument, NULL, 'M'},
        {"shutdown", no_argument, NULL, 's'},
        {NULL, 0, NULL, 0},
    };
    *o = (struct opts){.count = 0,
                       .capture_count = 5,
                       .max_envelope = 64 * 1024,
                       .recv_max = 256 * 1024,
                       .contexts = 16};
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'u':
            o->url = optarg;
            break;
        case 'k':
            o->key = optarg;
            break;
        case 'p':
            o->server_pub = optarg;
            break;
        case 'U':
            o->unknown_key = optarg;
            break;
        case 'R':
            o->revoked_key = optarg;
            break;
        case 'c':
            o->capture = optarg;
            break;
        case 'C':
            o->capture_count = strtol(optarg, NULL, 10);
            break;
        case 'r':
            o->replay = optarg;
            break;
        case 't':
            if (o->ntrust == MAX_KEYS)
                usage();
            o->trust[o->ntrust++] = optarg;
            break;
        case 'v':
            if (o->nrevoked == MAX_KEYS)
                usage();
            o->revoked[o->nrevoked++] = optarg;
            break;
        case 'n':
            o->count = strtol(optarg, NULL, 10);
            break;
        case 'x':
            o->contexts = strtol(optarg, NULL, 10);
            break;
        case 'm':
            o->max_envelope = strtoul(optarg, NULL, 10);
            break;
        case 'M':
            o->recv_max = strtoul(optarg, NULL, 10);
            break;
        case 's':
            o->shutdown = true;
            break;
        default:
            usage();
        }
    }
    if (o->url == NULL || o->key == NULL)
        usage();
}

static ebb_secret_key *load_key(const char *path)
{
    ebb_secret_key *key = NULL;
    ebb_error err;
    if (ebb_secret_key_load(path, &key, &err) != EBB_OK)
        die("load key", &err);
    return key;
}

static ebb_public_key load_pub(const char *path)
{
    ebb_public_key pk;
    ebb_error err;
    if (ebb_public_key_load(path, &pk, &err) != EBB_OK)
        die("load public key", &err);
    return pk;
}

/* ---- serve ---- */

struct server {
    ebb_secret_key *key;
    ebb_keyring *ring;
    ebb_replay *replay;
    size_t max_envelope;
    pthread_mutex_t mutex; /* guards everything below */
    uint64_t reply_seq;
    long delivered, delivered_injected, control;
    long rejected[EBB_E__COUNT];
    json_t *by_signer; /* key id hex -> delivered count */
};

static volatile sig_atomic_t stop_signal;
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    stop_signal = sig;
}

/* Seal body for `to` with the server's key and reply; failures are fatal. */
static void reply_sealed(struct server *s, ebb_wire_request *req, const ebb_key_id *to,
                         uint32_t type, const uint8_t *body, size_t len)
{
    pthread_mutex_lock(&s->mutex);
    s->reply_seq = ebb_seq_next(s->reply_seq, now_us());
    uint64_t seq = s->reply_seq;
    pthread_mutex_unlock(&s->mutex);
    ebb_seal_args a = {s->key, to, seq, now_ms(), TTL_MS, type, body, len};
    uint8_t *out = NULL;
    size_t out_len = 0;
    ebb_error err;
    if (ebb_envelope_seal(&a, &out, &out_len, &err) != EBB_OK)
        die("seal reply", &err);
    if (ebb_wire_reply(req, out, out_len, &err) != EBB_OK)
        fprintf(stderr, "ebb-test-wire-peer: reply: %s\n", err.msg);
    free(out);
}

static void reply_error(struct server *s, ebb_wire_request *req, const ebb_key_id *to,
                        ebb_code code, const char *msg)
{
    Ebb__Error e = EBB__ERROR__INIT;
    e.code = (char *)ebb_code_name(code);
    e.message = (char *)msg;
    size_t len = ebb__error__get_packed_size(&e);
    uint8_t *buf = malloc(len);
    ebb__error__pack(&e, buf);
    reply_sealed(s, req, to, EBB__BODY_TYPE__BODY_ERROR, buf, len);
    free(buf);
}

static void serve_handler(void *ctx, ebb_wire_request *req, const uint8_t *data, size_t len)
{
    struct server *s = ctx;
    ebb_open_ctx oc = {
        .max_size = s->max_envelope,
        .self_id = ebb_secret_key_id(s->key),
        .lookup = ebb_keyring_lookup_fn,
        .lookup_ctx = s->ring,
        .replay = s->replay,
        .now_ms = now_ms(),
        .max_skew_ms = SKEW_MS,
        .version = EBB_PROTOCOL_VERSION,
    };
    ebb_opened m;
    ebb_error err;
    ebb_code rc = ebb_envelope_open(&oc, data, len, &m, &err);
    if (rc != EBB_OK) {
        /* Address the error to whoever the message claims to be (unauthenticated). */
        ebb_key_id to;
        if (!ebb_envelope_peek_signer(data, len, s->max_envelope, &to))
            memset(&to, 0, sizeof to);
        pthread_mutex_lock(&s->mutex);
        s->rejected[rc]++;
        pthread_mutex_unlock(&s->mutex);
        reply_error(s, req, &to, rc, err.msg);
        return;
    }
    Ebb__TestPayload *tp = NULL;
    if (m.body_type == EBB__BODY_TYPE__BODY_TEST_PAYLOAD)
        tp = ebb__test_payload__unpack(NULL, m.body_len, m.body);
    if (tp == NULL) {
        pthread_mutex_lock(&s->mutex);
        s->rejected[EBB_E_INVALID]++;
        pthread_mutex_unlock(&s->mutex);
        reply_error(s, req, &m.signer, EBB_E_INVALID, "expected a TestPayload body");
        ebb_opened_fini(&m);
        return;
    }
    char hex[EBB_KEY_ID_HEX_SIZE];
    ebb_key_id_hex(&m.signer, hex);
    pthread_mutex_lock(&s->mutex);
    if (tp->has_shutdown && tp->shutdown) {
        s->control++;
    } else {
        s->delivered++;
        if (tp->tag != NULL && strcmp(tp->tag, "injected") == 0)
            s->delivered_injected++;
        json_t *n = json_object_get(s->by_signer, hex);
        json_object_set_new(s->by_signer, hex,
                            json_integer(n != NULL ? json_integer_value(n) + 1 : 1));
    }
    pthread_mutex_unlock(&s->mutex);

    Ebb__Ack ack = EBB__ACK__INIT;
    ack.has_accepted = true;
    ack.accepted = true;
    uint8_t buf[64];
    size_t blen = ebb__ack__pack(&ack, buf);
    reply_sealed(s, req, &m.signer, EBB__BODY_TYPE__BODY_ACK, buf, blen);
    if (tp->has_shutdown && tp->shutdown)
        stop_requested = 1;
    ebb__test_payload__free_unpacked(tp, NULL);
    ebb_opened_fini(&m);
}

static int run_serve(const struct opts *o)
{
    struct server s = {.max_envelope = o->max_envelope, .mutex = PTHREAD_MUTEX_INITIALIZER};
    ebb_error err;
    s.key = load_key(o->key);
    if (ebb_keyring_alloc(&s.ring, &err) != EBB_OK)
        die("keyring", &err);
    for (int i = 0; i < o->ntrust + o->nrevoked; i++) {
        const char *path = i < o->ntrust ? o->trust[i] : o->revoked[i - o->ntrust];
        ebb_public_key pk = load_pub(path);
        if (ebb_keyring_add(s.ring, &pk, path, &err) != EBB_OK)
            die("trust", &err);
        ebb_key_id id;
        ebb_key_id_of(&pk, &id);
        if (i >= o->ntrust && ebb_keyring_revoke(s.ring, &id, &err) != EBB_OK)
            die("revoke", &err);
    }
    if (ebb_replay_open(o->replay, &s.replay, &err) != EBB_OK)
        die("replay store", &err);
    s.by_signer = json_object();

    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    ebb_wire_server *srv = NULL;
    ebb_wire_server_opts wo = {.recv_max = o->recv_max, .contexts = (int)o->contexts};
    if (ebb_wire_server_open(o->url, &wo, serve_handler, &s, &srv, &err) != EBB_OK)
        die("listen", &err);
    fprintf(stderr, "ebb-test-wire-peer: serving on %s\n", o->url);
    while (!stop_signal && !stop_requested)
        nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    /* Let the shutdown ack leave before the socket closes. */
    if (stop_requested)
        nanosleep(&(struct timespec){0, 200 * 1000 * 1000}, NULL);
    ebb_wire_server_close(srv);

    json_t *rej = json_object();
    long total_rejected = 0;
    for (int c = 0; c < EBB_E__COUNT; c++) {
        if (s.rejected[c] == 0)
            continue;
        json_object_set_new(rej, ebb_code_name((ebb_code)c), json_integer(s.rejected[c]));
        total_rejected += s.rejected[c];
    }
    json_t *report = json_pack(
        "{s:I,s:I,s:I,s:I,s:o,s:o,s:s}", "delivered", (json_int_t)s.delivered, "delivered_injected",
        (json_int_t)s.delivered_injected, "control", (json_int_t)s.control, "rejected_total",
        (json_int_t)total_rejected, "rejected", rej, "delivered_by_signer", s.by_signer,
        "stopped_by", stop_requested ? "shutdown-message" : "signal");
    json_dumpf(report, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
    json_decref(report);
    ebb_replay_close(s.replay);
    ebb_keyring_free(s.ring);
    ebb_secret_key_free(s.key);
    return 0;
}

/* ---- client side (send, inject) ---- */

struct client {
    ebb_secret_key *key;
    ebb_public_key server_pk;
    ebb_key_id server_id;
    ebb_keyring *ring; /* trusts the server only */
    ebb_replay *replay;
    ebb_wire_client *wire;
    uint64_t seq;
};

static void client_init(struct client *c, const struct opts *o, size_t recv_max)
{
    ebb_error err;
    if (o->server_pub == NULL)
        usage();
    c->key = load_key(o->key);
    c->server_pk = load_pub(o->server_pub);
    ebb_key_id_of(&c->server_pk, &c->server_id);
    if (ebb_keyring_alloc(&c->ring, &err) != EBB_OK ||
        ebb_keyring_add(c->ring, &c->server_pk, "server", &err) != EBB_OK ||
        ebb_replay_open(NULL, &c->replay, &err) != EBB_OK)
        die("client setup", &err);
    ebb_wire_client_opts wo = {
        .recv_max = recv_max, .reconnect_min_ms = 20, .reconnect_max_ms = 500};
    if (ebb_wire_client_open(o->url, &wo, &c->wire, &err) != EBB_OK)
        die("dial", &err);
}

static void client_fini(struct client *c)
{
    ebb_wire_client_close(c->wire);
    ebb_replay_close(c->replay);
    ebb_keyring_free(c->ring);
    ebb_secret_key_free(c->key);
}

static uint8_t *pack_payload(uint64_t counter, const char *tag, bool shutdown, size_t pad,
                             size_t *len)
{
    Ebb__TestPayload tp = EBB__TEST_PAYLOAD__INIT;
    tp.counter = counter;
    tp.tag = (char *)tag;
    tp.has_shutdown = shutdown;
    tp.shutdown = shutdown;
    uint8_t *padding = NULL;
    if (pad > 0) {
        padding = calloc(1, pad);
        tp.has_data = true;
        tp.data = (ProtobufCBinaryData){pad, padding};
    }
    *len = ebb__test_payload__get_packed_size(&tp);
    uint8_t *buf = malloc(*len > 0 ? *len : 1);
    ebb__test_payload__pack(&tp, buf);
    free(padding);
    return buf;
}

/* Seal a TestPayload from `signer` to `to` at time `at`. */
static uint8_t *seal_payload(struct client *c, const ebb_secret_key *signer, const ebb_key_id *to,
                             int64_t at, uint64_t counter, const char *tag, bool shutdown,
                             size_t pad, size_t *len)
{
    size_t blen = 0;
    uint8_t *body = pack_payload(counter, tag, shutdown, pad, &blen);
    c->seq = ebb_seq_next(c->seq, now_us());
    ebb_seal_args a = {signer, to,  c->seq, at, TTL_MS, EBB__BODY_TYPE__BODY_TEST_PAYLOAD,
                       body,   blen};
    uint8_t *out = NULL;
    ebb_error err;
    if (ebb_envelope_seal(&a, &out, len, &err) != EBB_OK)
        die("seal", &err);
    free(body);
    return out;
}

/*
 * Send and open the signed reply, which must be addressed to self. Returns
 * the transport or reply-check result; on success
 * *code is "ack" or the Error body's code (static or in buf of size n).
 */
static ebb_code call(struct client *c, const uint8_t *msg, size_t len, const ebb_key_id *self,
                     char *code, size_t n, int timeout_ms, ebb_error *err)
{
    uint8_t *reply = NULL;
    size_t rlen = 0;
    ebb_code rc = ebb_wire_client_call(c->wire, msg, len, timeout_ms, &reply, &rlen, err);
    if (rc != EBB_OK)
        return rc;
    ebb_open_ctx oc = {
        .max_size = EBB_WIRE_RECV_MAX_DEFAULT,
        .self_id = self,
        .lookup = ebb_keyring_lookup_fn,
        .lookup_ctx = c->ring,
        .replay = c->replay,
        .now_ms = now_ms(),
        .max_skew_ms = SKEW_MS,
        .version = EBB_PROTOCOL_VERSION,
    };
    ebb_opened m;
    rc = ebb_envelope_open(&oc, reply, rlen, &m, err);
    free(reply);
    if (rc != EBB_OK) {
        ebb_error_prefix(err, "reply");
        return rc;
    }
    if (m.body_type == EBB__BODY_TYPE__BODY_ACK) {
        snprintf(code, n, "ack");
    } else if (m.body_type == EBB__BODY_TYPE__BODY_ERROR) {
        Ebb__Error *e = ebb__error__unpack(NULL, m.body_len, m.body);
        snprintf(code, n, "%s", e != NULL ? e->code : "(bad error body)");
        if (e != NULL)
            ebb__error__free_unpacked(e, NULL);
    } else {
        snprintf(code, n, "(body type %u)", m.body_type);
    }
    ebb_opened_fini(&m);
    return EBB_OK;
}

static void capture_write(FILE *f, const uint8_t *msg, size_t len)
{
    uint8_t hdr[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                      (uint8_t)len};
    if (fwrite(hdr, 1, 4, f) != 4 || fwrite(msg, 1, len, f) != len) {
        fprintf(stderr, "ebb-test-wire-peer: capture write failed\n");
        exit(1);
    }
}

static int run_send(const struct opts *o)
{
    struct client c = {0};
    client_init(&c, o, 0);
    FILE *cap = NULL;
    if (o->capture != NULL && (cap = fopen(o->capture, "wb")) == NULL) {
        fprintf(stderr, "ebb-test-wire-peer: open %s: %s\n", o->capture, strerror(errno));
        return 1;
    }
    long every =
        o->capture_count > 0 && o->count >= o->capture_count ? o->count / o->capture_count : 1;
    long acked = 0, captured = 0;
    for (long i = 1; i <= o->count + (o->shutdown ? 1 : 0); i++) {
        bool shutdown = i > o->count;
        size_t len = 0;
        uint8_t *msg = seal_payload(&c, c.key, &c.server_id, now_ms(), (uint64_t)i, "sender",
                                    shutdown, 0, &len);
        /* A network tap keeps copies of a few messages, spread over the run. */
        if (cap != NULL && !shutdown && captured < o->capture_count && i % every == 0) {
            capture_write(cap, msg, len);
            captured++;
        }
        char code[64];
        ebb_error err;
        ebb_code rc =
            call(&c, msg, len, ebb_secret_key_id(c.key), code, sizeof code, CALL_TIMEOUT_MS, &err);
        free(msg);
        if (rc != EBB_OK)
            die("send", &err);
        if (strcmp(code, "ack") != 0) {
            fprintf(stderr, "ebb-test-wire-peer: message %ld refused: %s\n", i, code);
            return 1;
        }
        if (!shutdown)
            acked++;
    }
    if (cap != NULL)
        fclose(cap);
    printf("{\"sent\": %ld, \"acked\": %ld, \"captured\": %ld}\n", o->count, acked, captured);
    client_fini(&c);
    return 0;
}

/* ---- inject ---- */

struct injector {
    struct client c;
    size_t max_envelope;
    json_t *injected; /* code -> count */
    long mismatches, transport_dropped;
};

/* Send one forged message and check the server refused it with `want`. */
static void inject_one(struct injector *in, const char *kind, const uint8_t *msg, size_t len,
                       const char *want)
{
    /* The server answers whoever a message claims to be from, as it must. */
    ebb_key_id to;
    if (!ebb_envelope_peek_signer(msg, len, in->max_envelope, &to))
        memset(&to, 0, sizeof to);
    char code[64];
    ebb_error err;
    ebb_code rc = call(&in->c, msg, len, &to, code, sizeof code, CALL_TIMEOUT_MS, &err);
    if (rc != EBB_OK) {
        fprintf(stderr, "inject %s: no answer: %s\n", kind, err.msg);
        in->mismatches++;
        return;
    }
    if (strcmp(code, want) != 0) {
        fprintf(stderr, "inject %s: server said '%s', expected '%s'\n", kind, code, want);
        in->mismatches++;
    }
    json_t *n = json_object_get(in->injected, want);
    json_object_set_new(in->injected, want,
                        json_integer(n != NULL ? json_integer_value(n) + 1 : 1));
}

/* Re-pack msg with the claimed signer id replaced (the signature no longer fits). */
static uint8_t *claim_signer(const uint8_t *msg, size_t len, const ebb_key_id *id, size_t *out_len)
{
    Ebb__Envelope *env = ebb__envelope__unpack(NULL, len, msg);
    if (env == NULL || env->signer_key_id.len != EBB_KEY_ID_LEN)
        exit(1);
    memcpy(env->signer_key_id.data, id->bytes, EBB_KEY_ID_LEN);
    *out_len = ebb__envelope__get_packed_size(env);
    uint8_t *out = malloc(*out_len);
    ebb__envelope__pack(env, out);
    ebb__envelope__free_unpacked(env, NULL);
    return out;
}

/* A correctly signed envelope that speaks protocol version `version`. */
static uint8_t *with_version(const ebb_secret_key *signer, const uint8_t *msg, size_t len,
                             uint32_t version, size_t *out_len)
{
    Ebb__Envelope *env = ebb__envelope__unpack(NULL, len, msg);
    if (env == NULL)
        exit(1);
    env->version = version;
    uint8_t *sb = NULL, sig[EBB_SIGNATURE_LEN];
    size_t sb_len = 0;
    ebb_error err;
    if (ebb_envelope_signed_bytes(env, &sb, &sb_len, &err) != EBB_OK ||
        ebb_secret_key_sign(signer, sb, sb_len, sig, &err) != EBB_OK)
        die("re-sign", &err);
    free(sb);
    memcpy(env->signature.data, sig, sizeof sig);
    *out_len = ebb__envelope__get_packed_size(env);
    uint8_t *out = malloc(*out_len);
    ebb__envelope__pack(env, out);
    ebb__envelope__free_unpacked(env, NULL);
    return out;
}

static int run_inject(const struct opts *o)
{
    struct injector in = {.injected = json_object(), .max_envelope = o->max_envelope};
    struct client *c = &in.c;
    client_init(c, o, 0);
    if (o->unknown_key == NULL)
        usage();
    ebb_secret_key *unknown = load_key(o->unknown_key);
    const ebb_key_id *me = ebb_secret_key_id(c->key);
    size_t len = 0, len2 = 0;
    uint8_t *msg, *forged;

    for (int i = 0; i < 3; i++) { /* signed by a key the server never trusted */
        msg = seal_payload(c, unknown, &c->server_id, now_ms(), 1, "injected", false, 0, &len);
        inject_one(&in, "unknown signer", msg, len, "env-unknown-signer");
        free(msg);
    }
    for (int i = 0; i < 3; i++) { /* claims our (trusted) id, signed by the unknown key */
        msg = seal_payload(c, unknown, &c->server_id, now_ms(), 1, "injected", false, 0, &len);
        forged = claim_signer(msg, len, me, &len2);
        inject_one(&in, "forged signature", forged, len2, "env-bad-signature");
        free(msg);
        free(forged);
    }
    if (o->revoked_key != NULL) {
        ebb_secret_key *revoked = load_key(o->revoked_key);
        for (int i = 0; i < 2; i++) {
            msg = seal_payload(c, revoked, &c->server_id, now_ms(), 1, "injected", false, 0, &len);
            inject_one(&in, "revoked signer", msg, len, "env-revoked-signer");
            free(msg);
        }
        ebb_secret_key_free(revoked);
    }
    if (o->capture != NULL) { /* replays of what a tap saw */
        FILE *f = fopen(o->capture, "rb");
        if (f == NULL) {
            fprintf(stderr, "ebb-test-wire-peer: open %s: %s\n", o->capture, strerror(errno));
            return 1;
        }
        uint8_t hdr[4];
        while (fread(hdr, 1, 4, f) == 4) {
            size_t n = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
            msg = malloc(n > 0 ? n : 1);
            if (fread(msg, 1, n, f) != n) {
                fprintf(stderr, "ebb-test-wire-peer: truncated capture %s\n", o->capture);
                return 1;
            }
            inject_one(&in, "replay", msg, n, "env-replay");
            free(msg);
        }
        fclose(f);
    }
    for (int i = 0; i < 3; i++) { /* issued an hour ago: long expired */
        msg = seal_payload(c, c->key, &c->server_id, now_ms() - 3600 * 1000, 1, "injected", false,
                           0, &len);
        inject_one(&in, "expired", msg, len, "env-expired");
        free(msg);
    }
    for (int i = 0; i < 3; i++) { /* issued an hour from now */
        msg = seal_payload(c, c->key, &c->server_id, now_ms() + 3600 * 1000, 1, "injected", false,
                           0, &len);
        inject_one(&in, "future", msg, len, "env-future");
        free(msg);
    }
    for (int i = 0; i < 2; i++) { /* addressed to someone else */
        msg = seal_payload(c, c->key, ebb_secret_key_id(unknown), now_ms(), 1, "injected", false, 0,
                           &len);
        inject_one(&in, "wrong recipient", msg, len, "env-wrong-recipient");
        free(msg);
    }
    msg = seal_payload(c, c->key, &c->server_id, now_ms(), 1, "injected", false, 0, &len);
    forged = with_version(c->key, msg, len, EBB_PROTOCOL_VERSION + 98, &len2);
    inject_one(&in, "future protocol version", forged, len2, "env-version");
    free(msg);
    free(forged);
    const char *garbage[] = {"GET / HTTP/1.1\r\n\r\n", "\x08\x01\x12\x08garbage!"};
    for (int i = 0; i < 2; i++)
        inject_one(&in, "garbage", (const uint8_t *)garbage[i], strlen(garbage[i]),
                   "env-malformed");
    for (int i = 0; i < 2; i++) { /* over the envelope limit, under the transport limit */
        msg = seal_payload(c, c->key, &c->server_id, now_ms(), 1, "injected", false,
                           o->max_envelope + 1024, &len);
        if (len >= o->recv_max) {
            fprintf(stderr, "ebb-test-wire-peer: --recv-max must exceed --max-envelope\n");
            return 2;
        }
        inject_one(&in, "too large", msg, len, "env-too-large");
        free(msg);
    }
    /* Over the transport limit: nng drops the connection, nothing is delivered. */
    msg = seal_payload(c, c->key, &c->server_id, now_ms(), 1, "injected", false, o->recv_max + 1024,
                       &len);
    char code[64];
    ebb_error err;
    ebb_code rc = call(c, msg, len, me, code, sizeof code, 2000, &err);
    free(msg);
    if (rc == EBB_E_NET || rc == EBB_E_TIMEOUT) {
        in.transport_dropped++;
    } else {
        fprintf(stderr, "inject over transport limit: unexpected %s (%s)\n", ebb_code_name(rc),
                rc == EBB_OK ? code : err.msg);
        in.mismatches++;
    }

    json_t *report =
        json_pack("{s:o,s:I,s:I}", "injected", in.injected, "transport_dropped",
                  (json_int_t)in.transport_dropped, "mismatches", (json_int_t)in.mismatches);
    json_dumpf(report, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
    json_decref(report);
    ebb_secret_key_free(unknown);
    client_fini(c);
    return in.mismatches == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    const char *mode = argv[1];
    struct opts o;
    parse_opts(argc - 1, argv + 1, &o);
    if (strcmp(mode, "serve") == 0)
        return run_serve(&o);
    if (strcmp(mode, "send") == 0)
        return run_send(&o);
    if (strcmp(mode, "inject") == 0)
        return run_inject(&o);
    usage();
}
