/* Unit tests for the signed envelope: one test per rejection, plus tampering sweeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "common/envelope.h"
#include "common/keyring.h"

#define NOW 1700000000000LL /* ms */
#define SKEW 30000
#define TTL 60000

struct fixture {
    ebb_secret_key *sender, *receiver, *stranger, *third;
    ebb_keyring *ring;
    ebb_replay *replay;
    ebb_open_ctx ctx;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (f == NULL || ebb_secret_key_generate(&f->sender, NULL) != EBB_OK ||
        ebb_secret_key_generate(&f->receiver, NULL) != EBB_OK ||
        ebb_secret_key_generate(&f->stranger, NULL) != EBB_OK ||
        ebb_secret_key_generate(&f->third, NULL) != EBB_OK ||
        ebb_keyring_alloc(&f->ring, NULL) != EBB_OK ||
        ebb_keyring_add(f->ring, ebb_secret_key_public(f->sender), "sender", NULL) != EBB_OK ||
        ebb_keyring_add(f->ring, ebb_secret_key_public(f->third), "third", NULL) != EBB_OK ||
        ebb_replay_open(NULL, &f->replay, NULL) != EBB_OK)
        return -1;
    f->ctx = (ebb_open_ctx){
        .max_size = 64 * 1024,
        .self_id = ebb_secret_key_id(f->receiver),
        .lookup = ebb_keyring_lookup_fn,
        .lookup_ctx = f->ring,
        .replay = f->replay,
        .now_ms = NOW,
        .max_skew_ms = SKEW,
        .version = EBB_PROTOCOL_VERSION,
    };
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    ebb_secret_key_free(f->sender);
    ebb_secret_key_free(f->receiver);
    ebb_secret_key_free(f->stranger);
    ebb_secret_key_free(f->third);
    ebb_keyring_free(f->ring);
    ebb_replay_close(f->replay);
    free(f);
    return 0;
}

struct msg {
    uint8_t *data;
    size_t len;
};

static struct msg seal_full(const ebb_secret_key *signer, const ebb_secret_key *to, uint64_t seq,
                            int64_t now, int64_t ttl, const char *body)
{
    ebb_seal_args a = {
        .signer = signer,
        .recipient = ebb_secret_key_id(to),
        .sequence = seq,
        .now_ms = now,
        .ttl_ms = ttl,
        .body_type = EBB__BODY_TYPE__BODY_TEST_PAYLOAD,
        .body = (const uint8_t *)body,
        .body_len = strlen(body),
    };
    struct msg m = {0};
    ebb_error err;
    ebb_code rc = ebb_envelope_seal(&a, &m.data, &m.len, &err);
    if (rc != EBB_OK)
        fail_msg("seal: %s", err.msg);
    return m;
}

static struct msg seal(struct fixture *f, uint64_t seq)
{
    return seal_full(f->sender, f->receiver, seq, NOW, TTL, "hello");
}

/* Unpack, let edit change fields, sign again with signer, pack. */
static struct msg resign(struct msg in, const ebb_secret_key *signer,
                         void (*edit)(Ebb__Envelope *env))
{
    Ebb__Envelope *env = ebb__envelope__unpack(NULL, in.len, in.data);
    assert_non_null(env);
    edit(env);
    uint8_t *sb = NULL;
    size_t sb_len = 0;
    assert_int_equal(ebb_envelope_signed_bytes(env, &sb, &sb_len, NULL), EBB_OK);
    static uint8_t sig[EBB_SIGNATURE_LEN];
    assert_int_equal(ebb_secret_key_sign(signer, sb, sb_len, sig, NULL), EBB_OK);
    free(sb);
    /* env->signature points into the unpacked buffer; swap in our own. */
    ProtobufCBinaryData old = env->signature;
    env->signature = (ProtobufCBinaryData){sizeof sig, sig};
    struct msg out = {.len = ebb__envelope__get_packed_size(env)};
    out.data = malloc(out.len);
    ebb__envelope__pack(env, out.data);
    env->signature = old;
    ebb__envelope__free_unpacked(env, NULL);
    free(in.data);
    return out;
}

