/* Revision-graph queries: lookup, heads, targets and the path between two states. Pure code. */
#ifndef EBB_AGENT_GRAPH_H
#define EBB_AGENT_GRAPH_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/migration.h"
#include "common/error.h"

/* Index of revision id in graph (exact match), or -1. */
long ebb_graph_find(const ebb_graph *graph, const char *id);

/*
 * Check the invariants every query relies on: each revision has an id, ids
 * are unique, and every parent comes before its child in revs. Loaders call
 * it before handing a graph out; EBB_E_INVALID names the revision.
 */
EBB_MUSTCHECK ebb_code ebb_graph_check(const ebb_graph *graph, ebb_error *err);

/*
 * The state of a database as a set: applied[i] is true when graph->revs[i]
 * is applied. Built from the registry's list of applied ids; an id the
 * source does not know is an error naming it (the database was migrated from
 * another source or a revision file was deleted).
 */
typedef struct ebb_state {
    bool *applied; /* graph->count entries (owned) */
    size_t count;
} ebb_state;

EBB_MUSTCHECK ebb_code ebb_state_from_ids(const ebb_graph *graph, const char *const *ids,
                                          size_t n_ids, ebb_state *out, ebb_error *err);
void ebb_state_fini(ebb_state *state);

typedef enum ebb_target_kind {
    EBB_TARGET_REVISION, /* a revision id */
    EBB_TARGET_HEAD,     /* everything */
    EBB_TARGET_BASE,     /* nothing */
    EBB_TARGET_RELATIVE, /* +N or -N steps from the current state */
    EBB_TARGET_HEADS,    /* every revision, whatever the number of heads (Alembic's "heads") */
    /* Exactly one revision (id), for step-by-step walks such as rehearsals on
     * graphs with branches: APPLY_ONE applies it alone (its parents must be
     * applied), REVERT_ONE reverts it alone (no applied revision may have it
     * as a parent). Never parsed from text. */
    EBB_TARGET_APPLY_ONE,
    EBB_TARGET_REVERT_ONE,
} ebb_target_kind;

typedef struct ebb_target {
    ebb_target_kind kind;
    char id[256]; /* EBB_TARGET_REVISION */
    long steps;   /* EBB_TARGET_RELATIVE: positive up, negative down; never 0 */
} ebb_target;

/* Parse "head", "base", "+N", "-N" or a revision id. Bad syntax: EBB_E_INVALID. */
EBB_MUSTCHECK ebb_code ebb_target_parse(const char *text, ebb_target *out, ebb_error *err);

typedef enum ebb_direction {
    EBB_DIR_NONE = 0, /* already there */
    EBB_DIR_UP,
    EBB_DIR_DOWN,
} ebb_direction;

typedef struct ebb_path {
    ebb_direction direction;
    size_t *steps; /* revision indices in execution order (owned) */
    size_t count;
} ebb_path;

/*
 * The path from state to target. Up: every ancestor-or-self of the target
 * not applied, in topological order. Down: every applied revision that is
 * not an ancestor-or-self of the target, in reverse topological order.
 * A target that needs both (a sibling branch) is refused with
 * EBB_E_INVALID. Unknown revision or more steps than exist: EBB_E_NOT_FOUND
 * / EBB_E_INVALID with the reason. *out is set only on success.
 */
EBB_MUSTCHECK ebb_code ebb_path_resolve(const ebb_graph *graph, const ebb_state *state,
                                        const ebb_target *target, ebb_path *out,
                                        ebb_error *err);
void ebb_path_fini(ebb_path *path);

/* Heads of the graph (revisions without children), indices into revs; caller frees. */
EBB_MUSTCHECK ebb_code ebb_graph_heads(const ebb_graph *graph, size_t **out, size_t *n_out,
                                       ebb_error *err);

/*
 * Compute and store graph->hash (call after building a graph): BLAKE2b-256
 * over the revision ids, their parents' ids, and each script's presence,
 * no-transaction flag and checksum, taken in id order (parents sorted too),
 * so it depends neither on the directory the project lives in nor on which
 * topological order the loader chose.
 */
void ebb_graph_compute_hash(ebb_graph *graph);

#endif
