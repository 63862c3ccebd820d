/* The journal writer: open with lock and recovery, durable appends, iteration. */
#include "common/journal_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/encoding.h"
#include "common/fsutil.h"

struct ebb_journal {
    char *path;
    int fd; /* O_RDWR, flock'd LOCK_EX for the journal's lifetime */
    const ebb_secret_key *sign_key;
    bool has_trust;
    ebb_public_key trust;
    ebb_journal_recovery recovery;

    pthread_mutex_t mu; /* guards everything below */
    uint64_t size;      /* bytes of acknowledged records */
    uint64_t seq;
    uint8_t hash[EBB_JOURNAL_HASH_LEN];
    bool broken; /* a write or sync failed: no more appends until reopened */
};

/* Open or create path; *created says which. */
static ebb_code open_file(const char *path, bool must_exist, int *fd_out, bool *created,
                          ebb_error *err)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        if (fd >= 0) {
            *fd_out = fd;
            *created = false;
            return EBB_OK;
        }
        if (errno != ENOENT)
            return ebb_error_errno(err, EBB_E_IO, errno, "open journal %s", path);
        if (must_exist)
            return ebb_error_set(err, EBB_E_NOT_FOUND, "journal %s does not exist", path);
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd >= 0) {
            *fd_out = fd;
            *created = true;
            return EBB_OK;
        }
        if (errno != EEXIST) /* EEXIST: another process created it just now; open it */
            return ebb_error_errno(err, EBB_E_IO, errno, "create journal %s", path);
    }
    return ebb_error_set(err, EBB_E_IO, "journal %s: could not open or create it", path);
}

ebb_code ebb_journal_open(const char *path, const ebb_journal_options *opts, ebb_journal **out,
                          ebb_journal_report *report, ebb_error *err)
{
    ebb_journal_options none;
    memset(&none, 0, sizeof none);
    if (opts == NULL)
        opts = &none;
    if (path == NULL || path[0] == '\0')
        return ebb_error_set(err, EBB_E_INVALID, "journal path is empty");
    ebb_journal_report local;
    ebb_journal_report *rep = report ? report : &local;
    jr_report_init(rep);

    int fd = -1;
    bool created = false;
    ebb_code rc = open_file(path, opts->must_exist, &fd, &created, err);
    if (rc != EBB_OK)
        return rc;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            return ebb_error_set(err, EBB_E_LOCKED,
                                 "journal %s is open for writing by another process "
                                 "(or another handle of this one)",
                                 path);
        return ebb_error_errno(err, EBB_E_IO, e, "lock journal %s", path);
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = ebb_error_errno(err, EBB_E_IO, errno, "stat journal %s", path);
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = ebb_error_set(err, EBB_E_INVALID, "journal %s is not a regular file", path);
        goto fail;
    }
    if (created) {
        /* The new name must survive a crash, or the first records vanish with it. */
        if (fsync(fd) != 0) {
            rc = ebb_error_errno(err, EBB_E_IO, errno, "fsync journal %s", path);
            goto fail;
        }
        rc = ebb_fsync_parent_dir(path, err);
        if (rc != EBB_OK)
            goto fail;
    }

    uint64_t end = 0;
    rc = jr_read_chain(fd, path, (uint64_t)st.st_size, opts->trust_key, UINT64_MAX, NULL, NULL, rep,
                       &end, err);
    if (rc != EBB_OK)
        goto fail;
    ebb_journal_recovery rec;
    memset(&rec, 0, sizeof rec);
    if (rep->fault == EBB_JOURNAL_FAULT_TORN_TAIL) {
        /* The torn record was never acknowledged to anyone: cut it off, durably. */
        if (ftruncate(fd, (off_t)end) != 0 || fsync(fd) != 0) {
            rc = ebb_error_errno(err, EBB_E_IO, errno,
                                 "journal %s: cutting the torn last line (line %" PRIu64 ") failed",
                                 path, rep->bad_line);
            goto fail;
        }
        rec.truncated = true;
        rec.line = rep->bad_line;
        rec.offset = end;
        rec.bytes = rep->torn_bytes;
    }

    ebb_journal *j = calloc(1, sizeof *j);
    if (j == NULL || (j->path = strdup(path)) == NULL) {
        free(j);
        rc = ebb_error_set(err, EBB_E_NOMEM, "out of memory opening journal %s", path);
        goto fail;
    }
    if (pthread_mutex_init(&j->mu, NULL) != 0) {
        free(j->path);
        free(j);
        rc = ebb_error_set(err, EBB_E_INTERNAL, "journal %s: mutex init failed", path);
        goto fail;
    }
    j->fd = fd;
    j->sign_key = opts->sign_key;
    if (opts->trust_key != NULL) {
        j->has_trust = true;
        j->trust = *opts->trust_key;
    }
    j->recovery = rec;
    j->size = end;
    j->seq = rep->last_seq;
    memcpy(j->hash, rep->last_hash, EBB_JOURNAL_HASH_LEN);
    *out = j;
    return EBB_OK;

