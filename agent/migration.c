/* Kind names and the lifetime of the migration model. */
#include "agent/migration.h"

#include <stdlib.h>
#include <string.h>

#include "agent/source_sqitch.h"

static const struct {
    ebb_source_kind kind;
    const char *name;
} kind_names[] = {
    {EBB_SOURCE_GOLANG, "golang-migrate"}, {EBB_SOURCE_FLYWAY, "flyway"},
    {EBB_SOURCE_DBMATE, "dbmate"},         {EBB_SOURCE_DIESEL, "diesel"},
    {EBB_SOURCE_SQITCH, "sqitch"},         {EBB_SOURCE_ALEMBIC, "alembic"},
};

const char *ebb_source_kind_name(ebb_source_kind kind)
{
    for (size_t i = 0; i < sizeof kind_names / sizeof kind_names[0]; i++)
        if (kind_names[i].kind == kind)
            return kind_names[i].name;
    return "unknown";
}

ebb_source_kind ebb_source_kind_parse(const char *name)
{
    if (name == NULL)
        return EBB_SOURCE_UNKNOWN;
    for (size_t i = 0; i < sizeof kind_names / sizeof kind_names[0]; i++)
        if (strcmp(kind_names[i].name, name) == 0)
            return kind_names[i].kind;
    /* The short name people type for golang-migrate. */
    if (strcmp(name, "golang") == 0)
        return EBB_SOURCE_GOLANG;
    return EBB_SOURCE_UNKNOWN; /* also "auto" */
}

static void script_fini(ebb_script *s)
{
    free(s->path);
    free(s->sql);
    memset(s, 0, sizeof *s);
}

void ebb_revision_fini(ebb_revision *rev)
{
    if (rev == NULL)
        return;
    free(rev->id);
    free(rev->name);
    script_fini(&rev->up);
    script_fini(&rev->down);
    script_fini(&rev->verify);
    free(rev->parents);
    memset(rev, 0, sizeof *rev);
}

void ebb_graph_fini(ebb_graph *graph)
{
    if (graph == NULL)
        return;
    ebb_graph_fini_sqitch_fields(graph);
    for (size_t i = 0; i < graph->count; i++)
        ebb_revision_fini(&graph->revs[i]);
    free(graph->revs);
    for (size_t i = 0; i < graph->n_checks; i++)
        free(graph->check_paths[i]);
    free(graph->check_paths);
    free(graph->root);
    memset(graph, 0, sizeof *graph);
}
