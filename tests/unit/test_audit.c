/* Unit tests for the audit layer: record builders, masking, folding into runs, filters,
 * table/JSON/CSV. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fsutil.h"
#include "coordinator/audit.h"
#include "tests/support/audit_fixture.h"
#include "tests/support/tmpdir.h"

static char dir[PATH_MAX];
static char path[PATH_MAX];
static ebb_secret_key *key;
static ebb_audit_history *hist;

static int setup(void **state)
{
    (void)state;
    if (ebb_test_tmpdir_make("ebb-audit", dir, sizeof dir) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/coordinator.journal", dir);
    if (ebb_secret_key_generate(&key, NULL) != EBB_OK)
        return -1;
    if (ebb_test_audit_fixture_write(path, key, NULL) != EBB_OK)
        return -1;
    hist = ebb_audit_history_alloc();
    ebb_journal_report rep;
    if (hist == NULL ||
        ebb_audit_history_load(hist, path, ebb_secret_key_public(key), &rep, NULL) != EBB_OK)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ebb_audit_history_free(hist);
    hist = NULL;
    ebb_secret_key_free(key);
    key = NULL;
    return ebb_test_tmpdir_remove(dir);
}

/* Render with the given format and filter into a malloc'd string. */
static char *render(ebb_audit_format fmt, const ebb_audit_filter *f)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    assert_non_null(out);
    assert_int_equal(ebb_audit_history_write(hist, f, fmt, out, NULL), EBB_OK);
    fclose(out);
    return buf;
}

static const ebb_audit_run *run_by_id(const char *id)
{
    for (size_t i = 0; i < ebb_audit_history_count(hist); i++)
        if (strcmp(ebb_audit_history_run(hist, i)->run_id, id) == 0)
            return ebb_audit_history_run(hist, i);
    fail_msg("no run %s", id);
    return NULL;
}

static size_t count_matching(const ebb_audit_filter *f)
{
    size_t n = 0;
    for (size_t i = 0; i < ebb_audit_history_count(hist); i++)
        n += ebb_audit_run_matches(ebb_audit_history_run(hist, i), f);
    return n;
}

static void test_builders(void **state)
{
    (void)state;
    json_t *plan = json_pack("{s:s}", "target", "0041");
    ebb_audit_run_requested rq = {.run_id = "r-9",
                                  .operator_key_id = "0123456789abcdef",
                                  .reason = "because",
                                  .kind = EBB_AUDIT_KIND_ROLLBACK,
                                  .environment = "prod",
                                  .target = "0041",
                                  .plan = plan};
    json_t *o = NULL;
    assert_int_equal(ebb_audit_run_requested_json(&rq, &o, NULL), EBB_OK);
    assert_string_equal(json_string_value(json_object_get(o, "kind")), "rollback");
    assert_string_equal(json_string_value(json_object_get(o, "environment")), "prod");
    assert_true(json_equal(json_object_get(o, "plan"), plan));
    char h[EBB_JOURNAL_HASH_HEX_SIZE];
    assert_int_equal(ebb_audit_plan_hash(plan, h, NULL), EBB_OK);
    assert_string_equal(json_string_value(json_object_get(o, "plan_hash")), h);
    assert_null(json_object_get(o, "operator_name")); /* optional and NULL: left out */
    json_decref(o);

    /* A different plan has a different hash; key order does not matter. */
    json_t *plan2 = json_pack("{s:s,s:i}", "target", "0041", "x", 1);
    json_t *plan3 = json_pack("{s:i,s:s}", "x", 1, "target", "0041");
    char h2[EBB_JOURNAL_HASH_HEX_SIZE], h3[EBB_JOURNAL_HASH_HEX_SIZE];
    assert_int_equal(ebb_audit_plan_hash(plan2, h2, NULL), EBB_OK);
    assert_int_equal(ebb_audit_plan_hash(plan3, h3, NULL), EBB_OK);
    assert_string_not_equal(h, h2);
    assert_string_equal(h2, h3);
    json_decref(plan2);
    json_decref(plan3);

    ebb_error err;
    rq.reason = "";
    assert_int_equal(ebb_audit_run_requested_json(&rq, &o, &err), EBB_E_INVALID);
    assert_non_null(strstr(err.msg, "reason"));
    rq.reason = "ok";
    rq.operator_key_id = "alice";
    assert_int_equal(ebb_audit_run_requested_json(&rq, &o, &err), EBB_E_INVALID);
    assert_non_null(strstr(err.msg, "operator_key_id"));
    json_decref(plan);

    ebb_audit_step_result s = {.run_id = "r-9",
                               .host = "h1",
                               .database = "d",
                               .step = "migrate",
                               .outcome = EBB_AUDIT_STEP_FAILED,
                               .verify = EBB_AUDIT_VERIFY_FAILED,
                               .started_ms = 1000,
                               .finished_ms = 3500,
                               .sqlstate = "40P01",
                               .error_message = "deadlock"};
    assert_int_equal(ebb_audit_step_result_json(&s, &o, NULL), EBB_OK);
    assert_int_equal(json_integer_value(json_object_get(o, "duration_ms")), 2500);
    assert_string_equal(json_string_value(json_object_get(o, "outcome")), "failed");
    assert_string_equal(json_string_value(json_object_get(o, "verification")), "failed");
    assert_string_equal(json_string_value(json_object_get(o, "sqlstate")), "40P01");
    assert_null(json_object_get(o, "backup_id"));
    json_decref(o);
    s.host = NULL;
    assert_int_equal(ebb_audit_step_result_json(&s, &o, &err), EBB_E_INVALID);
    assert_non_null(strstr(err.msg, "host"));

    ebb_audit_control c = {.run_id = "r-9"};
    ebb_journal *j = NULL;
    char p2[PATH_MAX + 8];
    snprintf(p2, sizeof p2, "%s/other", dir);
    assert_int_equal(ebb_journal_open(p2, NULL, &j, NULL, NULL), EBB_OK);
    assert_int_equal(ebb_audit_write_control(j, 1, "audit.bogus", &c, NULL, &err), EBB_E_INVALID);
    uint64_t seq = 0;
    assert_int_equal(ebb_audit_write_control(j, 1, EBB_AUDIT_HALT, &c, &seq, NULL), EBB_OK);
    assert_int_equal(seq, 1);
    ebb_journal_close(j);
}

