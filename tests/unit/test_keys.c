/* Unit tests for Ed25519 keys, key files and the keyring. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/keyring.h"
#include "common/keys.h"
#include "tests/support/tmpdir.h"

static char dir[PATH_MAX];

static int setup(void **state)
{
    (void)state;
    return ebb_test_tmpdir_make("ebb-keys", dir, sizeof dir);
}

static int teardown(void **state)
{
    (void)state;
    return ebb_test_tmpdir_remove(dir);
}

static void path_in_dir(char *buf, const char *name)
{
    snprintf(buf, PATH_MAX, "%s/%s", dir, name);
}

static void write_text(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static void test_save_load_round_trip(void **state)
{
    (void)state;
    char path[PATH_MAX], pub_path[PATH_MAX];
    path_in_dir(path, "rt.key");
    path_in_dir(pub_path, "rt.key.pub");
    ebb_secret_key *key = NULL;
    assert_int_equal(ebb_secret_key_generate(&key, NULL), EBB_OK);
    assert_int_equal(ebb_secret_key_save(key, path, false, NULL), EBB_OK);

    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(stat(pub_path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);

    ebb_secret_key *loaded = NULL;
    assert_int_equal(ebb_secret_key_load(path, &loaded, NULL), EBB_OK);
    assert_memory_equal(ebb_secret_key_public(loaded)->bytes, ebb_secret_key_public(key)->bytes,
                        EBB_PUBLIC_KEY_LEN);
    assert_true(ebb_key_id_equal(ebb_secret_key_id(loaded), ebb_secret_key_id(key)));

    /* The loaded key signs what the original's public key verifies. */
    uint8_t sig[EBB_SIGNATURE_LEN];
    const uint8_t msg[] = "attack at dawn";
    assert_int_equal(ebb_secret_key_sign(loaded, msg, sizeof msg, sig, NULL), EBB_OK);
    assert_true(ebb_public_key_verify(ebb_secret_key_public(key), msg, sizeof msg, sig));
    sig[0] ^= 1;
    assert_false(ebb_public_key_verify(ebb_secret_key_public(key), msg, sizeof msg, sig));

    ebb_public_key pk;
    assert_int_equal(ebb_public_key_load(pub_path, &pk, NULL), EBB_OK);
    assert_memory_equal(pk.bytes, ebb_secret_key_public(key)->bytes, EBB_PUBLIC_KEY_LEN);

    /* The file really is the documented text format. */
    FILE *f = fopen(path, "r");
    char line[128];
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    assert_string_equal(line, EBB_SECRET_KEY_HEADER "\n");

    ebb_secret_key_free(loaded);
    ebb_secret_key_free(key);
}

static void test_no_overwrite_without_force(void **state)
{
    (void)state;
    char path[PATH_MAX], pub_path[PATH_MAX];
    path_in_dir(path, "ow.key");
    path_in_dir(pub_path, "ow.key.pub");
    ebb_secret_key *a = NULL, *b = NULL, *loaded = NULL;
    assert_int_equal(ebb_secret_key_generate(&a, NULL), EBB_OK);
    assert_int_equal(ebb_secret_key_generate(&b, NULL), EBB_OK);
    assert_int_equal(ebb_secret_key_save(a, path, false, NULL), EBB_OK);
    ebb_error err;
    assert_int_equal(ebb_secret_key_save(b, path, false, &err), EBB_E_CONFLICT);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "--force"));
    /* Only the .pub left behind also blocks. */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(ebb_secret_key_save(b, path, false, &err), EBB_E_CONFLICT);
    assert_non_null(strstr(err.msg, pub_path));
    assert_int_equal(ebb_secret_key_save(b, path, true, NULL), EBB_OK);
    assert_int_equal(ebb_secret_key_load(path, &loaded, NULL), EBB_OK);
    assert_true(ebb_key_id_equal(ebb_secret_key_id(loaded), ebb_secret_key_id(b)));
    ebb_secret_key_free(loaded);
    ebb_secret_key_free(a);
    ebb_secret_key_free(b);
}

static void check_perm(mode_t mode, ebb_code want)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/perm-%04o.key", dir, (unsigned)mode);
    ebb_secret_key *key = NULL, *loaded = NULL;
    assert_int_equal(ebb_secret_key_generate(&key, NULL), EBB_OK);
    assert_int_equal(ebb_secret_key_save(key, path, true, NULL), EBB_OK);
    assert_int_equal(chmod(path, mode), 0);
    ebb_error err;
    assert_int_equal(ebb_secret_key_load(path, &loaded, &err), want);
    if (want == EBB_OK) {
        ebb_secret_key_free(loaded);
    } else {
        char mode_text[8];
        snprintf(mode_text, sizeof mode_text, "%04o", (unsigned)mode);
        assert_non_null(strstr(err.msg, path));
        assert_non_null(strstr(err.msg, mode_text));
        assert_non_null(strstr(err.msg, "chmod 600"));
        assert_null(loaded);
    }
    ebb_secret_key_free(key);
}

