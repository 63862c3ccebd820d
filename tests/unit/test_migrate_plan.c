/* Unit tests for the runner's pure pre-checks: transactions, checksums, current revision after a path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/migrate_plan.h"

static ebb_revision revs[3];
static ebb_graph graph;

static void script(ebb_script *s, const char *path, const char *sql, char c, bool notx)
{
    memset(s, 0, sizeof *s);
    if (!sql)
        return;
    s->path = (char *)path;
    s->sql = (char *)sql;
    memset(s->checksum, c, 64);
    s->checksum[64] = '\0';
    s->no_transaction = notx;
}

static int setup(void **state)
{
    (void)state;
    memset(revs, 0, sizeof revs);
    static const char *ids[] = {"1", "2", "3"};
    for (int i = 0; i < 3; i++) {
        revs[i].id = (char *)ids[i];
        revs[i].name = (char *)"";
    }
    script(&revs[0].up, "1_a.up.sql", "CREATE TABLE a ()", 'a', false);
    script(&revs[0].down, "1_a.down.sql", "DROP TABLE a", 'b', false);
    script(&revs[1].up, "2_i.up.sql", "CREATE INDEX CONCURRENTLY i ON a ()", 'c', true);
    script(&revs[1].down, "2_i.down.sql", "DROP INDEX i", 'd', false);
    script(&revs[1].verify, "2_i.verify.sql", "SELECT 1", 'e', false);
    script(&revs[2].up, "3_b.up.sql", "CREATE TABLE b ()", 'f', false);
    script(&revs[2].down, NULL, NULL, 0, false); /* irreversible */
    graph = (ebb_graph){.revs = revs, .count = 3};
    return 0;
}

/* recorded rows as the registry would return them, copying the on-disk checksums */
static ebb_applied rows[3];
static ebb_applied_list recorded_all(size_t n)
{
    memset(rows, 0, sizeof rows);
    for (size_t i = 0; i < n; i++) {
        rows[i].revision = revs[i].id;
        strcpy(rows[i].up_checksum, revs[i].up.checksum);
        strcpy(rows[i].down_checksum, revs[i].down.checksum);
        strcpy(rows[i].verify_checksum, revs[i].verify.checksum);
    }
    return (ebb_applied_list){.rows = rows, .count = n};
}

static void test_no_transaction_step_refused_in_single_transaction(void **state)
{
    (void)state;
    size_t up[] = {0, 1};
    ebb_path p = {.direction = EBB_DIR_UP, .steps = up, .count = 2};
    ebb_error err;
    assert_int_equal(ebb_plan_check_transactions(&graph, &p, false, &err), EBB_OK);
    assert_int_equal(ebb_plan_check_transactions(&graph, &p, true, &err), EBB_E_REFUSED);
    assert_non_null(strstr(err.msg, "revision 2"));
    assert_non_null(strstr(err.msg, "2_i.up.sql"));
    /* the down script of 2 runs in a transaction: a single-transaction down is fine */
    size_t down[] = {1, 0};
    ebb_path d = {.direction = EBB_DIR_DOWN, .steps = down, .count = 2};
    assert_int_equal(ebb_plan_check_transactions(&graph, &d, true, &err), EBB_OK);
}

static void test_missing_down_script_is_invalid(void **state)
{
    (void)state;
    size_t down[] = {2, 1};
    ebb_path d = {.direction = EBB_DIR_DOWN, .steps = down, .count = 2};
    ebb_error err;
    assert_int_equal(ebb_plan_check_transactions(&graph, &d, false, &err), EBB_E_INVALID);
    assert_non_null(strstr(err.msg, "revision 3 has no down script"));
    assert_null(ebb_plan_step_script(&graph, &d, 0));
    assert_ptr_equal(ebb_plan_step_script(&graph, &d, 1), &revs[1].down);
}

static void test_checksums_match(void **state)
{
    (void)state;
    ebb_applied_list rec = recorded_all(2);
    size_t down[] = {1, 0};
    ebb_path d = {.direction = EBB_DIR_DOWN, .steps = down, .count = 2};
    ebb_error err;
    char **mm = NULL;
    size_t n = 99;
    assert_int_equal(ebb_plan_check_checksums(&graph, &d, &rec, false, &mm, &n, &err), EBB_OK);
    assert_int_equal(n, 0);
    free(mm);
}

