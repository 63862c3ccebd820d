/* Running Alembic for ebb: the bridge program, its environment and its output. */
#include "agent/alembic.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/runner.h"

#define MAX_ARGS 64
#define MAX_ENV 64

static bool is_file(const char *path)
{
    return access(path, R_OK) == 0;
}

ebb_code ebb_alembic_helper_path(char *out, size_t n, ebb_error *err)
{
    const char *env = getenv("EBB_ALEMBIC_HELPER");
    if (env && *env) {
        if (!is_file(env))
            return ebb_error_set(err, EBB_E_NOT_FOUND,
                                 "EBB_ALEMBIC_HELPER names %s, which cannot be read", env);
        snprintf(out, n, "%s", env);
        return EBB_OK;
    }
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    char tried[3][PATH_MAX + 64];
    size_t n_tried = 0;
    if (len > 0) {
        exe[len] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        snprintf(tried[n_tried++], sizeof tried[0], "%s/ebb_alembic.py", exe);
        snprintf(tried[n_tried++], sizeof tried[0], "%s/../share/ebb/ebb_alembic.py", exe);
    }
    snprintf(tried[n_tried++], sizeof tried[0], "/usr/share/ebb/ebb_alembic.py");
    for (size_t i = 0; i < n_tried; i++)
        if (is_file(tried[i])) {
            snprintf(out, n, "%s", tried[i]);
            return EBB_OK;
        }
    return ebb_error_set(err, EBB_E_NOT_FOUND,
                         "ebb_alembic.py not found (looked at $EBB_ALEMBIC_HELPER, %s%s%s); set "
                         "EBB_ALEMBIC_HELPER",
                         tried[0], n_tried > 1 ? ", " : "", n_tried > 1 ? tried[1] : "");
}

