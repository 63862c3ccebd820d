/* Helpers shared by the plain-SQL source readers: listing, reading, versions, grouping. */
#include "agent/source_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/sql_split.h"

/* ---- listing ---- */

static int dirent_cmp(const void *a, const void *b)
{
    return strcmp(((const ebb_source_dirent *)a)->name, ((const ebb_source_dirent *)b)->name);
}

void ebb_source_dir_fini(ebb_source_dir *dir)
{
    if (dir == NULL)
        return;
    for (size_t i = 0; i < dir->count; i++)
        free(dir->entries[i].name);
    free(dir->entries);
    dir->entries = NULL;
    dir->count = 0;
}

ebb_code ebb_source_dir_list(const char *path, ebb_source_dir *out, ebb_error *err)
{
    DIR *d = opendir(path);
    if (d == NULL)
        return ebb_error_errno(err, errno == ENOENT ? EBB_E_NOT_FOUND : EBB_E_IO, errno,
                               "cannot open migration directory %s", path);
    ebb_source_dir list = {NULL, 0};
    size_t cap = 0;
    ebb_code rc = EBB_OK;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (de == NULL) {
            if (errno != 0)
                rc = ebb_error_errno(err, EBB_E_IO, errno, "cannot read directory %s", path);
            break;
        }
        if (de->d_name[0] == '.')
            continue;
        if (list.count == cap) {
            size_t ncap = cap ? cap * 2 : 32;
            ebb_source_dirent *n = realloc(list.entries, ncap * sizeof *n);
            if (n == NULL) {
                rc = ebb_error_set(err, EBB_E_NOMEM, "out of memory listing %s", path);
                break;
            }
            list.entries = n;
            cap = ncap;
        }
        struct stat st;
        bool is_dir = fstatat(dirfd(d), de->d_name, &st, 0) == 0 && S_ISDIR(st.st_mode);
        char *name = strdup(de->d_name);
        if (name == NULL) {
            rc = ebb_error_set(err, EBB_E_NOMEM, "out of memory listing %s", path);
            break;
        }
        list.entries[list.count++] = (ebb_source_dirent){name, is_dir};
    }
    closedir(d);
    if (rc != EBB_OK) {
        ebb_source_dir_fini(&list);
        return rc;
    }
    if (list.count > 1)
        qsort(list.entries, list.count, sizeof *list.entries, dirent_cmp);
    *out = list;
    return EBB_OK;
}

char *ebb_source_path_join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    while (la > 1 && a[la - 1] == '/')
        la--;
    char *p = malloc(la + 1 + lb + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, a, la);
    p[la] = '/';
    memcpy(p + la + 1, b, lb + 1);
    return p;
}

/* ---- reading ---- */

ebb_code ebb_source_read_file(const char *path, char **out, size_t *len, ebb_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ebb_error_errno(err, EBB_E_IO, errno, "cannot open %s", path);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return ebb_error_errno(err, EBB_E_IO, e, "cannot stat %s", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return ebb_error_set(err, EBB_E_IO, "cannot read %s: not a regular file%s", path,
                             S_ISDIR(st.st_mode) ? " (a directory)" : "");
    }
    if ((unsigned long long)st.st_size > EBB_SOURCE_MAX_SCRIPT) {
        close(fd);
        return ebb_error_set(err, EBB_E_INVALID, "%s is %lld bytes, over the %zu-byte limit", path,
                             (long long)st.st_size, EBB_SOURCE_MAX_SCRIPT);
    }
    /* Read until EOF rather than trusting st_size: the file may change. */
    size_t cap = (size_t)st.st_size + 1, used = 0;
    char *buf = malloc(cap + 1);
    if (buf == NULL) {
        close(fd);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory reading %s", path);
    }
    for (;;) {
        if (used == cap) {
            if (cap > EBB_SOURCE_MAX_SCRIPT) {
                free(buf);
                close(fd);
                return ebb_error_set(err, EBB_E_INVALID, "%s grew over the %zu-byte limit", path,
                                     EBB_SOURCE_MAX_SCRIPT);
            }
            char *n = realloc(buf, cap * 2 + 1);
            if (n == NULL) {
                free(buf);
                close(fd);
                return ebb_error_set(err, EBB_E_NOMEM, "out of memory reading %s", path);
            }
            buf = n;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + used, cap - used);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return ebb_error_errno(err, EBB_E_IO, e, "cannot read %s", path);
        }
        if (r == 0)
            break;
        used += (size_t)r;
    }
    close(fd);
    if (memchr(buf, '\0', used) != NULL) {
        free(buf);
        return ebb_error_set(err, EBB_E_INVALID, "%s holds a NUL byte: not a SQL script", path);
    }
    buf[used] = '\0';
    *out = buf;
    *len = used;
    return EBB_OK;
}

