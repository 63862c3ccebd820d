/* Unit tests for the risk classifier: levels, kinds and probe requests from real parse trees. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "agent/risk.h"

/*
 * A probe rendered to one line, so that a table row can state every field:
 *   <kind> <object_kind> [schema].[name] [only] [keys=a,=expr] [ref=[s].[t](c,..)]
 *   [full] [nnd] [notnull] [type=<text>|[s].[n]|mods|dims] [alias=] [expr=] [from=] [with=] [con=]
 */
static void render(const ebb_risk_probe *p, char *buf, size_t size)
{
    size_t o = 0;
#define PUT(...) (o += (size_t)snprintf(buf + o, o < size ? size - o : 0, __VA_ARGS__))
    PUT("%s %s [%s].[%s]", ebb_risk_probe_kind_name(p->kind), p->object_kind, p->target.schema,
        p->target.name);
    if (p->only)
        PUT(" only");
    for (size_t i = 0; i < p->n_keys; i++)
        PUT("%s%s%s", i ? "," : " keys=", p->keys[i].column ? "" : "=",
            p->keys[i].column ? p->keys[i].column : p->keys[i].expr);
    if (p->ref_table.name[0] != '\0') {
        PUT(" ref=[%s].[%s](", p->ref_table.schema, p->ref_table.name);
        for (size_t i = 0; i < p->n_ref_columns; i++)
            PUT("%s%s", i ? "," : "", p->ref_columns[i]);
        PUT(")");
    }
    if (p->match_full)
        PUT(" full");
    if (p->nulls_not_distinct)
        PUT(" nnd");
    if (p->not_null)
        PUT(" notnull");
    if (p->new_type.text != NULL) {
        PUT(" type=%s|[%s].[%s]|", p->new_type.text, p->new_type.name.schema, p->new_type.name.name);
        for (size_t i = 0; i < p->new_type.n_mods; i++)
            PUT("%s%s", i ? "," : "", p->new_type.mods[i]);
        PUT("|%d", p->new_type.array_dims);
    }
    if (p->alias != NULL)
        PUT(" alias=%s", p->alias);
    if (p->expr != NULL)
        PUT(" expr=%s", p->expr);
    if (p->from_text != NULL)
        PUT(" from=%s", p->from_text);
    if (p->with_text != NULL)
        PUT(" with=%s", p->with_text);
    if (p->constraint != NULL)
        PUT(" con=%s", p->constraint);
#undef PUT
}

static void classify_ok(const char *sql, ebb_risk_report *r)
{
    ebb_error err;
    memset(r, 0, sizeof *r);
    if (ebb_risk_classify_script(sql, "m.sql", r, &err) != EBB_OK)
        fail_msg("classify failed: %s", err.msg);
}

typedef struct rcase {
    const char *sql;
    const char *kind;
    ebb_risk_level level;
    const char *probes[5]; /* rendered, in order; NULL ends */
} rcase;

#define L EBB_RISK_LOW
#define M EBB_RISK_MEDIUM
#define H EBB_RISK_HIGH
#define U EBB_RISK_UNKNOWN

