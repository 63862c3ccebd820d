/* Restore of a backup with pg_restore in one transaction, keeping the registry's histories. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/backup.h"
#include "agent/backup_ops.h"
#include "agent/pgtool.h"
#include "common/pgsql.h"
#include "common/runner.h"

/* Next space-separated token of *p into tok (size n); false at the end. */
static bool next_token(const char **p, char *tok, size_t n)
{
    const char *s = *p;
    while (*s == ' ')
        s++;
    if (*s == '\0')
        return false;
    size_t j = 0;
    while (*s != '\0' && *s != ' ') {
        if (j + 1 < n)
            tok[j++] = *s;
        s++;
    }
    tok[j] = '\0';
    *p = s;
    return true;
}

static bool all_upper(const char *t)
{
    if (*t == '\0')
        return false;
    for (; *t != '\0'; t++)
        if (!isupper((unsigned char)*t))
            return false;
    return true;
}

static bool is_applied_name(const char *t)
{
    return strcmp(t, "applied") == 0 || strncmp(t, "applied_", 8) == 0 ||
           strncmp(t, "applied.", 8) == 0;
}

bool ebb_backup_toc_line_restorable(const char *line)
{
    /* "<id>; <oid> <oid> <DESC WORDS> <schema|-> <name> [<more>] <owner>" */
    const char *p = line;
    while (*p == ' ')
        p++;
    if (*p == ';' || *p == '\0')
        return true; /* comment */
    const char *semi = strchr(p, ';');
    if (semi == NULL)
        return true;
    p = semi + 1;
    char tok[256];
    if (!next_token(&p, tok, sizeof(tok)) || !next_token(&p, tok, sizeof(tok)))
        return true;
    bool any = false;
    char desc[64] = "";
    while (next_token(&p, tok, sizeof(tok))) {
        if (!all_upper(tok))
            break;
        if (!any)
            snprintf(desc, sizeof(desc), "%s", tok);
        any = true;
    }
    if (!any)
        return true;
    char t1[256] = "", t2[256] = "";
    const char *schema = tok;
    (void)next_token(&p, t1, sizeof(t1));
    (void)next_token(&p, t2, sizeof(t2));
    if (strcmp(schema, "-") == 0) {
        /* SCHEMA - ebb, ACL - SCHEMA ebb, COMMENT - SCHEMA ebb */
        if (strcmp(desc, "SCHEMA") == 0 && strcmp(t1, "ebb") == 0)
            return false;
        if (strcmp(t1, "SCHEMA") == 0 && strcmp(t2, "ebb") == 0)
            return false;
        return true;
    }
    if (strcmp(schema, "ebb") != 0)
        return true;
    /* In schema ebb: "TABLE ebb applied", "ACL ebb TABLE applied", "CONSTRAINT ebb applied x". */
    if (is_applied_name(t1))
        return true;
    if (all_upper(t1) && is_applied_name(t2))
        return true;
    return false;
}

struct toc_filter {
    FILE *out;
    bool failed;
    size_t kept, dropped;
};

static void on_toc_line(void *ctx, ebb_run_stream stream, const char *line, size_t len)
{
    struct toc_filter *f = ctx;
    (void)stream;
    char *copy = strndup(line, len);
    if (copy == NULL) {
        f->failed = true;
        return;
    }
    if (ebb_backup_toc_line_restorable(copy)) {
        if (fprintf(f->out, "%s\n", copy) < 0)
            f->failed = true;
        f->kept++;
    } else {
        /* pg_restore -L reads ';' lines as comments: keep a trace of what was left out. */
        if (fprintf(f->out, ";ebb-kept-live %s\n", copy) < 0)
            f->failed = true;
        f->dropped++;
    }
    free(copy);
}

/* Write the filtered table of contents of path to a temporary file in dir. */
static ebb_code write_list(const ebb_backup_opts *opts, const char *prog, const char *path,
                           const char *const *env, char *list_path, size_t n, ebb_error *err)
{
    snprintf(list_path, n, "%s/.ebb-restore-XXXXXX", opts->backup_dir);
    int fd = mkstemp(list_path);
    if (fd < 0)
        return ebb_error_errno(err, EBB_E_IO, errno, "cannot create a restore list in %s",
                               opts->backup_dir);
    struct toc_filter f = {.out = fdopen(fd, "w")};
    if (f.out == NULL) {
        close(fd);
        unlink(list_path);
        return ebb_error_errno(err, EBB_E_IO, errno, "cannot open %s", list_path);
    }
    ebb_code rc = ebb_backup_list_toc(opts, prog, path, env, on_toc_line, &f, err);
    if (fclose(f.out) != 0)
        f.failed = true;
    if (rc == EBB_OK && f.failed)
        rc = ebb_error_set(err, EBB_E_IO, "cannot write restore list %s", list_path);
    if (rc != EBB_OK)
        unlink(list_path);
    return rc;
}

struct restore_progress {
    const ebb_backup_opts *opts;
};

static void on_restore_line(void *ctx, ebb_run_stream stream, const char *line, size_t len)
{
    struct restore_progress *p = ctx;
    (void)stream;
    if (p->opts->progress == NULL)
        return;
    char buf[512];
    size_t n = len < sizeof(buf) - 1 ? len : sizeof(buf) - 1;
    memcpy(buf, line, n);
    buf[n] = '\0';
    p->opts->progress(p->opts->progress_ctx, "restore", 0, buf);
}

