/* Test fixture for the migration engine: a project directory written from strings, a database per test. */
#ifndef EBB_TESTS_ENGINE_FIXTURE_H
#define EBB_TESTS_ENGINE_FIXTURE_H

#include <limits.h>
#include <stddef.h>

#include "agent/migrate.h"
#include "agent/migration.h"
#include "common/pgsql.h"
#include "tests/support/pg_cluster.h"

/* One file of a project: path relative to the project root, and its text. */
typedef struct ebb_fx_file {
    const char *name;
    const char *text;
} ebb_fx_file;

/*
 * A golang-migrate project in a fresh temporary directory (dir, PATH_MAX)
 * holding files (NULL-name terminated). Returns 0 or -1 with errno.
 */
int ebb_fx_write_project(char *dir, const ebb_fx_file *files);

/* (Re)write one file of a project. Returns 0 or -1. */
int ebb_fx_write_file(const char *dir, const char *name, const char *text);

/* Remove the project directory and everything in it. */
void ebb_fx_remove_project(const char *dir);

/*
 * Create database name on cluster and connect to it; *out owned by the
 * caller (ebb_pg_close). Returns EBB_OK or the error.
 */
EBB_MUSTCHECK ebb_code ebb_fx_new_db(ebb_test_pg *cluster, const char *name, ebb_pg **out,
                                     ebb_error *err);

/* Options with run id run_id, operator "tester", reason "test". */
void ebb_fx_opts(ebb_migrate_opts *opts, const char *run_id);

/* First column of the first row of sql as a long (-1 when NULL or error). */
long ebb_fx_long(ebb_pg *pg, const char *sql);

#endif
