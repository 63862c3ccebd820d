/* Unit tests for the pure part of the schema fingerprint: canonical text, hash, diff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "agent/fingerprint.h"

static char *canon(const ebb_fp_row *rows, size_t n)
{
    ebb_error err;
    char *out = NULL;
    if (ebb_fingerprint_canonicalize(rows, n, &out, &err) != EBB_OK)
        fail_msg("canonicalize: %s", err.msg);
    return out;
}

static const ebb_fp_row schema_a[] = {
    {"table", "public.users", ""},
    {"column", "public.users.id", "integer not null"},
    {"column", "public.users.email", "text not null default ''::text"},
    {"index", "public.users_pkey", "CREATE UNIQUE INDEX users_pkey ON public.users USING btree (id)"},
    {"enum", "public.mood", "'sad','ok','happy'"},
    {"column", "public.\"odd name\".\"a b\"", "text"},
};

static void test_canonical_text_sorted_and_formatted(void **state)
{
    (void)state;
    char *d = canon(schema_a, 6);
    assert_string_equal(d, "column public.\"odd name\".\"a b\" text\n"
                           "column public.users.email text not null default ''::text\n"
                           "column public.users.id integer not null\n"
                           "enum public.mood 'sad','ok','happy'\n"
                           "index public.users_pkey CREATE UNIQUE INDEX users_pkey ON "
                           "public.users USING btree (id)\n"
                           "table public.users\n");
    free(d);
}

static void test_insensitive_to_input_order(void **state)
{
    (void)state;
    ebb_fp_row rev[6];
    for (size_t i = 0; i < 6; i++)
        rev[i] = schema_a[5 - i];
    /* a rotation too, and a duplicated row (a catalog join may repeat one) */
    ebb_fp_row rot[7];
    for (size_t i = 0; i < 6; i++)
        rot[i] = schema_a[(i + 3) % 6];
    rot[6] = schema_a[1];
    char *a = canon(schema_a, 6), *b = canon(rev, 6), *c = canon(rot, 7);
    assert_string_equal(a, b);
    assert_string_equal(a, c);
    char ha[EBB_FINGERPRINT_HEX], hb[EBB_FINGERPRINT_HEX];
    ebb_fingerprint_hash(a, ha);
    ebb_fingerprint_hash(c, hb);
    assert_string_equal(ha, hb);
    assert_int_equal(strlen(ha), 64);
    free(a);
    free(b);
    free(c);
}

static void test_whitespace_in_definitions_normalised(void **state)
{
    (void)state;
    /* pg_get_viewdef prints newlines and indentation: they must not matter */
    ebb_fp_row x[] = {{"view", "public.v", " SELECT users.id\n   FROM public.users;"}};
    ebb_fp_row y[] = {{"view", "public.v", "SELECT users.id FROM\tpublic.users;\r\n"}};
    ebb_fp_row z[] = {{"table", "public.t", "   "}};
    char *a = canon(x, 1), *b = canon(y, 1), *c = canon(z, 1);
    assert_string_equal(a, "view public.v SELECT users.id FROM public.users;\n");
    assert_string_equal(a, b);
    assert_string_equal(c, "table public.t\n");
    free(a);
    free(b);
    free(c);
}

