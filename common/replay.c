/* Replay protection: per-signer high-water sequences, persisted atomically. */
#include "common/replay.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/fsutil.h"

#define MAGIC "EBBRPLY1"
#define MAGIC_LEN 8
#define HEADER_LEN (MAGIC_LEN + 4)
#define RECORD_LEN (EBB_KEY_ID_LEN + 8)
#define SUM_LEN 32
/* One record per signer; a million signers is far beyond any fleet. */
#define MAX_SIGNERS (1u << 20)

struct mark {
    ebb_key_id id;
    uint64_t seq;
};

struct ebb_replay {
    pthread_mutex_t mutex;
    char *path;         /* NULL: memory only */
    int lock_fd;        /* flock'd PATH.lock, -1 without a path */
    struct mark *marks; /* sorted by id for binary search */
    size_t count, cap;
};

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* Index of id, or where it would be inserted (*found false). */
static size_t search(const ebb_replay *rp, const ebb_key_id *id, bool *found)
{
    size_t lo = 0, hi = rp->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(rp->marks[mid].id.bytes, id->bytes, EBB_KEY_ID_LEN);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static ebb_code parse_file(ebb_replay *rp, const uint8_t *buf, size_t len, ebb_error *err)
{
    uint8_t sum[SUM_LEN];
    if (len < HEADER_LEN + SUM_LEN || memcmp(buf, MAGIC, MAGIC_LEN) != 0)
        return ebb_error_set(err, EBB_E_CHECKSUM,
                             "replay store %s is corrupt (%zu bytes, no valid header); refusing "
                             "to reset it, which would reopen replays: restore it from a backup",
                             rp->path, len);
    uint32_t n = get_u32(buf + MAGIC_LEN);
    if (n > MAX_SIGNERS || len != HEADER_LEN + (size_t)n * RECORD_LEN + SUM_LEN)
        return ebb_error_set(err, EBB_E_CHECKSUM,
                             "replay store %s is corrupt (%zu bytes for %u records); refusing "
                             "to reset it, which would reopen replays: restore it from a backup",
                             rp->path, len, n);
    crypto_generichash(sum, sizeof sum, buf, len - SUM_LEN, NULL, 0);
    if (sodium_memcmp(sum, buf + len - SUM_LEN, SUM_LEN) != 0)
        return ebb_error_set(err, EBB_E_CHECKSUM,
                             "replay store %s is corrupt (checksum mismatch); refusing to reset "
                             "it, which would reopen replays: restore it from a backup",
                             rp->path);
    if (n > 0) {
        rp->marks = malloc((size_t)n * sizeof *rp->marks);
        if (rp->marks == NULL)
            return ebb_error_set(err, EBB_E_NOMEM, "replay store %s: out of memory", rp->path);
        rp->cap = n;
    }
    const uint8_t *p = buf + HEADER_LEN;
    for (uint32_t i = 0; i < n; i++, p += RECORD_LEN) {
        struct mark m;
        memcpy(m.id.bytes, p, EBB_KEY_ID_LEN);
        m.seq = get_u64(p + EBB_KEY_ID_LEN);
        /* Sorted and unique, or the binary search would lie. */
        if (i > 0 && memcmp(rp->marks[i - 1].id.bytes, m.id.bytes, EBB_KEY_ID_LEN) >= 0)
            return ebb_error_set(err, EBB_E_CHECKSUM,
                                 "replay store %s is corrupt (records out of order)", rp->path);
        rp->marks[i] = m;
        rp->count = i + 1;
    }
    return EBB_OK;
}

/* Serialise marks (plus `extra` at index `at` when extra is non-NULL) and write. */
static ebb_code persist(const ebb_replay *rp, size_t at, const struct mark *extra, bool insert,
                        ebb_error *err)
{
    size_t n = rp->count + (insert ? 1 : 0);
    size_t len = HEADER_LEN + n * RECORD_LEN + SUM_LEN;
    uint8_t *buf = malloc(len);
    if (buf == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "replay store %s: out of memory", rp->path);
    memcpy(buf, MAGIC, MAGIC_LEN);
    put_u32(buf + MAGIC_LEN, (uint32_t)n);
    uint8_t *p = buf + HEADER_LEN;
    for (size_t i = 0, src = 0; i < n; i++, p += RECORD_LEN) {
        const struct mark *m;
        if (i == at)
            m = extra;
        else
            m = &rp->marks[src];
        if (i != at || !insert)
            src++;
        memcpy(p, m->id.bytes, EBB_KEY_ID_LEN);
        put_u64(p + EBB_KEY_ID_LEN, m->seq);
    }
    crypto_generichash(p, SUM_LEN, buf, len - SUM_LEN, NULL, 0);
    ebb_code rc = ebb_file_write_atomic(rp->path, buf, len, 0600, err);
    free(buf);
    if (rc != EBB_OK)
        ebb_error_prefix(err, "replay store");
    return rc;
}

static ebb_code take_lock(ebb_replay *rp, ebb_error *err)
{
    char lock_path[PATH_MAX];
    if (snprintf(lock_path, sizeof lock_path, "%s.lock", rp->path) >= (int)sizeof lock_path)
        return ebb_error_set(err, EBB_E_INVALID, "replay store path too long: %.100s...", rp->path);
    rp->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (rp->lock_fd < 0)
        return ebb_error_errno(err, EBB_E_IO, errno, "open %s", lock_path);
    if (flock(rp->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        if (e == EWOULDBLOCK)
            return ebb_error_set(err, EBB_E_LOCKED,
                                 "replay store %s is in use by another process (%s is locked)",
                                 rp->path, lock_path);
        return ebb_error_errno(err, EBB_E_IO, e, "lock %s", lock_path);
    }
    return EBB_OK;
}

ebb_code ebb_replay_open(const char *path, ebb_replay **out, ebb_error *err)
{
    if (sodium_init() < 0)
        return ebb_error_set(err, EBB_E_CRYPTO, "libsodium failed to initialise");
    ebb_replay *rp = calloc(1, sizeof *rp);
    if (rp == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "replay store: out of memory");
    rp->lock_fd = -1;
    if (pthread_mutex_init(&rp->mutex, NULL) != 0) {
        free(rp);
        return ebb_error_set(err, EBB_E_INTERNAL, "replay store: mutex init failed");
    }
    ebb_code rc = EBB_OK;
    if (path != NULL) {
        rp->path = strdup(path);
        if (rp->path == NULL)
            rc = ebb_error_set(err, EBB_E_NOMEM, "replay store: out of memory");
        if (rc == EBB_OK)
            rc = take_lock(rp, err);
        if (rc == EBB_OK) {
            uint8_t *buf = NULL;
            size_t len = 0;
            size_t max = HEADER_LEN + (size_t)MAX_SIGNERS * RECORD_LEN + SUM_LEN;
            rc = ebb_file_read_all(path, max, &buf, &len, err);
            if (rc == EBB_E_NOT_FOUND) {
                /* A new store: write it now so a bad path shows at once. */
                rc = persist(rp, 0, NULL, false, err);
            } else if (rc == EBB_OK) {
                rc = parse_file(rp, buf, len, err);
                free(buf);
            }
        }
    }
    if (rc != EBB_OK) {
        ebb_replay_close(rp);
        return rc;
    }
    *out = rp;
    return EBB_OK;
}

void ebb_replay_close(ebb_replay *rp)
{
    if (rp == NULL)
        return;
    if (rp->lock_fd >= 0)
        close(rp->lock_fd); /* releases the flock */
    pthread_mutex_destroy(&rp->mutex);
    free(rp->marks);
    free(rp->path);
    free(rp);
}

ebb_code ebb_replay_advance(ebb_replay *rp, const ebb_key_id *signer, uint64_t seq, ebb_error *err)
{
    ebb_code rc = EBB_OK;
    pthread_mutex_lock(&rp->mutex);
    bool found = false;
    size_t at = search(rp, signer, &found);
    if (found && seq <= rp->marks[at].seq) {
        char hex[EBB_KEY_ID_HEX_SIZE];
        ebb_key_id_hex(signer, hex);
        rc = ebb_error_set(err, EBB_E_ENV_REPLAY,
                           "replay from signer %s: sequence %llu is not above the last accepted "
                           "%llu",
                           hex, (unsigned long long)seq, (unsigned long long)rp->marks[at].seq);
        goto out;
    }
    if (!found && rp->count >= MAX_SIGNERS) {
        rc = ebb_error_set(err, EBB_E_REFUSED, "replay store holds the maximum of %u signers",
                           MAX_SIGNERS);
        goto out;
    }
    if (!found && rp->count == rp->cap) {
        size_t ncap = rp->cap ? rp->cap * 2 : 16;
        struct mark *n = realloc(rp->marks, ncap * sizeof *n);
        if (n == NULL) {
            rc = ebb_error_set(err, EBB_E_NOMEM, "replay store: out of memory");
            goto out;
        }
        rp->marks = n;
        rp->cap = ncap;
    }
    struct mark m = {.id = *signer, .seq = seq};
    /* Persist first: memory only moves once the disk holds the new mark. */
    if (rp->path != NULL) {
        rc = persist(rp, at, &m, !found, err);
        if (rc != EBB_OK)
            goto out;
    }
    if (found) {
        rp->marks[at].seq = seq;
        goto out;
    }
    memmove(&rp->marks[at + 1], &rp->marks[at], (rp->count - at) * sizeof *rp->marks);
    rp->marks[at] = m;
    rp->count++;
out:
    pthread_mutex_unlock(&rp->mutex);
    return rc;
}

bool ebb_replay_high_water(ebb_replay *rp, const ebb_key_id *signer, uint64_t *out)
{
    pthread_mutex_lock(&rp->mutex);
    bool found = false;
    size_t at = search(rp, signer, &found);
    if (found)
        *out = rp->marks[at].seq;
    pthread_mutex_unlock(&rp->mutex);
    return found;
}
