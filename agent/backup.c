/* Backups: pg_dump through the runner, checksum, pg_restore --list, manifest; listing and retention. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/backup.h"
#include "agent/backup_ops.h"
#include "agent/pgtool.h"
#include "common/failpoint.h"
#include "common/fsutil.h"
#include "common/pgsql.h"
#include "common/runner.h"

#define MANIFEST_SUFFIX ".manifest.json"
#define MANIFEST_MAX (1024 * 1024)

/* ---- checksums ---- */

static ebb_code hash_file(const char *path, unsigned char out[32], uint64_t *size,
                          ebb_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ebb_error_errno(err, errno == ENOENT ? EBB_E_NOT_FOUND : EBB_E_IO, errno,
                               "cannot open %s", path);
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 32);
    unsigned char buf[65536];
    uint64_t total = 0;
    for (;;) {
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int saved = errno;
            close(fd);
            return ebb_error_errno(err, EBB_E_IO, saved, "cannot read %s", path);
        }
        if (r == 0)
            break;
        crypto_generichash_update(&st, buf, (size_t)r);
        total += (uint64_t)r;
    }
    close(fd);
    crypto_generichash_final(&st, out, 32);
    *size = total;
    return EBB_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted names of the regular files in dir (pg_dump -Fd writes no subdirectories). */
static ebb_code list_dir(const char *dir, char ***out, size_t *n_out, ebb_error *err)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return ebb_error_errno(err, errno == ENOENT ? EBB_E_NOT_FOUND : EBB_E_IO, errno,
                               "cannot open directory %s", dir);
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    ebb_code rc = EBB_OK;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = realloc(names, cap * sizeof(char *));
            if (nn == NULL) {
                rc = ebb_error_set(err, EBB_E_NOMEM, "out of memory listing %s", dir);
                break;
            }
            names = nn;
        }
        if ((names[n] = strdup(de->d_name)) == NULL) {
            rc = ebb_error_set(err, EBB_E_NOMEM, "out of memory listing %s", dir);
            break;
        }
        n++;
    }
    closedir(d);
    if (rc != EBB_OK) {
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
        return rc;
    }
    if (n > 0)
        qsort(names, n, sizeof(char *), cmp_str);
    *out = names;
    *n_out = n;
    return EBB_OK;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

ebb_code ebb_backup_checksum(const char *path, ebb_backup_format format,
                             char hex[EBB_BACKUP_CHECKSUM_HEX], uint64_t *size, ebb_error *err)
{
    if (sodium_init() < 0)
        return ebb_error_set(err, EBB_E_CRYPTO, "libsodium cannot be initialised");
    unsigned char digest[32];
    uint64_t total = 0;
    if (format == EBB_BACKUP_CUSTOM) {
        ebb_code rc = hash_file(path, digest, &total, err);
        if (rc != EBB_OK)
            return rc;
    } else {
        char **names = NULL;
        size_t n = 0;
        ebb_code rc = list_dir(path, &names, &n, err);
        if (rc != EBB_OK)
            return rc;
        crypto_generichash_state st;
        crypto_generichash_init(&st, NULL, 0, 32);
        for (size_t i = 0; i < n && rc == EBB_OK; i++) {
            char full[PATH_MAX];
            snprintf(full, sizeof(full), "%s/%s", path, names[i]);
            unsigned char d[32];
            uint64_t sz = 0;
            rc = hash_file(full, d, &sz, err);
            if (rc != EBB_OK)
                break;
            char dh[EBB_BACKUP_CHECKSUM_HEX];
            sodium_bin2hex(dh, sizeof(dh), d, sizeof(d));
            crypto_generichash_update(&st, (const unsigned char *)names[i], strlen(names[i]));
            crypto_generichash_update(&st, (const unsigned char *)" ", 1);
            crypto_generichash_update(&st, (const unsigned char *)dh, strlen(dh));
            crypto_generichash_update(&st, (const unsigned char *)"\n", 1);
            total += sz;
        }
        free_names(names, n);
        if (rc != EBB_OK)
            return rc;
        crypto_generichash_final(&st, digest, sizeof(digest));
    }
    sodium_bin2hex(hex, EBB_BACKUP_CHECKSUM_HEX, digest, sizeof(digest));
    *size = total;
    return EBB_OK;
}

