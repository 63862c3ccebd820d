/*
 * Flyway layout: V<version>__<name>.sql (up), U<version>__<name>.sql (undo)
 * and an optional verify script V<version>__<name>.sql.verify. The verify
 * name ends in ".sql.verify", like Flyway's own per-script ".sql.conf",
 * because Flyway reads every V*.sql it finds: a "V1__x.verify.sql" would be
 * a second migration of version 1 to Flyway itself. Versions are dotted
 * (1.2.10, or 1_2_10 which Flyway reads the same) and are recorded with
 * dots. Repeatable (R__) and baseline (B) migrations and .sql.conf files are
 * refused, not skipped: ebb could not honour them.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent/source_internal.h"

/* Length of a dotted version at s ("1", "1.2", "1_2"), 0 when none. */
static size_t version_len(const char *s)
{
    size_t i = strspn(s, "0123456789");
    if (i == 0)
        return 0;
    while ((s[i] == '.' || s[i] == '_') && isdigit((unsigned char)s[i + 1]))
        i += 1 + strspn(s + i + 1, "0123456789");
    return i;
}

static bool parse(const char *name, size_t *vlen, const char **nm, size_t *nlen,
                  ebb_source_role *role)
{
    if (name[0] != 'V' && name[0] != 'U')
        return false;
    size_t v = version_len(name + 1);
    if (v == 0 || strncmp(name + 1 + v, "__", 2) != 0)
        return false;
    const char *desc = name + 1 + v + 2;
    if (name[0] == 'V' && ebb_source_ends_with(desc, ".sql.verify")) {
        *role = EBB_ROLE_VERIFY;
        *nlen = strlen(desc) - strlen(".sql.verify");
    } else if (ebb_source_ends_with(desc, ".verify.sql")) {
        return false; /* Flyway would run it as a migration: refused with a hint */
    } else if (ebb_source_ends_with(desc, ".sql")) {
        *role = name[0] == 'V' ? EBB_ROLE_UP : EBB_ROLE_DOWN;
        *nlen = strlen(desc) - strlen(".sql");
    } else {
        return false;
    }
    *vlen = v;
    *nm = desc;
    return true;
}

static bool ends_with_ci(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && strcasecmp(s + ls - lx, suffix) == 0;
}

/* Why name cannot be used, or NULL when it is a file of the layout or unrelated. */
static const char *refusal(const char *name)
{
    size_t vlen, nlen;
    const char *nm;
    ebb_source_role role;
    if (parse(name, &vlen, &nm, &nlen, &role))
        return NULL;
    if (ebb_source_ends_with(name, ".verify.sql"))
        return "Flyway would run this as a second migration of its version; name a verify "
               "script V<version>__<name>.sql.verify";
    if (ends_with_ci(name, ".sql.conf"))
        return "Flyway script configuration is not read; mark a script that must run outside "
               "a transaction with a first line \"-- ebb:no-transaction\"";
    if (name[0] == 'R' && strncmp(name + 1, "__", 2) == 0)
        return "repeatable migrations (R__) have no place in a revision graph";
    if (name[0] == 'B' && version_len(name + 1) > 0)
        return "baseline migrations (B<version>__) are not supported";
    if ((strchr("VUvu", name[0]) != NULL && name[0] != '\0' && isdigit((unsigned char)name[1])) ||
        ends_with_ci(name, ".sql") || strstr(name, ".verify") != NULL)
        return "it looks like a migration but is not named V<version>__<name>.sql, "
               "U<version>__<name>.sql or V<version>__<name>.sql.verify";
    return NULL;
}

bool ebb_flyway_detect(const ebb_source_dir *dir, const char **example)
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

/*
 * Flyway also reads subdirectories; ebb reads the top level only, so a
 * subdirectory holding migrations would be left out: refuse it instead.
 */
static ebb_code check_subdir(const char *root, const char *sub, ebb_error *err)
{
    char *path = ebb_source_path_join(root, sub);
    if (path == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory reading %s", root);
    ebb_source_dir list;
    ebb_code rc = ebb_source_dir_list(path, &list, err);
    if (rc != EBB_OK) {
        free(path);
        return rc;
    }
    for (size_t i = 0; rc == EBB_OK && i < list.count; i++) {
        size_t vlen, nlen;
        const char *nm;
        ebb_source_role role;
        const char *name = list.entries[i].name;
        if (parse(name, &vlen, &nm, &nlen, &role) || refusal(name) != NULL)
            rc = ebb_error_set(err, EBB_E_INVALID,
                               "%s/%s: migrations in subdirectories are not read; move them "
                               "to %s",
                               path, name, root);
    }
    ebb_source_dir_fini(&list);
    free(path);
    return rc;
}

ebb_code ebb_flyway_load(const char *root, const ebb_source_dir *dir, ebb_graph *graph,
                         ebb_error *err)
{
    ebb_source_entries e = {NULL, 0, 0};
    ebb_code rc = EBB_OK;
    for (size_t i = 0; rc == EBB_OK && i < dir->count; i++) {
        const char *name = dir->entries[i].name;
        size_t vlen, nlen;
        const char *nm;
        ebb_source_role role;
        const char *why;
        if (parse(name, &vlen, &nm, &nlen, &role)) {
            char version[256];
            if (vlen >= sizeof version) {
                rc = ebb_error_set(err, EBB_E_INVALID, "%s/%s: version is too long", root, name);
                break;
            }
            memcpy(version, name + 1, vlen);
            version[vlen] = '\0';
            for (char *p = version; *p; p++)
                if (*p == '_')
                    *p = '.'; /* Flyway's own spelling of the version */
            rc = ebb_source_entries_add(&e, version, vlen, nm, nlen, name, role, false, err);
        } else if (dir->entries[i].is_dir) {
            if (strcmp(name, "checks") != 0)
                rc = check_subdir(root, name, err);
        } else if ((why = refusal(name)) != NULL) {
            rc = ebb_error_set(err, EBB_E_INVALID, "%s/%s: %s", root, name, why);
        }
    }
    if (rc == EBB_OK)
        rc = ebb_source_build(root, &e, ebb_version_compare_dotted, NULL, graph, err);
    ebb_source_entries_fini(&e);
    return rc;
}