/* Open m and expect `want`; a rejection must leave *out untouched and no mark. */
static void expect(struct fixture *f, struct msg m, ebb_code want, const char *needle)
{
    ebb_opened out;
    memset(&out, 0xA5, sizeof out);
    ebb_opened pristine = out;
    ebb_error err;
    ebb_error_clear(&err);
    ebb_code rc = ebb_envelope_open(&f->ctx, m.data, m.len, &out, &err);
    if (rc != want)
        fail_msg("want %s, got %s: %s", ebb_code_name(want), ebb_code_name(rc), err.msg);
    if (want == EBB_OK) {
        ebb_opened_fini(&out);
        return;
    }
    assert_memory_equal(&out, &pristine, sizeof out); /* no body, nothing delivered */
    assert_int_equal(err.code, want);
    if (needle != NULL && strstr(err.msg, needle) == NULL)
        fail_msg("message '%s' does not mention '%s'", err.msg, needle);
}

static void sender_hex(struct fixture *f, char hex[EBB_KEY_ID_HEX_SIZE])
{
    ebb_key_id_hex(ebb_secret_key_id(f->sender), hex);
}

static void test_round_trip(void **state)
{
    struct fixture *f = *state;
    struct msg m = seal(f, 7);
    ebb_opened out;
    assert_int_equal(ebb_envelope_open(&f->ctx, m.data, m.len, &out, NULL), EBB_OK);
    assert_true(ebb_key_id_equal(&out.signer, ebb_secret_key_id(f->sender)));
    assert_int_equal(out.sequence, 7);
    assert_int_equal(out.issued_at_ms, NOW);
    assert_int_equal(out.expires_at_ms, NOW + TTL);
    assert_int_equal(out.body_type, EBB__BODY_TYPE__BODY_TEST_PAYLOAD);
    assert_int_equal(out.body_len, 5);
    assert_memory_equal(out.body, "hello", 5);
    ebb_opened_fini(&out);
    assert_null(out.body);
    uint64_t hw = 0;
    assert_true(ebb_replay_high_water(f->replay, ebb_secret_key_id(f->sender), &hw));
    assert_int_equal(hw, 7);
    free(m.data);

    /* An empty body is delivered as a non-NULL, zero-length buffer. */
    m = seal_full(f->sender, f->receiver, 8, NOW, TTL, "");
    assert_int_equal(ebb_envelope_open(&f->ctx, m.data, m.len, &out, NULL), EBB_OK);
    assert_non_null(out.body);
    assert_int_equal(out.body_len, 0);
    ebb_opened_fini(&out);
    free(m.data);

    /* Two seals of the same content differ (fresh nonce). */
    struct msg a = seal(f, 9), b = seal(f, 9);
    assert_int_equal(a.len, b.len);
    assert_memory_not_equal(a.data, b.data, a.len);
    free(a.data);
    free(b.data);
}

static void no_edit(Ebb__Envelope *env)
{
    (void)env;
}

static void test_bad_signature(void **state)
{
    struct fixture *f = *state;
    char hex[EBB_KEY_ID_HEX_SIZE];
    sender_hex(f, hex);
    /* Last byte of the packed message is the signature's last byte. */
    struct msg m = seal(f, 1);
    m.data[m.len - 1] ^= 0x40;
    expect(f, m, EBB_E_ENV_SIGNATURE, hex);
    free(m.data);

    /* Signed by a stranger but claiming the sender's key id. */
    m = seal_full(f->stranger, f->receiver, 1, NOW, TTL, "hello");
    Ebb__Envelope *env = ebb__envelope__unpack(NULL, m.len, m.data);
    assert_non_null(env);
    memcpy(env->signer_key_id.data, ebb_secret_key_id(f->sender)->bytes, EBB_KEY_ID_LEN);
    free(m.data);
    m.len = ebb__envelope__get_packed_size(env);
    m.data = malloc(m.len);
    ebb__envelope__pack(env, m.data);
    ebb__envelope__free_unpacked(env, NULL);
    /* Re-signing with the stranger over the new id: still not the sender's signature. */
    m = resign(m, f->stranger, no_edit);
    expect(f, m, EBB_E_ENV_SIGNATURE, hex);
    free(m.data);

    /* A body changed after signing. */
    m = seal(f, 1);
    size_t at = m.len - EBB_SIGNATURE_LEN - 2 - 1; /* last body byte */
    assert_int_equal(m.data[at], 'o');
    m.data[at] = 'O';
    expect(f, m, EBB_E_ENV_SIGNATURE, NULL);
    free(m.data);

    uint64_t hw;
    assert_false(ebb_replay_high_water(f->replay, ebb_secret_key_id(f->sender), &hw));
}