void ebb_source_checksum(const char *data, size_t len, char out[EBB_CHECKSUM_HEX])
{
    unsigned char digest[32];
    crypto_generichash(digest, sizeof digest, (const unsigned char *)data, len, NULL, 0);
    sodium_bin2hex(out, EBB_CHECKSUM_HEX, digest, sizeof digest);
}

/* ---- versions ---- */

int ebb_version_compare(const char *a, size_t alen, const char *b, size_t blen)
{
    while (alen > 0 && *a == '0') {
        a++;
        alen--;
    }
    while (blen > 0 && *b == '0') {
        b++;
        blen--;
    }
    if (alen != blen)
        return alen < blen ? -1 : 1;
    int c = alen ? memcmp(a, b, alen) : 0;
    return (c > 0) - (c < 0);
}

int ebb_version_compare_str(const char *a, const char *b)
{
    return ebb_version_compare(a, strlen(a), b, strlen(b));
}

int ebb_version_compare_dotted(const char *a, const char *b)
{
    for (;;) {
        size_t la = strcspn(a, "."), lb = strcspn(b, ".");
        int c = ebb_version_compare(a, la, b, lb); /* an exhausted side reads as 0 */
        if (c != 0)
            return c;
        a += la;
        b += lb;
        if (*a == '\0' && *b == '\0')
            return 0;
        if (*a == '.')
            a++;
        if (*b == '.')
            b++;
    }
}

