/* Unit tests of the inventory (enrollment states, key conflicts, journal replay, fleet view) and
 * of the job queue (hand-out, lost jobs asked again by the same id). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/keys.h"
#include "coordinator/inventory.h"
#include "coordinator/job_queue.h"
#include "coordinator/policy.h"

static ebb_public_key key_of(uint8_t seed)
{
    ebb_public_key pk;
    memset(pk.bytes, seed, sizeof pk.bytes);
    return pk;
}

static const char *const parents_b[] = {"0001"};
static const ebb_inv_rev_report revs[] = {
    {.id = "0001", .applied = true},
    {.id = "0002", .parents = parents_b, .n_parents = 1, .applied = false, .no_transaction = true},
};
static const char *const cur[] = {"0001"};

static ebb_inv_hello hello_for(const char *id, const ebb_public_key *pk, ebb_inv_db_report *db)
{
    *db = (ebb_inv_db_report){.name = "app",
                              .kind = "sql",
                              .current = cur,
                              .n_current = 1,
                              .graph_hash = "gh",
                              .environment = "claims-prod",
                              .revs = revs,
                              .n_revs = 2};
    return (ebb_inv_hello){
        .agent_id = id, .key = pk, .software_version = "1.0", .dbs = db, .n_dbs = 1};
}

static void test_enrollment(void **state)
{
    (void)state;
    ebb_inventory inv;
    ebb_inventory_init(&inv);
    ebb_public_key k1 = key_of(1), k2 = key_of(2);
    ebb_inv_db_report db;
    ebb_inv_hello h = hello_for("db1", &k1, &db);
    ebb_inv_agent *a = NULL;
    assert_int_equal(ebb_inventory_hello(&inv, &h, 1000, &a, NULL), EBB_OK);
    assert_int_equal(a->state, EBB_AGENT_PENDING);
    assert_null(a->env);
    assert_int_equal(a->n_dbs, 1);
    assert_string_equal(a->dbs[0].claimed_env, "claims-prod");
    assert_int_equal(a->dbs[0].n_revs, 2);
    assert_int_equal(a->dbs[0].n_applied, 1);
    assert_true(a->dbs[0].revs[1].no_transaction);

    /* Same id, another key: refused, nothing changes. */
    ebb_inv_hello h2 = hello_for("db1", &k2, &db);
    ebb_error err;
    assert_int_equal(ebb_inventory_hello(&inv, &h2, 2000, NULL, &err), EBB_E_CONFLICT);
    assert_non_null(strstr(err.msg, "db1"));
    /* Same key under another id: refused too. */
    ebb_inv_hello h3 = hello_for("db9", &k1, &db);
    assert_int_equal(ebb_inventory_hello(&inv, &h3, 2000, NULL, &err), EBB_E_CONFLICT);
    assert_int_equal(inv.n_agents, 1);

    assert_int_equal(ebb_inventory_accept(&inv, "nope", "dev", &err), EBB_E_NOT_FOUND);
    assert_int_equal(ebb_inventory_accept(&inv, "db1", "dev", &err), EBB_OK);
    a = ebb_inventory_find(&inv, "db1");
    assert_int_equal(a->state, EBB_AGENT_ACCEPTED);
    assert_string_equal(a->env, "dev"); /* the coordinator's record, not the claim */

    ebb_key_id kid;
    ebb_key_id_of(&k1, &kid);
    assert_ptr_equal(ebb_inventory_seen(&inv, &kid, 5000), a);
    assert_int_equal(a->last_seen_ms, 5000);

    json_t *j = ebb_inv_agent_json(a, 6000, 60);
    assert_true(json_is_true(json_object_get(j, "alive")));
    assert_string_equal(json_string_value(json_object_get(j, "environment")), "dev");
    json_decref(j);
    j = ebb_inv_agent_json(a, 5000 + 61000, 60);
    assert_true(json_is_false(json_object_get(j, "alive")));
    json_decref(j);

    assert_int_equal(ebb_inventory_revoke(&inv, "db1", &err), EBB_OK);
    assert_int_equal(ebb_inventory_accept(&inv, "db1", "dev", &err), EBB_E_CONFLICT);
    assert_non_null(strstr(err.msg, "revoked"));
    ebb_inventory_fini(&inv);
}

