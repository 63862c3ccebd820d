/* Throwaway directories for tests. */
#define _XOPEN_SOURCE 700 /* nftw */
#include "tests/support/tmpdir.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int ebb_test_tmpdir_make(const char *prefix, char *buf, size_t size)
{
    const char *base = getenv("TMPDIR");
    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    if (snprintf(buf, size, "%s/%s.XXXXXX", base, prefix) >= (int)size)
        return -1;
    return mkdtemp(buf) != NULL ? 0 : -1;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int ebb_test_tmpdir_remove(const char *path)
{
    return nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}