static void test_unknown_signer(void **state)
{
    struct fixture *f = *state;
    struct msg m = seal_full(f->stranger, f->receiver, 1, NOW, TTL, "hello");
    char hex[EBB_KEY_ID_HEX_SIZE];
    ebb_key_id_hex(ebb_secret_key_id(f->stranger), hex);
    expect(f, m, EBB_E_ENV_UNKNOWN_SIGNER, hex);
    free(m.data);
}

static void test_revoked_signer(void **state)
{
    struct fixture *f = *state;
    struct msg m = seal(f, 1);
    assert_int_equal(ebb_keyring_revoke(f->ring, ebb_secret_key_id(f->sender), NULL), EBB_OK);
    char hex[EBB_KEY_ID_HEX_SIZE];
    sender_hex(f, hex);
    expect(f, m, EBB_E_ENV_REVOKED_SIGNER, hex);
    free(m.data);
}

static void test_wrong_recipient(void **state)
{
    struct fixture *f = *state;
    struct msg m = seal_full(f->sender, f->third, 1, NOW, TTL, "hello");
    char hex[EBB_KEY_ID_HEX_SIZE];
    ebb_key_id_hex(ebb_secret_key_id(f->third), hex);
    expect(f, m, EBB_E_ENV_RECIPIENT, hex);
    free(m.data);
}

static void test_expired(void **state)
{
    struct fixture *f = *state;
    struct msg m = seal_full(f->sender, f->receiver, 1, NOW - 2000, 1000, "hello");
    expect(f, m, EBB_E_ENV_EXPIRED, "expired");
    /* At the expiry instant it is still valid; one ms later it is not. */
    f->ctx.now_ms = NOW - 1000;
    expect(f, m, EBB_OK, NULL);
    free(m.data);
}

static void test_future(void **state)
{
    struct fixture *f = *state;
    struct msg m = seal_full(f->sender, f->receiver, 1, NOW + SKEW + 1, TTL, "hello");
    expect(f, m, EBB_E_ENV_FUTURE, "after now");
    free(m.data);
    /* Ahead by exactly the allowed skew: accepted. */
    m = seal_full(f->sender, f->receiver, 2, NOW + SKEW, TTL, "hello");
    expect(f, m, EBB_OK, NULL);
    free(m.data);
    /* And a little behind (the receiver's clock is fast): accepted. */
    m = seal_full(f->sender, f->receiver, 3, NOW - 500, TTL, "hello");
    expect(f, m, EBB_OK, NULL);
    free(m.data);
}

static void test_replay_same_message(void **state)
{
    struct fixture *f = *state;
    struct msg m = seal(f, 10);
    expect(f, m, EBB_OK, NULL);
    expect(f, m, EBB_E_ENV_REPLAY, "10");
    free(m.data);
}

static void test_reordered_sequence(void **state)
{
    struct fixture *f = *state;
    struct msg five = seal(f, 5), four = seal(f, 4), six = seal(f, 6);
    expect(f, five, EBB_OK, NULL);
    expect(f, four, EBB_E_ENV_REPLAY, "sequence 4");
    expect(f, six, EBB_OK, NULL);
    uint64_t hw = 0;
    assert_true(ebb_replay_high_water(f->replay, ebb_secret_key_id(f->sender), &hw));
    assert_int_equal(hw, 6);
    free(five.data);
    free(four.data);
    free(six.data);
}

static void set_version_2(Ebb__Envelope *env)
{
    env->version = 2;
}

static void set_version_0(Ebb__Envelope *env)
{
    env->version = 0;
}

static void test_unsupported_version(void **state)
{
    struct fixture *f = *state;
    /* Properly signed, so only the version check can refuse them. */
    struct msg m = resign(seal(f, 1), f->sender, set_version_2);
    expect(f, m, EBB_E_ENV_VERSION, "version 2");
    free(m.data);
    m = resign(seal(f, 1), f->sender, set_version_0);
    expect(f, m, EBB_E_ENV_VERSION, "version 0");
    free(m.data);
    /* The resigning helper itself produces acceptable messages. */
    m = resign(seal(f, 1), f->sender, no_edit);
    expect(f, m, EBB_OK, NULL);
    free(m.data);
}

static void test_oversized(void **state)
{
    struct fixture *f = *state;
    char *big = malloc(70 * 1024);
    memset(big, 'x', 70 * 1024 - 1);
    big[70 * 1024 - 1] = '\0';
    struct msg m = seal_full(f->sender, f->receiver, 1, NOW, TTL, big);
    free(big);
    assert_true(m.len > f->ctx.max_size);
    expect(f, m, EBB_E_ENV_TOO_LARGE, "over the limit");
    /* Exactly at the limit is fine. */
    f->ctx.max_size = m.len;
    expect(f, m, EBB_OK, NULL);
    free(m.data);
}