/* Accept and revoke records replay into the same inventory. */
static void test_replay(void **state)
{
    (void)state;
    ebb_inventory inv;
    ebb_inventory_init(&inv);
    ebb_public_key k1 = key_of(1), k2 = key_of(2);
    ebb_inv_db_report db;
    ebb_inv_hello h1 = hello_for("db1", &k1, &db), h2 = hello_for("db2", &k2, &db);
    assert_int_equal(ebb_inventory_hello(&inv, &h1, 1, NULL, NULL), EBB_OK);
    assert_int_equal(ebb_inventory_hello(&inv, &h2, 1, NULL, NULL), EBB_OK);
    assert_int_equal(ebb_inventory_accept(&inv, "db1", "prod", NULL), EBB_OK);
    json_t *acc = ebb_inventory_record_json(ebb_inventory_find(&inv, "db1"), "op1");
    assert_int_equal(ebb_inventory_accept(&inv, "db2", "prod", NULL), EBB_OK);
    assert_int_equal(ebb_inventory_revoke(&inv, "db2", NULL), EBB_OK);
    json_t *rev = ebb_inventory_record_json(ebb_inventory_find(&inv, "db2"), "op1");

    ebb_inventory back;
    ebb_inventory_init(&back);
    ebb_journal_record r1 = {.seq = 1, .type = EBB_INV_ACCEPTED, .payload = acc};
    ebb_journal_record r2 = {.seq = 2, .type = EBB_INV_REVOKED, .payload = rev};
    ebb_journal_record other = {.seq = 3, .type = "audit.halt", .payload = acc};
    assert_int_equal(ebb_inventory_apply_record(&back, &r1, NULL), EBB_OK);
    assert_int_equal(ebb_inventory_apply_record(&back, &r2, NULL), EBB_OK);
    assert_int_equal(ebb_inventory_apply_record(&back, &other, NULL), EBB_OK);
    assert_int_equal(back.n_agents, 2);
    ebb_inv_agent *a1 = ebb_inventory_find(&back, "db1"), *a2 = ebb_inventory_find(&back, "db2");
    assert_int_equal(a1->state, EBB_AGENT_ACCEPTED);
    assert_string_equal(a1->env, "prod");
    assert_memory_equal(a1->key.bytes, k1.bytes, sizeof k1.bytes);
    assert_int_equal(a1->last_hello_ms, 0); /* no hello since the start: polls get resend_hello */
    assert_int_equal(a2->state, EBB_AGENT_REVOKED);

    json_t *bad = json_pack("{s:s}", "agent_id", "x");
    ebb_journal_record r4 = {.seq = 4, .type = EBB_INV_ACCEPTED, .payload = bad};
    ebb_error err;
    assert_int_equal(ebb_inventory_apply_record(&back, &r4, &err), EBB_E_INVALID);
    assert_non_null(strstr(err.msg, "record 4"));
    json_decref(bad);
    json_decref(acc);
    json_decref(rev);
    ebb_inventory_fini(&back);
    ebb_inventory_fini(&inv);
}

static void test_fleet(void **state)
{
    (void)state;
    ebb_inventory inv;
    ebb_inventory_init(&inv);
    ebb_public_key k1 = key_of(1), k2 = key_of(2);
    ebb_inv_db_report db;
    ebb_inv_hello h1 = hello_for("db1", &k1, &db), h2 = hello_for("db2", &k2, &db);
    assert_int_equal(ebb_inventory_hello(&inv, &h1, 7000, NULL, NULL), EBB_OK);
    assert_int_equal(ebb_inventory_hello(&inv, &h2, 7000, NULL, NULL), EBB_OK);
    assert_int_equal(ebb_inventory_accept(&inv, "db2", "staging", NULL), EBB_OK);
    ebb_inv_fleet f;
    assert_int_equal(ebb_inventory_fleet(&inv, 45, &f, NULL), EBB_OK);
    assert_int_equal(f.fleet.n_hosts, 1); /* pending agents are not part of the fleet */
    assert_int_equal(f.fleet.liveness_s, 45);
    const ebb_fleet_host *h = &f.fleet.hosts[0];
    assert_string_equal(h->name, "db2");
    assert_string_equal(h->env, "staging");
    assert_int_equal(h->last_seen, 7);
    assert_int_equal(h->n_dbs, 1);
    assert_string_equal(h->dbs[0].graph_hash, "gh");
    assert_int_equal(h->dbs[0].n_revs, 2);
    assert_string_equal(h->dbs[0].revs[1].parents[0], "0001");
    assert_int_equal(h->dbs[0].n_applied, 1);
    assert_string_equal(h->dbs[0].applied[0], "0001");
    assert_true(h->dbs[0].revision_known);
    ebb_inv_fleet_fini(&f);
    ebb_inventory_fini(&inv);
}

