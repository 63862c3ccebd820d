/* Audit records: names, payload builders (secrets masked), writers, plan hash, verify. */
#include "coordinator/audit.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

static const char *const kind_names[] = {"rollout", "rollback"};
static const char *const step_names[] = {"ok", "failed", "skipped", "interrupted", "timeout"};
static const char *const verify_names[] = {"not_run", "passed", "failed"};
static const char *const run_names[] = {"succeeded", "failed", "aborted", "compensated"};

#define NAME_OF(table, v)                                                                          \
    ((unsigned)(v) < sizeof(table) / sizeof(table)[0] ? (table)[(v)] : "unknown")

const char *ebb_audit_kind_name(ebb_audit_kind k)
{
    return NAME_OF(kind_names, k);
}

const char *ebb_audit_step_outcome_name(ebb_audit_step_outcome o)
{
    return NAME_OF(step_names, o);
}

const char *ebb_audit_verify_outcome_name(ebb_audit_verify_outcome o)
{
    return NAME_OF(verify_names, o);
}

const char *ebb_audit_run_outcome_name(ebb_audit_run_outcome o)
{
    return NAME_OF(run_names, o);
}

/* ---- building payloads ---- */

/* A payload under construction; the first failure sticks. */
typedef struct builder {
    json_t *obj;
    ebb_code rc;
    ebb_error *err;
    const char *what; /* record type, for messages */
} builder;

static void b_init(builder *b, const char *what, ebb_error *err)
{
    b->obj = json_object();
    b->rc = b->obj ? EBB_OK : ebb_error_set(err, EBB_E_NOMEM, "out of memory building %s", what);
    b->err = err;
    b->what = what;
}

static void b_set(builder *b, const char *key, json_t *v)
{
    if (b->rc != EBB_OK) {
        json_decref(v);
        return;
    }
    if (v == NULL || json_object_set_new(b->obj, key, v) != 0)
        b->rc = ebb_error_set(b->err, EBB_E_NOMEM, "out of memory building %s", b->what);
}

static void b_str(builder *b, const char *key, const char *v, bool required)
{
    if (b->rc != EBB_OK)
        return;
    if (v == NULL || (required && v[0] == '\0')) {
        if (required)
            b->rc =
                ebb_error_set(b->err, EBB_E_INVALID, "%s record: '%s' is required", b->what, key);
        return;
    }
    json_t *s = json_string(v);
    if (s == NULL && v != NULL) {
        b->rc = ebb_error_set(b->err, EBB_E_INVALID, "%s record: '%s' is not valid UTF-8", b->what,
                              key);
        return;
    }
    b_set(b, key, s);
}

/* Free text: secrets masked before anything is stored. */
static void b_text(builder *b, const char *key, const char *v, bool required)
{
    if (b->rc != EBB_OK || v == NULL) {
        b_str(b, key, v, required);
        return;
    }
    char *masked = ebb_mask_secrets_dup(v);
    if (masked == NULL) {
        b->rc = ebb_error_set(b->err, EBB_E_NOMEM, "out of memory building %s", b->what);
        return;
    }
    b_str(b, key, masked, required);
    free(masked);
}

static void b_int(builder *b, const char *key, int64_t v)
{
    b_set(b, key, json_integer((json_int_t)v));
}

static ebb_code b_done(builder *b, json_t **out)
{
    if (b->rc != EBB_OK) {
        json_decref(b->obj);
        return b->rc;
    }
    *out = b->obj;
    return EBB_OK;
}

ebb_code ebb_audit_plan_hash(const json_t *plan, char out[EBB_JOURNAL_HASH_HEX_SIZE],
                             ebb_error *err)
{
    char *canon = json_dumps(plan, JSON_SORT_KEYS | JSON_COMPACT);
    if (canon == NULL)
        return ebb_error_set(err, EBB_E_INVALID, "plan cannot be serialised as JSON");
    uint8_t h[EBB_JOURNAL_HASH_LEN];
    crypto_generichash(h, sizeof h, (const unsigned char *)canon, strlen(canon), NULL, 0);
    free(canon);
    ebb_journal_hash_hex(h, out);
    return EBB_OK;
}

