/* Reads a migration source directory into the graph model: layout detection and dispatch. */
#include "agent/source.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/graph.h"
#include "agent/source_alembic.h"
#include "agent/source_internal.h"
#include "agent/source_sqitch.h"

/*
 * What a directory holds. Sqitch and Alembic projects are recognised so
 * that detection can say what it found, even though this reader does not
 * load them.
 */
static ebb_code detect_listed(const char *root, const ebb_source_dir *dir, ebb_source_kind *out,
                              ebb_error *err)
{
    struct found {
        ebb_source_kind kind;
        const char *example;
    } found[6];
    size_t n = 0;
    const char *ex = NULL;
    if (ebb_golang_detect(dir, &ex))
        found[n++] = (struct found){EBB_SOURCE_GOLANG, ex};
    if (ebb_flyway_detect(dir, &ex))
        found[n++] = (struct found){EBB_SOURCE_FLYWAY, ex};
    if (ebb_dbmate_detect(dir, &ex))
        found[n++] = (struct found){EBB_SOURCE_DBMATE, ex};
    if (ebb_diesel_detect(root, dir, &ex))
        found[n++] = (struct found){EBB_SOURCE_DIESEL, ex};
    for (size_t i = 0; i < dir->count; i++) {
        if (strcmp(dir->entries[i].name, "sqitch.plan") == 0 && !dir->entries[i].is_dir)
            found[n++] = (struct found){EBB_SOURCE_SQITCH, dir->entries[i].name};
        else if (strcmp(dir->entries[i].name, "alembic.ini") == 0 && !dir->entries[i].is_dir)
            found[n++] = (struct found){EBB_SOURCE_ALEMBIC, dir->entries[i].name};
    }
    if (n == 0)
        return ebb_error_set(err, EBB_E_NOT_FOUND,
                             "no migrations found in %s (%zu entries; looked for "
                             "golang-migrate N_name.up.sql, Flyway VN__name.sql, dbmate "
                             "N_name.sql, Diesel N_name/up.sql, sqitch.plan, alembic.ini)",
                             root, dir->count);
    if (n > 1) {
        char what[600];
        size_t used = 0;
        for (size_t i = 0; i < n && used < sizeof what; i++) {
            int w = snprintf(what + used, sizeof what - used, "%s%s (%s)",
                             i == 0       ? ""
                             : i + 1 == n ? " and "
                                          : ", ",
                             ebb_source_kind_name(found[i].kind), found[i].example);
            if (w < 0)
                break;
            used += (size_t)w;
        }
        return ebb_error_set(err, EBB_E_INVALID,
                             "%s mixes migration layouts: %s; keep one layout per directory or "
                             "name it with --kind",
                             root, what);
    }
    *out = found[0].kind;
    return EBB_OK;
}

