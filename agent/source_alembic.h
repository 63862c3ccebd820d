/* Alembic projects as ebb graphs: the revision graph from Alembic itself, targets, heads and
 * applied sets. */
#ifndef EBB_AGENT_SOURCE_ALEMBIC_H
#define EBB_AGENT_SOURCE_ALEMBIC_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/alembic.h"
#include "agent/graph.h"
#include "agent/migration.h"
#include "common/error.h"

/*
 * Load the Alembic project at dir: the graph comes from Alembic itself
 * (ebb_alembic_graph_json: branches, merges, branch labels, depends_on),
 * each revision's up and down scripts are its module (.py) marked external,
 * with the module's BLAKE2b as checksum, so a changed migration file is
 * caught like a changed SQL script. conf may be NULL (defaults, ini =
 * <dir>/alembic.ini); when conf->ini is NULL that default is used too.
 * graph->hash is computed; user checks come from <dir>/checks/NAME.sql.
 * *out set only on success; caller: ebb_graph_fini.
 */
EBB_MUSTCHECK ebb_code ebb_source_load_alembic(const char *dir, const ebb_alembic_conf *conf,
                                               ebb_graph *out, ebb_error *err);

/*
 * Pure part of the loader: the helper's JSON ({"revisions": [{revision,
 * down_revisions, depends_on, branch_labels, doc, path}], "heads"}) into
 * graph->revs / count (kind, root and scripts' text are the caller's).
 * Parents are the down_revisions then the depends_on ids; a revision must
 * come after all of them (EBB_E_INVALID naming it otherwise). On failure
 * graph may hold part of the revisions (ebb_graph_fini frees them).
 */
EBB_MUSTCHECK ebb_code ebb_alembic_graph_parse(const char *json, ebb_graph *graph, ebb_error *err);

/*
 * Alembic's heads of a set of revisions: the members of the set that no
 * other member names as a down_revision (a depends_on does not count, as
 * in Alembic). applied has graph->count entries. *out malloc'd indices in
 * graph order (caller frees), set only on success.
 */
EBB_MUSTCHECK ebb_code ebb_alembic_heads_of(const ebb_graph *graph, const bool *applied,
                                            size_t **out, size_t *n_out, ebb_error *err);

/*
 * The applied set that version-table heads mean: every head and all its
 * ancestors (down_revisions and dependencies). applied has graph->count
 * entries and is overwritten. A head the graph does not know:
 * EBB_E_NOT_FOUND naming it (the database was migrated with other files).
 */
EBB_MUSTCHECK ebb_code ebb_alembic_applied_from_heads(const ebb_graph *graph,
                                                      const char *const *heads, size_t n,
                                                      bool *applied, ebb_error *err);

/*
 * Resolve an Alembic target: a revision id or a unique prefix of one
 * (ambiguous: EBB_E_INVALID listing the candidates), "heads" (everything),
 * "head" (the one head; with several, EBB_E_INVALID naming them and
 * suggesting heads or BRANCH@head), "base", "+N", "-N", and "LABEL@head" /
 * "REV@head" (the head of the branch carrying that branch label, or the
 * head that descends from that revision). Pure. *out set only on success.
 */
EBB_MUSTCHECK ebb_code ebb_alembic_resolve_target(const ebb_graph *graph, const char *text,
                                                  ebb_target *out, ebb_error *err);

#endif
