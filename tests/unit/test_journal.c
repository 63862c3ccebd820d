/* Unit tests for the append-only hash-chained journal: chain, recovery, tamper detection, locking.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/encoding.h"
#include "common/fsutil.h"
#include "common/journal.h"
#include "tests/support/tmpdir.h"

static char dir[PATH_MAX];
static char path[PATH_MAX];
static ebb_secret_key *key_a, *key_b;

static int setup(void **state)
{
    (void)state;
    if (ebb_test_tmpdir_make("ebb-journal", dir, sizeof dir) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/journal.jsonl", dir);
    if (key_a == NULL && ebb_secret_key_generate(&key_a, NULL) != EBB_OK)
        return -1;
    if (key_b == NULL && ebb_secret_key_generate(&key_b, NULL) != EBB_OK)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return ebb_test_tmpdir_remove(dir);
}

/* ---- helpers ---- */

static char *slurp(size_t *len)
{
    uint8_t *buf = NULL;
    size_t n = 0;
    if (ebb_file_read_all(path, 64 << 20, &buf, &n, NULL) != EBB_OK || buf == NULL)
        fail_msg("cannot read %s", path);
    if (len)
        *len = n;
    return (char *)buf;
}

static void spit(const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* Split the file into its lines (each without the newline). */
static size_t lines_of(char *text, char **lines, size_t max)
{
    size_t n = 0;
    char *save = NULL;
    for (char *l = strtok_r(text, "\n", &save); l && n < max; l = strtok_r(NULL, "\n", &save))
        lines[n++] = l;
    return n;
}

static void write_lines(char **lines, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s\n", lines[i]);
    assert_int_equal(fclose(f), 0);
}

/* A journal with n records "t.step" {"i": k, "note": "record k"}, signed by key (may be NULL). */
static void make_journal(int n, const ebb_secret_key *key)
{
    ebb_journal_options o = {.sign_key = key};
    ebb_journal *j = NULL;
    assert_int_equal(ebb_journal_open(path, &o, &j, NULL, NULL), EBB_OK);
    for (int i = 1; i <= n; i++) {
        char note[32];
        snprintf(note, sizeof note, "record %d", i);
        json_t *p = json_pack("{s:i,s:s}", "i", i, "note", note);
        uint64_t seq = 0;
        assert_int_equal(ebb_journal_append(j, 1700000000000 + i, "t.step", p, &seq, NULL, NULL),
                         EBB_OK);
        assert_int_equal(seq, (uint64_t)i);
        json_decref(p);
    }
    ebb_journal_close(j);
}

static ebb_code verify(const ebb_secret_key *trusted, ebb_journal_report *rep)
{
    ebb_error err;
    return ebb_journal_verify(path, trusted ? ebb_secret_key_public(trusted) : NULL, NULL, rep,
                              &err);
}

static void assert_fault(ebb_code rc, const ebb_journal_report *rep, ebb_journal_fault fault,
                         uint64_t line, uint64_t seq)
{
    assert_int_equal(rc, EBB_E_VERIFY);
    if (rep->fault != fault)
        fail_msg("fault %s, expected %s (%s)", ebb_journal_fault_name(rep->fault),
                 ebb_journal_fault_name(fault), rep->why);
    assert_int_equal(rep->bad_line, line);
    assert_int_equal(rep->bad_seq, seq);
}

typedef struct collected {
    uint64_t seqs[64];
    int64_t values[64];
    size_t n;
    uint64_t stop_after;
} collected;

static ebb_code collect(const ebb_journal_record *rec, void *ctx, bool *stop, ebb_error *err)
{
    collected *c = ctx;
    assert_string_equal(rec->type, "t.step");
    c->seqs[c->n] = rec->seq;
    c->values[c->n] = json_integer_value(json_object_get(rec->payload, "i"));
    c->n++;
    if (c->stop_after && c->n == c->stop_after)
        *stop = true;
    return EBB_OK;
}

/* ---- tests ---- */

static void test_append_reopen_iterate(void **state)
{
    (void)state;
    make_journal(5, NULL);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    ebb_journal *j = NULL;
    assert_int_equal(ebb_journal_open(path, NULL, &j, NULL, NULL), EBB_OK);
    uint64_t seq = 0;
    uint8_t head[EBB_JOURNAL_HASH_LEN];
    ebb_journal_head(j, &seq, head);
    assert_int_equal(seq, 5);
    ebb_journal_recovery rec;
    ebb_journal_recovery_get(j, &rec);
    assert_false(rec.truncated);

    json_t *p = json_pack("{s:i}", "i", 6);
    uint8_t h6[EBB_JOURNAL_HASH_LEN];
    assert_int_equal(ebb_journal_append(j, 1700000000006, "t.step", p, &seq, h6, NULL), EBB_OK);
    json_decref(p);
    assert_int_equal(seq, 6);

    collected c = {0};
    assert_int_equal(ebb_journal_foreach(j, 0, collect, &c, NULL), EBB_OK);
    assert_int_equal(c.n, 6);
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(c.seqs[i], i + 1);
        assert_int_equal(c.values[i], (int64_t)i + 1);
    }
    collected from4 = {0};
    assert_int_equal(ebb_journal_foreach(j, 4, collect, &from4, NULL), EBB_OK);
    assert_int_equal(from4.n, 3);
    assert_int_equal(from4.seqs[0], 4);
    collected stopped = {.stop_after = 2};
    assert_int_equal(ebb_journal_foreach(j, 0, collect, &stopped, NULL), EBB_OK);
    assert_int_equal(stopped.n, 2);
    ebb_journal_close(j);

    ebb_journal_report rep;
    assert_int_equal(verify(NULL, &rep), EBB_OK);
    assert_int_equal(rep.records, 6);
    assert_int_equal(rep.last_seq, 6);
    assert_memory_equal(rep.last_hash, h6, EBB_JOURNAL_HASH_LEN);
    assert_false(rep.signatures_checked);

    /* The first record's prev is all zeros; every line ends in a newline. */
    size_t len = 0;
    char *text = slurp(&len);
    assert_int_equal(text[len - 1], '\n');
    assert_non_null(strstr(
        text, "\"prev\":\""
              "0000000000000000000000000000000000000000000000000000000000000000\",\"seq\":1,"));
    free(text);
}

