/* Unit tests of the job journal: records, lookup, reopen, crash leftovers, torn and damaged lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/job_journal.h"
#include "tests/support/tmpdir.h"

static char dir[4096];
static char path[4200];

static int setup(void **state)
{
    (void)state;
    if (ebb_test_tmpdir_make("jobjournal", dir, sizeof dir) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return ebb_test_tmpdir_remove(dir);
}

static void fresh(const char *name)
{
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
}

static ebb_job_cmd cmd_of(const char *job_id, ebb_job_action action)
{
    ebb_job_cmd c = {0};
    c.job_id = job_id;
    c.run_id = "run-1";
    c.action = action;
    c.database = "orders";
    c.target = "head";
    c.operator_name = "alice";
    c.reason = "line\nbreak and \"quotes\"";
    c.accept_data_loss = true;
    return c;
}

static ebb_job_journal *open_ok(void)
{
    ebb_job_journal *j = NULL;
    ebb_error err;
    ebb_error_clear(&err);
    if (ebb_job_journal_open(path, &j, &err) != EBB_OK)
        fail_msg("open: %s", err.msg);
    return j;
}

static void finish(ebb_job_journal *j, const char *job_id, ebb_job_outcome outcome)
{
    char *before[] = {"1", "2"};
    char *after[] = {"3"};
    ebb_job_result r = {0};
    r.job_id = (char *)job_id;
    r.run_id = "run-1";
    r.outcome = outcome;
    r.action = EBB_JOB_MIGRATE;
    r.database = "orders";
    r.revisions_before = before;
    r.n_before = 2;
    r.revisions_after = after;
    r.n_after = 1;
    r.fingerprint = "abcd";
    r.error_code = outcome == EBB_JOB_FAILED ? EBB_E_PG : EBB_OK;
    r.error_message = outcome == EBB_JOB_FAILED ? "relation \"x\" does not exist" : NULL;
    if (outcome == EBB_JOB_FAILED)
        memcpy(r.sqlstate, "42P01", 6);
    r.started_at_ms = 1000;
    r.finished_at_ms = 2500;
    r.report_json = "{\"steps\":1}";
    assert_int_equal(ebb_job_journal_finished(j, &r, NULL), EBB_OK);
}

static void test_record_and_lookup(void **state)
{
    (void)state;
    fresh("a.journal");
    ebb_job_journal *j = open_ok();
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    ebb_job_cmd c1 = cmd_of("job-1", EBB_JOB_MIGRATE);
    ebb_job_cmd c2 = cmd_of("job-2", EBB_JOB_VERIFY);
    assert_int_equal(ebb_job_journal_received(j, &c1, 100, NULL), EBB_OK);
    assert_int_equal(ebb_job_journal_started(j, "job-1", 110, NULL), EBB_OK);
    finish(j, "job-1", EBB_JOB_FAILED);
    assert_int_equal(ebb_job_journal_received(j, &c2, 200, NULL), EBB_OK);

    /* A job id may be received once; a finished job cannot finish again. */
    ebb_error err;
    assert_int_equal(ebb_job_journal_received(j, &c1, 300, &err), EBB_E_CONFLICT);
    assert_int_equal(ebb_job_journal_started(j, "job-1", 300, NULL), EBB_E_CONFLICT);
    assert_int_equal(ebb_job_journal_started(j, "nope", 300, NULL), EBB_E_NOT_FOUND);

    ebb_job_state st1;
    ebb_job_result r;
    assert_int_equal(ebb_job_journal_lookup(j, "job-1", &st1, &r, NULL), EBB_OK);
    assert_int_equal(st1, EBB_JOB_STATE_FINISHED);
    assert_int_equal(r.outcome, EBB_JOB_FAILED);
    assert_string_equal(r.sqlstate, "42P01");
    ebb_job_result_fini(&r);
    assert_int_equal(ebb_job_journal_lookup(j, "job-2", &st1, NULL, NULL), EBB_OK);
    assert_int_equal(st1, EBB_JOB_STATE_RECEIVED);
    assert_int_equal(ebb_job_journal_lookup(j, "job-3", &st1, NULL, NULL), EBB_E_NOT_FOUND);
    assert_int_equal(ebb_job_journal_count(j), 2);
    ebb_job_journal_close(j);

    /* Reopened: the recorded result comes back field by field. */
    j = open_ok();
    memset(&r, 0, sizeof r);
    assert_int_equal(ebb_job_journal_lookup(j, "job-1", &st1, &r, NULL), EBB_OK);
    assert_int_equal(st1, EBB_JOB_STATE_FINISHED);
    assert_string_equal(r.job_id, "job-1");
    assert_string_equal(r.run_id, "run-1");
    assert_int_equal(r.outcome, EBB_JOB_FAILED);
    assert_int_equal(r.action, EBB_JOB_MIGRATE);
    assert_string_equal(r.database, "orders");
    assert_int_equal(r.n_before, 2);
    assert_string_equal(r.revisions_before[1], "2");
    assert_int_equal(r.n_after, 1);
    assert_string_equal(r.revisions_after[0], "3");
    assert_string_equal(r.fingerprint, "abcd");
    assert_int_equal(r.error_code, EBB_E_PG);
    assert_string_equal(r.error_message, "relation \"x\" does not exist");
    assert_string_equal(r.sqlstate, "42P01");
    assert_int_equal(r.started_at_ms, 1000);
    assert_int_equal(r.finished_at_ms, 2500);
    assert_string_equal(r.report_json, "{\"steps\":1}");
    assert_null(r.backup_id);
    ebb_job_result_fini(&r);
    assert_int_equal(ebb_job_journal_count(j), 2);
    ebb_job_journal_close(j);
}

