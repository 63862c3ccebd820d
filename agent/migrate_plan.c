/* Pure checks the runner makes before a path runs: transactions and recorded checksums. */
#include "agent/migrate_plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const ebb_script *ebb_plan_step_script(const ebb_graph *graph, const ebb_path *path, size_t i)
{
    const ebb_revision *rev = &graph->revs[path->steps[i]];
    const ebb_script *s = path->direction == EBB_DIR_DOWN ? &rev->down : &rev->up;
    return s->sql ? s : NULL;
}

ebb_code ebb_plan_check_transactions(const ebb_graph *graph, const ebb_path *path,
                                     bool single_transaction, ebb_error *err)
{
    const char *dir = path->direction == EBB_DIR_DOWN ? "down" : "up";
    for (size_t i = 0; i < path->count; i++) {
        const ebb_revision *rev = &graph->revs[path->steps[i]];
        const ebb_script *s = ebb_plan_step_script(graph, path, i);
        if (!s)
            return ebb_error_set(err, EBB_E_INVALID, "revision %s has no %s script", rev->id,
                                 dir);
        if (path->direction == EBB_DIR_DOWN && s->irreversible)
            return ebb_error_set(err, EBB_E_REFUSED,
                                 "revision %s cannot be reverted: its down script %s is marked "
                                 "\"-- ebb:irreversible\" (restore a backup instead)",
                                 rev->id, s->path ? s->path : "(unnamed)");
        if (single_transaction && s->external)
            return ebb_error_set(err, EBB_E_REFUSED,
                                 "revision %s: %s runs through Alembic, which commits its own "
                                 "transaction: it cannot be part of a single-transaction (or "
                                 "atomic) path",
                                 rev->id, s->path ? s->path : "(unnamed)");
        if (single_transaction && s->no_transaction)
            return ebb_error_set(err, EBB_E_REFUSED,
                                 "revision %s: %s script %s is marked no-transaction and cannot "
                                 "be part of a single-transaction (or atomic) path",
                                 rev->id, dir, s->path ? s->path : "(unnamed)");
    }
    return EBB_OK;
}

static const ebb_applied *find_applied(const ebb_applied_list *l, const char *id)
{
    for (size_t i = 0; i < l->count; i++)
        if (strcmp(l->rows[i].revision, id) == 0)
            return &l->rows[i];
    return NULL;
}

static int push(char ***arr, size_t *n, const char *line)
{
    char **p = realloc(*arr, (*n + 1) * sizeof **arr);
    if (!p)
        return -1;
    *arr = p;
    if (!(p[*n] = strdup(line)))
        return -1;
    (*n)++;
    return 0;
}

static void free_lines(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

ebb_code ebb_plan_check_checksums(const ebb_graph *graph, const ebb_path *path,
                                  const ebb_applied_list *recorded, bool ignore,
                                  char ***mismatches, size_t *n_mismatches, ebb_error *err)
{
    char **lines = NULL;
    size_t n = 0;
    if (path->direction == EBB_DIR_DOWN) {
        for (size_t i = 0; i < path->count; i++) {
            const ebb_revision *rev = &graph->revs[path->steps[i]];
            const ebb_applied *a = find_applied(recorded, rev->id);
            if (!a)
                continue; /* not applied: the path resolver would not list it */
            struct {
                const char *what;
                const char *rec;
                const ebb_script *disk;
            } checks[] = {{"up", a->up_checksum, &rev->up},
                          {"down", a->down_checksum, &rev->down},
                          {"verify", a->verify_checksum, &rev->verify}};
            for (size_t k = 0; k < 3; k++) {
                if (!*checks[k].rec || strcmp(checks[k].rec, checks[k].disk->checksum) == 0)
                    continue;
                char line[512];
                snprintf(line, sizeof line,
                         "revision %s: recorded %s checksum %s differs from %s (%s)", rev->id,
                         checks[k].what, checks[k].rec,
                         checks[k].disk->path ? checks[k].disk->path : "the script on disk",
                         *checks[k].disk->checksum ? checks[k].disk->checksum : "absent");
                if (!ignore) {
                    free_lines(lines, n);
                    return ebb_error_set(err, EBB_E_CHECKSUM, "%s", line);
                }
                if (push(&lines, &n, line)) {
                    free_lines(lines, n);
                    return ebb_error_set(err, EBB_E_NOMEM, "out of memory checking checksums");
                }
            }
        }
    }
    if (mismatches) {
        *mismatches = lines;
        *n_mismatches = n;
    } else {
        free_lines(lines, n);
    }
    return EBB_OK;
}

const char *ebb_plan_current_after(const ebb_graph *graph, const ebb_path *path,
                                   const ebb_applied_list *recorded)
{
    if (path->direction == EBB_DIR_UP && path->count > 0)
        return graph->revs[path->steps[path->count - 1]].id;
    for (size_t i = recorded->count; i-- > 0;) {
        const char *id = recorded->rows[i].revision;
        bool reverted = false;
        if (path->direction == EBB_DIR_DOWN)
            for (size_t k = 0; k < path->count && !reverted; k++)
                reverted = strcmp(graph->revs[path->steps[k]].id, id) == 0;
        if (!reverted)
            return id;
    }
    return NULL;
}
