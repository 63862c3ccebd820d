/* Helpers shared by the plain-SQL source readers (agent/source*.c only). */
#ifndef EBB_AGENT_SOURCE_INTERNAL_H
#define EBB_AGENT_SOURCE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/migration.h"
#include "common/error.h"

/* Scripts larger than this are refused: a migration is not a data dump. */
#define EBB_SOURCE_MAX_SCRIPT ((size_t)32 << 20)

/* ---- directory listing ---- */

typedef struct ebb_source_dirent {
    char *name;  /* owned */
    bool is_dir; /* after following symlinks; false when stat fails */
} ebb_source_dirent;

typedef struct ebb_source_dir {
    ebb_source_dirent *entries; /* owned, sorted by name (strcmp) */
    size_t count;
} ebb_source_dir;

/*
 * List dir, sorted by name, without "." and ".." and without hidden names
 * (".keep", editor swap files): no layout puts a migration in a dot file.
 * *out is set only on success; free with ebb_source_dir_fini.
 */
EBB_MUSTCHECK ebb_code ebb_source_dir_list(const char *dir, ebb_source_dir *out, ebb_error *err);
void ebb_source_dir_fini(ebb_source_dir *dir);

/* "a/b" in new memory (caller frees), NULL when out of memory. */
char *ebb_source_path_join(const char *a, const char *b);

/*
 * Read a whole regular file into new memory, NUL-terminated (caller frees
 * *out). Refuses non-regular files, files over EBB_SOURCE_MAX_SCRIPT and
 * files holding a NUL byte; every error names path.
 */
EBB_MUSTCHECK ebb_code ebb_source_read_file(const char *path, char **out, size_t *len,
                                            ebb_error *err);

/* BLAKE2b-256 of data as lowercase hex into out. */
void ebb_source_checksum(const char *data, size_t len, char out[EBB_CHECKSUM_HEX]);

/*
 * Compare two digit strings as unbounded numbers: leading zeros stripped,
 * then the longer is larger, then byte order. Never overflows.
 */
int ebb_version_compare(const char *a, size_t alen, const char *b, size_t blen);
/* Both NUL-terminated digit strings. */
int ebb_version_compare_str(const char *a, const char *b);
/* Dotted versions ("1.2.10"), component-wise; missing components count as 0 (1 == 1.0). */
int ebb_version_compare_dotted(const char *a, const char *b);

/* True when s[0..n) is one or more ASCII digits. */
bool ebb_source_all_digits(const char *s, size_t n);
/* True when s ends with suffix. */
bool ebb_source_ends_with(const char *s, const char *suffix);

/*
 * Fill *script. Takes ownership of path and sql (both freed on failure).
 * The script is no-transaction when force_no_tx or its first line is
 * "-- ebb:no-transaction"; another "-- ebb:" directive is an error. A
 * no-transaction script must hold at most one statement (checked with the
 * PostgreSQL parser). first_line is the line of path where sql starts.
 */
EBB_MUSTCHECK ebb_code ebb_source_script_set(ebb_script *script, char *path, int first_line,
                                             char *sql, size_t len, bool force_no_tx,
                                             ebb_error *err);

/* User data checks: <graph->root>/checks/<name>.sql, sorted, into graph->check_paths. */
EBB_MUSTCHECK ebb_code ebb_source_load_checks(ebb_graph *graph, ebb_error *err);

/* ---- building a linear graph from the files of a layout ---- */

typedef enum ebb_source_role {
    EBB_ROLE_UP,
    EBB_ROLE_DOWN,
    EBB_ROLE_VERIFY,
    EBB_ROLE_BOTH, /* one file holding up and down (dbmate) */
} ebb_source_role;

typedef struct ebb_source_entry {
    char *version; /* the revision id (owned) */
    char *name;    /* descriptive name (owned) */
    char *relpath; /* file, relative to the source root (owned) */
    ebb_source_role role;
    bool force_no_tx; /* Diesel's run_in_transaction = false */
} ebb_source_entry;

typedef struct ebb_source_entries {
    ebb_source_entry *v; /* owned */
    size_t count, cap;
} ebb_source_entries;

/* Append copies of version[0..vlen), name[0..nlen) and relpath. */
EBB_MUSTCHECK ebb_code ebb_source_entries_add(ebb_source_entries *e, const char *version,
                                              size_t vlen, const char *name, size_t nlen,
                                              const char *relpath, ebb_source_role role,
                                              bool force_no_tx, ebb_error *err);
void ebb_source_entries_fini(ebb_source_entries *e);

typedef int (*ebb_source_cmp_fn)(const char *a, const char *b);
/*
 * Split one EBB_ROLE_BOTH file into its up and down scripts. Takes
 * ownership of path and text; fills up and down (which the caller frees with
 * the revision, also on failure).
 */
typedef ebb_code (*ebb_source_split_fn)(char *path, char *text, size_t len, ebb_script *up,
                                        ebb_script *down, ebb_error *err);

/*
 * Group entries by version (cmp == 0), check each group (one file per role,
 * one spelling of version and name, an up and a down), read the scripts and
 * fill graph->revs / graph->count as a linear history in version order.
 * split may be NULL when no entry has EBB_ROLE_BOTH. Sorts e in place.
 * On failure graph->revs is left NULL.
 */
EBB_MUSTCHECK ebb_code ebb_source_build(const char *root, ebb_source_entries *e,
                                        ebb_source_cmp_fn cmp, ebb_source_split_fn split,
                                        ebb_graph *graph, ebb_error *err);

/* ---- layouts ---- */

/* Detection: true when dir holds a file of the layout; *example names one. */
bool ebb_golang_detect(const ebb_source_dir *dir, const char **example);
bool ebb_flyway_detect(const ebb_source_dir *dir, const char **example);
bool ebb_dbmate_detect(const ebb_source_dir *dir, const char **example);
bool ebb_diesel_detect(const char *root, const ebb_source_dir *dir, const char **example);

/* Load: fill graph->revs and graph->count from root (listed as dir). */
EBB_MUSTCHECK ebb_code ebb_golang_load(const char *root, const ebb_source_dir *dir,
                                       ebb_graph *graph, ebb_error *err);
EBB_MUSTCHECK ebb_code ebb_flyway_load(const char *root, const ebb_source_dir *dir,
                                       ebb_graph *graph, ebb_error *err);
EBB_MUSTCHECK ebb_code ebb_dbmate_load(const char *root, const ebb_source_dir *dir,
                                       ebb_graph *graph, ebb_error *err);
EBB_MUSTCHECK ebb_code ebb_diesel_load(const char *root, const ebb_source_dir *dir,
                                       ebb_graph *graph, ebb_error *err);
/*
 * Sqitch (agent/source_sqitch.c): fills revs, count and the Sqitch fields of
 * graph (kind and root already set). On failure graph may hold part of the
 * project: the caller frees it with ebb_graph_fini.
 */
EBB_MUSTCHECK ebb_code ebb_sqitch_load(const char *root, ebb_graph *graph, ebb_error *err);

#endif
