/* Unit tests for the agent daemon's wire boundary: command checks, conversions, backoff,
 * proto_util. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "agent/daemon.h"
#include "common/keyring.h"
#include "common/proto_util.h"

static Ebb__JobCommand command(const char *job, const char *run, Ebb__JobAction action,
                               const char *db)
{
    Ebb__JobCommand jc = EBB__JOB_COMMAND__INIT;
    jc.job_id = (char *)job;
    jc.run_id = (char *)run;
    jc.action = action;
    jc.database = (char *)db;
    return jc;
}

static void test_cmd_valid_is_borrowed_view(void **state)
{
    (void)state;
    Ebb__JobCommand jc = command("j1", "r1", EBB__JOB_ACTION__ACTION_MIGRATE, "app");
    jc.target = "-1";
    jc.has_prepare = true;
    jc.prepare = true;
    jc.has_timeout_ms = true;
    jc.timeout_ms = 5000;
    jc.operator_key_id = "0011223344556677";
    ebb_job_cmd c;
    assert_int_equal(ebb_daemon_cmd_from_proto(&jc, &c, NULL), EBB_OK);
    assert_ptr_equal(c.job_id, jc.job_id);
    assert_int_equal(c.action, EBB_JOB_MIGRATE);
    assert_string_equal(c.target, "-1");
    assert_true(c.prepare);
    assert_false(c.accept_data_loss);
    assert_int_equal(c.timeout_ms, 5000);
    assert_string_equal(c.operator_name, "0011223344556677");
}

static void test_cmd_invalid(void **state)
{
    (void)state;
    ebb_job_cmd c;
    memset(&c, 0x5a, sizeof c);
    ebb_job_cmd before = c;
    ebb_error err;
    struct {
        Ebb__JobCommand jc;
        const char *needle;
    } cases[] = {
        {command("", "r", EBB__JOB_ACTION__ACTION_INSPECT, "app"), "job id"},
        {command("j 1", "r", EBB__JOB_ACTION__ACTION_INSPECT, "app"), "job id"},
        {command("j\n", "r", EBB__JOB_ACTION__ACTION_INSPECT, "app"), "job id"},
        {command("j", "", EBB__JOB_ACTION__ACTION_INSPECT, "app"), "run id"},
        {command("j", "r", EBB__JOB_ACTION__ACTION_NONE, "app"), "unknown action"},
        {command("j", "r", (Ebb__JobAction)99, "app"), "unknown action"},
        {command("j", "r", EBB__JOB_ACTION__ACTION_MIGRATE, NULL), "without a database"},
        {command("j", "r", EBB__JOB_ACTION__ACTION_MIGRATE, ""), "without a database"},
        {command("j", "r", EBB__JOB_ACTION__ACTION_CANCEL, NULL), "cancel_job_id"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(ebb_daemon_cmd_from_proto(&cases[i].jc, &c, &err), EBB_E_INVALID);
        assert_non_null(strstr(err.msg, cases[i].needle));
        assert_memory_equal(&c, &before, sizeof c); /* out untouched on failure */
    }
    char long_id[EBB_JOB_ID_MAX + 1];
    memset(long_id, 'a', EBB_JOB_ID_MAX);
    long_id[EBB_JOB_ID_MAX] = '\0';
    Ebb__JobCommand jc = command(long_id, "r", EBB__JOB_ACTION__ACTION_INSPECT, "app");
    assert_int_equal(ebb_daemon_cmd_from_proto(&jc, &c, NULL), EBB_E_INVALID);
    long_id[EBB_JOB_ID_MAX - 1] = '\0'; /* the longest allowed */
    assert_int_equal(ebb_daemon_cmd_from_proto(&jc, &c, NULL), EBB_OK);
    /* cancel needs no database */
    jc = command("j", "r", EBB__JOB_ACTION__ACTION_CANCEL, NULL);
    jc.cancel_job_id = "other";
    assert_int_equal(ebb_daemon_cmd_from_proto(&jc, &c, NULL), EBB_OK);
    assert_int_equal(c.action, EBB_JOB_CANCEL);
}

static void test_actions_map_both_ways(void **state)
{
    (void)state;
    for (int a = 1; a < EBB_JOB__COUNT; a++) {
        Ebb__JobAction w = ebb_daemon_action_to_proto((ebb_job_action)a);
        assert_int_not_equal(w, EBB__JOB_ACTION__ACTION_NONE);
        assert_int_equal(ebb_daemon_action_from_proto(w), a);
        /* the names agree between the agent and the wire */
        assert_string_equal(ebb_proto_action_name(w), ebb_job_action_name((ebb_job_action)a));
        Ebb__JobAction parsed;
        assert_int_equal(
            ebb_proto_action_parse(ebb_job_action_name((ebb_job_action)a), &parsed, NULL), EBB_OK);
        assert_int_equal(parsed, w);
    }
    Ebb__JobAction parsed = EBB__JOB_ACTION__ACTION_HEALTH;
    assert_int_equal(ebb_proto_action_parse("drop_everything", &parsed, NULL), EBB_E_INVALID);
    assert_int_equal(ebb_proto_action_parse("none", &parsed, NULL), EBB_E_INVALID);
    assert_int_equal(parsed, EBB__JOB_ACTION__ACTION_HEALTH);
    assert_int_equal(ebb_daemon_action_from_proto((Ebb__JobAction)77), EBB_JOB_NONE);
}