static void test_format_is_documented(void **state)
{
    /* Recompute record 1's hash and signature from the documented rules. */
    (void)state;
    make_journal(1, key_a);
    char *text = slurp(NULL);
    char *nl = strchr(text, '\n');
    assert_non_null(nl);
    json_t *obj = json_loadb(text, (size_t)(nl - text), 0, NULL);
    assert_non_null(obj);
    json_t *body = json_copy(obj);
    json_object_del(body, "hash");
    json_object_del(body, "sig");
    char *canon = json_dumps(body, JSON_SORT_KEYS | JSON_COMPACT);
    size_t mlen = strlen("ebb-journal-v1\n") + strlen(canon);
    uint8_t *msg = malloc(mlen);
    memcpy(msg, "ebb-journal-v1\n", 15);
    memcpy(msg + 15, canon, strlen(canon));
    uint8_t h[32];
    crypto_generichash(h, 32, msg, mlen, NULL, 0);
    char hex[65];
    sodium_bin2hex(hex, sizeof hex, h, 32);
    assert_string_equal(json_string_value(json_object_get(obj, "hash")), hex);
    uint8_t sig[64];
    size_t n = 0;
    assert_int_equal(ebb_base64_decode(json_string_value(json_object_get(obj, "sig")), sig,
                                       sizeof sig, &n, NULL),
                     EBB_OK);
    assert_true(ebb_public_key_verify(ebb_secret_key_public(key_a), msg, mlen, sig));
    char kid[EBB_KEY_ID_HEX_SIZE];
    ebb_key_id_hex(ebb_secret_key_id(key_a), kid);
    assert_string_equal(json_string_value(json_object_get(obj, "key")), kid);
    free(msg);
    free(canon);
    json_decref(body);
    json_decref(obj);
    free(text);
}

static void test_signed_chain_verifies(void **state)
{
    (void)state;
    make_journal(4, key_a);
    ebb_journal_report rep;
    assert_int_equal(verify(key_a, &rep), EBB_OK);
    assert_true(rep.signatures_checked);
    assert_int_equal(rep.records, 4);
    /* The wrong trusted key: refused at the first record. */
    assert_fault(verify(key_b, &rep), &rep, EBB_JOURNAL_FAULT_SIGNER, 1, 1);
    /* Opening for writing with a trusted key checks signatures too. */
    ebb_journal_options o = {.sign_key = key_b, .trust_key = ebb_secret_key_public(key_b)};
    ebb_journal *j = NULL;
    ebb_error err;
    assert_int_equal(ebb_journal_open(path, &o, &j, &rep, &err), EBB_E_VERIFY);
    assert_non_null(strstr(err.msg, "line 1 (seq 1)"));
    assert_non_null(strstr(err.msg, "wrong-signer"));
}