static const char *python_of(const ebb_alembic_conf *conf)
{
    if (conf->python && *conf->python)
        return conf->python;
    const char *env = getenv("EBB_ALEMBIC_PYTHON");
    if (env && *env)
        return env;
    /* Debian's python3-alembic lives in the system Python, not in a pyenv or venv on PATH. */
    return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

/* The last `lines` lines of text (a pointer into it). */
static const char *tail_lines(const char *text, int lines)
{
    size_t len = strlen(text);
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
        len--;
    size_t i = len;
    while (i > 0) {
        if (text[i - 1] == '\n' && --lines == 0)
            break;
        i--;
    }
    return text + i;
}

ebb_code ebb_alembic_call(const ebb_alembic_conf *conf, const char *const *args, char **out,
                          char **output, ebb_error *err)
{
    if (output)
        *output = NULL;
    if (!conf || !conf->ini)
        return ebb_error_set(err, EBB_E_INVALID, "Alembic: no alembic.ini given");
    char helper[PATH_MAX];
    if (conf->helper && *conf->helper)
        snprintf(helper, sizeof helper, "%s", conf->helper);
    else if (ebb_alembic_helper_path(helper, sizeof helper, err) != EBB_OK)
        return err ? err->code : EBB_E_NOT_FOUND;
    char ini[PATH_MAX];
    if (!realpath(conf->ini, ini))
        return ebb_error_errno(err, EBB_E_NOT_FOUND, errno, "Alembic: cannot find %s", conf->ini);
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", ini);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir)
        *slash = '\0';

    const char *argv[MAX_ARGS];
    size_t k = 0;
    argv[k++] = python_of(conf);
    argv[k++] = helper;
    argv[k++] = "-c";
    argv[k++] = ini;
    argv[k++] = "-n";
    argv[k++] = conf->section && *conf->section ? conf->section : "alembic";
    for (size_t i = 0; args[i]; i++) {
        if (k + 1 >= MAX_ARGS)
            return ebb_error_set(err, EBB_E_INVALID, "Alembic: too many arguments");
        argv[k++] = args[i];
    }
    argv[k] = NULL;

    const char *envv[MAX_ENV];
    size_t e = 0;
    char *dsn_var = NULL;
    for (size_t i = 0; conf->env && conf->env[i]; i++) {
        if (e + 2 >= MAX_ENV)
            return ebb_error_set(err, EBB_E_INVALID, "Alembic: more than %d environment entries",
                                 MAX_ENV - 2);
        if (!strchr(conf->env[i], '='))
            return ebb_error_set(err, EBB_E_INVALID,
                                 "Alembic environment entry \"%s\" is not NAME=VALUE",
                                 conf->env[i]);
        envv[e++] = conf->env[i];
    }
    if (conf->dsn) {
        size_t len = strlen(conf->dsn) + sizeof "EBB_ALEMBIC_DSN=";
        if (!(dsn_var = malloc(len)))
            return ebb_error_set(err, EBB_E_NOMEM, "out of memory running Alembic");
        snprintf(dsn_var, len, "EBB_ALEMBIC_DSN=%s", conf->dsn);
        envv[e++] = dsn_var;
    }
    envv[e] = NULL;

    ebb_run_opts ro = {
        .argv = argv,
        .env = envv,
        .cwd = dir,
        .timeout_ms = conf->timeout_ms,
        .max_output = 1u << 20,
    };
    ebb_run_result res;
    ebb_code rc = ebb_run(&ro, &res, err);
    /* The conninfo may hold a password: wipe our copy of it. */
    if (dsn_var) {
        memset(dsn_var, 0, strlen(dsn_var));
        free(dsn_var);
    }
    if (rc != EBB_OK) {
        ebb_error_prefix(err, "Alembic (%s %s)", argv[0], helper);
        return rc;
    }
    if (res.exit_code != 0 || res.timed_out || res.term_signal) {
        char how[128];
        ebb_run_describe(&res, how, sizeof how);
        rc = ebb_error_set(err, res.timed_out ? EBB_E_TIMEOUT : EBB_E_CHILD,
                           "alembic %s %s: %s: %s", args[0], args[1] ? args[1] : "", how,
                           res.err && *res.err ? tail_lines(res.err, 3) : "(no output)");
        if (output)
            *output = res.err ? strdup(res.err) : NULL;
        ebb_run_result_fini(&res);
        return rc;
    }
    if (output)
        *output = res.err ? strdup(res.err) : NULL;
    if (out) {
        *out = res.out ? strdup(res.out) : strdup("");
        if (!*out) {
            ebb_run_result_fini(&res);
            return ebb_error_set(err, EBB_E_NOMEM, "out of memory reading Alembic's output");
        }
    }
    ebb_run_result_fini(&res);
    return EBB_OK;
}

ebb_code ebb_alembic_graph_json(const ebb_alembic_conf *conf, char **out, ebb_error *err)
{
    const char *args[] = {"graph", NULL};
    return ebb_alembic_call(conf, args, out, NULL, err);
}

/* The last line of the helper's stdout parsed as a JSON object (new reference). */
static ebb_code result_json(const char *text, const char *what, json_t **out, ebb_error *err)
{
    const char *line = tail_lines(text, 1);
    json_error_t je;
    json_t *doc = json_loads(line, 0, &je);
    if (!doc || !json_is_object(doc)) {
        json_decref(doc);
        return ebb_error_set(err, EBB_E_CHILD, "Alembic %s: unreadable result (%s)", what,
                             doc ? "not an object" : je.text);
    }
    *out = doc;
    return EBB_OK;
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

ebb_code ebb_alembic_current(const ebb_alembic_conf *conf, char ***heads, size_t *n, ebb_error *err)
{
    const char *args[] = {"current", NULL};
    char *text = NULL;
    ebb_code rc = ebb_alembic_call(conf, args, &text, NULL, err);
    if (rc != EBB_OK)
        return rc;
    json_t *doc = NULL;
    rc = result_json(text, "current", &doc, err);
    free(text);
    if (rc != EBB_OK)
        return rc;
    json_t *arr = json_object_get(doc, "heads");
    size_t count = json_array_size(arr);
    char **v = calloc(count ? count : 1, sizeof *v);
    if (!v || !json_is_array(arr)) {
        free(v);
        json_decref(doc);
        return ebb_error_set(err, v ? EBB_E_CHILD : EBB_E_NOMEM,
                             "Alembic current: no list of heads in the result");
    }
    for (size_t i = 0; i < count; i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        if (!s || !(v[i] = strdup(s))) {
            free_strv(v, i);
            json_decref(doc);
            return ebb_error_set(err, s ? EBB_E_NOMEM : EBB_E_CHILD,
                                 "Alembic current: bad head %zu in the result", i);
        }
    }
    json_decref(doc);
    *heads = v;
    *n = count;
    return EBB_OK;
}

ebb_code ebb_alembic_step(const ebb_alembic_conf *conf, bool up, const char *revision,
                          char **output, ebb_error *err)
{
    const char *args[] = {"step", up ? "up" : "down", revision, NULL};
    return ebb_alembic_call(conf, args, NULL, output, err);
}

/* "a,b,c" of ids in new memory. */
static char *join_ids(const char *const *ids, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(ids[i]) + 1;
    char *s = malloc(len);
    if (!s)
        return NULL;
    s[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(s, ",");
        strcat(s, ids[i]);
    }
    return s;
}

ebb_code ebb_alembic_step_sql(const ebb_alembic_conf *conf, bool up, const char *revision,
                              const char *const *from, size_t n_from, char **sql, ebb_error *err)
{
    char *heads = join_ids(from, n_from);
    if (!heads)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory previewing %s", revision);
    const char *args[] = {"step", up ? "up" : "down", revision, "--sql", "--from", heads, NULL};
    ebb_code rc = ebb_alembic_call(conf, args, sql, NULL, err);
    free(heads);
    if (rc != EBB_OK)
        ebb_error_prefix(err,
                         "no offline SQL for revision %s (a migration that needs a live "
                         "connection cannot produce it)",
                         revision);
    return rc;
}

ebb_code ebb_alembic_stamp(const ebb_alembic_conf *conf, const char *const *heads, size_t n,
                           ebb_error *err)
{
    const char *args[MAX_ARGS];
    size_t k = 0;
    args[k++] = "stamp";
    for (size_t i = 0; i < n; i++) {
        if (k + 1 >= MAX_ARGS - 8)
            return ebb_error_set(err, EBB_E_INVALID, "Alembic stamp: too many heads (%zu)", n);
        args[k++] = heads[i];
    }
    args[k] = NULL;
    return ebb_alembic_call(conf, args, NULL, NULL, err);
}