static void test_hash_changes_with_one_line(void **state)
{
    (void)state;
    ebb_fp_row changed[6];
    memcpy(changed, schema_a, sizeof changed);
    changed[2].detail = "text default ''::text"; /* nullability dropped */
    char *a = canon(schema_a, 6), *b = canon(changed, 6);
    char ha[EBB_FINGERPRINT_HEX], hb[EBB_FINGERPRINT_HEX], he[EBB_FINGERPRINT_HEX];
    ebb_fingerprint_hash(a, ha);
    ebb_fingerprint_hash(b, hb);
    assert_string_not_equal(ha, hb);
    /* BLAKE2b-256 of the empty string (known answer) */
    ebb_fingerprint_hash("", he);
    assert_string_equal(he, "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
    free(a);
    free(b);
}

static void test_rejects_row_without_object(void **state)
{
    (void)state;
    ebb_fp_row bad[] = {{"table", "", NULL}};
    ebb_error err;
    char *out = NULL;
    assert_int_equal(ebb_fingerprint_canonicalize(bad, 1, &out, &err), EBB_E_INVALID);
    assert_null(out);
    /* no rows is a valid (empty) schema */
    assert_int_equal(ebb_fingerprint_canonicalize(NULL, 0, &out, &err), EBB_OK);
    assert_string_equal(out, "");
    free(out);
}

static void test_diff_names_objects(void **state)
{
    (void)state;
    const char *expected = "column public.users.email text not null\n"
                           "column public.users.id integer not null\n"
                           "index public.users_pkey CREATE UNIQUE INDEX users_pkey ON public.users\n"
                           "table public.users\n";
    /* unsorted on purpose; email lost NOT NULL, index gone, a table and column appeared */
    const char *actual = "table public.users\n"
                         "column public.\"new t\".\"a b\" text\n"
                         "column public.users.email text\n"
                         "table public.\"new t\"\n"
                         "column public.users.id integer not null\n";
    ebb_fp_diff d;
    ebb_error err;
    assert_int_equal(ebb_fp_diff_compute(expected, actual, &d, &err), EBB_OK);
    assert_int_equal(d.count, 4);
    assert_string_equal(d.changes[0].object, "column public.\"new t\".\"a b\"");
    assert_int_equal(d.changes[0].kind, EBB_FP_ADDED);
    assert_string_equal(d.changes[1].object, "column public.users.email");
    assert_int_equal(d.changes[1].kind, EBB_FP_CHANGED);
    assert_int_equal(d.changes[1].n_expected, 1);
    assert_string_equal(d.changes[1].expected[0], "column public.users.email text not null");
    assert_string_equal(d.changes[1].actual[0], "column public.users.email text");
    assert_string_equal(d.changes[2].object, "index public.users_pkey");
    assert_int_equal(d.changes[2].kind, EBB_FP_REMOVED);
    assert_string_equal(d.changes[3].object, "table public.\"new t\"");

    char *text = NULL, *names = NULL;
    assert_int_equal(ebb_fp_diff_format(&d, 2, &text, &err), EBB_OK);
    assert_string_equal(text, "added column public.\"new t\".\"a b\": + text\n"
                              "changed column public.users.email: - text not null + text\n"
                              "... and 2 more");
    assert_int_equal(ebb_fp_diff_objects(&d, 0, &names, &err), EBB_OK);
    assert_non_null(strstr(names, "index public.users_pkey (removed)"));
    assert_non_null(strstr(names, "column public.users.email (changed)"));
    free(text);
    free(names);
    ebb_fp_diff_fini(&d);
}

static void test_diff_of_equal_descriptions_is_empty(void **state)
{
    (void)state;
    ebb_fp_diff d;
    ebb_error err;
    assert_int_equal(ebb_fp_diff_compute("b x 1\na y 2\n", "a y 2\n\nb x 1", &d, &err), EBB_OK);
    assert_int_equal(d.count, 0);
    ebb_fp_diff_fini(&d);
    /* one object with two lines where only one changed: one change, one line each side */
    assert_int_equal(ebb_fp_diff_compute("trigger public.t a\ntrigger public.t b\n",
                                         "trigger public.t a\ntrigger public.t c\n", &d, &err),
                     EBB_OK);
    assert_int_equal(d.count, 1);
    assert_int_equal(d.changes[0].n_expected, 1);
    assert_string_equal(d.changes[0].expected[0], "trigger public.t b");
    assert_string_equal(d.changes[0].actual[0], "trigger public.t c");
    ebb_fp_diff_fini(&d);
    /* a function signature with spaces inside its parentheses is one object */
    assert_int_equal(ebb_fp_diff_compute("function public.f(character varying) body 1\n",
                                         "function public.f(character varying) body 2\n", &d,
                                         &err),
                     EBB_OK);
    assert_int_equal(d.count, 1);
    assert_string_equal(d.changes[0].object, "function public.f(character varying)");
    assert_int_equal(d.changes[0].kind, EBB_FP_CHANGED);
    ebb_fp_diff_fini(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical_text_sorted_and_formatted),
        cmocka_unit_test(test_insensitive_to_input_order),
        cmocka_unit_test(test_whitespace_in_definitions_normalised),
        cmocka_unit_test(test_hash_changes_with_one_line),
        cmocka_unit_test(test_rejects_row_without_object),
        cmocka_unit_test(test_diff_names_objects),
        cmocka_unit_test(test_diff_of_equal_descriptions_is_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