static void test_unsigned_rejected_when_key_required(void **state)
{
    (void)state;
    make_journal(2, NULL);
    ebb_journal_report rep;
    assert_fault(verify(key_a, &rep), &rep, EBB_JOURNAL_FAULT_UNSIGNED, 1, 1);
}

static void test_edit_payload_byte(void **state)
{
    (void)state;
    make_journal(5, key_a);
    size_t len = 0;
    char *text = slurp(&len);
    char *p = strstr(text, "record 3");
    assert_non_null(p);
    p[7] = '8'; /* "record 8": still valid, canonical JSON */
    spit(text, len);
    free(text);
    ebb_journal_report rep;
    ebb_error err;
    ebb_code rc = ebb_journal_verify(path, ebb_secret_key_public(key_a), NULL, &rep, &err);
    assert_fault(rc, &rep, EBB_JOURNAL_FAULT_HASH, 3, 3);
    assert_int_equal(rep.records, 2);
    assert_non_null(strstr(err.msg, "line 3 (seq 3)"));
    assert_non_null(strstr(err.msg, "hash-mismatch"));
    /* Without a key, the chain alone shows it as well. */
    assert_fault(verify(NULL, &rep), &rep, EBB_JOURNAL_FAULT_HASH, 3, 3);
    /* The writer refuses to open it and leaves it as it is. */
    ebb_journal *j = NULL;
    assert_int_equal(ebb_journal_open(path, NULL, &j, &rep, NULL), EBB_E_VERIFY);
    assert_int_equal(rep.bad_line, 3);
    char *after = slurp(NULL);
    assert_non_null(strstr(after, "record 8"));
    free(after);
}

static void test_delete_record(void **state)
{
    (void)state;
    make_journal(5, key_a);
    char *text = slurp(NULL);
    char *l[8];
    size_t n = lines_of(text, l, 8);
    assert_int_equal(n, 5);
    char *kept[4] = {l[0], l[2], l[3], l[4]}; /* record 2 removed */
    write_lines(kept, 4);
    free(text);
    ebb_journal_report rep;
    assert_fault(verify(key_a, &rep), &rep, EBB_JOURNAL_FAULT_SEQ, 2, 3);
    assert_non_null(strstr(rep.why, "expected 2"));
}

static void test_swap_records(void **state)
{
    (void)state;
    make_journal(5, key_a);
    char *text = slurp(NULL);
    char *l[8];
    assert_int_equal(lines_of(text, l, 8), 5);
    char *swapped[5] = {l[0], l[1], l[3], l[2], l[4]};
    write_lines(swapped, 5);
    free(text);
    ebb_journal_report rep;
    assert_fault(verify(key_a, &rep), &rep, EBB_JOURNAL_FAULT_SEQ, 3, 4);
}

static void test_sequence_gap_and_prev(void **state)
{
    (void)state;
    make_journal(4, NULL);
    size_t len = 0;
    char *text = slurp(&len);
    char *p = strstr(text, "\"seq\":3,");
    assert_non_null(p);
    p[6] = '7';
    spit(text, len);
    free(text);
    ebb_journal_report rep;
    assert_fault(verify(NULL, &rep), &rep, EBB_JOURNAL_FAULT_SEQ, 3, 7);

    /* A record whose prev names something else. */
    unlink(path);
    make_journal(3, NULL);
    text = slurp(&len);
    char *l[4];
    assert_int_equal(lines_of(text, l, 4), 3);
    char *prev = strstr(l[2], "\"prev\":\"");
    prev[8] = prev[8] == 'a' ? 'b' : 'a';
    write_lines(l, 3);
    free(text);
    assert_fault(verify(NULL, &rep), &rep, EBB_JOURNAL_FAULT_PREV, 3, 3);
}