ebb_code ebb_source_detect(const char *dir, ebb_source_kind *out, ebb_error *err)
{
    ebb_source_dir list;
    ebb_code rc = ebb_source_dir_list(dir, &list, err);
    if (rc != EBB_OK)
        return rc;
    rc = detect_listed(dir, &list, out, err);
    ebb_source_dir_fini(&list);
    return rc;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* <root>/checks/<name>.sql, sorted by name. No checks directory: none. */
ebb_code ebb_source_load_checks(ebb_graph *graph, ebb_error *err)
{
    char *dir = ebb_source_path_join(graph->root, "checks");
    if (dir == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory listing checks");
    struct stat st;
    if (stat(dir, &st) != 0 && errno == ENOENT) {
        free(dir);
        return EBB_OK;
    }
    ebb_source_dir list;
    ebb_code rc = ebb_source_dir_list(dir, &list, err);
    if (rc != EBB_OK) {
        free(dir);
        return rc;
    }
    char **paths = calloc(list.count ? list.count : 1, sizeof *paths);
    size_t n = 0;
    if (paths == NULL)
        rc = ebb_error_set(err, EBB_E_NOMEM, "out of memory listing checks");
    for (size_t i = 0; rc == EBB_OK && i < list.count; i++) {
        if (list.entries[i].is_dir || !ebb_source_ends_with(list.entries[i].name, ".sql"))
            continue;
        paths[n] = ebb_source_path_join(dir, list.entries[i].name);
        if (paths[n] == NULL)
            rc = ebb_error_set(err, EBB_E_NOMEM, "out of memory listing checks");
        else
            n++;
    }
    ebb_source_dir_fini(&list);
    free(dir);
    if (rc != EBB_OK) {
        for (size_t i = 0; i < n; i++)
            free(paths[i]);
        free(paths);
        return rc;
    }
    if (n > 1) /* the listing is sorted already; keep it explicit */
        qsort(paths, n, sizeof *paths, name_cmp);
    graph->check_paths = paths;
    graph->n_checks = n;
    return EBB_OK;
}

ebb_code ebb_source_load(const char *dir, ebb_source_kind kind, ebb_graph *out, ebb_error *err)
{
    ebb_source_dir list;
    ebb_code rc = ebb_source_dir_list(dir, &list, err);
    if (rc != EBB_OK)
        return rc;
    if (kind == EBB_SOURCE_UNKNOWN) {
        rc = detect_listed(dir, &list, &kind, err);
        if (rc != EBB_OK) {
            ebb_source_dir_fini(&list);
            return rc;
        }
    }
    if (kind == EBB_SOURCE_ALEMBIC) {
        ebb_source_dir_fini(&list);
        return ebb_source_load_alembic(dir, NULL, out, err);
    }
    ebb_graph g;
    memset(&g, 0, sizeof g);
    g.kind = kind;
    g.root = strdup(dir);
    if (g.root == NULL) {
        ebb_source_dir_fini(&list);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory loading %s", dir);
    }
    for (size_t l = strlen(g.root); l > 1 && g.root[l - 1] == '/'; l--)
        g.root[l - 1] = '\0';
    if (sodium_init() < 0) {
        /* Only the choice of the fastest BLAKE2b code failed; the portable one still works. */
    }
    switch (kind) {
    case EBB_SOURCE_GOLANG:
        rc = ebb_golang_load(g.root, &list, &g, err);
        break;
    case EBB_SOURCE_FLYWAY:
        rc = ebb_flyway_load(g.root, &list, &g, err);
        break;
    case EBB_SOURCE_DBMATE:
        rc = ebb_dbmate_load(g.root, &list, &g, err);
        break;
    case EBB_SOURCE_DIESEL:
        rc = ebb_diesel_load(g.root, &list, &g, err);
        break;
    case EBB_SOURCE_SQITCH:
        rc = ebb_sqitch_load(g.root, &g, err);
        break;
    default:
        rc = ebb_error_set(err, EBB_E_INVALID,
                           "%s is a %s project; ebb_source_load reads the plain SQL layouts and "
                           "Sqitch (Alembic projects: ebb_source_load_alembic)",
                           dir, ebb_source_kind_name(kind));
        break;
    }
    ebb_source_dir_fini(&list);
    if (rc == EBB_OK)
        rc = ebb_source_load_checks(&g, err);
    if (rc == EBB_OK)
        rc = ebb_graph_check(&g, err);
    if (rc != EBB_OK) {
        ebb_graph_fini(&g);
        return rc;
    }
    ebb_graph_compute_hash(&g);
    *out = g;
    return EBB_OK;
}

ebb_code ebb_source_resolve_target(const ebb_graph *graph, const char *text, ebb_target *out,
                                   ebb_error *err)
{
    if (graph->kind == EBB_SOURCE_ALEMBIC)
        return ebb_alembic_resolve_target(graph, text, out, err);
    if (graph->kind != EBB_SOURCE_SQITCH)
        return ebb_target_parse(text, out, err);
    ebb_sqitch_target st;
    ebb_code rc = ebb_sqitch_resolve_target(graph, text, &st, err);
    if (rc != EBB_OK)
        return rc;
    ebb_target t;
    memset(&t, 0, sizeof t);
    t.kind = st.kind;
    t.steps = st.steps;
    if (st.kind == EBB_TARGET_REVISION)
        snprintf(t.id, sizeof t.id, "%s", graph->revs[st.index].id);
    *out = t;
    return EBB_OK;
}
