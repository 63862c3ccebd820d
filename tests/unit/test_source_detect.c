/* Unit tests for source layout detection and kind names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "agent/source.h"
#include "tests/support/source_fixture.h"
#include "tests/support/tmptree.h"

static ebb_source_kind detect_ok(const char *root)
{
    ebb_source_kind k = EBB_SOURCE_UNKNOWN;
    ebb_error err;
    if (ebb_source_detect(root, &k, &err) != EBB_OK)
        fail_msg("detect %s: %s", root, err.msg);
    return k;
}

static void test_each_layout(void **state)
{
    (void)state;
    struct {
        const char *files[3];
        ebb_source_kind kind;
    } cases[] = {
        {{"1_a.up.sql", "1_a.down.sql", NULL}, EBB_SOURCE_GOLANG},
        {{"V1__a.sql", "U1__a.sql", NULL}, EBB_SOURCE_FLYWAY},
        {{"20240101_a.sql", "README.md", NULL}, EBB_SOURCE_DBMATE},
        {{"2017-08-31-210424_a/up.sql", "2017-08-31-210424_a/down.sql", NULL}, EBB_SOURCE_DIESEL},
        {{"sqitch.plan", "deploy/a.sql", NULL}, EBB_SOURCE_SQITCH},
        {{"alembic.ini", "versions/x.py", NULL}, EBB_SOURCE_ALEMBIC},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *root = ebb_test_tree_new();
        for (size_t f = 0; f < 3 && cases[i].files[f]; f++)
            ebb_test_tree_put(root, cases[i].files[f], "-- migrate:up\n-- migrate:down\n");
        ebb_test_tree_put(root, "checks/a.sql", "SELECT true;"); /* never mistaken for a layout */
        assert_int_equal(detect_ok(root), cases[i].kind);
        ebb_tmptree_remove(root);
    }
}

static void test_empty_directory(void **state)
{
    (void)state;
    char *root = ebb_test_tree_new();
    ebb_test_tree_put(root, "README.md", "nothing\n");
    ebb_source_kind k = EBB_SOURCE_GOLANG;
    ebb_error err;
    assert_int_equal(ebb_source_detect(root, &k, &err), EBB_E_NOT_FOUND);
    assert_non_null(strstr(err.msg, root));
    assert_non_null(strstr(err.msg, "no migrations"));
    assert_int_equal(k, EBB_SOURCE_GOLANG); /* untouched */
    ebb_graph g;
    assert_int_equal(ebb_source_load(root, EBB_SOURCE_UNKNOWN, &g, &err), EBB_E_NOT_FOUND);
    /* Named explicitly, an empty project is a valid graph of no revisions. */
    assert_int_equal(ebb_source_load(root, EBB_SOURCE_GOLANG, &g, &err), EBB_OK);
    assert_int_equal(g.count, 0);
    assert_int_equal(strlen(g.hash), 64);
    ebb_graph_fini(&g);
    ebb_tmptree_remove(root);
}

static void test_mixed_layouts(void **state)
{
    (void)state;
    char *root = ebb_test_tree_new();
    ebb_test_tree_put(root, "1_a.up.sql", "SELECT 1;");
    ebb_test_tree_put(root, "1_a.down.sql", "SELECT 1;");
    ebb_test_tree_put(root, "V2__b.sql", "SELECT 1;");
    ebb_source_kind k;
    ebb_error err;
    assert_int_equal(ebb_source_detect(root, &k, &err), EBB_E_INVALID);
    assert_non_null(strstr(err.msg, "golang-migrate"));
    assert_non_null(strstr(err.msg, "flyway"));
    assert_non_null(strstr(err.msg, "V2__b.sql"));
    ebb_graph g;
    assert_int_equal(ebb_source_load(root, EBB_SOURCE_UNKNOWN, &g, &err), EBB_E_INVALID);
    ebb_tmptree_remove(root);
}

/* A Sqitch project is detected and loaded through the Sqitch reader. */
static void test_sqitch_dispatch(void **state)
{
    (void)state;
    char *root = ebb_test_tree_new();
    ebb_test_tree_put(root, "sqitch.plan", "%project=x\n\na 2024-01-01T00:00:00Z Ann <a@x> # first\n");
    ebb_error err;
    assert_int_equal(ebb_tmptree_mkdir(root, "deploy", &err), EBB_OK);
    ebb_test_tree_put(root, "deploy/a.sql", "BEGIN;\nCREATE TABLE a (id int);\nCOMMIT;\n");
    ebb_graph g;
    assert_int_equal(ebb_source_load(root, EBB_SOURCE_UNKNOWN, &g, &err), EBB_OK);
    assert_int_equal(g.kind, EBB_SOURCE_SQITCH);
    assert_int_equal(g.count, 1);
    assert_string_equal(g.project, "x");
    assert_string_equal(g.revs[0].note, "first");
    assert_non_null(g.revs[0].up.sql);
    assert_null(g.revs[0].down.sql);
    assert_int_not_equal(g.hash[0], '\0');
    ebb_graph_fini(&g); /* frees the Sqitch fields too (ASan checks) */
    ebb_tmptree_remove(root);
}

static void test_kind_names(void **state)
{
    (void)state;
    for (int k = EBB_SOURCE_GOLANG; k <= EBB_SOURCE_ALEMBIC; k++)
        assert_int_equal(ebb_source_kind_parse(ebb_source_kind_name((ebb_source_kind)k)), k);
    assert_string_equal(ebb_source_kind_name(EBB_SOURCE_GOLANG), "golang-migrate");
    assert_int_equal(ebb_source_kind_parse("golang"), EBB_SOURCE_GOLANG);
    assert_int_equal(ebb_source_kind_parse("auto"), EBB_SOURCE_UNKNOWN);
    assert_int_equal(ebb_source_kind_parse("liquibase"), EBB_SOURCE_UNKNOWN);
    assert_int_equal(ebb_source_kind_parse(NULL), EBB_SOURCE_UNKNOWN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_layout),   cmocka_unit_test(test_empty_directory),
        cmocka_unit_test(test_mixed_layouts), cmocka_unit_test(test_sqitch_dispatch),
        cmocka_unit_test(test_kind_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
