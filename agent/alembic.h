/* Running Alembic for ebb: the bridge program (agent/alembic/ebb_alembic.py), its environment and
 * its output. */
#ifndef EBB_AGENT_ALEMBIC_H
#define EBB_AGENT_ALEMBIC_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

/*
 * How to run Alembic for one project. Every pointer is borrowed.
 *
 * ebb runs `PYTHON HELPER -c INI -n SECTION COMMAND ...` through the process
 * runner (argv, no shell) with the working directory set to the directory
 * of INI (Alembic resolves a relative script_location from there). HELPER
 * is ebb_alembic.py, which uses Alembic's own Config, ScriptDirectory,
 * EnvironmentContext, the project's env.py and Alembic's migration runner.
 * The child's environment is ebb's, plus env, plus EBB_ALEMBIC_DSN=dsn
 * (which the helper makes sqlalchemy.url; in the environment, never in
 * argv, so that a password does not show in ps).
 */
typedef struct ebb_alembic_conf {
    const char *ini;        /* path of alembic.ini (required) */
    const char *section;    /* ini section; NULL: "alembic" */
    const char *python;     /* NULL: $EBB_ALEMBIC_PYTHON, else /usr/bin/python3 when it
                               exists, else python3 from PATH */
    const char *helper;     /* NULL: ebb_alembic_helper_path() */
    const char *dsn;        /* libpq conninfo of the database; NULL: the ini's URL */
    const char *const *env; /* extra "NAME=VALUE" (PYTHONPATH, ...); NULL-terminated, may be NULL */
    int timeout_ms;         /* per Alembic process; <= 0: none */
} ebb_alembic_conf;

/*
 * Where ebb_alembic.py is, first that exists: $EBB_ALEMBIC_HELPER;
 * <dir of the running program>/ebb_alembic.py (the build tree puts a copy
 * beside ebb-agent); <that dir>/../share/ebb/ebb_alembic.py (installed);
 * /usr/share/ebb/ebb_alembic.py. Into out (size n); EBB_E_NOT_FOUND naming
 * the places looked at.
 */
EBB_MUSTCHECK ebb_code ebb_alembic_helper_path(char *out, size_t n, ebb_error *err);

/*
 * Run the helper with args (NULL-terminated, after -c INI -n SECTION).
 * *out gets its stdout (malloc'd; caller frees) on success. On failure the
 * error names the command, how it ended and the last lines of its stderr,
 * and *output (may be NULL) gets stderr (malloc'd, bounded): Alembic's log
 * and the migration's traceback, to show the operator.
 */
EBB_MUSTCHECK ebb_code ebb_alembic_call(const ebb_alembic_conf *conf, const char *const *args,
                                        char **out, char **output, ebb_error *err);

/* The JSON text of the revision graph (helper `graph`); caller frees *out. */
EBB_MUSTCHECK ebb_code ebb_alembic_graph_json(const ebb_alembic_conf *conf, char **out,
                                              ebb_error *err);

/*
 * The heads recorded in the project's version table, read by Alembic with
 * the project's env.py (so a custom version_table or schema is honoured).
 * *heads is a malloc'd array of malloc'd ids, sorted (caller frees each and
 * the array); none: *n = 0. Set only on success.
 */
EBB_MUSTCHECK ebb_code ebb_alembic_current(const ebb_alembic_conf *conf, char ***heads, size_t *n,
                                           ebb_error *err);

/*
 * Run exactly one revision: its upgrade() (up) or downgrade() (!up), with
 * Alembic's runner updating the version table in Alembic's transaction.
 * Refused by the helper when the revision is already a head (up) or not a
 * current head (down). *output as for ebb_alembic_call (also on success:
 * Alembic's log of the step; may be NULL).
 */
EBB_MUSTCHECK ebb_code ebb_alembic_step(const ebb_alembic_conf *conf, bool up, const char *revision,
                                        char **output, ebb_error *err);

/*
 * The SQL that step would run, from Alembic's offline mode, starting from
 * the heads in from (n_from, may be 0). *sql malloc'd; caller frees.
 * Migrations that need a live connection cannot produce it: the error says so.
 */
EBB_MUSTCHECK ebb_code ebb_alembic_step_sql(const ebb_alembic_conf *conf, bool up,
                                            const char *revision, const char *const *from,
                                            size_t n_from, char **sql, ebb_error *err);

/* Write the version table to exactly heads (alembic stamp --purge; none: base). */
EBB_MUSTCHECK ebb_code ebb_alembic_stamp(const ebb_alembic_conf *conf, const char *const *heads,
                                         size_t n, ebb_error *err);

#endif
