/* Data checks, pure part: tables named by scripts (on the PostgreSQL parser) and row-count comparison. */
#include "agent/datacheck.h"

#include <jansson.h>
#include <pg_query.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct names {
    char **v;
    size_t n;
    int nomem;
} names;

static void add_name(names *ns, const char *schema, const char *table)
{
    if (ns->nomem || !table || !*table)
        return;
    size_t len = (schema ? strlen(schema) + 1 : 0) + strlen(table) + 1;
    char *s = malloc(len);
    char **p = realloc(ns->v, (ns->n + 1) * sizeof *p);
    if (!s || !p) {
        free(s);
        if (p)
            ns->v = p;
        ns->nomem = 1;
        return;
    }
    ns->v = p;
    if (schema)
        snprintf(s, len, "%s.%s", schema, table);
    else
        snprintf(s, len, "%s", table);
    ns->v[ns->n++] = s;
}

static const char *jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A String node's text: {"String":{"sval":"x"}} (PG15) or {"String":{"str":"x"}}. */
static const char *string_node(json_t *n)
{
    json_t *s = json_object_get(n, "String");
    if (!json_is_object(s))
        return NULL;
    const char *v = jstr(s, "sval");
    return v ? v : jstr(s, "str");
}

/* DROP TABLE a.b, c: objects is a list of List nodes of String parts. */
static void drop_names(json_t *drop, names *ns)
{
    const char *type = jstr(drop, "removeType");
    if (!type || (strcmp(type, "OBJECT_TABLE") != 0 && strcmp(type, "OBJECT_FOREIGN_TABLE") != 0))
        return;
    size_t i;
    json_t *obj;
    json_array_foreach(json_object_get(drop, "objects"), i, obj)
    {
        json_t *items = json_object_get(json_object_get(obj, "List"), "items");
        size_t n = json_array_size(items);
        const char *table = n ? string_node(json_array_get(items, n - 1)) : NULL;
        const char *schema = n >= 2 ? string_node(json_array_get(items, n - 2)) : NULL;
        add_name(ns, schema, table);
    }
}

