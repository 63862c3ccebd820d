/* Connection settings for PostgreSQL client programs (pg_dump, pg_restore, psql), kept off their command line. */
#ifndef EBB_AGENT_PGTOOL_H
#define EBB_AGENT_PGTOOL_H

#include <limits.h>
#include <stddef.h>

#include "common/error.h"

/*
 * The environment a client program needs to reach the database of a
 * connection string: each option parsed by PQconninfoParse in its libpq
 * variable (PGHOST, PGPORT, PGUSER, PGDATABASE, PGSERVICE, PGSSLMODE, ...),
 * and the password, if any, in a temporary passfile (0600) named by
 * PGPASSFILE — never in argv (visible in ps) nor in the environment.
 * keepalives*, tcp_user_timeout and fallback_application_name have no
 * variable and do not matter to a dump: dropped. sslpassword and
 * replication cannot be passed safely: EBB_E_INVALID.
 */
typedef struct ebb_pgtool_env {
    char **env;              /* NULL-terminated "NAME=VALUE" (owned) */
    size_t n;
    char passfile[PATH_MAX]; /* "" when the connection string has no password */
} ebb_pgtool_env;

/* Build the environment; *out is set only on success (ebb_pgtool_env_fini). */
EBB_MUSTCHECK ebb_code ebb_pgtool_env_init(const char *conninfo, ebb_pgtool_env *out,
                                           ebb_error *err);

/* Remove the passfile and wipe and free everything. Safe on a zeroed struct. */
void ebb_pgtool_env_fini(ebb_pgtool_env *env);

/*
 * Path of a client program into out (size n): bin_dir/prog when bin_dir is
 * given; else /usr/lib/postgresql/<server_major>/bin/prog when it exists
 * (Debian keeps one directory per major version, and pg_dump must not be
 * older than the server); else prog alone (searched in PATH).
 */
void ebb_pgtool_path(const char *bin_dir, int server_major, const char *prog, char *out,
                     size_t n);

#endif
