/* Writes the three-run audit journal the audit tests and the CLI test read. */
#include "tests/support/audit_fixture.h"

#include <jansson.h>
#include <string.h>

#include "common/journal.h"
#include "coordinator/audit.h"

#define DAY 86400000LL
#define T0 1714554000000LL /* 2024-05-01T09:00:00Z */

static ebb_code run1(ebb_journal *j, ebb_error *err)
{
    const char *hosts[] = {"db1", "db2"};
    json_t *plan = json_pack("{s:s,s:[{s:s,s:[s]},{s:s,s:[s]}]}", "target", "0043", "waves", "host",
                             "db1", "steps", "0043", "host", "db2", "steps", "0043");
    ebb_audit_run_requested rq = {.run_id = "r-0001",
                                  .operator_key_id = EBB_FIXTURE_ALICE,
                                  .operator_name = "alice",
                                  .reason = "Release 2024.05",
                                  .kind = EBB_AUDIT_KIND_ROLLOUT,
                                  .environment = "staging",
                                  .target = "0043",
                                  .hosts = hosts,
                                  .n_hosts = 2,
                                  .plan = plan};
    ebb_code rc = ebb_audit_write_run_requested(j, T0, &rq, NULL, err);
    json_decref(plan);
    for (int i = 0; rc == EBB_OK && i < 2; i++) {
        ebb_audit_step_result s = {.run_id = "r-0001",
                                   .host = hosts[i],
                                   .database = "orders",
                                   .step = "migrate",
                                   .job_id = i ? "j-2" : "j-1",
                                   .outcome = EBB_AUDIT_STEP_OK,
                                   .revision_before = "0042",
                                   .revision_after = "0043",
                                   .backup_id = "b-1",
                                   .backup_checksum = "blake2b:9f3c",
                                   .verify = EBB_AUDIT_VERIFY_PASSED,
                                   .fingerprint = "fp-43",
                                   .started_ms = T0 + 1000 + i * 5000,
                                   .finished_ms = T0 + 4000 + i * 5000};
        rc = ebb_audit_write_step_result(j, T0 + 4000 + i * 5000, &s, NULL, err);
    }
    ebb_audit_run_end end = {.run_id = "r-0001", .outcome = EBB_AUDIT_RUN_SUCCEEDED};
    return rc == EBB_OK ? ebb_audit_write_run_end(j, T0 + 20000, &end, NULL, err) : rc;
}

static ebb_code run2(ebb_journal *j, ebb_error *err)
{
    const int64_t t = T0 + DAY;
    json_t *plan = json_pack("{s:s,s:[s,s]}", "target", "0041", "hosts", "db3", "db4");
    ebb_audit_run_requested rq = {
        .run_id = "r-0002",
        .operator_key_id = EBB_FIXTURE_BOB,
        .operator_name = "bob",
        .reason =
            "Checkout errors after 0042, see INC-17 \"hotfix\"\nDB password=" EBB_FIXTURE_SECRET,
        .kind = EBB_AUDIT_KIND_ROLLBACK,
        .environment = "prod",
        .target = "0041",
        .plan = plan};
    char plan_hash[EBB_JOURNAL_HASH_HEX_SIZE];
    ebb_code rc = ebb_audit_plan_hash(plan, plan_hash, err);
    if (rc == EBB_OK)
        rc = ebb_audit_write_run_requested(j, t, &rq, NULL, err);
    json_decref(plan);
    ebb_audit_approval ap = {.run_id = "r-0002",
                             .operator_key_id = EBB_FIXTURE_CAROL,
                             .operator_name = "carol",
                             .plan_hash = plan_hash};
    if (rc == EBB_OK)
        rc = ebb_audit_write_approval(j, t + 60000, &ap, NULL, err);
    ebb_audit_step_result ok = {.run_id = "r-0002",
                                .host = "db4",
                                .database = "orders",
                                .step = "migrate",
                                .job_id = "j-10",
                                .outcome = EBB_AUDIT_STEP_OK,
                                .revision_before = "0042",
                                .revision_after = "0041",
                                .backup_id = "b-db4-1",
                                .backup_checksum = "blake2b:11aa",
                                .verify = EBB_AUDIT_VERIFY_PASSED,
                                .fingerprint = "fp-41",
                                .started_ms = t + 61000,
                                .finished_ms = t + 65000};
    if (rc == EBB_OK)
        rc = ebb_audit_write_step_result(j, t + 65000, &ok, NULL, err);
    ebb_audit_step_result bad = {
        .run_id = "r-0002",
        .host = "db3",
        .database = "orders",
        .step = "migrate",
        .job_id = "j-11",
        .outcome = EBB_AUDIT_STEP_FAILED,
        .revision_before = "0042",
        .revision_after = "0042",
        .backup_id = "b-db3-1",
        .backup_checksum = "blake2b:22bb",
        .verify = EBB_AUDIT_VERIFY_NOT_RUN,
        .started_ms = t + 61000,
        .finished_ms = t + 70000,
        .error_code = "pg",
        .sqlstate = "23503",
        .error_message = "update or delete on table \"orders\" violates foreign key; conninfo "
                         "postgres://app:" EBB_FIXTURE_URI_SECRET "@db3/orders"};
    if (rc == EBB_OK)
        rc = ebb_audit_write_step_result(j, t + 70000, &bad, NULL, err);
    ebb_audit_step_result restore = {.run_id = "r-0002",
                                     .host = "db3",
                                     .database = "orders",
                                     .step = "restore",
                                     .job_id = "j-12",
                                     .outcome = EBB_AUDIT_STEP_OK,
                                     .revision_after = "0042",
                                     .backup_id = "b-db3-1",
                                     .backup_checksum = "blake2b:22bb",
                                     .verify = EBB_AUDIT_VERIFY_PASSED,
                                     .fingerprint = "fp-42",
                                     .started_ms = t + 71000,
                                     .finished_ms = t + 90000};
    if (rc == EBB_OK)
        rc = ebb_audit_write_step_result(j, t + 90000, &restore, NULL, err);
    ebb_audit_compensation comp = {.run_id = "r-0002",
                                   .host = "db4",
                                   .database = "orders",
                                   .action = "migrate back",
                                   .revision_to = "0042",
                                   .outcome = EBB_AUDIT_STEP_OK,
                                   .detail = "brought back to 0042 after db3 failed"};
    if (rc == EBB_OK)
        rc = ebb_audit_write_compensation(j, t + 95000, &comp, NULL, err);
    ebb_audit_run_end end = {.run_id = "r-0002",
                             .outcome = EBB_AUDIT_RUN_COMPENSATED,
                             .message = "db3 failed (23503); run compensated"};
    return rc == EBB_OK ? ebb_audit_write_run_end(j, t + 100000, &end, NULL, err) : rc;
}

