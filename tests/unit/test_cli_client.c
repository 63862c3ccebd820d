/* Unit tests for the CLI's signed round trip against an in-process stand-in coordinator (ipc, no
 * PostgreSQL). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/envelope.h"
#include "common/exit_codes.h"
#include "common/keyring.h"
#include "common/keys.h"
#include "common/proto_util.h"
#include "common/replay.h"
#include "common/wire.h"
#include "coordinator/cli_client.h"
#include "tests/support/tmpdir.h"

/*
 * The stand-in answers by command name: "echo" (status 0, the arguments
 * back as JSON), "refuse" (status 4), "error" (an Error body, as for an
 * unknown operator key), "wrong-id" (another request id), "forged"
 * (signed by a key the client does not pin), "replay" (the bytes of the
 * previous reply again).
 */
typedef struct stand_in {
    ebb_secret_key *coord;
    ebb_secret_key *forger;
    ebb_keyring *operators;
    ebb_replay *replay;
    ebb_sealer sealer;
    ebb_sealer forger_sealer;
    pthread_mutex_t mu;
    uint8_t *last;
    size_t last_len;
    int requests;
} stand_in;

typedef struct fixture {
    char dir[256];
    char url[300];
    char op_key[300];
    char coord_pub[300];
    char state[300];
    stand_in si;
    ebb_wire_server *server;
    ebb_cli_settings settings;
} fixture;

static void reply_with(stand_in *si, ebb_wire_request *req, ebb_sealer *sealer,
                       const ebb_key_id *to, uint32_t type, const ProtobufCMessage *body)
{
    uint8_t *out = NULL;
    size_t len = 0;
    if (ebb_sealer_seal(sealer, to, type, body, &out, &len, NULL) != EBB_OK)
        return;
    pthread_mutex_lock(&si->mu);
    free(si->last);
    si->last = malloc(len);
    memcpy(si->last, out, len);
    si->last_len = len;
    pthread_mutex_unlock(&si->mu);
    if (ebb_wire_reply(req, out, len, NULL) != EBB_OK)
        fprintf(stderr, "stand-in: reply failed\n");
    free(out);
}

