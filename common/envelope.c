/* The signed envelope: canonical encoding, sealing and checked opening. */
#include "common/envelope.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define CONTEXT_LEN sizeof EBB_ENVELOPE_CONTEXT /* includes the NUL: 16 */

/* A bounded writer over a buffer sized in advance. */
struct writer {
    uint8_t *p;
};

static void w_u32(struct writer *w, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        w->p[i] = (uint8_t)v;
    w->p += 4;
}

static void w_u64(struct writer *w, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        w->p[i] = (uint8_t)v;
    w->p += 8;
}

static void w_str(struct writer *w, const void *data, size_t len)
{
    w_u32(w, (uint32_t)len);
    if (len > 0)
        memcpy(w->p, data, len);
    w->p += len;
}

ebb_code ebb_envelope_signed_bytes(const Ebb__Envelope *env, uint8_t **out, size_t *out_len,
                                   ebb_error *err)
{
    size_t rlen = env->recipient != NULL ? strlen(env->recipient) : 0;
    /* Length prefixes are 32-bit; anything near that is far over every limit. */
    if (env->signer_key_id.len > UINT32_MAX / 4 || rlen > UINT32_MAX / 4 ||
        env->nonce.len > UINT32_MAX / 4 || env->body.len > UINT32_MAX / 4)
        return ebb_error_set(err, EBB_E_ENV_TOO_LARGE, "envelope field too large to sign");
    size_t len = CONTEXT_LEN + 4 + (4 + env->signer_key_id.len) + (4 + rlen) + 8 + 8 + 8 +
                 (4 + env->nonce.len) + 4 + (4 + env->body.len);
    uint8_t *buf = malloc(len);
    if (buf == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "envelope: out of memory (%zu bytes)", len);
    struct writer w = {buf};
    memcpy(w.p, EBB_ENVELOPE_CONTEXT, CONTEXT_LEN);
    w.p += CONTEXT_LEN;
    w_u32(&w, env->version);
    w_str(&w, env->signer_key_id.data, env->signer_key_id.len);
    w_str(&w, env->recipient, rlen);
    w_u64(&w, env->sequence);
    w_u64(&w, (uint64_t)env->issued_at_ms);
    w_u64(&w, (uint64_t)env->expires_at_ms);
    w_str(&w, env->nonce.data, env->nonce.len);
    w_u32(&w, env->body_type);
    w_str(&w, env->body.data, env->body.len);
    *out = buf;
    *out_len = len;
    return EBB_OK;
}

uint64_t ebb_seq_next(uint64_t last, uint64_t now_us)
{
    uint64_t next = last == UINT64_MAX ? UINT64_MAX : last + 1;
    return now_us > next ? now_us : next;
}

ebb_code ebb_envelope_seal(const ebb_seal_args *a, uint8_t **out, size_t *out_len, ebb_error *err)
{
    ebb_code rc = ebb_crypto_init(err);
    if (rc != EBB_OK)
        return rc;
    int64_t expires;
    if (a->ttl_ms <= 0 || __builtin_add_overflow(a->now_ms, a->ttl_ms, &expires))
        return ebb_error_set(err, EBB_E_INVALID, "envelope: bad ttl %" PRId64 " ms", a->ttl_ms);
    if (a->body == NULL && a->body_len > 0)
        return ebb_error_set(err, EBB_E_INVALID, "envelope: body is NULL");

    char recipient[EBB_KEY_ID_HEX_SIZE];
    ebb_key_id_hex(a->recipient, recipient);
    uint8_t nonce[EBB_NONCE_LEN];
    randombytes_buf(nonce, sizeof nonce);
    uint8_t signer_id[EBB_KEY_ID_LEN];
    memcpy(signer_id, ebb_secret_key_id(a->signer)->bytes, sizeof signer_id);
    uint8_t sig[EBB_SIGNATURE_LEN];

    Ebb__Envelope env = EBB__ENVELOPE__INIT;
    env.version = EBB_PROTOCOL_VERSION;
    env.signer_key_id = (ProtobufCBinaryData){sizeof signer_id, signer_id};
    env.recipient = recipient;
    env.sequence = a->sequence;
    env.issued_at_ms = a->now_ms;
    env.expires_at_ms = expires;
    env.nonce = (ProtobufCBinaryData){sizeof nonce, nonce};
    env.body_type = a->body_type;
    env.body = (ProtobufCBinaryData){a->body_len, (uint8_t *)a->body};

    uint8_t *signed_bytes = NULL;
    size_t signed_len = 0;
    rc = ebb_envelope_signed_bytes(&env, &signed_bytes, &signed_len, err);
    if (rc != EBB_OK)
        return rc;
    rc = ebb_secret_key_sign(a->signer, signed_bytes, signed_len, sig, err);
    free(signed_bytes);
    if (rc != EBB_OK)
        return rc;
    env.signature = (ProtobufCBinaryData){sizeof sig, sig};

    size_t len = ebb__envelope__get_packed_size(&env);
    uint8_t *buf = malloc(len > 0 ? len : 1);
    if (buf == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "envelope: out of memory (%zu bytes)", len);
    ebb__envelope__pack(&env, buf);
    *out = buf;
    *out_len = len;
    return EBB_OK;
}

