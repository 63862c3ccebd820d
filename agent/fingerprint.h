/* Schema fingerprint: a canonical text description of a database schema, its BLAKE2b hash and diffs. */
#ifndef EBB_AGENT_FINGERPRINT_H
#define EBB_AGENT_FINGERPRINT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "common/pgsql.h"

#define EBB_FINGERPRINT_HEX 65 /* BLAKE2b-256 as lowercase hex + NUL */

/*
 * The description is one line per schema object, sorted bytewise, each
 * line ending in '\n':
 *
 *     <kind> <object> <detail>
 *
 * kind is one word (table, column, constraint, index, sequence, view,
 * matview, function, type, enum, domain, extension, trigger, schema);
 * object is the schema-qualified name with every part quoted like
 * quote_ident() does, functions as their regprocedure signature
 * ("public.f(integer,character varying)"), so the object holds spaces only
 * inside double quotes or parentheses;
 * detail is free text (may be empty). Examples:
 *
 *     column public.users.email text not null default ''::text
 *     index public.users_email_key CREATE UNIQUE INDEX users_email_key ON public.users ...
 *     enum public.mood 'sad','ok','happy'
 *
 * No OIDs, no current sequence values, no statistics: only what a migration
 * changes. The `ebb` schema, pg_catalog, information_schema, pg_toast and
 * temporary schemas are excluded, and so is Alembic's version table (a
 * table named alembic_version, with its constraints and indexes): it is
 * bookkeeping, created by the first revision and left behind by a
 * downgrade to base.
 */

/* One catalog row as read (pure input; all strings borrowed). */
typedef struct ebb_fp_row {
    const char *kind;
    const char *object;
    const char *detail; /* NULL is the same as "" */
} ebb_fp_row;

/*
 * Canonical description of rows, in any order: lines formatted as above,
 * newlines and carriage returns inside detail replaced by spaces and runs
 * of blanks collapsed, sorted, exact duplicates dropped. Pure. *out is
 * malloc'd (caller frees) and set only on success ("" for no rows).
 */
EBB_MUSTCHECK ebb_code ebb_fingerprint_canonicalize(const ebb_fp_row *rows, size_t n,
                                                    char **out, ebb_error *err);

/* BLAKE2b-256 (crypto_generichash) of description as lowercase hex into out. Pure. */
void ebb_fingerprint_hash(const char *description, char out[EBB_FINGERPRINT_HEX]);

/* A live fingerprint: the hash and the description it was computed from. */
typedef struct ebb_fingerprint {
    char hex[EBB_FINGERPRINT_HEX];
    char *description; /* owned; ebb_fingerprint_fini frees */
} ebb_fingerprint;

/*
 * Read the schema of the connected database from the catalog and build its
 * fingerprint. Works inside or outside a transaction: it runs under a
 * savepoint (or its own read-only transaction) with an empty search_path so
 * that every name pg_get_*def prints is schema-qualified, and leaves the
 * session's settings and transaction as they were. *out is set only on
 * success; the caller owns it (ebb_fingerprint_fini).
 */
EBB_MUSTCHECK ebb_code ebb_fingerprint_read(ebb_pg *pg, ebb_fingerprint *out, ebb_error *err);
void ebb_fingerprint_fini(ebb_fingerprint *fp);

/* ---- Differences between two descriptions (pure) ---- */

typedef enum ebb_fp_change_kind {
    EBB_FP_ADDED,   /* object only in actual */
    EBB_FP_REMOVED, /* object only in expected */
    EBB_FP_CHANGED, /* object in both, lines differ */
} ebb_fp_change_kind;

typedef struct ebb_fp_change {
    ebb_fp_change_kind kind;
    char *object;     /* "<kind> <object>", e.g. "column public.users.email" (owned) */
    char **expected;  /* lines of this object only in expected (owned, without '\n') */
    size_t n_expected;
    char **actual;    /* lines of this object only in actual (owned) */
    size_t n_actual;
} ebb_fp_change;

typedef struct ebb_fp_diff {
    ebb_fp_change *changes; /* sorted by object (owned) */
    size_t count;           /* 0: the descriptions describe the same schema */
} ebb_fp_diff;

/*
 * Objects that differ between expected and actual descriptions (either may
 * be unsorted; both are parsed as lines of the form above). Lines are
 * grouped by their first two fields ("<kind> <object>"). *out is set only
 * on success and owned by the caller (ebb_fp_diff_fini).
 */
EBB_MUSTCHECK ebb_code ebb_fp_diff_compute(const char *expected, const char *actual,
                                           ebb_fp_diff *out, ebb_error *err);
void ebb_fp_diff_fini(ebb_fp_diff *diff);

/*
 * Human summary, one change per line: "changed column public.users.email:
 * - <expected detail> + <actual detail>", at most max_objects changes
 * (0 = all) and then "... and N more". *out is malloc'd (caller frees).
 */
EBB_MUSTCHECK ebb_code ebb_fp_diff_format(const ebb_fp_diff *diff, size_t max_objects,
                                          char **out, ebb_error *err);

/* Object names, comma separated ("column public.t.a (changed), table public.x (added)"); malloc'd. */
EBB_MUSTCHECK ebb_code ebb_fp_diff_objects(const ebb_fp_diff *diff, size_t max_objects,
                                           char **out, ebb_error *err);

#endif
