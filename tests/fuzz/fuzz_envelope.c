/*
 * Fuzz target for the envelope opener, the first code that touches bytes
 * from the network. Two properties:
 *   1. opening arbitrary bytes never crashes and never yields a body unless
 *      every check passed;
 *   2. a genuine envelope whose body is the input, then damaged by XOR with
 *      the input's own bytes at input-chosen positions, is delivered only
 *      when it is byte-for-byte the sealed one.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/envelope.h"
#include "common/keyring.h"
#include "common/replay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ebb_secret_key *signer;
static ebb_secret_key *receiver;
static ebb_keyring *ring;

static void setup_once(void)
{
    if (signer != NULL)
        return;
    if (ebb_secret_key_generate(&signer, NULL) != EBB_OK ||
        ebb_secret_key_generate(&receiver, NULL) != EBB_OK ||
        ebb_keyring_alloc(&ring, NULL) != EBB_OK ||
        ebb_keyring_add(ring, ebb_secret_key_public(signer), "signer", NULL) != EBB_OK)
        abort();
}

static ebb_code open_bytes(ebb_replay *rp, const uint8_t *msg, size_t len, ebb_opened *out)
{
    ebb_open_ctx ctx = {
        .max_size = 1 << 16,
        .self_id = ebb_secret_key_id(receiver),
        .lookup = ebb_keyring_lookup_fn,
        .lookup_ctx = ring,
        .replay = rp,
        .now_ms = 1700000000000,
        .max_skew_ms = 30000,
        .version = EBB_PROTOCOL_VERSION,
    };
    return ebb_envelope_open(&ctx, msg, len, out, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_once();
    ebb_replay *rp = NULL;
    if (ebb_replay_open(NULL, &rp, NULL) != EBB_OK)
        abort();

    /* 1: raw bytes. Without the signer's key nothing can be valid. */
    ebb_opened opened;
    memset(&opened, 0, sizeof opened);
    if (open_bytes(rp, data, size, &opened) == EBB_OK)
        abort();

    /* 2: seal the input as a body, damage it, open it. */
    ebb_seal_args args = {
        .signer = signer,
        .recipient = ebb_secret_key_id(receiver),
        .sequence = 42,
        .now_ms = 1700000000000,
        .ttl_ms = 60000,
        .body_type = 100,
        .body = size ? data : NULL,
        .body_len = size,
    };
    uint8_t *sealed = NULL;
    size_t sealed_len = 0;
    if (ebb_envelope_seal(&args, &sealed, &sealed_len, NULL) != EBB_OK)
        abort();
    uint8_t *damaged = malloc(sealed_len);
    if (damaged == NULL)
        abort();
    memcpy(damaged, sealed, sealed_len);
    for (size_t i = 0; i + 1 < size && i < 16; i += 2)
        damaged[data[i] % sealed_len] ^= data[i + 1];
    size_t cut = (size > 0 && data[0] % 3 == 0) ? (size_t)(data[0] / 3) % 8 : 0;
    size_t damaged_len = cut < sealed_len ? sealed_len - cut : 0;
    bool identical = damaged_len == sealed_len && memcmp(damaged, sealed, sealed_len) == 0;

    memset(&opened, 0, sizeof opened);
    ebb_code rc = open_bytes(rp, damaged, damaged_len, &opened);
    if (identical) {
        if (rc != EBB_OK || opened.body_len != size ||
            (size > 0 && memcmp(opened.body, data, size) != 0))
            abort();
        ebb_opened_fini(&opened);
    } else if (rc == EBB_OK) {
        abort(); /* a changed message was delivered */
    }
    free(damaged);
    free(sealed);
    ebb_replay_close(rp);
    return 0;
}
