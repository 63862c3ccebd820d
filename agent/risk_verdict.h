/* What probe results mean, as pure code: narrowing checks, changes earlier on a path, totals and refusal. */
#ifndef EBB_AGENT_RISK_VERDICT_H
#define EBB_AGENT_RISK_VERDICT_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/risk.h"
#include "common/error.h"

/* ---- ALTER COLUMN TYPE: which check tells whether every value fits ---- */

typedef enum ebb_narrow_check {
    EBB_NARROW_FITS,         /* every value of the old type fits the new one: nothing to count */
    EBB_NARROW_LENGTH,       /* rows with char_length(rtrim(v::text)) > limit (varchar(n), char(n)) */
    EBB_NARROW_INT_RANGE,    /* rows with round(v::numeric) outside [min, max] (int2/int4/int8) */
    EBB_NARROW_NUMERIC,      /* rows with v::numeric infinite or abs(round(v, scale)) >= 10^(precision-scale) */
    EBB_NARROW_TEXT_INT,     /* text rows that are not an integer literal, or are outside [min, max] */
    EBB_NARROW_TEXT_NUMERIC, /* text rows that are not a numeric literal (or out of numeric(p,s)) */
    EBB_NARROW_CAST_TRIAL,   /* convert every value; a failure names the first bad value only */
} ebb_narrow_check;

/* "fits", "length", "int-range", "numeric-range", "text-int", "text-numeric", "cast-trial". */
const char *ebb_narrow_check_name(ebb_narrow_check check);

typedef struct ebb_narrow_plan {
    ebb_narrow_check check;
    long long min, max;  /* INT_RANGE, TEXT_INT */
    int limit;           /* LENGTH: characters */
    int precision;       /* NUMERIC, TEXT_NUMERIC: 0 = no typmod (any numeric) */
    int scale;           /* NUMERIC, TEXT_NUMERIC (may be negative in PostgreSQL 15) */
} ebb_narrow_plan;

/*
 * Decide the check for converting a column of the old type to new_type.
 * old_typname is pg_type.typname of the column ("varchar", "int4",
 * "numeric", "_int4" for arrays), old_typmod its atttypmod (-1 = none).
 * has_using: the values come from a USING expression, whose type is not
 * known here: length-limited targets get LENGTH over the expression's
 * text, everything else a CAST_TRIAL. Types outside the common families
 * (and arrays, and types in other schemas) get CAST_TRIAL. Pure.
 */
void ebb_narrow_decide(const char *old_typname, int old_typmod, const ebb_risk_type *new_type,
                       bool has_using, ebb_narrow_plan *out);

/* ---- changes earlier on the path ---- */

/*
 * For every probe of report, find the first earlier item that changes what
 * the probe reads (see ebb_risk_touch_kind; an UNKNOWN item may change
 * anything) and set probe->found.changed_by to "file:line KIND". Items are
 * taken in report order, which must be path order. Pure; EBB_E_NOMEM only.
 */
EBB_MUSTCHECK ebb_code ebb_risk_mark_changes(ebb_risk_report *report, ebb_error *err);

/* ---- totals and the decision ---- */

/* Whether an item's probes show that it will certainly fail (a constraint the data breaks). */
bool ebb_risk_item_certain_failure(const ebb_risk_item *item);

/*
 * Whether an item puts existing data at risk: HIGH with rows found (> 0,
 * estimates included), or HIGH where a probe could not measure (failed,
 * cannot probe, or no probe at all). A probe of an object that does not
 * exist before the path (ABSENT) measures nothing to lose.
 */
bool ebb_risk_item_data_at_risk(const ebb_risk_item *item);

typedef struct ebb_risk_summary {
    ebb_risk_level worst;
    long long rows_at_risk;   /* rows found by the row probes of HIGH items */
    bool rows_estimated;      /* some of rows_at_risk are planner estimates or lower bounds */
    size_t n_at_risk;         /* items with data at risk */
    size_t n_unknown;         /* UNKNOWN items */
    size_t n_certain_failures;
    size_t n_probes_failed;   /* probes that failed or timed out */
} ebb_risk_summary;

void ebb_risk_summarize(const ebb_risk_report *report, ebb_risk_summary *out);

typedef enum ebb_risk_verdict {
    EBB_RISK_ALLOW = 0,
    EBB_RISK_REFUSE_DATA_LOSS, /* data at risk, --accept-data-loss not given */
    EBB_RISK_REFUSE_UNKNOWN,   /* unknown statements, --accept-unknown not given */
    EBB_RISK_REFUSE_CERTAIN,   /* a constraint will certainly fail: refused even when accepted */
} ebb_risk_verdict;

/* "allow", "refuse-data-loss", "refuse-unknown", "refuse-certain-failure". */
const char *ebb_risk_verdict_name(ebb_risk_verdict verdict);

/*
 * The decision for a probed path. Certain failures come first (no flag
 * accepts them); then data at risk unless accept_data_loss; then UNKNOWN
 * items unless accept_unknown (accepting data loss does not accept unknown:
 * risk.h orders UNKNOWN above HIGH). Pure.
 */
ebb_risk_verdict ebb_risk_decide(const ebb_risk_report *report, bool accept_data_loss,
                                 bool accept_unknown);

#endif