fail:
    close(fd); /* releases the lock */
    return rc;
}

void ebb_journal_close(ebb_journal *j)
{
    if (j == NULL)
        return;
    close(j->fd);
    pthread_mutex_destroy(&j->mu);
    free(j->path);
    free(j);
}

void ebb_journal_recovery_get(const ebb_journal *j, ebb_journal_recovery *out)
{
    *out = j->recovery;
}

const char *ebb_journal_path(const ebb_journal *j)
{
    return j->path;
}

void ebb_journal_head(ebb_journal *j, uint64_t *seq, uint8_t hash[EBB_JOURNAL_HASH_LEN])
{
    pthread_mutex_lock(&j->mu);
    if (seq != NULL)
        *seq = j->seq;
    if (hash != NULL)
        memcpy(hash, j->hash, EBB_JOURNAL_HASH_LEN);
    pthread_mutex_unlock(&j->mu);
}

/*
 * Build the stored line (with its newline) for the next record. Called with
 * the mutex held. *line is malloc'd.
 */
static ebb_code build_line(ebb_journal *j, int64_t ts_ms, const char *type, const json_t *payload,
                           char **line, size_t *line_len, uint8_t hash[EBB_JOURNAL_HASH_LEN],
                           ebb_error *err)
{
    char prev[EBB_JOURNAL_HASH_HEX_SIZE];
    ebb_journal_hash_hex(j->hash, prev);
    ebb_code rc = EBB_OK;
    char *canon = NULL, *full = NULL;
    uint8_t *msg = NULL;
    json_t *obj = json_pack("{s:i,s:I,s:I,s:s,s:o,s:s}", "v", JR_VERSION, "seq",
                            (json_int_t)(j->seq + 1), "ts", (json_int_t)ts_ms, "type", type,
                            "payload", json_deep_copy(payload), "prev", prev);
    if (obj == NULL)
        goto oom;
    if (j->sign_key != NULL) {
        char kid[EBB_KEY_ID_HEX_SIZE];
        ebb_key_id_hex(ebb_secret_key_id(j->sign_key), kid);
        if (json_object_set_new(obj, "key", json_string(kid)) != 0)
            goto oom;
    }
    canon = json_dumps(obj, JR_DUMP_FLAGS);
    if (canon == NULL)
        goto oom;
    size_t canon_len = strlen(canon);
    jr_hash(canon, canon_len, hash);
    char hex[EBB_JOURNAL_HASH_HEX_SIZE];
    ebb_journal_hash_hex(hash, hex);
    if (json_object_set_new(obj, "hash", json_string(hex)) != 0)
        goto oom;
    if (j->sign_key != NULL) {
        size_t mlen = 0;
        msg = jr_signed_message(canon, canon_len, &mlen);
        if (msg == NULL)
            goto oom;
        uint8_t sig[EBB_SIGNATURE_LEN];
        char b64[EBB_SIGNATURE_LEN * 2];
        rc = ebb_secret_key_sign(j->sign_key, msg, mlen, sig, err);
        if (rc == EBB_OK)
            rc = ebb_base64_encode(sig, sizeof sig, b64, sizeof b64, err);
        if (rc != EBB_OK)
            goto done;
        if (json_object_set_new(obj, "sig", json_string(b64)) != 0)
            goto oom;
    }
    full = json_dumps(obj, JR_DUMP_FLAGS);
    if (full == NULL)
        goto oom;
    size_t n = strlen(full);
    if (n + 1 > EBB_JOURNAL_LINE_MAX) {
        rc = ebb_error_set(err, EBB_E_INVALID,
                           "journal %s: record '%s' would be %zu bytes, the limit is %d", j->path,
                           type, n + 1, EBB_JOURNAL_LINE_MAX);
        goto done;
    }
    char *l = realloc(full, n + 2);
    if (l == NULL)
        goto oom;
    full = NULL;
    l[n] = '\n';
    l[n + 1] = '\0';
    *line = l;
    *line_len = n + 1;
    goto done;
oom:
    rc = ebb_error_set(err, EBB_E_NOMEM, "journal %s: out of memory building a '%s' record",
                       j->path, type);
done:
    free(msg);
    free(canon);
    free(full);
    json_decref(obj);
    return rc;
}

