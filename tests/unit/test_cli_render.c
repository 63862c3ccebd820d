/* Unit tests for the ebb CLI's tables: agents, status, runs, a run, prechecks, from the operator
 * API's JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/exit_codes.h"
#include "coordinator/cli_render.h"

#define NOW 1700000600000LL /* 10 minutes after 1700000000000 */

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (j == NULL)
        fail_msg("fixture JSON line %d: %s", e.line, e.text);
    return j;
}

/* Render with fn into a string (caller frees). */
#define RENDER(call)                                                                               \
    ({                                                                                             \
        char *buf_ = NULL;                                                                         \
        size_t len_ = 0;                                                                           \
        FILE *out = open_memstream(&buf_, &len_);                                                  \
        assert_non_null(out);                                                                      \
        call;                                                                                      \
        fclose(out);                                                                               \
        buf_;                                                                                      \
    })

static const char *const AGENTS =
    "{\"agents\":["
    "{\"id\":\"dev-1\",\"key_id\":\"0011223344556677\",\"state\":\"accepted\","
    "\"environment\":\"dev\",\"alive\":true,\"last_seen_ms\":1700000598000,"
    "\"databases\":[{\"name\":\"app\",\"current\":[\"4\"],\"drift\":false},"
    "{\"name\":\"crm\",\"current\":[],\"drift\":true}]},"
    "{\"id\":\"new-9\",\"key_id\":\"8899aabbccddeeff\",\"state\":\"pending\","
    "\"last_seen_ms\":1700000000000,\"databases\":[]}]}";

static void test_agents(void **state)
{
    (void)state;
    json_t *j = parse(AGENTS);
    char *s = RENDER(ebb_cli_render_agents(j, NOW, out));
    assert_string_equal(
        s, "AGENT  STATE     ENVIRONMENT  KEY               ALIVE  LAST SEEN   DATABASES\n"
           "dev-1  accepted  dev          0011223344556677  yes    2s ago      app@4, crm@base "
           "(drift)\n"
           "new-9  pending   -            8899aabbccddeeff  -      10m00s ago  -\n");
    free(s);
    json_decref(j);
    json_t *empty = parse("{\"agents\":[]}");
    s = RENDER(ebb_cli_render_agents(empty, NOW, out));
    assert_string_equal(s, "no agents\n");
    free(s);
    json_decref(empty);
}

static const char *const RUN =
    "{\"run_id\":\"r-7\",\"kind\":\"rollback\",\"environment\":\"prod\",\"target\":\"2\","
    "\"state\":\"awaiting_approval\",\"requester\":\"aaaa\",\"requester_name\":\"alice\","
    "\"reason\":\"INC-1\",\"created_ms\":1700000540000,\"wave\":1,\"waves\":2,"
    "\"hosts_total\":2,\"hosts_done\":0,\"hosts_failed\":0,\"approvals_needed\":1,"
    "\"approvers\":[],\"over\":false}";

static void test_runs(void **state)
{
    (void)state;
    char text[2048];
    snprintf(text, sizeof text,
             "{\"runs\":[%s,{\"run_id\":\"r-6\",\"kind\":\"rollout\",\"environment\":\"staging\","
             "\"target\":\"4\",\"state\":\"halted\",\"requester\":\"bbbb\",\"created_ms\":"
             "1700000000000,\"hosts_total\":2,\"hosts_done\":1,\"hosts_failed\":1}]}",
             RUN);
    json_t *j = parse(text);
    char *s = RENDER(ebb_cli_render_runs(j, NOW, out));
    assert_string_equal(s, "RUN  KIND      ENV      TARGET  STATE              HOSTS           "
                           "REQUESTER  CREATED\n"
                           "r-7  rollback  prod     2       awaiting_approval  0/2             "
                           "alice      1m00s ago\n"
                           "r-6  rollout   staging  4       halted             1/2 (1 failed)  "
                           "bbbb       10m00s ago\n");
    free(s);
    json_decref(j);
}

