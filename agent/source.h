/* Reads a migration source directory into the graph model (plain SQL layouts, Sqitch, Alembic). */
#ifndef EBB_AGENT_SOURCE_H
#define EBB_AGENT_SOURCE_H

#include "agent/graph.h"
#include "agent/migration.h"
#include "common/error.h"

/*
 * Layouts (all linear, sorted by version; versions are digit strings of any
 * length compared as numbers, Flyway's dotted component-wise, 1 == 1.0):
 *   golang-migrate  <v>_<name>.up.sql  <v>_<name>.down.sql  [<v>_<name>.verify.sql]
 *   flyway          V<v>__<name>.sql   U<v>__<name>.sql     [V<v>__<name>.sql.verify]
 *   dbmate          <v>_<name>.sql with -- migrate:up / -- migrate:down
 *                                                           [<v>_<name>.sql.verify]
 *   diesel          <v>_<name>/up.sql  down.sql  [verify.sql]  [metadata.toml]
 * Flyway and dbmate verify scripts end in ".sql.verify" because those tools
 * run every *.sql beside their migrations. The id recorded is the version as
 * written (Flyway with dots, Diesel without dashes).
 *
 * A script is no-transaction when its first line is "-- ebb:no-transaction"
 * (dbmate also "-- migrate:up transaction:false", Diesel also
 * run_in_transaction = false); such a script must hold one statement.
 *
 * Every revision needs an up and a down script. Hidden names are skipped,
 * names unrelated to the layout (README.md) ignored, and a name that looks
 * meant as a migration but does not match ("001_x.up.sq", "V1_x.sql") is an
 * error, not a warning: a silently skipped migration is worse than a refused
 * load. checks/<name>.sql are the user data checks (graph->check_paths).
 *
 * Load the project at dir. kind EBB_SOURCE_UNKNOWN detects the layout (an
 * ambiguous or empty directory is an error that says what was found; an
 * explicitly named kind accepts an empty directory as a graph of no
 * revisions). Every error names the file (and line where there is one).
 * Sqitch projects are loaded as agent/source_sqitch.h describes. Alembic
 * projects are loaded with the default Alembic settings (agent/alembic.h;
 * ebb_source_load_alembic takes explicit ones). *out is set only on success; the caller owns it
 * (ebb_graph_fini), and graph->hash is computed.
 */
EBB_MUSTCHECK ebb_code ebb_source_load(const char *dir, ebb_source_kind kind, ebb_graph *out,
                                       ebb_error *err);

/*
 * Parse a target the way the graph's tool does: Sqitch's forms for a Sqitch
 * project (agent/source_sqitch.h: change, @tag, change@tag, @HEAD, @ROOT,
 * ^/~ offsets), Alembic's for an Alembic project (agent/source_alembic.h:
 * prefixes, head, heads, base, BRANCH@head, +N, -N), and ebb's own forms
 * (revision id, head, base, +N, -N) for every kind. *out set only on success.
 */
EBB_MUSTCHECK ebb_code ebb_source_resolve_target(const ebb_graph *graph, const char *text,
                                                 ebb_target *out, ebb_error *err);

/* Detect the layout of dir (top level only) without loading it. *out set only on success. */
EBB_MUSTCHECK ebb_code ebb_source_detect(const char *dir, ebb_source_kind *out, ebb_error *err);

#endif