ebb_code ebb_audit_run_requested_json(const ebb_audit_run_requested *r, json_t **out,
                                      ebb_error *err)
{
    builder b;
    b_init(&b, EBB_AUDIT_RUN_REQUESTED, err);
    b_str(&b, "run_id", r->run_id, true);
    b_str(&b, "operator_key_id", r->operator_key_id, true);
    b_str(&b, "operator_name", r->operator_name, false);
    b_text(&b, "reason", r->reason, true);
    b_str(&b, "kind", ebb_audit_kind_name(r->kind), true);
    b_str(&b, "environment", r->environment, true);
    b_str(&b, "target", r->target, true);
    if (b.rc == EBB_OK && r->operator_key_id != NULL) {
        ebb_key_id id;
        if (ebb_key_id_parse(r->operator_key_id, &id, NULL) != EBB_OK)
            b.rc = ebb_error_set(err, EBB_E_INVALID,
                                 "%s record: operator_key_id '%.40s' is not a key id",
                                 EBB_AUDIT_RUN_REQUESTED, r->operator_key_id);
    }
    if (b.rc == EBB_OK && r->n_hosts > 0) {
        json_t *hosts = json_array();
        b_set(&b, "hosts", hosts);
        for (size_t i = 0; b.rc == EBB_OK && i < r->n_hosts; i++)
            if (r->hosts[i] == NULL || json_array_append_new(hosts, json_string(r->hosts[i])) != 0)
                b.rc = ebb_error_set(err, EBB_E_INVALID, "%s record: host %zu is not a string",
                                     EBB_AUDIT_RUN_REQUESTED, i);
    }
    if (b.rc == EBB_OK && !json_is_object(r->plan))
        b.rc = ebb_error_set(err, EBB_E_INVALID, "%s record: 'plan' must be a JSON object",
                             EBB_AUDIT_RUN_REQUESTED);
    if (b.rc == EBB_OK) {
        char hash[EBB_JOURNAL_HASH_HEX_SIZE];
        b.rc = ebb_audit_plan_hash(r->plan, hash, err);
        b_set(&b, "plan", json_deep_copy(r->plan));
        b_str(&b, "plan_hash", hash, true);
    }
    return b_done(&b, out);
}

ebb_code ebb_audit_approval_json(const ebb_audit_approval *r, json_t **out, ebb_error *err)
{
    builder b;
    b_init(&b, EBB_AUDIT_APPROVAL, err);
    b_str(&b, "run_id", r->run_id, true);
    b_str(&b, "operator_key_id", r->operator_key_id, true);
    b_str(&b, "operator_name", r->operator_name, false);
    b_str(&b, "plan_hash", r->plan_hash, false);
    return b_done(&b, out);
}

ebb_code ebb_audit_step_result_json(const ebb_audit_step_result *r, json_t **out, ebb_error *err)
{
    builder b;
    b_init(&b, EBB_AUDIT_STEP_RESULT, err);
    b_str(&b, "run_id", r->run_id, true);
    b_str(&b, "host", r->host, true);
    b_str(&b, "database", r->database, true);
    b_str(&b, "step", r->step, true);
    b_str(&b, "job_id", r->job_id, false);
    b_str(&b, "outcome", ebb_audit_step_outcome_name(r->outcome), true);
    b_str(&b, "revision_before", r->revision_before, false);
    b_str(&b, "revision_after", r->revision_after, false);
    b_str(&b, "backup_id", r->backup_id, false);
    b_str(&b, "backup_checksum", r->backup_checksum, false);
    b_str(&b, "verification", ebb_audit_verify_outcome_name(r->verify), true);
    b_str(&b, "fingerprint", r->fingerprint, false);
    if (r->started_ms > 0)
        b_int(&b, "started_ms", r->started_ms);
    if (r->finished_ms > 0)
        b_int(&b, "finished_ms", r->finished_ms);
    if (r->started_ms > 0 && r->finished_ms >= r->started_ms)
        b_int(&b, "duration_ms", r->finished_ms - r->started_ms);
    b_str(&b, "error_code", r->error_code, false);
    b_text(&b, "error_message", r->error_message, false);
    b_str(&b, "sqlstate", r->sqlstate, false);
    return b_done(&b, out);
}

