/* Unit tests for the nng wire layer: calls, deferred replies, limits, timeouts, shutdown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/wire.h"
#include "tests/support/tmpdir.h"

static char dir[PATH_MAX];
static int url_counter;

static int setup(void **state)
{
    (void)state;
    return ebb_test_tmpdir_make("ebb-wire", dir, sizeof dir);
}

static int teardown(void **state)
{
    (void)state;
    return ebb_test_tmpdir_remove(dir);
}

static void next_url(char *buf, size_t size)
{
    snprintf(buf, size, "ipc://%s/s%d.ipc", dir, ++url_counter);
}

/* Handler state: echo "re:" + request, or park the request for a later reply. */
struct server_state {
    pthread_mutex_t mutex;
    int handled;
    bool defer;
    ebb_wire_request *parked;
    ebb_code second_reply; /* result of replying twice */
};

static void handler(void *ctx, ebb_wire_request *req, const uint8_t *data, size_t len)
{
    struct server_state *s = ctx;
    pthread_mutex_lock(&s->mutex);
    s->handled++;
    bool defer = s->defer;
    if (defer)
        s->parked = req;
    pthread_mutex_unlock(&s->mutex);
    if (defer)
        return;
    uint8_t *out = malloc(len + 3);
    memcpy(out, "re:", 3);
    memcpy(out + 3, data, len);
    ebb_code rc = ebb_wire_reply(req, out, len + 3, NULL);
    assert_int_equal(rc, EBB_OK);
    /* A second reply to the same request is refused, not sent. */
    ebb_code again = ebb_wire_reply(req, out, len + 3, NULL);
    pthread_mutex_lock(&s->mutex);
    s->second_reply = again;
    pthread_mutex_unlock(&s->mutex);
    free(out);
}

static void call_ok(ebb_wire_client *c, const char *text)
{
    uint8_t *reply = NULL;
    size_t len = 0;
    ebb_error err;
    ebb_code rc =
        ebb_wire_client_call(c, (const uint8_t *)text, strlen(text), 5000, &reply, &len, &err);
    if (rc != EBB_OK)
        fail_msg("call: %s", err.msg);
    char want[256];
    snprintf(want, sizeof want, "re:%s", text);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(reply, want, len);
    free(reply);
}

static void test_call_and_reply(void **state)
{
    (void)state;
    char url[PATH_MAX];
    next_url(url, sizeof url);
    struct server_state s = {.mutex = PTHREAD_MUTEX_INITIALIZER};
    /* The client comes first: its dial waits for the server to appear. */
    ebb_wire_client *c = NULL;
    ebb_wire_client_opts copts = {.reconnect_min_ms = 10, .reconnect_max_ms = 50};
    assert_int_equal(ebb_wire_client_open(url, &copts, &c, NULL), EBB_OK);
    ebb_wire_server *srv = NULL;
    ebb_wire_server_opts sopts = {.contexts = 4};
    assert_int_equal(ebb_wire_server_open(url, &sopts, handler, &s, &srv, NULL), EBB_OK);
    for (int i = 0; i < 20; i++) {
        char text[32];
        snprintf(text, sizeof text, "ping %d", i);
        call_ok(c, text);
    }
    assert_int_equal(s.handled, 20);
    assert_int_equal(s.second_reply, EBB_E_CONFLICT);
    ebb_wire_client_close(c);
    ebb_wire_server_close(srv);
}

struct caller {
    ebb_wire_client *c;
    int index;
};

static void *call_many(void *arg)
{
    struct caller *k = arg;
    for (int i = 0; i < 25; i++) {
        char text[32];
        snprintf(text, sizeof text, "t%d-%d", k->index, i);
        call_ok(k->c, text);
    }
    return NULL;
}

static void test_concurrent_calls(void **state)
{
    (void)state;
    char url[PATH_MAX];
    next_url(url, sizeof url);
    struct server_state s = {.mutex = PTHREAD_MUTEX_INITIALIZER};
    ebb_wire_server *srv = NULL;
    assert_int_equal(ebb_wire_server_open(url, NULL, handler, &s, &srv, NULL), EBB_OK);
    ebb_wire_client *c = NULL;
    assert_int_equal(ebb_wire_client_open(url, NULL, &c, NULL), EBB_OK);
    pthread_t t[6];
    struct caller k[6];
    for (int i = 0; i < 6; i++) {
        k[i] = (struct caller){c, i};
        assert_int_equal(pthread_create(&t[i], NULL, call_many, &k[i]), 0);
    }
    for (int i = 0; i < 6; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(s.handled, 150);
    ebb_wire_client_close(c);
    ebb_wire_server_close(srv);
}

static void *late_reply(void *arg)
{
    struct server_state *s = arg;
    ebb_wire_request *req = NULL;
    for (int i = 0; i < 500 && req == NULL; i++) {
        pthread_mutex_lock(&s->mutex);
        req = s->parked;
        pthread_mutex_unlock(&s->mutex);
        if (req == NULL)
            nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    if (req != NULL) {
        nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
        ebb_code rc = ebb_wire_reply(req, (const uint8_t *)"later", 5, NULL);
        assert_int_equal(rc, EBB_OK);
    }
    return NULL;
}

static void test_deferred_reply_from_another_thread(void **state)
{
    (void)state;
    char url[PATH_MAX];
    next_url(url, sizeof url);
    struct server_state s = {.mutex = PTHREAD_MUTEX_INITIALIZER, .defer = true};
    ebb_wire_server *srv = NULL;
    assert_int_equal(ebb_wire_server_open(url, NULL, handler, &s, &srv, NULL), EBB_OK);
    ebb_wire_client *c = NULL;
    assert_int_equal(ebb_wire_client_open(url, NULL, &c, NULL), EBB_OK);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, late_reply, &s), 0);
    uint8_t *reply = NULL;
    size_t len = 0;
    assert_int_equal(ebb_wire_client_call(c, (const uint8_t *)"poll", 4, 5000, &reply, &len, NULL),
                     EBB_OK);
    pthread_join(t, NULL);
    assert_int_equal(len, 5);
    assert_memory_equal(reply, "later", 5);
    free(reply);
    ebb_wire_client_close(c);
    ebb_wire_server_close(srv);
}

