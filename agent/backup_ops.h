/* Helpers the backup files share (take and restore): not for other modules. */
#ifndef EBB_AGENT_BACKUP_OPS_H
#define EBB_AGENT_BACKUP_OPS_H

#include <stdbool.h>

#include "agent/backup.h"
#include "common/error.h"
#include "common/runner.h"

/* Remove a dump: a file, or a directory and its files. Missing is fine. */
void ebb_backup_remove_path(const char *path);

/*
 * Connect once and read current_database(), server_version, the major
 * version and whether the schema ebb (the registry) exists. Each
 * out-parameter may be NULL; strings are malloc'd (caller frees). Set only
 * on success.
 */
EBB_MUSTCHECK ebb_code ebb_backup_db_facts(const char *conninfo, char **database,
                                           char **server_version, int *major,
                                           bool *has_registry, ebb_error *err);

/* First line of `prog --version` into *out (malloc'd). */
EBB_MUSTCHECK ebb_code ebb_backup_tool_version(const char *prog, const char *const *env,
                                               char **out, ebb_error *err);

/* `pg_restore --list path` with each stdout line given to on_line (may be NULL). */
EBB_MUSTCHECK ebb_code ebb_backup_list_toc(const ebb_backup_opts *opts, const char *prog,
                                           const char *path, const char *const *env,
                                           ebb_run_line_fn on_line, void *line_ctx,
                                           ebb_error *err);

/*
 * Whether a line of `pg_restore --list` goes into a restore over a database
 * that has a registry. Of the schema ebb only the table ebb.applied (the
 * applied revisions: table, data, sequence, defaults, constraints, indexes,
 * triggers, grants) is restored; the schema itself, the append-only
 * histories ebb.events and ebb.fingerprints, and the registry's own
 * functions stay as they are live, so what happened since the backup is
 * still recorded after it. Every other line is kept. Pure.
 */
bool ebb_backup_toc_line_restorable(const char *line);

#endif