static void test_truncated_every_prefix(void **state)
{
    struct fixture *f = *state;
    struct msg m = seal(f, 1);
    for (size_t n = 0; n < m.len; n++) {
        struct msg prefix = {m.data, n};
        expect(f, prefix, EBB_E_ENV_MALFORMED, NULL);
    }
    expect(f, m, EBB_OK, NULL);
    free(m.data);
}

static void test_garbage(void **state)
{
    struct fixture *f = *state;
    uint8_t buf[512];
    for (int round = 0; round < 200; round++) {
        size_t n = 1 + (size_t)(round * 37) % sizeof buf;
        randombytes_buf(buf, n);
        expect(f, (struct msg){buf, n}, EBB_E_ENV_MALFORMED, NULL);
    }
    const char text[] = "GET / HTTP/1.1\r\nHost: ebb\r\n\r\n";
    expect(f, (struct msg){(uint8_t *)text, sizeof text - 1}, EBB_E_ENV_MALFORMED,
           "not an Envelope");
    /* A valid protobuf of another type is not an Envelope either. */
    Ebb__TestPayload tp = EBB__TEST_PAYLOAD__INIT;
    tp.counter = 3;
    size_t n = ebb__test_payload__get_packed_size(&tp);
    ebb__test_payload__pack(&tp, buf);
    expect(f, (struct msg){buf, n}, EBB_E_ENV_MALFORMED, NULL);
}

static void test_every_flipped_byte_rejected(void **state)
{
    struct fixture *f = *state;
    struct msg m = seal(f, 1);
    const uint8_t masks[] = {0x01, 0x80, 0xFF};
    for (size_t i = 0; i < m.len; i++) {
        for (size_t k = 0; k < sizeof masks; k++) {
            m.data[i] ^= masks[k];
            ebb_opened out;
            memset(&out, 0, sizeof out);
            ebb_error err;
            ebb_code rc = ebb_envelope_open(&f->ctx, m.data, m.len, &out, &err);
            if (rc == EBB_OK)
                fail_msg("byte %zu ^ 0x%02x was accepted", i, masks[k]);
            assert_true(rc >= EBB_E_ENV_TOO_LARGE && rc <= EBB_E_ENV_REPLAY);
            assert_null(out.body);
            m.data[i] ^= masks[k];
        }
    }
    uint64_t hw;
    assert_false(ebb_replay_high_water(f->replay, ebb_secret_key_id(f->sender), &hw));
    expect(f, m, EBB_OK, NULL); /* the untouched message still opens */
    free(m.data);
}

static void short_nonce(Ebb__Envelope *env)
{
    env->nonce.len = EBB_NONCE_LEN - 1;
}

static void short_key_id(Ebb__Envelope *env)
{
    env->signer_key_id.len = EBB_KEY_ID_LEN - 1;
}

static void expires_before_issued(Ebb__Envelope *env)
{
    env->expires_at_ms = env->issued_at_ms - 1;
}

static void test_malformed_fields(void **state)
{
    struct fixture *f = *state;
    struct msg m = resign(seal(f, 1), f->sender, short_nonce);
    expect(f, m, EBB_E_ENV_MALFORMED, "nonce 15");
    free(m.data);
    m = resign(seal(f, 1), f->sender, short_key_id);
    expect(f, m, EBB_E_ENV_MALFORMED, "signer key id 7");
    free(m.data);
    m = resign(seal(f, 1), f->sender, expires_before_issued);
    expect(f, m, EBB_E_ENV_MALFORMED, "before issued_at");
    free(m.data);

    /* A 63-byte signature. */
    m = seal(f, 1);
    Ebb__Envelope *env = ebb__envelope__unpack(NULL, m.len, m.data);
    env->signature.len = EBB_SIGNATURE_LEN - 1;
    free(m.data);
    m.len = ebb__envelope__get_packed_size(env);
    m.data = malloc(m.len);
    ebb__envelope__pack(env, m.data);
    ebb__envelope__free_unpacked(env, NULL);
    expect(f, m, EBB_E_ENV_MALFORMED, "signature 63");
    free(m.data);
}

