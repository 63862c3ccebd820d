/* Helpers for the migration-source tests: throwaway trees and expected load failures. */
#ifndef EBB_TESTS_SOURCE_FIXTURE_H
#define EBB_TESTS_SOURCE_FIXTURE_H

#include "agent/migration.h"
#include "common/error.h"

/* A new empty tree (ebb_tmptree_make); fails the running test on error. Free with
 * ebb_tmptree_remove. */
char *ebb_test_tree_new(void);

/* Write content to root/rel (ebb_tmptree_write); fails the running test on error. */
void ebb_test_tree_put(const char *root, const char *rel, const char *content);

/*
 * Load root as kind and expect it to fail with code; the message must contain
 * needle1 and needle2 (either may be NULL), and the output graph must be
 * untouched. Fails the running test otherwise.
 */
void ebb_test_load_fails(const char *root, ebb_source_kind kind, ebb_code code,
                         const char *needle1, const char *needle2);

#endif