static void test_not_canonical(void **state)
{
    (void)state;
    make_journal(3, NULL);
    char *text = slurp(NULL);
    char *l[4];
    assert_int_equal(lines_of(text, l, 4), 3);
    char spaced[4096];
    snprintf(spaced, sizeof spaced, "%s ", l[1]); /* one trailing space */
    l[1] = spaced;
    write_lines(l, 3);
    free(text);
    ebb_journal_report rep;
    assert_fault(verify(NULL, &rep), &rep, EBB_JOURNAL_FAULT_NOT_CANONICAL, 2, 2);
}

static void test_unparsable_middle_line(void **state)
{
    (void)state;
    make_journal(3, NULL);
    char *text = slurp(NULL);
    char *l[4];
    assert_int_equal(lines_of(text, l, 4), 3);
    l[1] = "{\"seq\":2, garbage";
    write_lines(l, 3);
    free(text);
    ebb_journal_report rep;
    assert_fault(verify(NULL, &rep), &rep, EBB_JOURNAL_FAULT_UNPARSABLE, 2, 0);
    size_t before = 0, after = 0;
    free(slurp(&before));
    ebb_journal *j = NULL;
    assert_int_equal(ebb_journal_open(path, NULL, &j, NULL, NULL), EBB_E_VERIFY);
    free(slurp(&after));
    assert_int_equal(before, after); /* never "repaired" away */
}

static void test_torn_tail(void **state)
{
    (void)state;
    make_journal(4, key_a);
    size_t len = 0;
    char *text = slurp(&len);
    char *l[5];
    char *copy = strdup(text);
    assert_int_equal(lines_of(copy, l, 5), 4);
    size_t cut = len - strlen(l[3]) / 2; /* in the middle of record 4 */
    spit(text, cut);
    free(copy);

    /* Read-only: verify reports it as a fault, scan delivers the 3 records before it. */
    ebb_journal_report rep;
    ebb_error err;
    ebb_code rc = ebb_journal_verify(path, ebb_secret_key_public(key_a), NULL, &rep, &err);
    assert_fault(rc, &rep, EBB_JOURNAL_FAULT_TORN_TAIL, 4, 0);
    assert_int_equal(rep.records, 3);
    assert_int_equal(rep.torn_bytes, cut - rep.bad_offset);
    assert_non_null(strstr(err.msg, "line 4"));
    assert_non_null(strstr(err.msg, "torn"));
    collected c = {0};
    assert_int_equal(
        ebb_journal_scan(path, ebb_secret_key_public(key_a), 0, collect, &c, &rep, NULL), EBB_OK);
    assert_int_equal(c.n, 3);
    assert_int_equal(rep.fault, EBB_JOURNAL_FAULT_TORN_TAIL);

    /* Opening for writing cuts it, reports it, and appending goes on from seq 4. */
    ebb_journal_options o = {.sign_key = key_a, .trust_key = ebb_secret_key_public(key_a)};
    ebb_journal *j = NULL;
    assert_int_equal(ebb_journal_open(path, &o, &j, NULL, NULL), EBB_OK);
    ebb_journal_recovery rec;
    ebb_journal_recovery_get(j, &rec);
    assert_true(rec.truncated);
    assert_int_equal(rec.line, 4);
    assert_int_equal(rec.bytes, cut - rec.offset);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal((uint64_t)st.st_size, rec.offset);
    json_t *p = json_pack("{s:i}", "i", 40);
    uint64_t seq = 0;
    assert_int_equal(ebb_journal_append(j, 1, "t.step", p, &seq, NULL, NULL), EBB_OK);
    json_decref(p);
    assert_int_equal(seq, 4);
    ebb_journal_close(j);
    assert_int_equal(verify(key_a, &rep), EBB_OK);
    assert_int_equal(rep.records, 4);
    free(text);
}

static void test_torn_tail_of_zeros(void **state)
{
    /* Delayed allocation after a crash: the tail reads back as NUL bytes and a newline. */
    (void)state;
    make_journal(2, NULL);
    size_t len = 0;
    char *text = slurp(&len);
    char *grown = calloc(1, len + 100);
    memcpy(grown, text, len);
    grown[len + 99] = '\n';
    spit(grown, len + 100);
    ebb_journal_report rep;
    assert_fault(verify(NULL, &rep), &rep, EBB_JOURNAL_FAULT_TORN_TAIL, 3, 0);
    ebb_journal *j = NULL;
    assert_int_equal(ebb_journal_open(path, NULL, &j, NULL, NULL), EBB_OK);
    ebb_journal_close(j);
    size_t after = 0;
    free(slurp(&after));
    assert_int_equal(after, len);
    free(grown);
    free(text);
}

