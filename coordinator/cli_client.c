/* The operator CLI's signed request/response round trip with the coordinator. */
#include "coordinator/cli_client.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <nng/nng.h>
#include <sodium.h>
#include <nng/protocol/reqrep0/req.h>

#include "common/envelope.h"
#include "common/exit_codes.h"
#include "common/keyring.h"
#include "common/keys.h"
#include "common/proto_util.h"
#include "common/replay.h"
#include "common/wire.h"

#define REQUEST_TTL_MS 60000
#define MAX_SKEW_MS 30000
#define MAX_REPLY (16u * 1024 * 1024)
#define REPLAY_FILE "coordinator.replay"
#define REQUEST_ID_BYTES 12

bool ebb_cli_conn_option(ebb_cli_conn_args *a, int opt, const char *optarg)
{
    switch (opt) {
    case EBB_CLI_OPT_COORDINATOR:
        a->coordinator = optarg;
        return true;
    case EBB_CLI_OPT_KEY:
        a->key_file = optarg;
        return true;
    case EBB_CLI_OPT_COORDINATOR_KEY:
        a->coordinator_key = optarg;
        return true;
    case EBB_CLI_OPT_STATE_DIR:
        a->state_dir = optarg;
        return true;
    case EBB_CLI_OPT_TIMEOUT:
        a->timeout = optarg;
        return true;
    default:
        return false;
    }
}

const char *ebb_cli_getenv(void *ctx, const char *name)
{
    (void)ctx;
    return getenv(name);
}

static const char *pick(const char *opt, ebb_cli_getenv_fn env, void *ctx, const char *var)
{
    if (opt != NULL && opt[0] != '\0')
        return opt;
    const char *v = env(ctx, var);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

static ebb_code copy_to(char *dst, size_t size, const char *what, const char *a, const char *b,
                        ebb_error *err)
{
    int n = snprintf(dst, size, "%s%s", a, b != NULL ? b : "");
    if (n < 0 || (size_t)n >= size)
        return ebb_error_set(err, EBB_E_INVALID, "%s is longer than %zu bytes", what, size - 1);
    return EBB_OK;
}

/* HOME + suffix, for a default; EBB_E_CONFIG naming the setting when HOME is unset. */
static ebb_code home_path(char *dst, size_t size, ebb_cli_getenv_fn env, void *ctx,
                          const char *suffix, const char *what, ebb_error *err)
{
    const char *home = env(ctx, "HOME");
    if (home == NULL || home[0] == '\0')
        return ebb_error_set(err, EBB_E_CONFIG, "HOME is not set: give %s", what);
    return copy_to(dst, size, what, home, suffix, err);
}

ebb_code ebb_cli_settings_resolve(const ebb_cli_conn_args *a, ebb_cli_getenv_fn env, void *env_ctx,
                                  ebb_cli_settings *out, ebb_error *err)
{
    ebb_cli_settings s;
    memset(&s, 0, sizeof s);
    ebb_code rc;

    const char *url = pick(a->coordinator, env, env_ctx, "EBB_COORDINATOR");
    if (url == NULL)
        return ebb_error_set(err, EBB_E_CONFIG,
                             "no coordinator address: give --coordinator URL or set "
                             "EBB_COORDINATOR (e.g. tcp://coord.example:7401)");
    if ((rc = copy_to(s.coordinator, sizeof s.coordinator, "--coordinator", url, NULL, err)))
        return rc;

    const char *key = pick(a->key_file, env, env_ctx, "EBB_KEY");
    rc = key != NULL ? copy_to(s.key_file, sizeof s.key_file, "--key", key, NULL, err)
                     : home_path(s.key_file, sizeof s.key_file, env, env_ctx,
                                 "/.config/ebb/operator.key", "--key FILE or EBB_KEY", err);
    if (rc != EBB_OK)
        return rc;

    const char *ck = pick(a->coordinator_key, env, env_ctx, "EBB_COORDINATOR_KEY");
    rc = ck != NULL ? copy_to(s.coordinator_key, sizeof s.coordinator_key, "--coordinator-key", ck,
                              NULL, err)
                    : home_path(s.coordinator_key, sizeof s.coordinator_key, env, env_ctx,
                                "/.config/ebb/coordinator.pub",
                                "--coordinator-key FILE or EBB_COORDINATOR_KEY", err);
    if (rc != EBB_OK)
        return rc;

    const char *sd = pick(a->state_dir, env, env_ctx, "EBB_STATE_DIR");
    const char *xdg = env(env_ctx, "XDG_STATE_HOME");
    if (sd != NULL)
        rc = copy_to(s.state_dir, sizeof s.state_dir, "--state-dir", sd, NULL, err);
    else if (xdg != NULL && xdg[0] == '/')
        rc = copy_to(s.state_dir, sizeof s.state_dir, "XDG_STATE_HOME", xdg, "/ebb", err);
    else
        rc = home_path(s.state_dir, sizeof s.state_dir, env, env_ctx, "/.local/state/ebb",
                       "--state-dir DIR or EBB_STATE_DIR", err);
    if (rc != EBB_OK)
        return rc;

    s.timeout_ms = EBB_CLI_DEFAULT_TIMEOUT_S * 1000;
    const char *t = pick(a->timeout, env, env_ctx, "EBB_TIMEOUT");
    if (t != NULL) {
        char *end = NULL;
        errno = 0;
        long v = strtol(t, &end, 10);
        if (errno != 0 || end == t || *end != '\0' || v < 1 || v > 3600)
            return ebb_error_set(err, EBB_E_INVALID,
                                 "timeout '%s' is not a number of seconds from 1 to 3600", t);
        s.timeout_ms = (int)v * 1000;
    }
    *out = s;
    return EBB_OK;
}

/* ---- request arguments ---- */

void ebb_cli_args_init(ebb_cli_args *a)
{
    memset(a, 0, sizeof *a);
}

void ebb_cli_args_fini(ebb_cli_args *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->items[i]);
    free(a->items);
    memset(a, 0, sizeof *a);
}