/* One statement each, giving exactly one item. */
static const rcase corpus[] = {
    /* high: data loss */
    {"DROP TABLE users", "DROP TABLE", H, {"rows-in-table table [].[users]"}},
    {"DROP TABLE IF EXISTS app.\"Weird Name\", b CASCADE", "DROP TABLE", H,
     {"rows-in-table table [app].[Weird Name]", "dependents table [app].[Weird Name]",
      "rows-in-table table [].[b]", "dependents table [].[b]"}},
    {"ALTER TABLE app.\"Weird Name\" DROP COLUMN \"Col A\"", "DROP COLUMN", H,
     {"nonnull-in-column table [app].[Weird Name] keys=Col A"}},
    {"ALTER TABLE t DROP COLUMN IF EXISTS c CASCADE", "DROP COLUMN", H,
     {"nonnull-in-column table [].[t] keys=c", "dependents column [].[t] keys=c"}},
    {"DROP SCHEMA legacy CASCADE", "DROP SCHEMA CASCADE", H,
     {"rows-in-schema schema [].[legacy]", "dependents schema [].[legacy]"}},
    {"DROP TYPE app.mood CASCADE", "DROP TYPE CASCADE", H, {"dependents type [app].[mood]"}},
    {"DROP DOMAIN posint CASCADE", "DROP DOMAIN CASCADE", H, {"dependents domain [].[posint]"}},
    {"DROP EXTENSION hstore CASCADE", "DROP EXTENSION CASCADE", H, {"dependents extension [].[hstore]"}},
    {"TRUNCATE a, ONLY s.b", "TRUNCATE", H,
     {"rows-in-table table [].[a]", "rows-in-table table [s].[b] only"}},
    {"TRUNCATE TABLE t RESTART IDENTITY CASCADE", "TRUNCATE", H,
     {"rows-in-table table [].[t]", "dependents table [].[t]"}},
    {"DELETE FROM t", "DELETE", H, {"rows-matching table [].[t]"}},
    {"DELETE FROM ONLY s.t AS x USING u, (SELECT 1 WHERE true) z WHERE x.a = u.a RETURNING *",
     "DELETE", H,
     {"rows-matching table [s].[t] only alias=x expr=x.a = u.a from=u, (SELECT 1 WHERE true) z"}},
    {"DELETE FROM \"Weird Name\" WHERE \"Col A\" IN (SELECT id FROM o WHERE o.gone)", "DELETE", H,
     {"rows-matching table [].[Weird Name] expr=\"Col A\" IN (SELECT id FROM o WHERE o.gone)"}},
    {"WITH old AS (SELECT id FROM t WHERE x < 3) DELETE FROM t WHERE id IN (SELECT id FROM old)",
     "DELETE", H,
     {"rows-matching table [].[t] expr=id IN (SELECT id FROM old) "
      "with=WITH old AS (SELECT id FROM t WHERE x < 3)"}},
    {"DELETE FROM t WHERE CURRENT OF cur", "DELETE", H, {NULL}},
    {"UPDATE t SET a = 1, \"B\" = 2 WHERE id > 10", "UPDATE", H,
     {"rows-matching table [].[t] keys=a,B expr=id > 10"}},
    {"UPDATE t SET a = b IS DISTINCT FROM c FROM o WHERE t.id = o.id RETURNING t.id", "UPDATE", H,
     {"rows-matching table [].[t] keys=a expr=t.id = o.id from=o"}},
    {"UPDATE app.accounts SET balance = 0", "UPDATE", H,
     {"rows-matching table [app].[accounts] keys=balance"}},
    {"INSERT INTO t VALUES (1) ON CONFLICT (id) DO UPDATE SET a = 2", "INSERT ON CONFLICT UPDATE", H, {NULL}},
    {"MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE", "MERGE", H, {NULL}},
    {"EXPLAIN ANALYZE DELETE FROM t WHERE a = 1", "DELETE", H, {"rows-matching table [].[t] expr=a = 1"}},

    /* medium: existing rows may make it fail */
    {"ALTER TABLE t ALTER COLUMN name TYPE varchar(20)", "ALTER COLUMN TYPE", M,
     {"narrowing-type table [].[t] keys=name type=varchar(20)|[pg_catalog].[varchar]|20|0"}},
    {"ALTER TABLE t ALTER COLUMN price TYPE numeric(10, 2) USING round(price, 2)", "ALTER COLUMN TYPE", M,
     {"narrowing-type table [].[t] keys=price type=numeric(10, 2)|[pg_catalog].[numeric]|10,2|0 "
      "expr=round(price, 2)"}},
    {"ALTER TABLE t ALTER COLUMN tags SET DATA TYPE app.\"Tag\"[] USING tags::app.\"Tag\"[]",
     "ALTER COLUMN TYPE", M,
     {"narrowing-type table [].[t] keys=tags type=app.\"Tag\"[]|[app].[Tag]||1 expr=tags::app.\"Tag\"[]"}},
    {"ALTER TABLE t ALTER id TYPE bigint", "ALTER COLUMN TYPE", M,
     {"narrowing-type table [].[t] keys=id type=bigint|[pg_catalog].[int8]||0"}},
    {"ALTER TABLE t ADD CONSTRAINT u UNIQUE (a, \"B\")", "ADD UNIQUE", M,
     {"duplicates table [].[t] keys=a,B"}},
    {"ALTER TABLE t ADD UNIQUE NULLS NOT DISTINCT (a)", "ADD UNIQUE", M,
     {"duplicates table [].[t] keys=a nnd"}},
    {"ALTER TABLE s.t ADD PRIMARY KEY (id, k)", "ADD PRIMARY KEY", M,
     {"duplicates table [s].[t] keys=id,k", "nulls table [s].[t] keys=id", "nulls table [s].[t] keys=k"}},
    {"ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0 AND (b < 3))", "ADD CHECK", M,
     {"check table [].[t] expr=a > 0 AND (b < 3)"}},
    {"ALTER TABLE s.orders ADD CONSTRAINT fk FOREIGN KEY (cust_id) REFERENCES app.customers (id)",
     "ADD FOREIGN KEY", M, {"fk-orphans table [s].[orders] keys=cust_id ref=[app].[customers](id)"}},
    {"ALTER TABLE t ADD FOREIGN KEY (a, b) REFERENCES p MATCH FULL", "ADD FOREIGN KEY", M,
     {"fk-orphans table [].[t] keys=a,b ref=[].[p]() full"}},
    {"ALTER TABLE t ALTER COLUMN \"Col B\" SET NOT NULL", "SET NOT NULL", M, {"nulls table [].[t] keys=Col B"}},
    {"ALTER TABLE t ADD COLUMN m int NOT NULL", "ADD COLUMN", M, {"rows-in-table table [].[t]"}},
    {"ALTER TABLE t ADD COLUMN code text UNIQUE DEFAULT 'x'", "ADD COLUMN", M, {"rows-in-table table [].[t]"}},
    {"ALTER TABLE t VALIDATE CONSTRAINT c", "VALIDATE CONSTRAINT", M, {"validate table [].[t] con=c"}},
    {"CREATE UNIQUE INDEX ui ON t (email)", "CREATE UNIQUE INDEX", M, {"duplicates table [].[t] keys=email"}},
    {"CREATE UNIQUE INDEX CONCURRENTLY ui ON s.t USING btree ((lower(email)), \"Name\" DESC, "
     "coalesce(a, b) NULLS FIRST) WHERE deleted_at IS NULL",
     "CREATE UNIQUE INDEX CONCURRENTLY", M,
     {"duplicates table [s].[t] keys==lower(email),Name,=coalesce(a, b) expr=deleted_at IS NULL"}},
    {"DROP TYPE mood", "DROP TYPE", M, {"dependents type [].[mood]"}},
    {"DROP SCHEMA legacy", "DROP SCHEMA", M, {"dependents schema [].[legacy]"}},
    {"DROP VIEW v CASCADE", "DROP VIEW", M, {"dependents view [].[v]"}},
    {"DROP FUNCTION app.f(int) CASCADE", "DROP FUNCTION", M, {"dependents function [app].[f]"}},
    {"ALTER TYPE comp DROP ATTRIBUTE a", "DROP ATTRIBUTE", M, {"dependents type [].[comp]"}},
    {"ALTER DOMAIN d SET NOT NULL", "ALTER DOMAIN SET NOT NULL", M, {"domain-values domain [].[d] notnull"}},
    {"ALTER DOMAIN app.d ADD CONSTRAINT pos CHECK (VALUE > 0)", "ALTER DOMAIN ADD CONSTRAINT", M,
     {"domain-values domain [app].[d] expr=VALUE > 0"}},

    /* low */
    {"CREATE TABLE t (id int PRIMARY KEY, \"Col A\" text NOT NULL)", "CREATE TABLE", L, {NULL}},
    {"ALTER TABLE t ADD COLUMN n int NOT NULL DEFAULT 0", "ADD COLUMN", L, {NULL}},
    {"ALTER TABLE t ADD COLUMN id bigserial PRIMARY KEY", "ADD COLUMN", L, {NULL}},
    {"ALTER TABLE t ADD COLUMN note text", "ADD COLUMN", L, {NULL}},
    {"CREATE INDEX i ON t (a)", "CREATE INDEX", L, {NULL}},
    {"CREATE INDEX CONCURRENTLY i ON t (a)", "CREATE INDEX CONCURRENTLY", L, {NULL}},
    {"COMMENT ON COLUMN t.a IS 'DROP TABLE t'", "COMMENT", L, {NULL}},
    {"DROP INDEX CONCURRENTLY i", "DROP INDEX", L, {NULL}},
    {"DROP VIEW v", "DROP VIEW", L, {NULL}},
    {"DROP FUNCTION f(int)", "DROP FUNCTION", L, {NULL}},
    {"ALTER TYPE mood ADD VALUE 'sad' AFTER 'ok'", "ALTER TYPE ADD VALUE", L, {NULL}},
    {"ALTER TABLE t RENAME COLUMN a TO b", "RENAME", L, {NULL}},
    {"ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID", "ADD CHECK", L, {NULL}},
    {"ALTER TABLE t ALTER COLUMN a SET DEFAULT 0", "ALTER COLUMN DEFAULT", L, {NULL}},
    {"ALTER TABLE t DROP CONSTRAINT c", "DROP CONSTRAINT", L, {NULL}},
    {"CREATE VIEW v AS SELECT 1", "CREATE VIEW", L, {NULL}},
    {"CREATE EXTENSION IF NOT EXISTS hstore", "CREATE EXTENSION", L, {NULL}},
    {"INSERT INTO t (a) VALUES (1)", "INSERT", L, {NULL}},
    {"BEGIN", "TRANSACTION CONTROL", L, {NULL}},
    {"COMMIT", "TRANSACTION CONTROL", L, {NULL}},
    {"SELECT pg_catalog.set_config('search_path', '', false)", "SELECT", L, {NULL}},
    {"SELECT a FROM t WHERE b > (SELECT max(c) FROM u)", "SELECT", L, {NULL}},
    {"EXPLAIN DELETE FROM t", "EXPLAIN", L, {NULL}},
    {"CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END",
     "CREATE FUNCTION", L, {NULL}},

    /* unknown: hidden effects */
    {"DO $$ BEGIN DROP TABLE x; END $$", "DO", U, {NULL}},
    {"SELECT f()", "FUNCTION CALL", U, {NULL}},
    {"SELECT app.cleanup(id) FROM t", "FUNCTION CALL", U, {NULL}},
    {"SELECT count(*) FROM (SELECT purge()) s", "FUNCTION CALL", U, {NULL}},
    {"CALL archive_orders(2020)", "CALL", U, {NULL}},
    {"EXECUTE st(1)", "EXECUTE", U, {NULL}},
    {"COPY t FROM PROGRAM 'curl x'", "COPY PROGRAM", U, {NULL}},
    {"LOAD 'plugin'", "LOAD", U, {NULL}},
};

