/* Unit tests for the golang-migrate source reader (and the reading rules all layouts share). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/graph.h"
#include "agent/source.h"
#include "tests/support/source_fixture.h"
#include "tests/support/tmptree.h"

static void load_ok(const char *root, ebb_source_kind kind, ebb_graph *g)
{
    ebb_error err;
    if (ebb_source_load(root, kind, g, &err) != EBB_OK)
        fail_msg("load %s failed: %s", root, err.msg);
}

/* Load must fail with code and a message holding every needle. */
static void hex_blake2b(const char *s, char out[EBB_CHECKSUM_HEX])
{
    unsigned char d[32];
    crypto_generichash(d, sizeof d, (const unsigned char *)s, strlen(s), NULL, 0);
    sodium_bin2hex(out, EBB_CHECKSUM_HEX, d, sizeof d);
}

static void good_tree(const char *root)
{
    ebb_test_tree_put(root, "001_create_users.up.sql", "CREATE TABLE users (id int);\n");
    ebb_test_tree_put(root, "001_create_users.down.sql", "");
    ebb_test_tree_put(root, "002_index.up.sql",
        "-- ebb:no-transaction\nCREATE INDEX CONCURRENTLY users_id ON users (id);\n");
    ebb_test_tree_put(root, "002_index.down.sql", "DROP INDEX CONCURRENTLY users_id;\n");
    ebb_test_tree_put(root, "002_index.verify.sql", "SELECT 1 FROM pg_indexes WHERE indexname = 'users_id';\n");
    ebb_test_tree_put(root, "README.md", "not a migration\n");
    ebb_test_tree_put(root, "checks/b_orphans.sql", "SELECT 1 WHERE false;\n");
    ebb_test_tree_put(root, "checks/a_counts.sql", "SELECT true;\n");
    ebb_test_tree_put(root, "checks/notes.txt", "ignored\n");
}

static void test_good_tree(void **state)
{
    (void)state;
    char *root = ebb_test_tree_new();
    good_tree(root);
    ebb_graph g;
    load_ok(root, EBB_SOURCE_UNKNOWN, &g);
    assert_int_equal(g.kind, EBB_SOURCE_GOLANG);
    assert_string_equal(g.root, root);
    assert_int_equal(g.count, 2);
    assert_string_equal(g.revs[0].id, "001");
    assert_string_equal(g.revs[0].name, "create_users");
    assert_int_equal(g.revs[0].n_parents, 0);
    assert_string_equal(g.revs[1].id, "002");
    assert_int_equal(g.revs[1].n_parents, 1);
    assert_int_equal(g.revs[1].parents[0], 0);

    assert_string_equal(g.revs[0].up.sql, "CREATE TABLE users (id int);\n");
    char hex[EBB_CHECKSUM_HEX];
    hex_blake2b("CREATE TABLE users (id int);\n", hex);
    assert_string_equal(g.revs[0].up.checksum, hex);
    /* Known BLAKE2b-256 of the empty string: the down script is empty. */
    assert_non_null(g.revs[0].down.sql);
    assert_string_equal(g.revs[0].down.checksum,
                        "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
    assert_null(g.revs[0].verify.sql);
    assert_string_equal(g.revs[0].verify.checksum, "");
    assert_false(g.revs[0].up.no_transaction);
    assert_int_equal(g.revs[0].up.first_line, 1);
    assert_non_null(strstr(g.revs[0].up.path, "001_create_users.up.sql"));

    assert_true(g.revs[1].up.no_transaction);
    assert_false(g.revs[1].down.no_transaction);
    assert_non_null(g.revs[1].verify.sql);
    assert_non_null(strstr(g.revs[1].verify.path, "002_index.verify.sql"));

    assert_int_equal(g.n_checks, 2);
    assert_non_null(strstr(g.check_paths[0], "/checks/a_counts.sql"));
    assert_non_null(strstr(g.check_paths[1], "/checks/b_orphans.sql"));
    assert_int_equal(strlen(g.hash), 64);
    assert_int_equal(strspn(g.hash, "0123456789abcdef"), 64);
    ebb_graph_fini(&g);
    assert_null(g.revs);
    ebb_graph_fini(&g); /* safe on a zeroed graph */
    ebb_tmptree_remove(root);
}

static void test_numeric_sort(void **state)
{
    (void)state;
    char *root = ebb_test_tree_new();
    const char *v[] = {
        "00011", "9", "10", "20240101120000", "20231231235959", "123456789012345678901234567890"};
    char name[128];
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        snprintf(name, sizeof name, "%s_m.up.sql", v[i]);
        ebb_test_tree_put(root, name, "SELECT 1;\n");
        snprintf(name, sizeof name, "%s_m.down.sql", v[i]);
        ebb_test_tree_put(root, name, "SELECT 2;\n");
    }
    ebb_graph g;
    load_ok(root, EBB_SOURCE_GOLANG, &g);
    assert_int_equal(g.count, 6);
    const char *want[] = {
        "9", "10", "00011", "20231231235959", "20240101120000", "123456789012345678901234567890"};
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(g.revs[i].id, want[i]);
    for (size_t i = 1; i < 6; i++)
        assert_int_equal(g.revs[i].parents[0], i - 1);
    ebb_graph_fini(&g);
    ebb_tmptree_remove(root);
}

