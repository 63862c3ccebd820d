/* Internals shared by the probe runner's files: SQL building, result collection, existence checks. */
#ifndef EBB_AGENT_RISK_PROBE_INTERNAL_H
#define EBB_AGENT_RISK_PROBE_INTERNAL_H

#include <stdbool.h>

#include "agent/risk_probe.h"
#include "common/strbuf.h"

/* One probing session: the connection and the options (defaults filled in). */
typedef struct ebb_prober {
    ebb_pg *pg;
    ebb_risk_probe_opts o;
} ebb_prober;

/* Append the quoted, possibly schema-qualified name n to b. */
EBB_MUSTCHECK ebb_code ebb_prober_name(ebb_prober *pr, ebb_strbuf *b, const ebb_risk_name *n,
                                       ebb_error *err);

/* Append one quoted identifier to b. */
EBB_MUSTCHECK ebb_code ebb_prober_ident(ebb_prober *pr, ebb_strbuf *b, const char *ident,
                                        ebb_error *err);

/* n as "schema.name" / "name" for notes (not SQL). */
void ebb_prober_disp(const ebb_risk_name *n, char *buf, size_t size);

/*
 * Whether table n exists (to_regclass on its quoted name): *oid_text gets
 * the oid as text (malloc'd) or NULL when it does not exist.
 */
EBB_MUSTCHECK ebb_code ebb_prober_table(ebb_prober *pr, const ebb_risk_name *n, char **oid_text,
                                        ebb_error *err);

/* Rows of table oid (reltuples, with inheritance children unless only); -1 when unknown. */
EBB_MUSTCHECK ebb_code ebb_prober_reltuples(ebb_prober *pr, const char *oid_text, bool only,
                                            double *out, ebb_error *err);

/*
 * SQL text that names a row of the table in examples: its primary key
 * columns as "(k1)::text" / "row(k1, k2)::text" (prefixed with qualifier
 * and "." when qualifier is not NULL), or ctid::text without a primary key.
 * *label gets "id" / "a, b" / "ctid". Both malloc'd.
 */
EBB_MUSTCHECK ebb_code ebb_prober_row_id(ebb_prober *pr, const char *oid_text,
                                         const char *qualifier, char **sql, char **label,
                                         ebb_error *err);

/* Primary-key column names of table oid (malloc'd array of malloc'd names; n 0 = none). */
EBB_MUSTCHECK ebb_code ebb_prober_pkey(ebb_prober *pr, const char *oid_text, char ***cols,
                                       size_t *n, ebb_error *err);

/*
 * Run sql (params as text) whose rows are (example, count[, rows]): the
 * count (and rows) come from the first row (window totals), examples from
 * every row, prefixed with label and "=" when label is not NULL. No row
 * means count 0. Sets f to DONE on success.
 */
EBB_MUSTCHECK ebb_code ebb_prober_collect(ebb_prober *pr, const char *sql, int nparams,
                                          const char *const *params, const char *label,
                                          ebb_risk_finding *f, ebb_error *err);

/* Run sql whose one value is a count; DONE with that count. */
EBB_MUSTCHECK ebb_code ebb_prober_count(ebb_prober *pr, const char *sql, int nparams,
                                        const char *const *params, ebb_risk_finding *f,
                                        ebb_error *err);

/* The planner's row estimate of sql (EXPLAIN (FORMAT JSON)); DONE, estimate. */
EBB_MUSTCHECK ebb_code ebb_prober_estimate(ebb_prober *pr, const char *sql, ebb_risk_finding *f,
                                           ebb_error *err);

/* Set f's status and note (printf-style; replaces an earlier note). */
void ebb_prober_note(ebb_risk_finding *f, ebb_risk_probe_status status, const char *fmt, ...)
    EBB_PRINTF(3, 4);

/* The kinds with constraint semantics (risk_probe_check.c). */
EBB_MUSTCHECK ebb_code ebb_prober_duplicates(ebb_prober *pr, ebb_risk_probe *p, ebb_error *err);
EBB_MUSTCHECK ebb_code ebb_prober_nulls(ebb_prober *pr, ebb_risk_probe *p, ebb_error *err);
EBB_MUSTCHECK ebb_code ebb_prober_fk(ebb_prober *pr, ebb_risk_probe *p, ebb_error *err);
EBB_MUSTCHECK ebb_code ebb_prober_check(ebb_prober *pr, ebb_risk_probe *p, ebb_error *err);
EBB_MUSTCHECK ebb_code ebb_prober_validate(ebb_prober *pr, ebb_risk_probe *p, ebb_error *err);
EBB_MUSTCHECK ebb_code ebb_prober_narrowing(ebb_prober *pr, ebb_risk_probe *p, ebb_error *err);
EBB_MUSTCHECK ebb_code ebb_prober_dependents(ebb_prober *pr, ebb_risk_probe *p, ebb_error *err);
EBB_MUSTCHECK ebb_code ebb_prober_domain(ebb_prober *pr, ebb_risk_probe *p, ebb_error *err);

#endif
