/* Unit tests for the pure side of the risk probes: narrowing checks, path changes, totals, refusal, JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/risk_probe.h"
#include "agent/risk_verdict.h"

/* ---- narrowing ---- */

typedef struct narrow_case {
    const char *old_typname;
    int old_typmod;
    const char *new_schema, *new_name;
    const char *mods[2];
    int array_dims;
    bool using_expr;
    ebb_narrow_check want;
    long long min, max;
    int limit, precision, scale;
} narrow_case;

/* atttypmod of varchar(n) is n + 4; of numeric(p, s) ((p << 16) | s) + 4. */
#define VC(n) ((n) + 4)
#define NUM(p, s) ((((p) << 16) | (s)) + 4)

static const narrow_case narrow_cases[] = {
    /* strings */
    {"text", -1, "pg_catalog", "varchar", {"5"}, 0, false, EBB_NARROW_LENGTH, 0, 0, 5, 0, 0},
    {"varchar", VC(10), "pg_catalog", "varchar", {"5"}, 0, false, EBB_NARROW_LENGTH, 0, 0, 5, 0, 0},
    {"varchar", VC(5), "pg_catalog", "varchar", {"10"}, 0, false, EBB_NARROW_FITS, 0, 0, 0, 0, 0},
    {"varchar", VC(10), "pg_catalog", "varchar", {NULL}, 0, false, EBB_NARROW_FITS, 0, 0, 0, 0, 0},
    {"int4", -1, "", "text", {NULL}, 0, false, EBB_NARROW_FITS, 0, 0, 0, 0, 0},
    {"int8", -1, "pg_catalog", "varchar", {"3"}, 0, false, EBB_NARROW_LENGTH, 0, 0, 3, 0, 0},
    {"bpchar", VC(3), "pg_catalog", "bpchar", {"3"}, 0, false, EBB_NARROW_FITS, 0, 0, 0, 0, 0},
    {"text", -1, "pg_catalog", "bpchar", {"1"}, 0, false, EBB_NARROW_LENGTH, 0, 0, 1, 0, 0},
    {"name", -1, "pg_catalog", "varchar", {"63"}, 0, false, EBB_NARROW_FITS, 0, 0, 0, 0, 0},
    /* integers */
    {"int8", -1, "pg_catalog", "int4", {NULL}, 0, false, EBB_NARROW_INT_RANGE, -2147483648LL, 2147483647LL, 0, 0, 0},
    {"int4", -1, "pg_catalog", "int2", {NULL}, 0, false, EBB_NARROW_INT_RANGE, -32768, 32767, 0, 0, 0},
    {"int2", -1, "pg_catalog", "int8", {NULL}, 0, false, EBB_NARROW_FITS, 0, 0, 0, 0, 0},
    {"int4", -1, "pg_catalog", "int4", {NULL}, 0, false, EBB_NARROW_FITS, 0, 0, 0, 0, 0},
    {"numeric", NUM(10, 2), "pg_catalog", "int4", {NULL}, 0, false, EBB_NARROW_INT_RANGE, -2147483648LL, 2147483647LL, 0, 0, 0},
    {"float8", -1, "pg_catalog", "int8", {NULL}, 0, false, EBB_NARROW_INT_RANGE, -9223372036854775807LL - 1, 9223372036854775807LL, 0, 0, 0},
    {"text", -1, "pg_catalog", "int4", {NULL}, 0, false, EBB_NARROW_TEXT_INT, -2147483648LL, 2147483647LL, 0, 0, 0},
    /* numeric */
    {"numeric", NUM(12, 2), "pg_catalog", "numeric", {"6", "2"}, 0, false, EBB_NARROW_NUMERIC, 0, 0, 0, 6, 2},
    {"numeric", NUM(6, 2), "pg_catalog", "numeric", {"12", "2"}, 0, false, EBB_NARROW_FITS, 0, 0, 0, 12, 2},
    /* fewer decimals: 9999.99 rounds to 10000, one more integer digit */
    {"numeric", NUM(6, 2), "pg_catalog", "numeric", {"5", "1"}, 0, false, EBB_NARROW_NUMERIC, 0, 0, 0, 5, 1},
    {"numeric", NUM(6, 2), "pg_catalog", "numeric", {"6", "1"}, 0, false, EBB_NARROW_FITS, 0, 0, 0, 6, 1},
    {"numeric", -1, "pg_catalog", "numeric", {"8", "2"}, 0, false, EBB_NARROW_NUMERIC, 0, 0, 0, 8, 2},
    {"int4", -1, "pg_catalog", "numeric", {"10"}, 0, false, EBB_NARROW_FITS, 0, 0, 0, 10, 0},
    {"int4", -1, "pg_catalog", "numeric", {"9"}, 0, false, EBB_NARROW_NUMERIC, 0, 0, 0, 9, 0},
    {"int8", -1, "pg_catalog", "numeric", {NULL}, 0, false, EBB_NARROW_FITS, 0, 0, 0, 0, 0},
    {"float8", -1, "pg_catalog", "numeric", {"5", "2"}, 0, false, EBB_NARROW_NUMERIC, 0, 0, 0, 5, 2},
    {"text", -1, "pg_catalog", "numeric", {"5", "2"}, 0, false, EBB_NARROW_TEXT_NUMERIC, 0, 0, 0, 5, 2},
    /* PostgreSQL 15 negative scale: numeric(2,-3) holds up to 99000; 9999 rounds to 10000
       and fits, 99999 rounds to 100000 and does not */
    {"numeric", NUM(4, 0), "pg_catalog", "numeric", {"2", "-3"}, 0, false, EBB_NARROW_FITS, 0, 0, 0, 2, -3},
    {"numeric", NUM(5, 0), "pg_catalog", "numeric", {"2", "-3"}, 0, false, EBB_NARROW_NUMERIC, 0, 0, 0, 2, -3},
    {"int4", -1, "pg_catalog", "float8", {NULL}, 0, false, EBB_NARROW_FITS, 0, 0, 0, 0, 0},
    /* everything else: a cast trial */
    {"text", -1, "", "uuid", {NULL}, 0, false, EBB_NARROW_CAST_TRIAL, 0, 0, 0, 0, 0},
    {"text", -1, "pg_catalog", "bool", {NULL}, 0, false, EBB_NARROW_CAST_TRIAL, 0, 0, 0, 0, 0},
    {"numeric", -1, "pg_catalog", "float4", {NULL}, 0, false, EBB_NARROW_CAST_TRIAL, 0, 0, 0, 0, 0},
    {"int4", -1, "pg_catalog", "int8", {NULL}, 1, false, EBB_NARROW_CAST_TRIAL, 0, 0, 0, 0, 0},
    {"text", -1, "myschema", "varchar", {"5"}, 0, false, EBB_NARROW_CAST_TRIAL, 0, 0, 0, 0, 0},
    {"_int4", -1, "pg_catalog", "int2", {NULL}, 0, false, EBB_NARROW_CAST_TRIAL, 0, 0, 0, 0, 0},
    /* USING: the expression's type is unknown */
    {"text", -1, "pg_catalog", "int4", {NULL}, 0, true, EBB_NARROW_CAST_TRIAL, 0, 0, 0, 0, 0},
    {"int4", -1, "pg_catalog", "varchar", {"4"}, 0, true, EBB_NARROW_LENGTH, 0, 0, 4, 0, 0},
    {"int4", -1, "", "text", {NULL}, 0, true, EBB_NARROW_FITS, 0, 0, 0, 0, 0},
};