static void test_duplicate_version(void **state)
{
    (void)state;
    char *root = ebb_test_tree_new();
    ebb_test_tree_put(root, "001_a.up.sql", "SELECT 1;");
    ebb_test_tree_put(root, "001_a.down.sql", "SELECT 1;");
    ebb_test_tree_put(root, "1_b.up.sql", "SELECT 1;");
    ebb_test_tree_put(root, "1_b.down.sql", "SELECT 1;");
    ebb_test_load_fails(root, EBB_SOURCE_GOLANG, EBB_E_INVALID, "001_a.", "1_b.");
    ebb_tmptree_remove(root);
}

static void test_up_without_down(void **state)
{
    (void)state;
    char *root = ebb_test_tree_new();
    ebb_test_tree_put(root, "001_a.up.sql", "SELECT 1;");
    ebb_test_tree_put(root, "001_a.down.sql", "SELECT 1;");
    ebb_test_tree_put(root, "002_b.up.sql", "SELECT 1;");
    ebb_test_load_fails(root, EBB_SOURCE_GOLANG, EBB_E_INVALID, "002_b.up.sql", "no down");
    ebb_tmptree_remove(root);

    root = ebb_test_tree_new();
    ebb_test_tree_put(root, "002_b.down.sql", "SELECT 1;");
    ebb_test_load_fails(root, EBB_SOURCE_GOLANG, EBB_E_INVALID, "002_b.down.sql", "no up");
    ebb_tmptree_remove(root);
}

static void test_unreadable_file(void **state)
{
    (void)state;
    /* A directory where a script should be: a read error for any user. */
    char *root = ebb_test_tree_new();
    ebb_test_tree_put(root, "001_a.up.sql", "SELECT 1;");
    ebb_error err;
    assert_int_equal(ebb_tmptree_mkdir(root, "001_a.down.sql", &err), EBB_OK);
    ebb_test_load_fails(root, EBB_SOURCE_GOLANG, EBB_E_IO, "001_a.down.sql", "not a regular file");
    ebb_tmptree_remove(root);

    if (geteuid() == 0) {
        print_message("running as root: chmod 000 does not stop reading, case skipped\n");
        return;
    }
    root = ebb_test_tree_new();
    ebb_test_tree_put(root, "001_a.up.sql", "SELECT 1;");
    ebb_test_tree_put(root, "001_a.down.sql", "SELECT 1;");
    char path[4096];
    snprintf(path, sizeof path, "%s/001_a.down.sql", root);
    assert_int_equal(chmod(path, 0), 0);
    ebb_test_load_fails(root, EBB_SOURCE_GOLANG, EBB_E_IO, "001_a.down.sql", "Permission denied");
    ebb_tmptree_remove(root);
}

