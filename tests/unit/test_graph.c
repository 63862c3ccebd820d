/* Unit tests for the revision graph: lookup, state, targets, paths, heads and the hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "agent/graph.h"

/*
 * Build a graph from "id:parent,parent" specs in topological order, each
 * revision with up/down scripts whose text is "up <id>" / "down <id>".
 */
static void script(ebb_script *s, const char *text)
{
    s->sql = strdup(text);
    s->path = strdup("mem");
    s->first_line = 1;
    unsigned char d[32];
    crypto_generichash(d, sizeof d, (const unsigned char *)text, strlen(text), NULL, 0);
    sodium_bin2hex(s->checksum, sizeof s->checksum, d, sizeof d);
}

static void build(ebb_graph *g, const char *const *spec, size_t n)
{
    memset(g, 0, sizeof *g);
    g->kind = EBB_SOURCE_SQITCH;
    g->root = strdup("/nowhere");
    g->revs = calloc(n, sizeof *g->revs);
    g->count = n;
    for (size_t i = 0; i < n; i++) {
        ebb_revision *r = &g->revs[i];
        const char *colon = strchr(spec[i], ':');
        size_t idlen = colon ? (size_t)(colon - spec[i]) : strlen(spec[i]);
        r->id = strndup(spec[i], idlen);
        r->name = strdup("");
        r->parents = calloc(4, sizeof *r->parents);
        for (const char *p = colon; p != NULL && *p != '\0';) {
            p++;
            size_t l = strcspn(p, ",");
            char pid[64];
            memcpy(pid, p, l);
            pid[l] = '\0';
            long idx = -1;
            for (size_t k = 0; k < i; k++)
                if (strcmp(g->revs[k].id, pid) == 0)
                    idx = (long)k;
            if (idx < 0)
                fail_msg("bad spec %s", spec[i]);
            r->parents[r->n_parents++] = (size_t)idx;
            p += l;
        }
        char text[128];
        snprintf(text, sizeof text, "up %s", r->id);
        script(&r->up, text);
        snprintf(text, sizeof text, "down %s", r->id);
        script(&r->down, text);
    }
    ebb_error err;
    if (ebb_graph_check(g, &err) != EBB_OK)
        fail_msg("%s", err.msg);
    ebb_graph_compute_hash(g);
}

static void state_of(const ebb_graph *g, const char *const *ids, size_t n, ebb_state *st)
{
    ebb_error err;
    if (ebb_state_from_ids(g, ids, n, st, &err) != EBB_OK)
        fail_msg("%s", err.msg);
}

