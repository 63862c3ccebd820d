/* Risk analysis of migration scripts: what each statement may destroy, and what a live probe must check. */
#ifndef EBB_AGENT_RISK_H
#define EBB_AGENT_RISK_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

/*
 * Levels, in increasing order of severity (the enum values ARE the order):
 *   LOW     nothing existing can be lost or make the statement fail;
 *   MEDIUM  existing rows may make it fail (it destroys nothing by itself);
 *   HIGH    it deletes or rewrites data;
 *   UNKNOWN the parser could not read it, or its effect is hidden (DO block,
 *           CALL, EXECUTE, SELECT of a function). It ranks ABOVE high: a
 *           hidden effect may be a DROP TABLE, and unlike a high statement
 *           no probe can measure it. A policy that refuses medium or high
 *           without a flag therefore refuses unknown too, and accepting
 *           high does not accept unknown (docs/risk.md).
 */
typedef enum ebb_risk_level {
    EBB_RISK_LOW = 0,
    EBB_RISK_MEDIUM,
    EBB_RISK_HIGH,
    EBB_RISK_UNKNOWN,
} ebb_risk_level;

/* "low", "medium", "high", "unknown"; "?" for an out-of-range value. */
const char *ebb_risk_level_name(ebb_risk_level level);

/* true when level is at least as severe as threshold (order above). */
bool ebb_risk_level_at_least(ebb_risk_level level, ebb_risk_level threshold);

/* What a live, read-only probe must measure for one risky statement. */
typedef enum ebb_risk_probe_kind {
    EBB_PROBE_ROWS_IN_TABLE,     /* rows of target (DROP TABLE, TRUNCATE; ADD COLUMN that needs an empty table) */
    EBB_PROBE_ROWS_IN_SCHEMA,    /* rows in every table of schema target.name (DROP SCHEMA CASCADE) */
    EBB_PROBE_NONNULL_IN_COLUMN, /* non-NULL values of keys[0].column in target (DROP COLUMN) */
    EBB_PROBE_ROWS_MATCHING,     /* rows of target a DELETE / UPDATE touches: expr = WHERE (NULL = every row) */
    EBB_PROBE_NARROWING_TYPE,    /* values of keys[0].column that do not fit new_type (or fail expr = USING) */
    EBB_PROBE_DUPLICATES,        /* duplicate groups over keys in target (expr = partial-index predicate) */
    EBB_PROBE_NULLS,             /* NULLs in keys[0].column of target (SET NOT NULL, PRIMARY KEY) */
    EBB_PROBE_FK_ORPHANS,        /* rows of target whose keys have no match in ref_table(ref_columns) */
    EBB_PROBE_CHECK,             /* rows of target for which expr is false */
    EBB_PROBE_VALIDATE,          /* rows of target violating the existing constraint named constraint */
    EBB_PROBE_DEPENDENTS,        /* what depends on the object_kind target (what CASCADE drops, RESTRICT trips on) */
    EBB_PROBE_DOMAIN_VALUES,     /* values in columns of domain target that break: not_null, or CHECK expr */
} ebb_risk_probe_kind;

/* "rows-in-table", "nonnull-in-column", ...; "?" for an out-of-range value. */
const char *ebb_risk_probe_kind_name(ebb_risk_probe_kind kind);

/*
 * A possibly schema-qualified name, de-quoted as the parser gives it
 * ("Weird Name" is stored as Weird Name). schema "" means the search_path.
 * The prober quotes both parts itself (PQescapeIdentifier).
 */
typedef struct ebb_risk_name {
    char *schema; /* never NULL */
    char *name;   /* never NULL */
} ebb_risk_name;

/* One key of a column list: a plain column, or an index expression as written. */
typedef struct ebb_risk_key {
    char *column; /* de-quoted column name, or NULL */
    char *expr;   /* expression text from the statement, or NULL; exactly one is set */
} ebb_risk_key;

