/* A Sqitch project's sqitch.conf (read by Sqitch's own config reader) and the directories it sets. */
#ifndef EBB_AGENT_SQITCH_CONF_H
#define EBB_AGENT_SQITCH_CONF_H

#include <stddef.h>

#include "common/error.h"

/* Every key=value of one config file. Keys as Sqitch prints them: section and
 * variable lowercased, subsection as written ("engine.pg.top_dir"). */
typedef struct ebb_sqitch_conf {
    char **keys;   /* owned */
    char **values; /* owned; a key written without "= value" has value NULL */
    size_t count;
} ebb_sqitch_conf;

/*
 * Read path with `sqitch config --local --list` (SQITCH_CONFIG=path) through
 * the process runner. The file looks like git-config but is Config::GitLike's
 * dialect: Sqitch's keys (top_dir, plan_file, ...) hold '_', which git itself
 * refuses, so Sqitch's own reader is the parser that reads it exactly.
 * A file Sqitch rejects is EBB_E_CONFIG with its message (file and line); no
 * sqitch program is EBB_E_CHILD. *out is set only on success; free it with
 * ebb_sqitch_conf_fini.
 */
EBB_MUSTCHECK ebb_code ebb_sqitch_conf_read(const char *path, ebb_sqitch_conf *out,
                                            ebb_error *err);

/*
 * Parse len bytes of `sqitch config --list` output: "key=value" or "key"
 * lines, split at the first '=' (pure; used by _read and tests).
 */
EBB_MUSTCHECK ebb_code ebb_sqitch_conf_parse(const char *text, size_t len, ebb_sqitch_conf *out,
                                             ebb_error *err);

/* The last value of key, or NULL when absent or valueless. Borrowed. */
const char *ebb_sqitch_conf_get(const ebb_sqitch_conf *conf, const char *key);

void ebb_sqitch_conf_fini(ebb_sqitch_conf *conf);

/* Where a project's files are, all paths joined to the project directory. */
typedef struct ebb_sqitch_layout {
    char *engine;    /* canonical engine key: "pg" */
    char *target;    /* Sqitch's target name (a URI or a [target] name) */
    char *plan_file;
    char *deploy_dir;
    char *revert_dir;
    char *verify_dir;
    char *reworked_deploy_dir;
    char *reworked_revert_dir;
    char *reworked_verify_dir;
    char *extension; /* without the dot: "sql" */
} ebb_sqitch_layout;

/*
 * Resolve the layout as App::Sqitch::Target does for the default target:
 * the target is core.target, else engine.<core.engine>.target, else
 * "db:<core.engine>:"; a name without ':' is a [target "name"] section whose
 * uri gives the engine. Each setting (top_dir, plan_file, deploy_dir,
 * revert_dir, verify_dir, reworked_dir, reworked_*_dir, extension) is looked
 * up in target.<name>, then engine.<engine>, then core. Relative paths are
 * relative to dir (Sqitch runs in the project directory). conf may be NULL
 * or empty (no sqitch.conf): engine pg and the default layout. An engine
 * other than PostgreSQL, or a [target] without a uri, is EBB_E_CONFIG naming
 * conf_path. *out is set only on success; free with ebb_sqitch_layout_fini.
 */
EBB_MUSTCHECK ebb_code ebb_sqitch_layout_resolve(const ebb_sqitch_conf *conf, const char *conf_path,
                                                 const char *dir, ebb_sqitch_layout *out,
                                                 ebb_error *err);

void ebb_sqitch_layout_fini(ebb_sqitch_layout *layout);

#endif
