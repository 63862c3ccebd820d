/* Sqitch projects as ebb graphs: loading, Sqitch target syntax, and requires/conflicts checks on a path. */
#ifndef EBB_AGENT_SOURCE_SQITCH_H
#define EBB_AGENT_SOURCE_SQITCH_H

#include <stddef.h>

#include "agent/graph.h"
#include "agent/migration.h"
#include "common/error.h"

/*
 * Load the Sqitch project at dir: sqitch.conf (when present; read by the
 * sqitch program, see agent/sqitch_conf.h) gives the plan file, script directories and
 * extension; the plan is parsed as Sqitch 1.3 does (agent/sqitch_plan.h).
 *
 * The graph is linear in plan order: each change's parent is the change
 * before it, and its requires/conflicts/tags/note/planner/planned_at are kept
 * in the Sqitch fields of ebb_revision. Revision ids are stable when the plan
 * grows: a change's name for the first change of that name, "name#2",
 * "name#3", ... for its reworks (a reworked change's earlier instance never
 * changes id, so a registry that recorded "x" keeps meaning the first x).
 * Sqitch's own SHA1 change ids are not computed (no SHA1 in ebb's crypto);
 * planner and planned_at are kept so they can be.
 *
 * Scripts: deploy -> up, revert -> down, verify -> verify; a reworked
 * change's earlier instance reads "<name>@<tag>.<ext>" from the reworked
 * directories, choosing the tag as Sqitch does. A missing deploy script is
 * EBB_E_NOT_FOUND naming the file; a missing revert or verify script leaves
 * that script absent (sql == NULL), as Sqitch only needs them when used.
 *
 * The same as ebb_source_load(dir, EBB_SOURCE_SQITCH, ...): user data
 * checks from <dir>/checks/ and graph->hash are filled too. *out is set
 * only on success; the caller frees it with ebb_graph_fini (which frees the
 * Sqitch fields too).
 */
EBB_MUSTCHECK ebb_code ebb_source_load_sqitch(const char *dir, ebb_graph *out, ebb_error *err);

/* Free the Sqitch fields of one revision and zero them. Safe on any revision. */
void ebb_revision_fini_sqitch_fields(ebb_revision *rev);

/* Free the Sqitch fields of the graph and of all its revisions (ebb_graph_fini calls it). */
void ebb_graph_fini_sqitch_fields(ebb_graph *graph);

/*
 * A resolved target: kind EBB_TARGET_REVISION with index into graph->revs,
 * EBB_TARGET_HEAD / EBB_TARGET_BASE, or EBB_TARGET_RELATIVE with steps.
 */
typedef struct ebb_sqitch_target {
    ebb_target_kind kind;
    size_t index; /* EBB_TARGET_REVISION */
    long steps;   /* EBB_TARGET_RELATIVE: positive up, negative down; never 0 */
} ebb_sqitch_target;

/*
 * Resolve text as Sqitch's ChangeList::index_of does, plus ebb's forms:
 *   "name"        the change of that name; a reworked name is ambiguous
 *                 (EBB_E_INVALID listing the tag-qualified choices)
 *   "@tag"        the change the tag follows
 *   "name@tag"    the latest change of that name at or before the tag
 *   "@HEAD", "HEAD", "name@HEAD"  the last change (of that name)
 *   "@ROOT", "ROOT"   the FIRST change, as in Sqitch (reverting to @ROOT
 *                 keeps it deployed; "base" reverts everything)
 *   any of these + "^", "^^", "^N" (N changes earlier), "~", "~~", "~N" (later)
 *   an ebb revision id ("name#2")
 *   "head", "base", "+N", "-N"  ebb's own forms (a change named head or base
 *                 makes "head"/"base" ambiguous: EBB_E_INVALID suggests @HEAD)
 * Unknown change or tag, or an offset outside the plan: EBB_E_NOT_FOUND
 * naming it. *out is set only on success.
 */
EBB_MUSTCHECK ebb_code ebb_sqitch_resolve_target(const ebb_graph *graph, const char *text,
                                                 ebb_sqitch_target *out, ebb_error *err);

/*
 * Check that running path from state keeps every Sqitch dependency, step by
 * step as ebb runs it:
 *  - deploying a change needs each local requirement deployed (already, or
 *    earlier in the path); a bare name is met by any change of that name;
 *  - deploying a change is refused while a change it conflicts with ("!x")
 *    is deployed;
 *  - reverting a change is refused while a change that stays deployed
 *    requires it (and no other change of the name still meets it);
 *  - a requirement or conflict on another project ("other:x") or given as a
 *    Sqitch change id is refused: ebb keeps one registry per project and
 *    cannot see whether the other project's change is deployed, and
 *    deploying on a guess could run a script against a schema it was not
 *    written for. (Sqitch checks them in its shared registry.)
 * Violations are EBB_E_REFUSED with the chain of changes named, e.g.
 * "cannot deploy insert_user: requires users, not deployed (chain:
 * insert_user -> users -> appschema)". Non-Sqitch graphs (no Sqitch
 * fields) always pass. Pure: no I/O.
 */
EBB_MUSTCHECK ebb_code ebb_sqitch_check_path(const ebb_graph *graph, const ebb_state *state,
                                             const ebb_path *path, ebb_error *err);

#endif
