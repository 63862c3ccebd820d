/* Data checks around a downgrade: row counts before/after, foreign-key orphans, user check files. */
#ifndef EBB_AGENT_DATACHECK_H
#define EBB_AGENT_DATACHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/graph.h"
#include "agent/migration.h"
#include "common/error.h"
#include "common/pgsql.h"

/* ---- Row counts ---- */

typedef struct ebb_table_count {
    char *schema; /* owned */
    char *table;  /* owned */
    long long rows;
} ebb_table_count;

typedef struct ebb_row_counts {
    ebb_table_count *tables; /* sorted by schema, table (owned) */
    size_t count;
} ebb_row_counts;

/*
 * Exact count(*) of every user table (relkind r and p; not the ebb schema
 * nor system schemas), read in one REPEATABLE READ READ ONLY transaction so
 * the counts are one snapshot; must be called outside a transaction.
 * Identifiers are quoted with ebb_pg_quote_ident. *out set only on success;
 * caller: ebb_row_counts_fini.
 */
EBB_MUSTCHECK ebb_code ebb_datacheck_count_rows(ebb_pg *pg, ebb_row_counts *out, ebb_error *err);
void ebb_row_counts_fini(ebb_row_counts *counts);

/*
 * Tables named in scripts (pure, on the PostgreSQL parser): every relation
 * reference (RangeVar: CREATE/ALTER/INSERT/UPDATE/DELETE/SELECT/TRUNCATE,
 * ...) and the objects of DROP TABLE. Names as written: "schema.table" or
 * bare "table". Not seen: tables touched only inside function bodies,
 * triggers or dynamic SQL; the comparison therefore reports every changed
 * table and only flags whether the path names it. A script the parser
 * cannot read is EBB_E_INVALID. *out: malloc'd array of malloc'd names,
 * sorted, unique (caller frees each and the array).
 */
EBB_MUSTCHECK ebb_code ebb_datacheck_touched_tables(const char *const *scripts, size_t n_scripts,
                                                    char ***out, size_t *n_out, ebb_error *err);

/* True when schema.table matches one of names ("schema.table", or a bare "table" in any schema). Pure. */
bool ebb_datacheck_name_matches(const char *schema, const char *table, char *const *names,
                                size_t n_names);

typedef struct ebb_count_change {
    char *schema; /* owned */
    char *table;  /* owned */
    long long before; /* -1: table did not exist before */
    long long after;  /* -1: table does not exist after */
    bool touched;     /* the path's scripts name this table */
} ebb_count_change;

typedef struct ebb_count_diff {
    ebb_count_change *changes; /* sorted by schema, table (owned) */
    size_t count;
    size_t n_untouched; /* changes with touched == false: these fail the check */
} ebb_count_diff;

/*
 * Tables whose count changed, appeared or disappeared between before and
 * after, each flagged touched when it matches touched (names from
 * ebb_datacheck_touched_tables). Pure. *out set only on success; caller:
 * ebb_count_diff_fini.
 */
EBB_MUSTCHECK ebb_code ebb_datacheck_compare_counts(const ebb_row_counts *before,
                                                    const ebb_row_counts *after,
                                                    char *const *touched, size_t n_touched,
                                                    ebb_count_diff *out, ebb_error *err);
void ebb_count_diff_fini(ebb_count_diff *diff);

/* ---- Foreign-key orphans ---- */

typedef struct ebb_fk_orphans {
    char *constraint_name; /* schema.table.constraint (owned) */
    char *child;           /* schema.table (owned) */
    char *parent;          /* schema.table (owned) */
    long long orphans;     /* child rows whose key columns are all non-NULL and have no parent */
} ebb_fk_orphans;

typedef struct ebb_fk_report {
    ebb_fk_orphans *fks; /* every foreign key checked, sorted by constraint_name (owned) */
    size_t count;
    size_t n_with_orphans;
} ebb_fk_report;

/*
 * For every foreign key of a user table (from pg_constraint, also NOT VALID
 * ones), count orphan rows with a query built from the catalog (quoted
 * identifiers; MATCH SIMPLE semantics). Read-only. *out set only on
 * success; caller: ebb_fk_report_fini.
 */
EBB_MUSTCHECK ebb_code ebb_datacheck_fk_orphans(ebb_pg *pg, ebb_fk_report *out, ebb_error *err);
void ebb_fk_report_fini(ebb_fk_report *rep);

/* ---- User checks ---- */

typedef struct ebb_user_check {
    char *path;       /* the check file (owned) */
    bool passed;      /* zero rows, or a single row with a single true boolean */
    long rows;        /* rows returned */
    char *first_rows; /* up to 3 rows, "col=value, ..." one per line (owned; NULL when passed) */
    char *error;      /* server error running it (owned; NULL when it ran) */
} ebb_user_check;

typedef struct ebb_user_check_report {
    ebb_user_check *checks; /* in graph->check_paths order (owned) */
    size_t count;
    size_t n_failed;
} ebb_user_check_report;

/*
 * Run each of graph->check_paths (one query per file) in a read-only
 * transaction that is rolled back. A check passes when it returns no rows
 * or exactly one row of one boolean column that is true. A file that cannot
 * be read is EBB_E_IO; a query error is a failed check (not a function
 * error). *out set only on success; caller: ebb_user_check_report_fini.
 */
EBB_MUSTCHECK ebb_code ebb_datacheck_user_checks(ebb_pg *pg, const ebb_graph *graph,
                                                 ebb_user_check_report *out, ebb_error *err);
void ebb_user_check_report_fini(ebb_user_check_report *rep);

/* ---- All of it around a down path ---- */

typedef struct ebb_datacheck_report {
    ebb_count_diff counts;
    ebb_fk_report fks;
    ebb_user_check_report user;
    bool ok; /* no untouched table changed, no orphans, every user check passed */
} ebb_datacheck_report;

/*
 * After a path ran: compare before with live counts (touched = tables named
 * in the path's scripts: down scripts for a down path, up for up), orphans,
 * user checks. Returns EBB_OK when the checks ran (report->ok says whether
 * they passed); *out set only on success; caller: ebb_datacheck_report_fini.
 */
EBB_MUSTCHECK ebb_code ebb_datacheck_after(ebb_pg *pg, const ebb_graph *graph,
                                           const ebb_path *path, const ebb_row_counts *before,
                                           ebb_datacheck_report *out, ebb_error *err);
void ebb_datacheck_report_fini(ebb_datacheck_report *rep);

/* Multi-line human summary of what failed ("" when ok); malloc'd. */
EBB_MUSTCHECK ebb_code ebb_datacheck_report_format(const ebb_datacheck_report *rep, char **out,
                                                   ebb_error *err);

#endif