static void test_narrow_decide(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof narrow_cases / sizeof narrow_cases[0]; i++) {
        const narrow_case *c = &narrow_cases[i];
        char *mods[2] = {(char *)c->mods[0], (char *)c->mods[1]};
        ebb_risk_type t = {.name = {.schema = (char *)c->new_schema, .name = (char *)c->new_name},
                           .mods = mods,
                           .n_mods = c->mods[0] == NULL ? 0 : c->mods[1] == NULL ? 1 : 2,
                           .array_dims = c->array_dims,
                           .text = (char *)c->new_name};
        ebb_narrow_plan plan;
        ebb_narrow_decide(c->old_typname, c->old_typmod, &t, c->using_expr, &plan);
        char what[200];
        snprintf(what, sizeof what, "case %zu: %s(%d) -> %s.%s(%s,%s)%s: got %s", i, c->old_typname,
                 c->old_typmod, c->new_schema, c->new_name, c->mods[0] ? c->mods[0] : "",
                 c->mods[1] ? c->mods[1] : "", c->using_expr ? " USING" : "",
                 ebb_narrow_check_name(plan.check));
        if (plan.check != c->want)
            fail_msg("%s, want %s", what, ebb_narrow_check_name(c->want));
        if (c->want == EBB_NARROW_INT_RANGE || c->want == EBB_NARROW_TEXT_INT) {
            assert_int_equal(plan.min, c->min);
            assert_int_equal(plan.max, c->max);
        }
        if (c->want == EBB_NARROW_LENGTH && plan.limit != c->limit)
            fail_msg("%s: limit %d, want %d", what, plan.limit, c->limit);
        if (c->want == EBB_NARROW_NUMERIC || c->want == EBB_NARROW_TEXT_NUMERIC) {
            assert_int_equal(plan.precision, c->precision);
            assert_int_equal(plan.scale, c->scale);
        }
    }
}