/* A job result's state replaces the hello's: current, applied set, fingerprint, drift. */
static void test_db_state_from_result(void **state)
{
    (void)state;
    ebb_inventory inv;
    ebb_inventory_init(&inv);
    ebb_public_key k1 = key_of(1);
    ebb_inv_db_report db;
    ebb_inv_hello h1 = hello_for("db1", &k1, &db);
    db.fingerprint = "fp1";
    assert_int_equal(ebb_inventory_hello(&inv, &h1, 7000, NULL, NULL), EBB_OK);
    assert_int_equal(ebb_inventory_accept(&inv, "db1", "dev", NULL), EBB_OK);
    ebb_inv_agent *a = ebb_inventory_find(&inv, "db1");

    /* A rollout to 0002: the applied set is the head and its ancestors. */
    static const char *const at2[] = {"0002"};
    ebb_inv_db_state st = {
        .current = at2, .n_current = 1, .fingerprint = "fp2", .has_drift = true, .drift = false};
    assert_int_equal(ebb_inventory_db_state(a, "app", &st, NULL), EBB_OK);
    ebb_inv_fleet f;
    assert_int_equal(ebb_inventory_fleet(&inv, 45, &f, NULL), EBB_OK);
    const ebb_fleet_db *fd = &f.fleet.hosts[0].dbs[0];
    assert_int_equal(fd->n_applied, 2);
    assert_string_equal(fd->applied[0], "0001");
    assert_string_equal(fd->applied[1], "0002");
    assert_false(fd->drift);
    ebb_inv_fleet_fini(&f);
    assert_int_equal(a->dbs[0].n_current, 1);
    assert_string_equal(a->dbs[0].current[0], "0002");
    assert_string_equal(a->dbs[0].fingerprint, "fp2");

    /* Drift reported; then a state without a drift reading keeps the flag. */
    st.drift = true;
    assert_int_equal(ebb_inventory_db_state(a, "app", &st, NULL), EBB_OK);
    assert_true(a->dbs[0].drift);
    st.has_drift = false;
    st.drift = false;
    assert_int_equal(ebb_inventory_db_state(a, "app", &st, NULL), EBB_OK);
    assert_true(a->dbs[0].drift);

    /* Back to base: nothing applied. */
    ebb_inv_db_state base = {.fingerprint = "fp0", .has_drift = true};
    assert_int_equal(ebb_inventory_db_state(a, "app", &base, NULL), EBB_OK);
    assert_int_equal(a->dbs[0].n_applied, 0);
    assert_int_equal(a->dbs[0].n_current, 0);
    assert_false(a->dbs[0].drift);

    /* Refusals change nothing. */
    static const char *const unknown[] = {"0099"};
    ebb_inv_db_state bad = {.current = unknown, .n_current = 1, .fingerprint = "fpx"};
    ebb_error err;
    assert_int_equal(ebb_inventory_db_state(a, "app", &bad, &err), EBB_E_INVALID);
    assert_non_null(strstr(err.msg, "0099"));
    ebb_inv_db_state nofp = {.current = at2, .n_current = 1};
    assert_int_equal(ebb_inventory_db_state(a, "app", &nofp, &err), EBB_E_INVALID);
    assert_int_equal(ebb_inventory_db_state(a, "other", &st, &err), EBB_E_NOT_FOUND);
    assert_int_equal(a->dbs[0].n_applied, 0);
    assert_string_equal(a->dbs[0].fingerprint, "fp0");
    ebb_inventory_fini(&inv);
}

/*
 * The per-revision flags an agent reports (down script, transaction modes, classified risk)
 * reach the planner and the policy: a rollback whose down script drops a table is data at
 * risk (refused, or an approval with accept_data_loss), a revision without a down script cannot
 * be reverted, and a rollout over it is not reversible (compensation restores the backup).
 */