/* Bytes under path (file, or the files of a directory); 0 when absent. */
static uint64_t dump_bytes(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return 0;
    if (!S_ISDIR(st.st_mode))
        return (uint64_t)st.st_size;
    uint64_t total = 0;
    DIR *d = opendir(path);
    if (d == NULL)
        return 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char full[PATH_MAX];
        snprintf(full, sizeof(full), "%s/%s", path, de->d_name);
        if (de->d_name[0] != '.' && stat(full, &st) == 0 && S_ISREG(st.st_mode))
            total += (uint64_t)st.st_size;
    }
    closedir(d);
    return total;
}

void ebb_backup_remove_path(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        (void)unlink(path);
        return;
    }
    /* pg_dump -Fd writes one flat directory of files. */
    DIR *d = opendir(path);
    if (d != NULL) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            char full[PATH_MAX];
            snprintf(full, sizeof(full), "%s/%s", path, de->d_name);
            (void)unlink(full);
        }
        closedir(d);
    }
    (void)rmdir(path);
}

/* ---- connection facts ---- */

ebb_code ebb_backup_db_facts(const char *conninfo, char **database, char **server_version,
                             int *major, bool *has_registry, ebb_error *err)
{
    ebb_pg *pg = NULL;
    ebb_code rc = ebb_pg_connect(conninfo, "ebb-backup", &pg, err);
    if (rc != EBB_OK)
        return rc;
    char *db = NULL, *ver = NULL, *ev = NULL;
    rc = ebb_pg_query_text(pg, "SELECT current_database()", 0, NULL, &db, err);
    if (rc == EBB_OK)
        rc = ebb_pg_query_text(pg, "SELECT current_setting('server_version')", 0, NULL, &ver,
                               err);
    if (rc == EBB_OK)
        rc = ebb_pg_query_text(pg, "SELECT to_regnamespace('ebb') IS NOT NULL", 0, NULL,
                               &ev, err);
    int num = ebb_pg_server_version(pg);
    ebb_pg_close(pg);
    if (rc != EBB_OK || db == NULL || ver == NULL) {
        free(db);
        free(ver);
        free(ev);
        return rc != EBB_OK ? rc
                            : ebb_error_set(err, EBB_E_PG, "the server did not name its database");
    }
    if (has_registry != NULL)
        *has_registry = ev != NULL && strcmp(ev, "t") == 0;
    free(ev);
    if (major != NULL)
        *major = num / 10000;
    if (database != NULL)
        *database = db;
    else
        free(db);
    if (server_version != NULL)
        *server_version = ver;
    else
        free(ver);
    return EBB_OK;
}

/* ---- taking a backup ---- */

struct dump_progress {
    const ebb_backup_opts *opts;
    const char *path;
    const char *phase;
    struct timespec last;
};

static void on_dump_line(void *ctx, ebb_run_stream stream, const char *line, size_t len)
{
    struct dump_progress *p = ctx;
    (void)stream;
    if (p->opts->progress == NULL)
        return;
    /* stat the dump at most every 200 ms: pg_dump prints a few lines per table. */
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (now.tv_sec - p->last.tv_sec) * 1000 + (now.tv_nsec - p->last.tv_nsec) / 1000000;
    if (p->last.tv_sec != 0 && ms < 200)
        return;
    p->last = now;
    char buf[512];
    size_t n = len < sizeof(buf) - 1 ? len : sizeof(buf) - 1;
    memcpy(buf, line, n);
    buf[n] = '\0';
    p->opts->progress(p->opts->progress_ctx, p->phase, p->path ? dump_bytes(p->path) : 0, buf);
}

