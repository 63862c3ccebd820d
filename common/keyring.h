/* The trust store: public keys a process accepts signatures from, with revocation. */
#ifndef EBB_COMMON_KEYRING_H
#define EBB_COMMON_KEYRING_H

#include <stddef.h>

#include "common/error.h"
#include "common/keys.h"

typedef enum ebb_key_status {
    EBB_KEY_UNKNOWN = 0,
    EBB_KEY_ACTIVE,
    EBB_KEY_REVOKED,
} ebb_key_status;

/*
 * In-memory keyring keyed by key id. Thread-safe (a read-write lock): the
 * coordinator accepts and revokes keys while nng callbacks look them up.
 */
typedef struct ebb_keyring ebb_keyring;

/* *out owned by the caller (ebb_keyring_free). */
EBB_MUSTCHECK ebb_code ebb_keyring_alloc(ebb_keyring **out, ebb_error *err);
void ebb_keyring_free(ebb_keyring *ring);

/*
 * Trust pk under label (copied; may be NULL). Adding a key that is already
 * active is a no-op (the label is updated); a revoked key stays revoked
 * (EBB_E_CONFLICT): revocation is never undone by re-adding.
 */
EBB_MUSTCHECK ebb_code ebb_keyring_add(ebb_keyring *ring, const ebb_public_key *pk,
                                       const char *label, ebb_error *err);

/* Revoke a key by id; EBB_E_NOT_FOUND when the id was never added. */
EBB_MUSTCHECK ebb_code ebb_keyring_revoke(ebb_keyring *ring, const ebb_key_id *id, ebb_error *err);

/*
 * Status of id. When not unknown and pk_out is non-NULL, the public key is
 * copied there; when label_out is non-NULL the label is copied (truncated,
 * NUL-terminated) into the caller's label_size bytes.
 */
ebb_key_status ebb_keyring_lookup(ebb_keyring *ring, const ebb_key_id *id, ebb_public_key *pk_out,
                                  char *label_out, size_t label_size);

/* Number of keys (active and revoked). */
size_t ebb_keyring_count(ebb_keyring *ring);

/* Adapter with the signature envelope opening expects (ctx is an ebb_keyring *). */
ebb_key_status ebb_keyring_lookup_fn(void *ctx, const ebb_key_id *id, ebb_public_key *pk_out);

#endif