/* ---- a classified script with made-up findings ---- */

static void classify(const char *sql, ebb_risk_report *r)
{
    memset(r, 0, sizeof *r);
    ebb_error err;
    assert_int_equal(ebb_risk_classify_script(sql, "f.sql", r, &err), EBB_OK);
    assert_int_equal(ebb_risk_mark_changes(r, &err), EBB_OK);
}

static void set_found(ebb_risk_probe *p, ebb_risk_probe_status st, long long count)
{
    p->found.status = st;
    p->found.count = p->found.rows = count;
}

static const ebb_risk_probe *probe_at(const ebb_risk_report *r, size_t item)
{
    assert_true(item < r->count);
    assert_true(r->items[item].n_probes > 0);
    return &r->items[item].probes[0];
}

static void test_changes_earlier_on_path(void **state)
{
    (void)state;
    ebb_risk_report r;
    classify("DELETE FROM pairs WHERE c = 1;\n"                      /* 0 */
             "ALTER TABLE pairs ADD CONSTRAINT k UNIQUE (a, b);\n"   /* 1: rows changed by 0 */
             "ALTER TABLE other ADD CONSTRAINT o UNIQUE (a);\n"      /* 2: untouched */
             "UPDATE t SET x = 1 WHERE y = 2;\n"                     /* 3 */
             "ALTER TABLE t ALTER COLUMN z SET NOT NULL;\n"          /* 4: z untouched */
             "ALTER TABLE t ALTER COLUMN x SET NOT NULL;\n"          /* 5: x changed by 3 */
             "ALTER TABLE t ADD CHECK (z > 0);\n"                    /* 6: a text reads any column */
             "ALTER TABLE t DROP COLUMN gone;\n"                     /* 7 */
             "ALTER TABLE u ADD CHECK (q > 0);\n"                    /* 8 */
             "ALTER TABLE t RENAME COLUMN w TO v;\n"                 /* 9 */
             "ALTER TABLE t ALTER COLUMN v SET NOT NULL;\n"          /* 10: v renamed into place */
             "CREATE TABLE n (a int);\n"                             /* 11 */
             "DROP TABLE n;\n"                                       /* 12: created on the path */
             "DROP TABLE public.other;\n",                           /* 13: "" matches public */
             &r);
    assert_int_equal(r.count, 14);
    assert_non_null(probe_at(&r, 1)->found.changed_by);
    assert_string_equal(probe_at(&r, 1)->found.changed_by, "f.sql:1 DELETE");
    assert_null(probe_at(&r, 2)->found.changed_by);
    assert_null(probe_at(&r, 4)->found.changed_by);
    assert_string_equal(probe_at(&r, 5)->found.changed_by, "f.sql:4 UPDATE");
    assert_non_null(probe_at(&r, 6)->found.changed_by);
    assert_null(probe_at(&r, 8)->found.changed_by);
    assert_string_equal(probe_at(&r, 10)->found.changed_by, "f.sql:10 RENAME");
    assert_string_equal(probe_at(&r, 12)->found.changed_by, "f.sql:12 CREATE TABLE");
    assert_null(probe_at(&r, 13)->found.changed_by);
    ebb_risk_report_fini(&r);

    /* A dropped column matters only to probes of that column; anything follows a DO block. */
    classify("ALTER TABLE t DROP COLUMN a;\n"
             "ALTER TABLE t ADD CHECK (b > 0);\n"
             "ALTER TABLE t ALTER COLUMN a SET NOT NULL;\n"
             "DO $$ BEGIN END $$;\n"
             "ALTER TABLE z ADD CHECK (b > 0);\n",
             &r);
    assert_null(probe_at(&r, 1)->found.changed_by);
    assert_string_equal(probe_at(&r, 2)->found.changed_by, "f.sql:1 DROP COLUMN");
    assert_string_equal(probe_at(&r, 4)->found.changed_by, "f.sql:4 DO");
    ebb_risk_report_fini(&r);
}