static void test_permissions(void **state)
{
    (void)state;
    check_perm(0640, EBB_E_KEY_PERM);
    check_perm(0604, EBB_E_KEY_PERM);
    check_perm(0620, EBB_E_KEY_PERM);
    check_perm(0602, EBB_E_KEY_PERM);
    check_perm(0644, EBB_E_KEY_PERM);
    check_perm(0600, EBB_OK);
    check_perm(0400, EBB_OK);
}

static void test_malformed_files(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "ebb-secret-key-v1\n",
        "ebb-secret-key-v2\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        "ebb-secret-key-v1\nnot base64 at all\n",
        "ebb-secret-key-v1\nAAAA\n", /* 3 bytes, not 32 */
        "ebb-public-key-v1 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
    };
    char path[PATH_MAX];
    path_in_dir(path, "bad.key");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_text(path, bad[i], 0600);
        ebb_secret_key *key = NULL;
        ebb_error err;
        assert_int_equal(ebb_secret_key_load(path, &key, &err), EBB_E_KEY_FORMAT);
        assert_non_null(strstr(err.msg, path));
        assert_null(key);
    }
    /* A well-formed seed in the same framing loads: the rejections above are real. */
    write_text(path, "ebb-secret-key-v1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", 0600);
    ebb_secret_key *key = NULL;
    assert_int_equal(ebb_secret_key_load(path, &key, NULL), EBB_OK);
    ebb_secret_key_free(key);

    /* Too large to be a key file. */
    char *big = malloc(8192);
    memset(big, 'A', 8191);
    big[8191] = '\0';
    write_text(path, big, 0600);
    free(big);
    ebb_error err;
    assert_int_equal(ebb_secret_key_load(path, &key, &err), EBB_E_KEY_FORMAT);
    assert_non_null(strstr(err.msg, path));

    char missing[PATH_MAX];
    path_in_dir(missing, "missing.key");
    assert_int_equal(ebb_secret_key_load(missing, &key, &err), EBB_E_NOT_FOUND);

    char pub[PATH_MAX];
    path_in_dir(pub, "bad.pub");
    ebb_public_key pk;
    write_text(pub, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", 0644); /* bare, no header */
    assert_int_equal(ebb_public_key_load(pub, &pk, &err), EBB_E_KEY_FORMAT);
    assert_non_null(strstr(err.msg, pub));
    write_text(pub, "ebb-public-key-v1 AAAA\n", 0644);
    assert_int_equal(ebb_public_key_load(pub, &pk, &err), EBB_E_KEY_FORMAT);
    write_text(pub, "ebb-public-key-v1 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", 0644);
    assert_int_equal(ebb_public_key_load(pub, &pk, NULL), EBB_OK);
}

