/*
 * Diesel layout: one folder per revision, <version>_<name>/ with up.sql,
 * down.sql, an optional verify.sql and an optional metadata.toml. The
 * version is the folder name before the first '_' with Diesel's dashes
 * removed ("2017-08-31-210424" is recorded as "20170831210424", as Diesel
 * records it).
 *
 * metadata.toml: Debian 12 packages no C TOML library (only C++ ones), so
 * this file reads the one key Diesel defines, run_in_transaction, with a
 * deliberately small reader: blank lines, '#' comments and
 * "run_in_transaction = true|false" (with an optional trailing comment).
 * Anything else in the file is an error naming its line, never ignored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/source_internal.h"

/* Folder name -> version length (up to '_' or end), 0 when not a migration folder. */
static size_t parse(const char *name)
{
    size_t v = strspn(name, "0123456789-");
    if (v == 0 || (name[v] != '_' && name[v] != '\0'))
        return 0;
    if (strspn(name, "0123456789") == 0 || name[0] == '-')
        return 0;
    return v;
}

static bool has_file(const char *root, const char *sub, const char *file)
{
    char *dir = ebb_source_path_join(root, sub);
    char *path = dir ? ebb_source_path_join(dir, file) : NULL;
    struct stat st;
    bool ok = path != NULL && stat(path, &st) == 0;
    free(dir);
    free(path);
    return ok;
}

bool ebb_diesel_detect(const char *root, const ebb_source_dir *dir, const char **example)
{
    for (size_t i = 0; i < dir->count; i++)
        if (dir->entries[i].is_dir && parse(dir->entries[i].name) > 0 &&
            has_file(root, dir->entries[i].name, "up.sql")) {
            *example = dir->entries[i].name;
            return true;
        }
    return false;
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* The minimal metadata.toml reader described at the top of this file. */
static ebb_code read_metadata(const char *path, bool *run_in_tx, ebb_error *err)
{
    char *text;
    size_t len;
    ebb_code rc = ebb_source_read_file(path, &text, &len, err);
    if (rc != EBB_OK)
        return rc;
    bool seen = false, value = true;
    int lineno = 1;
    for (char *line = text; rc == EBB_OK && *line != '\0'; lineno++) {
        char *eol = line + strcspn(line, "\n");
        char *next = *eol ? eol + 1 : eol;
        *eol = '\0';
        if (eol > line && eol[-1] == '\r')
            eol[-1] = '\0';
        const char *p = skip_ws(line);
        if (*p != '\0' && *p != '#') {
            const char *key = "run_in_transaction";
            bool ok = strncmp(p, key, strlen(key)) == 0;
            if (ok) {
                p = skip_ws(p + strlen(key));
                ok = *p == '=';
            }
            bool v = false;
            if (ok) {
                p = skip_ws(p + 1);
                if (strncmp(p, "true", 4) == 0) {
                    v = true;
                    p += 4;
                } else if (strncmp(p, "false", 5) == 0) {
                    p += 5;
                } else {
                    ok = false;
                }
            }
            if (ok) {
                p = skip_ws(p);
                ok = *p == '\0' || *p == '#';
            }
            if (!ok)
                rc = ebb_error_set(err, EBB_E_INVALID,
                                   "%s:%d: cannot read \"%.200s\": ebb reads only "
                                   "\"run_in_transaction = true|false\" and comments from "
                                   "Diesel metadata",
                                   path, lineno, line);
            else if (seen)
                rc = ebb_error_set(err, EBB_E_INVALID, "%s:%d: run_in_transaction is set twice",
                                   path, lineno);
            seen = true;
            value = v;
        }
        line = next;
    }
    free(text);
    if (rc == EBB_OK)
        *run_in_tx = value;
    return rc;
}

static bool near_miss_inside(const char *name)
{
    return ebb_source_ends_with(name, ".sql") || strncmp(name, "up", 2) == 0 ||
           strncmp(name, "down", 4) == 0 || strncmp(name, "verify", 6) == 0 ||
           strncmp(name, "metadata", 8) == 0;
}

/* Add the scripts of one migration folder. */
static ebb_code add_folder(const char *root, const char *folder, size_t vlen, ebb_source_entries *e,
                           ebb_error *err)
{
    char *dir = ebb_source_path_join(root, folder);
    if (dir == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory reading %s", root);
    ebb_source_dir list;
    ebb_code rc = ebb_source_dir_list(dir, &list, err);
    if (rc != EBB_OK) {
        free(dir);
        return rc;
    }
    char version[256];
    size_t n = 0;
    for (size_t i = 0; i < vlen && n + 1 < sizeof version; i++)
        if (folder[i] != '-')
            version[n++] = folder[i];
    version[n] = '\0';
    const char *name = folder[vlen] == '_' ? folder + vlen + 1 : "";

    bool run_in_tx = true;
    bool any = false;
    for (size_t i = 0; rc == EBB_OK && i < list.count; i++)
        if (strcmp(list.entries[i].name, "metadata.toml") == 0) {
            char *path = ebb_source_path_join(dir, "metadata.toml");
            rc = path ? read_metadata(path, &run_in_tx, err)
                      : ebb_error_set(err, EBB_E_NOMEM, "out of memory reading %s", dir);
            free(path);
        }
    for (size_t i = 0; rc == EBB_OK && i < list.count; i++) {
        const char *f = list.entries[i].name;
        ebb_source_role role;
        if (strcmp(f, "up.sql") == 0)
            role = EBB_ROLE_UP;
        else if (strcmp(f, "down.sql") == 0)
            role = EBB_ROLE_DOWN;
        else if (strcmp(f, "verify.sql") == 0)
            role = EBB_ROLE_VERIFY;
        else if (strcmp(f, "metadata.toml") == 0)
            continue;
        else {
            if (near_miss_inside(f))
                rc = ebb_error_set(err, EBB_E_INVALID,
                                   "%s/%s looks like a migration script but is not up.sql, "
                                   "down.sql, verify.sql or metadata.toml: rename or remove it",
                                   dir, f);
            continue;
        }
        char rel[4096];
        snprintf(rel, sizeof rel, "%s/%s", folder, f);
        any = true;
        rc = ebb_source_entries_add(e, version, n, name, strlen(name), rel, role,
                                    role != EBB_ROLE_VERIFY && !run_in_tx, err);
    }
    if (rc == EBB_OK && !any)
        rc = ebb_error_set(err, EBB_E_INVALID, "%s: a migration folder without up.sql", dir);
    ebb_source_dir_fini(&list);
    free(dir);
    return rc;
}

ebb_code ebb_diesel_load(const char *root, const ebb_source_dir *dir, ebb_graph *graph,
                         ebb_error *err)
{
    ebb_source_entries e = {NULL, 0, 0};
    ebb_code rc = EBB_OK;
    for (size_t i = 0; rc == EBB_OK && i < dir->count; i++) {
        const char *name = dir->entries[i].name;
        if (!dir->entries[i].is_dir)
            continue;
        size_t v = parse(name);
        if (v > 0)
            rc = add_folder(root, name, v, &e, err);
        else if (name[0] >= '0' && name[0] <= '9')
            rc = ebb_error_set(err, EBB_E_INVALID,
                               "%s/%s looks like a migration folder but is not named "
                               "<version>_<name> (Diesel layout): rename or remove it",
                               root, name);
    }
    if (rc == EBB_OK)
        rc = ebb_source_build(root, &e, ebb_version_compare_str, NULL, graph, err);
    ebb_source_entries_fini(&e);
    return rc;
}
