/* Environment and paths for PostgreSQL client programs: connection settings never on argv. */
#include <errno.h>
#include <libpq-fe.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/pgtool.h"

/* Options without a libpq variable that only tune the connection: safe to drop. */
static bool droppable(const char *keyword)
{
    static const char *const names[] = {"keepalives", "keepalives_idle", "keepalives_interval",
                                        "keepalives_count", "tcp_user_timeout",
                                        "fallback_application_name"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(keyword, names[i]) == 0)
            return true;
    return false;
}

static void wipe_free(char *s)
{
    if (s != NULL) {
        sodium_memzero(s, strlen(s));
        free(s);
    }
}

void ebb_pgtool_env_fini(ebb_pgtool_env *env)
{
    if (env == NULL)
        return;
    if (env->passfile[0] != '\0')
        (void)unlink(env->passfile);
    for (size_t i = 0; i < env->n; i++)
        wipe_free(env->env[i]);
    free(env->env);
    memset(env, 0, sizeof(*env));
}

/* Write "*:*:*:*:<password>" with ':' and '\' escaped as the passfile format asks. */
static ebb_code write_passfile(ebb_pgtool_env *e, const char *password, ebb_error *err)
{
    const char *tmp = getenv("TMPDIR");
    if (tmp == NULL || tmp[0] == '\0')
        tmp = "/tmp";
    snprintf(e->passfile, sizeof(e->passfile), "%s/ebb-pgpass-XXXXXX", tmp);
    int fd = mkstemp(e->passfile); /* mode 0600 */
    if (fd < 0) {
        int saved = errno;
        e->passfile[0] = '\0';
        return ebb_error_errno(err, EBB_E_IO, saved, "cannot create a passfile in %s", tmp);
    }
    size_t len = strlen(password);
    char *line = malloc(2 * len + 16);
    if (line == NULL) {
        close(fd);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory writing a passfile");
    }
    size_t j = 0;
    memcpy(line, "*:*:*:*:", 8);
    j = 8;
    for (size_t i = 0; i < len; i++) {
        if (password[i] == ':' || password[i] == '\\')
            line[j++] = '\\';
        line[j++] = password[i];
    }
    line[j++] = '\n';
    ssize_t w = write(fd, line, j);
    int saved = errno;
    sodium_memzero(line, j);
    free(line);
    if (w != (ssize_t)j || close(fd) != 0)
        return ebb_error_errno(err, EBB_E_IO, w < 0 ? saved : EIO, "cannot write passfile %s",
                               e->passfile);
    return EBB_OK;
}

static ebb_code add_var(ebb_pgtool_env *e, const char *name, const char *value, ebb_error *err)
{
    size_t len = strlen(name) + strlen(value) + 2;
    char *s = malloc(len);
    if (s == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory building an environment");
    snprintf(s, len, "%s=%s", name, value);
    e->env[e->n++] = s;
    e->env[e->n] = NULL;
    return EBB_OK;
}

ebb_code ebb_pgtool_env_init(const char *conninfo, ebb_pgtool_env *out, ebb_error *err)
{
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo ? conninfo : "", &perr);
    if (opts == NULL) {
        /* libpq's message may quote the string (and a password): never repeat it. */
        PQfreemem(perr);
        return ebb_error_set(err, EBB_E_INVALID, "the connection string cannot be parsed");
    }
    size_t count = 0;
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
        count++;

    ebb_pgtool_env e;
    memset(&e, 0, sizeof(e));
    e.env = calloc(count + 2, sizeof(char *));
    ebb_code rc = EBB_OK;
    if (e.env == NULL)
        rc = ebb_error_set(err, EBB_E_NOMEM, "out of memory building an environment");
    for (PQconninfoOption *o = opts; rc == EBB_OK && o->keyword != NULL; o++) {
        if (o->val == NULL)
            continue;
        if (strcmp(o->keyword, "password") == 0) {
            rc = write_passfile(&e, o->val, err);
            if (rc == EBB_OK)
                rc = add_var(&e, "PGPASSFILE", e.passfile, err);
        } else if (strcmp(o->keyword, "passfile") == 0) {
            /* An explicit passfile only counts when there is no password to put in ours. */
            bool has_password = false;
            for (PQconninfoOption *p = opts; p->keyword != NULL; p++)
                if (strcmp(p->keyword, "password") == 0 && p->val != NULL)
                    has_password = true;
            if (!has_password)
                rc = add_var(&e, "PGPASSFILE", o->val, err);
        } else if (o->envvar != NULL && o->envvar[0] != '\0') {
            rc = add_var(&e, o->envvar, o->val, err);
        } else if (!droppable(o->keyword)) {
            rc = ebb_error_set(err, EBB_E_INVALID,
                               "connection option '%s' cannot be passed to pg_dump/pg_restore "
                               "without putting it on the command line",
                               o->keyword);
        }
    }
    /* PQconninfoFree does not wipe: clear the password ourselves. */
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
        if (o->val != NULL && strcmp(o->keyword, "password") == 0)
            sodium_memzero(o->val, strlen(o->val));
    PQconninfoFree(opts);
    if (rc != EBB_OK) {
        ebb_pgtool_env_fini(&e);
        return rc;
    }
    *out = e;
    return EBB_OK;
}

void ebb_pgtool_path(const char *bin_dir, int server_major, const char *prog, char *out,
                     size_t n)
{
    if (bin_dir != NULL && bin_dir[0] != '\0') {
        snprintf(out, n, "%s/%s", bin_dir, prog);
        return;
    }
    if (server_major > 0) {
        snprintf(out, n, "/usr/lib/postgresql/%d/bin/%s", server_major, prog);
        if (access(out, X_OK) == 0)
            return;
    }
    snprintf(out, n, "%s", prog);
}