static void test_public_key_parse(void **state)
{
    (void)state;
    ebb_secret_key *key = NULL;
    assert_int_equal(ebb_secret_key_generate(&key, NULL), EBB_OK);
    char b64[EBB_PUBLIC_KEY_B64_SIZE];
    ebb_public_key_base64(ebb_secret_key_public(key), b64);
    assert_int_equal(strlen(b64), 44);
    ebb_public_key pk;
    assert_int_equal(ebb_public_key_parse(b64, &pk, NULL), EBB_OK);
    assert_memory_equal(pk.bytes, ebb_secret_key_public(key)->bytes, EBB_PUBLIC_KEY_LEN);
    char line[128];
    snprintf(line, sizeof line, "%s %s\n", EBB_PUBLIC_KEY_HEADER, b64);
    memset(&pk, 0, sizeof pk);
    assert_int_equal(ebb_public_key_parse(line, &pk, NULL), EBB_OK);
    assert_memory_equal(pk.bytes, ebb_secret_key_public(key)->bytes, EBB_PUBLIC_KEY_LEN);
    ebb_error err;
    assert_int_equal(ebb_public_key_parse("hello", &pk, &err), EBB_E_KEY_FORMAT);
    assert_int_equal(ebb_public_key_parse("ebb-public-key-v1", &pk, &err), EBB_E_KEY_FORMAT);
    char huge[400];
    memset(huge, 'A', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    assert_int_equal(ebb_public_key_parse(huge, &pk, &err), EBB_E_KEY_FORMAT);
    ebb_secret_key_free(key);
}

static void test_key_id(void **state)
{
    (void)state;
    /* Stable: a known public key has a known id (BLAKE2b-256, first 8 bytes). */
    ebb_public_key zero;
    memset(zero.bytes, 0, sizeof zero.bytes);
    ebb_key_id id, again;
    ebb_key_id_of(&zero, &id);
    ebb_key_id_of(&zero, &again);
    assert_true(ebb_key_id_equal(&id, &again));
    char hex[EBB_KEY_ID_HEX_SIZE];
    ebb_key_id_hex(&id, hex);
    assert_int_equal(strlen(hex), 16);
    for (int i = 0; i < 16; i++)
        assert_true(isxdigit((unsigned char)hex[i]) && !isupper((unsigned char)hex[i]));
    /* BLAKE2b-256 of 32 zero bytes starts 89eb0d6a8a691dae (reference value). */
    assert_string_equal(hex, "89eb0d6a8a691dae");

    ebb_key_id parsed;
    assert_int_equal(ebb_key_id_parse(hex, &parsed, NULL), EBB_OK);
    assert_true(ebb_key_id_equal(&parsed, &id));
    ebb_error err;
    assert_int_equal(ebb_key_id_parse("89eb0d6a8a691da", &parsed, &err), EBB_E_INVALID);
    assert_int_equal(ebb_key_id_parse("89eb0d6a8a691daeff", &parsed, &err), EBB_E_INVALID);
    assert_int_equal(ebb_key_id_parse("89eb0d6a8a691dxx", &parsed, &err), EBB_E_INVALID);

    /* Different keys, different ids; the key's own id matches ebb_key_id_of. */
    ebb_secret_key *key = NULL;
    assert_int_equal(ebb_secret_key_generate(&key, NULL), EBB_OK);
    ebb_key_id_of(ebb_secret_key_public(key), &again);
    assert_true(ebb_key_id_equal(&again, ebb_secret_key_id(key)));
    assert_false(ebb_key_id_equal(&again, &id));
    ebb_secret_key_free(key);
}

static void test_keyring(void **state)
{
    (void)state;
    ebb_keyring *ring = NULL;
    assert_int_equal(ebb_keyring_alloc(&ring, NULL), EBB_OK);
    ebb_secret_key *keys[20];
    for (int i = 0; i < 20; i++) { /* more than the initial capacity */
        assert_int_equal(ebb_secret_key_generate(&keys[i], NULL), EBB_OK);
        char label[16];
        snprintf(label, sizeof label, "host-%d", i);
        assert_int_equal(ebb_keyring_add(ring, ebb_secret_key_public(keys[i]), label, NULL),
                         EBB_OK);
    }
    assert_int_equal(ebb_keyring_count(ring), 20);
    const ebb_key_id *id7 = ebb_secret_key_id(keys[7]);
    ebb_public_key pk;
    char label[32];
    assert_int_equal(ebb_keyring_lookup(ring, id7, &pk, label, sizeof label), EBB_KEY_ACTIVE);
    assert_string_equal(label, "host-7");
    assert_memory_equal(pk.bytes, ebb_secret_key_public(keys[7])->bytes, EBB_PUBLIC_KEY_LEN);

    /* Re-adding an active key relabels it. */
    assert_int_equal(ebb_keyring_add(ring, ebb_secret_key_public(keys[7]), "renamed", NULL),
                     EBB_OK);
    assert_int_equal(ebb_keyring_count(ring), 20);
    assert_int_equal(ebb_keyring_lookup(ring, id7, NULL, label, sizeof label), EBB_KEY_ACTIVE);
    assert_string_equal(label, "renamed");

    assert_int_equal(ebb_keyring_revoke(ring, id7, NULL), EBB_OK);
    assert_int_equal(ebb_keyring_lookup_fn(ring, id7, &pk), EBB_KEY_REVOKED);
    assert_int_equal(ebb_keyring_lookup_fn(ring, ebb_secret_key_id(keys[8]), NULL), EBB_KEY_ACTIVE);
    ebb_error err;
    assert_int_equal(ebb_keyring_add(ring, ebb_secret_key_public(keys[7]), "again", &err),
                     EBB_E_CONFLICT);
    assert_non_null(strstr(err.msg, "revoked"));
    assert_int_equal(ebb_keyring_lookup_fn(ring, id7, NULL), EBB_KEY_REVOKED);

    ebb_secret_key *stranger = NULL;
    assert_int_equal(ebb_secret_key_generate(&stranger, NULL), EBB_OK);
    assert_int_equal(ebb_keyring_lookup_fn(ring, ebb_secret_key_id(stranger), &pk),
                     EBB_KEY_UNKNOWN);
    assert_int_equal(ebb_keyring_revoke(ring, ebb_secret_key_id(stranger), &err), EBB_E_NOT_FOUND);
    ebb_secret_key_free(stranger);
    for (int i = 0; i < 20; i++)
        ebb_secret_key_free(keys[i]);
    ebb_keyring_free(ring);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_save_load_round_trip),
        cmocka_unit_test(test_no_overwrite_without_force),
        cmocka_unit_test(test_permissions),
        cmocka_unit_test(test_malformed_files),
        cmocka_unit_test(test_public_key_parse),
        cmocka_unit_test(test_key_id),
        cmocka_unit_test(test_keyring),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