static void test_corpus(void **state)
{
    (void)state;
    size_t n = sizeof corpus / sizeof corpus[0];
    assert_true(n >= 40);
    for (size_t i = 0; i < n; i++) {
        const rcase *c = &corpus[i];
        ebb_risk_report r;
        classify_ok(c->sql, &r);
        if (r.count != 1)
            fail_msg("%s: %zu items, want 1", c->sql, r.count);
        const ebb_risk_item *it = &r.items[0];
        if (strcmp(it->kind, c->kind) != 0 || it->level != c->level)
            fail_msg("%s: got %s/%s, want %s/%s (%s)", c->sql, it->kind, ebb_risk_level_name(it->level),
                     c->kind, ebb_risk_level_name(c->level), it->reason);
        assert_true(strlen(it->reason) > 0);
        size_t want = 0;
        while (want < 5 && c->probes[want] != NULL)
            want++;
        if (it->n_probes != want)
            fail_msg("%s: %zu probes, want %zu", c->sql, it->n_probes, want);
        for (size_t k = 0; k < want; k++) {
            char got[1024];
            render(&it->probes[k], got, sizeof got);
            if (strcmp(got, c->probes[k]) != 0)
                fail_msg("%s: probe %zu\n  got  %s\n  want %s", c->sql, k, got, c->probes[k]);
        }
        ebb_risk_report_fini(&r);
    }
}