static void handle(void *ctx, ebb_wire_request *req, const uint8_t *data, size_t len)
{
    stand_in *si = ctx;
    ebb_open_ctx oc = {
        .max_size = 1 << 20,
        .self_id = ebb_secret_key_id(si->coord),
        .lookup = ebb_keyring_lookup_fn,
        .lookup_ctx = si->operators,
        .replay = si->replay,
        .now_ms = ebb_proto_now_ms(),
        .max_skew_ms = 30000,
        .version = EBB_PROTOCOL_VERSION,
    };
    ebb_opened op;
    ProtobufCMessage *m = NULL;
    if (ebb_envelope_open(&oc, data, len, &op, NULL) != EBB_OK ||
        ebb_proto_unpack(&ebb__operator_request__descriptor, op.body, op.body_len, "request", &m,
                         NULL) != EBB_OK) {
        if (ebb_wire_reply(req, (const uint8_t *)"", 0, NULL) != EBB_OK)
            fprintf(stderr, "stand-in: reply failed\n");
        return;
    }
    pthread_mutex_lock(&si->mu);
    si->requests++;
    pthread_mutex_unlock(&si->mu);
    Ebb__OperatorRequest *rq = (Ebb__OperatorRequest *)m;
    const char *cmd = rq->command;
    if (strcmp(cmd, "replay") == 0) {
        pthread_mutex_lock(&si->mu);
        if (ebb_wire_reply(req, si->last, si->last_len, NULL) != EBB_OK)
            fprintf(stderr, "stand-in: reply failed\n");
        pthread_mutex_unlock(&si->mu);
    } else if (strcmp(cmd, "error") == 0) {
        Ebb__Error e = EBB__ERROR__INIT;
        e.code = "env-unknown-signer";
        e.message = "operator key 00 is not configured";
        reply_with(si, req, &si->sealer, &op.signer, EBB__BODY_TYPE__BODY_ERROR, &e.base);
    } else {
        json_t *args = json_array();
        for (size_t i = 0; i < rq->n_args; i++)
            json_array_append_new(args, json_string(rq->args[i]));
        json_t *j = json_pack("{s:s,s:o}", "command", cmd, "args", args);
        char *text = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        Ebb__OperatorResponse r = EBB__OPERATOR_RESPONSE__INIT;
        r.status = strcmp(cmd, "refuse") == 0 ? EBB_EXIT_REFUSED : 0;
        r.message = r.status ? "refused: prod needs staging first" : "";
        r.json = text;
        r.request_id = strcmp(cmd, "wrong-id") == 0 ? "0123" : rq->request_id;
        reply_with(si, req, strcmp(cmd, "forged") == 0 ? &si->forger_sealer : &si->sealer,
                   &op.signer, EBB__BODY_TYPE__BODY_OPERATOR_RESPONSE, &r.base);
        free(text);
    }
    protobuf_c_message_free_unpacked(m, NULL);
    ebb_opened_fini(&op);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_int_equal(ebb_test_tmpdir_make("ebb-cli-client", f->dir, sizeof f->dir), 0);
    snprintf(f->url, sizeof f->url, "ipc://%s/op.sock", f->dir);
    snprintf(f->op_key, sizeof f->op_key, "%s/op.key", f->dir);
    snprintf(f->state, sizeof f->state, "%s/state/ebb", f->dir);
    char coord_key[300];
    snprintf(coord_key, sizeof coord_key, "%s/coord.key", f->dir);
    snprintf(f->coord_pub, sizeof f->coord_pub, "%s.pub", coord_key);

    ebb_secret_key *op = NULL;
    assert_int_equal(ebb_secret_key_generate(&op, NULL), EBB_OK);
    assert_int_equal(ebb_secret_key_save(op, f->op_key, false, NULL), EBB_OK);
    assert_int_equal(ebb_secret_key_generate(&f->si.coord, NULL), EBB_OK);
    assert_int_equal(ebb_secret_key_save(f->si.coord, coord_key, false, NULL), EBB_OK);
    assert_int_equal(ebb_secret_key_generate(&f->si.forger, NULL), EBB_OK);
    assert_int_equal(ebb_keyring_alloc(&f->si.operators, NULL), EBB_OK);
    assert_int_equal(ebb_keyring_add(f->si.operators, ebb_secret_key_public(op), "op", NULL),
                     EBB_OK);
    ebb_secret_key_free(op);
    assert_int_equal(ebb_replay_open(NULL, &f->si.replay, NULL), EBB_OK);
    ebb_sealer_init(&f->si.sealer, f->si.coord, 60000);
    ebb_sealer_init(&f->si.forger_sealer, f->si.forger, 60000);
    pthread_mutex_init(&f->si.mu, NULL);
    assert_int_equal(ebb_wire_server_open(f->url, NULL, handle, &f->si, &f->server, NULL), EBB_OK);

    ebb_cli_conn_args a = {.coordinator = f->url,
                           .key_file = f->op_key,
                           .coordinator_key = f->coord_pub,
                           .state_dir = f->state,
                           .timeout = "5"};
    assert_int_equal(ebb_cli_settings_resolve(&a, ebb_cli_getenv, NULL, &f->settings, NULL),
                     EBB_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ebb_wire_server_close(f->server);
    ebb_sealer_fini(&f->si.sealer);
    ebb_sealer_fini(&f->si.forger_sealer);
    ebb_replay_close(f->si.replay);
    ebb_keyring_free(f->si.operators);
    ebb_secret_key_free(f->si.coord);
    ebb_secret_key_free(f->si.forger);
    free(f->si.last);
    pthread_mutex_destroy(&f->si.mu);
    ebb_test_tmpdir_remove(f->dir);
    free(f);
    return 0;
}

static ebb_code call(fixture *f, const char *command, ebb_cli_response *r, ebb_error *err)
{
    ebb_cli_args args;
    ebb_cli_args_init(&args);
    ebb_cli_args_add(&args, "env", "prod");
    ebb_cli_args_list(&args, "host", "p1,p2");
    ebb_code rc = ebb_cli_call(&f->settings, command, &args, r, err);
    ebb_cli_args_fini(&args);
    return rc;
}

static void test_round_trip(void **state)
{
    fixture *f = *state;
    ebb_cli_response r;
    ebb_error err;
    assert_int_equal(call(f, "echo", &r, &err), EBB_OK);
    assert_int_equal(r.status, 0);
    assert_string_equal(json_string_value(json_object_get(r.json, "command")), "echo");
    json_t *args = json_object_get(r.json, "args");
    assert_int_equal(json_array_size(args), 3);
    assert_string_equal(json_string_value(json_array_get(args, 2)), "host=p2");
    ebb_cli_response_fini(&r);
    /* the replay store was created, private */
    char path[400];
    snprintf(path, sizeof path, "%s/coordinator.replay", f->state);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(stat(f->state, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    /* a refusal is an answer: the call succeeds and carries the status and message */
    assert_int_equal(call(f, "refuse", &r, &err), EBB_OK);
    assert_int_equal(r.status, EBB_EXIT_REFUSED);
    assert_string_equal(ebb_cli_response_why(&r), "refused: prod needs staging first");
    ebb_cli_response_fini(&r);
}

static void test_rejections(void **state)
{
    fixture *f = *state;
    ebb_cli_response r;
    memset(&r, 0, sizeof r);
    ebb_error err;
    assert_int_equal(call(f, "error", &r, &err), EBB_E_REFUSED);
    assert_non_null(strstr(err.msg, "env-unknown-signer"));
    assert_int_equal(ebb_cli_exit_for_call(err.code), EBB_EXIT_REFUSED);
    assert_int_equal(call(f, "wrong-id", &r, &err), EBB_E_VERIFY);
    assert_int_equal(ebb_cli_exit_for_call(err.code), EBB_EXIT_FAILURE);
    assert_int_equal(call(f, "forged", &r, &err), EBB_E_ENV_UNKNOWN_SIGNER);
    assert_null(r.json); /* nothing of a rejected reply reaches the caller */
    /* a good reply, then the same bytes again: the persisted mark refuses them even though
     * each call opened the store afresh */
    assert_int_equal(call(f, "echo", &r, &err), EBB_OK);
    ebb_cli_response_fini(&r);
    assert_int_equal(call(f, "replay", &r, &err), EBB_E_ENV_REPLAY);
}

static void test_unreachable(void **state)
{
    fixture *f = *state;
    ebb_cli_settings s = f->settings;
    snprintf(s.coordinator, sizeof s.coordinator, "ipc://%s/nobody.sock", f->dir);
    ebb_cli_response r;
    ebb_error err;
    ebb_code rc = ebb_cli_call(&s, "echo", NULL, &r, &err);
    assert_int_equal(rc, EBB_E_NET);
    assert_int_equal(ebb_cli_exit_for_call(rc), EBB_EXIT_UNAVAILABLE);
    assert_non_null(strstr(err.msg, "unreachable"));
    snprintf(s.coordinator, sizeof s.coordinator, "http://x");
    assert_int_equal(ebb_cli_call(&s, "echo", NULL, &r, &err), EBB_E_INVALID);
}

static void test_bad_keys(void **state)
{
    fixture *f = *state;
    ebb_cli_settings s = f->settings;
    ebb_cli_response r;
    ebb_error err;
    chmod(f->op_key, 0644);
    assert_int_equal(ebb_cli_call(&s, "echo", NULL, &r, &err), EBB_E_KEY_PERM);
    assert_int_equal(ebb_cli_exit_for_call(err.code), EBB_EXIT_CONFIG);
    chmod(f->op_key, 0600);
    snprintf(s.coordinator_key, sizeof s.coordinator_key, "%s/missing.pub", f->dir);
    ebb_code rc = ebb_cli_call(&s, "echo", NULL, &r, &err);
    assert_int_not_equal(rc, EBB_OK);
    assert_non_null(strstr(err.msg, "coordinator key"));
    assert_int_equal(ebb_cli_exit_for_call(rc), EBB_EXIT_CONFIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rejections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreachable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_keys, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