static void test_change_signature(void **state)
{
    (void)state;
    make_journal(3, key_a);
    size_t len = 0;
    char *text = slurp(&len);
    char *l[4];
    assert_int_equal(lines_of(text, l, 4), 3);
    char *sig = strstr(l[1], "\"sig\":\"");
    assert_non_null(sig);
    sig[10] = sig[10] == 'A' ? 'B' : 'A'; /* still base64 of 64 bytes */
    write_lines(l, 3);
    free(text);
    ebb_journal_report rep;
    assert_fault(verify(key_a, &rep), &rep, EBB_JOURNAL_FAULT_SIGNATURE, 2, 2);
}

/* Replace the last record by the same content re-signed (and re-hashed) with another key. */
static void test_resign_with_other_key(void **state)
{
    (void)state;
    make_journal(3, key_a);
    char *text = slurp(NULL);
    char *l[4];
    assert_int_equal(lines_of(text, l, 4), 3);
    json_t *obj = json_loads(l[2], 0, NULL);
    assert_non_null(obj);
    char kid[EBB_KEY_ID_HEX_SIZE];
    ebb_key_id_hex(ebb_secret_key_id(key_b), kid);
    json_object_set_new(obj, "key", json_string(kid));
    json_object_set_new(obj, "payload", json_pack("{s:s}", "note", "forged"));
    json_object_del(obj, "hash");
    json_object_del(obj, "sig");
    char *canon = json_dumps(obj, JSON_SORT_KEYS | JSON_COMPACT);
    size_t mlen = 15 + strlen(canon);
    uint8_t *msg = malloc(mlen);
    memcpy(msg, "ebb-journal-v1\n", 15);
    memcpy(msg + 15, canon, strlen(canon));
    uint8_t h[32], sig[64];
    crypto_generichash(h, 32, msg, mlen, NULL, 0);
    assert_int_equal(ebb_secret_key_sign(key_b, msg, mlen, sig, NULL), EBB_OK);
    char hex[65], b64[100];
    sodium_bin2hex(hex, sizeof hex, h, 32);
    assert_int_equal(ebb_base64_encode(sig, 64, b64, sizeof b64, NULL), EBB_OK);
    json_object_set_new(obj, "hash", json_string(hex));
    json_object_set_new(obj, "sig", json_string(b64));
    char *forged = json_dumps(obj, JSON_SORT_KEYS | JSON_COMPACT);
    l[2] = forged;
    write_lines(l, 3);

    ebb_journal_report rep;
    /* The chain and the forger's own signature are consistent ... */
    assert_int_equal(verify(NULL, &rep), EBB_OK);
    /* ... but not signed by the trusted key. */
    assert_fault(verify(key_a, &rep), &rep, EBB_JOURNAL_FAULT_SIGNER, 3, 3);
    free(forged);
    free(canon);
    free(msg);
    json_decref(obj);
    free(text);
}

static void test_anchor_detects_cut_tail(void **state)
{
    (void)state;
    make_journal(5, key_a);
    ebb_journal_report rep;
    assert_int_equal(verify(key_a, &rep), EBB_OK);
    ebb_journal_anchor anchor = {.seq = rep.last_seq};
    memcpy(anchor.hash, rep.last_hash, sizeof anchor.hash);
    char text_anchor[100], hex[EBB_JOURNAL_HASH_HEX_SIZE];
    ebb_journal_hash_hex(rep.last_hash, hex);
    snprintf(text_anchor, sizeof text_anchor, "5:%s", hex);
    ebb_journal_anchor parsed;
    assert_int_equal(ebb_journal_anchor_parse(text_anchor, &parsed, NULL), EBB_OK);
    assert_memory_equal(&parsed, &anchor, sizeof anchor);
    assert_int_equal(ebb_journal_anchor_parse("5:abc", &parsed, NULL), EBB_E_INVALID);
    assert_int_equal(ebb_journal_anchor_parse("x:abc", &parsed, NULL), EBB_E_INVALID);

    ebb_error err;
    assert_int_equal(ebb_journal_verify(path, NULL, &anchor, &rep, &err), EBB_OK);

    /* Remove the last two whole records: the chain alone cannot tell ... */
    char *text = slurp(NULL);
    char *l[6];
    assert_int_equal(lines_of(text, l, 6), 5);
    write_lines(l, 3);
    free(text);
    assert_int_equal(verify(key_a, &rep), EBB_OK);
    /* ... the anchor can. */
    assert_int_equal(ebb_journal_verify(path, NULL, &anchor, &rep, &err), EBB_E_VERIFY);
    assert_int_equal(rep.fault, EBB_JOURNAL_FAULT_ANCHOR);
    assert_non_null(strstr(err.msg, "ends at 3"));
}

