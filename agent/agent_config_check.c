/* Host checks of an agent configuration (key file, sources, backup dirs, programs) and `ebb-agent
 * check-config`. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent_config.h"
#include "agent/graph.h"
#include "agent/source.h"
#include "common/exit_codes.h"
#include "common/keys.h"

/* The setting at root.<keys...> (NULL-terminated; "[i]" steps use elem), or its nearest parent. */
static const config_setting_t *node_at(const ebb_agent_config *cfg, const char *k1, long idx,
                                       const char *k2, const char *k3)
{
    const config_setting_t *n = ebb_config_root(cfg->file);
    const config_setting_t *next = config_setting_get_member((config_setting_t *)n, k1);
    if (next == NULL)
        return n;
    n = next;
    if (idx >= 0) {
        next = ebb_config_elem(n, (size_t)idx);
        if (next == NULL)
            return n;
        n = next;
    }
    const char *rest[2] = {k2, k3};
    for (int i = 0; i < 2 && rest[i] != NULL; i++) {
        next = config_setting_get_member((config_setting_t *)n, rest[i]);
        if (next == NULL)
            return n;
        n = next;
    }
    return n;
}

/* Prefix err's message with "FILE:LINE: key: " of node, keeping its code. */
static ebb_code at_node(ebb_error *err, ebb_code rc, const config_setting_t *node)
{
    if (err == NULL)
        return rc;
    ebb_error tmp;
    ebb_config_error(&tmp, node, "%s", err->msg);
    snprintf(err->msg, sizeof err->msg, "%s", tmp.msg);
    err->code = rc;
    return rc;
}

/* The directory must exist and accept a new file (or not exist, with a writable parent). */
static ebb_code check_writable_dir(const char *dir, bool may_be_missing, ebb_error *err)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno != ENOENT || !may_be_missing)
            return ebb_error_errno(err, EBB_E_CONFIG, errno, "cannot use directory %s", dir);
        char *tmp = strdup(dir);
        if (tmp == NULL)
            return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
        ebb_code rc = EBB_OK;
        const char *parent = dirname(tmp);
        if (access(parent, W_OK | X_OK) != 0)
            rc = ebb_error_errno(err, EBB_E_CONFIG, errno,
                                 "directory %s does not exist and cannot be created in %s", dir,
                                 parent);
        free(tmp);
        return rc;
    }
    if (!S_ISDIR(st.st_mode))
        return ebb_error_set(err, EBB_E_CONFIG, "%s is not a directory", dir);
    char probe[PATH_MAX];
    snprintf(probe, sizeof probe, "%s/.ebb-write-check-XXXXXX", dir);
    int fd = mkstemp(probe);
    if (fd < 0)
        return ebb_error_errno(err, EBB_E_CONFIG, errno, "directory %s is not writable", dir);
    close(fd);
    unlink(probe);
    return EBB_OK;
}

