/* Helpers for the migration-source tests: throwaway trees and expected load failures. */
#include "tests/support/source_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "agent/source.h"
#include "tests/support/tmptree.h"

char *ebb_test_tree_new(void)
{
    char *root = NULL;
    ebb_error err;
    if (ebb_tmptree_make(&root, &err) != EBB_OK)
        fail_msg("%s", err.msg);
    return root;
}

void ebb_test_tree_put(const char *root, const char *rel, const char *content)
{
    ebb_error err;
    if (ebb_tmptree_write(root, rel, content, &err) != EBB_OK)
        fail_msg("%s", err.msg);
}

void ebb_test_load_fails(const char *root, ebb_source_kind kind, ebb_code code,
                         const char *needle1, const char *needle2)
{
    ebb_graph g;
    memset(&g, 0x5a, sizeof g);
    ebb_error err;
    ebb_code rc = ebb_source_load(root, kind, &g, &err);
    if (rc == EBB_OK)
        fail_msg("load of %s succeeded, expected %s", root, ebb_code_name(code));
    assert_int_equal(rc, code);
    if (needle1 != NULL && strstr(err.msg, needle1) == NULL)
        fail_msg("message lacks \"%s\": %s", needle1, err.msg);
    if (needle2 != NULL && strstr(err.msg, needle2) == NULL)
        fail_msg("message lacks \"%s\": %s", needle2, err.msg);
    assert_int_equal(g.count, 0x5a5a5a5a5a5a5a5aULL); /* out untouched on failure */
}