static void test_second_writer_locked(void **state)
{
    (void)state;
    ebb_journal *a = NULL, *b = NULL;
    assert_int_equal(ebb_journal_open(path, NULL, &a, NULL, NULL), EBB_OK);
    ebb_error err;
    assert_int_equal(ebb_journal_open(path, NULL, &b, NULL, &err), EBB_E_LOCKED);
    assert_null(b);
    assert_non_null(strstr(err.msg, path));
    /* Read-only access is not locked out. */
    ebb_journal_report rep;
    assert_int_equal(ebb_journal_verify(path, NULL, NULL, &rep, NULL), EBB_OK);
    ebb_journal_close(a);
    assert_int_equal(ebb_journal_open(path, NULL, &b, NULL, NULL), EBB_OK);
    ebb_journal_close(b);
    /* must_exist */
    char other[PATH_MAX + 8];
    snprintf(other, sizeof other, "%s/none", dir);
    ebb_journal_options o = {.must_exist = true};
    assert_int_equal(ebb_journal_open(other, &o, &b, NULL, NULL), EBB_E_NOT_FOUND);
}

static void test_append_rejects_bad_input(void **state)
{
    (void)state;
    ebb_journal *j = NULL;
    assert_int_equal(ebb_journal_open(path, NULL, &j, NULL, NULL), EBB_OK);
    json_t *ok = json_object();
    json_t *real = json_pack("{s:[i,f]}", "x", 1, 2.5);
    json_t *arr = json_array();
    ebb_error err;
    assert_int_equal(ebb_journal_append(j, 1, "Bad Type", ok, NULL, NULL, &err), EBB_E_INVALID);
    assert_int_equal(ebb_journal_append(j, 1, "", ok, NULL, NULL, &err), EBB_E_INVALID);
    assert_int_equal(ebb_journal_append(j, 1, "t", real, NULL, NULL, &err), EBB_E_INVALID);
    assert_non_null(strstr(err.msg, "real number"));
    assert_int_equal(ebb_journal_append(j, 1, "t", arr, NULL, NULL, &err), EBB_E_INVALID);
    assert_int_equal(ebb_journal_append(j, -1, "t", ok, NULL, NULL, &err), EBB_E_INVALID);
    char *big = malloc(EBB_JOURNAL_LINE_MAX + 1);
    memset(big, 'x', EBB_JOURNAL_LINE_MAX);
    big[EBB_JOURNAL_LINE_MAX] = '\0';
    json_t *huge = json_pack("{s:s}", "x", big);
    assert_int_equal(ebb_journal_append(j, 1, "t", huge, NULL, NULL, &err), EBB_E_INVALID);
    uint64_t seq = 99;
    ebb_journal_head(j, &seq, NULL);
    assert_int_equal(seq, 0); /* nothing was written */
    /* The payload is the caller's: not modified, still usable. */
    assert_int_equal(ebb_journal_append(j, 1, "t.ok", ok, &seq, NULL, NULL), EBB_OK);
    assert_int_equal(json_object_size(ok), 0);
    ebb_journal_close(j);
    free(big);
    json_decref(huge);
    json_decref(ok);
    json_decref(real);
    json_decref(arr);
}

static void test_edit_under_writer_detected_by_foreach(void **state)
{
    (void)state;
    make_journal(3, NULL);
    ebb_journal *j = NULL;
    assert_int_equal(ebb_journal_open(path, NULL, &j, NULL, NULL), EBB_OK);
    size_t len = 0;
    char *text = slurp(&len);
    char *p = strstr(text, "record 2");
    p[7] = '9';
    FILE *f = fopen(path, "r+b"); /* in place, like an editor with no rename */
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
    collected c = {0};
    ebb_error err;
    assert_int_equal(ebb_journal_foreach(j, 0, collect, &c, &err), EBB_E_VERIFY);
    assert_int_equal(c.n, 1);
    assert_non_null(strstr(err.msg, "line 2"));
    ebb_journal_close(j);
    free(text);
}