/* Every high or medium item names what to probe, except the documented few. */
static bool probe_exempt(const rcase *c)
{
    return strcmp(c->kind, "INSERT ON CONFLICT UPDATE") == 0 || strcmp(c->kind, "MERGE") == 0 ||
           strstr(c->sql, "WHERE CURRENT OF") != NULL;
}

static void test_risky_items_carry_probes(void **state)
{
    (void)state;
    size_t risky = 0;
    for (size_t i = 0; i < sizeof corpus / sizeof corpus[0]; i++) {
        const rcase *c = &corpus[i];
        if (c->level != M && c->level != H)
            continue;
        risky++;
        if (!probe_exempt(c) && c->probes[0] == NULL)
            fail_msg("%s: risky but no probe", c->sql);
    }
    assert_true(risky >= 20);
}

static void test_alter_table_subcommands_are_items(void **state)
{
    (void)state;
    const char *sql = "ALTER TABLE app.\"Weird Name\" DROP COLUMN \"Col A\",\n"
                      "  ALTER COLUMN id TYPE varchar(20) USING id::text,\n"
                      "  ADD CONSTRAINT u UNIQUE (a, \"B\"),\n"
                      "  ADD COLUMN note text,\n"
                      "  ALTER COLUMN \"Col B\" SET NOT NULL";
    ebb_risk_report r;
    classify_ok(sql, &r);
    assert_int_equal(r.count, 5);
    static const char *const kinds[] = {"DROP COLUMN", "ALTER COLUMN TYPE", "ADD UNIQUE", "ADD COLUMN", "SET NOT NULL"};
    static const ebb_risk_level levels[] = {H, M, M, L, M};
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(r.items[i].kind, kinds[i]);
        assert_int_equal(r.items[i].level, levels[i]);
        assert_int_equal(r.items[i].line, 1);
        assert_int_equal(r.items[i].stmt_index, 0);
    }
    char got[512];
    render(&r.items[1].probes[0], got, sizeof got);
    /* The USING text stops at the subcommand's comma. */
    assert_string_equal(got, "narrowing-type table [app].[Weird Name] keys=id "
                             "type=varchar(20)|[pg_catalog].[varchar]|20|0 expr=id::text");
    assert_int_equal(ebb_risk_report_worst(&r), H);
    ebb_risk_report_fini(&r);
}