static void test_no_transaction_two_statements(void **state)
{
    (void)state;
    char *root = ebb_test_tree_new();
    ebb_test_tree_put(root, "001_a.up.sql",
        "-- ebb:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (a);\nCREATE INDEX CONCURRENTLY "
        "j ON t (b);\n");
    ebb_test_tree_put(root, "001_a.down.sql", "SELECT 1;");
    ebb_test_load_fails(root, EBB_SOURCE_GOLANG, EBB_E_INVALID, "001_a.up.sql:3", "one statement");
    ebb_tmptree_remove(root);
}

static void test_unknown_directive(void **state)
{
    (void)state;
    char *root = ebb_test_tree_new();
    ebb_test_tree_put(root, "001_a.up.sql", "-- ebb:no-transction\nSELECT 1;\n");
    ebb_test_tree_put(root, "001_a.down.sql", "SELECT 1;");
    ebb_test_load_fails(root, EBB_SOURCE_GOLANG, EBB_E_INVALID, "001_a.up.sql:1", "ebb:no-transction");
    ebb_tmptree_remove(root);
}

static void test_near_miss_is_an_error(void **state)
{
    (void)state;
    const char *bad[] = {"001_x.up.sq", "x.up.sql", "001-x.up.sql", "001_x.sql"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *root = ebb_test_tree_new();
        ebb_test_tree_put(root, "001_a.up.sql", "SELECT 1;");
        ebb_test_tree_put(root, "001_a.down.sql", "SELECT 1;");
        ebb_test_tree_put(root, bad[i], "SELECT 1;");
        ebb_test_load_fails(root, EBB_SOURCE_GOLANG, EBB_E_INVALID, bad[i], "looks like a migration");
        ebb_tmptree_remove(root);
    }
}

static void test_hash_stable_and_sensitive(void **state)
{
    (void)state;
    char *a = ebb_test_tree_new(), *b = ebb_test_tree_new(), *c = ebb_test_tree_new();
    good_tree(a);
    /* The same project written in another order, in another directory. */
    ebb_test_tree_put(b, "002_index.verify.sql", "SELECT 1 FROM pg_indexes WHERE indexname = 'users_id';\n");
    ebb_test_tree_put(b, "002_index.down.sql", "DROP INDEX CONCURRENTLY users_id;\n");
    ebb_test_tree_put(b, "002_index.up.sql",
        "-- ebb:no-transaction\nCREATE INDEX CONCURRENTLY users_id ON users (id);\n");
    ebb_test_tree_put(b, "001_create_users.down.sql", "");
    ebb_test_tree_put(b, "001_create_users.up.sql", "CREATE TABLE users (id int);\n");
    good_tree(c);
    ebb_test_tree_put(c, "002_index.verify.sql", "SELECT 1 FROM pg_indexes WHERE indexname = 'users_iD';\n");
    ebb_graph ga, gb, gc;
    load_ok(a, EBB_SOURCE_UNKNOWN, &ga);
    load_ok(b, EBB_SOURCE_UNKNOWN, &gb);
    load_ok(c, EBB_SOURCE_UNKNOWN, &gc);
    assert_string_equal(ga.hash, gb.hash);
    assert_string_not_equal(ga.hash, gc.hash);
    ebb_graph_fini(&ga);
    ebb_graph_fini(&gb);
    ebb_graph_fini(&gc);
    ebb_tmptree_remove(a);
    ebb_tmptree_remove(b);
    ebb_tmptree_remove(c);
}

static void test_missing_directory(void **state)
{
    (void)state;
    ebb_graph g;
    ebb_error err;
    assert_int_equal(ebb_source_load("/nonexistent/ebb-migrations", EBB_SOURCE_GOLANG, &g, &err),
                     EBB_E_NOT_FOUND);
    assert_non_null(strstr(err.msg, "/nonexistent/ebb-migrations"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_tree),
        cmocka_unit_test(test_numeric_sort),
        cmocka_unit_test(test_duplicate_version),
        cmocka_unit_test(test_up_without_down),
        cmocka_unit_test(test_unreadable_file),
        cmocka_unit_test(test_no_transaction_two_statements),
        cmocka_unit_test(test_unknown_directive),
        cmocka_unit_test(test_near_miss_is_an_error),
        cmocka_unit_test(test_hash_stable_and_sensitive),
        cmocka_unit_test(test_missing_directory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