static void test_certain_failure_and_data_at_risk(void **state)
{
    (void)state;
    ebb_risk_report r;
    classify("ALTER TABLE p ADD CONSTRAINT k UNIQUE (a);\n"
             "ALTER TABLE p DROP COLUMN c;\n"
             "MERGE INTO p USING s ON p.a = s.a WHEN MATCHED THEN DELETE;\n",
             &r);
    assert_int_equal(r.count, 3);
    ebb_risk_item *uniq = &r.items[0], *drop = &r.items[1], *merge = &r.items[2];

    /* Nothing measured yet: a high item is at risk, nothing certainly fails. */
    assert_false(ebb_risk_item_certain_failure(uniq));
    assert_true(ebb_risk_item_data_at_risk(drop));
    assert_true(ebb_risk_item_data_at_risk(merge)); /* no probe can measure a MERGE */
    assert_false(ebb_risk_item_data_at_risk(uniq)); /* medium: fails, destroys nothing */

    set_found(&uniq->probes[0], EBB_PROBE_DONE, 0);
    set_found(&drop->probes[0], EBB_PROBE_DONE, 0);
    assert_false(ebb_risk_item_certain_failure(uniq));
    assert_false(ebb_risk_item_data_at_risk(drop));
    assert_int_equal(ebb_risk_decide(&r, false, false), EBB_RISK_REFUSE_DATA_LOSS); /* the MERGE */
    assert_int_equal(ebb_risk_decide(&r, true, false), EBB_RISK_ALLOW);

    /* Duplicates found: refused whatever the flags. */
    set_found(&uniq->probes[0], EBB_PROBE_DONE, 2);
    assert_true(ebb_risk_item_certain_failure(uniq));
    assert_int_equal(ebb_risk_decide(&r, true, true), EBB_RISK_REFUSE_CERTAIN);

    /* ...unless an earlier statement changes the rows, or it is an estimate. */
    uniq->probes[0].found.estimate = true;
    assert_false(ebb_risk_item_certain_failure(uniq));
    uniq->probes[0].found.estimate = false;
    uniq->probes[0].found.changed_by = strdup("f.sql:1 DELETE");
    assert_false(ebb_risk_item_certain_failure(uniq));
    assert_int_equal(ebb_risk_decide(&r, true, false), EBB_RISK_ALLOW);

    /* A column that does not exist before the path holds nothing to lose; a failed probe might. */
    set_found(&drop->probes[0], EBB_PROBE_ABSENT, 0);
    assert_false(ebb_risk_item_data_at_risk(drop));
    set_found(&drop->probes[0], EBB_PROBE_FAILED, 0);
    assert_true(ebb_risk_item_data_at_risk(drop));
    set_found(&drop->probes[0], EBB_PROBE_DONE, 7);

    ebb_risk_summary s;
    ebb_risk_summarize(&r, &s);
    assert_int_equal(s.worst, EBB_RISK_HIGH);
    assert_int_equal(s.rows_at_risk, 7);
    assert_int_equal(s.n_at_risk, 2);
    assert_int_equal(s.n_certain_failures, 0);
    assert_false(s.rows_estimated);
    ebb_risk_report_fini(&r);
}