static void test_result_roundtrip(void **state)
{
    (void)state;
    char *before[] = {"2"}, *after[] = {"1"};
    ebb_job_result r = {0};
    r.job_id = "j9";
    r.run_id = "run-3";
    r.outcome = EBB_JOB_FAILED;
    r.action = EBB_JOB_MIGRATE;
    r.database = "app";
    r.revisions_before = before;
    r.n_before = 1;
    r.revisions_after = after;
    r.n_after = 1;
    r.error_code = EBB_E_PG;
    r.error_message = "duplicate key";
    memcpy(r.sqlstate, "23505", 6);
    r.started_at_ms = 10;
    r.finished_at_ms = 20;
    r.report_json = "{\"steps\":1}";
    r.from_journal = true;
    Ebb__JobResult jr;
    ebb_daemon_result_to_proto(&r, "agent-1", &jr);
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(ebb_proto_pack(&jr.base, &buf, &len, NULL), EBB_OK);
    ProtobufCMessage *m = NULL;
    assert_int_equal(ebb_proto_unpack(&ebb__job_result__descriptor, buf, len, "t", &m, NULL),
                     EBB_OK);
    const Ebb__JobResult *u = (const Ebb__JobResult *)m;
    assert_string_equal(u->job_id, "j9");
    assert_int_equal(u->outcome, EBB__JOB_OUTCOME__OUTCOME_FAILED);
    assert_int_equal(u->action, EBB__JOB_ACTION__ACTION_MIGRATE);
    assert_string_equal(u->revisions_before[0], "2");
    assert_string_equal(u->revisions_after[0], "1");
    assert_string_equal(u->error_code, ebb_code_name(EBB_E_PG));
    assert_string_equal(u->sqlstate, "23505");
    assert_string_equal(u->agent_id, "agent-1");
    assert_true(u->has_resent && u->resent);
    assert_int_equal(u->finished_at_ms, 20);
    json_t *j = ebb_proto_result_json(u);
    assert_string_equal(json_string_value(json_object_get(j, "outcome")), "failed");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "report"), "steps")), 1);
    json_decref(j);
    protobuf_c_message_free_unpacked(m, NULL);
    free(buf);

    /* a success has no error fields on the wire */
    ebb_job_result ok = {0};
    ok.job_id = "j";
    ok.run_id = "r";
    ok.outcome = EBB_JOB_SUCCEEDED;
    ebb_daemon_result_to_proto(&ok, "a", &jr);
    assert_null(jr.error_code);
    assert_null(jr.sqlstate);
    assert_false(jr.has_action);
    assert_false(jr.has_started_at_ms);
    assert_false(jr.has_resent);
}