ebb_code ebb_audit_control_json(const ebb_audit_control *r, json_t **out, ebb_error *err)
{
    builder b;
    b_init(&b, "audit control", err);
    b_str(&b, "run_id", r->run_id, true);
    b_str(&b, "operator_key_id", r->operator_key_id, false);
    b_text(&b, "reason", r->reason, false);
    return b_done(&b, out);
}

ebb_code ebb_audit_compensation_json(const ebb_audit_compensation *r, json_t **out, ebb_error *err)
{
    builder b;
    b_init(&b, EBB_AUDIT_COMPENSATION, err);
    b_str(&b, "run_id", r->run_id, true);
    b_str(&b, "host", r->host, true);
    b_str(&b, "database", r->database, true);
    b_str(&b, "action", r->action, true);
    b_str(&b, "revision_to", r->revision_to, false);
    b_str(&b, "backup_id", r->backup_id, false);
    b_str(&b, "outcome", ebb_audit_step_outcome_name(r->outcome), true);
    b_text(&b, "detail", r->detail, false);
    return b_done(&b, out);
}

ebb_code ebb_audit_run_end_json(const ebb_audit_run_end *r, json_t **out, ebb_error *err)
{
    builder b;
    b_init(&b, EBB_AUDIT_RUN_END, err);
    b_str(&b, "run_id", r->run_id, true);
    b_str(&b, "outcome", ebb_audit_run_outcome_name(r->outcome), true);
    b_text(&b, "message", r->message, false);
    return b_done(&b, out);
}

/* ---- writers ---- */

static ebb_code append_built(ebb_journal *j, int64_t now_ms, const char *type, ebb_code built,
                             json_t *payload, uint64_t *seq_out, ebb_error *err)
{
    if (built != EBB_OK)
        return built;
    ebb_code rc = ebb_journal_append(j, now_ms, type, payload, seq_out, NULL, err);
    json_decref(payload);
    return rc;
}

ebb_code ebb_audit_write_run_requested(ebb_journal *j, int64_t now_ms,
                                       const ebb_audit_run_requested *r, uint64_t *seq_out,
                                       ebb_error *err)
{
    json_t *p = NULL;
    ebb_code rc = ebb_audit_run_requested_json(r, &p, err);
    return append_built(j, now_ms, EBB_AUDIT_RUN_REQUESTED, rc, p, seq_out, err);
}

ebb_code ebb_audit_write_approval(ebb_journal *j, int64_t now_ms, const ebb_audit_approval *r,
                                  uint64_t *seq_out, ebb_error *err)
{
    json_t *p = NULL;
    ebb_code rc = ebb_audit_approval_json(r, &p, err);
    return append_built(j, now_ms, EBB_AUDIT_APPROVAL, rc, p, seq_out, err);
}

ebb_code ebb_audit_write_step_result(ebb_journal *j, int64_t now_ms, const ebb_audit_step_result *r,
                                     uint64_t *seq_out, ebb_error *err)
{
    json_t *p = NULL;
    ebb_code rc = ebb_audit_step_result_json(r, &p, err);
    return append_built(j, now_ms, EBB_AUDIT_STEP_RESULT, rc, p, seq_out, err);
}

ebb_code ebb_audit_write_control(ebb_journal *j, int64_t now_ms, const char *type,
                                 const ebb_audit_control *r, uint64_t *seq_out, ebb_error *err)
{
    if (type == NULL || (strcmp(type, EBB_AUDIT_HALT) != 0 && strcmp(type, EBB_AUDIT_RESUME) != 0 &&
                         strcmp(type, EBB_AUDIT_ABORT) != 0))
        return ebb_error_set(err, EBB_E_INVALID, "audit control type '%s' is not halt/resume/abort",
                             type ? type : "(null)");
    json_t *p = NULL;
    ebb_code rc = ebb_audit_control_json(r, &p, err);
    return append_built(j, now_ms, type, rc, p, seq_out, err);
}

