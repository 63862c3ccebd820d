/* The signed envelope every ebb message travels in: sealing and checked opening. */
#ifndef EBB_COMMON_ENVELOPE_H
#define EBB_COMMON_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/keyring.h"
#include "common/keys.h"
#include "common/replay.h"
#include "ebb.pb-c.h"

#define EBB_PROTOCOL_VERSION 1
#define EBB_NONCE_LEN 16

/*
 * The signed bytes. The signature covers this encoding, never the protobuf
 * bytes (protobuf has many encodings of one message). Integers big-endian;
 * "str" = 4-byte length then the bytes:
 *
 *   16 bytes  context "ebb-envelope-v1\0"
 *    4        version
 *    4 + n    signer_key_id (str)
 *    4 + n    recipient (str, the recipient's key id as 16 hex characters)
 *    8        sequence
 *    8        issued_at_ms (two's complement)
 *    8        expires_at_ms (two's complement)
 *    4 + n    nonce (str)
 *    4        body_type
 *    4 + n    body (str)
 */
#define EBB_ENVELOPE_CONTEXT "ebb-envelope-v1" /* with its NUL: 16 bytes */

/* What to seal. The caller keeps everything it points to. */
typedef struct ebb_seal_args {
    const ebb_secret_key *signer;
    const ebb_key_id *recipient;
    uint64_t sequence;   /* from ebb_seq_next */
    int64_t now_ms;      /* Unix time, ms: becomes issued_at_ms */
    int64_t ttl_ms;      /* > 0: expires_at_ms = now_ms + ttl_ms */
    uint32_t body_type;  /* EBB__BODY_TYPE__* */
    const uint8_t *body; /* packed body message; may be NULL when body_len is 0 */
    size_t body_len;
} ebb_seal_args;

/*
 * Seal: fill an Envelope with a fresh random nonce, sign its canonical
 * encoding and pack it. *out is malloc'd (caller frees); set only on success.
 */
EBB_MUSTCHECK ebb_code ebb_envelope_seal(const ebb_seal_args *args, uint8_t **out, size_t *out_len,
                                         ebb_error *err);

/*
 * The next sequence number for a sender: max(last + 1, now_us).
 * Clock assumption: senders keep no sequence on disk. After a restart last
 * is 0 and the wall clock in microseconds takes over, which is above every
 * sequence sent before as long as (a) the clock did not step back across the
 * restart and (b) the sender sent, on average, at most one message per
 * microsecond (so last never ran ahead of the clock). A sender whose clock
 * steps back keeps counting from last + 1 while it runs.
 */
uint64_t ebb_seq_next(uint64_t last, uint64_t now_us);

/* Look up a signer: active / revoked / unknown; pk_out filled when known. */
typedef ebb_key_status (*ebb_trust_lookup_fn)(void *ctx, const ebb_key_id *id,
                                              ebb_public_key *pk_out);

/* What the receiver checks against. Nothing here is owned by the open. */
typedef struct ebb_open_ctx {
    size_t max_size;            /* larger input: EBB_E_ENV_TOO_LARGE, not even unpacked */
    const ebb_key_id *self_id;  /* recipient must be this key's id */
    ebb_trust_lookup_fn lookup; /* e.g. ebb_keyring_lookup_fn */
    void *lookup_ctx;
    ebb_replay *replay;  /* per-signer high-water marks */
    int64_t now_ms;      /* Unix time, ms */
    int64_t max_skew_ms; /* how far issued_at may be ahead of now */
    uint32_t version;    /* the protocol version we speak */
} ebb_open_ctx;

/* A verified message. body is malloc'd; ebb_opened_fini frees it. */
typedef struct ebb_opened {
    ebb_key_id signer;
    uint64_t sequence;
    int64_t issued_at_ms;
    int64_t expires_at_ms;
    uint32_t body_type;
    uint8_t *body; /* never NULL after a successful open, even when body_len is 0 */
    size_t body_len;
} ebb_opened;

/*
 * Check and open. In order, each with its own code and a message naming the
 * signer and the values: size (TOO_LARGE), protobuf unpack, field lengths,
 * canonical encoding and expires >= issued (MALFORMED), version (VERSION),
 * signer unknown (UNKNOWN_SIGNER) or revoked (REVOKED_SIGNER), recipient
 * (RECIPIENT), signature (SIGNATURE), now > expires (EXPIRED),
 * issued > now + skew (FUTURE), sequence not above the signer's mark
 * (REPLAY). Only a message that passes all of them advances the mark and
 * fills *out; a rejection never yields a body.
 */
EBB_MUSTCHECK ebb_code ebb_envelope_open(const ebb_open_ctx *ctx, const uint8_t *data, size_t len,
                                         ebb_opened *out, ebb_error *err);

void ebb_opened_fini(ebb_opened *opened);

/*
 * The signer key id a message *claims*, unauthenticated: only for
 * addressing an error reply to a rejected message. False when there is none.
 */
bool ebb_envelope_peek_signer(const uint8_t *data, size_t len, size_t max_size, ebb_key_id *out);

/*
 * The canonical signed bytes of env (layout above); *out malloc'd, caller
 * frees. Exposed for tests and tools that re-sign modified envelopes.
 */
EBB_MUSTCHECK ebb_code ebb_envelope_signed_bytes(const Ebb__Envelope *env, uint8_t **out,
                                                 size_t *out_len, ebb_error *err);

#endif