ebb_code ebb_backup_tool_version(const char *prog, const char *const *env, char **out,
                                 ebb_error *err)
{
    const char *argv[] = {prog, "--version", NULL};
    ebb_run_opts ro = {.argv = argv, .env = env, .timeout_ms = 30000};
    ebb_run_result res;
    ebb_code rc = ebb_run_check(&ro, &res, err);
    if (rc == EBB_OK) {
        size_t n = strcspn(res.out, "\r\n");
        char *v = strndup(res.out, n);
        if (v == NULL)
            rc = ebb_error_set(err, EBB_E_NOMEM, "out of memory");
        else
            *out = v;
    }
    ebb_run_result_fini(&res);
    return rc;
}

ebb_code ebb_backup_list_toc(const ebb_backup_opts *opts, const char *prog, const char *path,
                             const char *const *env, ebb_run_line_fn on_line, void *line_ctx,
                             ebb_error *err)
{
    const char *argv[] = {prog, "--list", path, NULL};
    ebb_run_opts ro = {.argv = argv,
                       .env = env,
                       .timeout_ms = opts->timeout_ms,
                       .on_line = on_line,
                       .line_ctx = line_ctx,
                       .lines_stdout = on_line != NULL};
    ebb_run_result res;
    ebb_code rc = ebb_run_check(&ro, &res, err);
    ebb_run_result_fini(&res);
    return rc;
}

static ebb_code dup_or(const char *s, char **dst, ebb_error *err)
{
    *dst = strdup(s ? s : "");
    return *dst ? EBB_OK : ebb_error_set(err, EBB_E_NOMEM, "out of memory");
}

/* Fill the manifest's descriptive fields. */
static ebb_code fill_manifest(ebb_backup_manifest *m, const ebb_backup_info *info, time_t now,
                              ebb_error *err)
{
    ebb_code rc = EBB_OK;
    if (info != NULL && info->n_revisions > 0) {
        m->revisions = calloc(info->n_revisions, sizeof(char *));
        if (m->revisions == NULL)
            return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
        for (size_t i = 0; i < info->n_revisions && rc == EBB_OK; i++) {
            rc = dup_or(info->revisions[i], &m->revisions[i], err);
            if (rc == EBB_OK)
                m->n_revisions = i + 1;
        }
    }
    if (rc == EBB_OK)
        rc = dup_or(info ? info->fingerprint : NULL, &m->fingerprint, err);
    if (rc == EBB_OK)
        rc = dup_or(info ? info->run_id : NULL, &m->run_id, err);
    if (rc == EBB_OK)
        rc = dup_or(info ? info->operator_name : NULL, &m->operator_name, err);
    if (rc == EBB_OK)
        rc = dup_or(info ? info->reason : NULL, &m->reason, err);
    if (rc == EBB_OK) {
        struct tm tm;
        char stamp[32];
        gmtime_r(&now, &tm);
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
        rc = dup_or(stamp, &m->created_at, err);
    }
    return rc;
}

static ebb_code ensure_dir(const char *dir, ebb_error *err)
{
    if (mkdir(dir, 0700) == 0 || errno == EEXIST) {
        struct stat st;
        if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
            return EBB_OK;
        return ebb_error_set(err, EBB_E_IO, "backup directory %s is not a directory", dir);
    }
    return ebb_error_errno(err, EBB_E_IO, errno, "cannot create backup directory %s", dir);
}

static ebb_code run_dump(const ebb_backup_opts *opts, const char *prog, const char *path,
                         const char *const *env, ebb_error *err)
{
    char fmt[32], file[PATH_MAX + 8], level[16], jobs[16];
    const char *argv[12];
    size_t a = 0;
    snprintf(fmt, sizeof(fmt), "--format=%s",
             opts->format == EBB_BACKUP_DIRECTORY ? "directory" : "custom");
    snprintf(file, sizeof(file), "--file=%s", path);
    argv[a++] = prog;
    argv[a++] = "--verbose";
    argv[a++] = "--no-password";
    argv[a++] = fmt;
    argv[a++] = file;
    if (opts->compression >= 0) {
        snprintf(level, sizeof(level), "--compress=%d", opts->compression > 9 ? 9
                                                                             : opts->compression);
        argv[a++] = level;
    }
    if (opts->format == EBB_BACKUP_DIRECTORY && opts->jobs > 1) {
        snprintf(jobs, sizeof(jobs), "--jobs=%d", opts->jobs);
        argv[a++] = jobs;
    }
    argv[a] = NULL;
    struct dump_progress p = {.opts = opts, .path = path, .phase = "dump"};
    ebb_run_opts ro = {.argv = argv,
                       .env = env,
                       .timeout_ms = opts->timeout_ms,
                       .on_line = on_dump_line,
                       .line_ctx = &p,
                       .lines_stderr = true};
    ebb_run_result res;
    ebb_code rc = ebb_run_check(&ro, &res, err);
    ebb_run_result_fini(&res);
    if (rc == EBB_OK && opts->progress != NULL)
        opts->progress(opts->progress_ctx, "dump", dump_bytes(path), "pg_dump finished");
    return rc;
}

