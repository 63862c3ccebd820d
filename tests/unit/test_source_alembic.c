/* Alembic graphs from the bridge's JSON: parents, heads, applied sets and Alembic's targets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "agent/source_alembic.h"

/* base -> a1 -> a2 -----> m (merge) -> d
 *           \-> b1 (label "feat") -/
 *  x depends_on a2, down_revision base: a second base and head. */
static const char GRAPH[] =
    "{\"heads\": [\"dd\", \"xx\"], \"revisions\": ["
    "{\"revision\": \"a1\", \"down_revisions\": [], \"depends_on\": [], \"branch_labels\": [],"
    " \"doc\": \"first\", \"path\": \"/p/a1.py\"},"
    "{\"revision\": \"a2\", \"down_revisions\": [\"a1\"], \"depends_on\": [], \"branch_labels\": "
    "[],"
    " \"doc\": \"\", \"path\": \"/p/a2.py\"},"
    "{\"revision\": \"b1\", \"down_revisions\": [\"a1\"], \"depends_on\": [],"
    " \"branch_labels\": [\"feat\"], \"doc\": \"\", \"path\": \"/p/b1.py\"},"
    "{\"revision\": \"m0\", \"down_revisions\": [\"a2\", \"b1\"], \"depends_on\": [],"
    " \"branch_labels\": [], \"doc\": \"merge\", \"path\": \"/p/m0.py\"},"
    "{\"revision\": \"dd\", \"down_revisions\": [\"m0\"], \"depends_on\": [], \"branch_labels\": "
    "[],"
    " \"doc\": \"\", \"path\": \"/p/dd.py\"},"
    "{\"revision\": \"xx\", \"down_revisions\": [], \"depends_on\": [\"a2\"], \"branch_labels\": "
    "[],"
    " \"doc\": \"\", \"path\": \"/p/xx.py\"}]}";

static int setup(void **state)
{
    ebb_graph *g = calloc(1, sizeof *g);
    ebb_error err;
    g->kind = EBB_SOURCE_ALEMBIC;
    if (ebb_alembic_graph_parse(GRAPH, g, &err) != EBB_OK)
        fail_msg("%s", err.msg);
    *state = g;
    return 0;
}

static int teardown(void **state)
{
    ebb_graph_fini(*state);
    free(*state);
    return 0;
}

static void test_parse(void **state)
{
    ebb_graph *g = *state;
    assert_int_equal(g->count, 6);
    assert_int_equal(g->revs[3].n_parents, 2);
    assert_int_equal(g->revs[3].parents[0], 1);
    assert_int_equal(g->revs[3].parents[1], 2);
    assert_int_equal(g->revs[5].n_parents, 1); /* the dependency is a parent */
    assert_string_equal(g->revs[5].requires[0], "a2");
    assert_string_equal(g->revs[2].tags[0], "feat");
    assert_string_equal(g->revs[0].name, "first");
    assert_string_equal(g->revs[3].up.path, "/p/m0.py");
    ebb_error err;
    assert_int_equal(ebb_graph_check(g, &err), EBB_OK);
}

static void test_parse_errors(void **state)
{
    (void)state;
    ebb_graph g = {0};
    ebb_error err;
    assert_int_equal(ebb_alembic_graph_parse("{\"revisions\": [{\"revision\": \"b\", "
                                             "\"down_revisions\": [\"a\"], \"path\": \"/b.py\"}]}",
                                             &g, &err),
                     EBB_E_INVALID);
    assert_non_null(strstr(err.msg, "down_revision a"));
    ebb_graph_fini(&g);
    assert_int_equal(ebb_alembic_graph_parse("[]", &g, &err), EBB_E_INVALID);
    ebb_graph_fini(&g);
}