static void test_revision_flags_reach_policy(void **state)
{
    (void)state;
    static const char *const p1[] = {"1"}, *const p2[] = {"2"};
    static const ebb_inv_rev_report flagged[] = {
        {.id = "1", .applied = true, .has_down_known = true, .has_down = true,
         .up_risk = "low", .down_risk = "high"},
        {.id = "2", .parents = p1, .n_parents = 1, .applied = true, .has_down_known = true,
         .has_down = true, .up_risk = "unknown", .down_risk = "low", .down_no_transaction = true},
        {.id = "3", .parents = p2, .n_parents = 1, .has_down_known = true, .has_down = false,
         .up_risk = "high"},
    };
    static const char *const at2[] = {"2"};
    ebb_inv_db_report db = {.name = "app", .kind = "sql", .current = at2, .n_current = 1,
                            .graph_hash = "gh", .fingerprint = "fp", .revs = flagged, .n_revs = 3};
    ebb_public_key k = key_of(7);
    ebb_inv_hello h = {.agent_id = "prod-1", .key = &k, .dbs = &db, .n_dbs = 1};
    ebb_inventory inv;
    ebb_inventory_init(&inv);
    assert_int_equal(ebb_inventory_hello(&inv, &h, 7000, NULL, NULL), EBB_OK);
    assert_int_equal(ebb_inventory_accept(&inv, "prod-1", "prod", NULL), EBB_OK);
    ebb_inv_fleet f;
    assert_int_equal(ebb_inventory_fleet(&inv, 45, &f, NULL), EBB_OK);
    const ebb_fleet_rev *r = f.fleet.hosts[0].dbs[0].revs;
    assert_true(r[0].has_down && r[0].down_data_loss && !r[0].up_data_loss);
    assert_true(r[1].has_down && !r[1].down_data_loss && r[1].down_no_transaction);
    assert_false(r[1].up_data_loss); /* unknown is not counted as data loss (inventory.h) */
    assert_true(!r[2].has_down && r[2].up_data_loss && !r[2].down_data_loss);

    ebb_plan_input in = {.kind = EBB_RUN_ROLLBACK, .target = "base", .fleet = &f.fleet,
                         .selection = {.env = "prod"}, .requester = "op-alice",
                         .reason = "bad release", .now = 7};
    ebb_plan plan;
    ebb_error err;
    assert_int_equal(ebb_plan_build(&in, &plan, &err), EBB_OK);
    assert_true(plan.data_at_risk); /* 1's down script drops a table */
    ebb_env_policy pol = {.env = "prod"};
    ebb_policy_input pin = {.plan = &plan, .policy = &pol, .now = 7};
    ebb_policy_result res;
    assert_int_equal(ebb_policy_check(&pin, &res, NULL), EBB_OK);
    assert_int_equal(res.verdict, EBB_POLICY_REFUSED);
    assert_non_null(strstr(res.refusal, "does not allow data loss"));
    pol.allow_data_loss = true;
    assert_int_equal(ebb_policy_check(&pin, &res, NULL), EBB_OK);
    assert_int_equal(res.verdict, EBB_POLICY_REFUSED);
    assert_non_null(strstr(res.refusal, "--accept-data-loss"));
    ebb_plan_fini(&plan);
    in.accept_data_loss = true;
    assert_int_equal(ebb_plan_build(&in, &plan, &err), EBB_OK);
    assert_int_equal(ebb_policy_check(&pin, &res, NULL), EBB_OK);
    assert_int_equal(res.verdict, EBB_POLICY_NEEDS_APPROVAL);
    ebb_plan_fini(&plan);
    /* The down script of 2 cannot run in a transaction: no atomic rollback over it. */
    in.atomic = true;
    assert_int_equal(ebb_plan_build(&in, &plan, &err), EBB_E_REFUSED);
    assert_non_null(strstr(err.msg, "outside a transaction"));
    in.atomic = false;

    /* A rollout to 3: its up script is high (data at risk); 3 has no down script, so the unit
     * is not reversible: compensation would restore its backup. A later revert of 3 is refused. */
    ebb_plan_input up = {.kind = EBB_RUN_ROLLOUT, .target = "3", .fleet = &f.fleet,
                         .selection = {.env = "prod"}, .requester = "op-alice", .reason = "",
                         .accept_data_loss = true, .now = 7};
    assert_int_equal(ebb_plan_build(&up, &plan, &err), EBB_OK);
    assert_true(plan.data_at_risk);
    assert_false(plan.hosts[0].reversible);
    ebb_plan_fini(&plan);
    static const char *const at3[] = {"3"};
    ebb_inv_db_state st = {.current = at3, .n_current = 1, .fingerprint = "fp3"};
    assert_int_equal(ebb_inventory_db_state(ebb_inventory_find(&inv, "prod-1"), "app", &st, NULL),
                     EBB_OK);
    ebb_inv_fleet_fini(&f);
    assert_int_equal(ebb_inventory_fleet(&inv, 45, &f, NULL), EBB_OK);
    in.fleet = &f.fleet;
    in.target = "2";
    assert_int_equal(ebb_plan_build(&in, &plan, &err), EBB_E_REFUSED);
    assert_non_null(strstr(err.msg, "revision 3 has no down script"));
    ebb_inv_fleet_fini(&f);
    ebb_inventory_fini(&inv);
}