static void test_checksum_mismatch_names_revision_and_both(void **state)
{
    (void)state;
    ebb_applied_list rec = recorded_all(2);
    memset(rows[1].down_checksum, '9', 64); /* recorded down of 2 differs from disk */
    size_t down[] = {1, 0};
    ebb_path d = {.direction = EBB_DIR_DOWN, .steps = down, .count = 2};
    ebb_error err;
    assert_int_equal(ebb_plan_check_checksums(&graph, &d, &rec, false, NULL, NULL, &err),
                     EBB_E_CHECKSUM);
    char want_rec[65], want_disk[65];
    memset(want_rec, '9', 64);
    want_rec[64] = 0;
    memset(want_disk, 'd', 64);
    want_disk[64] = 0;
    assert_non_null(strstr(err.msg, "revision 2"));
    assert_non_null(strstr(err.msg, "down"));
    assert_non_null(strstr(err.msg, want_rec));
    assert_non_null(strstr(err.msg, want_disk));
    assert_non_null(strstr(err.msg, "2_i.down.sql"));

    /* ignored: no error, the mismatch is described for the event */
    char **mm = NULL;
    size_t n = 0;
    assert_int_equal(ebb_plan_check_checksums(&graph, &d, &rec, true, &mm, &n, &err), EBB_OK);
    assert_int_equal(n, 1);
    assert_non_null(strstr(mm[0], want_rec));
    free(mm[0]);
    free(mm);
}

static void test_unrecorded_checksum_and_up_path_not_compared(void **state)
{
    (void)state;
    ebb_applied_list rec = recorded_all(2);
    rows[0].up_checksum[0] = '\0'; /* older registry: nothing recorded */
    memset(rows[1].verify_checksum, '7', 64);
    size_t down[] = {0};
    ebb_path d = {.direction = EBB_DIR_DOWN, .steps = down, .count = 1};
    ebb_error err;
    assert_int_equal(ebb_plan_check_checksums(&graph, &d, &rec, false, NULL, NULL, &err), EBB_OK);
    /* an up path over a mismatching revision checks nothing */
    size_t up[] = {1};
    ebb_path u = {.direction = EBB_DIR_UP, .steps = up, .count = 1};
    assert_int_equal(ebb_plan_check_checksums(&graph, &u, &rec, false, NULL, NULL, &err), EBB_OK);
    /* but a down over 2 does: the verify script changed */
    size_t d2[] = {1};
    ebb_path dd = {.direction = EBB_DIR_DOWN, .steps = d2, .count = 1};
    assert_int_equal(ebb_plan_check_checksums(&graph, &dd, &rec, false, NULL, NULL, &err),
                     EBB_E_CHECKSUM);
    assert_non_null(strstr(err.msg, "verify"));
}

static void test_current_after(void **state)
{
    (void)state;
    ebb_applied_list rec = recorded_all(3);
    size_t down[] = {2, 1};
    ebb_path d = {.direction = EBB_DIR_DOWN, .steps = down, .count = 2};
    assert_string_equal(ebb_plan_current_after(&graph, &d, &rec), "1");
    size_t all[] = {2, 1, 0};
    ebb_path d0 = {.direction = EBB_DIR_DOWN, .steps = all, .count = 3};
    assert_null(ebb_plan_current_after(&graph, &d0, &rec));
    ebb_applied_list one = recorded_all(1);
    size_t up[] = {1, 2};
    ebb_path u = {.direction = EBB_DIR_UP, .steps = up, .count = 2};
    assert_string_equal(ebb_plan_current_after(&graph, &u, &one), "3");
    ebb_path none = {.direction = EBB_DIR_NONE};
    assert_string_equal(ebb_plan_current_after(&graph, &none, &one), "1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_no_transaction_step_refused_in_single_transaction, setup),
        cmocka_unit_test_setup(test_missing_down_script_is_invalid, setup),
        cmocka_unit_test_setup(test_checksums_match, setup),
        cmocka_unit_test_setup(test_checksum_mismatch_names_revision_and_both, setup),
        cmocka_unit_test_setup(test_unrecorded_checksum_and_up_path_not_compared, setup),
        cmocka_unit_test_setup(test_current_after, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
