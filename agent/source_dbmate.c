/*
 * dbmate layout: one <version>_<name>.sql (or <version>.sql) per revision
 * holding a "-- migrate:up" and a "-- migrate:down" section; the marker's
 * "transaction:false" option makes that section a no-transaction script.
 * The optional verify script is <version>_<name>.sql.verify: dbmate runs
 * every <digits>*.sql it finds, so a "<version>_<name>.verify.sql" would be
 * a second migration to dbmate itself; such a file is refused with a hint.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/source_internal.h"

static bool parse(const char *name, size_t *vlen, const char **nm, size_t *nlen,
                  ebb_source_role *role)
{
    size_t v = strspn(name, "0123456789");
    if (v == 0 || (name[v] != '_' && name[v] != '.'))
        return false;
    const char *rest = name[v] == '_' ? name + v + 1 : name + v;
    size_t rl = strlen(rest);
    if (ebb_source_ends_with(rest, ".sql.verify")) {
        *role = EBB_ROLE_VERIFY;
        rl -= strlen(".sql.verify");
    } else if (ebb_source_ends_with(rest, ".sql")) {
        *role = EBB_ROLE_BOTH;
        rl -= strlen(".sql");
    } else {
        return false;
    }
    if (name[v] == '.' && rl != 0)
        return false; /* "<version>.sql" only */
    /* Other tools' spellings are near misses, not dbmate files. */
    if (*role == EBB_ROLE_BOTH &&
        (ebb_source_ends_with(name, ".up.sql") || ebb_source_ends_with(name, ".down.sql") ||
         ebb_source_ends_with(name, ".verify.sql")))
        return false;
    *vlen = v;
    *nm = rest;
    *nlen = rl;
    return true;
}

bool ebb_dbmate_detect(const ebb_source_dir *dir, const char **example)
{
    size_t vlen, nlen;
    const char *nm;
    ebb_source_role role;
    for (size_t i = 0; i < dir->count; i++)
        if (parse(dir->entries[i].name, &vlen, &nm, &nlen, &role) && role == EBB_ROLE_BOTH) {
            *example = dir->entries[i].name;
            return true;
        }
    return false;
}

static bool contains(const char *p, const char *end, const char *needle)
{
    size_t n = strlen(needle);
    for (; (size_t)(end - p) >= n; p++)
        if (memcmp(p, needle, n) == 0)
            return true;
    return false;
}

/* Is line (up to eol) a "-- migrate:<word>" marker? Sets *word and its length. */
static bool marker(const char *line, const char *eol, const char **word, size_t *wl)
{
    const char *p = line;
    if (eol - p < 2 || p[0] != '-' || p[1] != '-')
        return false;
    p += 2;
    while (p < eol && (*p == ' ' || *p == '\t'))
        p++;
    if ((size_t)(eol - p) < strlen("migrate:") || strncmp(p, "migrate:", 8) != 0)
        return false;
    p += 8;
    *word = p;
    *wl = strcspn(p, " \t\r\n");
    return true;
}

/* Read the options after a marker word; only transaction:true|false exists. */
static ebb_code marker_options(const char *path, int line, const char *p, const char *eol,
                               bool *no_tx, ebb_error *err)
{
    *no_tx = false;
    for (;;) {
        while (p < eol && (*p == ' ' || *p == '\t' || *p == '\r'))
            p++;
        if (p >= eol)
            return EBB_OK;
        size_t n = strcspn(p, " \t\r\n");
        if (n == strlen("transaction:false") && strncmp(p, "transaction:false", n) == 0)
            *no_tx = true;
        else if (!(n == strlen("transaction:true") && strncmp(p, "transaction:true", n) == 0))
            return ebb_error_set(err, EBB_E_INVALID,
                                 "%s:%d: unknown dbmate option \"%.*s\" (known: "
                                 "transaction:false, transaction:true)",
                                 path, line, (int)(n > 100 ? 100 : n), p);
        p += n;
    }
}

static ebb_code section(const char *path, const char *start, const char *end, int first_line,
                        bool no_tx, ebb_script *out, ebb_error *err)
{
    char *p = strdup(path), *sql = strndup(start, (size_t)(end - start));
    if (p == NULL || sql == NULL) {
        free(p);
        free(sql);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory reading %s", path);
    }
    return ebb_source_script_set(out, p, first_line, sql, (size_t)(end - start), no_tx, err);
}