static void test_graph_view(void **state)
{
    (void)state;
    /* 1 <- 2 <- 3, and 4 a second child of 1 (a branch) */
    size_t p1[] = {0}, p2[] = {1};
    ebb_revision revs[4];
    memset(revs, 0, sizeof revs);
    char *ids[] = {"1", "2", "3", "4"};
    for (int i = 0; i < 4; i++)
        revs[i].id = ids[i];
    revs[1].parents = p1, revs[1].n_parents = 1;
    revs[2].parents = p2, revs[2].n_parents = 1;
    revs[3].parents = p1, revs[3].n_parents = 1;
    strcpy(revs[1].up.checksum, "abcd");
    revs[3].up.no_transaction = true;
    /* scripts: 1 up creates, down drops a table; 2 has no down; 3's down is irreversible;
     * 4's down cannot run in a transaction and calls a function */
    revs[0].up.sql = "CREATE TABLE t (id int);";
    revs[0].down.sql = "DROP TABLE t;";
    revs[1].up.sql = "DELETE FROM t;";
    revs[2].up.sql = "ALTER TABLE t ADD COLUMN c int;";
    revs[2].down.sql = "-- ebb:irreversible";
    revs[2].down.irreversible = true;
    revs[3].up.sql = "CREATE INDEX CONCURRENTLY i ON t (id);";
    revs[3].down.sql = "SELECT do_something();";
    revs[3].down.no_transaction = true;
    ebb_graph g;
    memset(&g, 0, sizeof g);
    g.revs = revs;
    g.count = 4;
    char *current[] = {"2"};
    ebb_daemon_graph_view v;
    assert_int_equal(ebb_daemon_graph_view_init(&v, &g, current, 1, NULL), EBB_OK);
    assert_int_equal(v.count, 4);
    assert_true(v.ptrs[0]->applied);  /* ancestor of the current one */
    assert_true(v.ptrs[1]->applied);  /* current */
    assert_false(v.ptrs[2]->applied); /* above it */
    assert_false(v.ptrs[3]->applied); /* the other branch */
    assert_int_equal(v.ptrs[0]->n_parents, 0);
    assert_int_equal(v.ptrs[2]->n_parents, 1);
    assert_string_equal(v.ptrs[2]->parents[0], "2");
    assert_string_equal(v.ptrs[3]->parents[0], "1");
    assert_string_equal(v.ptrs[1]->checksum, "abcd");
    assert_null(v.ptrs[0]->checksum);
    assert_true(v.ptrs[3]->has_no_transaction && v.ptrs[3]->no_transaction);
    /* what the coordinator's planner and policy need, by classification */
    assert_true(v.ptrs[0]->has_has_down && v.ptrs[0]->has_down);
    assert_string_equal(v.ptrs[0]->up_risk, "low");
    assert_string_equal(v.ptrs[0]->down_risk, "high");
    assert_true(v.ptrs[1]->has_has_down && !v.ptrs[1]->has_down);
    assert_string_equal(v.ptrs[1]->up_risk, "high");
    assert_null(v.ptrs[1]->down_risk);
    assert_false(v.ptrs[2]->has_down); /* irreversible by design */
    assert_true(v.ptrs[3]->has_down && v.ptrs[3]->down_no_transaction);
    assert_string_equal(v.ptrs[3]->down_risk, "unknown");
    /* it packs as part of a DatabaseInfo */
    Ebb__DatabaseInfo di = EBB__DATABASE_INFO__INIT;
    di.name = "app";
    di.kind = "golang-migrate";
    di.revisions = v.ptrs;
    di.n_revisions = v.count;
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(ebb_proto_pack(&di.base, &buf, &len, NULL), EBB_OK);
    Ebb__DatabaseInfo *u = ebb__database_info__unpack(NULL, len, buf);
    assert_non_null(u);
    assert_int_equal(u->n_revisions, 4);
    assert_string_equal(u->revisions[3]->parents[0], "1");
    json_t *j = ebb_proto_database_json(u);
    assert_int_equal(json_array_size(json_object_get(j, "revisions")), 4);
    json_decref(j);
    ebb__database_info__free_unpacked(u, NULL);
    free(buf);
    ebb_daemon_graph_view_fini(&v);
    /* an empty graph is an empty list */
    memset(&g, 0, sizeof g);
    assert_int_equal(ebb_daemon_graph_view_init(&v, &g, NULL, 0, NULL), EBB_OK);
    assert_int_equal(v.count, 0);
    ebb_daemon_graph_view_fini(&v);
}

static void test_cmd_dup_owns_copies(void **state)
{
    (void)state;
    char job[] = "j1", db[] = "app";
    ebb_job_cmd c = {.job_id = job, .run_id = "r", .action = EBB_JOB_BACKUP, .database = db};
    ebb_job_cmd *copy = NULL;
    assert_int_equal(ebb_daemon_cmd_dup(&c, &copy, NULL), EBB_OK);
    job[0] = 'x';
    db[0] = 'x';
    assert_string_equal(copy->job_id, "j1");
    assert_string_equal(copy->database, "app");
    assert_null(copy->target);
    assert_int_equal(copy->action, EBB_JOB_BACKUP);
    ebb_daemon_cmd_free(copy);
    ebb_daemon_cmd_free(NULL);
}

static void test_backoff(void **state)
{
    (void)state;
    /* first failure: the minimum; then doubling up to the cap */
    assert_int_equal(ebb_daemon_backoff_next(0, 100, 10000, 0), 100);
    assert_int_equal(ebb_daemon_backoff_next(100, 100, 10000, 0), 200);
    assert_int_equal(ebb_daemon_backoff_next(8000, 100, 10000, 0), 10000);
    assert_int_equal(ebb_daemon_backoff_next(10000, 100, 10000, 0), 10000);
    /* jitter takes off at most a quarter and never goes under the minimum */
    for (uint32_t r = 0; r < 5000; r += 7) {
        int v = ebb_daemon_backoff_next(10000, 100, 10000, r * 2654435761u);
        assert_true(v >= 7500 && v <= 10000);
        v = ebb_daemon_backoff_next(0, 100, 10000, r);
        assert_true(v >= 100 && v <= 100);
    }
    /* different random values spread agents out */
    assert_int_not_equal(ebb_daemon_backoff_next(10000, 100, 10000, 1),
                         ebb_daemon_backoff_next(10000, 100, 10000, 2000));
    /* a sequence reaches the cap and stays there */
    int v = 0;
    for (int i = 0; i < 20; i++)
        v = ebb_daemon_backoff_next(v, 50, 3000, (uint32_t)i);
    assert_true(v >= 2250 && v <= 3000);
    /* nonsense bounds are repaired */
    assert_int_equal(ebb_daemon_backoff_next(0, 0, 0, 0), 1);
}