ebb_code ebb_audit_write_compensation(ebb_journal *j, int64_t now_ms,
                                      const ebb_audit_compensation *r, uint64_t *seq_out,
                                      ebb_error *err)
{
    json_t *p = NULL;
    ebb_code rc = ebb_audit_compensation_json(r, &p, err);
    return append_built(j, now_ms, EBB_AUDIT_COMPENSATION, rc, p, seq_out, err);
}

ebb_code ebb_audit_write_run_end(ebb_journal *j, int64_t now_ms, const ebb_audit_run_end *r,
                                 uint64_t *seq_out, ebb_error *err)
{
    json_t *p = NULL;
    ebb_code rc = ebb_audit_run_end_json(r, &p, err);
    return append_built(j, now_ms, EBB_AUDIT_RUN_END, rc, p, seq_out, err);
}

/* ---- verify ---- */

typedef struct verify_ctx {
    ebb_audit_history *h;
    uint64_t audit_records;
} verify_ctx;

static ebb_code verify_fold(const ebb_journal_record *rec, void *ctx, bool *stop, ebb_error *err)
{
    verify_ctx *v = ctx;
    if (strncmp(rec->type, "audit.", 6) == 0)
        v->audit_records++;
    return ebb_audit_history_add(v->h, rec, err);
}

ebb_code ebb_audit_verify(const char *path, const ebb_public_key *trust_key,
                          const ebb_journal_anchor *anchor, ebb_audit_verify_report *report,
                          ebb_error *err)
{
    memset(report, 0, sizeof *report);
    ebb_code rc = ebb_journal_verify(path, trust_key, anchor, &report->journal, err);
    if (rc != EBB_OK)
        return rc;
    /* Count what the verified records hold (a second, read-only pass). */
    verify_ctx v = {.h = ebb_audit_history_alloc()};
    if (v.h == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory verifying %s", path);
    ebb_journal_report again;
    rc = ebb_journal_scan(path, trust_key, 0, verify_fold, &v, &again, err);
    if (rc == EBB_OK) {
        report->audit_records = v.audit_records;
        report->runs = ebb_audit_history_count(v.h);
    }
    ebb_audit_history_free(v.h);
    return rc;
}

void ebb_audit_verify_report_print(const ebb_audit_verify_report *report, const char *path,
                                   FILE *out)
{
    const ebb_journal_report *r = &report->journal;
    char head[EBB_JOURNAL_HASH_HEX_SIZE];
    ebb_journal_hash_hex(r->last_hash, head);
    if (r->fault == EBB_JOURNAL_FAULT_NONE) {
        fprintf(out,
                "Journal %s verifies: %" PRIu64 " records (%" PRIu64 " audit, %" PRIu64
                " runs), signatures %s.\n"
                "Head (keep it to detect later truncation with --anchor): %" PRIu64 ":%s\n",
                path, r->records, report->audit_records, report->runs,
                r->signatures_checked ? "checked" : "NOT checked (no public key given)",
                r->last_seq, head);
        return;
    }
    fprintf(out, "Journal %s does NOT verify.\n", path);
    fprintf(out, "First bad record: line %" PRIu64, r->bad_line);
    if (r->bad_seq != 0)
        fprintf(out, " (seq %" PRIu64 ")", r->bad_seq);
    fprintf(out, ": %s\n  %s\n", ebb_journal_fault_name(r->fault), r->why);
    fprintf(out, "Records before it that verify: %" PRIu64 " (last seq %" PRIu64 ").\n", r->records,
            r->last_seq);
}

json_t *ebb_audit_verify_report_json(const ebb_audit_verify_report *report)
{
    json_t *o = ebb_journal_report_json(&report->journal);
    if (o == NULL)
        return NULL;
    if (json_object_set_new(o, "audit_records", json_integer((json_int_t)report->audit_records)) !=
            0 ||
        json_object_set_new(o, "runs", json_integer((json_int_t)report->runs)) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}