ebb_code ebb_backup_take(const ebb_backup_opts *opts, const ebb_backup_info *info, time_t now,
                         ebb_backup_manifest *out, ebb_error *err)
{
    if (opts == NULL || opts->conninfo == NULL || opts->backup_dir == NULL)
        return ebb_error_set(err, EBB_E_INVALID, "a backup needs a connection and a directory");
    if (sodium_init() < 0)
        return ebb_error_set(err, EBB_E_CRYPTO, "libsodium cannot be initialised");
    ebb_code rc = ensure_dir(opts->backup_dir, err);
    if (rc != EBB_OK)
        return rc;

    ebb_backup_manifest m;
    memset(&m, 0, sizeof(m));
    m.version = EBB_BACKUP_MANIFEST_VERSION;
    m.format = opts->format;
    m.compression = opts->compression < 0 ? -1 : (opts->compression > 9 ? 9 : opts->compression);
    m.jobs = (opts->format == EBB_BACKUP_DIRECTORY && opts->jobs > 1) ? opts->jobs : 1;
    int major = 0;
    rc = ebb_backup_db_facts(opts->conninfo, &m.database, &m.server_version, &major, NULL, err);
    if (rc != EBB_OK) {
        ebb_error_prefix(err, "backup");
        return rc;
    }
    char id[EBB_BACKUP_ID_MAX];
    rc = ebb_backup_id_make(now, m.database, randombytes_random(), id, sizeof(id), err);
    if (rc == EBB_OK)
        rc = dup_or(id, &m.id, err);
    if (rc == EBB_OK) {
        char name[EBB_BACKUP_ID_MAX + 8];
        snprintf(name, sizeof(name), "%s%s", id,
                 opts->format == EBB_BACKUP_DIRECTORY ? ".dir" : ".dump");
        rc = dup_or(name, &m.file, err);
    }
    if (rc == EBB_OK)
        rc = fill_manifest(&m, info, now, err);
    if (rc != EBB_OK) {
        ebb_backup_manifest_fini(&m);
        return rc;
    }

    ebb_pgtool_env env;
    rc = ebb_pgtool_env_init(opts->conninfo, &env, err);
    if (rc != EBB_OK) {
        ebb_backup_manifest_fini(&m);
        return rc;
    }
    char dump_prog[PATH_MAX], restore_prog[PATH_MAX], path[PATH_MAX];
    ebb_pgtool_path(opts->pg_bin_dir, major, "pg_dump", dump_prog, sizeof(dump_prog));
    ebb_pgtool_path(opts->pg_bin_dir, major, "pg_restore", restore_prog, sizeof(restore_prog));
    snprintf(path, sizeof(path), "%s/%s", opts->backup_dir, m.file);
    const char *const *envp = (const char *const *)env.env;

    rc = ebb_backup_tool_version(dump_prog, envp, &m.pg_dump_version, err);
    if (rc == EBB_OK) {
        rc = run_dump(opts, dump_prog, path, envp, err);
        if (rc != EBB_OK)
            ebb_error_prefix(err, "backup %s: pg_dump failed", m.id);
    }
    if (rc == EBB_OK)
        ebb_failpoint("backup.dump"); /* test-only: a dump without checksum or manifest */
    if (rc == EBB_OK)
        rc = ebb_backup_checksum(path, m.format, m.checksum, &m.size_bytes, err);
    if (rc == EBB_OK) {
        if (opts->progress != NULL)
            opts->progress(opts->progress_ctx, "verify", m.size_bytes, "pg_restore --list");
        ebb_error verr;
        ebb_error_clear(&verr);
        if (ebb_backup_list_toc(opts, restore_prog, path, envp, NULL, NULL, &verr) != EBB_OK)
            rc = ebb_error_set(err, EBB_E_VERIFY,
                               "backup %s cannot be verified: pg_restore --list %s failed: %s",
                               m.id, path, verr.msg);
        else
            m.verified = true;
    }
    ebb_pgtool_env_fini(&env);

    char *json = NULL;
    if (rc == EBB_OK)
        rc = ebb_backup_manifest_to_json(&m, &json, err);
    if (rc == EBB_OK) {
        char mpath[PATH_MAX];
        snprintf(mpath, sizeof(mpath), "%s/%s%s", opts->backup_dir, m.id, MANIFEST_SUFFIX);
        rc = ebb_file_write_atomic(mpath, json, strlen(json), 0600, err);
    }
    free(json);
    if (rc != EBB_OK) {
        ebb_backup_remove_path(path);
        ebb_backup_manifest_fini(&m);
        return rc;
    }
    *out = m;
    return EBB_OK;
}

