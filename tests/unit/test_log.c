/* Unit tests for logging: secret masking, text and JSON lines, level threshold. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

static int sink[2] = {-1, -1};

static int setup(void **state)
{
    (void)state;
    if (pipe(sink) != 0)
        return -1;
    fcntl(sink[0], F_SETFL, O_NONBLOCK);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    close(sink[0]);
    close(sink[1]);
    ebb_log_init(EBB_LOG_TEXT, EBB_LOG_INFO, 2);
    return 0;
}

/* Everything written to the sink since the last call. */
static char *drain(void)
{
    static char buf[8192];
    ssize_t r = read(sink[0], buf, sizeof buf - 1);
    buf[r > 0 ? r : 0] = '\0';
    return buf;
}

static char *mask(const char *in)
{
    static char out[512];
    size_t n = ebb_mask_secrets(in, out, sizeof out);
    assert_int_equal(n, strlen(out));
    return out;
}

static void test_mask_conninfo_forms(void **state)
{
    (void)state;
    assert_string_equal(mask("host=db1 password=hunter2 user=app"),
                        "host=db1 password=*** user=app");
    assert_string_equal(mask("host=db1 password = 'two words\\' here' port=5"),
                        "host=db1 password = '***' port=5");
    assert_string_equal(mask("password=\"dq secret\" x=1"), "password=\"***\" x=1");
    assert_string_equal(mask("password=last"), "password=***");
    assert_string_equal(mask("PGPASSWORD=s3cr3t psql -h x"), "PGPASSWORD=*** psql -h x");
    assert_string_equal(mask("env DB_Password=abc"), "env DB_Password=***");
    assert_string_equal(mask("{\"password\": \"j\", \"user\": \"u\"}"),
                        "{\"password\": \"***\", \"user\": \"u\"}");
    /* The word alone is no secret. */
    assert_string_equal(mask("password authentication failed for user \"app\""),
                        "password authentication failed for user \"app\"");
    assert_string_equal(mask("password="), "password=");
}

static void test_mask_uris(void **state)
{
    (void)state;
    assert_string_equal(mask("connect postgresql://app:hunter2@db1:5432/orders failed"),
                        "connect postgresql://app:***@db1:5432/orders failed");
    assert_string_equal(mask("postgres://u:p%40ss@h/d"), "postgres://u:***@h/d");
    assert_string_equal(mask("http://admin:pw@health.local/check"),
                        "http://admin:***@health.local/check");
    /* No password in the URI: unchanged. */
    assert_string_equal(mask("postgresql://app@db1/orders"), "postgresql://app@db1/orders");
    assert_string_equal(mask("http://host:8080/path?q=1"), "http://host:8080/path?q=1");
    assert_string_equal(mask("postgresql://db1/x?password=qs&sslmode=require"),
                        "postgresql://db1/x?password=***");
    assert_string_equal(mask("trailing ://"), "trailing ://");
}

static void test_mask_bounds(void **state)
{
    (void)state;
    char small[8];
    size_t n = ebb_mask_secrets("password=abcdef tail", small, sizeof small);
    assert_int_equal(n, strlen("password=*** tail"));
    assert_string_equal(small, "passwor");
    assert_int_equal(ebb_mask_secrets("abc", NULL, 0), 3);
    char *d = ebb_mask_secrets_dup("user=a password=b");
    assert_string_equal(d, "user=a password=***");
    free(d);
}

static void test_text_format(void **state)
{
    (void)state;
    ebb_log_init(EBB_LOG_TEXT, EBB_LOG_DEBUG, sink[1]);
    ebb_log(EBB_LOG_INFO, "agent", "connected to %s in %d ms", "host=db password=pw", 12);
    char *line = drain();
    /* 2026-11-22T03:40:00.123Z info agent: ... */
    assert_true(strlen(line) > 25);
    assert_int_equal(line[4], '-');
    assert_int_equal(line[10], 'T');
    assert_int_equal(line[19], '.');
    assert_int_equal(line[23], 'Z');
    assert_string_equal(line + 24, " info agent: connected to host=db password=*** in 12 ms\n");

    const char *kv[] = {"run",  "r-1", "conninfo",        "host=x password='a b'",
                        "note", "",    "secret_password", "plain",
                        NULL};
    ebb_log_kv(EBB_LOG_WARN, "rollout", kv, "two\nlines");
    line = drain();
    assert_string_equal(line + 24, " warn rollout: two\\nlines run=r-1 conninfo=\"host=x "
                                   "password='***'\" note=\"\" secret_password=***\n");

    const char *kvnull[] = {"k", NULL};
    ebb_log_kv(EBB_LOG_ERROR, NULL, kvnull, "x");
    line = drain();
    assert_string_equal(line + 24, " error ebb: x k=-\n");
}