static void test_masking(void **state)
{
    (void)state;
    ebb_audit_control c = {.run_id = "r", .reason = "retry with PGPASSWORD=topsecret please"};
    json_t *o = NULL;
    assert_int_equal(ebb_audit_control_json(&c, &o, NULL), EBB_OK);
    const char *reason = json_string_value(json_object_get(o, "reason"));
    assert_null(strstr(reason, "topsecret"));
    assert_non_null(strstr(reason, "***"));
    assert_non_null(strstr(reason, "please"));
    json_decref(o);

    /* The fixture's secrets reach neither the file nor any output. */
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(ebb_file_read_all(path, 1 << 24, (uint8_t **)&text, &len, NULL), EBB_OK);
    assert_null(strstr(text, EBB_FIXTURE_SECRET));
    assert_null(strstr(text, EBB_FIXTURE_URI_SECRET));
    assert_non_null(strstr(text, "password=***"));
    assert_non_null(strstr(text, "postgres://app:***@db3"));
    free(text);
    ebb_audit_format fmts[] = {EBB_AUDIT_FORMAT_TABLE, EBB_AUDIT_FORMAT_JSON, EBB_AUDIT_FORMAT_CSV};
    for (size_t i = 0; i < 3; i++) {
        char *out = render(fmts[i], NULL);
        assert_null(strstr(out, EBB_FIXTURE_SECRET));
        assert_null(strstr(out, EBB_FIXTURE_URI_SECRET));
        free(out);
    }
}