static void test_multi_statement_lines_and_comments(void **state)
{
    (void)state;
    const char *sql = "-- DROP TABLE users; in a comment\n"          /* 1 */
                      "BEGIN;\n"                                    /* 2 */
                      "/* DELETE FROM t; */\n"                      /* 3 */
                      "CREATE TABLE a (x int);\n"                   /* 4 */
                      "\n"                                          /* 5 */
                      "ALTER TABLE a\n"                             /* 6 */
                      "  ADD COLUMN y int;\n"                       /* 7 */
                      "DROP TABLE a; DROP TABLE \"B\"; -- gone\n"   /* 8 */
                      "COMMIT;\n";                                  /* 9 */
    ebb_risk_report r;
    classify_ok(sql, &r);
    assert_int_equal(r.count, 6);
    static const int lines[] = {2, 4, 6, 8, 8, 9};
    static const char *const kinds[] = {"TRANSACTION CONTROL", "CREATE TABLE", "ADD COLUMN",
                                        "DROP TABLE", "DROP TABLE", "TRANSACTION CONTROL"};
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(r.items[i].line, lines[i]);
        assert_int_equal(r.items[i].stmt_index, i);
        assert_string_equal(r.items[i].kind, kinds[i]);
        assert_string_equal(r.items[i].file, "m.sql");
    }
    assert_string_equal(r.items[2].statement, "ALTER TABLE a ADD COLUMN y int");
    assert_string_equal(r.items[4].probes[0].target.name, "B");
    assert_int_equal(ebb_risk_report_worst(&r), H);
    ebb_risk_report_fini(&r);
}

static void test_unparsable_statement_is_unknown(void **state)
{
    (void)state;
    const char *sql = "CREATE TABLE a (x int);\n"
                      "ALTER TABLE a\n"
                      "  ADD COLUMN;\n"
                      "\n"
                      "DROP TABLE a;\n";
    ebb_risk_report r;
    classify_ok(sql, &r);
    assert_int_equal(r.count, 3);
    assert_string_equal(r.items[0].kind, "CREATE TABLE");
    assert_string_equal(r.items[1].kind, "SYNTAX ERROR");
    assert_int_equal(r.items[1].level, U);
    assert_int_equal(r.items[1].line, 2);
    assert_int_equal(r.items[1].n_probes, 0);
    /* The parser's own message, with the line the error is on. */
    assert_string_equal(r.items[1].reason,
                        "the parser cannot read it: line 3: syntax error at end of input");
    assert_string_equal(r.items[2].kind, "DROP TABLE");
    assert_int_equal(r.items[2].line, 5);
    assert_int_equal(ebb_risk_report_worst(&r), U);
    ebb_risk_report_fini(&r);
}