static void test_run_detail(void **state)
{
    (void)state;
    json_t *run = parse(RUN);
    json_t *hosts = parse("[{\"host\":\"prod-1\",\"database\":\"app\",\"wave\":1,"
                          "\"state\":\"done\",\"step\":\"health\",\"from\":\"4\",\"to\":\"2\"},"
                          "{\"host\":\"prod-2\",\"database\":\"app\",\"wave\":2,"
                          "\"state\":\"failed\",\"job\":\"migrate\",\"from\":\"4\",\"to\":\"2\","
                          "\"error\":\"view does not exist\"}]");
    json_t *log = parse("[{\"ts_ms\":1700000000000,\"host\":\"prod-1\",\"database\":\"app\","
                        "\"step\":\"backup\",\"outcome\":\"succeeded\"},"
                        "{\"ts_ms\":1700000001000,\"host\":\"prod-2\",\"database\":\"app\","
                        "\"step\":\"migrate\",\"outcome\":\"failed\",\"error\":\"boom\"}]");
    json_object_set_new(run, "hosts", hosts);
    json_object_set_new(run, "log", log);
    json_object_set_new(run, "approvers", parse("[\"bob\"]"));
    char *s = RENDER(ebb_cli_render_run_detail(run, NOW, 1, out));
    assert_string_equal(s,
                        "run r-7: rollback of prod to 2, awaiting_approval\n"
                        "  requested by alice 1m00s ago, reason: INC-1\n"
                        "  hosts: 0/2, wave 1 of 2\n"
                        "  approvals: 1 of 1 by bob\n"
                        "\n"
                        "  HOST    DATABASE  WAVE  STATE   STEP     FROM  TO  ERROR\n"
                        "  prod-1  app       1     done    health   4     2   -\n"
                        "  prod-2  app       2     failed  migrate  4     2   view does not exist\n"
                        "\n"
                        "  recent steps:\n"
                        "    2023-11-14 22:13:21Z  prod-2/app  migrate  failed: boom\n");
    free(s);
    json_decref(run);
}

static void test_status(void **state)
{
    (void)state;
    char text[4096];
    snprintf(
        text, sizeof text,
        "{\"environments\":[{\"name\":\"dev\",\"order\":0,\"policy\":{\"approvals\":0,"
        "\"require_backup\":true},\"hosts\":[{\"id\":\"dev-1\",\"alive\":true,"
        "\"last_seen_ms\":1700000599000,\"databases\":[{\"name\":\"app\",\"current\":[\"4\"]}]}]},"
        "{\"name\":\"prod\",\"order\":2,\"policy\":{\"approvals\":1,\"forward_only\":true,"
        "\"promote_from\":\"staging\"},\"hosts\":[{\"id\":\"prod-1\",\"alive\":false,"
        "\"databases\":[{\"name\":\"app\",\"current\":[\"2\"],\"drift\":true,"
        "\"error\":\"connection refused\"}]}]}],"
        "\"pending\":[{\"id\":\"new-9\",\"key_id\":\"8899aabbccddeeff\"}],\"runs\":[%s]}",
        RUN);
    json_t *st = parse(text);
    json_t *runs = parse("{\"runs\":[{\"run_id\":\"r-5\",\"kind\":\"rollout\",\"environment\":"
                         "\"dev\",\"state\":\"succeeded\",\"created_ms\":1700000000000,"
                         "\"ended_ms\":1700000300000}]}");
    char *s = RENDER(ebb_cli_render_status(st, runs, NOW, out));
    const char *expect =
        "environment dev\n"
        "  policy: approvals 0, backup required\n"
        "  last run: r-5 rollout succeeded (5m00s ago)\n"
        "  HOST   DATABASE  REVISION  DRIFT  ALIVE  LAST SEEN  LAST RUN\n"
        "  dev-1  app       4         no     yes    1s ago     r-5 rollout succeeded (5m00s ago)\n"
        "\n"
        "environment prod\n"
        "  policy: approvals 1, forward-only, promoted from staging\n"
        "  last run: -\n"
        "  HOST    DATABASE  REVISION                DRIFT  ALIVE  LAST SEEN  LAST RUN\n"
        "  prod-1  app       2 ! connection refused  DRIFT  no     -          -\n"
        "\n"
        "pending agents (accept with: ebb agents accept ID --env ENV):\n"
        "  new-9  key 8899aabbccddeeff\n"
        "\n"
        "runs in progress:\n"
        "RUN  KIND      ENV   TARGET  STATE              HOSTS  REQUESTER  CREATED\n"
        "r-7  rollback  prod  2       awaiting_approval  0/2    alice      1m00s ago\n";
    assert_string_equal(s, expect);
    free(s);
    json_decref(st);
    json_decref(runs);
}