static ebb_coord_job job(const char *id, const char *run, const char *agent)
{
    return (ebb_coord_job){.job_id = (char *)id,
                           .run_id = (char *)run,
                           .agent_id = (char *)agent,
                           .database = "app",
                           .action = EBB__JOB_ACTION__ACTION_MIGRATE,
                           .target = "0002",
                           .prepare = true};
}

static void test_job_queue(void **state)
{
    (void)state;
    ebb_job_queue q;
    ebb_job_queue_init(&q);
    bool added = false;
    ebb_coord_job j1 = job("j1", "r1", "a"), j2 = job("j2", "r1", "b"), j3 = job("j3", "r2", "a");
    assert_int_equal(ebb_job_queue_add(&q, &j1, &added, NULL), EBB_OK);
    assert_true(added);
    assert_int_equal(ebb_job_queue_add(&q, &j1, &added, NULL), EBB_OK);
    assert_false(added); /* same id: left as it is */
    assert_int_equal(ebb_job_queue_add(&q, &j2, NULL, NULL), EBB_OK);
    assert_int_equal(ebb_job_queue_add(&q, &j3, NULL, NULL), EBB_OK);
    assert_true(ebb_job_queue_has_work(&q, "a"));

    Ebb__JobCommand **cmds = NULL;
    size_t n = 0;
    assert_int_equal(ebb_job_queue_take(&q, "a", 1000, &cmds, &n, NULL), EBB_OK);
    assert_int_equal(n, 2);
    assert_string_equal(cmds[0]->job_id, "j1");
    assert_string_equal(cmds[0]->target, "0002");
    assert_true(cmds[0]->has_prepare && cmds[0]->prepare);
    assert_string_equal(cmds[1]->job_id, "j3");
    ebb_job_queue_commands_free(cmds, n);
    assert_false(ebb_job_queue_has_work(&q, "a"));
    assert_int_equal(ebb_job_queue_take(&q, "a", 1000, &cmds, &n, NULL), EBB_OK);
    assert_int_equal(n, 0);

    /* The agent holds j1 but not j3: within the grace nothing moves, after it j3 is asked again. */
    const char *held[] = {"j1"};
    assert_int_equal(ebb_job_queue_poll(&q, "a", held, 1, 0, 1500, 3000), 0);
    assert_int_equal(ebb_job_queue_poll(&q, "a", held, 1, 1, 9000, 3000), 0); /* result pending */
    assert_int_equal(ebb_job_queue_poll(&q, "a", held, 1, 0, 9000, 3000), 1);
    assert_int_equal(ebb_job_queue_take(&q, "a", 9000, &cmds, &n, NULL), EBB_OK);
    assert_int_equal(n, 1);
    assert_string_equal(cmds[0]->job_id, "j3"); /* the SAME id */
    ebb_job_queue_commands_free(cmds, n);
    assert_int_equal(ebb_job_queue_find(&q, "j3")->deliveries, 2);

    assert_true(ebb_job_queue_remove(&q, "j1"));
    assert_false(ebb_job_queue_remove(&q, "j1"));
    assert_int_equal(ebb_job_queue_requeue(&q, "j1", NULL), EBB_E_NOT_FOUND);
    assert_int_equal(ebb_job_queue_requeue(&q, "j3", NULL), EBB_OK);
    assert_int_equal(ebb_job_queue_drop_queued(&q, "r2"), 1);
    assert_null(ebb_job_queue_find(&q, "j3"));
    assert_non_null(ebb_job_queue_find(&q, "j2"));
    ebb_job_queue_fini(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enrollment),
        cmocka_unit_test(test_replay),
        cmocka_unit_test(test_fleet),
        cmocka_unit_test(test_db_state_from_result),
        cmocka_unit_test(test_revision_flags_reach_policy),
        cmocka_unit_test(test_job_queue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