static void test_heads_and_applied(void **state)
{
    ebb_graph *g = *state;
    ebb_error err;
    bool applied[6];
    const char *heads[] = {"a2", "b1"};
    assert_int_equal(ebb_alembic_applied_from_heads(g, heads, 2, applied, &err), EBB_OK);
    bool want[6] = {true, true, true, false, false, false};
    assert_memory_equal(applied, want, sizeof want);
    size_t *h = NULL, n = 0;
    assert_int_equal(ebb_alembic_heads_of(g, applied, &h, &n, &err), EBB_OK);
    assert_int_equal(n, 2);
    assert_int_equal(h[0], 1);
    assert_int_equal(h[1], 2);
    free(h);
    /* xx depends on a2: a2 stays a head in Alembic's sense. */
    const char *heads2[] = {"xx"};
    assert_int_equal(ebb_alembic_applied_from_heads(g, heads2, 1, applied, &err), EBB_OK);
    assert_int_equal(ebb_alembic_heads_of(g, applied, &h, &n, &err), EBB_OK);
    assert_int_equal(n, 2);
    assert_int_equal(h[0], 1);
    assert_int_equal(h[1], 5);
    free(h);
    const char *bad[] = {"zz"};
    assert_int_equal(ebb_alembic_applied_from_heads(g, bad, 1, applied, &err), EBB_E_NOT_FOUND);
    assert_non_null(strstr(err.msg, "zz"));
}

static void test_targets(void **state)
{
    ebb_graph *g = *state;
    ebb_target t;
    ebb_error err;
    assert_int_equal(ebb_alembic_resolve_target(g, "heads", &t, &err), EBB_OK);
    assert_int_equal(t.kind, EBB_TARGET_HEADS);
    assert_int_equal(ebb_alembic_resolve_target(g, "head", &t, &err), EBB_E_INVALID);
    assert_non_null(strstr(err.msg, "dd, xx"));
    assert_int_equal(ebb_alembic_resolve_target(g, "m", &t, &err), EBB_OK);
    assert_string_equal(t.id, "m0");
    assert_int_equal(ebb_alembic_resolve_target(g, "a", &t, &err), EBB_E_INVALID);
    assert_non_null(strstr(err.msg, "a1, a2"));
    assert_int_equal(ebb_alembic_resolve_target(g, "feat@head", &t, &err), EBB_OK);
    assert_string_equal(t.id, "dd");
    assert_int_equal(ebb_alembic_resolve_target(g, "a2@head", &t, &err), EBB_E_INVALID);
    assert_int_equal(ebb_alembic_resolve_target(g, "xx@head", &t, &err), EBB_OK);
    assert_string_equal(t.id, "xx");
    assert_int_equal(ebb_alembic_resolve_target(g, "nope@head", &t, &err), EBB_E_NOT_FOUND);
    assert_int_equal(ebb_alembic_resolve_target(g, "-2", &t, &err), EBB_OK);
    assert_int_equal(t.kind, EBB_TARGET_RELATIVE);
    assert_int_equal(t.steps, -2);
    assert_int_equal(ebb_alembic_resolve_target(g, "base", &t, &err), EBB_OK);
    assert_int_equal(t.kind, EBB_TARGET_BASE);
    assert_int_equal(ebb_alembic_resolve_target(g, "qq", &t, &err), EBB_E_NOT_FOUND);
    assert_int_equal(ebb_alembic_resolve_target(g, "feat@-1", &t, &err), EBB_E_INVALID);
}

/* Targets through the path resolver: heads with two heads, and a merge on the way down. */
static void test_paths(void **state)
{
    ebb_graph *g = *state;
    ebb_error err;
    ebb_state st = {0};
    assert_int_equal(ebb_state_from_ids(g, NULL, 0, &st, &err), EBB_OK);
    ebb_target t;
    assert_int_equal(ebb_alembic_resolve_target(g, "heads", &t, &err), EBB_OK);
    ebb_path p;
    assert_int_equal(ebb_path_resolve(g, &st, &t, &p, &err), EBB_OK);
    assert_int_equal(p.count, 6);
    ebb_path_fini(&p);
    for (size_t i = 0; i < 5; i++)
        st.applied[i] = true;
    assert_int_equal(ebb_alembic_resolve_target(g, "a2", &t, &err), EBB_OK);
    assert_int_equal(ebb_path_resolve(g, &st, &t, &p, &err), EBB_OK);
    assert_int_equal(p.direction, EBB_DIR_DOWN);
    assert_int_equal(p.count, 3); /* dd, m0, b1 */
    assert_int_equal(p.steps[0], 4);
    assert_int_equal(p.steps[1], 3);
    assert_int_equal(p.steps[2], 2);
    ebb_path_fini(&p);
    ebb_state_fini(&st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_parse, setup, teardown),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test_setup_teardown(test_heads_and_applied, setup, teardown),
        cmocka_unit_test_setup_teardown(test_targets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_paths, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
