/* The trust store: public keys by id, with revocation. */
#include "common/keyring.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct entry {
    ebb_key_id id;
    ebb_public_key pk;
    char *label;
    bool revoked;
};

struct ebb_keyring {
    pthread_rwlock_t lock;
    struct entry *entries; /* unsorted: keyrings hold a fleet's keys, not millions */
    size_t count, cap;
};

ebb_code ebb_keyring_alloc(ebb_keyring **out, ebb_error *err)
{
    ebb_keyring *ring = calloc(1, sizeof *ring);
    if (ring == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "keyring: out of memory");
    if (pthread_rwlock_init(&ring->lock, NULL) != 0) {
        free(ring);
        return ebb_error_set(err, EBB_E_INTERNAL, "keyring: rwlock init failed");
    }
    *out = ring;
    return EBB_OK;
}

void ebb_keyring_free(ebb_keyring *ring)
{
    if (ring == NULL)
        return;
    for (size_t i = 0; i < ring->count; i++)
        free(ring->entries[i].label);
    free(ring->entries);
    pthread_rwlock_destroy(&ring->lock);
    free(ring);
}

static struct entry *find(ebb_keyring *ring, const ebb_key_id *id)
{
    for (size_t i = 0; i < ring->count; i++)
        if (ebb_key_id_equal(&ring->entries[i].id, id))
            return &ring->entries[i];
    return NULL;
}

static bool grow(ebb_keyring *ring)
{
    if (ring->count < ring->cap)
        return true;
    size_t ncap = ring->cap ? ring->cap * 2 : 8;
    struct entry *n = realloc(ring->entries, ncap * sizeof *n);
    if (n == NULL)
        return false;
    ring->entries = n;
    ring->cap = ncap;
    return true;
}

ebb_code ebb_keyring_add(ebb_keyring *ring, const ebb_public_key *pk, const char *label,
                         ebb_error *err)
{
    ebb_key_id id;
    ebb_key_id_of(pk, &id);
    char hex[EBB_KEY_ID_HEX_SIZE];
    ebb_key_id_hex(&id, hex);
    char *copy = strdup(label != NULL ? label : "");
    if (copy == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "keyring: out of memory");

    ebb_code rc = EBB_OK;
    pthread_rwlock_wrlock(&ring->lock);
    struct entry *e = find(ring, &id);
    if (e != NULL && memcmp(e->pk.bytes, pk->bytes, sizeof pk->bytes) != 0) {
        rc = ebb_error_set(err, EBB_E_CONFLICT,
                           "another key with id %s (%s) is already in the keyring", hex, e->label);
    } else if (e != NULL && e->revoked) {
        rc = ebb_error_set(err, EBB_E_CONFLICT, "key %s (%s) is revoked; it cannot be re-added",
                           hex, e->label);
    } else if (e != NULL) {
        free(e->label);
        e->label = copy;
        copy = NULL;
    } else if (!grow(ring)) {
        rc = ebb_error_set(err, EBB_E_NOMEM, "keyring: out of memory adding key %s", hex);
    } else {
        ring->entries[ring->count++] = (struct entry){.id = id, .pk = *pk, .label = copy};
        copy = NULL;
    }
    pthread_rwlock_unlock(&ring->lock);
    free(copy);
    return rc;
}

ebb_code ebb_keyring_revoke(ebb_keyring *ring, const ebb_key_id *id, ebb_error *err)
{
    pthread_rwlock_wrlock(&ring->lock);
    struct entry *e = find(ring, id);
    if (e != NULL)
        e->revoked = true;
    pthread_rwlock_unlock(&ring->lock);
    if (e == NULL) {
        char hex[EBB_KEY_ID_HEX_SIZE];
        ebb_key_id_hex(id, hex);
        return ebb_error_set(err, EBB_E_NOT_FOUND, "key %s is not in the keyring", hex);
    }
    return EBB_OK;
}

ebb_key_status ebb_keyring_lookup(ebb_keyring *ring, const ebb_key_id *id, ebb_public_key *pk_out,
                                  char *label_out, size_t label_size)
{
    ebb_key_status status = EBB_KEY_UNKNOWN;
    pthread_rwlock_rdlock(&ring->lock);
    struct entry *e = find(ring, id);
    if (e != NULL) {
        status = e->revoked ? EBB_KEY_REVOKED : EBB_KEY_ACTIVE;
        if (pk_out != NULL)
            *pk_out = e->pk;
        if (label_out != NULL && label_size > 0)
            snprintf(label_out, label_size, "%s", e->label);
    }
    pthread_rwlock_unlock(&ring->lock);
    return status;
}

size_t ebb_keyring_count(ebb_keyring *ring)
{
    pthread_rwlock_rdlock(&ring->lock);
    size_t n = ring->count;
    pthread_rwlock_unlock(&ring->lock);
    return n;
}

ebb_key_status ebb_keyring_lookup_fn(void *ctx, const ebb_key_id *id, ebb_public_key *pk_out)
{
    return ebb_keyring_lookup(ctx, id, pk_out, NULL, 0);
}