/* What a crash leaves: received and started jobs without a finish are reported unfinished. */
static void test_crash_recovery(void **state)
{
    (void)state;
    fresh("b.journal");
    ebb_job_journal *j = open_ok();
    ebb_job_cmd a = cmd_of("a", EBB_JOB_BACKUP);
    ebb_job_cmd b = cmd_of("b", EBB_JOB_MIGRATE);
    ebb_job_cmd c = cmd_of("c", EBB_JOB_INSPECT);
    ebb_job_cmd d = cmd_of("d", EBB_JOB_CANCEL);
    d.database = NULL;
    d.cancel_job_id = "b";
    assert_int_equal(ebb_job_journal_received(j, &a, 1, NULL), EBB_OK);
    assert_int_equal(ebb_job_journal_started(j, "a", 2, NULL), EBB_OK);
    finish(j, "a", EBB_JOB_SUCCEEDED);
    assert_int_equal(ebb_job_journal_received(j, &b, 3, NULL), EBB_OK);
    assert_int_equal(ebb_job_journal_started(j, "b", 4, NULL), EBB_OK);
    assert_int_equal(ebb_job_journal_received(j, &c, 5, NULL), EBB_OK);
    assert_int_equal(ebb_job_journal_received(j, &d, 6, NULL), EBB_OK);
    /* "Crash": close without finishing b, c, d. */
    ebb_job_journal_close(j);

    j = open_ok();
    ebb_job_unfinished *items = NULL;
    size_t n = 0;
    assert_int_equal(ebb_job_journal_unfinished(j, &items, &n, NULL), EBB_OK);
    assert_int_equal(n, 3);
    assert_string_equal(items[0].job_id, "b");
    assert_int_equal(items[0].state, EBB_JOB_STATE_STARTED);
    assert_int_equal(items[0].action, EBB_JOB_MIGRATE);
    assert_string_equal(items[0].database, "orders");
    assert_string_equal(items[0].run_id, "run-1");
    assert_int_equal(items[0].received_at_ms, 3);
    assert_int_equal(items[0].started_at_ms, 4);
    assert_string_equal(items[1].job_id, "c");
    assert_int_equal(items[1].state, EBB_JOB_STATE_RECEIVED);
    assert_int_equal(items[1].started_at_ms, 0);
    assert_string_equal(items[2].job_id, "d");
    assert_null(items[2].database);
    ebb_job_unfinished_free(items, n);

    /* Recovery marks them interrupted; after that nothing is unfinished, and
     * the interrupted result is what a duplicate delivery gets. */
    finish(j, "b", EBB_JOB_INTERRUPTED);
    finish(j, "c", EBB_JOB_INTERRUPTED);
    finish(j, "d", EBB_JOB_INTERRUPTED);
    ebb_job_journal_close(j);
    j = open_ok();
    assert_int_equal(ebb_job_journal_unfinished(j, &items, &n, NULL), EBB_OK);
    assert_int_equal(n, 0);
    assert_null(items);
    ebb_job_result r;
    ebb_job_state st;
    assert_int_equal(ebb_job_journal_lookup(j, "b", &st, &r, NULL), EBB_OK);
    assert_int_equal(r.outcome, EBB_JOB_INTERRUPTED);
    ebb_job_result_fini(&r);
    assert_int_equal(ebb_job_journal_lookup(j, "a", &st, &r, NULL), EBB_OK);
    assert_int_equal(r.outcome, EBB_JOB_SUCCEEDED);
    ebb_job_result_fini(&r);
    ebb_job_journal_close(j);
}