void ebb_cli_args_add(ebb_cli_args *a, const char *name, const char *value)
{
    if (value == NULL)
        return;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 8;
        char **items = realloc(a->items, cap * sizeof *items);
        if (items == NULL) {
            a->oom = true;
            return;
        }
        a->items = items;
        a->cap = cap;
    }
    size_t len = strlen(name) + 1 + strlen(value) + 1;
    char *item = malloc(len);
    if (item == NULL) {
        a->oom = true;
        return;
    }
    snprintf(item, len, "%s=%s", name, value);
    a->items[a->n++] = item;
}

void ebb_cli_args_flag(ebb_cli_args *a, const char *name, bool flag)
{
    if (flag)
        ebb_cli_args_add(a, name, "true");
}

void ebb_cli_args_list(ebb_cli_args *a, const char *name, const char *csv)
{
    if (csv == NULL)
        return;
    const char *p = csv;
    while (*p != '\0') {
        size_t n = strcspn(p, ",");
        if (n > 0) {
            char *one = strndup(p, n);
            if (one == NULL) {
                a->oom = true;
                return;
            }
            ebb_cli_args_add(a, name, one);
            free(one);
        }
        p += n;
        if (*p == ',')
            p++;
    }
}

void ebb_cli_response_fini(ebb_cli_response *r)
{
    free(r->message);
    free(r->json_text);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

/* ---- the round trip ---- */

/* mkdir -p with mode 0700 for the directories it creates. */
static ebb_code make_dirs(const char *path, ebb_error *err)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return ebb_error_set(err, EBB_E_INVALID, "state directory path too long");
    for (char *p = buf + 1;; p++) {
        bool end = *p == '\0';
        if (*p == '/' || end) {
            *p = '\0';
            if (mkdir(buf, 0700) != 0 && errno != EEXIST)
                return ebb_error_errno(err, EBB_E_IO, errno, "cannot create state directory %s",
                                       buf);
            if (end)
                break;
            *p = '/';
        }
    }
    return EBB_OK;
}

