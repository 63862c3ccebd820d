/* Ed25519 keys of coordinators, agents and operators: generation, files, ids, signing. */
#ifndef EBB_COMMON_KEYS_H
#define EBB_COMMON_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define EBB_PUBLIC_KEY_LEN 32
#define EBB_SIGNATURE_LEN 64
#define EBB_KEY_ID_LEN 8
/* A key id as text: 16 lower-case hex characters plus the NUL. */
#define EBB_KEY_ID_HEX_SIZE (EBB_KEY_ID_LEN * 2 + 1)
/* A public key as base64 (44 characters) plus the NUL. */
#define EBB_PUBLIC_KEY_B64_SIZE 45

/*
 * Key files (text, one item a line):
 *   secret key file, mode 0600:  "ebb-secret-key-v1\n<base64 of the 32-byte Ed25519 seed>\n"
 *   public key file PATH.pub:    "ebb-public-key-v1 <base64 of the 32-byte public key>\n"
 * The secret file holds the seed only; the key pair is derived from it on load.
 */
#define EBB_SECRET_KEY_HEADER "ebb-secret-key-v1"
#define EBB_PUBLIC_KEY_HEADER "ebb-public-key-v1"

typedef struct ebb_public_key {
    uint8_t bytes[EBB_PUBLIC_KEY_LEN];
} ebb_public_key;

/* First 8 bytes of BLAKE2b-256 of the public key; shown as 16 hex characters. */
typedef struct ebb_key_id {
    uint8_t bytes[EBB_KEY_ID_LEN];
} ebb_key_id;

/*
 * A secret key. Opaque: the key material lives in sodium_malloc memory
 * (guard pages, locked, read-only after creation) and is wiped on free.
 * Signing only reads it, so one key may sign from several threads.
 */
typedef struct ebb_secret_key ebb_secret_key;

/* Initialise libsodium (idempotent, thread-safe). Every function here calls it. */
EBB_MUSTCHECK ebb_code ebb_crypto_init(ebb_error *err);

/* A fresh random key; *out owned by the caller (ebb_secret_key_free). */
EBB_MUSTCHECK ebb_code ebb_secret_key_generate(ebb_secret_key **out, ebb_error *err);

/* Wipe and free. NULL is fine. */
void ebb_secret_key_free(ebb_secret_key *key);

/*
 * Load a secret key file. Refused with EBB_E_KEY_PERM when the file can be
 * read or written by group or others (the message names the file, its mode
 * and the fix), EBB_E_KEY_FORMAT when it is not an ebb secret key file,
 * EBB_E_NOT_FOUND / EBB_E_IO when it cannot be read. *out owned by the caller.
 */
EBB_MUSTCHECK ebb_code ebb_secret_key_load(const char *path, ebb_secret_key **out, ebb_error *err);

/*
 * Write the secret key to path (mode 0600) and its public key to
 * "path.pub" (mode 0644), each atomically. Without force, refuses with
 * EBB_E_CONFLICT when either file exists.
 */
EBB_MUSTCHECK ebb_code ebb_secret_key_save(const ebb_secret_key *key, const char *path, bool force,
                                           ebb_error *err);

/* The public half and the id (borrowed, valid while key lives). */
const ebb_public_key *ebb_secret_key_public(const ebb_secret_key *key);
const ebb_key_id *ebb_secret_key_id(const ebb_secret_key *key);

/* Ed25519 detached signature of msg into sig (caller's 64 bytes). */
EBB_MUSTCHECK ebb_code ebb_secret_key_sign(const ebb_secret_key *key, const uint8_t *msg,
                                           size_t len, uint8_t sig[EBB_SIGNATURE_LEN],
                                           ebb_error *err);

/* True only when sig is a valid signature of msg by pk. */
EBB_MUSTCHECK bool ebb_public_key_verify(const ebb_public_key *pk, const uint8_t *msg, size_t len,
                                         const uint8_t sig[EBB_SIGNATURE_LEN]);

/* The key id of a public key. */
void ebb_key_id_of(const ebb_public_key *pk, ebb_key_id *out);

/* 16 lower-case hex characters and a NUL into out. */
void ebb_key_id_hex(const ebb_key_id *id, char out[EBB_KEY_ID_HEX_SIZE]);

/* Parse 16 hex characters; EBB_E_INVALID otherwise. */
EBB_MUSTCHECK ebb_code ebb_key_id_parse(const char *hex, ebb_key_id *out, ebb_error *err);

bool ebb_key_id_equal(const ebb_key_id *a, const ebb_key_id *b);

/* Base64 of the public key and a NUL into out. */
void ebb_public_key_base64(const ebb_public_key *pk, char out[EBB_PUBLIC_KEY_B64_SIZE]);

/*
 * Parse a public key given as bare base64 or as a public key file line
 * ("ebb-public-key-v1 <base64>", trailing newline allowed).
 * EBB_E_KEY_FORMAT when it is neither.
 */
EBB_MUSTCHECK ebb_code ebb_public_key_parse(const char *text, ebb_public_key *out, ebb_error *err);

/* Load a public key file (PATH.pub). EBB_E_KEY_FORMAT names the file. */
EBB_MUSTCHECK ebb_code ebb_public_key_load(const char *path, ebb_public_key *out, ebb_error *err);

#endif