/* ---- reading backups ---- */

static ebb_code load_path(const char *mpath, ebb_backup_manifest *out, ebb_error *err)
{
    uint8_t *text = NULL;
    size_t len = 0;
    ebb_code rc = ebb_file_read_all(mpath, MANIFEST_MAX, &text, &len, err);
    if (rc != EBB_OK)
        return rc;
    rc = ebb_backup_manifest_from_json((const char *)text, mpath, out, err);
    free(text);
    return rc;
}

ebb_code ebb_backup_load(const char *dir, const char *id, ebb_backup_manifest *out,
                         ebb_error *err)
{
    if (!ebb_backup_id_valid(id))
        return ebb_error_set(err, EBB_E_INVALID, "'%s' is not a backup id", id ? id : "");
    char mpath[PATH_MAX];
    snprintf(mpath, sizeof(mpath), "%s/%s%s", dir, id, MANIFEST_SUFFIX);
    if (!ebb_file_exists(mpath))
        return ebb_error_set(err, EBB_E_NOT_FOUND, "no backup %s in %s", id, dir);
    ebb_backup_manifest m;
    ebb_code rc = load_path(mpath, &m, err);
    if (rc != EBB_OK)
        return rc;
    if (strcmp(m.id, id) != 0) {
        ebb_error_set(err, EBB_E_INVALID, "%s names backup '%s'", mpath, m.id);
        ebb_backup_manifest_fini(&m);
        return EBB_E_INVALID;
    }
    *out = m;
    return EBB_OK;
}

ebb_code ebb_backup_check(const char *dir, const ebb_backup_manifest *m, ebb_error *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, m->file);
    char hex[EBB_BACKUP_CHECKSUM_HEX];
    uint64_t size = 0;
    ebb_code rc = ebb_backup_checksum(path, m->format, hex, &size, err);
    if (rc == EBB_E_NOT_FOUND)
        return ebb_error_set(err, EBB_E_NOT_FOUND, "backup %s: dump %s is missing", m->id, path);
    if (rc != EBB_OK)
        return rc;
    if (strcmp(hex, m->checksum) != 0 || size != m->size_bytes)
        return ebb_error_set(err, EBB_E_CHECKSUM,
                             "backup %s: dump %s has checksum %s (%llu bytes) but its manifest "
                             "records %s (%llu bytes)",
                             m->id, path, hex, (unsigned long long)size, m->checksum,
                             (unsigned long long)m->size_bytes);
    return EBB_OK;
}

void ebb_backup_list_free(ebb_backup_entry *entries, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ebb_backup_manifest_fini(&entries[i].manifest);
    free(entries);
}