/* Resolve text from state and compare with the expected direction and ids. */
static void expect_path(const ebb_graph *g, const ebb_state *st, const char *text,
                        ebb_direction dir, const char *const *ids, size_t n)
{
    ebb_target t;
    ebb_path p;
    ebb_error err;
    if (ebb_target_parse(text, &t, &err) != EBB_OK)
        fail_msg("parse %s: %s", text, err.msg);
    if (ebb_path_resolve(g, st, &t, &p, &err) != EBB_OK)
        fail_msg("resolve %s: %s", text, err.msg);
    assert_int_equal(p.direction, dir);
    if (p.count != n)
        fail_msg("%s: %zu steps, expected %zu", text, p.count, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(g->revs[p.steps[i]].id, ids[i]);
    ebb_path_fini(&p);
}

static void expect_refusal(const ebb_graph *g, const ebb_state *st, const char *text, ebb_code code,
                           const char *needle1, const char *needle2)
{
    ebb_target t;
    ebb_path p = {EBB_DIR_UP, (size_t *)0x1, 77};
    ebb_error err;
    if (ebb_target_parse(text, &t, &err) != EBB_OK)
        fail_msg("parse %s: %s", text, err.msg);
    ebb_code rc = ebb_path_resolve(g, st, &t, &p, &err);
    if (rc == EBB_OK)
        fail_msg("%s resolved, expected %s", text, ebb_code_name(code));
    assert_int_equal(rc, code);
    if (needle1 && strstr(err.msg, needle1) == NULL)
        fail_msg("%s: message lacks \"%s\": %s", text, needle1, err.msg);
    if (needle2 && strstr(err.msg, needle2) == NULL)
        fail_msg("%s: message lacks \"%s\": %s", text, needle2, err.msg);
    assert_int_equal(p.count, 77); /* out untouched */
}

static const char *const linear[] = {"1", "2:1", "3:2", "4:3"};

static void test_find_and_state(void **state)
{
    (void)state;
    ebb_graph g;
    build(&g, linear, 4);
    assert_int_equal(ebb_graph_find(&g, "1"), 0);
    assert_int_equal(ebb_graph_find(&g, "4"), 3);
    assert_int_equal(ebb_graph_find(&g, "5"), -1);
    assert_int_equal(ebb_graph_find(&g, "01"), -1); /* exact ids */

    const char *ids[] = {"2", "1", "2"};
    ebb_state st;
    state_of(&g, ids, 3, &st);
    assert_int_equal(st.count, 4);
    assert_true(st.applied[0] && st.applied[1]);
    assert_false(st.applied[2] || st.applied[3]);
    ebb_state_fini(&st);

    const char *bad[] = {"1", "zz9"};
    ebb_state st2 = {(bool *)0x1, 99};
    ebb_error err;
    assert_int_equal(ebb_state_from_ids(&g, bad, 2, &st2, &err), EBB_E_NOT_FOUND);
    assert_non_null(strstr(err.msg, "zz9"));
    assert_int_equal(st2.count, 99);
    ebb_graph_fini(&g);
}

static void test_target_parse(void **state)
{
    (void)state;
    ebb_target t;
    ebb_error err;
    assert_int_equal(ebb_target_parse("head", &t, &err), EBB_OK);
    assert_int_equal(t.kind, EBB_TARGET_HEAD);
    assert_int_equal(ebb_target_parse("base", &t, &err), EBB_OK);
    assert_int_equal(t.kind, EBB_TARGET_BASE);
    assert_int_equal(ebb_target_parse("+2", &t, &err), EBB_OK);
    assert_int_equal(t.kind, EBB_TARGET_RELATIVE);
    assert_int_equal(t.steps, 2);
    assert_int_equal(ebb_target_parse("-12", &t, &err), EBB_OK);
    assert_int_equal(t.steps, -12);
    assert_int_equal(ebb_target_parse("20240101120000", &t, &err), EBB_OK);
    assert_int_equal(t.kind, EBB_TARGET_REVISION);
    assert_string_equal(t.id, "20240101120000");
    const char *bad[] = {"", "+", "-", "+0", "-x", "+1a", "a b", "+99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        t.kind = EBB_TARGET_HEAD;
        if (ebb_target_parse(bad[i], &t, &err) != EBB_E_INVALID)
            fail_msg("\"%s\" parsed", bad[i]);
        assert_int_equal(t.kind, EBB_TARGET_HEAD);
    }
    char longid[300];
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    assert_int_equal(ebb_target_parse(longid, &t, &err), EBB_E_INVALID);
}

static void test_linear_paths(void **state)
{
    (void)state;
    ebb_graph g;
    build(&g, linear, 4);
    const char *applied[] = {"1", "2"};
    ebb_state st;
    state_of(&g, applied, 2, &st);
    expect_path(&g, &st, "head", EBB_DIR_UP, (const char *[]){"3", "4"}, 2);
    expect_path(&g, &st, "base", EBB_DIR_DOWN, (const char *[]){"2", "1"}, 2);
    expect_path(&g, &st, "3", EBB_DIR_UP, (const char *[]){"3"}, 1);
    expect_path(&g, &st, "1", EBB_DIR_DOWN, (const char *[]){"2"}, 1);
    expect_path(&g, &st, "2", EBB_DIR_NONE, NULL, 0);
    expect_path(&g, &st, "+1", EBB_DIR_UP, (const char *[]){"3"}, 1);
    expect_path(&g, &st, "+2", EBB_DIR_UP, (const char *[]){"3", "4"}, 2);
    expect_path(&g, &st, "-2", EBB_DIR_DOWN, (const char *[]){"2", "1"}, 2);
    expect_refusal(&g, &st, "+3", EBB_E_INVALID, "only 2 steps", NULL);
    expect_refusal(&g, &st, "-3", EBB_E_INVALID, "only 2 revisions are applied", NULL);
    expect_refusal(&g, &st, "7", EBB_E_NOT_FOUND, "unknown revision 7", "4 revisions");
    expect_refusal(&g, &st, "44", EBB_E_NOT_FOUND, "nearest: 4", NULL);
    ebb_state_fini(&st);

    /* Nothing applied; everything applied. */
    state_of(&g, NULL, 0, &st);
    expect_path(&g, &st, "base", EBB_DIR_NONE, NULL, 0);
    expect_path(&g, &st, "head", EBB_DIR_UP, (const char *[]){"1", "2", "3", "4"}, 4);
    expect_refusal(&g, &st, "-1", EBB_E_INVALID, "only 0 revisions", NULL);
    ebb_state_fini(&st);
    state_of(&g, (const char *[]){"1", "2", "3", "4"}, 4, &st);
    expect_path(&g, &st, "head", EBB_DIR_NONE, NULL, 0);
    expect_refusal(&g, &st, "+1", EBB_E_INVALID, "beyond head", "only 0 steps");
    ebb_state_fini(&st);

    /* A gap (1 and 3 applied): up fills it, down takes the top first. */
    state_of(&g, (const char *[]){"1", "3"}, 2, &st);
    expect_path(&g, &st, "+1", EBB_DIR_UP, (const char *[]){"2"}, 1);
    expect_path(&g, &st, "-1", EBB_DIR_DOWN, (const char *[]){"3"}, 1);
    expect_path(&g, &st, "head", EBB_DIR_UP, (const char *[]){"2", "4"}, 2);
    ebb_state_fini(&st);
    ebb_graph_fini(&g);
}

/* a -> b, a -> c, d merges b and c, e follows d. */
static const char *const merged[] = {"a", "b:a", "c:a", "d:b,c", "e:d"};

static void test_branch_and_merge(void **state)
{
    (void)state;
    ebb_graph g;
    build(&g, merged, 5);
    size_t *heads, n;
    ebb_error err;
    assert_int_equal(ebb_graph_heads(&g, &heads, &n, &err), EBB_OK);
    assert_int_equal(n, 1);
    assert_string_equal(g.revs[heads[0]].id, "e");
    free(heads);

    ebb_state st;
    state_of(&g, (const char *[]){"a"}, 1, &st);
    expect_path(&g, &st, "b", EBB_DIR_UP, (const char *[]){"b"}, 1); /* up to one branch tip */
    expect_path(&g, &st, "d", EBB_DIR_UP, (const char *[]){"b", "c", "d"}, 3);
    expect_refusal(&g, &st, "+1", EBB_E_INVALID, "ambiguous", "b, c");
    ebb_state_fini(&st);

    state_of(&g, (const char *[]){"a", "b"}, 2, &st);
    expect_refusal(&g, &st, "c", EBB_E_INVALID, "another branch", "b");
    expect_path(&g, &st, "+1", EBB_DIR_UP, (const char *[]){"c"}, 1);
    ebb_state_fini(&st);

    state_of(&g, (const char *[]){"a", "b", "c", "d", "e"}, 5, &st);
    expect_path(&g, &st, "b", EBB_DIR_DOWN, (const char *[]){"e", "d", "c"},
                3); /* across the merge */
    expect_path(&g, &st, "-2", EBB_DIR_DOWN, (const char *[]){"e", "d"}, 2);
    expect_refusal(&g, &st, "-3", EBB_E_INVALID, "ambiguous", "c, b");
    expect_path(&g, &st, "base", EBB_DIR_DOWN, (const char *[]){"e", "d", "c", "b", "a"}, 5);
    ebb_state_fini(&st);
    ebb_graph_fini(&g);
}

/* Resolve an exact-step target (APPLY_ONE / REVERT_ONE). */
static ebb_code one_step(const ebb_graph *g, const ebb_state *st, ebb_target_kind kind,
                         const char *id, ebb_path *p, ebb_error *err)
{
    ebb_target t = {.kind = kind};
    snprintf(t.id, sizeof t.id, "%s", id);
    return ebb_path_resolve(g, st, &t, p, err);
}

static void test_exact_steps_across_branches(void **state)
{
    (void)state;
    ebb_graph g;
    build(&g, merged, 5);
    ebb_state st;
    ebb_path p;
    ebb_error err;

    /* b applied: c (the other branch) can be applied alone, although "c" as a target
     * would mean "only the ancestors of c" and is refused. */
    state_of(&g, (const char *[]){"a", "b"}, 2, &st);
    assert_int_equal(one_step(&g, &st, EBB_TARGET_APPLY_ONE, "c", &p, &err), EBB_OK);
    assert_int_equal(p.direction, EBB_DIR_UP);
    assert_int_equal(p.count, 1);
    assert_string_equal(g.revs[p.steps[0]].id, "c");
    ebb_path_fini(&p);
    /* d needs c: refused, naming the missing parent. */
    assert_int_equal(one_step(&g, &st, EBB_TARGET_APPLY_ONE, "d", &p, &err), EBB_E_INVALID);
    assert_non_null(strstr(err.msg, "parent c is not applied"));
    /* Already applied / unknown. */
    assert_int_equal(one_step(&g, &st, EBB_TARGET_APPLY_ONE, "b", &p, &err), EBB_E_INVALID);
    assert_non_null(strstr(err.msg, "already applied"));
    assert_int_equal(one_step(&g, &st, EBB_TARGET_APPLY_ONE, "zz", &p, &err), EBB_E_NOT_FOUND);
    ebb_state_fini(&st);

    /* a b c applied: b can be reverted alone (c stays); a cannot (b and c depend on it). */
    state_of(&g, (const char *[]){"a", "b", "c"}, 3, &st);
    assert_int_equal(one_step(&g, &st, EBB_TARGET_REVERT_ONE, "b", &p, &err), EBB_OK);
    assert_int_equal(p.direction, EBB_DIR_DOWN);
    assert_int_equal(p.count, 1);
    assert_string_equal(g.revs[p.steps[0]].id, "b");
    ebb_path_fini(&p);
    assert_int_equal(one_step(&g, &st, EBB_TARGET_REVERT_ONE, "a", &p, &err), EBB_E_INVALID);
    assert_non_null(strstr(err.msg, "depends on it"));
    assert_int_equal(one_step(&g, &st, EBB_TARGET_REVERT_ONE, "e", &p, &err), EBB_E_INVALID);
    assert_non_null(strstr(err.msg, "not applied"));
    ebb_state_fini(&st);
    ebb_graph_fini(&g);
}

static void test_several_heads(void **state)
{
    (void)state;
    static const char *const forked[] = {"a", "b:a", "c:a"};
    ebb_graph g;
    build(&g, forked, 3);
    size_t *heads, n;
    ebb_error err;
    assert_int_equal(ebb_graph_heads(&g, &heads, &n, &err), EBB_OK);
    assert_int_equal(n, 2);
    assert_string_equal(g.revs[heads[0]].id, "b");
    assert_string_equal(g.revs[heads[1]].id, "c");
    free(heads);
    ebb_state st;
    state_of(&g, (const char *[]){"a"}, 1, &st);
    expect_refusal(&g, &st, "head", EBB_E_INVALID, "2 heads", "b, c");
    expect_path(&g, &st, "c", EBB_DIR_UP, (const char *[]){"c"}, 1);
    ebb_state_fini(&st);
    ebb_graph_fini(&g);
}

static void test_graph_check(void **state)
{
    (void)state;
    ebb_graph g;
    build(&g, linear, 4);
    ebb_error err;
    g.revs[1].parents[0] = 2; /* a parent after its child */
    assert_int_equal(ebb_graph_check(&g, &err), EBB_E_INVALID);
    g.revs[1].parents[0] = 0;
    free(g.revs[3].id);
    g.revs[3].id = strdup("2");
    assert_int_equal(ebb_graph_check(&g, &err), EBB_E_INVALID);
    assert_non_null(strstr(err.msg, "2 appears twice"));
    ebb_graph_fini(&g);
}

static void test_hash(void **state)
{
    (void)state;
    /* The same DAG in its two topological orders hashes alike. */
    static const char *const other_order[] = {"a", "c:a", "b:a", "d:c,b", "e:d"};
    ebb_graph g1, g2;
    build(&g1, merged, 5);
    build(&g2, other_order, 5);
    assert_int_equal(strlen(g1.hash), 64);
    assert_string_equal(g1.hash, g2.hash);

    /* One byte of one script changes it. */
    char before[EBB_CHECKSUM_HEX];
    memcpy(before, g2.hash, sizeof before);
    ebb_script *s = &g2.revs[3].down;
    free(s->sql);
    free(s->path);
    script(s, "down e"); /* was "down d" */
    ebb_graph_compute_hash(&g2);
    assert_string_not_equal(before, g2.hash);

    /* So does a no-transaction flag, and a parent. */
    ebb_graph_compute_hash(&g1);
    memcpy(before, g1.hash, sizeof before);
    g1.revs[0].up.no_transaction = true;
    ebb_graph_compute_hash(&g1);
    assert_string_not_equal(before, g1.hash);
    g1.revs[0].up.no_transaction = false;
    ebb_graph_compute_hash(&g1);
    assert_string_equal(before, g1.hash);
    g1.revs[3].n_parents = 1;
    ebb_graph_compute_hash(&g1);
    assert_string_not_equal(before, g1.hash);
    ebb_graph_fini(&g1);
    ebb_graph_fini(&g2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find_and_state), cmocka_unit_test(test_target_parse),
        cmocka_unit_test(test_linear_paths),   cmocka_unit_test(test_branch_and_merge),
        cmocka_unit_test(test_exact_steps_across_branches),
        cmocka_unit_test(test_several_heads),  cmocka_unit_test(test_graph_check),
        cmocka_unit_test(test_hash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
