/* Durable file writes and bounded reads. */
#include "common/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static ebb_code write_all(int fd, const char *name, const uint8_t *data, size_t len, ebb_error *err)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return ebb_error_errno(err, EBB_E_IO, errno, "write %s", name);
        }
        data += n;
        len -= (size_t)n;
    }
    return EBB_OK;
}

ebb_code ebb_fsync_parent_dir(const char *path, ebb_error *err)
{
    char copy[PATH_MAX];
    if (snprintf(copy, sizeof copy, "%s", path) >= (int)sizeof copy)
        return ebb_error_set(err, EBB_E_INVALID, "path too long: %.100s...", path);
    const char *dir = dirname(copy);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return ebb_error_errno(err, EBB_E_IO, errno, "open directory %s", dir);
    ebb_code rc = EBB_OK;
    if (fsync(fd) != 0)
        rc = ebb_error_errno(err, EBB_E_IO, errno, "fsync directory %s", dir);
    close(fd);
    return rc;
}

ebb_code ebb_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                               ebb_error *err)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return ebb_error_set(err, EBB_E_INVALID, "path too long: %.100s...", path);
    /* O_EXCL | O_NOFOLLOW: never write through a planted symlink. */
    if (unlink(tmp) != 0 && errno != ENOENT)
        return ebb_error_errno(err, EBB_E_IO, errno, "remove stale %s", tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return ebb_error_errno(err, EBB_E_IO, errno, "create %s", tmp);
    ebb_code rc = EBB_OK;
    if (fchmod(fd, mode) != 0) /* the umask must not widen or narrow it */
        rc = ebb_error_errno(err, EBB_E_IO, errno, "chmod %s", tmp);
    if (rc == EBB_OK)
        rc = write_all(fd, tmp, data, len, err);
    if (rc == EBB_OK && fsync(fd) != 0)
        rc = ebb_error_errno(err, EBB_E_IO, errno, "fsync %s", tmp);
    if (close(fd) != 0 && rc == EBB_OK)
        rc = ebb_error_errno(err, EBB_E_IO, errno, "close %s", tmp);
    if (rc == EBB_OK && rename(tmp, path) != 0)
        rc = ebb_error_errno(err, EBB_E_IO, errno, "rename %s to %s", tmp, path);
    if (rc != EBB_OK) {
        unlink(tmp);
        return rc;
    }
    return ebb_fsync_parent_dir(path, err);
}

ebb_code ebb_file_read_fd(int fd, const char *name, size_t max_len, uint8_t **out, size_t *out_len,
                          ebb_error *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return ebb_error_errno(err, EBB_E_IO, errno, "stat %s", name);
    if (!S_ISREG(st.st_mode))
        return ebb_error_set(err, EBB_E_INVALID, "%s is not a regular file", name);
    if ((uintmax_t)st.st_size > max_len)
        return ebb_error_set(err, EBB_E_INVALID, "%s is %jd bytes, more than the limit of %zu",
                             name, (intmax_t)st.st_size, max_len);
    /* Read up to max_len + 1 so a file that grew after fstat is still caught. */
    size_t cap = (size_t)st.st_size + 1;
    uint8_t *buf = malloc(cap + 1);
    if (buf == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "reading %s: out of memory", name);
    size_t len = 0;
    for (;;) {
        if (len == cap) {
            if (len > max_len)
                break;
            size_t ncap = cap * 2 > max_len + 1 ? max_len + 1 : cap * 2;
            uint8_t *nbuf = realloc(buf, ncap + 1);
            if (nbuf == NULL) {
                free(buf);
                return ebb_error_set(err, EBB_E_NOMEM, "reading %s: out of memory", name);
            }
            buf = nbuf;
            cap = ncap;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            free(buf);
            return ebb_error_errno(err, EBB_E_IO, e, "read %s", name);
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > max_len) {
        free(buf);
        return ebb_error_set(err, EBB_E_INVALID, "%s is more than the limit of %zu bytes", name,
                             max_len);
    }
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return EBB_OK;
}

ebb_code ebb_file_read_all(const char *path, size_t max_len, uint8_t **out, size_t *out_len,
                           ebb_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ebb_error_errno(err, errno == ENOENT ? EBB_E_NOT_FOUND : EBB_E_IO, errno, "open %s",
                               path);
    ebb_code rc = ebb_file_read_fd(fd, path, max_len, out, out_len, err);
    close(fd);
    return rc;
}

bool ebb_file_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}
