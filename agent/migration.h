/* The one in-memory model of a migration project: a DAG of revisions with up, down and verify scripts. */
#ifndef EBB_AGENT_MIGRATION_H
#define EBB_AGENT_MIGRATION_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

typedef enum ebb_source_kind {
    EBB_SOURCE_UNKNOWN = 0,
    EBB_SOURCE_GOLANG,  /* <version>_<name>.up.sql / .down.sql */
    EBB_SOURCE_FLYWAY,  /* V<version>__<name>.sql / U<version>__<name>.sql */
    EBB_SOURCE_DBMATE,  /* <version>_<name>.sql with -- migrate:up / -- migrate:down */
    EBB_SOURCE_DIESEL,  /* <version>_<name>/up.sql, down.sql, metadata.toml */
    EBB_SOURCE_SQITCH,  /* sqitch.plan + deploy/ revert/ verify/ */
    EBB_SOURCE_ALEMBIC, /* alembic.ini, driven through the alembic program */
} ebb_source_kind;

#define EBB_CHECKSUM_HEX 65 /* BLAKE2b-256 as lowercase hex + NUL */

/* One script of a revision. An absent script has sql == NULL. */
typedef struct ebb_script {
    char *path;                     /* file it came from, for messages (owned) */
    int first_line;                 /* line in path where the script starts (dbmate sections) */
    char *sql;                      /* text (owned) */
    char checksum[EBB_CHECKSUM_HEX]; /* BLAKE2b-256 hex of sql; "" when absent */
    bool no_transaction;            /* must run outside a transaction */
} ebb_script;

typedef struct ebb_revision {
    char *id;         /* as recorded in the registry: the version ("20240101120000", "3") (owned) */
    char *name;       /* descriptive name ("add_users") (owned; may be "") */
    ebb_script up;
    ebb_script down;
    ebb_script verify;
    size_t *parents;  /* indices into ebb_graph.revs (owned) */
    size_t n_parents;
} ebb_revision;

/*
 * A project. revs is in topological order (every parent before its
 * children); for the plain-SQL layouts that is ascending numeric version
 * order and each revision's parent is the one before it.
 */
typedef struct ebb_graph {
    ebb_source_kind kind;
    char *root;             /* source directory (owned) */
    ebb_revision *revs;     /* owned */
    size_t count;
    char **check_paths;     /* user data checks: <root>/checks/<name>.sql, sorted by name (owned) */
    size_t n_checks;
    char hash[EBB_CHECKSUM_HEX]; /* BLAKE2b over ids, parents and script checksums */
} ebb_graph;

/* Names used on the command line and in the registry: "golang-migrate", "flyway", ... */
const char *ebb_source_kind_name(ebb_source_kind kind);
/* EBB_SOURCE_UNKNOWN when name is not a kind. Accepts "auto" as UNKNOWN too. */
ebb_source_kind ebb_source_kind_parse(const char *name);

/* Free everything a revision owns (id, name, scripts, parents) and zero it. */
void ebb_revision_fini(ebb_revision *rev);

/* Free everything a graph owns and zero it. Safe on a zeroed graph. */
void ebb_graph_fini(ebb_graph *graph);

#endif
