/* The coordinator's audit trail: typed journal records, folded per run, filtered, printed. */
#ifndef EBB_COORDINATOR_AUDIT_H
#define EBB_COORDINATOR_AUDIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"
#include "common/journal.h"
#include "common/keys.h"

/*
 * Audit records live in the coordinator's journal (common/journal.h) next
 * to its run-state records; their types all start with "audit." and other
 * types are ignored here. Field-by-field format: docs/audit.md.
 *
 * Writers take plain structs (no protobuf types; the operator API converts
 * at the wire boundary). All strings are borrowed for the call. Free text
 * (reasons, error messages, details) is passed through ebb_mask_secrets
 * before it is written, so a password an operator pastes into a reason
 * never reaches the journal. NULL optional strings are left out of the
 * record. Times are milliseconds since the Unix epoch (UTC), passed in.
 */

#define EBB_AUDIT_RUN_REQUESTED "audit.run_requested"
#define EBB_AUDIT_APPROVAL "audit.approval"
#define EBB_AUDIT_STEP_RESULT "audit.step_result"
#define EBB_AUDIT_HALT "audit.halt"
#define EBB_AUDIT_RESUME "audit.resume"
#define EBB_AUDIT_ABORT "audit.abort"
#define EBB_AUDIT_COMPENSATION "audit.compensation"
#define EBB_AUDIT_RUN_END "audit.run_end"

typedef enum ebb_audit_kind {
    EBB_AUDIT_KIND_ROLLOUT = 0,
    EBB_AUDIT_KIND_ROLLBACK,
} ebb_audit_kind;

typedef enum ebb_audit_step_outcome {
    EBB_AUDIT_STEP_OK = 0,
    EBB_AUDIT_STEP_FAILED,
    EBB_AUDIT_STEP_SKIPPED,
    EBB_AUDIT_STEP_INTERRUPTED, /* agent or coordinator died during it */
    EBB_AUDIT_STEP_TIMEOUT,
} ebb_audit_step_outcome;

typedef enum ebb_audit_verify_outcome {
    EBB_AUDIT_VERIFY_NOT_RUN = 0,
    EBB_AUDIT_VERIFY_PASSED,
    EBB_AUDIT_VERIFY_FAILED,
} ebb_audit_verify_outcome;

typedef enum ebb_audit_run_outcome {
    EBB_AUDIT_RUN_SUCCEEDED = 0,
    EBB_AUDIT_RUN_FAILED,      /* halted for good: some hosts failed, nothing undone */
    EBB_AUDIT_RUN_ABORTED,     /* stopped by an operator */
    EBB_AUDIT_RUN_COMPENSATED, /* failed, and the hosts done in the run were brought back */
} ebb_audit_run_outcome;

/* Stable names ("rollback", "failed", "passed", "compensated", ...). Never NULL. */
const char *ebb_audit_kind_name(ebb_audit_kind k);
const char *ebb_audit_step_outcome_name(ebb_audit_step_outcome o);
const char *ebb_audit_verify_outcome_name(ebb_audit_verify_outcome o);
const char *ebb_audit_run_outcome_name(ebb_audit_run_outcome o);

typedef struct ebb_audit_run_requested {
    const char *run_id;
    const char *operator_key_id; /* 16 hex characters */
    const char *operator_name;   /* optional, e.g. from the operator's key comment */
    const char *reason;          /* required; masked */
    ebb_audit_kind kind;
    const char *environment;
    const char *target;       /* revision, or e.g. "-2 steps" */
    const char *const *hosts; /* optional selection, n_hosts entries */
    size_t n_hosts;
    const json_t *plan; /* the plan as JSON (object); hashed into plan_hash */
} ebb_audit_run_requested;

typedef struct ebb_audit_approval {
    const char *run_id;
    const char *operator_key_id;
    const char *operator_name; /* optional */
    const char *plan_hash;     /* optional: the plan hash the approver saw */
} ebb_audit_approval;

typedef struct ebb_audit_step_result {
    const char *run_id;
    const char *host; /* agent id */
    const char *database;
    const char *step; /* action: precheck, stop_services, backup, migrate, verify, ... */
    const char *job_id;
    ebb_audit_step_outcome outcome;
    const char *revision_before; /* optional */
    const char *revision_after;  /* optional */
    const char *backup_id;       /* optional */
    const char *backup_checksum; /* optional */
    ebb_audit_verify_outcome verify;
    const char *fingerprint;   /* optional */
    int64_t started_ms;        /* 0: unknown */
    int64_t finished_ms;       /* 0: unknown; duration_ms is written when both are known */
    const char *error_code;    /* optional, ebb_code_name() */
    const char *error_message; /* optional; masked */
    const char *sqlstate;      /* optional */
} ebb_audit_step_result;