static void test_json_format(void **state)
{
    (void)state;
    ebb_log_init(EBB_LOG_JSON, EBB_LOG_DEBUG, sink[1]);
    const char *kv[] = {"host",     "db1", "dsn", "postgresql://a:b@c/d", "level", "spoof",
                        "password", "x",   NULL};
    ebb_log_kv(EBB_LOG_DEBUG, "engine", kv, "step %d \"quoted\" PGPASSWORD=zz", 3);
    char *line = drain();
    size_t len = strlen(line);
    assert_true(len > 0);
    assert_int_equal(line[len - 1], '\n');
    assert_null(strchr(line, '\n') != line + len - 1 ? line : NULL);
    json_error_t jerr;
    json_t *o = json_loads(line, 0, &jerr);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "level")), "debug");
    assert_string_equal(json_string_value(json_object_get(o, "component")), "engine");
    assert_string_equal(json_string_value(json_object_get(o, "msg")),
                        "step 3 \"quoted\" PGPASSWORD=***");
    assert_string_equal(json_string_value(json_object_get(o, "host")), "db1");
    assert_string_equal(json_string_value(json_object_get(o, "dsn")), "postgresql://a:***@c/d");
    assert_string_equal(json_string_value(json_object_get(o, "password")), "***");
    const char *ts = json_string_value(json_object_get(o, "ts"));
    assert_non_null(ts);
    assert_int_equal(strlen(ts), 24);
    assert_int_equal(ts[23], 'Z');
    json_decref(o);

    /* Bytes that are not UTF-8 do not lose the line; a NULL value is null. */
    const char *kvnull[] = {"gone", NULL};
    ebb_log_kv(EBB_LOG_INFO, "x", kvnull, "bad \xff byte");
    line = drain();
    o = json_loads(line, 0, &jerr);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "msg")), "bad ? byte");
    assert_true(json_is_null(json_object_get(o, "gone")));
    json_decref(o);
}

static void test_threshold_and_levels(void **state)
{
    (void)state;
    ebb_log_init(EBB_LOG_TEXT, EBB_LOG_WARN, sink[1]);
    assert_false(ebb_log_enabled(EBB_LOG_INFO));
    assert_true(ebb_log_enabled(EBB_LOG_ERROR));
    ebb_log(EBB_LOG_DEBUG, "a", "no");
    ebb_log(EBB_LOG_INFO, "a", "no");
    assert_string_equal(drain(), "");
    ebb_log(EBB_LOG_WARN, "a", "yes");
    assert_non_null(strstr(drain(), " warn a: yes\n"));

    ebb_log_level lv = EBB_LOG_INFO;
    ebb_error err;
    assert_int_equal(ebb_log_level_parse("DEBUG", &lv, &err), EBB_OK);
    assert_int_equal(lv, EBB_LOG_DEBUG);
    assert_int_equal(ebb_log_level_parse("warning", &lv, &err), EBB_OK);
    assert_int_equal(lv, EBB_LOG_WARN);
    assert_int_equal(ebb_log_level_parse("error", &lv, &err), EBB_OK);
    assert_int_equal(lv, EBB_LOG_ERROR);
    assert_int_equal(ebb_log_level_parse("loud", &lv, &err), EBB_E_INVALID);
    assert_int_equal(lv, EBB_LOG_ERROR);
    assert_non_null(strstr(err.msg, "\"loud\""));
    assert_string_equal(ebb_log_level_name(EBB_LOG_INFO), "info");
    assert_string_equal(ebb_log_level_name((ebb_log_level)9), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mask_conninfo_forms), cmocka_unit_test(test_mask_uris),
        cmocka_unit_test(test_mask_bounds),         cmocka_unit_test(test_text_format),
        cmocka_unit_test(test_json_format),         cmocka_unit_test(test_threshold_and_levels),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