static void test_unscannable_script_is_one_unknown(void **state)
{
    (void)state;
    const char *sql = "CREATE TABLE a (x int);\nSELECT 'unterminated;\nDROP TABLE b;\n";
    ebb_risk_report r;
    classify_ok(sql, &r);
    assert_int_equal(r.count, 1);
    assert_string_equal(r.items[0].kind, "SYNTAX ERROR");
    assert_int_equal(r.items[0].level, U);
    assert_non_null(strstr(r.items[0].reason, "line 2: unterminated quoted string"));
    assert_null(strchr(r.items[0].reason, '\n'));
    ebb_risk_report_fini(&r);
}

static void test_levels_order_and_names(void **state)
{
    (void)state;
    assert_string_equal(ebb_risk_level_name(L), "low");
    assert_string_equal(ebb_risk_level_name(M), "medium");
    assert_string_equal(ebb_risk_level_name(H), "high");
    assert_string_equal(ebb_risk_level_name(U), "unknown");
    assert_true(ebb_risk_level_at_least(U, M));
    assert_true(ebb_risk_level_at_least(U, H));
    assert_false(ebb_risk_level_at_least(H, U));
    assert_false(ebb_risk_level_at_least(L, M));
    assert_true(ebb_risk_level_at_least(M, M));

    ebb_risk_report r = {0};
    assert_int_equal(ebb_risk_report_worst(&r), L);
    ebb_error err;
    /* Appending: a second script adds to the same report under its own name. */
    assert_int_equal(ebb_risk_classify_script("CREATE TABLE a (x int);", "1.up.sql", &r, &err), EBB_OK);
    assert_int_equal(ebb_risk_report_worst(&r), L);
    assert_int_equal(ebb_risk_classify_script("ALTER TABLE a ALTER x SET NOT NULL;", "2.up.sql", &r, &err), EBB_OK);
    assert_int_equal(ebb_risk_report_worst(&r), M);
    assert_int_equal(ebb_risk_classify_script("SELECT f(); DROP TABLE a;", "3.up.sql", &r, &err), EBB_OK);
    assert_int_equal(r.count, 4);
    assert_string_equal(r.items[0].file, "1.up.sql");
    assert_string_equal(r.items[3].file, "3.up.sql");
    assert_int_equal(r.items[3].stmt_index, 1);
    assert_int_equal(ebb_risk_report_worst(&r), U);
    ebb_risk_report_fini(&r);
    assert_null(r.items);
    assert_int_equal(r.count, 0);

    assert_int_equal(ebb_risk_classify_script(NULL, "x", &r, &err), EBB_E_INVALID);
    assert_int_equal(ebb_risk_classify_script("SELECT 1", "x", NULL, &err), EBB_E_INVALID);
}

static void test_long_statement_is_shortened(void **state)
{
    (void)state;
    char sql[2000];
    size_t o = (size_t)snprintf(sql, sizeof sql, "DELETE FROM t\n\n  WHERE id IN (");
    for (int i = 0; i < 300; i++)
        o += (size_t)snprintf(sql + o, sizeof sql - o, "%d,", i);
    snprintf(sql + o, sizeof sql - o, "1000)");
    ebb_risk_report r;
    classify_ok(sql, &r);
    assert_int_equal(r.count, 1);
    const char *s = r.items[0].statement;
    assert_true(strlen(s) <= EBB_RISK_STMT_MAX + 3);
    assert_memory_equal(s, "DELETE FROM t WHERE id IN (0,1,2,", 33);
    assert_string_equal(s + strlen(s) - 3, "...");
    /* The probe keeps the full WHERE text, not the shortened one. */
    assert_non_null(strstr(r.items[0].probes[0].expr, "299,1000)"));
    ebb_risk_report_fini(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus),
        cmocka_unit_test(test_risky_items_carry_probes),
        cmocka_unit_test(test_alter_table_subcommands_are_items),
        cmocka_unit_test(test_multi_statement_lines_and_comments),
        cmocka_unit_test(test_unparsable_statement_is_unknown),
        cmocka_unit_test(test_unscannable_script_is_one_unknown),
        cmocka_unit_test(test_levels_order_and_names),
        cmocka_unit_test(test_long_statement_is_shortened),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