static void test_unknown_needs_its_own_flag(void **state)
{
    (void)state;
    ebb_risk_report r;
    classify("DO $$ BEGIN END $$;\nCREATE TABLE t (a int);\n", &r);
    assert_int_equal(ebb_risk_decide(&r, false, false), EBB_RISK_REFUSE_UNKNOWN);
    /* UNKNOWN ranks above HIGH: accepting data loss does not accept it. */
    assert_int_equal(ebb_risk_decide(&r, true, false), EBB_RISK_REFUSE_UNKNOWN);
    assert_int_equal(ebb_risk_decide(&r, false, true), EBB_RISK_ALLOW);
    ebb_risk_report_fini(&r);

    classify("CREATE TABLE t (a int);\n", &r);
    assert_int_equal(ebb_risk_decide(&r, false, false), EBB_RISK_ALLOW);
    ebb_risk_report_fini(&r);
    assert_string_equal(ebb_risk_verdict_name(EBB_RISK_REFUSE_CERTAIN), "refuse-certain-failure");
}

static void test_report_json(void **state)
{
    (void)state;
    ebb_risk_report r;
    classify("CREATE TABLE x (a int);\nDROP TABLE audit;\n", &r);
    ebb_risk_probe *p = &r.items[1].probes[0];
    set_found(p, EBB_PROBE_DONE, 1200000);
    p->found.estimate = true;
    p->found.examples = calloc(1, sizeof(char *));
    p->found.examples[0] = strdup("id=1");
    p->found.n_examples = 1;
    r.items[1].revision = strdup("7");

    json_t *doc = ebb_risk_report_json(&r, false);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "worst")), "high");
    assert_int_equal(json_integer_value(json_object_get(doc, "rows_at_risk")), 1200000);
    assert_true(json_is_true(json_object_get(doc, "rows_estimated")));
    json_t *items = json_object_get(doc, "items");
    assert_int_equal(json_array_size(items), 1); /* the low CREATE TABLE is left out */
    json_t *it = json_array_get(items, 0);
    assert_string_equal(json_string_value(json_object_get(it, "revision")), "7");
    assert_int_equal(json_integer_value(json_object_get(it, "line")), 2);
    assert_true(json_is_true(json_object_get(it, "data_at_risk")));
    json_t *pj = json_array_get(json_object_get(it, "probes"), 0);
    assert_string_equal(json_string_value(json_object_get(pj, "kind")), "rows-in-table");
    assert_string_equal(json_string_value(json_object_get(pj, "status")), "done");
    assert_true(json_is_true(json_object_get(pj, "estimate")));
    assert_string_equal(json_string_value(json_array_get(json_object_get(pj, "examples"), 0)), "id=1");
    json_decref(doc);

    doc = ebb_risk_report_json(&r, true);
    assert_int_equal(json_array_size(json_object_get(doc, "items")), 2);
    json_decref(doc);

    char *line = NULL;
    assert_int_equal(ebb_risk_finding_text(&r.items[1], p, &line, NULL), EBB_OK);
    assert_non_null(strstr(line, "rows-in-table audit: ~1200000 (planner estimate)"));
    assert_non_null(strstr(line, "e.g. id=1"));
    free(line);
    ebb_risk_report_fini(&r);
}

static void test_classify_path(void **state)
{
    (void)state;
    /* Two revisions; the down path runs 2 then 1; a dbmate-style script starts at line 5. */
    ebb_revision revs[2];
    memset(revs, 0, sizeof revs);
    revs[0].id = "1";
    revs[0].down.path = "1.down.sql";
    revs[0].down.sql = "ALTER TABLE t ADD CONSTRAINT k UNIQUE (a);\n";
    revs[0].down.first_line = 1;
    revs[1].id = "2";
    revs[1].down.path = "2.sql";
    revs[1].down.sql = "SELECT 1;\nDELETE FROM t WHERE a = 2;\n";
    revs[1].down.first_line = 5;
    ebb_graph g = {.revs = revs, .count = 2};
    size_t steps[] = {1, 0};
    ebb_path path = {.direction = EBB_DIR_DOWN, .steps = steps, .count = 2};
    ebb_risk_report r;
    ebb_error err;
    assert_int_equal(ebb_risk_classify_path(&g, &path, NULL, &r, &err), EBB_OK);
    assert_int_equal(r.count, 3);
    assert_string_equal(r.items[1].revision, "2");
    assert_int_equal(r.items[1].line, 6);
    assert_string_equal(r.items[2].revision, "1");
    assert_string_equal(r.items[2].probes[0].found.changed_by, "2.sql:6 DELETE");
    ebb_risk_report_fini(&r);
}

