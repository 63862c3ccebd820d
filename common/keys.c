/* Ed25519 keys: generation, key files, ids, signing. */
#include "common/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/encoding.h"
#include "common/fsutil.h"

/* Key files are tiny; anything bigger is not one of ours. */
#define KEY_FILE_MAX 4096
#define SEED_LEN crypto_sign_SEEDBYTES
#define SEED_B64_SIZE 45

/* Everything secret sits in one sodium_malloc block. */
struct secret_material {
    uint8_t seed[SEED_LEN];
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
};

struct ebb_secret_key {
    struct secret_material *secret; /* sodium_malloc, read-only after creation */
    ebb_public_key pk;
    ebb_key_id id;
};

ebb_code ebb_crypto_init(ebb_error *err)
{
    if (sodium_init() < 0)
        return ebb_error_set(err, EBB_E_CRYPTO, "libsodium failed to initialise");
    return EBB_OK;
}

void ebb_key_id_of(const ebb_public_key *pk, ebb_key_id *out)
{
    uint8_t hash[crypto_generichash_BYTES];
    crypto_generichash(hash, sizeof hash, pk->bytes, sizeof pk->bytes, NULL, 0);
    memcpy(out->bytes, hash, EBB_KEY_ID_LEN);
}

void ebb_key_id_hex(const ebb_key_id *id, char out[EBB_KEY_ID_HEX_SIZE])
{
    sodium_bin2hex(out, EBB_KEY_ID_HEX_SIZE, id->bytes, EBB_KEY_ID_LEN);
}

ebb_code ebb_key_id_parse(const char *hex, ebb_key_id *out, ebb_error *err)
{
    ebb_key_id id;
    size_t len = 0;
    if (strlen(hex) != EBB_KEY_ID_LEN * 2 ||
        ebb_hex_decode(hex, id.bytes, sizeof id.bytes, &len, NULL) != EBB_OK)
        return ebb_error_set(err, EBB_E_INVALID, "not a key id (16 hex characters): '%.40s'", hex);
    *out = id;
    return EBB_OK;
}

bool ebb_key_id_equal(const ebb_key_id *a, const ebb_key_id *b)
{
    return memcmp(a->bytes, b->bytes, EBB_KEY_ID_LEN) == 0;
}

void ebb_public_key_base64(const ebb_public_key *pk, char out[EBB_PUBLIC_KEY_B64_SIZE])
{
    sodium_bin2base64(out, EBB_PUBLIC_KEY_B64_SIZE, pk->bytes, EBB_PUBLIC_KEY_LEN,
                      sodium_base64_VARIANT_ORIGINAL);
}

/* Build a key from a seed (the seed buffer is the caller's to wipe). */
static ebb_code key_from_seed(const uint8_t seed[SEED_LEN], ebb_secret_key **out, ebb_error *err)
{
    ebb_code rc = ebb_crypto_init(err);
    if (rc != EBB_OK)
        return rc;
    ebb_secret_key *key = calloc(1, sizeof *key);
    if (key == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "secret key: out of memory");
    key->secret = sodium_malloc(sizeof *key->secret);
    if (key->secret == NULL) {
        free(key);
        return ebb_error_set(err, EBB_E_NOMEM, "secret key: sodium_malloc failed");
    }
    memcpy(key->secret->seed, seed, SEED_LEN);
    crypto_sign_seed_keypair(key->pk.bytes, key->secret->sk, key->secret->seed);
    ebb_key_id_of(&key->pk, &key->id);
    /*
     * Read-only rather than no-access between uses: toggling protection per
     * signature would race when two threads sign with the same key.
     */
    sodium_mprotect_readonly(key->secret);
    *out = key;
    return EBB_OK;
}

ebb_code ebb_secret_key_generate(ebb_secret_key **out, ebb_error *err)
{
    ebb_code rc = ebb_crypto_init(err);
    if (rc != EBB_OK)
        return rc;
    uint8_t seed[SEED_LEN];
    randombytes_buf(seed, sizeof seed);
    rc = key_from_seed(seed, out, err);
    sodium_memzero(seed, sizeof seed);
    return rc;
}