/* Structure checks that need no key: lengths, canonical bytes, times. */
static ebb_code check_structure(const Ebb__Envelope *env, const uint8_t *data, size_t len,
                                ebb_error *err)
{
    if (env->signer_key_id.len != EBB_KEY_ID_LEN || env->nonce.len != EBB_NONCE_LEN ||
        env->signature.len != EBB_SIGNATURE_LEN || env->recipient == NULL)
        return ebb_error_set(err, EBB_E_ENV_MALFORMED,
                             "malformed envelope: signer key id %zu bytes (want %d), nonce %zu "
                             "(want %d), signature %zu (want %d)",
                             env->signer_key_id.len, EBB_KEY_ID_LEN, env->nonce.len, EBB_NONCE_LEN,
                             env->signature.len, EBB_SIGNATURE_LEN);
    /*
     * One message, one encoding: re-packing must give the input back. This
     * refuses unknown fields, repeated fields and over-long varints, so the
     * bytes on the wire cannot be varied without breaking the signature.
     */
    size_t plen = ebb__envelope__get_packed_size(env);
    if (plen != len || env->base.n_unknown_fields != 0)
        return ebb_error_set(err, EBB_E_ENV_MALFORMED,
                             "malformed envelope: not in canonical encoding (%zu bytes, "
                             "canonical %zu, %u unknown fields)",
                             len, plen, env->base.n_unknown_fields);
    uint8_t *re = malloc(plen > 0 ? plen : 1);
    if (re == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "envelope: out of memory (%zu bytes)", plen);
    ebb__envelope__pack(env, re);
    int same = memcmp(re, data, len) == 0;
    free(re);
    if (!same)
        return ebb_error_set(err, EBB_E_ENV_MALFORMED,
                             "malformed envelope: not in canonical encoding");
    if (env->expires_at_ms < env->issued_at_ms)
        return ebb_error_set(err, EBB_E_ENV_MALFORMED,
                             "malformed envelope: expires_at %" PRId64 " before issued_at %" PRId64,
                             env->expires_at_ms, env->issued_at_ms);
    return EBB_OK;
}

static ebb_code check_signature(const Ebb__Envelope *env, const ebb_public_key *pk,
                                const char *signer_hex, ebb_error *err)
{
    uint8_t *signed_bytes = NULL;
    size_t signed_len = 0;
    ebb_code rc = ebb_envelope_signed_bytes(env, &signed_bytes, &signed_len, err);
    if (rc != EBB_OK)
        return rc;
    bool ok = ebb_public_key_verify(pk, signed_bytes, signed_len, env->signature.data);
    free(signed_bytes);
    if (!ok)
        return ebb_error_set(err, EBB_E_ENV_SIGNATURE,
                             "bad signature on a message claiming signer %s (sequence %" PRIu64 ")",
                             signer_hex, env->sequence);
    return EBB_OK;
}

