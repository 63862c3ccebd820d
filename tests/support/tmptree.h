/* Throwaway directory trees for tests that read files (mkdtemp, write, remove). */
#ifndef EBB_TESTS_TMPTREE_H
#define EBB_TESTS_TMPTREE_H

#include "common/error.h"

/* A new empty directory under $TMPDIR (or /tmp); the caller frees the path with ebb_tmptree_remove.
 */
EBB_MUSTCHECK ebb_code ebb_tmptree_make(char **out, ebb_error *err);

/* Write content to root/rel, creating missing parent directories. */
EBB_MUSTCHECK ebb_code ebb_tmptree_write(const char *root, const char *rel, const char *content,
                                         ebb_error *err);

/* Create root/rel (and its parents) as a directory. */
EBB_MUSTCHECK ebb_code ebb_tmptree_mkdir(const char *root, const char *rel, ebb_error *err);

/* Remove the tree at root (never following symlinks) and free root. NULL is a no-op. */
void ebb_tmptree_remove(char *root);

#endif
