/* Durable file writes (temp file, fsync, rename, fsync dir) and bounded reads. */
#ifndef EBB_COMMON_FSUTIL_H
#define EBB_COMMON_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"

/*
 * Replace path with exactly len bytes of data, durably: write "PATH.tmp"
 * (created with mode, regardless of umask), fsync it, rename it over path,
 * fsync the directory. After a crash path holds either the old or the new
 * content, never a mix. A stale PATH.tmp from an earlier crash is replaced.
 * The caller keeps data.
 */
EBB_MUSTCHECK ebb_code ebb_file_write_atomic(const char *path, const void *data, size_t len,
                                             mode_t mode, ebb_error *err);

/*
 * Read all of the regular file at path, refusing (EBB_E_INVALID, naming the
 * file, its size and the limit) one larger than max_len bytes. On success
 * *out is a malloc'd buffer the caller frees, with a NUL after the *out_len
 * bytes so text can be used as a string. Out-parameters set only on success.
 */
EBB_MUSTCHECK ebb_code ebb_file_read_all(const char *path, size_t max_len, uint8_t **out,
                                         size_t *out_len, ebb_error *err);

/*
 * The same from an open descriptor (the caller keeps and closes fd); name
 * is used in messages. For callers that fstat the file before reading it.
 */
EBB_MUSTCHECK ebb_code ebb_file_read_fd(int fd, const char *name, size_t max_len, uint8_t **out,
                                        size_t *out_len, ebb_error *err);

/*
 * fsync the directory that holds path, so that a file just created or
 * renamed there survives a crash under that name.
 */
EBB_MUSTCHECK ebb_code ebb_fsync_parent_dir(const char *path, ebb_error *err);

/* True when path exists (any type, symlinks not followed). */
bool ebb_file_exists(const char *path);

#endif
