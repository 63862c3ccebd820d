/* Wire-boundary helpers shared by agent and coordinator: pack, seal, unpack, names, JSON. */
#ifndef EBB_COMMON_PROTO_UTIL_H
#define EBB_COMMON_PROTO_UTIL_H

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

#include "common/envelope.h"
#include "common/error.h"
#include "common/keys.h"
#include "ebb.pb-c.h"

/* Unix time now, in ms and µs (wall clock: envelopes carry wall-clock times). */
int64_t ebb_proto_now_ms(void);
uint64_t ebb_proto_now_us(void);

/* Pack msg into a malloc'd buffer (caller frees; never NULL on success, even for 0 bytes). */
EBB_MUSTCHECK ebb_code ebb_proto_pack(const ProtobufCMessage *msg, uint8_t **out, size_t *out_len,
                                      ebb_error *err);

/*
 * Unpack len bytes as a message of descriptor d. Malformed bytes, or a
 * missing required field, are EBB_E_ENV_MALFORMED naming `what`. *out is
 * owned by the caller (protobuf_c_message_free_unpacked(*out, NULL)).
 */
EBB_MUSTCHECK ebb_code ebb_proto_unpack(const ProtobufCMessageDescriptor *d, const uint8_t *data,
                                        size_t len, const char *what, ProtobufCMessage **out,
                                        ebb_error *err);

/* The body message a BodyType names; NULL for BODY_NONE and unknown types. */
const ProtobufCMessageDescriptor *ebb_proto_body_descriptor(uint32_t body_type);

/*
 * One sender: its key and its sequence counter. Sealing is thread-safe
 * (the sequence is taken under a mutex). The key is borrowed and must
 * outlive the sealer.
 */
typedef struct ebb_sealer {
    const ebb_secret_key *key;
    int64_t ttl_ms;
    pthread_mutex_t mutex;
    uint64_t last_seq;
} ebb_sealer;

void ebb_sealer_init(ebb_sealer *s, const ebb_secret_key *key, int64_t ttl_ms);
void ebb_sealer_fini(ebb_sealer *s);

/*
 * Pack body and seal it for `to` with the next sequence and the current
 * time. *out malloc'd (caller frees); set only on success.
 */
EBB_MUSTCHECK ebb_code ebb_sealer_seal(ebb_sealer *s, const ebb_key_id *to, uint32_t body_type,
                                       const ProtobufCMessage *body, uint8_t **out, size_t *out_len,
                                       ebb_error *err);

/* Stable lower-case names: "inspect", "stop_services", ...; "none" for ACTION_NONE. */
const char *ebb_proto_action_name(Ebb__JobAction action);
/* Parse a name back; EBB_E_INVALID for unknown names (and for "none"). */
EBB_MUSTCHECK ebb_code ebb_proto_action_parse(const char *name, Ebb__JobAction *out,
                                              ebb_error *err);

/* "succeeded", "failed", "interrupted", "rejected", "cancelled", "none". */
const char *ebb_proto_outcome_name(Ebb__JobOutcome outcome);

/* "pending", "accepted", "revoked". */
const char *ebb_proto_enroll_name(Ebb__EnrollmentState state);

/* A JobResult as a JSON object (new reference, caller decrefs); NULL when out of memory. */
json_t *ebb_proto_result_json(const Ebb__JobResult *r);

/* A DatabaseInfo as a JSON object (new reference); NULL when out of memory. */
json_t *ebb_proto_database_json(const Ebb__DatabaseInfo *d);

#endif