static void append_raw(const char *text)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/* A torn last append is dropped (and the file cut there); a damaged middle line is an error. */
static void test_torn_and_damaged(void **state)
{
    (void)state;
    fresh("c.journal");
    ebb_job_journal *j = open_ok();
    ebb_job_cmd a = cmd_of("a", EBB_JOB_INSPECT);
    assert_int_equal(ebb_job_journal_received(j, &a, 1, NULL), EBB_OK);
    ebb_job_journal_close(j);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    off_t good_size = st.st_size;

    append_raw("{\"rec\":\"started\",\"job_id\":\"a\",\"at");
    j = open_ok();
    ebb_job_state s;
    assert_int_equal(ebb_job_journal_lookup(j, "a", &s, NULL, NULL), EBB_OK);
    assert_int_equal(s, EBB_JOB_STATE_RECEIVED);
    /* The next record starts on a clean line. */
    assert_int_equal(ebb_job_journal_started(j, "a", 2, NULL), EBB_OK);
    ebb_job_journal_close(j);
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size > good_size);
    j = open_ok();
    assert_int_equal(ebb_job_journal_lookup(j, "a", &s, NULL, NULL), EBB_OK);
    assert_int_equal(s, EBB_JOB_STATE_STARTED);
    ebb_job_journal_close(j);

    /* A complete but damaged line is never silently dropped. */
    append_raw("{not json}\n");
    ebb_error err;
    ebb_error_clear(&err);
    j = NULL;
    assert_int_equal(ebb_job_journal_open(path, &j, &err), EBB_E_INVALID);
    assert_null(j);
    assert_non_null(strstr(err.msg, "c.journal:3"));

    /* A record of a job never received. */
    fresh("d.journal");
    append_raw("{\"rec\":\"started\",\"job_id\":\"zz\",\"at_ms\":1}\n");
    assert_int_equal(ebb_job_journal_open(path, &j, &err), EBB_E_INVALID);
    assert_non_null(strstr(err.msg, "d.journal:1"));
    assert_non_null(strstr(err.msg, "never received"));
}

static void test_outcome_names(void **state)
{
    (void)state;
    for (int o = EBB_JOB_SUCCEEDED; o <= EBB_JOB_RUNNING; o++)
        assert_int_equal(ebb_job_outcome_parse(ebb_job_outcome_name((ebb_job_outcome)o)), o);
    assert_int_equal(ebb_job_outcome_parse("exploded"), EBB_JOB_OUTCOME_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_and_lookup),
        cmocka_unit_test(test_crash_recovery),
        cmocka_unit_test(test_torn_and_damaged),
        cmocka_unit_test(test_outcome_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