static void test_prechecks(void **state)
{
    (void)state;
    json_t *j = parse(
        "{\"prechecks\":["
        "{\"host\":\"p1\",\"database\":\"app\",\"outcome\":\"succeeded\",\"ok\":true,"
        "\"report\":{\"risk\":{\"worst\":\"high\",\"rows_at_risk\":120,\"certain_failures\":0,"
        "\"items\":[{\"file\":\"3_drop.down.sql\",\"line\":2,\"kind\":\"DROP COLUMN\","
        "\"level\":\"high\",\"reason\":\"drops accounts.email\",\"data_at_risk\":true}]}}},"
        "{\"host\":\"p2\",\"database\":\"app\",\"outcome\":\"failed\",\"ok\":false,"
        "\"error\":\"long transaction holds a lock\",\"report\":{\"worst\":\"none\","
        "\"rows_at_risk\":0,\"certain_failures\":1}},"
        "{\"host\":\"p3\",\"database\":\"app\"}]}");
    char *s = RENDER(ebb_cli_render_prechecks(j, out));
    assert_string_equal(
        s, "prechecks (3):\n"
           "  p1/app: ok, risk high, 120 rows at risk\n"
           "      3_drop.down.sql:2 DROP COLUMN high: drops accounts.email [data at risk]\n"
           "  p2/app: failed, risk none, 0 rows at risk: long transaction holds a lock\n"
           "  p3/app: no answer\n"
           "fleet: 3 checked, 1 failed, 1 unanswered; 1 with data at risk, 120 rows "
           "would be lost; 1 certain failures\n");
    free(s);
    json_decref(j);
}

static void test_missing_fields(void **state)
{
    (void)state;
    /* a reply with less than documented still renders, with "-" */
    json_t *j = parse("{\"runs\":[{}]}");
    char *s = RENDER(ebb_cli_render_runs(j, NOW, out));
    assert_non_null(strstr(s, "\n-    -     -    -       -      0/0    -          -\n"));
    free(s);
    json_decref(j);
    json_t *o = parse("{}");
    s = RENDER(ebb_cli_render_run_detail(o, NOW, 5, out));
    assert_non_null(strstr(s, "run ?:"));
    free(s);
    s = RENDER(ebb_cli_render_status(o, NULL, NOW, out));
    assert_string_equal(s, "");
    free(s);
    json_decref(o);
}

static void test_durations_and_states(void **state)
{
    (void)state;
    char b[32];
    assert_string_equal(ebb_cli_duration(-1, b, sizeof b), "-");
    assert_string_equal(ebb_cli_duration(59999, b, sizeof b), "59s");
    assert_string_equal(ebb_cli_duration(61000, b, sizeof b), "1m01s");
    assert_string_equal(ebb_cli_duration(3 * 3600000 + 300000, b, sizeof b), "3h05m");
    assert_string_equal(ebb_cli_duration(2 * 86400000LL + 3600000, b, sizeof b), "2d01h");
    assert_true(ebb_cli_run_state_final("compensated"));
    assert_false(ebb_cli_run_state_final("halted"));
    assert_false(ebb_cli_run_state_final(NULL));
    assert_int_equal(ebb_cli_run_state_exit("succeeded"), EBB_EXIT_OK);
    assert_int_equal(ebb_cli_run_state_exit("compensated"), EBB_EXIT_RESTORED);
    assert_int_equal(ebb_cli_run_state_exit("failed"), EBB_EXIT_FAILURE);
    assert_int_equal(ebb_cli_run_state_exit("halted"), EBB_EXIT_FAILURE);
    assert_int_equal(ebb_cli_run_state_exit("running"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agents),
        cmocka_unit_test(test_runs),
        cmocka_unit_test(test_run_detail),
        cmocka_unit_test(test_status),
        cmocka_unit_test(test_prechecks),
        cmocka_unit_test(test_missing_fields),
        cmocka_unit_test(test_durations_and_states),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