static ebb_code split(char *path, char *text, size_t len, ebb_script *up, ebb_script *down,
                      ebb_error *err)
{
    const char *up_start = NULL, *down_mark = NULL, *down_start = NULL;
    int up_line = 0, down_line = 0;
    bool up_no_tx = false, down_no_tx = false;
    ebb_code rc = EBB_OK;
    int lineno = 1;
    for (const char *line = text; rc == EBB_OK && line < text + len; lineno++) {
        const char *eol = strchr(line, '\n');
        const char *next = eol ? eol + 1 : text + len;
        if (eol == NULL)
            eol = text + len;
        const char *word;
        size_t wl;
        if (marker(line, eol, &word, &wl)) {
            bool is_up = wl == 2 && strncmp(word, "up", 2) == 0;
            bool is_down = wl == 4 && strncmp(word, "down", 4) == 0;
            if (!is_up && !is_down)
                rc = ebb_error_set(err, EBB_E_INVALID,
                                   "%s:%d: unknown marker \"-- migrate:%.*s\" (known: "
                                   "migrate:up, migrate:down)",
                                   path, lineno, (int)(wl > 100 ? 100 : wl), word);
            else if (is_up && up_start != NULL)
                rc = ebb_error_set(err, EBB_E_INVALID, "%s:%d: a second -- migrate:up", path,
                                   lineno);
            else if (is_down && down_start != NULL)
                rc = ebb_error_set(err, EBB_E_INVALID, "%s:%d: a second -- migrate:down", path,
                                   lineno);
            else if (is_down && up_start == NULL)
                rc = ebb_error_set(err, EBB_E_INVALID,
                                   "%s:%d: -- migrate:down before -- migrate:up", path, lineno);
            else if (is_up && down_start != NULL)
                rc = ebb_error_set(err, EBB_E_INVALID, "%s:%d: -- migrate:up after -- migrate:down",
                                   path, lineno);
            else if (is_up) {
                rc = marker_options(path, lineno, word + wl, eol, &up_no_tx, err);
                up_start = next;
                up_line = lineno + 1;
            } else {
                rc = marker_options(path, lineno, word + wl, eol, &down_no_tx, err);
                down_mark = line;
                down_start = next;
                down_line = lineno + 1;
            }
        } else if (up_start == NULL) {
            const char *p = line;
            while (p < eol && (*p == ' ' || *p == '\t' || *p == '\r'))
                p++;
            if (p < eol && !(eol - p >= 2 && p[0] == '-' && p[1] == '-'))
                rc = ebb_error_set(err, EBB_E_INVALID, "%s:%d: SQL before the -- migrate:up marker",
                                   path, lineno);
            else if (p < eol && contains(p, eol, "ebb:"))
                /* It would be a comment here, and the step would silently run in a transaction. */
                rc = ebb_error_set(err, EBB_E_INVALID,
                                   "%s:%d: an ebb directive outside a section has no effect; "
                                   "use \"-- migrate:up transaction:false\" or put it on the "
                                   "section's first line",
                                   path, lineno);
        }
        line = next;
    }
    if (rc == EBB_OK && up_start == NULL)
        rc =
            ebb_error_set(err, EBB_E_INVALID, "%s: no -- migrate:up section (dbmate layout)", path);
    if (rc == EBB_OK && down_start == NULL)
        rc = ebb_error_set(err, EBB_E_INVALID,
                           "%s: an up section but no -- migrate:down section (every revision "
                           "must be reversible)",
                           path);
    if (rc == EBB_OK)
        rc = section(path, up_start, down_mark, up_line, up_no_tx, up, err);
    if (rc == EBB_OK)
        rc = section(path, down_start, text + len, down_line, down_no_tx, down, err);
    free(path);
    free(text);
    return rc;
}

ebb_code ebb_dbmate_load(const char *root, const ebb_source_dir *dir, ebb_graph *graph,
                         ebb_error *err)
{
    ebb_source_entries e = {NULL, 0, 0};
    ebb_code rc = EBB_OK;
    for (size_t i = 0; rc == EBB_OK && i < dir->count; i++) {
        const char *name = dir->entries[i].name;
        size_t vlen, nlen;
        const char *nm;
        ebb_source_role role;
        if (parse(name, &vlen, &nm, &nlen, &role))
            rc = ebb_source_entries_add(&e, name, vlen, nm, nlen, name, role, false, err);
        else if (!dir->entries[i].is_dir && ebb_source_ends_with(name, ".verify.sql"))
            rc = ebb_error_set(err, EBB_E_INVALID,
                               "%s/%s: dbmate would run this as a migration; name a verify "
                               "script <version>_<name>.sql.verify",
                               root, name);
        else if (!dir->entries[i].is_dir && name[0] >= '0' && name[0] <= '9')
            rc = ebb_error_set(err, EBB_E_INVALID,
                               "%s/%s looks like a migration but is not named "
                               "<version>_<name>.sql (dbmate layout): rename or remove it",
                               root, name);
    }
    if (rc == EBB_OK)
        rc = ebb_source_build(root, &e, ebb_version_compare_str, split, graph, err);
    ebb_source_entries_fini(&e);
    return rc;
}