/* The directory a state file (journal, replay store) lives in must be writable. */
static ebb_code check_state_file(const char *path, ebb_error *err)
{
    char *tmp = strdup(path);
    if (tmp == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    ebb_code rc = check_writable_dir(dirname(tmp), false, err);
    free(tmp);
    if (rc == EBB_OK && access(path, F_OK) == 0 && access(path, R_OK | W_OK) != 0)
        rc = ebb_error_errno(err, EBB_E_CONFIG, errno, "%s cannot be read and written", path);
    return rc;
}

/* argv[0] must name an executable: as a path, or found in PATH. */
static ebb_code check_program(const char *prog, ebb_error *err)
{
    if (strchr(prog, '/') != NULL) {
        if (access(prog, X_OK) != 0)
            return ebb_error_errno(err, EBB_E_CONFIG, errno, "program %s cannot be run", prog);
        return EBB_OK;
    }
    const char *path = getenv("PATH");
    if (path == NULL)
        path = "/usr/bin:/bin";
    const char *p = path;
    while (*p != '\0') {
        const char *end = strchr(p, ':');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        char full[PATH_MAX];
        snprintf(full, sizeof full, "%.*s/%s", (int)len, len > 0 ? p : ".", prog);
        if (access(full, X_OK) == 0)
            return EBB_OK;
        p += len;
        if (*p == ':')
            p++;
    }
    return ebb_error_set(err, EBB_E_CONFIG, "program %s is not in PATH", prog);
}

static ebb_code check_db(const ebb_agent_config *cfg, size_t i, ebb_error *err)
{
    const ebb_agent_db *d = &cfg->dbs[i];
    ebb_graph graph = {0};
    ebb_code rc = ebb_source_load(d->source_dir, d->source_kind, &graph, err);
    if (rc != EBB_OK)
        return at_node(err, rc, node_at(cfg, "databases", (long)i, "source", "dir"));
    ebb_graph_fini(&graph);
    if (d->has_backup) {
        rc = check_writable_dir(d->backup.dir, true, err);
        if (rc != EBB_OK)
            return at_node(err, rc, node_at(cfg, "databases", (long)i, "backup", "dir"));
    }
    if (d->has_services) {
        const char *const *argvs[4] = {
            d->services.stop_argv, d->services.start_argv, d->services.status_argv,
            d->services.health.kind == EBB_HEALTH_COMMAND ? d->services.health.argv : NULL};
        const char *keys[4] = {"stop", "start", "status", "health"};
        for (int k = 0; k < 4; k++) {
            if (argvs[k] == NULL)
                continue;
            rc = check_program(argvs[k][0], err);
            if (rc != EBB_OK)
                return at_node(err, rc, node_at(cfg, "databases", (long)i, "services", keys[k]));
        }
    }
    return EBB_OK;
}

ebb_code ebb_agent_config_check(const ebb_agent_config *cfg, ebb_error *err)
{
    ebb_secret_key *key = NULL;
    ebb_code rc = ebb_secret_key_load(cfg->key_file, &key, err);
    ebb_secret_key_free(key);
    if (rc != EBB_OK)
        return at_node(err, rc, node_at(cfg, "agent", -1, "key_file", NULL));
    if ((rc = check_state_file(cfg->job_journal, err)) != EBB_OK)
        return at_node(err, rc, node_at(cfg, "agent", -1, "job_journal", NULL));
    if ((rc = check_state_file(cfg->replay_store, err)) != EBB_OK)
        return at_node(err, rc, node_at(cfg, "agent", -1, "replay_store", NULL));
    for (size_t i = 0; i < cfg->n_dbs; i++)
        if ((rc = check_db(cfg, i, err)) != EBB_OK)
            return rc;
    return EBB_OK;
}

static void check_usage(FILE *out)
{
    fprintf(out, "Usage: ebb-agent check-config --config FILE\n"
                 "\n"
                 "Load the agent configuration and check it against this host: every key,\n"
                 "the key file (mode 0600, loads), each migration source, each backup\n"
                 "directory (writable), the service programs. Exit 0 when all is well,\n"
                 "3 with FILE:LINE: key: problem otherwise.\n");
}

int ebb_agent_check_config_main(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            check_usage(stdout);
            return EBB_EXIT_OK;
        }
        if ((strcmp(argv[i], "--config") == 0 || strcmp(argv[i], "-c") == 0) && i + 1 < argc) {
            path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            path = argv[i] + 9;
        } else {
            fprintf(stderr, "ebb-agent check-config: unexpected argument '%s'\n", argv[i]);
            check_usage(stderr);
            return EBB_EXIT_USAGE;
        }
    }
    if (path == NULL) {
        check_usage(stderr);
        return EBB_EXIT_USAGE;
    }
    ebb_agent_config *cfg = NULL;
    int code = ebb_agent_config_open_for("ebb-agent check-config", path, &cfg);
    if (code != EBB_EXIT_OK)
        return code;
    printf("%s: ok (agent %s, %zu database%s)\n", path, cfg->agent_id, cfg->n_dbs,
           cfg->n_dbs == 1 ? "" : "s");
    ebb_agent_config_free(cfg);
    return EBB_EXIT_OK;
}

int ebb_agent_config_open_for(const char *prog, const char *path, ebb_agent_config **out)
{
    ebb_error err;
    ebb_error_clear(&err);
    ebb_agent_config *cfg = NULL;
    ebb_code rc = ebb_agent_config_load(path, &cfg, &err);
    if (rc == EBB_OK)
        rc = ebb_agent_config_check(cfg, &err);
    if (rc != EBB_OK) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        ebb_agent_config_free(cfg);
        return EBB_EXIT_CONFIG;
    }
    *out = cfg;
    return EBB_EXIT_OK;
}