static void test_external_steps_are_never_parsed_as_sql(void **state)
{
    (void)state;
    /* An Alembic step: the script text is Python, which must not reach the SQL parser. */
    ebb_revision revs[2];
    memset(revs, 0, sizeof revs);
    revs[0].id = "a1";
    revs[0].down.path = "a1_create.py";
    revs[0].down.sql = "def downgrade():\n    op.drop_table('accounts')\n";
    revs[0].down.external = true;
    revs[1].id = "b2";
    revs[1].down.path = "b2_notes.py";
    revs[1].down.sql = "def downgrade():\n    op.drop_column('notes', 'body')\n";
    revs[1].down.external = true;
    ebb_graph g = {.revs = revs, .count = 2};
    size_t steps[] = {1, 0};
    ebb_path path = {.direction = EBB_DIR_DOWN, .steps = steps, .count = 2};
    ebb_risk_report r;
    ebb_error err;

    /* Without offline SQL: one UNKNOWN item per step, with the reason given. */
    ebb_risk_external_sql none[2] = {{NULL, "needs a live connection", NULL}, {NULL, NULL, NULL}};
    assert_int_equal(ebb_risk_classify_path(&g, &path, none, &r, &err), EBB_OK);
    assert_int_equal(r.count, 2);
    assert_string_equal(r.items[0].kind, "EXTERNAL STEP");
    assert_int_equal(r.items[0].level, EBB_RISK_UNKNOWN);
    assert_string_equal(r.items[0].reason, "needs a live connection");
    assert_string_equal(r.items[0].revision, "b2");
    assert_non_null(strstr(r.items[1].reason, "not available"));
    ebb_risk_report_fini(&r);

    /* With Alembic's offline SQL: the SQL is classified, under the step's file; the
     * statements only on Alembic's version table are its bookkeeping and left out. */
    ebb_risk_external_sql sql[2] = {
        {"ALTER TABLE notes DROP COLUMN body;\n"
         "UPDATE alembic_version SET version_num='a1' WHERE alembic_version.version_num = 'b2';\n",
         NULL, "alembic_version"},
        {"DROP TABLE accounts;\nDELETE FROM alembic_version WHERE version_num = 'a1';\n", NULL,
         "alembic_version"}};
    assert_int_equal(ebb_risk_classify_path(&g, &path, sql, &r, &err), EBB_OK);
    assert_int_equal(r.count, 2);
    assert_string_equal(r.items[0].kind, "DROP COLUMN");
    assert_string_equal(r.items[0].file, "b2_notes.py");
    assert_string_equal(r.items[1].kind, "DROP TABLE");
    assert_int_equal(r.items[1].level, EBB_RISK_HIGH);
    ebb_risk_report_fini(&r);

    /* No external array at all: still never parsed. */
    assert_int_equal(ebb_risk_classify_path(&g, &path, NULL, &r, &err), EBB_OK);
    assert_int_equal(r.count, 2);
    assert_string_equal(r.items[1].kind, "EXTERNAL STEP");
    ebb_risk_report_fini(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_narrow_decide),
        cmocka_unit_test(test_changes_earlier_on_path),
        cmocka_unit_test(test_certain_failure_and_data_at_risk),
        cmocka_unit_test(test_unknown_needs_its_own_flag),
        cmocka_unit_test(test_report_json),
        cmocka_unit_test(test_classify_path),
        cmocka_unit_test(test_external_steps_are_never_parsed_as_sql),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