static void test_large_records_across_read_chunks(void **state)
{
    /* Records larger than the reader's 64 KiB chunks, and many small ones after them. */
    (void)state;
    ebb_journal *j = NULL;
    assert_int_equal(ebb_journal_open(path, NULL, &j, NULL, NULL), EBB_OK);
    char *big = malloc(150000);
    for (int i = 0; i < 6; i++) {
        memset(big, 'a' + i, 149999);
        big[149999 - i * 7000] = '\0';
        json_t *p = json_pack("{s:i,s:s}", "i", i + 1, "blob", big);
        assert_int_equal(ebb_journal_append(j, 1, "t.step", p, NULL, NULL, NULL), EBB_OK);
        json_decref(p);
    }
    for (int i = 0; i < 500; i++) {
        json_t *p = json_pack("{s:i}", "i", i + 7);
        assert_int_equal(ebb_journal_append(j, 1, "t.step", p, NULL, NULL, NULL), EBB_OK);
        json_decref(p);
    }
    ebb_journal_close(j);
    free(big);
    ebb_journal_report rep;
    assert_int_equal(verify(NULL, &rep), EBB_OK);
    assert_int_equal(rep.records, 506);
    assert_int_equal(ebb_journal_open(path, NULL, &j, NULL, NULL), EBB_OK);
    ebb_journal_close(j);
}

#define THREADS 4
#define PER_THREAD 50

static void *appender(void *arg)
{
    ebb_journal *j = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        json_t *p = json_pack("{s:i}", "i", i);
        ebb_code rc = ebb_journal_append(j, 1700000000000 + i, "t.step", p, NULL, NULL, NULL);
        json_decref(p);
        if (rc != EBB_OK)
            return (void *)1;
    }
    return NULL;
}

static void test_threads_serialised(void **state)
{
    (void)state;
    ebb_journal_options o = {.sign_key = key_a};
    ebb_journal *j = NULL;
    assert_int_equal(ebb_journal_open(path, &o, &j, NULL, NULL), EBB_OK);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, appender, j), 0);
    for (int i = 0; i < THREADS; i++) {
        void *res = NULL;
        pthread_join(t[i], &res);
        assert_null(res);
    }
    uint64_t seq = 0;
    ebb_journal_head(j, &seq, NULL);
    assert_int_equal(seq, THREADS * PER_THREAD);
    ebb_journal_close(j);
    ebb_journal_report rep;
    assert_int_equal(verify(key_a, &rep), EBB_OK);
    assert_int_equal(rep.records, THREADS * PER_THREAD);
}

static void test_report_json(void **state)
{
    (void)state;
    make_journal(2, NULL);
    ebb_journal_report rep;
    assert_int_equal(verify(NULL, &rep), EBB_OK);
    json_t *o = ebb_journal_report_json(&rep);
    assert_true(json_is_true(json_object_get(o, "ok")));
    assert_int_equal(json_integer_value(json_object_get(o, "records")), 2);
    assert_null(json_object_get(o, "fault"));
    json_decref(o);
    rep.fault = EBB_JOURNAL_FAULT_HASH;
    rep.bad_line = 2;
    rep.bad_seq = 2;
    snprintf(rep.why, sizeof rep.why, "x");
    o = ebb_journal_report_json(&rep);
    assert_true(json_is_false(json_object_get(o, "ok")));
    assert_string_equal(json_string_value(json_object_get(o, "fault")), "hash-mismatch");
    assert_int_equal(json_integer_value(json_object_get(o, "line")), 2);
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_reopen_iterate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_format_is_documented, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signed_chain_verifies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsigned_rejected_when_key_required, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edit_payload_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_swap_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sequence_gap_and_prev, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_canonical, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unparsable_middle_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail_of_zeros, setup, teardown),
        cmocka_unit_test_setup_teardown(test_change_signature, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resign_with_other_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_anchor_detects_cut_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_writer_locked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_rejects_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edit_under_writer_detected_by_foreach, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_large_records_across_read_chunks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads_serialised, setup, teardown),
        cmocka_unit_test_setup_teardown(test_report_json, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ebb_secret_key_free(key_a);
    ebb_secret_key_free(key_b);
    return rc;
}