/* Every RangeVar (an object with "relname") anywhere in the tree, and DROP/RENAME targets. */
static void walk(json_t *node, names *ns)
{
    if (json_is_array(node)) {
        size_t i;
        json_t *v;
        json_array_foreach(node, i, v) walk(v, ns);
        return;
    }
    if (!json_is_object(node))
        return;
    const char *rel = jstr(node, "relname");
    if (rel)
        add_name(ns, jstr(node, "schemaname"), rel);
    json_t *drop = json_object_get(node, "DropStmt");
    if (json_is_object(drop))
        drop_names(drop, ns);
    json_t *ren = json_object_get(node, "RenameStmt");
    if (json_is_object(ren)) {
        const char *type = jstr(ren, "renameType");
        json_t *relation = json_object_get(ren, "relation");
        if (type && strcmp(type, "OBJECT_TABLE") == 0 && json_is_object(relation))
            add_name(ns, jstr(relation, "schemaname"), jstr(ren, "newname"));
    }
    const char *key;
    json_t *v;
    json_object_foreach(node, key, v) walk(v, ns);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(names *ns)
{
    for (size_t i = 0; i < ns->n; i++)
        free(ns->v[i]);
    free(ns->v);
}

ebb_code ebb_datacheck_touched_tables(const char *const *scripts, size_t n_scripts, char ***out,
                                      size_t *n_out, ebb_error *err)
{
    names ns = {0};
    for (size_t i = 0; i < n_scripts; i++) {
        if (!scripts[i])
            continue;
        PgQueryParseResult r = pg_query_parse(scripts[i]);
        if (r.error) {
            ebb_code rc = ebb_error_set(err, EBB_E_INVALID,
                                        "script %zu of the path does not parse: %s", i + 1,
                                        r.error->message);
            pg_query_free_parse_result(r);
            free_names(&ns);
            return rc;
        }
        json_error_t jerr;
        json_t *tree = json_loads(r.parse_tree, 0, &jerr);
        pg_query_free_parse_result(r);
        if (!tree) {
            free_names(&ns);
            return ebb_error_set(err, EBB_E_INTERNAL, "parse tree of script %zu is not JSON: %s",
                                 i + 1, jerr.text);
        }
        walk(tree, &ns);
        json_decref(tree);
    }
    if (ns.nomem) {
        free_names(&ns);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory listing touched tables");
    }
    if (ns.n > 1) /* ns.v is NULL when no table is named: qsort wants a pointer */
        qsort(ns.v, ns.n, sizeof *ns.v, cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < ns.n; i++) {
        if (k > 0 && strcmp(ns.v[i], ns.v[k - 1]) == 0)
            free(ns.v[i]);
        else
            ns.v[k++] = ns.v[i];
    }
    *out = ns.v;
    *n_out = k;
    return EBB_OK;
}

bool ebb_datacheck_name_matches(const char *schema, const char *table, char *const *names_,
                                size_t n_names)
{
    size_t sl = strlen(schema);
    for (size_t i = 0; i < n_names; i++) {
        const char *n = names_[i];
        const char *dot = strchr(n, '.');
        if (!dot) {
            if (strcmp(n, table) == 0)
                return true;
        } else if ((size_t)(dot - n) == sl && strncmp(n, schema, sl) == 0 &&
                   strcmp(dot + 1, table) == 0) {
            return true;
        }
    }
    return false;
}

static int cmp_table(const ebb_table_count *a, const ebb_table_count *b)
{
    int c = strcmp(a->schema, b->schema);
    return c ? c : strcmp(a->table, b->table);
}

void ebb_count_diff_fini(ebb_count_diff *diff)
{
    if (!diff)
        return;
    for (size_t i = 0; i < diff->count; i++) {
        free(diff->changes[i].schema);
        free(diff->changes[i].table);
    }
    free(diff->changes);
    memset(diff, 0, sizeof *diff);
}

static int push_change(ebb_count_diff *d, const ebb_table_count *t, long long before,
                       long long after, char *const *touched, size_t n_touched)
{
    ebb_count_change *p = realloc(d->changes, (d->count + 1) * sizeof *p);
    if (!p)
        return -1;
    d->changes = p;
    ebb_count_change c = {.schema = strdup(t->schema), .table = strdup(t->table),
                          .before = before, .after = after};
    if (!c.schema || !c.table) {
        free(c.schema);
        free(c.table);
        return -1;
    }
    c.touched = ebb_datacheck_name_matches(t->schema, t->table, touched, n_touched);
    if (!c.touched)
        d->n_untouched++;
    d->changes[d->count++] = c;
    return 0;
}

ebb_code ebb_datacheck_compare_counts(const ebb_row_counts *before, const ebb_row_counts *after,
                                      char *const *touched, size_t n_touched,
                                      ebb_count_diff *out, ebb_error *err)
{
    ebb_count_diff d = {0};
    size_t i = 0, j = 0;
    int bad = 0;
    while (!bad && (i < before->count || j < after->count)) {
        int c = i == before->count  ? 1
                : j == after->count ? -1
                                    : cmp_table(&before->tables[i], &after->tables[j]);
        if (c == 0) {
            if (before->tables[i].rows != after->tables[j].rows)
                bad = push_change(&d, &before->tables[i], before->tables[i].rows,
                                  after->tables[j].rows, touched, n_touched);
            i++;
            j++;
        } else if (c < 0) {
            bad = push_change(&d, &before->tables[i], before->tables[i].rows, -1, touched,
                              n_touched);
            i++;
        } else {
            bad = push_change(&d, &after->tables[j], -1, after->tables[j].rows, touched,
                              n_touched);
            j++;
        }
    }
    if (bad) {
        ebb_count_diff_fini(&d);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory comparing row counts");
    }
    *out = d;
    return EBB_OK;
}