/* halt, resume and abort. */
typedef struct ebb_audit_control {
    const char *run_id;
    const char *operator_key_id; /* NULL when the coordinator acted by itself (policy) */
    const char *reason;          /* optional; masked */
} ebb_audit_control;

typedef struct ebb_audit_compensation {
    const char *run_id;
    const char *host;
    const char *database;
    const char *action;      /* e.g. "migrate back", "restore backup" */
    const char *revision_to; /* optional: where the host was brought back to */
    const char *backup_id;   /* optional */
    ebb_audit_step_outcome outcome;
    const char *detail; /* optional; masked */
} ebb_audit_compensation;

typedef struct ebb_audit_run_end {
    const char *run_id;
    ebb_audit_run_outcome outcome;
    const char *message; /* optional; masked */
} ebb_audit_run_end;

/*
 * Builders: the record payload as a new JSON object in *out (caller
 * decrefs). EBB_E_INVALID names a missing required field.
 */
EBB_MUSTCHECK ebb_code ebb_audit_run_requested_json(const ebb_audit_run_requested *r, json_t **out,
                                                    ebb_error *err);
EBB_MUSTCHECK ebb_code ebb_audit_approval_json(const ebb_audit_approval *r, json_t **out,
                                               ebb_error *err);
EBB_MUSTCHECK ebb_code ebb_audit_step_result_json(const ebb_audit_step_result *r, json_t **out,
                                                  ebb_error *err);
EBB_MUSTCHECK ebb_code ebb_audit_control_json(const ebb_audit_control *r, json_t **out,
                                              ebb_error *err);
EBB_MUSTCHECK ebb_code ebb_audit_compensation_json(const ebb_audit_compensation *r, json_t **out,
                                                   ebb_error *err);
EBB_MUSTCHECK ebb_code ebb_audit_run_end_json(const ebb_audit_run_end *r, json_t **out,
                                              ebb_error *err);

/* The hex BLAKE2b-256 of the plan's canonical JSON (keys sorted, compact) into out. */
EBB_MUSTCHECK ebb_code ebb_audit_plan_hash(const json_t *plan, char out[EBB_JOURNAL_HASH_HEX_SIZE],
                                           ebb_error *err);

/*
 * Writers: build and append (durable when they return). *seq_out may be
 * NULL. type for ebb_audit_write_control is EBB_AUDIT_HALT, _RESUME or _ABORT.
 */
EBB_MUSTCHECK ebb_code ebb_audit_write_run_requested(ebb_journal *j, int64_t now_ms,
                                                     const ebb_audit_run_requested *r,
                                                     uint64_t *seq_out, ebb_error *err);
EBB_MUSTCHECK ebb_code ebb_audit_write_approval(ebb_journal *j, int64_t now_ms,
                                                const ebb_audit_approval *r, uint64_t *seq_out,
                                                ebb_error *err);
EBB_MUSTCHECK ebb_code ebb_audit_write_step_result(ebb_journal *j, int64_t now_ms,
                                                   const ebb_audit_step_result *r,
                                                   uint64_t *seq_out, ebb_error *err);
EBB_MUSTCHECK ebb_code ebb_audit_write_control(ebb_journal *j, int64_t now_ms, const char *type,
                                               const ebb_audit_control *r, uint64_t *seq_out,
                                               ebb_error *err);
EBB_MUSTCHECK ebb_code ebb_audit_write_compensation(ebb_journal *j, int64_t now_ms,
                                                    const ebb_audit_compensation *r,
                                                    uint64_t *seq_out, ebb_error *err);
EBB_MUSTCHECK ebb_code ebb_audit_write_run_end(ebb_journal *j, int64_t now_ms,
                                               const ebb_audit_run_end *r, uint64_t *seq_out,
                                               ebb_error *err);

/* ---- history: the records of each run folded into one row ---- */

/* A list of distinct strings, in first-seen order. */
typedef struct ebb_audit_strings {
    char **items;
    size_t n, cap;
} ebb_audit_strings;

/* One run, folded from its records. Owned by the history; read-only for callers. */
typedef struct ebb_audit_run {
    char *run_id;
    bool requested;        /* a run_requested record was seen */
    int64_t started_ms;    /* the request's time (else the first record's) */
    int64_t ended_ms;      /* run_end's time, 0 while running */
    char *operator_key_id; /* requester; NULL when not requested */
    char *operator_name;
    char *reason;
    char *environment;
    char *target;
    char *plan_hash;
    ebb_audit_kind kind;
    const char *outcome;         /* a run outcome name, or "running" / "halted" */
    ebb_audit_strings approvers; /* approvers' key ids */
    ebb_audit_strings actors;    /* everyone who acted: requester, approvers, halt/resume/abort */
    ebb_audit_strings hosts;     /* requested hosts, then hosts seen in steps */
    ebb_audit_strings databases;
    ebb_audit_strings restored_hosts;    /* hosts with a "restore" step */
    ebb_audit_strings compensated_hosts; /* hosts with a compensation record */
    size_t steps, failed_steps;
    json_t *records; /* [{"seq","ts","type","payload"}, ...] */
} ebb_audit_run;