static ebb_code run3(ebb_journal *j, ebb_error *err)
{
    const int64_t t = T0 + 2 * DAY;
    json_t *plan = json_pack("{s:s,s:[s]}", "target", "0040", "hosts", "db5");
    ebb_audit_run_requested rq = {.run_id = "r-0003",
                                  .operator_key_id = EBB_FIXTURE_ALICE,
                                  .reason = "Test rollback drill",
                                  .kind = EBB_AUDIT_KIND_ROLLBACK,
                                  .environment = "prod",
                                  .target = "0040",
                                  .plan = plan};
    ebb_code rc = ebb_audit_write_run_requested(j, t, &rq, NULL, err);
    json_decref(plan);
    /* Unrelated run-state record between audit records: must be ignored by audit queries. */
    json_t *state = json_pack("{s:s,s:s}", "run_id", "r-0003", "state", "waiting");
    if (rc == EBB_OK)
        rc = ebb_journal_append(j, t + 1, "run.state", state, NULL, NULL, err);
    json_decref(state);
    ebb_audit_control halt = {.run_id = "r-0003",
                              .operator_key_id = EBB_FIXTURE_BOB,
                              .reason = "maintenance window closed"};
    ebb_audit_control resume = {.run_id = "r-0003", .operator_key_id = EBB_FIXTURE_BOB};
    ebb_audit_control abort_ = {
        .run_id = "r-0003", .operator_key_id = EBB_FIXTURE_ALICE, .reason = "drill over"};
    if (rc == EBB_OK)
        rc = ebb_audit_write_control(j, t + 10000, EBB_AUDIT_HALT, &halt, NULL, err);
    if (rc == EBB_OK)
        rc = ebb_audit_write_control(j, t + 20000, EBB_AUDIT_RESUME, &resume, NULL, err);
    ebb_audit_step_result s = {.run_id = "r-0003",
                               .host = "db5",
                               .database = "billing",
                               .step = "precheck",
                               .job_id = "j-20",
                               .outcome = EBB_AUDIT_STEP_OK,
                               .revision_before = "0042",
                               .started_ms = t + 21000,
                               .finished_ms = t + 22000};
    if (rc == EBB_OK)
        rc = ebb_audit_write_step_result(j, t + 22000, &s, NULL, err);
    if (rc == EBB_OK)
        rc = ebb_audit_write_control(j, t + 30000, EBB_AUDIT_ABORT, &abort_, NULL, err);
    ebb_audit_run_end end = {.run_id = "r-0003", .outcome = EBB_AUDIT_RUN_ABORTED};
    return rc == EBB_OK ? ebb_audit_write_run_end(j, t + 31000, &end, NULL, err) : rc;
}

ebb_code ebb_test_audit_fixture_write(const char *path, const ebb_secret_key *key, ebb_error *err)
{
    ebb_journal_options o = {.sign_key = key};
    ebb_journal *j = NULL;
    ebb_code rc = ebb_journal_open(path, &o, &j, NULL, err);
    if (rc != EBB_OK)
        return rc;
    rc = run1(j, err);
    if (rc == EBB_OK)
        rc = run2(j, err);
    if (rc == EBB_OK)
        rc = run3(j, err);
    ebb_journal_close(j);
    return rc;
}
