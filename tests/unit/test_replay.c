/* Unit tests for the persisted per-signer replay store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/replay.h"
#include "tests/support/tmpdir.h"

static char dir[PATH_MAX];

static int setup(void **state)
{
    (void)state;
    return ebb_test_tmpdir_make("ebb-replay", dir, sizeof dir);
}

static int teardown(void **state)
{
    (void)state;
    return ebb_test_tmpdir_remove(dir);
}

static ebb_key_id id_of(uint8_t n)
{
    ebb_key_id id;
    memset(id.bytes, n, sizeof id.bytes);
    return id;
}

static void test_memory_only(void **state)
{
    (void)state;
    ebb_replay *rp = NULL;
    assert_int_equal(ebb_replay_open(NULL, &rp, NULL), EBB_OK);
    ebb_key_id a = id_of(1), b = id_of(2);
    uint64_t hw = 99;
    assert_false(ebb_replay_high_water(rp, &a, &hw));
    assert_int_equal(hw, 99);
    assert_int_equal(ebb_replay_advance(rp, &a, 5, NULL), EBB_OK);
    ebb_error err;
    assert_int_equal(ebb_replay_advance(rp, &a, 5, &err), EBB_E_ENV_REPLAY);
    assert_non_null(strstr(err.msg, "0101010101010101"));
    assert_non_null(strstr(err.msg, "5"));
    assert_int_equal(ebb_replay_advance(rp, &a, 4, NULL), EBB_E_ENV_REPLAY);
    assert_int_equal(ebb_replay_advance(rp, &b, 1, NULL), EBB_OK); /* per signer */
    assert_int_equal(ebb_replay_advance(rp, &a, 6, NULL), EBB_OK);
    assert_true(ebb_replay_high_water(rp, &a, &hw));
    assert_int_equal(hw, 6);
    ebb_replay_close(rp);
}

static void test_persists_across_reopen(void **state)
{
    (void)state;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/persist.replay", dir);
    ebb_replay *rp = NULL;
    assert_int_equal(ebb_replay_open(path, &rp, NULL), EBB_OK);
    /* Inserted out of order: the store keeps them sorted. */
    uint8_t order[] = {9, 3, 7, 1, 5, 200, 0};
    for (size_t i = 0; i < sizeof order; i++) {
        ebb_key_id id = id_of(order[i]);
        assert_int_equal(ebb_replay_advance(rp, &id, 1000 + order[i], NULL), EBB_OK);
    }
    ebb_key_id seven = id_of(7);
    assert_int_equal(ebb_replay_advance(rp, &seven, 5000, NULL), EBB_OK);
    ebb_replay_close(rp);

    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);

    rp = NULL;
    assert_int_equal(ebb_replay_open(path, &rp, NULL), EBB_OK);
    ebb_error err;
    /* The same message after a restart is still a replay. */
    assert_int_equal(ebb_replay_advance(rp, &seven, 5000, &err), EBB_E_ENV_REPLAY);
    assert_int_equal(ebb_replay_advance(rp, &seven, 4999, &err), EBB_E_ENV_REPLAY);
    for (size_t i = 0; i < sizeof order; i++) {
        ebb_key_id id = id_of(order[i]);
        uint64_t hw = 0;
        assert_true(ebb_replay_high_water(rp, &id, &hw));
        assert_int_equal(hw, order[i] == 7 ? 5000 : 1000 + order[i]);
    }
    assert_int_equal(ebb_replay_advance(rp, &seven, 5001, NULL), EBB_OK);
    ebb_replay_close(rp);
}

static void test_lock_excludes_second_opener(void **state)
{
    (void)state;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/locked.replay", dir);
    ebb_replay *a = NULL, *b = NULL;
    assert_int_equal(ebb_replay_open(path, &a, NULL), EBB_OK);
    ebb_error err;
    assert_int_equal(ebb_replay_open(path, &b, &err), EBB_E_LOCKED);
    assert_null(b);
    assert_non_null(strstr(err.msg, path));
    ebb_replay_close(a);
    assert_int_equal(ebb_replay_open(path, &b, NULL), EBB_OK);
    ebb_replay_close(b);
}

/* Write a valid store with two signers, damage it, expect a clear refusal. */
static void expect_corrupt(const char *name, void (*damage)(uint8_t *buf, size_t *len))
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s.replay", dir, name);
    ebb_replay *rp = NULL;
    assert_int_equal(ebb_replay_open(path, &rp, NULL), EBB_OK);
    ebb_key_id a = id_of(1), b = id_of(2);
    assert_int_equal(ebb_replay_advance(rp, &a, 10, NULL), EBB_OK);
    assert_int_equal(ebb_replay_advance(rp, &b, 20, NULL), EBB_OK);
    ebb_replay_close(rp);

    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(ebb_file_read_all(path, 1 << 20, &buf, &len, NULL), EBB_OK);
    assert_int_equal(len, 12 + 2 * 16 + 32);
    damage(buf, &len);
    assert_int_equal(ebb_file_write_atomic(path, buf, len, 0600, NULL), EBB_OK);
    free(buf);

    rp = NULL;
    ebb_error err;
    assert_int_equal(ebb_replay_open(path, &rp, &err), EBB_E_CHECKSUM);
    assert_null(rp);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "corrupt"));
}

