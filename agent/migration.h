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
    bool irreversible;              /* first line "-- ebb:irreversible": a down by design
                                       impossible (docs/rehearse.md); refused by a down path */
    /*
     * Not SQL: the step is run by the source's own program (Alembic), and
     * sql holds the text of the migration module (.py) only so that the
     * checksum and the presence checks work. Nothing may parse it as SQL.
     */
    bool external;
} ebb_script;

typedef struct ebb_revision {
    char *id;         /* as recorded in the registry: the version ("20240101120000", "3") (owned) */
    char *name;       /* descriptive name ("add_users") (owned; may be "") */
    ebb_script up;
    ebb_script down;
    ebb_script verify;
    size_t *parents;  /* indices into ebb_graph.revs (owned) */
    size_t n_parents;

    /*
     * Sqitch projects (and, where said, Alembic): NULL / 0 for every other
     * kind. All owned; freed by ebb_revision_fini_sqitch_fields
     * (agent/source_sqitch.h). Alembic keeps its depends_on ids in requires
     * (they are parents too), its branch_labels in tags and its doc in note.
     * Dependencies are as Sqitch prints them: "users", "x@v1" (x as of tag
     * v1), "@v1" (the change tagged v1), "other:x" (another project's
     * change, which ebb cannot check), or a 40-hex Sqitch change id.
     */
    char **requires;   /* must be deployed before this revision */
    size_t n_requires;
    char **conflicts;  /* must not be deployed when this one is ("!x" in the plan) */
    size_t n_conflicts;
    char **tags;       /* tags right after this change, without '@', plan order */
    size_t n_tags;
    char *note;        /* the plan line's note, "" when none */
    char *planner;     /* "Name <email>" */
    char *planned_at;  /* "2013-12-31T00:01:22Z" (UTC) */
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

    /* Sqitch projects only (NULL otherwise; owned, freed by ebb_graph_fini_sqitch_fields). */
    char *project;     /* %project of the plan */
    char *project_uri; /* %uri of the plan, or NULL */
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