static void nap_ms(int ms)
{
    nanosleep(&(struct timespec){ms / 1000, (long)(ms % 1000) * 1000000L}, NULL);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Open the replay store, waiting while another ebb command of this user holds it. */
static ebb_code open_replay(const char *path, int64_t deadline, ebb_replay **out, ebb_error *err)
{
    for (;;) {
        ebb_code rc = ebb_replay_open(path, out, err);
        if (rc != EBB_E_LOCKED || mono_ms() >= deadline)
            return rc;
        nap_ms(50);
    }
}

/*
 * Is anything listening at url? A blocking dial fails at once with
 * "connection refused" / "no such file" when nothing is, so an operator
 * learns that in milliseconds rather than after the reply timeout.
 */
static ebb_code probe(const char *url, ebb_error *err)
{
    nng_socket sock;
    int rv = nng_req0_open(&sock);
    if (rv != 0)
        return ebb_error_set(err, EBB_E_NET, "cannot open a socket: %s", nng_strerror(rv));
    rv = nng_dial(sock, url, NULL, 0);
    nng_close(sock);
    if (rv == NNG_EADDRINVAL || rv == NNG_ENOTSUP)
        return ebb_error_set(err, EBB_E_INVALID,
                             "coordinator address '%s' is not a valid nng URL "
                             "(tcp://HOST:PORT or ipc:///PATH): %s",
                             url, nng_strerror(rv));
    if (rv != 0)
        return ebb_error_set(err, EBB_E_NET, "coordinator at %s is unreachable: %s", url,
                             nng_strerror(rv));
    return EBB_OK;
}

typedef struct call_ctx {
    ebb_secret_key *key;
    ebb_public_key coord_pk;
    ebb_key_id coord_id;
    ebb_keyring *ring;
    ebb_replay *replay;
    ebb_wire_client *wire;
    uint8_t *request;
    size_t request_len;
    uint8_t *reply;
    size_t reply_len;
    char request_id[REQUEST_ID_BYTES * 2 + 1];
} call_ctx;

static void call_ctx_fini(call_ctx *c)
{
    free(c->reply);
    free(c->request);
    if (c->wire != NULL)
        ebb_wire_client_close(c->wire);
    ebb_replay_close(c->replay);
    ebb_keyring_free(c->ring);
    ebb_secret_key_free(c->key);
}

static ebb_code seal_request(call_ctx *c, const char *command, const ebb_cli_args *args,
                             ebb_error *err)
{
    uint8_t rnd[REQUEST_ID_BYTES];
    randombytes_buf(rnd, sizeof rnd);
    sodium_bin2hex(c->request_id, sizeof c->request_id, rnd, sizeof rnd);
    Ebb__OperatorRequest req = EBB__OPERATOR_REQUEST__INIT;
    req.command = (char *)command;
    req.request_id = c->request_id;
    req.n_args = args != NULL ? args->n : 0;
    req.args = args != NULL ? args->items : NULL;
    ebb_sealer sealer;
    ebb_sealer_init(&sealer, c->key, REQUEST_TTL_MS);
    ebb_code rc = ebb_sealer_seal(&sealer, &c->coord_id, EBB__BODY_TYPE__BODY_OPERATOR_REQUEST,
                                  &req.base, &c->request, &c->request_len, err);
    ebb_sealer_fini(&sealer);
    return rc;
}

static ebb_code take_response(const ebb_opened *op, const char *request_id, ebb_cli_response *out,
                              ebb_error *err)
{
    ProtobufCMessage *m = NULL;
    ebb_code rc;
    if (op->body_type == EBB__BODY_TYPE__BODY_ERROR) {
        rc = ebb_proto_unpack(&ebb__error__descriptor, op->body, op->body_len,
                              "coordinator error reply", &m, err);
        if (rc != EBB_OK)
            return rc;
        Ebb__Error *e = (Ebb__Error *)m;
        rc = ebb_error_set(err, EBB_E_REFUSED, "the coordinator refused the request (%s): %s",
                           e->code, e->message != NULL ? e->message : "no detail");
        protobuf_c_message_free_unpacked(m, NULL);
        return rc;
    }
    if (op->body_type != EBB__BODY_TYPE__BODY_OPERATOR_RESPONSE)
        return ebb_error_set(err, EBB_E_ENV_MALFORMED,
                             "the coordinator answered with body type %u, not an operator "
                             "response",
                             (unsigned)op->body_type);
    rc = ebb_proto_unpack(&ebb__operator_response__descriptor, op->body, op->body_len,
                          "operator response", &m, err);
    if (rc != EBB_OK)
        return rc;
    Ebb__OperatorResponse *r = (Ebb__OperatorResponse *)m;
    if (r->request_id == NULL || strcmp(r->request_id, request_id) != 0) {
        rc = ebb_error_set(err, EBB_E_VERIFY,
                           "the coordinator's reply answers request '%s', not this one ('%s')",
                           r->request_id != NULL ? r->request_id : "(none)", request_id);
        protobuf_c_message_free_unpacked(m, NULL);
        return rc;
    }
    ebb_cli_response res;
    memset(&res, 0, sizeof res);
    res.status = r->status;
    res.message = strdup(r->message != NULL ? r->message : "");
    bool has_json = r->json != NULL && r->json[0] != '\0';
    if (has_json) {
        res.json_text = strdup(r->json);
        json_error_t jerr;
        res.json = json_loads(r->json, JSON_DECODE_ANY, &jerr);
        if (res.json == NULL) {
            rc = ebb_error_set(err, EBB_E_ENV_MALFORMED,
                               "the coordinator's JSON result does not parse: line %d: %s",
                               jerr.line, jerr.text);
            protobuf_c_message_free_unpacked(m, NULL);
            ebb_cli_response_fini(&res);
            return rc;
        }
    }
    protobuf_c_message_free_unpacked(m, NULL); /* r is gone from here on */
    if (res.message == NULL || (has_json && res.json_text == NULL)) {
        ebb_cli_response_fini(&res);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory reading the reply");
    }
    *out = res;
    return EBB_OK;
}

/* Append " (hint)" to err's message, keeping its code. */
static void add_hint(ebb_error *err, const char *hint)
{
    if (err == NULL)
        return;
    size_t len = strlen(err->msg);
    snprintf(err->msg + len, sizeof err->msg - len, " (%s)", hint);
}

ebb_code ebb_cli_call(const ebb_cli_settings *s, const char *command, const ebb_cli_args *args,
                      ebb_cli_response *out, ebb_error *err)
{
    if (args != NULL && args->oom)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory building the request");
    int64_t deadline = mono_ms() + s->timeout_ms;
    call_ctx c;
    memset(&c, 0, sizeof c);
    ebb_code rc = ebb_secret_key_load(s->key_file, &c.key, err);
    if (rc != EBB_OK) {
        ebb_error_prefix(err, "operator key");
        if (rc == EBB_E_NOT_FOUND || rc == EBB_E_IO)
            add_hint(err, "create one with ebb keygen --out FILE, or give --key FILE / EBB_KEY");
        goto done;
    }
    if ((rc = ebb_public_key_load(s->coordinator_key, &c.coord_pk, err)) != EBB_OK) {
        ebb_error_prefix(err, "coordinator key");
        if (rc == EBB_E_NOT_FOUND || rc == EBB_E_IO)
            add_hint(err, "give the coordinator's public key file with --coordinator-key FILE / "
                          "EBB_COORDINATOR_KEY");
        goto done;
    }
    ebb_key_id_of(&c.coord_pk, &c.coord_id);
    if ((rc = ebb_keyring_alloc(&c.ring, err)) != EBB_OK ||
        (rc = ebb_keyring_add(c.ring, &c.coord_pk, "coordinator", err)) != EBB_OK)
        goto done;

    char replay_path[PATH_MAX + 32];
    snprintf(replay_path, sizeof replay_path, "%s/%s", s->state_dir, REPLAY_FILE);
    if ((rc = make_dirs(s->state_dir, err)) != EBB_OK ||
        (rc = open_replay(replay_path, deadline, &c.replay, err)) != EBB_OK)
        goto done;

    if ((rc = probe(s->coordinator, err)) != EBB_OK)
        goto done;
    if ((rc = seal_request(&c, command, args, err)) != EBB_OK)
        goto done;
    ebb_wire_client_opts wo = {.recv_max = MAX_REPLY};
    if ((rc = ebb_wire_client_open(s->coordinator, &wo, &c.wire, err)) != EBB_OK)
        goto done;
    int left = (int)(deadline - mono_ms());
    rc = ebb_wire_client_call(c.wire, c.request, c.request_len, left > 100 ? left : 100, &c.reply,
                              &c.reply_len, err);
    if (rc == EBB_E_TIMEOUT) {
        rc = ebb_error_set(err, EBB_E_TIMEOUT,
                           "no reply from the coordinator at %s within %d s (the request may or "
                           "may not have been carried out; check with ebb runs / ebb status)",
                           s->coordinator, s->timeout_ms / 1000);
        goto done;
    }
    if (rc != EBB_OK)
        goto done;

    ebb_open_ctx oc = {
        .max_size = MAX_REPLY,
        .self_id = ebb_secret_key_id(c.key),
        .lookup = ebb_keyring_lookup_fn,
        .lookup_ctx = c.ring,
        .replay = c.replay,
        .now_ms = ebb_proto_now_ms(),
        .max_skew_ms = MAX_SKEW_MS,
        .version = EBB_PROTOCOL_VERSION,
    };
    ebb_opened op;
    if ((rc = ebb_envelope_open(&oc, c.reply, c.reply_len, &op, err)) != EBB_OK) {
        ebb_error_prefix(err, "the coordinator's reply was rejected");
        goto done;
    }
    rc = take_response(&op, c.request_id, out, err);
    ebb_opened_fini(&op);
done:
    call_ctx_fini(&c);
    return rc;
}

int ebb_cli_exit_for_call(ebb_code code)
{
    switch (code) {
    case EBB_E_NET:
    case EBB_E_TIMEOUT:
        return EBB_EXIT_UNAVAILABLE;
    case EBB_E_REFUSED:
        return EBB_EXIT_REFUSED;
    case EBB_E_VERIFY: /* the reply failed a check: not a verification result */
        return EBB_EXIT_FAILURE;
    case EBB_E_NOT_FOUND:
    case EBB_E_IO:
    case EBB_E_KEY_FORMAT:
    case EBB_E_KEY_PERM:
        return EBB_EXIT_CONFIG;
    default:
        return ebb_exit_for_code(code);
    }
}

int ebb_cli_report_call_error(const char *cmd, const ebb_error *err, FILE *errout)
{
    fprintf(errout, "ebb %s: %s\n", cmd, err->msg);
    return ebb_cli_exit_for_call(err->code);
}

bool ebb_cli_print_json(const json_t *j, FILE *out)
{
    if (json_dumpf(j, out, JSON_INDENT(2)) != 0)
        return false;
    return fputc('\n', out) != EOF;
}

const char *ebb_cli_response_why(const ebb_cli_response *r)
{
    if (r->message != NULL && r->message[0] != '\0')
        return r->message;
    const char *m =
        json_string_value(json_object_get(json_object_get(r->json, "error"), "message"));
    return m != NULL ? m : "no reason given";
}

int ebb_cli_request_any(const char *cmd, const ebb_cli_conn_args *conn, const char *command,
                        const ebb_cli_args *args, ebb_cli_response *resp, FILE *errout)
{
    ebb_error err;
    ebb_error_clear(&err);
    ebb_cli_settings s;
    if (ebb_cli_settings_resolve(conn, ebb_cli_getenv, NULL, &s, &err) != EBB_OK)
        return ebb_cli_report_call_error(cmd, &err, errout);
    if (ebb_cli_call(&s, command, args, resp, &err) != EBB_OK)
        return ebb_cli_report_call_error(cmd, &err, errout);
    return -1;
}

int ebb_cli_request(const char *cmd, const ebb_cli_conn_args *conn, const char *command,
                    const ebb_cli_args *args, bool json, ebb_cli_response *resp, FILE *out,
                    FILE *errout)
{
    ebb_cli_response r;
    int code = ebb_cli_request_any(cmd, conn, command, args, &r, errout);
    if (code >= 0)
        return code;
    if (r.status == 0) {
        *resp = r;
        return -1;
    }
    if (json && r.json != NULL)
        (void)ebb_cli_print_json(r.json, out);
    fprintf(errout, "ebb %s: %s\n", cmd, ebb_cli_response_why(&r));
    code = r.status;
    ebb_cli_response_fini(&r);
    return code;
}

long long ebb_cli_now_ms(void)
{
    return (long long)ebb_proto_now_ms();
}

int ebb_cli_usage_error(FILE *errout, const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(errout, "ebb %s: ", cmd);
    vfprintf(errout, fmt, ap);
    fprintf(errout, " (try ebb %s --help)\n", cmd);
    va_end(ap);
    return EBB_EXIT_USAGE;
}
