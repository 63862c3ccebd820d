/* Throwaway directories for tests: created under $TMPDIR (or /tmp), removed with their contents. */
#ifndef EBB_TESTS_SUPPORT_TMPDIR_H
#define EBB_TESTS_SUPPORT_TMPDIR_H

#include <stddef.h>

/* Create a fresh directory; its path into buf (size bytes). 0 or -1. */
int ebb_test_tmpdir_make(const char *prefix, char *buf, size_t size);

/* Remove path and everything under it (no symlinks followed). 0 or -1. */
int ebb_test_tmpdir_remove(const char *path);

#endif