void ebb_secret_key_free(ebb_secret_key *key)
{
    if (key == NULL)
        return;
    /* sodium_free wipes the block (it needs write access to do so). */
    sodium_mprotect_readwrite(key->secret);
    sodium_free(key->secret);
    free(key);
}

const ebb_public_key *ebb_secret_key_public(const ebb_secret_key *key)
{
    return &key->pk;
}

const ebb_key_id *ebb_secret_key_id(const ebb_secret_key *key)
{
    return &key->id;
}

ebb_code ebb_secret_key_sign(const ebb_secret_key *key, const uint8_t *msg, size_t len,
                             uint8_t sig[EBB_SIGNATURE_LEN], ebb_error *err)
{
    if (crypto_sign_detached(sig, NULL, msg, len, key->secret->sk) != 0)
        return ebb_error_set(err, EBB_E_CRYPTO, "Ed25519 signing failed");
    return EBB_OK;
}

bool ebb_public_key_verify(const ebb_public_key *pk, const uint8_t *msg, size_t len,
                           const uint8_t sig[EBB_SIGNATURE_LEN])
{
    return crypto_sign_verify_detached(sig, msg, len, pk->bytes) == 0;
}

/* Strip one trailing "\n" (or "\r\n") in place. */
static void chomp(char *s)
{
    size_t n = strlen(s);
    if (n > 0 && s[n - 1] == '\n')
        s[--n] = '\0';
    if (n > 0 && s[n - 1] == '\r')
        s[--n] = '\0';
}

ebb_code ebb_secret_key_load(const char *path, ebb_secret_key **out, ebb_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ebb_error_errno(err, errno == ENOENT ? EBB_E_NOT_FOUND : EBB_E_IO, errno,
                               "open secret key file %s", path);
    /* Check the mode of the file actually opened, not of a name re-resolved later. */
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return ebb_error_errno(err, EBB_E_IO, e, "stat secret key file %s", path);
    }
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        close(fd);
        return ebb_error_set(err, EBB_E_KEY_PERM,
                             "secret key file %s has mode %04o: group or others may access it; "
                             "refusing to use it (fix: chmod 600 %s)",
                             path, (unsigned)(st.st_mode & 07777), path);
    }
    uint8_t *text = NULL;
    size_t len = 0;
    ebb_code rc = ebb_file_read_fd(fd, path, KEY_FILE_MAX, &text, &len, err);
    close(fd);
    if (rc != EBB_OK) {
        if (rc == EBB_E_INVALID)
            rc = ebb_error_set(err, EBB_E_KEY_FORMAT,
                               "%s is not an ebb secret key file (not a regular file of at "
                               "most %d bytes)",
                               path, KEY_FILE_MAX);
        return rc;
    }
    uint8_t seed[SEED_LEN];
    size_t seed_len = 0;
    char *line1 = (char *)text;
    char *line2 = strchr(line1, '\n');
    rc = EBB_E_KEY_FORMAT;
    if (line2 != NULL && memchr(text, '\0', len) == NULL) {
        *line2++ = '\0';
        chomp(line1);
        chomp(line2);
        if (strcmp(line1, EBB_SECRET_KEY_HEADER) == 0 &&
            ebb_base64_decode(line2, seed, sizeof seed, &seed_len, NULL) == EBB_OK &&
            seed_len == SEED_LEN)
            rc = EBB_OK;
    }
    sodium_memzero(text, len);
    free(text);
    if (rc != EBB_OK) {
        sodium_memzero(seed, sizeof seed);
        return ebb_error_set(err, EBB_E_KEY_FORMAT,
                             "%s is not an ebb secret key file (expected a '%s' line and "
                             "a base64 32-byte seed)",
                             path, EBB_SECRET_KEY_HEADER);
    }
    rc = key_from_seed(seed, out, err);
    sodium_memzero(seed, sizeof seed);
    return rc;
}