/* The target type of ALTER COLUMN TYPE. */
typedef struct ebb_risk_type {
    ebb_risk_name name; /* de-quoted; "varchar(20)" gives {"pg_catalog", "varchar"} */
    char **mods;        /* typmods as text: {"20"}, {"10", "2"} */
    size_t n_mods;
    int array_dims;     /* 0 for a scalar */
    char *text;         /* the type exactly as written: "character varying(20)" */
} ebb_risk_type;

typedef struct ebb_risk_probe {
    ebb_risk_probe_kind kind;
    const char *object_kind; /* static: "table", "column", "schema", "type", "domain", ... */
    ebb_risk_name target;    /* the table (or the object_kind object) the probe looks at */
    bool only;               /* ONLY: without inheritance children / partitions */
    char *alias;             /* ROWS_MATCHING: alias of target used in expr/from_text, or NULL */
    ebb_risk_key *keys;      /* column list (see the kinds); n_keys 0 = not extractable */
    size_t n_keys;
    ebb_risk_name ref_table; /* FK_ORPHANS: referenced table */
    char **ref_columns;      /* FK_ORPHANS: referenced columns; n_ref_columns 0 = its primary key */
    size_t n_ref_columns;
    bool match_full;         /* FK_ORPHANS: MATCH FULL (else MATCH SIMPLE) */
    bool nulls_not_distinct; /* DUPLICATES: NULLs count as equal (UNIQUE NULLS NOT DISTINCT) */
    bool not_null;           /* DOMAIN_VALUES: the new rule is NOT NULL */
    ebb_risk_type new_type;  /* NARROWING_TYPE */
    char *expr;              /* WHERE / USING / CHECK / predicate text from the statement, or NULL */
    char *from_text;         /* ROWS_MATCHING: DELETE USING / UPDATE FROM list as written, or NULL */
    char *with_text;         /* ROWS_MATCHING: the leading "WITH ..." clause as written, or NULL */
    char *constraint;        /* VALIDATE: constraint name */
} ebb_risk_probe;

/* Longest statement text kept in an item, in bytes (longer ones end in "..."). */
#define EBB_RISK_STMT_MAX 200

/*
 * One finding: a statement, or one subcommand of an ALTER TABLE (each
 * subcommand is its own item, with the same line and statement text, so
 * every action keeps its own level, reason and probes). An item carries one
 * probe per object it touches; low items carry none, and a few risky kinds
 * that no read-only query can predict carry none either (reason says why).
 */
typedef struct ebb_risk_item {
    char *file;             /* copy of the file name given to classify */
    int line;               /* 1-based line of the statement's first token */
    size_t stmt_index;      /* 0-based statement number in the script */
    char *statement;        /* whitespace-collapsed, at most EBB_RISK_STMT_MAX bytes */
    const char *kind;       /* static label: "DROP COLUMN", "UPDATE", "DO", "SYNTAX ERROR", ... */
    ebb_risk_level level;
    char *reason;           /* one sentence: what it destroys or why it may fail */
    ebb_risk_probe *probes; /* owned */
    size_t n_probes;
} ebb_risk_item;

/* Items of one or more scripts, in script order. Zero-initialise, then classify. */
typedef struct ebb_risk_report {
    ebb_risk_item *items; /* owned; ebb_risk_report_fini frees */
    size_t count;
    size_t cap;
} ebb_risk_report;

/*
 * Classify every statement of sql (NUL-terminated) and append the items to
 * report. file names the script in the items (copied). A script the parser
 * cannot read is not an error: its statements are split with the scanner,
 * those that parse are classified, the others become UNKNOWN items with the
 * parser's message and line. Fails only on EBB_E_NOMEM or EBB_E_INVALID
 * (NULL argument); on failure report is left as it was. Pure: no I/O.
 */
EBB_MUSTCHECK ebb_code ebb_risk_classify_script(const char *sql, const char *file,
                                                ebb_risk_report *report, ebb_error *err);

/* Worst level in report by the order above; EBB_RISK_LOW when empty. */
ebb_risk_level ebb_risk_report_worst(const ebb_risk_report *report);

/* Free everything report owns and zero it. report may be NULL. */
void ebb_risk_report_fini(ebb_risk_report *report);

#endif