/* Write all of line at off. */
static int pwrite_all(int fd, const char *buf, size_t len, uint64_t off)
{
    while (len > 0) {
        ssize_t n = pwrite(fd, buf, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

ebb_code ebb_journal_append(ebb_journal *j, int64_t ts_ms, const char *type, const json_t *payload,
                            uint64_t *seq_out, uint8_t hash_out[EBB_JOURNAL_HASH_LEN],
                            ebb_error *err)
{
    if (!jr_type_valid(type))
        return ebb_error_set(err, EBB_E_INVALID,
                             "journal %s: record type '%.80s' is not [a-z0-9_.-]{1,%d}", j->path,
                             type ? type : "(null)", EBB_JOURNAL_TYPE_MAX);
    if (ts_ms < 0)
        return ebb_error_set(err, EBB_E_INVALID, "journal %s: '%s' record has negative time %lld",
                             j->path, type, (long long)ts_ms);
    if (!json_is_object(payload))
        return ebb_error_set(err, EBB_E_INVALID,
                             "journal %s: payload of a '%s' record must be a JSON object", j->path,
                             type);
    if (jr_has_real(payload))
        return ebb_error_set(err, EBB_E_INVALID,
                             "journal %s: payload of a '%s' record holds a real number; use "
                             "integers (e.g. milliseconds) or strings",
                             j->path, type);

    pthread_mutex_lock(&j->mu);
    ebb_code rc = EBB_OK;
    char *line = NULL;
    size_t len = 0;
    uint8_t hash[EBB_JOURNAL_HASH_LEN];
    if (j->broken) {
        rc = ebb_error_set(err, EBB_E_IO,
                           "journal %s: an earlier append failed; reopen the journal to go on",
                           j->path);
        goto out;
    }
    rc = build_line(j, ts_ms, type, payload, &line, &len, hash, err);
    if (rc != EBB_OK)
        goto out;
    if (pwrite_all(j->fd, line, len, j->size) != 0 || fdatasync(j->fd) != 0) {
        int e = errno;
        /*
         * Try to leave no partial line behind; either way refuse further
         * appends, since after a failed sync the file's state is unknown.
         */
        if (ftruncate(j->fd, (off_t)j->size) != 0) {
            /* nothing more to do: the torn line is cut on the next open */
        }
        j->broken = true;
        rc = ebb_error_errno(err, EBB_E_IO, e, "journal %s: appending record %" PRIu64 " failed",
                             j->path, j->seq + 1);
        goto out;
    }
    j->size += len;
    j->seq++;
    memcpy(j->hash, hash, sizeof hash);
    if (seq_out != NULL)
        *seq_out = j->seq;
    if (hash_out != NULL)
        memcpy(hash_out, hash, sizeof hash);
out:
    pthread_mutex_unlock(&j->mu);
    free(line);
    return rc;
}

ebb_code ebb_journal_foreach(ebb_journal *j, uint64_t from_seq, ebb_journal_record_fn fn, void *ctx,
                             ebb_error *err)
{
    pthread_mutex_lock(&j->mu);
    uint64_t limit = j->size;
    pthread_mutex_unlock(&j->mu);
    ebb_journal_report rep;
    ebb_code rc = jr_read_chain(j->fd, j->path, limit, j->has_trust ? &j->trust : NULL, from_seq,
                                fn, ctx, &rep, NULL, err);
    if (rc == EBB_OK && rep.fault == EBB_JOURNAL_FAULT_TORN_TAIL)
        /* Below the acknowledged size nothing may be torn: the file was changed under us. */
        return jr_fault_error(j->path, &rep, err);
    return rc;
}