static ebb_code run_restore(const ebb_backup_opts *opts, const char *prog, const char *path,
                            const char *database, const char *list_path,
                            const char *const *env, ebb_error *err)
{
    /* The database goes on argv as a conninfo holding only its (non-secret)
     * name, so that a name that looks like a connection string stays a name. */
    char quoted[256], dbarg[300], listarg[PATH_MAX + 16];
    if (!ebb_pg_conninfo_quote(database, quoted, sizeof(quoted)))
        return ebb_error_set(err, EBB_E_INVALID, "database name '%s' is too long", database);
    snprintf(dbarg, sizeof(dbarg), "--dbname=dbname=%s", quoted);
    const char *argv[14];
    size_t a = 0;
    argv[a++] = prog;
    argv[a++] = "--verbose";
    argv[a++] = "--no-password";
    argv[a++] = "--clean";
    argv[a++] = "--if-exists";
    /* One transaction: any error rolls the whole restore back (it also
     * implies --exit-on-error, spelled out for the reader). */
    argv[a++] = "--single-transaction";
    argv[a++] = "--exit-on-error";
    argv[a++] = "--no-owner";
    if (list_path != NULL) {
        snprintf(listarg, sizeof(listarg), "--use-list=%s", list_path);
        argv[a++] = listarg;
    }
    argv[a++] = dbarg;
    argv[a++] = path;
    argv[a] = NULL;
    struct restore_progress p = {.opts = opts};
    ebb_run_opts ro = {.argv = argv,
                       .env = env,
                       .timeout_ms = opts->timeout_ms,
                       .on_line = on_restore_line,
                       .line_ctx = &p,
                       .lines_stderr = true};
    ebb_run_result res;
    ebb_code rc = ebb_run_check(&ro, &res, err);
    ebb_run_result_fini(&res);
    return rc;
}

ebb_code ebb_backup_restore(const ebb_backup_opts *opts, const char *id,
                            ebb_backup_verify_fn verify, void *verify_ctx,
                            ebb_backup_manifest *out, ebb_error *err)
{
    if (opts == NULL || opts->conninfo == NULL || opts->backup_dir == NULL)
        return ebb_error_set(err, EBB_E_INVALID, "a restore needs a connection and a directory");
    ebb_backup_manifest m;
    ebb_code rc = ebb_backup_load(opts->backup_dir, id, &m, err);
    if (rc != EBB_OK)
        return rc;
    if (!m.verified) {
        ebb_error_set(err, EBB_E_REFUSED, "backup %s was never verified; not restoring it", id);
        ebb_backup_manifest_fini(&m);
        return EBB_E_REFUSED;
    }
    rc = ebb_backup_check(opts->backup_dir, &m, err);
    if (rc != EBB_OK) {
        ebb_error_prefix(err, "restore refused");
        ebb_backup_manifest_fini(&m);
        return rc;
    }
    char *live_db = NULL;
    int major = 0;
    bool has_registry = false;
    rc = ebb_backup_db_facts(opts->conninfo, &live_db, NULL, &major, &has_registry, err);
    if (rc != EBB_OK) {
        ebb_error_prefix(err, "restore of %s", id);
        ebb_backup_manifest_fini(&m);
        return rc;
    }
    if (strcmp(live_db, m.database) != 0) {
        ebb_error_set(err, EBB_E_REFUSED,
                      "backup %s is of database '%s', the connection is to database '%s'", id,
                      m.database, live_db);
        free(live_db);
        ebb_backup_manifest_fini(&m);
        return EBB_E_REFUSED;
    }

    ebb_pgtool_env env;
    rc = ebb_pgtool_env_init(opts->conninfo, &env, err);
    if (rc != EBB_OK) {
        free(live_db);
        ebb_backup_manifest_fini(&m);
        return rc;
    }
    const char *const *envp = (const char *const *)env.env;
    char prog[PATH_MAX], path[PATH_MAX], list_path[PATH_MAX] = "";
    ebb_pgtool_path(opts->pg_bin_dir, major, "pg_restore", prog, sizeof(prog));
    snprintf(path, sizeof(path), "%s/%s", opts->backup_dir, m.file);
    if (has_registry)
        rc = write_list(opts, prog, path, envp, list_path, sizeof(list_path), err);
    if (rc == EBB_OK) {
        rc = run_restore(opts, prog, path, live_db, list_path[0] ? list_path : NULL, envp, err);
        if (rc != EBB_OK)
            ebb_error_prefix(err, "restore of %s failed and was rolled back", id);
    }
    if (list_path[0] != '\0')
        (void)unlink(list_path);
    ebb_pgtool_env_fini(&env);
    free(live_db);
    if (rc == EBB_OK && verify != NULL) {
        rc = verify(verify_ctx, &m, err);
        if (rc != EBB_OK)
            ebb_error_prefix(err, "restored %s but it does not match its manifest", id);
    }
    if (rc != EBB_OK || out == NULL)
        ebb_backup_manifest_fini(&m);
    else
        *out = m;
    return rc;
}
