/*
 * golang-migrate layout: <version>_<name>.up.sql, <version>_<name>.down.sql
 * and an optional <version>_<name>.verify.sql (golang-migrate ignores it).
 */
#include <stdio.h>
#include <string.h>

#include "agent/source_internal.h"

static const struct {
    const char *suffix;
    ebb_source_role role;
} suffixes[] = {
    {".up.sql", EBB_ROLE_UP},
    {".down.sql", EBB_ROLE_DOWN},
    {".verify.sql", EBB_ROLE_VERIFY},
};

/* Parse name; true when it is a file of the layout. */
static bool parse(const char *name, size_t *vlen, const char **nm, size_t *nlen,
                  ebb_source_role *role)
{
    size_t v = strspn(name, "0123456789");
    if (v == 0 || name[v] != '_')
        return false;
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        if (!ebb_source_ends_with(name + v + 1, suffixes[i].suffix))
            continue;
        *vlen = v;
        *nm = name + v + 1;
        *nlen = strlen(name + v + 1) - strlen(suffixes[i].suffix);
        *role = suffixes[i].role;
        return true;
    }
    return false;
}

/*
 * A file that does not match but looks as if it was meant to: it starts
 * with a digit or names a direction ("001_x.up.sq", "x.up.sql",
 * "001-x.up.sql"). Such a file is an error, not skipped: a migration that is
 * silently left out is worse than a refused load.
 */
static bool near_miss(const char *name)
{
    return (name[0] >= '0' && name[0] <= '9') || strstr(name, ".up.") != NULL ||
           strstr(name, ".down.") != NULL || strstr(name, ".verify.") != NULL;
}

bool ebb_golang_detect(const ebb_source_dir *dir, const char **example)
{
    size_t vlen, nlen;
    const char *nm;
    ebb_source_role role;
    for (size_t i = 0; i < dir->count; i++)
        if (parse(dir->entries[i].name, &vlen, &nm, &nlen, &role) && role != EBB_ROLE_VERIFY) {
            *example = dir->entries[i].name;
            return true;
        }
    return false;
}

ebb_code ebb_golang_load(const char *root, const ebb_source_dir *dir, ebb_graph *graph,
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
        else if (!dir->entries[i].is_dir && near_miss(name))
            rc = ebb_error_set(err, EBB_E_INVALID,
                               "%s/%s looks like a migration but is not named "
                               "<version>_<name>.up.sql, .down.sql or .verify.sql "
                               "(golang-migrate layout): rename or remove it",
                               root, name);
    }
    if (rc == EBB_OK)
        rc = ebb_source_build(root, &e, ebb_version_compare_str, NULL, graph, err);
    ebb_source_entries_fini(&e);
    return rc;
}
