/* Classify every script on a migration path, in path order, for the probes. Pure. */
#include <stdlib.h>
#include <string.h>

#include "agent/migrate_plan.h"
#include "agent/risk_probe.h"

ebb_code ebb_risk_classify_path(const ebb_graph *graph, const ebb_path *path,
                                const ebb_risk_external_sql *external, ebb_risk_report *out,
                                ebb_error *err)
{
    ebb_risk_report rep = {0};
    for (size_t i = 0; i < path->count; i++) {
        const ebb_script *s = ebb_plan_step_script(graph, path, i);
        const ebb_revision *rev = &graph->revs[path->steps[i]];
        if (s == NULL || s->sql == NULL)
            continue; /* the runner refuses a step without its script; nothing to classify */
        size_t first = rep.count;
        ebb_code rc;
        if (s->external && external != NULL && external[i].sql != NULL) {
            rc = ebb_risk_classify_script(external[i].sql, s->path, &rep, err);
            if (rc == EBB_OK && external[i].bookkeeping_table != NULL)
                ebb_risk_report_drop_table_only(&rep, first, external[i].bookkeeping_table);
        }
        else if (s->external) /* a program's code, not SQL: never parsed as SQL */
            rc = ebb_risk_add_unanalysable(
                &rep, s->path, "EXTERNAL STEP",
                external != NULL && external[i].missing != NULL
                    ? external[i].missing
                    : "run by the project's own migration program; its SQL is not available",
                err);
        else
            rc = ebb_risk_classify_script(s->sql, s->path, &rep, err);
        if (rc != EBB_OK) {
            ebb_risk_report_fini(&rep);
            return rc;
        }
        for (size_t k = first; k < rep.count; k++) {
            ebb_risk_item *it = &rep.items[k];
            if (s->first_line > 1 && !s->external)
                it->line += s->first_line - 1;
            it->revision = strdup(rev->id);
            if (it->revision == NULL) {
                ebb_risk_report_fini(&rep);
                return ebb_error_set(err, EBB_E_NOMEM, "out of memory classifying the path");
            }
        }
    }
    ebb_code rc = ebb_risk_mark_changes(&rep, err);
    if (rc != EBB_OK) {
        ebb_risk_report_fini(&rep);
        return rc;
    }
    *out = rep;
    return EBB_OK;
}