static ebb_code check_envelope(const ebb_open_ctx *ctx, const Ebb__Envelope *env,
                               const uint8_t *data, size_t len, ebb_key_id *signer, ebb_error *err)
{
    ebb_code rc = check_structure(env, data, len, err);
    if (rc != EBB_OK)
        return rc;
    if (env->version != ctx->version)
        return ebb_error_set(err, EBB_E_ENV_VERSION,
                             "unsupported protocol version %u (this side speaks %u)", env->version,
                             ctx->version);

    memcpy(signer->bytes, env->signer_key_id.data, EBB_KEY_ID_LEN);
    char hex[EBB_KEY_ID_HEX_SIZE];
    ebb_key_id_hex(signer, hex);
    ebb_public_key pk;
    switch (ctx->lookup(ctx->lookup_ctx, signer, &pk)) {
    case EBB_KEY_ACTIVE:
        break;
    case EBB_KEY_REVOKED:
        return ebb_error_set(err, EBB_E_ENV_REVOKED_SIGNER, "signer %s is revoked", hex);
    default:
        return ebb_error_set(err, EBB_E_ENV_UNKNOWN_SIGNER, "signer %s is not a trusted key", hex);
    }

    char self_hex[EBB_KEY_ID_HEX_SIZE];
    ebb_key_id_hex(ctx->self_id, self_hex);
    if (strcmp(env->recipient, self_hex) != 0)
        return ebb_error_set(err, EBB_E_ENV_RECIPIENT,
                             "message from %s is for recipient '%.40s', not for us (%s)", hex,
                             env->recipient, self_hex);

    rc = check_signature(env, &pk, hex, err);
    if (rc != EBB_OK)
        return rc;

    if (ctx->now_ms > env->expires_at_ms)
        return ebb_error_set(err, EBB_E_ENV_EXPIRED,
                             "message from %s (sequence %" PRIu64 ") expired at %" PRId64
                             " ms, now is %" PRId64 " ms",
                             hex, env->sequence, env->expires_at_ms, ctx->now_ms);
    /* Unsigned difference: no overflow for any pair of int64 times. */
    if (env->issued_at_ms > ctx->now_ms &&
        (uint64_t)env->issued_at_ms - (uint64_t)ctx->now_ms > (uint64_t)ctx->max_skew_ms)
        return ebb_error_set(err, EBB_E_ENV_FUTURE,
                             "message from %s (sequence %" PRIu64 ") issued at %" PRId64
                             " ms, more than %" PRId64 " ms after now (%" PRId64 " ms)",
                             hex, env->sequence, env->issued_at_ms, ctx->max_skew_ms, ctx->now_ms);

    /* Last: only a message that passed every other check moves the mark. */
    return ebb_replay_advance(ctx->replay, signer, env->sequence, err);
}

ebb_code ebb_envelope_open(const ebb_open_ctx *ctx, const uint8_t *data, size_t len,
                           ebb_opened *out, ebb_error *err)
{
    if (len > ctx->max_size)
        return ebb_error_set(err, EBB_E_ENV_TOO_LARGE,
                             "message of %zu bytes is over the limit of %zu", len, ctx->max_size);
    Ebb__Envelope *env = ebb__envelope__unpack(NULL, len, data);
    if (env == NULL)
        return ebb_error_set(err, EBB_E_ENV_MALFORMED,
                             "malformed envelope: %zu bytes are not an Envelope protobuf", len);
    /* Allocated before the checks so that an accepted message is never lost after its
     * sequence was recorded. */
    uint8_t *body = malloc(env->body.len > 0 ? env->body.len : 1);
    if (body == NULL) {
        ebb__envelope__free_unpacked(env, NULL);
        return ebb_error_set(err, EBB_E_NOMEM, "envelope: out of memory");
    }
    ebb_key_id signer;
    ebb_code rc = check_envelope(ctx, env, data, len, &signer, err);
    if (rc == EBB_OK) {
        if (env->body.len > 0)
            memcpy(body, env->body.data, env->body.len);
        *out = (ebb_opened){
            .signer = signer,
            .sequence = env->sequence,
            .issued_at_ms = env->issued_at_ms,
            .expires_at_ms = env->expires_at_ms,
            .body_type = env->body_type,
            .body = body,
            .body_len = env->body.len,
        };
    } else {
        free(body);
    }
    ebb__envelope__free_unpacked(env, NULL);
    return rc;
}

void ebb_opened_fini(ebb_opened *opened)
{
    if (opened == NULL)
        return;
    free(opened->body);
    opened->body = NULL;
    opened->body_len = 0;
}

bool ebb_envelope_peek_signer(const uint8_t *data, size_t len, size_t max_size, ebb_key_id *out)
{
    if (len > max_size)
        return false;
    Ebb__Envelope *env = ebb__envelope__unpack(NULL, len, data);
    if (env == NULL)
        return false;
    bool ok = env->signer_key_id.len == EBB_KEY_ID_LEN;
    if (ok)
        memcpy(out->bytes, env->signer_key_id.data, EBB_KEY_ID_LEN);
    ebb__envelope__free_unpacked(env, NULL);
    return ok;
}