static int entry_newer_first(const void *a, const void *b)
{
    const ebb_backup_manifest *x = &((const ebb_backup_entry *)a)->manifest;
    const ebb_backup_manifest *y = &((const ebb_backup_entry *)b)->manifest;
    int c = strcmp(y->created_at, x->created_at);
    return c != 0 ? c : strcmp(y->id, x->id);
}

ebb_code ebb_backup_list(const char *dir, const char *database, bool deep,
                         ebb_backup_entry **out, size_t *n_out, ebb_error *err)
{
    char **names = NULL;
    size_t n = 0;
    ebb_code rc = list_dir(dir, &names, &n, err);
    if (rc == EBB_E_NOT_FOUND) {
        ebb_error_clear(err);
        *out = NULL;
        *n_out = 0;
        return EBB_OK;
    }
    if (rc != EBB_OK)
        return rc;
    ebb_backup_entry *entries = calloc(n ? n : 1, sizeof(*entries));
    if (entries == NULL) {
        free_names(names, n);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory listing backups");
    }
    size_t count = 0;
    size_t slen = strlen(MANIFEST_SUFFIX);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(names[i]);
        if (len <= slen || strcmp(names[i] + len - slen, MANIFEST_SUFFIX) != 0)
            continue;
        char mpath[PATH_MAX];
        snprintf(mpath, sizeof(mpath), "%s/%s", dir, names[i]);
        ebb_backup_entry *e = &entries[count];
        if (load_path(mpath, &e->manifest, NULL) != EBB_OK)
            continue; /* not ours, or unreadable: never offered for restore */
        if (database != NULL && strcmp(e->manifest.database, database) != 0) {
            ebb_backup_manifest_fini(&e->manifest);
            continue;
        }
        ebb_error cerr;
        ebb_error_clear(&cerr);
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", dir, e->manifest.file);
        if (deep) {
            if (ebb_backup_check(dir, &e->manifest, &cerr) != EBB_OK) {
                e->damaged = true;
                snprintf(e->problem, sizeof(e->problem), "%s", cerr.msg);
            }
        } else if (!ebb_file_exists(path)) {
            e->damaged = true;
            snprintf(e->problem, sizeof(e->problem), "dump %s is missing", path);
        }
        count++;
    }
    free_names(names, n);
    if (count > 1)
        qsort(entries, count, sizeof(*entries), entry_newer_first);
    *out = entries;
    *n_out = count;
    return EBB_OK;
}

ebb_code ebb_backup_prune(const char *dir, const char *database, size_t keep,
                          const char *protect_id, size_t *n_removed, ebb_error *err)
{
    ebb_backup_entry *entries = NULL;
    size_t n = 0;
    ebb_code rc = ebb_backup_list(dir, database, false, &entries, &n, err);
    if (rc != EBB_OK)
        return rc;
    ebb_backup_manifest *ms = calloc(n ? n : 1, sizeof(*ms));
    if (ms == NULL) {
        ebb_backup_list_free(entries, n);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory pruning backups");
    }
    for (size_t i = 0; i < n; i++)
        ms[i] = entries[i].manifest; /* shallow: entries keep ownership */
    size_t *del = NULL, n_del = 0;
    rc = ebb_backup_retention_select(ms, n, database, keep, protect_id, &del, &n_del, err);
    size_t removed = 0;
    for (size_t i = 0; rc == EBB_OK && i < n_del; i++) {
        const ebb_backup_manifest *m = &ms[del[i]];
        char mpath[PATH_MAX], path[PATH_MAX];
        snprintf(mpath, sizeof(mpath), "%s/%s%s", dir, m->id, MANIFEST_SUFFIX);
        snprintf(path, sizeof(path), "%s/%s", dir, m->file);
        /* Manifest first: a crash in between leaves an unlisted dump, never a
         * manifest naming a missing dump. */
        if (unlink(mpath) != 0 && errno != ENOENT) {
            rc = ebb_error_errno(err, EBB_E_IO, errno, "cannot remove %s", mpath);
            break;
        }
        ebb_backup_remove_path(path);
        removed++;
    }
    free(del);
    free(ms);
    ebb_backup_list_free(entries, n);
    if (rc == EBB_OK && n_removed != NULL)
        *n_removed = removed;
    return rc;
}
