/* Throwaway directory trees for tests that read files (mkdtemp, write, remove). */
#define _XOPEN_SOURCE 700 /* nftw */
#include "tests/support/tmptree.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

ebb_code ebb_tmptree_make(char **out, ebb_error *err)
{
    const char *tmp = getenv("TMPDIR");
    if (tmp == NULL || tmp[0] == '\0')
        tmp = "/tmp";
    char *path = malloc(strlen(tmp) + sizeof "/ebb-test-XXXXXX");
    if (path == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    sprintf(path, "%s/ebb-test-XXXXXX", tmp);
    if (mkdtemp(path) == NULL) {
        int e = errno;
        free(path);
        return ebb_error_errno(err, EBB_E_IO, e, "mkdtemp in %s", tmp);
    }
    *out = path;
    return EBB_OK;
}

/* mkdir -p of path's first len bytes. */
static ebb_code mkdirs(char *path, ebb_error *err)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int rc = mkdir(path, 0755);
        int e = errno;
        *p = '/';
        if (rc != 0 && e != EEXIST)
            return ebb_error_errno(err, EBB_E_IO, e, "mkdir %s", path);
    }
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return ebb_error_errno(err, EBB_E_IO, errno, "mkdir %s", path);
    return EBB_OK;
}

ebb_code ebb_tmptree_mkdir(const char *root, const char *rel, ebb_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    return mkdirs(path, err);
}

ebb_code ebb_tmptree_write(const char *root, const char *rel, const char *content, ebb_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    ebb_code rc = mkdirs(path, err);
    *slash = '/';
    if (rc != EBB_OK)
        return rc;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return ebb_error_errno(err, EBB_E_IO, errno, "open %s", path);
    size_t len = strlen(content), done = 0;
    while (done < len) {
        ssize_t w = write(fd, content + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            int e = errno;
            close(fd);
            return ebb_error_errno(err, EBB_E_IO, e, "write %s", path);
        }
        done += (size_t)w;
    }
    if (close(fd) != 0)
        return ebb_error_errno(err, EBB_E_IO, errno, "close %s", path);
    return EBB_OK;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag != FTW_SL)
        chmod(path, 0700); /* tests make files unreadable; make sure they can go */
    remove(path);
    return 0;
}

void ebb_tmptree_remove(char *root)
{
    if (root == NULL)
        return;
    nftw(root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    free(root);
}