static void flip_sequence_bit(uint8_t *buf, size_t *len)
{
    (void)len;
    buf[12 + 8 + 7] ^= 0x01; /* lowest byte of the first sequence */
}

static void truncate_tail(uint8_t *buf, size_t *len)
{
    (void)buf;
    *len -= 5;
}

static void bad_magic(uint8_t *buf, size_t *len)
{
    (void)len;
    buf[0] = 'X';
}

static void zero_length(uint8_t *buf, size_t *len)
{
    (void)buf;
    *len = 0;
}

static void bad_count(uint8_t *buf, size_t *len)
{
    (void)len;
    buf[11] = 3; /* claims 3 records, holds 2 */
}

static void test_corrupt_files_are_errors(void **state)
{
    (void)state;
    expect_corrupt("flip", flip_sequence_bit);
    expect_corrupt("trunc", truncate_tail);
    expect_corrupt("magic", bad_magic);
    expect_corrupt("empty", zero_length);
    expect_corrupt("count", bad_count);
}

static void test_unwritable_store_does_not_advance(void **state)
{
    (void)state;
    char sub[PATH_MAX], path[PATH_MAX];
    snprintf(sub, sizeof sub, "%s/ro", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(path, sizeof path, "%s/store.replay", sub);
    ebb_replay *rp = NULL;
    assert_int_equal(ebb_replay_open(path, &rp, NULL), EBB_OK);
    ebb_key_id a = id_of(1);
    assert_int_equal(ebb_replay_advance(rp, &a, 10, NULL), EBB_OK);
    /* Make the next temp file impossible to create: a directory in its place. */
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(mkdir(tmp, 0700), 0);
    char inner[PATH_MAX];
    snprintf(inner, sizeof inner, "%s/x", tmp);
    FILE *f = fopen(inner, "w");
    assert_non_null(f);
    fclose(f);
    ebb_error err;
    assert_int_equal(ebb_replay_advance(rp, &a, 11, &err), EBB_E_IO);
    assert_non_null(strstr(err.msg, "replay store"));
    uint64_t hw = 0;
    assert_true(ebb_replay_high_water(rp, &a, &hw));
    assert_int_equal(hw, 10); /* not advanced in memory either */
    ebb_key_id b = id_of(2);
    assert_int_equal(ebb_replay_advance(rp, &b, 1, NULL), EBB_E_IO);
    assert_false(ebb_replay_high_water(rp, &b, &hw));
    ebb_replay_close(rp);
}

#define THREADS 8
#define PER_THREAD 200

struct worker {
    ebb_replay *rp;
    int index;
    int accepted;
};

static void *advance_many(void *arg)
{
    struct worker *w = arg;
    ebb_key_id shared = id_of(42);
    /* Interleaved sequences: thread i proposes i, i + THREADS, ... */
    for (int k = 0; k < PER_THREAD; k++) {
        uint64_t seq = (uint64_t)k * THREADS + (uint64_t)w->index + 1;
        if (ebb_replay_advance(w->rp, &shared, seq, NULL) == EBB_OK)
            w->accepted++;
    }
    return NULL;
}

static void test_concurrent_advance_keeps_max(void **state)
{
    (void)state;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/threads.replay", dir);
    ebb_replay *rp = NULL;
    assert_int_equal(ebb_replay_open(path, &rp, NULL), EBB_OK);
    pthread_t t[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.rp = rp, .index = i};
        assert_int_equal(pthread_create(&t[i], NULL, advance_many, &w[i]), 0);
    }
    int accepted = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        accepted += w[i].accepted;
    }
    ebb_key_id shared = id_of(42);
    uint64_t hw = 0;
    assert_true(ebb_replay_high_water(rp, &shared, &hw));
    assert_int_equal(hw, (uint64_t)THREADS * PER_THREAD);
    assert_true(accepted >= PER_THREAD && accepted <= THREADS * PER_THREAD);
    ebb_replay_close(rp);
    /* And the disk agrees. */
    rp = NULL;
    assert_int_equal(ebb_replay_open(path, &rp, NULL), EBB_OK);
    assert_true(ebb_replay_high_water(rp, &shared, &hw));
    assert_int_equal(hw, (uint64_t)THREADS * PER_THREAD);
    ebb_replay_close(rp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory_only),
        cmocka_unit_test(test_persists_across_reopen),
        cmocka_unit_test(test_lock_excludes_second_opener),
        cmocka_unit_test(test_corrupt_files_are_errors),
        cmocka_unit_test(test_unwritable_store_does_not_advance),
        cmocka_unit_test(test_concurrent_advance_keeps_max),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