typedef struct ebb_audit_history ebb_audit_history;

/* An empty history (caller frees with ebb_audit_history_free); NULL when out of memory. */
ebb_audit_history *ebb_audit_history_alloc(void);
void ebb_audit_history_free(ebb_audit_history *h);

/*
 * Fold one journal record in (records of other types are ignored; records
 * must come in journal order). Fits ebb_journal_foreach / ebb_journal_scan
 * directly through ebb_audit_history_fold_fn. EBB_E_INVALID when an audit
 * record lacks its run_id (names the seq).
 */
EBB_MUSTCHECK ebb_code ebb_audit_history_add(ebb_audit_history *h, const ebb_journal_record *rec,
                                             ebb_error *err);
/* ebb_journal_record_fn with ctx = the history. */
ebb_code ebb_audit_history_fold_fn(const ebb_journal_record *rec, void *ctx, bool *stop,
                                   ebb_error *err);

/*
 * Read the journal file (read-only, ebb_journal_scan: verified, signatures
 * too with trust_key) and fold every record in. A damaged journal is
 * EBB_E_VERIFY naming the record; a torn tail is not an error but is in
 * *report (required), which callers must show.
 */
EBB_MUSTCHECK ebb_code ebb_audit_history_load(ebb_audit_history *h, const char *path,
                                              const ebb_public_key *trust_key,
                                              ebb_journal_report *report, ebb_error *err);

/* Runs in the order they started (journal order). Borrowed. */
size_t ebb_audit_history_count(const ebb_audit_history *h);
const ebb_audit_run *ebb_audit_history_run(const ebb_audit_history *h, size_t i);

/* Which runs to show. Zero-initialised = all; strings compare exactly. */
typedef struct ebb_audit_filter {
    int64_t since_ms; /* run started at or after (0: no bound) */
    int64_t until_ms; /* run started before (0: no bound) */
    const char *environment;
    const char *host; /* the run touched or selected this host */
    const char *database;
    const char *operator_id; /* key id or name of anyone who acted on the run */
    const char *outcome;     /* run outcome name, "running" or "halted" */
    const char *run_id;
} ebb_audit_filter;

bool ebb_audit_run_matches(const ebb_audit_run *run, const ebb_audit_filter *f);

/* The "method" column, e.g. "rollback to 0041; restored from backup on 1 host" into buf. */
void ebb_audit_run_method(const ebb_audit_run *run, char *buf, size_t size);

typedef enum ebb_audit_format {
    EBB_AUDIT_FORMAT_TABLE = 0, /* rollback-history table for people */
    EBB_AUDIT_FORMAT_JSON,      /* array of runs, each with its records */
    EBB_AUDIT_FORMAT_CSV,       /* RFC 4180: CRLF, fields quoted when needed */
} ebb_audit_format;

/*
 * Write the runs that match f (may be NULL) to out in the format.
 * EBB_E_IO when writing fails, EBB_E_NOMEM.
 */
EBB_MUSTCHECK ebb_code ebb_audit_history_write(const ebb_audit_history *h,
                                               const ebb_audit_filter *f, ebb_audit_format format,
                                               FILE *out, ebb_error *err);

/* The matching runs as a JSON array (new reference, caller decrefs; NULL when out of memory). */
json_t *ebb_audit_history_json(const ebb_audit_history *h, const ebb_audit_filter *f);

/* One CSV field per RFC 4180 into out: quoted (quotes doubled) when it holds , " CR or LF. */
void ebb_audit_csv_field(FILE *out, const char *s);

/* ---- verify ---- */

typedef struct ebb_audit_verify_report {
    ebb_journal_report journal; /* records checked, head, first bad record and why */
    uint64_t audit_records;     /* of those, records of audit types */
    uint64_t runs;              /* distinct runs among them */
} ebb_audit_verify_report;

/*
 * `ebb audit verify`: the whole journal must verify (ebb_journal_verify:
 * chain, canonical form, signatures by trust_key when given, anchor when
 * given). EBB_OK or EBB_E_VERIFY (EBB_E_NOT_FOUND / EBB_E_IO when it cannot
 * be read) with *report (required) filled either way.
 */
EBB_MUSTCHECK ebb_code ebb_audit_verify(const char *path, const ebb_public_key *trust_key,
                                        const ebb_journal_anchor *anchor,
                                        ebb_audit_verify_report *report, ebb_error *err);

/* The report for people (several lines) and as JSON (new reference; NULL when out of memory). */
void ebb_audit_verify_report_print(const ebb_audit_verify_report *report, const char *path,
                                   FILE *out);
json_t *ebb_audit_verify_report_json(const ebb_audit_verify_report *report);

#endif