static void test_fold(void **state)
{
    (void)state;
    assert_int_equal(ebb_audit_history_count(hist), 3);
    const ebb_audit_run *r1 = run_by_id("r-0001");
    assert_string_equal(r1->outcome, "succeeded");
    assert_int_equal(r1->kind, EBB_AUDIT_KIND_ROLLOUT);
    assert_string_equal(r1->environment, "staging");
    assert_int_equal(r1->hosts.n, 2);
    assert_int_equal(r1->steps, 2);
    assert_int_equal(r1->failed_steps, 0);
    assert_int_equal(json_array_size(r1->records), 4);

    const ebb_audit_run *r2 = run_by_id("r-0002");
    assert_string_equal(r2->outcome, "compensated");
    assert_string_equal(r2->operator_name, "bob");
    assert_int_equal(r2->approvers.n, 1);
    assert_string_equal(r2->approvers.items[0], EBB_FIXTURE_CAROL);
    assert_int_equal(r2->failed_steps, 1);
    assert_int_equal(r2->restored_hosts.n, 1);
    assert_string_equal(r2->restored_hosts.items[0], "db3");
    assert_int_equal(r2->compensated_hosts.n, 1);
    char method[256];
    ebb_audit_run_method(r2, method, sizeof method);
    assert_string_equal(method,
                        "rollback to 0041; restored from backup on 1 host; compensated on 1 host");
    assert_int_equal(r2->ended_ms, 1714554000000LL + 86400000LL + 100000);

    const ebb_audit_run *r3 = run_by_id("r-0003");
    assert_string_equal(r3->outcome, "aborted");
    /* The run.state record is not an audit record. */
    assert_int_equal(json_array_size(r3->records), 6);
}

static void test_fold_states_without_end(void **state)
{
    (void)state;
    ebb_audit_history *h = ebb_audit_history_alloc();
    json_t *p = json_pack("{s:s}", "run_id", "r-x");
    ebb_journal_record rec = {.seq = 1, .ts_ms = 5, .type = EBB_AUDIT_HALT, .payload = p};
    assert_int_equal(ebb_audit_history_add(h, &rec, NULL), EBB_OK);
    assert_string_equal(ebb_audit_history_run(h, 0)->outcome, "halted");
    assert_false(ebb_audit_history_run(h, 0)->requested);
    rec.type = EBB_AUDIT_RESUME;
    rec.seq = 2;
    assert_int_equal(ebb_audit_history_add(h, &rec, NULL), EBB_OK);
    assert_string_equal(ebb_audit_history_run(h, 0)->outcome, "running");
    json_decref(p);
    p = json_object();
    rec.payload = p;
    ebb_error err;
    assert_int_equal(ebb_audit_history_add(h, &rec, &err), EBB_E_INVALID);
    assert_non_null(strstr(err.msg, "run_id"));
    json_decref(p);
    ebb_audit_history_free(h);
}

static void test_filters(void **state)
{
    (void)state;
    ebb_audit_filter f = {0};
    assert_int_equal(count_matching(&f), 3);
    f.environment = "prod";
    assert_int_equal(count_matching(&f), 2);
    f.outcome = "aborted";
    assert_int_equal(count_matching(&f), 1);
    memset(&f, 0, sizeof f);
    f.host = "db3";
    assert_int_equal(count_matching(&f), 1);
    f.host = "db1";
    assert_int_equal(count_matching(&f), 1);
    f.host = "db9";
    assert_int_equal(count_matching(&f), 0);
    memset(&f, 0, sizeof f);
    f.database = "billing";
    assert_int_equal(count_matching(&f), 1);
    memset(&f, 0, sizeof f);
    f.operator_id = EBB_FIXTURE_CAROL; /* approver */
    assert_int_equal(count_matching(&f), 1);
    f.operator_id = EBB_FIXTURE_BOB; /* requested r-0002, halted r-0003 */
    assert_int_equal(count_matching(&f), 2);
    f.operator_id = "alice"; /* by name */
    assert_int_equal(count_matching(&f), 1);
    memset(&f, 0, sizeof f);
    f.since_ms = 1714554000000LL + 86400000LL; /* from 2024-05-02T09:00Z */
    assert_int_equal(count_matching(&f), 2);
    f.until_ms = 1714554000000LL + 2 * 86400000LL; /* before 2024-05-03T09:00Z */
    assert_int_equal(count_matching(&f), 1);
    memset(&f, 0, sizeof f);
    f.run_id = "r-0003";
    assert_int_equal(count_matching(&f), 1);
    char *csv = render(EBB_AUDIT_FORMAT_CSV, &f);
    assert_null(strstr(csv, "r-0001"));
    assert_non_null(strstr(csv, "r-0003"));
    free(csv);
}