static void test_timeout_and_close_with_pending_request(void **state)
{
    (void)state;
    char url[PATH_MAX];
    next_url(url, sizeof url);
    struct server_state s = {.mutex = PTHREAD_MUTEX_INITIALIZER, .defer = true};
    ebb_wire_server *srv = NULL;
    assert_int_equal(ebb_wire_server_open(url, NULL, handler, &s, &srv, NULL), EBB_OK);
    ebb_wire_client *c = NULL;
    assert_int_equal(ebb_wire_client_open(url, NULL, &c, NULL), EBB_OK);
    uint8_t *reply = NULL;
    size_t len = 0;
    ebb_error err;
    assert_int_equal(ebb_wire_client_call(c, (const uint8_t *)"x", 1, 300, &reply, &len, &err),
                     EBB_E_TIMEOUT);
    assert_non_null(strstr(err.msg, "may have been delivered"));
    assert_null(reply);
    pthread_mutex_lock(&s.mutex);
    int handled = s.handled;
    ebb_wire_request *parked = s.parked;
    pthread_mutex_unlock(&s.mutex);
    assert_int_equal(handled, 1); /* delivered once: no resend */
    assert_non_null(parked);
    /* Closing drops the parked request (no leak, no crash). */
    ebb_wire_client_close(c);
    ebb_wire_server_close(srv);
}

static void test_oversized_message_dropped_server_survives(void **state)
{
    (void)state;
    char url[PATH_MAX];
    next_url(url, sizeof url);
    struct server_state s = {.mutex = PTHREAD_MUTEX_INITIALIZER};
    ebb_wire_server *srv = NULL;
    ebb_wire_server_opts sopts = {.recv_max = 1024, .contexts = 2};
    assert_int_equal(ebb_wire_server_open(url, &sopts, handler, &s, &srv, NULL), EBB_OK);
    ebb_wire_client *c = NULL;
    ebb_wire_client_opts copts = {.reconnect_min_ms = 10, .reconnect_max_ms = 50};
    assert_int_equal(ebb_wire_client_open(url, &copts, &c, NULL), EBB_OK);
    call_ok(c, "small");
    uint8_t big[2048];
    memset(big, 'b', sizeof big);
    uint8_t *reply = NULL;
    size_t len = 0;
    ebb_error err;
    ebb_code rc = ebb_wire_client_call(c, big, sizeof big, 500, &reply, &len, &err);
    /* nng drops the connection: the pending request fails (no resend), or times out. */
    if (rc != EBB_E_NET && rc != EBB_E_TIMEOUT)
        fail_msg("oversized call: %s: %s", ebb_code_name(rc), err.msg);
    assert_null(reply);
    assert_int_equal(s.handled, 1); /* never handed to the handler */
    call_ok(c, "still alive");      /* the client reconnects, the server still serves */
    assert_int_equal(s.handled, 2);
    ebb_wire_client_close(c);
    ebb_wire_server_close(srv);
}

static void test_bad_urls(void **state)
{
    (void)state;
    struct server_state s = {.mutex = PTHREAD_MUTEX_INITIALIZER};
    ebb_wire_server *srv = NULL;
    ebb_wire_client *c = NULL;
    ebb_error err;
    assert_int_equal(ebb_wire_server_open("nope://x", NULL, handler, &s, &srv, &err), EBB_E_NET);
    assert_non_null(strstr(err.msg, "nope://x"));
    assert_null(srv);
    assert_int_equal(ebb_wire_client_open("nope://x", NULL, &c, &err), EBB_E_NET);
    assert_null(c);
    /* Two servers on one address: the second cannot listen. */
    char url[PATH_MAX];
    next_url(url, sizeof url);
    assert_int_equal(ebb_wire_server_open(url, NULL, handler, &s, &srv, NULL), EBB_OK);
    ebb_wire_server *second = NULL;
    assert_int_equal(ebb_wire_server_open(url, NULL, handler, &s, &second, &err), EBB_E_NET);
    assert_null(second);
    ebb_wire_server_close(srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_call_and_reply),
        cmocka_unit_test(test_concurrent_calls),
        cmocka_unit_test(test_deferred_reply_from_another_thread),
        cmocka_unit_test(test_timeout_and_close_with_pending_request),
        cmocka_unit_test(test_oversized_message_dropped_server_survives),
        cmocka_unit_test(test_bad_urls),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
