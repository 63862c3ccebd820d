/* ebb-agent db: the SQL of steps that are not SQL scripts (Alembic), for previews and risk. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cli_db.h"
#include "agent/source_alembic.h"

/* The offline SQL of step idx from the applied set sim, or why there is none (malloc'd). */
static void step_sql(ebb_cli_db *c, const bool *sim, size_t idx, bool up,
                     ebb_risk_external_sql *out)
{
    ebb_error err;
    ebb_error_clear(&err);
    char *sql = NULL;
    size_t *heads = NULL, n = 0;
    const char **ids = NULL;
    if (ebb_alembic_heads_of(&c->graph, sim, &heads, &n, &err) == EBB_OK) {
        ids = calloc(n ? n : 1, sizeof(*ids));
        if (ids == NULL) {
            ebb_error_set(&err, EBB_E_NOMEM, "out of memory");
        } else {
            for (size_t i = 0; i < n; i++)
                ids[i] = c->graph.revs[heads[i]].id;
            if (ebb_alembic_step_sql(&c->alembic, up, c->graph.revs[idx].id, ids, n, &sql,
                                     &err) != EBB_OK)
                sql = NULL;
        }
    }
    free(ids);
    free(heads);
    out->sql = sql;
    /* Alembic's offline SQL updates its version table around every step. */
    out->bookkeeping_table = "alembic_version";
    out->missing = sql == NULL ? strdup(err.msg[0] ? err.msg : "no offline SQL") : NULL;
}

ebb_risk_external_sql *ebb_cli_db_external_sql(ebb_cli_db *c, const ebb_path *path)
{
    if (c->graph.kind != EBB_SOURCE_ALEMBIC || path->count == 0)
        return NULL;
    ebb_risk_external_sql *ext = calloc(path->count, sizeof(*ext));
    bool *sim = calloc(c->graph.count ? c->graph.count : 1, sizeof(*sim));
    if (ext == NULL || sim == NULL) {
        free(ext);
        free(sim);
        return NULL; /* every step then reads as "SQL not available": refused, never guessed */
    }
    /* Each step's SQL is Alembic's offline output from the heads before that step. */
    ebb_applied_list cur = {0};
    ebb_error err;
    if (ebb_registry_load(c->pg, &cur, &err) == EBB_OK)
        for (size_t i = 0; i < cur.count; i++) {
            long k = ebb_graph_find(&c->graph, cur.rows[i].revision);
            if (k >= 0)
                sim[k] = true;
        }
    ebb_applied_list_fini(&cur);
    bool up = path->direction == EBB_DIR_UP;
    for (size_t i = 0; i < path->count; i++) {
        step_sql(c, sim, path->steps[i], up, &ext[i]);
        sim[path->steps[i]] = up;
    }
    free(sim);
    return ext;
}

void ebb_cli_db_external_free(ebb_risk_external_sql *ext, size_t n)
{
    if (ext == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free((char *)ext[i].sql);
        free((char *)ext[i].missing);
    }
    free(ext);
}
