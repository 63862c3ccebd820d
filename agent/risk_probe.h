/* Live, read-only probes: measure on the database what each risky statement of a path would destroy or break. */
#ifndef EBB_AGENT_RISK_PROBE_H
#define EBB_AGENT_RISK_PROBE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "agent/graph.h"
#include "agent/migration.h"
#include "agent/risk.h"
#include "agent/risk_verdict.h"
#include "common/error.h"
#include "common/pgsql.h"

/*
 * The SQL of a step whose script is not SQL (an Alembic migration, run by
 * Alembic): its offline SQL when Alembic can produce it, else why not.
 * Borrowed by the functions below.
 */
typedef struct ebb_risk_external_sql {
    const char *sql;     /* offline SQL of the step, or NULL */
    const char *missing; /* why there is none (used when sql is NULL) */
    const char *bookkeeping_table; /* the tool's version table: statements only on it are
                                      left out of the report (NULL: none) */
} ebb_risk_external_sql;

typedef struct ebb_risk_probe_opts {
    long statement_timeout_ms; /* every probe query (SET LOCAL statement_timeout); 0 = 5000 */
    long lock_timeout_ms;      /* waiting for a table lock (SET LOCAL lock_timeout); 0 = 2000 */
    double estimate_above;     /* tables with more rows (pg_class.reltuples, with children)
                                  get the planner's estimate instead of a count; 0 = 1000000 */
    size_t max_examples;       /* offending keys kept per probe; 0 = 5 */
} ebb_risk_probe_opts;

/* Zero everything (the defaults above). */
void ebb_risk_probe_opts_init(ebb_risk_probe_opts *opts);

/*
 * Classify every script of path (up scripts for an up path, down scripts
 * for a down path) into out, in path order: items carry the revision id
 * and their file's real line numbers; then mark the probes whose objects
 * an earlier statement on the path changes (ebb_risk_mark_changes). Pure.
 * A step whose script is external (not SQL) is never parsed: external
 * (path->count entries, or NULL) gives its offline SQL, which is classified
 * instead; without it the step is one UNKNOWN item saying why.
 * *out is set only on success (caller: ebb_risk_report_fini).
 */
EBB_MUSTCHECK ebb_code ebb_risk_classify_path(const ebb_graph *graph, const ebb_path *path,
                                              const ebb_risk_external_sql *external,
                                              ebb_risk_report *out, ebb_error *err);

/*
 * Run every probe of report on pg and fill probe->found. All probes run in
 * one REPEATABLE READ READ ONLY transaction (one snapshot) with SET LOCAL
 * statement_timeout and lock_timeout, each under its own savepoint, and the
 * transaction is rolled back: nothing is ever written. A probe whose table,
 * column or type does not exist is ABSENT ("does not exist before the path
 * runs"); a probe that errors or times out is FAILED with the server's
 * message; the other probes still run. WHERE, USING, CHECK and index
 * expression texts come from the operator's migration scripts and are run
 * as written, only inside that read-only, timed-out transaction; every
 * identifier is quoted with ebb_pg_quote_ident and numbers are parameters.
 * Fails only when the connection fails, or on EBB_E_NOMEM; must be called
 * outside a transaction.
 */
EBB_MUSTCHECK ebb_code ebb_risk_probe_report(ebb_pg *pg, const ebb_risk_probe_opts *opts,
                                             ebb_risk_report *report, ebb_error *err);

/*
 * ebb_risk_classify_path, then ebb_risk_probe_report (opts may be NULL for
 * the defaults). *out is set only on success; caller: ebb_risk_report_fini.
 */
EBB_MUSTCHECK ebb_code ebb_risk_probe_path(ebb_pg *pg, const ebb_graph *graph,
                                           const ebb_path *path,
                                           const ebb_risk_external_sql *external,
                                           const ebb_risk_probe_opts *opts,
                                           ebb_risk_report *out, ebb_error *err);

/*
 * The report as JSON (new reference; NULL on allocation failure):
 * {"worst", "rows_at_risk", "rows_estimated", "at_risk", "unknown",
 *  "certain_failures", "probes_failed", "items": [{"revision", "file",
 *  "line", "kind", "level", "reason", "statement", "data_at_risk",
 *  "certain_failure", "probes": [{"kind", "target", "column", "status",
 *  "count", "rows", "estimate", "at_least", "examples", "note",
 *  "changed_by"}]}]}. Items of level low are left out unless all_items.
 * docs/risk.md documents the fields.
 */
json_t *ebb_risk_report_json(const ebb_risk_report *report, bool all_items);

/*
 * One line per probe of a risky item for people: "file:line KIND level:
 * what was found". *out is malloc'd; caller frees.
 */
EBB_MUSTCHECK ebb_code ebb_risk_finding_text(const ebb_risk_item *item, const ebb_risk_probe *p,
                                             char **out, ebb_error *err);

#endif