static void test_csv_quoting(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    ebb_audit_csv_field(out, "plain");
    fputc('|', out);
    ebb_audit_csv_field(out, "a,b");
    fputc('|', out);
    ebb_audit_csv_field(out, "say \"hi\"");
    fputc('|', out);
    ebb_audit_csv_field(out, "two\nlines");
    fputc('|', out);
    ebb_audit_csv_field(out, NULL);
    fclose(out);
    assert_string_equal(buf, "plain|\"a,b\"|\"say \"\"hi\"\"\"|\"two\nlines\"|");
    free(buf);

    char *csv = render(EBB_AUDIT_FORMAT_CSV, NULL);
    /* Header, CRLF line ends, the reason with comma/quotes/newline quoted as one field. */
    assert_true(strncmp(csv, "run_id,date,time,performed_by,", 30) == 0);
    assert_non_null(strstr(csv, "\r\n"));
    assert_non_null(strstr(csv, ",\"Checkout errors after 0042, see INC-17 \"\"hotfix\"\"\nDB "
                                "password=***\","));
    assert_non_null(strstr(csv, "r-0002,2024-05-02,09:00:00,bob (" EBB_FIXTURE_BOB ")"));
    assert_non_null(strstr(csv, ",db4 db3,")); /* hosts, in the order seen */
    /* 3 rows + header: 4 CRLF, and the embedded LF is not a CRLF. */
    size_t crlf = 0;
    for (char *p = csv; (p = strstr(p, "\r\n")) != NULL; p += 2)
        crlf++;
    assert_int_equal(crlf, 4);
    free(csv);
}

static void test_json_shape(void **state)
{
    (void)state;
    char *text = render(EBB_AUDIT_FORMAT_JSON, NULL);
    json_t *a = json_loads(text, 0, NULL);
    assert_true(json_is_array(a));
    assert_int_equal(json_array_size(a), 3);
    json_t *r2 = json_array_get(a, 1);
    assert_string_equal(json_string_value(json_object_get(r2, "run_id")), "r-0002");
    assert_string_equal(json_string_value(json_object_get(r2, "started_at")),
                        "2024-05-02T09:00:00.000Z");
    assert_string_equal(json_string_value(json_object_get(r2, "outcome")), "compensated");
    assert_string_equal(json_string_value(json_object_get(r2, "kind")), "rollback");
    assert_true(json_is_array(json_object_get(r2, "hosts")));
    json_t *recs = json_object_get(r2, "records");
    assert_int_equal(json_array_size(recs), 7);
    json_t *first = json_array_get(recs, 0);
    assert_string_equal(json_string_value(json_object_get(first, "type")), EBB_AUDIT_RUN_REQUESTED);
    assert_true(json_is_integer(json_object_get(first, "seq")));
    json_t *failed = json_array_get(recs, 3);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(failed, "payload"), "sqlstate")),
        "23503");
    json_decref(a);
    free(text);
}

static void test_table(void **state)
{
    (void)state;
    char *t = render(EBB_AUDIT_FORMAT_TABLE, NULL);
    assert_true(strncmp(t, "RUN ", 4) == 0);
    assert_non_null(strstr(t, "PERFORMED BY"));
    assert_non_null(strstr(t, "2024-05-01  09:00:00"));
    assert_non_null(strstr(t, "alice (" EBB_FIXTURE_ALICE ")"));
    assert_non_null(strstr(t, "rollout to 0043"));
    assert_non_null(strstr(t, "db1,db2"));
    /* One line per run plus the header: the newline inside the reason is flattened. */
    size_t lines = 0;
    for (char *p = t; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 4);
    free(t);
    ebb_audit_filter none = {.environment = "dev"};
    t = render(EBB_AUDIT_FORMAT_TABLE, &none);
    assert_non_null(strstr(t, "(no runs match)"));
    free(t);
}

static void test_verify_report(void **state)
{
    (void)state;
    ebb_audit_verify_report rep;
    assert_int_equal(ebb_audit_verify(path, ebb_secret_key_public(key), NULL, &rep, NULL), EBB_OK);
    assert_int_equal(rep.journal.records, 18);
    assert_int_equal(rep.audit_records, 17);
    assert_int_equal(rep.runs, 3);
    json_t *o = ebb_audit_verify_report_json(&rep);
    assert_int_equal(json_integer_value(json_object_get(o, "runs")), 3);
    assert_true(json_is_true(json_object_get(o, "signatures_checked")));
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_builders, setup, teardown),
        cmocka_unit_test_setup_teardown(test_masking, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fold, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fold_states_without_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_csv_quoting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_report, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