bool ebb_source_all_digits(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

bool ebb_source_ends_with(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && memcmp(s + ls - lx, suffix, lx) == 0;
}

/* ---- scripts ---- */

#define DIRECTIVE_PREFIX "ebb:"

/*
 * Look at the first line for "-- ebb:<word>". Returns 1 for no-transaction,
 * 2 for irreversible, 0 for no directive, -1 for an unknown one (copied into bad).
 */
static int first_line_directive(const char *sql, char *bad, size_t bad_size)
{
    const char *p = sql;
    if ((unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB && (unsigned char)p[2] == 0xBF)
        p += 3; /* UTF-8 byte order mark some editors write */
    if (p[0] != '-' || p[1] != '-')
        return 0;
    p += 2;
    while (*p == ' ' || *p == '\t')
        p++;
    if (strncmp(p, DIRECTIVE_PREFIX, strlen(DIRECTIVE_PREFIX)) != 0)
        return 0;
    const char *word = p + strlen(DIRECTIVE_PREFIX);
    size_t wl = strcspn(word, " \t\r\n");
    const char *rest = word + wl;
    while (*rest == ' ' || *rest == '\t' || *rest == '\r')
        rest++;
    if (wl == strlen("no-transaction") && strncmp(word, "no-transaction", wl) == 0 &&
        (*rest == '\n' || *rest == '\0'))
        return 1;
    if (wl == strlen("irreversible") && strncmp(word, "irreversible", wl) == 0 &&
        (*rest == '\n' || *rest == '\0'))
        return 2;
    size_t ll = strcspn(sql, "\r\n");
    snprintf(bad, bad_size, "%.*s", (int)(ll > 200 ? 200 : ll), sql);
    return -1;
}

ebb_code ebb_source_script_set(ebb_script *script, char *path, int first_line, char *sql,
                               size_t len, bool force_no_tx, ebb_error *err)
{
    char bad[256];
    int d = first_line_directive(sql, bad, sizeof bad);
    ebb_code rc = EBB_OK;
    if (d < 0) {
        rc = ebb_error_set(err, EBB_E_INVALID,
                           "%s:%d: unknown directive \"%s\" (known: "
                           "\"-- ebb:no-transaction\", \"-- ebb:irreversible\")",
                           path, first_line, bad);
        goto fail;
    }
    bool no_tx = force_no_tx || d == 1;
    if (no_tx) {
        ebb_sql_script parsed;
        rc = ebb_sql_split(sql, EBB_SQL_SPLIT_PARSER, &parsed, err);
        if (rc != EBB_OK) {
            if (first_line > 1)
                ebb_error_prefix(err, "%s (script starts at line %d)", path, first_line);
            else
                ebb_error_prefix(err, "%s", path);
            goto fail;
        }
        size_t n = parsed.count;
        int second = n > 1 ? parsed.stmts[1].line + first_line - 1 : 0;
        ebb_sql_script_fini(&parsed);
        if (n > 1) {
            rc = ebb_error_set(err, EBB_E_INVALID,
                               "%s:%d: a no-transaction script must hold one statement, this "
                               "one holds %zu (split it into one revision per statement)",
                               path, second, n);
            goto fail;
        }
    }
    script->path = path;
    script->first_line = first_line;
    script->sql = sql;
    script->no_transaction = no_tx;
    script->irreversible = d == 2;
    ebb_source_checksum(sql, len, script->checksum);
    return EBB_OK;
fail:
    free(path);
    free(sql);
    return rc;
}

/* ---- entries and the linear build ---- */

ebb_code ebb_source_entries_add(ebb_source_entries *e, const char *version, size_t vlen,
                                const char *name, size_t nlen, const char *relpath,
                                ebb_source_role role, bool force_no_tx, ebb_error *err)
{
    if (e->count == e->cap) {
        size_t ncap = e->cap ? e->cap * 2 : 32;
        ebb_source_entry *n = realloc(e->v, ncap * sizeof *n);
        if (n == NULL)
            return ebb_error_set(err, EBB_E_NOMEM, "out of memory reading migrations");
        e->v = n;
        e->cap = ncap;
    }
    ebb_source_entry x = {strndup(version, vlen), strndup(name, nlen), strdup(relpath), role,
                          force_no_tx};
    if (x.version == NULL || x.name == NULL || x.relpath == NULL) {
        free(x.version);
        free(x.name);
        free(x.relpath);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory reading migrations");
    }
    e->v[e->count++] = x;
    return EBB_OK;
}

void ebb_source_entries_fini(ebb_source_entries *e)
{
    if (e == NULL)
        return;
    for (size_t i = 0; i < e->count; i++) {
        free(e->v[i].version);
        free(e->v[i].name);
        free(e->v[i].relpath);
    }
    free(e->v);
    memset(e, 0, sizeof *e);
}

static int entry_cmp(const ebb_source_entry *a, const ebb_source_entry *b, ebb_source_cmp_fn cmp)
{
    int c = cmp(a->version, b->version);
    if (c != 0)
        return c;
    if (a->role != b->role)
        return a->role < b->role ? -1 : 1;
    return strcmp(a->relpath, b->relpath);
}

/* Stable merge sort: qsort has no context argument for cmp. */
static ebb_code sort_entries(ebb_source_entries *e, ebb_source_cmp_fn cmp, ebb_error *err)
{
    size_t n = e->count;
    if (n < 2)
        return EBB_OK;
    ebb_source_entry *tmp = malloc(n * sizeof *tmp);
    if (tmp == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory sorting migrations");
    ebb_source_entry *src = e->v, *dst = tmp;
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                dst[k++] = entry_cmp(&src[j], &src[i], cmp) < 0 ? src[j++] : src[i++];
            while (i < mid)
                dst[k++] = src[i++];
            while (j < hi)
                dst[k++] = src[j++];
        }
        ebb_source_entry *t = src;
        src = dst;
        dst = t;
    }
    if (src != e->v)
        memcpy(e->v, src, n * sizeof *src);
    free(tmp);
    return EBB_OK;
}

static ebb_code load_script(const char *root, const ebb_source_entry *en, ebb_script *s,
                            ebb_error *err)
{
    char *path = ebb_source_path_join(root, en->relpath);
    if (path == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory reading %s", en->relpath);
    char *sql;
    size_t len;
    ebb_code rc = ebb_source_read_file(path, &sql, &len, err);
    if (rc != EBB_OK) {
        free(path);
        return rc;
    }
    return ebb_source_script_set(s, path, 1, sql, len, en->force_no_tx, err);
}

static const char *role_name(ebb_source_role role)
{
    switch (role) {
    case EBB_ROLE_UP:
        return "up";
    case EBB_ROLE_DOWN:
        return "down";
    case EBB_ROLE_VERIFY:
        return "verify";
    case EBB_ROLE_BOTH:
        return "up and down";
    }
    return "?";
}

/* Check one version group [lo, hi) and point by_role at its files. */
static ebb_code check_group(const char *root, const ebb_source_entry *g, size_t n,
                            const ebb_source_entry *by_role[4], ebb_error *err)
{
    for (size_t k = 0; k < n; k++) {
        const ebb_source_entry *x = &g[k];
        const ebb_source_entry *clash = NULL;
        if (strcmp(x->version, g[0].version) != 0 || strcmp(x->name, g[0].name) != 0)
            clash = &g[0];
        else if (by_role[x->role] != NULL)
            clash = by_role[x->role];
        else if (x->role == EBB_ROLE_BOTH && (by_role[EBB_ROLE_UP] || by_role[EBB_ROLE_DOWN]))
            clash = by_role[EBB_ROLE_UP] ? by_role[EBB_ROLE_UP] : by_role[EBB_ROLE_DOWN];
        else if ((x->role == EBB_ROLE_UP || x->role == EBB_ROLE_DOWN) && by_role[EBB_ROLE_BOTH])
            clash = by_role[EBB_ROLE_BOTH];
        if (clash != NULL)
            return ebb_error_set(err, EBB_E_INVALID,
                                 "duplicate version %s: %s/%s and %s/%s (one version, one "
                                 "name, one file per script)",
                                 x->version, root, clash->relpath, root, x->relpath);
        by_role[x->role] = x;
    }
    if (by_role[EBB_ROLE_BOTH] != NULL)
        return EBB_OK;
    const ebb_source_entry *any = &g[0];
    if (by_role[EBB_ROLE_UP] == NULL)
        return ebb_error_set(err, EBB_E_INVALID,
                             "%s/%s: version %s has a %s script but no up script", root,
                             any->relpath, any->version, role_name(any->role));
    if (by_role[EBB_ROLE_DOWN] == NULL)
        return ebb_error_set(err, EBB_E_INVALID,
                             "%s/%s: version %s has an up script but no down script (every "
                             "revision must be reversible)",
                             root, by_role[EBB_ROLE_UP]->relpath, any->version);
    return EBB_OK;
}

ebb_code ebb_source_build(const char *root, ebb_source_entries *e, ebb_source_cmp_fn cmp,
                          ebb_source_split_fn split, ebb_graph *graph, ebb_error *err)
{
    ebb_code rc = sort_entries(e, cmp, err);
    if (rc != EBB_OK)
        return rc;
    ebb_revision *revs = calloc(e->count ? e->count : 1, sizeof *revs);
    if (revs == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory reading migrations");
    size_t n = 0;
    for (size_t lo = 0, hi; lo < e->count; lo = hi) {
        for (hi = lo + 1; hi < e->count && cmp(e->v[hi].version, e->v[lo].version) == 0; hi++)
            ;
        const ebb_source_entry *by_role[4] = {NULL, NULL, NULL, NULL};
        rc = check_group(root, &e->v[lo], hi - lo, by_role, err);
        if (rc != EBB_OK)
            goto fail;
        ebb_revision *r = &revs[n++]; /* counted now so that fail frees it */
        r->id = strdup(e->v[lo].version);
        r->name = strdup(e->v[lo].name);
        if (n > 1)
            r->parents = malloc(sizeof *r->parents);
        if (r->id == NULL || r->name == NULL || (n > 1 && r->parents == NULL)) {
            rc = ebb_error_set(err, EBB_E_NOMEM, "out of memory reading migrations");
            goto fail;
        }
        if (n > 1) {
            r->parents[0] = n - 2;
            r->n_parents = 1;
        }
        if (by_role[EBB_ROLE_BOTH] != NULL) {
            const ebb_source_entry *b = by_role[EBB_ROLE_BOTH];
            char *path = ebb_source_path_join(root, b->relpath), *text = NULL;
            size_t len = 0;
            if (path == NULL) {
                rc = ebb_error_set(err, EBB_E_NOMEM, "out of memory reading %s", b->relpath);
                goto fail;
            }
            rc = ebb_source_read_file(path, &text, &len, err);
            if (rc != EBB_OK) {
                free(path);
                goto fail;
            }
            if (split == NULL) {
                free(path);
                free(text);
                rc = ebb_error_set(err, EBB_E_INTERNAL, "no section splitter for %s", b->relpath);
                goto fail;
            }
            rc = split(path, text, len, &r->up, &r->down, err);
        } else {
            rc = load_script(root, by_role[EBB_ROLE_UP], &r->up, err);
            if (rc == EBB_OK)
                rc = load_script(root, by_role[EBB_ROLE_DOWN], &r->down, err);
        }
        if (rc == EBB_OK && by_role[EBB_ROLE_VERIFY] != NULL)
            rc = load_script(root, by_role[EBB_ROLE_VERIFY], &r->verify, err);
        if (rc != EBB_OK)
            goto fail;
    }
    graph->revs = revs;
    graph->count = n;
    return EBB_OK;
fail:
    for (size_t i = 0; i < n; i++)
        ebb_revision_fini(&revs[i]);
    free(revs);
    return rc;
}
