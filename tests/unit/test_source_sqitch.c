/* Unit tests for the Sqitch project reader: plan parsing, sqitch.conf layout, targets and dependency checks. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/source_sqitch.h"
#include "agent/sqitch_plan.h"

#define TS "2013-12-30T23:19:45Z"
#define WHO "Marge N. O’Vera <marge@example.com>"
#define HEADER "%syntax-version=1.0.0\n%project=flipr\n%uri=https://example.com/flipr/\n\n"

/* ---- temp project directories ---- */

static char *project_new(void)
{
    char tmpl[] = "/tmp/ebb-sqitch-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    return strdup(tmpl);
}

static void write_file(const char *dir, const char *rel, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    for (char *p = path + strlen(dir) + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0755);
            *p = '/';
        }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* deploy/, revert/ and verify/ scripts for a change. */
static void write_scripts(const char *dir, const char *base)
{
    const char *kinds[] = {"deploy", "revert", "verify"};
    for (int k = 0; k < 3; k++) {
        char rel[512], sql[512];
        snprintf(rel, sizeof rel, "%s/%s.sql", kinds[k], base);
        snprintf(sql, sizeof sql, "-- %s %s\nSELECT 1;\n", kinds[k], base);
        write_file(dir, rel, sql);
    }
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void project_free(char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

/* ebb_graph_fini lives in agent/migration.c (plain-SQL readers' branch); free here. */
static void graph_free(ebb_graph *g)
{
    ebb_graph_fini_sqitch_fields(g);
    for (size_t i = 0; i < g->count; i++) {
        ebb_revision *r = &g->revs[i];
        free(r->id);
        free(r->name);
        ebb_script *s[] = {&r->up, &r->down, &r->verify};
        for (int k = 0; k < 3; k++) {
            free(s[k]->path);
            free(s[k]->sql);
        }
        free(r->parents);
    }
    free(g->revs);
    for (size_t i = 0; i < g->n_checks; i++)
        free(g->check_paths[i]);
    free(g->check_paths);
    free(g->root);
    memset(g, 0, sizeof *g);
}

static void load_ok(const char *dir, ebb_graph *g)
{
    ebb_error err;
    ebb_code rc = ebb_source_load_sqitch(dir, g, &err);
    if (rc != EBB_OK)
        fail_msg("load failed: %s", err.msg);
    assert_int_equal(g->kind, EBB_SOURCE_SQITCH);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* ---- plan contents ---- */

static void test_pragmas_changes_dependencies_notes(void **state)
{
    (void)state;
    char *dir = project_new();
    write_file(dir, "sqitch.plan",
               "%syntax-version=1.0.0\n"
               "%project=flipr\n"
               "%uri=https://example.com/flipr/\n"
               "# a comment inside the pragmas\n"
               "\n"
               "appschema " TS " " WHO " # Add schema \\n for flipr.\n"
               "users [appschema] 2013-12-30T23:49:00Z Homer <homer@example.com>\n"
               "  # a comment among the changes\n"
               "\n"
               "flips [appschema flipr:users !oldflips other:thing] " TS " " WHO "\n");
    write_scripts(dir, "appschema");
    write_scripts(dir, "users");
    write_file(dir, "deploy/flips.sql", "CREATE TABLE flips ();\n");
    write_file(dir, "revert/flips.sql", "DROP TABLE flips;\n");
    write_file(dir, "checks/b.sql", "SELECT true;\n");
    write_file(dir, "checks/a.sql", "SELECT true;\n");

    ebb_graph g;
    load_ok(dir, &g);
    assert_string_equal(g.project, "flipr");
    assert_string_equal(g.project_uri, "https://example.com/flipr/");
    assert_string_equal(g.root, dir);
    assert_int_equal(g.count, 3);

    assert_string_equal(g.revs[0].id, "appschema");
    assert_string_equal(g.revs[0].name, "appschema");
    assert_int_equal(g.revs[0].n_parents, 0);
    assert_string_equal(g.revs[0].note, "Add schema \n for flipr.");
    assert_string_equal(g.revs[0].planner, WHO);
    assert_string_equal(g.revs[0].planned_at, TS);
    assert_int_equal(g.revs[0].n_requires, 0);

    assert_string_equal(g.revs[1].id, "users");
    assert_int_equal(g.revs[1].n_parents, 1);
    assert_int_equal(g.revs[1].parents[0], 0);
    assert_string_equal(g.revs[1].note, "");
    assert_string_equal(g.revs[1].planner, "Homer <homer@example.com>");
    assert_string_equal(g.revs[1].planned_at, "2013-12-30T23:49:00Z");
    assert_int_equal(g.revs[1].n_requires, 1);
    assert_string_equal(g.revs[1].requires[0], "appschema");

    /* "flipr:" names this project and is dropped; "other:" is kept as external. */
    assert_int_equal(g.revs[2].n_requires, 3);
    assert_string_equal(g.revs[2].requires[0], "appschema");
    assert_string_equal(g.revs[2].requires[1], "users");
    assert_string_equal(g.revs[2].requires[2], "other:thing");
    assert_int_equal(g.revs[2].n_conflicts, 1);
    assert_string_equal(g.revs[2].conflicts[0], "oldflips");
    assert_int_equal(g.revs[2].parents[0], 1);

    /* Scripts, checksums, absent verify. */
    assert_true(ends_with(g.revs[2].up.path, "/deploy/flips.sql"));
    assert_string_equal(g.revs[2].up.sql, "CREATE TABLE flips ();\n");
    assert_int_equal(strlen(g.revs[2].up.checksum), 64);
    assert_string_not_equal(g.revs[2].up.checksum, g.revs[2].down.checksum);
    assert_true(ends_with(g.revs[2].down.path, "/revert/flips.sql"));
    assert_null(g.revs[2].verify.sql);
    assert_string_equal(g.revs[2].verify.checksum, "");
    assert_non_null(g.revs[0].verify.sql);
    assert_true(ends_with(g.revs[0].verify.path, "/verify/appschema.sql"));

    assert_int_equal(g.n_checks, 2);
    assert_true(ends_with(g.check_paths[0], "/checks/a.sql"));
    assert_true(ends_with(g.check_paths[1], "/checks/b.sql"));
    graph_free(&g);
    project_free(dir);
}

static void test_tags_and_reworked_change(void **state)
{
    (void)state;
    char *dir = project_new();
    write_file(dir, "sqitch.plan",
               HEADER "x " TS " " WHO "\n"
               "@v1 " TS " " WHO " # first release\n"
               "@v1.1 " TS " " WHO "\n"
               "\n"
               "y [x] " TS " " WHO "\n"
               "@v2 " TS " " WHO "\n"
               "x [x@v2] " TS " " WHO " # reworked\n");
    /* Sqitch prefers the most recent rework tag that has a file: x@v2. */
    write_file(dir, "deploy/x@v2.sql", "-- old x\n");
    write_file(dir, "revert/x@v2.sql", "-- old x revert\n");
    write_file(dir, "deploy/x@v1.sql", "-- older, not used\n");
    write_file(dir, "deploy/x.sql", "-- new x\n");
    write_file(dir, "revert/x.sql", "-- new x revert\n");
    write_scripts(dir, "y");

    ebb_graph g;
    load_ok(dir, &g);
    assert_int_equal(g.count, 3);
    assert_string_equal(g.revs[0].id, "x");
    assert_string_equal(g.revs[2].id, "x#2");
    assert_string_equal(g.revs[2].name, "x");
    assert_string_equal(g.revs[0].up.sql, "-- old x\n");
    assert_true(ends_with(g.revs[0].up.path, "/deploy/x@v2.sql"));
    assert_true(ends_with(g.revs[0].down.path, "/revert/x@v2.sql"));
    assert_null(g.revs[0].verify.sql);
    assert_string_equal(g.revs[2].up.sql, "-- new x\n");
    assert_true(ends_with(g.revs[2].up.path, "/deploy/x.sql"));
    assert_int_equal(g.revs[0].n_tags, 2);
    assert_string_equal(g.revs[0].tags[0], "v1");
    assert_string_equal(g.revs[0].tags[1], "v1.1");
    assert_int_equal(g.revs[1].n_tags, 1);
    assert_string_equal(g.revs[1].tags[0], "v2");
    assert_int_equal(g.revs[2].n_tags, 0);
    assert_string_equal(g.revs[2].requires[0], "x@v2");
    assert_string_equal(g.revs[2].note, "reworked");
    graph_free(&g);

    /* Without x@v2.sql the first tag with a file wins (x@v1), as in Sqitch. */
    char path[1024];
    snprintf(path, sizeof path, "%s/deploy/x@v2.sql", dir);
    assert_int_equal(unlink(path), 0);
    load_ok(dir, &g);
    assert_string_equal(g.revs[0].up.sql, "-- older, not used\n");
    graph_free(&g);
    project_free(dir);
}

/* Parse a plan body after HEADER and expect an error at line with text in it. */
static void expect_plan_error(const char *body, int line, const char *text)
{
    char plan[4096];
    snprintf(plan, sizeof plan, "%s%s", HEADER, body);
    ebb_sqitch_plan p;
    ebb_error err;
    ebb_code rc = ebb_sqitch_plan_parse("sqitch.plan", plan, strlen(plan), &p, &err);
    if (rc == EBB_OK) {
        ebb_sqitch_plan_fini(&p);
        fail_msg("plan accepted, expected \"%s\" at line %d:\n%s", text, line, body);
    }
    assert_int_equal(rc, EBB_E_INVALID);
    char where[64];
    snprintf(where, sizeof where, "sqitch.plan:%d: ", line);
    if (strncmp(err.msg, where, strlen(where)) != 0 || !strstr(err.msg, text))
        fail_msg("got \"%s\", expected \"%s...%s\"", err.msg, where, text);
}

static void test_malformed_lines(void **state)
{
    (void)state;
    /* HEADER is 4 lines: the first change is line 5. */
    expect_plan_error("a- " TS " " WHO "\n", 5, "Invalid name");
    expect_plan_error("ok " TS " " WHO "\nbad:name " TS " " WHO "\n", 6, "Invalid name");
    expect_plan_error("a " TS "\n", 5, "Missing planner name and email");
    expect_plan_error("a " WHO "\n", 5, "Missing timestamp");
    expect_plan_error("a\n", 5, "Missing timestamp and planner name and email");
    expect_plan_error("a 2013-13-30T23:19:45Z " WHO "\n", 5, "Invalid timestamp");
    expect_plan_error("@v1 " TS " " WHO "\n", 5, "declared without a preceding change");
    expect_plan_error("a " TS " " WHO "\n@v1 [a] " TS " " WHO "\n", 6,
                      "Tags may not specify dependencies");
    expect_plan_error("a " TS " " WHO "\n@v1 " TS " " WHO "\n@v1 " TS " " WHO "\n", 7,
                      "duplicates earlier declaration on line 6");
    expect_plan_error("a " TS " " WHO "\n@v/a " TS " " WHO "\n", 6, "illegal character /");
    /* "/1" before a blank is not part of a name at all (Sqitch says so too). */
    expect_plan_error("a " TS " " WHO "\n@v/1 " TS " " WHO "\n", 6, "Invalid name");
    expect_plan_error("HEAD " TS " " WHO "\n", 5, "\"HEAD\" is a reserved name");
    expect_plan_error("a " TS " " WHO "\n@ROOT " TS " " WHO "\n", 6, "\"@ROOT\" is a reserved name");
    expect_plan_error("0123456789abcdef0123456789abcdef01234567 " TS " " WHO "\n", 5,
                      "confused with a SHA1 ID");
    expect_plan_error("a " TS " " WHO "\nb [a a] " TS " " WHO "\n", 6,
                      "Duplicate dependency \"a\"");
    expect_plan_error("a " TS " " WHO "\nb [a !] " TS " " WHO "\n", 6,
                      "\"!\" is not a valid dependency specification");
    expect_plan_error("a " TS " " WHO "\nb [nope] " TS " " WHO "\n", 6,
                      "Unknown change \"nope\" required by change \"b\"");
    expect_plan_error("a [b] " TS " " WHO "\nb " TS " " WHO "\n", 5,
                      "planned 1 change before required change \"b\"");
    expect_plan_error("a [a] " TS " " WHO "\n", 5, "cannot require itself");
    expect_plan_error("a " TS " " WHO "\nb [a@v9] " TS " " WHO "\n", 6, "Unknown change \"a@v9\"");
    /* A lone "#" is not a comment to Sqitch (a note needs text). */
    expect_plan_error("a " TS " " WHO "\n#\n", 6, "Invalid name");

    /* Pragmas: a change without the blank line, and a bad project name. */
    const char *nopblank = "%project=flipr\na " TS " " WHO "\n";
    ebb_sqitch_plan p;
    ebb_error err;
    assert_int_equal(ebb_sqitch_plan_parse("sqitch.plan", nopblank, strlen(nopblank), &p, &err),
                     EBB_E_INVALID);
    assert_string_equal(err.msg, "sqitch.plan:2: Invalid pragma; a blank line must come between "
                                 "pragmas and changes");
    const char *badproj = "%syntax-version=1.0.0\n%project=fl@pr\n\n";
    assert_int_equal(ebb_sqitch_plan_parse("sqitch.plan", badproj, strlen(badproj), &p, &err),
                     EBB_E_INVALID);
    assert_non_null(strstr(err.msg, "sqitch.plan:2: invalid project name \"fl@pr\""));
    const char *noproj = "%syntax-version=1.0.0\n\na " TS " " WHO "\n";
    assert_int_equal(ebb_sqitch_plan_parse("sqitch.plan", noproj, strlen(noproj), &p, &err),
                     EBB_E_INVALID);
    assert_string_equal(err.msg, "sqitch.plan: Missing %project pragma");
}

static void test_duplicate_change_needs_tag(void **state)
{
    (void)state;
    expect_plan_error("x " TS " " WHO "\ny " TS " " WHO "\nx " TS " " WHO "\n", 7,
                      "Change \"x\" duplicates earlier declaration on line 5");
    /* With a tag between it is a rework, and the earlier x learns its rework tag. */
    const char *plan = HEADER "x " TS " " WHO "\n@t " TS " " WHO "\nx " TS " " WHO "\n";
    ebb_sqitch_plan p;
    ebb_error err;
    assert_int_equal(ebb_sqitch_plan_parse("sqitch.plan", plan, strlen(plan), &p, &err), EBB_OK);
    assert_int_equal(p.count, 2);
    assert_int_equal(p.changes[0].instance, 1);
    assert_int_equal(p.changes[1].instance, 2);
    assert_int_equal(p.changes[0].n_rework_tags, 1);
    assert_string_equal(p.changes[0].rework_tags[0], "t");
    assert_int_equal(p.changes[1].n_rework_tags, 0);
    ebb_sqitch_plan_fini(&p);
}

static void test_unicode_names_and_operators(void **state)
{
    (void)state;
    /* Sqitch reads plans as UTF-8 and its names are Unicode words; +/- operators are accepted. */
    const char *plan = HEADER "café " TS " " WHO "\n+b [café] " TS " " WHO "\n- c " TS " " WHO "\n";
    ebb_sqitch_plan p;
    ebb_error err;
    ebb_code rc = ebb_sqitch_plan_parse("sqitch.plan", plan, strlen(plan), &p, &err);
    if (rc != EBB_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(p.count, 3);
    assert_string_equal(p.changes[0].name, "café");
    assert_string_equal(p.changes[1].name, "b");
    assert_string_equal(p.changes[2].name, "c");
    ebb_sqitch_plan_fini(&p);
    const char *bad = HEADER "caf\xe9 " TS " " WHO "\n";
    assert_int_equal(ebb_sqitch_plan_parse("sqitch.plan", bad, strlen(bad), &p, &err),
                     EBB_E_INVALID);
    assert_non_null(strstr(err.msg, "sqitch.plan:5: not valid UTF-8"));
}

static void test_missing_deploy_script(void **state)
{
    (void)state;
    char *dir = project_new();
    write_file(dir, "sqitch.plan", HEADER "a " TS " " WHO "\nb [a] " TS " " WHO "\n");
    write_scripts(dir, "a");
    write_file(dir, "revert/b.sql", "SELECT 1;\n");
    ebb_graph g;
    ebb_error err;
    assert_int_equal(ebb_source_load_sqitch(dir, &g, &err), EBB_E_NOT_FOUND);
    assert_non_null(strstr(err.msg, "/deploy/b.sql: deploy script does not exist"));
    assert_non_null(strstr(err.msg, "change b (")); /* and where the change is planned */
    assert_non_null(strstr(err.msg, "sqitch.plan:6"));
    project_free(dir);

    dir = project_new();
    assert_int_equal(ebb_source_load_sqitch(dir, &g, &err), EBB_E_NOT_FOUND);
    assert_non_null(strstr(err.msg, "/sqitch.plan: Sqitch plan does not exist"));
    project_free(dir);
}

static void test_conf_top_dir_and_extension(void **state)
{
    (void)state;
    char *dir = project_new();
    write_file(dir, "sqitch.conf",
               "[core]\n"
               "\tengine = pg\n"
               "\ttop_dir = db\n"
               "[engine \"pg\"]\n"
               "\textension = pgsql\n"
               "\tverify_dir = tests\n");
    write_file(dir, "db/sqitch.plan", HEADER "a " TS " " WHO "\n");
    write_file(dir, "db/deploy/a.pgsql", "CREATE TABLE a ();\n");
    write_file(dir, "db/revert/a.pgsql", "DROP TABLE a;\n");
    write_file(dir, "tests/a.pgsql", "SELECT * FROM a;\n");
    write_file(dir, "deploy/a.sql", "-- not this one\n");
    ebb_graph g;
    load_ok(dir, &g);
    assert_int_equal(g.count, 1);
    assert_true(ends_with(g.revs[0].up.path, "/db/deploy/a.pgsql"));
    assert_string_equal(g.revs[0].up.sql, "CREATE TABLE a ();\n");
    assert_true(ends_with(g.revs[0].down.path, "/db/revert/a.pgsql"));
    assert_true(ends_with(g.revs[0].verify.path, "/tests/a.pgsql"));
    graph_free(&g);

    /* A named target's settings come first; its URI gives the engine. */
    write_file(dir, "sqitch.conf",
               "[core]\n\ttarget = prod\n\ttop_dir = db\n"
               "[target \"prod\"]\n\turi = db:postgres://db.example.com/flipr\n"
               "\textension = pgsql\n");
    load_ok(dir, &g);
    assert_true(ends_with(g.revs[0].up.path, "/db/deploy/a.pgsql"));
    graph_free(&g);

    /* ebb only deploys to PostgreSQL. */
    write_file(dir, "sqitch.conf", "[core]\n\tengine = sqlite\n");
    ebb_error err;
    assert_int_equal(ebb_source_load_sqitch(dir, &g, &err), EBB_E_CONFIG);
    assert_non_null(strstr(err.msg, "sqitch.conf: Sqitch engine \"sqlite\""));

    /* A file Sqitch cannot read is a config error that names it. */
    write_file(dir, "sqitch.conf", "[core\n\tengine = pg\n");
    assert_int_equal(ebb_source_load_sqitch(dir, &g, &err), EBB_E_CONFIG);
    assert_non_null(strstr(err.msg, "sqitch.conf"));
    project_free(dir);
}

/* ---- targets ---- */

static ebb_graph target_graph;
static char *target_dir;

static int targets_setup(void **state)
{
    (void)state;
    target_dir = project_new();
    write_file(target_dir, "sqitch.plan",
               HEADER "a " TS " " WHO "\n"
               "b [a] " TS " " WHO "\n"
               "@v1 " TS " " WHO "\n"
               "\n"
               "c " TS " " WHO "\n"
               "b [b@v1] " TS " " WHO "\n"
               "@v2 " TS " " WHO "\n"
               "\n"
               "d " TS " " WHO "\n");
    write_scripts(target_dir, "a");
    write_scripts(target_dir, "b@v1");
    write_scripts(target_dir, "b");
    write_scripts(target_dir, "c");
    write_scripts(target_dir, "d");
    ebb_error err;
    if (ebb_source_load_sqitch(target_dir, &target_graph, &err) != EBB_OK) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int targets_teardown(void **state)
{
    (void)state;
    graph_free(&target_graph);
    project_free(target_dir);
    return 0;
}

static void expect_index(const char *text, size_t index)
{
    ebb_sqitch_target t;
    ebb_error err;
    if (ebb_sqitch_resolve_target(&target_graph, text, &t, &err) != EBB_OK)
        fail_msg("%s: %s", text, err.msg);
    assert_int_equal(t.kind, EBB_TARGET_REVISION);
    if (t.index != index)
        fail_msg("%s: index %zu, expected %zu", text, t.index, index);
}

static void expect_target_error(const char *text, ebb_code code, const char *msg)
{
    ebb_sqitch_target t;
    ebb_error err;
    assert_int_equal(ebb_sqitch_resolve_target(&target_graph, text, &t, &err), code);
    if (!strstr(err.msg, msg))
        fail_msg("%s: \"%s\" lacks \"%s\"", text, err.msg, msg);
}

static void test_targets(void **state)
{
    (void)state;
    /* Plan order: 0 a, 1 b (@v1), 2 c, 3 b#2 (@v2), 4 d. */
    assert_string_equal(target_graph.revs[3].id, "b#2");
    expect_index("a", 0);
    expect_index("c", 2);
    expect_index("@v1", 1);
    expect_index("@v2", 3);
    expect_index("b@v1", 1);
    expect_index("b@v2", 3);
    expect_index("a@v2", 0);
    expect_index("b@HEAD", 3);
    expect_index("@HEAD", 4);
    expect_index("HEAD", 4);
    expect_index("@ROOT", 0);
    expect_index("ROOT", 0);
    expect_index("b#2", 3);
    expect_index("@HEAD^", 3);
    expect_index("@HEAD^^", 2);
    expect_index("@HEAD^3", 1);
    expect_index("@ROOT~", 1);
    expect_index("a~~", 2);
    expect_index("@v1~2", 3);

    ebb_sqitch_target t;
    ebb_error err;
    assert_int_equal(ebb_sqitch_resolve_target(&target_graph, "head", &t, &err), EBB_OK);
    assert_int_equal(t.kind, EBB_TARGET_HEAD);
    assert_int_equal(ebb_sqitch_resolve_target(&target_graph, "base", &t, &err), EBB_OK);
    assert_int_equal(t.kind, EBB_TARGET_BASE);
    assert_int_equal(ebb_sqitch_resolve_target(&target_graph, "-2", &t, &err), EBB_OK);
    assert_int_equal(t.kind, EBB_TARGET_RELATIVE);
    assert_int_equal(t.steps, -2);
    assert_int_equal(ebb_sqitch_resolve_target(&target_graph, "+1", &t, &err), EBB_OK);
    assert_int_equal(t.steps, 1);

    expect_target_error("nope", EBB_E_NOT_FOUND, "unknown change \"nope\"");
    expect_target_error("@nope", EBB_E_NOT_FOUND, "unknown change \"@nope\"");
    expect_target_error("a@nope", EBB_E_NOT_FOUND, "unknown tag \"@nope\"");
    expect_target_error("d@v1", EBB_E_NOT_FOUND, "unknown change \"d@v1\"");
    expect_target_error("b", EBB_E_INVALID, "\"b\" is ambiguous");
    expect_target_error("b", EBB_E_INVALID, "b@v2 (id b#2)");
    expect_target_error("b", EBB_E_INVALID, "b@v1 (id b)");
    expect_target_error("@HEAD~", EBB_E_NOT_FOUND, "past the end");
    expect_target_error("@ROOT^", EBB_E_NOT_FOUND, "before the start");
    expect_target_error("+0", EBB_E_INVALID, "+N or -N");
    expect_target_error("", EBB_E_INVALID, "empty target");
}

static void test_head_named_change_is_ambiguous(void **state)
{
    (void)state;
    char *dir = project_new();
    write_file(dir, "sqitch.plan", HEADER "head " TS " " WHO "\n");
    write_scripts(dir, "head");
    ebb_graph g;
    load_ok(dir, &g);
    ebb_sqitch_target t;
    ebb_error err;
    assert_int_equal(ebb_sqitch_resolve_target(&g, "head", &t, &err), EBB_E_INVALID);
    assert_non_null(strstr(err.msg, "\"head@HEAD\""));
    assert_int_equal(ebb_sqitch_resolve_target(&g, "head@HEAD", &t, &err), EBB_OK);
    assert_int_equal(t.index, 0);
    graph_free(&g);
    project_free(dir);
}

/* ---- dependency enforcement ---- */

static char *deps_dir;
static ebb_graph deps_graph;

static int deps_setup(void **state)
{
    (void)state;
    deps_dir = project_new();
    /* 0 a, 1 b [a], 2 c [b], 3 d [!a], 4 e [other:thing], 5 f */
    write_file(deps_dir, "sqitch.plan",
               HEADER "a " TS " " WHO "\n"
               "b [a] " TS " " WHO "\n"
               "c [b] " TS " " WHO "\n"
               "d [!a] " TS " " WHO "\n"
               "e [other:thing] " TS " " WHO "\n"
               "f " TS " " WHO "\n");
    const char *names[] = {"a", "b", "c", "d", "e", "f"};
    for (int i = 0; i < 6; i++)
        write_scripts(deps_dir, names[i]);
    ebb_error err;
    if (ebb_source_load_sqitch(deps_dir, &deps_graph, &err) != EBB_OK) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int deps_teardown(void **state)
{
    (void)state;
    graph_free(&deps_graph);
    project_free(deps_dir);
    return 0;
}

/* Check a path from a state given as a string of 0/1 per revision. */
static ebb_code check(const char *applied, ebb_direction dir, const size_t *steps, size_t n,
                      ebb_error *err)
{
    bool flags[16] = {0};
    for (size_t i = 0; applied[i]; i++)
        flags[i] = applied[i] == '1';
    ebb_state st = {.applied = flags, .count = deps_graph.count};
    ebb_path path = {.direction = dir, .steps = (size_t *)steps, .count = n};
    return ebb_sqitch_check_path(&deps_graph, &st, &path, err);
}

static void expect_refused(ebb_code rc, const ebb_error *err, const char *text)
{
    assert_int_equal(rc, EBB_E_REFUSED);
    if (!strstr(err->msg, text))
        fail_msg("\"%s\" lacks \"%s\"", err->msg, text);
}

static void test_check_deploy(void **state)
{
    (void)state;
    ebb_error err;
    /* In plan order everything is met. */
    const size_t all_up[] = {0, 1, 2};
    assert_int_equal(check("000000", EBB_DIR_UP, all_up, 3, &err), EBB_OK);
    /* c alone: b is missing, and so is a below it. */
    const size_t only_c[] = {2};
    ebb_code rc = check("000000", EBB_DIR_UP, only_c, 1, &err);
    expect_refused(rc, &err, "cannot deploy c: it requires b, which is not deployed");
    expect_refused(rc, &err, "(chain: c -> b -> a)");
    /* b already deployed is enough. */
    assert_int_equal(check("110000", EBB_DIR_UP, only_c, 1, &err), EBB_OK);
}

static void test_check_revert(void **state)
{
    (void)state;
    ebb_error err;
    /* Reverting a while b and c stay: refused, naming who holds it. */
    const size_t only_a[] = {0};
    ebb_code rc = check("111000", EBB_DIR_DOWN, only_a, 1, &err);
    expect_refused(rc, &err, "cannot revert a: deployed change b requires it");
    expect_refused(rc, &err, "(chain: c -> b -> a)");
    /* Reverting c, b, a in that order is fine. */
    const size_t down[] = {2, 1, 0};
    assert_int_equal(check("111000", EBB_DIR_DOWN, down, 3, &err), EBB_OK);
    /* The wrong order is refused at the first bad step. */
    const size_t wrong[] = {1, 2};
    rc = check("111000", EBB_DIR_DOWN, wrong, 2, &err);
    expect_refused(rc, &err, "cannot revert b: deployed change c requires it");
}

static void test_check_conflicts(void **state)
{
    (void)state;
    ebb_error err;
    const size_t only_d[] = {3};
    ebb_code rc = check("111000", EBB_DIR_UP, only_d, 1, &err);
    expect_refused(rc, &err, "cannot deploy d: it conflicts with a, which is deployed");
    expect_refused(rc, &err, "(chain: d -> !a)");
    assert_int_equal(check("000000", EBB_DIR_UP, only_d, 1, &err), EBB_OK);
}

static void test_check_external_dependency(void **state)
{
    (void)state;
    ebb_error err;
    const size_t only_e[] = {4};
    ebb_code rc = check("111000", EBB_DIR_UP, only_e, 1, &err);
    expect_refused(rc, &err, "cannot deploy e: it requires other:thing, a change of another "
                             "Sqitch project");
    /* Reverting it is not affected. */
    assert_int_equal(check("111011", EBB_DIR_DOWN, only_e, 1, &err), EBB_OK);
    /* A bad state is an argument error, not a refusal. */
    bool flags[2] = {0};
    ebb_state st = {.applied = flags, .count = 2};
    ebb_path path = {.direction = EBB_DIR_UP, .steps = (size_t *)only_e, .count = 1};
    assert_int_equal(ebb_sqitch_check_path(&deps_graph, &st, &path, &err), EBB_E_INVALID);
}

/* ---- the flipr fixture ---- */

static void test_flipr_fixture(void **state)
{
    (void)state;
    ebb_graph g;
    load_ok(EBB_TEST_SRC_DIR "/tests/fixtures/sqitch/flipr", &g);
    const char *ids[] = {"appschema", "users", "insert_user", "change_pass", "flips",
                         "insert_flip", "delete_flip", "pgcrypto", "insert_user#2",
                         "change_pass#2"};
    assert_int_equal(g.count, 10);
    for (size_t i = 0; i < 10; i++) {
        assert_string_equal(g.revs[i].id, ids[i]);
        assert_non_null(g.revs[i].up.sql);
        assert_non_null(g.revs[i].down.sql);
        assert_non_null(g.revs[i].verify.sql);
    }
    assert_string_equal(g.project, "flipr");
    assert_true(ends_with(g.revs[2].up.path, "/deploy/insert_user@v1.0.0-dev2.sql"));
    assert_true(ends_with(g.revs[8].up.path, "/deploy/insert_user.sql"));
    assert_non_null(strstr(g.revs[2].up.sql, "md5($2)"));
    assert_non_null(strstr(g.revs[8].up.sql, "crypt($2"));
    assert_string_equal(g.revs[3].tags[0], "v1.0.0-dev1");
    assert_string_equal(g.revs[6].tags[0], "v1.0.0-dev2");
    assert_string_equal(g.revs[8].requires[0], "insert_user@v1.0.0-dev2");
    assert_string_equal(g.revs[0].planner, "Marge N. O’Vera <marge@example.com>");

    ebb_sqitch_target t;
    ebb_error err;
    assert_int_equal(ebb_sqitch_resolve_target(&g, "@v1.0.0-dev1", &t, &err), EBB_OK);
    assert_int_equal(t.index, 3);
    assert_int_equal(ebb_sqitch_resolve_target(&g, "insert_user@v1.0.0-dev2", &t, &err), EBB_OK);
    assert_int_equal(t.index, 2);
    assert_int_equal(ebb_sqitch_resolve_target(&g, "insert_user", &t, &err), EBB_E_INVALID);

    /* Deploying everything from nothing, then reverting everything, keeps every dependency. */
    bool none[10] = {0}, all[10];
    size_t up[10], down[10];
    for (size_t i = 0; i < 10; i++) {
        up[i] = i;
        down[i] = 9 - i;
        all[i] = true;
    }
    ebb_state st = {.applied = none, .count = 10};
    ebb_path path = {.direction = EBB_DIR_UP, .steps = up, .count = 10};
    if (ebb_sqitch_check_path(&g, &st, &path, &err) != EBB_OK)
        fail_msg("%s", err.msg);
    st.applied = all;
    path = (ebb_path){.direction = EBB_DIR_DOWN, .steps = down, .count = 10};
    if (ebb_sqitch_check_path(&g, &st, &path, &err) != EBB_OK)
        fail_msg("%s", err.msg);
    /* Reverting pgcrypto alone would strand the reworked functions. */
    const size_t pgcrypto[] = {7};
    path = (ebb_path){.direction = EBB_DIR_DOWN, .steps = (size_t *)pgcrypto, .count = 1};
    assert_int_equal(ebb_sqitch_check_path(&g, &st, &path, &err), EBB_E_REFUSED);
    assert_non_null(strstr(err.msg, "cannot revert pgcrypto: deployed change insert_user#2"));
    graph_free(&g);
}

int main(void)
{
    const struct CMUnitTest plan_tests[] = {
        cmocka_unit_test(test_pragmas_changes_dependencies_notes),
        cmocka_unit_test(test_tags_and_reworked_change),
        cmocka_unit_test(test_malformed_lines),
        cmocka_unit_test(test_duplicate_change_needs_tag),
        cmocka_unit_test(test_unicode_names_and_operators),
        cmocka_unit_test(test_missing_deploy_script),
        cmocka_unit_test(test_conf_top_dir_and_extension),
        cmocka_unit_test(test_head_named_change_is_ambiguous),
        cmocka_unit_test(test_flipr_fixture),
    };
    const struct CMUnitTest target_tests[] = {
        cmocka_unit_test(test_targets),
    };
    const struct CMUnitTest dep_tests[] = {
        cmocka_unit_test(test_check_deploy),
        cmocka_unit_test(test_check_revert),
        cmocka_unit_test(test_check_conflicts),
        cmocka_unit_test(test_check_external_dependency),
    };
    int failed = cmocka_run_group_tests_name("sqitch plan", plan_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("sqitch targets", target_tests, targets_setup,
                                          targets_teardown);
    failed += cmocka_run_group_tests_name("sqitch dependencies", dep_tests, deps_setup,
                                          deps_teardown);
    return failed;
}