static void test_non_canonical_encoding(void **state)
{
    struct fixture *f = *state;
    struct msg m = seal(f, 1);
    uint8_t *buf = malloc(m.len + 8);
    /* An unknown field (number 15, varint 1) after a correctly signed message. */
    memcpy(buf, m.data, m.len);
    buf[m.len] = 15 << 3;
    buf[m.len + 1] = 1;
    expect(f, (struct msg){buf, m.len + 2}, EBB_E_ENV_MALFORMED, "canonical");
    /* The version field repeated (protobuf keeps the last): same values, other bytes. */
    memcpy(buf, m.data, m.len);
    buf[m.len] = 1 << 3;
    buf[m.len + 1] = EBB_PROTOCOL_VERSION;
    expect(f, (struct msg){buf, m.len + 2}, EBB_E_ENV_MALFORMED, "canonical");
    /* An over-long varint for version (0x81 0x00 == 1). */
    assert_int_equal(m.data[0], 1 << 3);
    assert_int_equal(m.data[1], 1);
    buf[0] = m.data[0];
    buf[1] = 0x81;
    buf[2] = 0x00;
    memcpy(buf + 3, m.data + 2, m.len - 2);
    expect(f, (struct msg){buf, m.len + 1}, EBB_E_ENV_MALFORMED, "canonical");
    /* Fields in another order: same length, same values, different bytes. */
    memcpy(buf, m.data + 2, m.len - 2);
    memcpy(buf + m.len - 2, m.data, 2); /* version moved to the end */
    expect(f, (struct msg){buf, m.len}, EBB_E_ENV_MALFORMED, "canonical");
    free(buf);
    expect(f, m, EBB_OK, NULL);
    free(m.data);
}

static void test_seq_next(void **state)
{
    (void)state;
    assert_int_equal(ebb_seq_next(0, 1000), 1000);             /* fresh start: the clock */
    assert_int_equal(ebb_seq_next(1000, 1000), 1001);          /* same microsecond */
    assert_int_equal(ebb_seq_next(5000, 1000), 5001);          /* clock stepped back */
    assert_int_equal(ebb_seq_next(1000, 9000), 9000);          /* clock ahead */
    assert_int_equal(ebb_seq_next(UINT64_MAX, 0), UINT64_MAX); /* saturates */
    uint64_t s = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t n = ebb_seq_next(s, 42);
        assert_true(n > s);
        s = n;
    }
}

static void test_seal_rejects_bad_args(void **state)
{
    struct fixture *f = *state;
    ebb_seal_args a = {
        .signer = f->sender,
        .recipient = ebb_secret_key_id(f->receiver),
        .sequence = 1,
        .now_ms = NOW,
        .ttl_ms = 0,
        .body_type = 1,
    };
    uint8_t *out = NULL;
    size_t len = 0;
    ebb_error err;
    assert_int_equal(ebb_envelope_seal(&a, &out, &len, &err), EBB_E_INVALID);
    a.ttl_ms = INT64_MAX;
    assert_int_equal(ebb_envelope_seal(&a, &out, &len, &err), EBB_E_INVALID);
    a.ttl_ms = 1;
    a.body_len = 3;
    assert_int_equal(ebb_envelope_seal(&a, &out, &len, &err), EBB_E_INVALID);
    assert_null(out);
}

static void test_peek_signer(void **state)
{
    struct fixture *f = *state;
    struct msg m = seal_full(f->stranger, f->receiver, 1, NOW, TTL, "hi");
    ebb_key_id id;
    assert_true(ebb_envelope_peek_signer(m.data, m.len, 1024, &id));
    assert_true(ebb_key_id_equal(&id, ebb_secret_key_id(f->stranger)));
    assert_false(ebb_envelope_peek_signer(m.data, m.len, 10, &id));
    assert_false(ebb_envelope_peek_signer(m.data, 5, 1024, &id));
    free(m.data);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_round_trip),
        T(test_bad_signature),
        T(test_unknown_signer),
        T(test_revoked_signer),
        T(test_wrong_recipient),
        T(test_expired),
        T(test_future),
        T(test_replay_same_message),
        T(test_reordered_sequence),
        T(test_unsupported_version),
        T(test_oversized),
        T(test_truncated_every_prefix),
        T(test_garbage),
        T(test_every_flipped_byte_rejected),
        T(test_malformed_fields),
        T(test_non_canonical_encoding),
        T(test_seq_next),
        T(test_seal_rejects_bad_args),
        T(test_peek_signer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
