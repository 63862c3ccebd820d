/* The operator API's client call: seal, send, open, check the request id (see opapi.h). */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/envelope.h"
#include "common/keyring.h"
#include "common/proto_util.h"
#include "common/replay.h"
#include "common/wire.h"
#include "coordinator/opapi.h"

#define CLIENT_TTL_MS 60000
#define CLIENT_SKEW_MS 30000

struct ebb_opapi_client {
    ebb_wire_client *wire;
    ebb_keyring *ring;
    ebb_replay *replay;
    ebb_key_id coord_id;
    const ebb_secret_key *key;
    ebb_sealer sealer;
};

ebb_code ebb_opapi_client_open(const char *url, const ebb_public_key *coordinator_pk,
                               const ebb_secret_key *operator_key, ebb_opapi_client **out,
                               ebb_error *err)
{
    ebb_opapi_client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    c->key = operator_key;
    ebb_key_id_of(coordinator_pk, &c->coord_id);
    ebb_sealer_init(&c->sealer, operator_key, CLIENT_TTL_MS);
    ebb_code rc = ebb_keyring_alloc(&c->ring, err);
    if (rc == EBB_OK)
        rc = ebb_keyring_add(c->ring, coordinator_pk, "coordinator", err);
    if (rc == EBB_OK)
        rc = ebb_replay_open(NULL, &c->replay, err);
    if (rc == EBB_OK)
        rc = ebb_wire_client_open(url, NULL, &c->wire, err);
    if (rc != EBB_OK) {
        ebb_opapi_client_close(c);
        return rc;
    }
    *out = c;
    return EBB_OK;
}

void ebb_opapi_client_close(ebb_opapi_client *c)
{
    if (c == NULL)
        return;
    if (c->wire != NULL)
        ebb_wire_client_close(c->wire);
    ebb_replay_close(c->replay);
    ebb_keyring_free(c->ring);
    ebb_sealer_fini(&c->sealer);
    free(c);
}

void ebb_opapi_response_fini(ebb_opapi_response *r)
{
    if (r == NULL)
        return;
    free(r->message);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

static ebb_code error_code_of(const char *name)
{
    for (int k = 0; k < EBB_E__COUNT; k++)
        if (strcmp(ebb_code_name((ebb_code)k), name) == 0)
            return (ebb_code)k;
    return EBB_E_NET;
}

ebb_code ebb_opapi_client_call(ebb_opapi_client *c, const char *command, const char *const *args,
                               size_t n_args, int timeout_ms, ebb_opapi_response *out,
                               ebb_error *err)
{
    uint8_t rnd[8];
    char rid[17];
    randombytes_buf(rnd, sizeof rnd);
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(rid + 2 * i, 3, "%02x", rnd[i]);
    Ebb__OperatorRequest req = EBB__OPERATOR_REQUEST__INIT;
    req.command = (char *)command;
    req.args = (char **)args;
    req.n_args = n_args;
    req.request_id = rid;
    uint8_t *sealed = NULL, *reply = NULL;
    size_t sealed_len = 0, reply_len = 0;
    ebb_code rc = ebb_sealer_seal(&c->sealer, &c->coord_id, EBB__BODY_TYPE__BODY_OPERATOR_REQUEST,
                                  &req.base, &sealed, &sealed_len, err);
    if (rc == EBB_OK)
        rc = ebb_wire_client_call(c->wire, sealed, sealed_len, timeout_ms, &reply, &reply_len, err);
    free(sealed);
    if (rc != EBB_OK)
        return rc;
    ebb_open_ctx oc = {
        .max_size = EBB_WIRE_RECV_MAX_DEFAULT,
        .self_id = ebb_secret_key_id(c->key),
        .lookup = ebb_keyring_lookup_fn,
        .lookup_ctx = c->ring,
        .replay = c->replay,
        .now_ms = ebb_proto_now_ms(),
        .max_skew_ms = CLIENT_SKEW_MS,
        .version = EBB_PROTOCOL_VERSION,
    };
    ebb_opened m;
    ebb_error oerr;
    rc = ebb_envelope_open(&oc, reply, reply_len, &m, &oerr);
    free(reply);
    if (rc != EBB_OK)
        return ebb_error_set(err, EBB_E_VERIFY, "the coordinator's reply was rejected: %s",
                             oerr.msg);
    ProtobufCMessage *body = NULL;
    if (m.body_type == EBB__BODY_TYPE__BODY_ERROR) {
        rc = ebb_proto_unpack(&ebb__error__descriptor, m.body, m.body_len, "Error", &body, err);
        if (rc == EBB_OK) {
            const Ebb__Error *e = (const Ebb__Error *)body;
            rc = ebb_error_set(err, error_code_of(e->code),
                               "the coordinator refused the request: "
                               "%s",
                               e->message ? e->message : e->code);
        }
    } else if (m.body_type != EBB__BODY_TYPE__BODY_OPERATOR_RESPONSE) {
        rc = ebb_error_set(err, EBB_E_VERIFY, "the coordinator answered with body type %u",
                           (unsigned)m.body_type);
    } else {
        rc = ebb_proto_unpack(&ebb__operator_response__descriptor, m.body, m.body_len,
                              "OperatorResponse", &body, err);
        const Ebb__OperatorResponse *r = (const Ebb__OperatorResponse *)body;
        if (rc == EBB_OK && (r->request_id == NULL || strcmp(r->request_id, rid) != 0))
            rc =
                ebb_error_set(err, EBB_E_VERIFY, "the coordinator's answer is for another request");
        if (rc == EBB_OK) {
            json_t *j = r->json != NULL ? json_loads(r->json, 0, NULL) : json_object();
            char *msg = strdup(r->message ? r->message : "");
            if (j == NULL || msg == NULL) {
                json_decref(j);
                free(msg);
                rc = ebb_error_set(err, EBB_E_VERIFY, "the coordinator's answer has bad JSON");
            } else {
                out->status = r->status;
                out->message = msg;
                out->json = j;
            }
        }
    }
    if (body != NULL)
        protobuf_c_message_free_unpacked(body, NULL);
    ebb_opened_fini(&m);
    return rc;
}