static void test_sealer_and_open(void **state)
{
    (void)state;
    ebb_secret_key *a = NULL, *b = NULL;
    ebb_keyring *ring = NULL;
    ebb_replay *rp = NULL;
    assert_int_equal(ebb_secret_key_generate(&a, NULL), EBB_OK);
    assert_int_equal(ebb_secret_key_generate(&b, NULL), EBB_OK);
    assert_int_equal(ebb_keyring_alloc(&ring, NULL), EBB_OK);
    assert_int_equal(ebb_keyring_add(ring, ebb_secret_key_public(a), "a", NULL), EBB_OK);
    assert_int_equal(ebb_replay_open(NULL, &rp, NULL), EBB_OK);
    ebb_sealer s;
    ebb_sealer_init(&s, a, 60000);
    Ebb__Poll p = EBB__POLL__INIT;
    p.agent_id = "agent-1";
    uint8_t *m1 = NULL, *m2 = NULL;
    size_t l1 = 0, l2 = 0;
    assert_int_equal(ebb_sealer_seal(&s, ebb_secret_key_id(b), EBB__BODY_TYPE__BODY_POLL, &p.base,
                                     &m1, &l1, NULL),
                     EBB_OK);
    assert_int_equal(ebb_sealer_seal(&s, ebb_secret_key_id(b), EBB__BODY_TYPE__BODY_POLL, &p.base,
                                     &m2, &l2, NULL),
                     EBB_OK);
    ebb_open_ctx oc = {.max_size = 65536,
                       .self_id = ebb_secret_key_id(b),
                       .lookup = ebb_keyring_lookup_fn,
                       .lookup_ctx = ring,
                       .replay = rp,
                       .now_ms = ebb_proto_now_ms(),
                       .max_skew_ms = 30000,
                       .version = EBB_PROTOCOL_VERSION};
    ebb_opened o;
    /* in order: both open; the first again is a replay */
    assert_int_equal(ebb_envelope_open(&oc, m1, l1, &o, NULL), EBB_OK);
    assert_int_equal(o.body_type, EBB__BODY_TYPE__BODY_POLL);
    ProtobufCMessage *body = NULL;
    assert_int_equal(ebb_proto_unpack(ebb_proto_body_descriptor(o.body_type), o.body, o.body_len,
                                      "poll", &body, NULL),
                     EBB_OK);
    assert_string_equal(((Ebb__Poll *)body)->agent_id, "agent-1");
    protobuf_c_message_free_unpacked(body, NULL);
    ebb_opened_fini(&o);
    assert_int_equal(ebb_envelope_open(&oc, m2, l2, &o, NULL), EBB_OK);
    ebb_opened_fini(&o);
    assert_int_equal(ebb_envelope_open(&oc, m1, l1, &o, NULL), EBB_E_ENV_REPLAY);
    /* garbage as a body is malformed, not a crash */
    ebb_error err;
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0x01};
    assert_int_equal(
        ebb_proto_unpack(&ebb__poll__descriptor, junk, sizeof junk, "poll", &body, &err),
        EBB_E_ENV_MALFORMED);
    assert_non_null(strstr(err.msg, "poll"));
    /* a Poll without its required agent_id does not unpack */
    Ebb__Ack ack = EBB__ACK__INIT;
    uint8_t *ab = NULL;
    size_t al = 0;
    assert_int_equal(ebb_proto_pack(&ack.base, &ab, &al, NULL), EBB_OK);
    assert_non_null(ab);
    assert_int_equal(ebb_proto_unpack(&ebb__poll__descriptor, ab, al, "poll", &body, NULL),
                     EBB_E_ENV_MALFORMED);
    assert_null(ebb_proto_body_descriptor(EBB__BODY_TYPE__BODY_NONE));
    assert_null(ebb_proto_body_descriptor(4242));
    free(ab);
    free(m1);
    free(m2);
    ebb_sealer_fini(&s);
    ebb_replay_close(rp);
    ebb_keyring_free(ring);
    ebb_secret_key_free(a);
    ebb_secret_key_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cmd_valid_is_borrowed_view),
        cmocka_unit_test(test_cmd_invalid),
        cmocka_unit_test(test_actions_map_both_ways),
        cmocka_unit_test(test_result_roundtrip),
        cmocka_unit_test(test_graph_view),
        cmocka_unit_test(test_cmd_dup_owns_copies),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_sealer_and_open),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