ebb_code ebb_secret_key_save(const ebb_secret_key *key, const char *path, bool force,
                             ebb_error *err)
{
    char pub_path[PATH_MAX];
    if (snprintf(pub_path, sizeof pub_path, "%s.pub", path) >= (int)sizeof pub_path)
        return ebb_error_set(err, EBB_E_INVALID, "key path too long: %.100s...", path);
    if (!force) {
        const char *existing = ebb_file_exists(path)       ? path
                               : ebb_file_exists(pub_path) ? pub_path
                                                           : NULL;
        if (existing != NULL)
            return ebb_error_set(err, EBB_E_CONFLICT,
                                 "%s already exists; not overwriting a key (use --force to "
                                 "replace it)",
                                 existing);
    }
    /* Header, seed as base64, newline: the text is secret, so it is wiped. */
    char *text = sodium_malloc(sizeof EBB_SECRET_KEY_HEADER + SEED_B64_SIZE + 2);
    if (text == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "secret key: sodium_malloc failed");
    size_t hlen = strlen(EBB_SECRET_KEY_HEADER);
    memcpy(text, EBB_SECRET_KEY_HEADER "\n", hlen + 1);
    sodium_bin2base64(text + hlen + 1, SEED_B64_SIZE, key->secret->seed, SEED_LEN,
                      sodium_base64_VARIANT_ORIGINAL);
    size_t len = strlen(text);
    text[len++] = '\n';
    ebb_code rc = ebb_file_write_atomic(path, text, len, 0600, err);
    sodium_free(text);
    if (rc != EBB_OK)
        return rc;

    char b64[EBB_PUBLIC_KEY_B64_SIZE];
    ebb_public_key_base64(&key->pk, b64);
    char line[sizeof EBB_PUBLIC_KEY_HEADER + EBB_PUBLIC_KEY_B64_SIZE + 2];
    int n = snprintf(line, sizeof line, "%s %s\n", EBB_PUBLIC_KEY_HEADER, b64);
    return ebb_file_write_atomic(pub_path, line, (size_t)n, 0644, err);
}

ebb_code ebb_public_key_parse(const char *text, ebb_public_key *out, ebb_error *err)
{
    char buf[256];
    if (snprintf(buf, sizeof buf, "%s", text) >= (int)sizeof buf)
        return ebb_error_set(err, EBB_E_KEY_FORMAT, "not an ebb public key (too long)");
    chomp(buf);
    const char *b64 = buf;
    size_t hlen = strlen(EBB_PUBLIC_KEY_HEADER);
    if (strncmp(buf, EBB_PUBLIC_KEY_HEADER, hlen) == 0 && buf[hlen] == ' ')
        b64 = buf + hlen + 1;
    ebb_public_key pk;
    size_t len = 0;
    if (ebb_base64_decode(b64, pk.bytes, sizeof pk.bytes, &len, NULL) != EBB_OK ||
        len != EBB_PUBLIC_KEY_LEN)
        return ebb_error_set(err, EBB_E_KEY_FORMAT,
                             "not an ebb public key (expected base64 of 32 bytes, optionally "
                             "after '%s '): '%.60s'",
                             EBB_PUBLIC_KEY_HEADER, buf);
    *out = pk;
    return EBB_OK;
}

ebb_code ebb_public_key_load(const char *path, ebb_public_key *out, ebb_error *err)
{
    uint8_t *text = NULL;
    size_t len = 0;
    ebb_code rc = ebb_file_read_all(path, KEY_FILE_MAX, &text, &len, err);
    if (rc == EBB_E_INVALID)
        return ebb_error_set(err, EBB_E_KEY_FORMAT,
                             "%s is not an ebb public key file (not a regular file of at most "
                             "%d bytes)",
                             path, KEY_FILE_MAX);
    if (rc != EBB_OK)
        return rc;
    /* Only the header form is a key *file*; bare base64 is for the command line. */
    size_t hlen = strlen(EBB_PUBLIC_KEY_HEADER);
    if (memchr(text, '\0', len) != NULL || strncmp((char *)text, EBB_PUBLIC_KEY_HEADER, hlen) != 0)
        rc = EBB_E_KEY_FORMAT;
    else
        rc = ebb_public_key_parse((char *)text, out, NULL);
    free(text);
    if (rc != EBB_OK)
        return ebb_error_set(err, EBB_E_KEY_FORMAT,
                             "%s is not an ebb public key file (expected one line '%s <base64>')",
                             path, EBB_PUBLIC_KEY_HEADER);
    return EBB_OK;
}
