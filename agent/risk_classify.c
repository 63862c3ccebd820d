/*
 * Risk classifier: walks each statement's PostgreSQL 15 parse tree and says
 * what it may destroy (docs/risk.md has the table).
 *
 * Why the protobuf tree and not the JSON one: the generated C structs are
 * typed (node_case enums, named fields), so a renamed or retyped field in a
 * later libpg_query fails the build instead of silently matching nothing as
 * a misspelt JSON key would, and protobuf-c's descriptors give a generic
 * walk for free (find_call below). The one hazard, libpg_query's bundled
 * protobuf-c runtime, is removed at link time (agent/CMakeLists.txt,
 * tests/unit/test_pgquery_coexist.c).
 */
#include <pg_query.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/risk_internal.h"
#include "agent/sql_split.h"

const char *ebb_risk_node_str(const PgQuery__Node *node)
{
    if (node == NULL || node->node_case != PG_QUERY__NODE__NODE_STRING)
        return NULL;
    return node->string->sval;
}

/* "schema.name" or "name" for messages. */
static const char *disp(char *buf, size_t size, const char *schema, const char *name)
{
    if (schema != NULL && schema[0] != '\0')
        snprintf(buf, size, "%s.%s", schema, name);
    else
        snprintf(buf, size, "%s", name != NULL ? name : "?");
    return buf;
}

/* schema and name from a list of String nodes: [catalog.][schema.]name. */
static void split_names(PgQuery__Node **names, size_t n, const char **schema, const char **name)
{
    *schema = "";
    *name = "";
    if (n >= 1 && ebb_risk_node_str(names[n - 1]) != NULL)
        *name = ebb_risk_node_str(names[n - 1]);
    if (n >= 2 && ebb_risk_node_str(names[n - 2]) != NULL)
        *schema = ebb_risk_node_str(names[n - 2]);
}

/* Name of a DROP object: String, List of String, TypeName or ObjectWithArgs. */
static void object_name(const PgQuery__Node *obj, const char **schema, const char **name)
{
    *schema = "";
    *name = "?";
    switch (obj->node_case) {
    case PG_QUERY__NODE__NODE_STRING: *name = obj->string->sval; break;
    case PG_QUERY__NODE__NODE_LIST:
        split_names(obj->list->items, obj->list->n_items, schema, name);
        break;
    case PG_QUERY__NODE__NODE_TYPE_NAME:
        split_names(obj->type_name->names, obj->type_name->n_names, schema, name);
        break;
    case PG_QUERY__NODE__NODE_OBJECT_WITH_ARGS:
        split_names(obj->object_with_args->objname, obj->object_with_args->n_objname, schema, name);
        break;
    default: break;
    }
}

/* --- DELETE / UPDATE ------------------------------------------------------ */

/* Leading "WITH ..." text: from the WITH keyword to the main DELETE/UPDATE keyword. */
static char *with_text(ebb_risk_ctx *ctx, const PgQuery__WithClause *with, size_t rel_tok,
                       int main_kw)
{
    const ebb_risk_toks *t = ebb_risk_ctx_toks(ctx);
    if (t == NULL || with == NULL)
        return NULL;
    size_t w = ebb_risk_tok_at(t, with->location), main = t->n;
    /* The main keyword is the last depth-0 one before the target (a CTE may be named "delete"). */
    for (size_t i = w; i < rel_tok && i < t->n;) {
        size_t k = ebb_risk_tok_find(t, i, main_kw);
        if (k >= rel_tok)
            break;
        main = k;
        i = k + 1;
    }
    return main < t->n && main > w ? ebb_risk_tok_text(ctx, w, main - 1) : NULL;
}

/* Text from the token after kw_at up to (not including) the next WHERE / RETURNING. */
static char *clause_text(ebb_risk_ctx *ctx, size_t kw_at)
{
    const ebb_risk_toks *t = ebb_risk_ctx_toks(ctx);
    if (t == NULL || kw_at >= t->n)
        return NULL;
    static const int stops[] = {PG_QUERY__TOKEN__WHERE, PG_QUERY__TOKEN__RETURNING};
    size_t end = ebb_risk_tok_find_any(t, kw_at + 1, stops, 2);
    return end > kw_at + 1 ? ebb_risk_tok_text(ctx, kw_at + 1, end - 1) : NULL;
}

static char *where_text(ebb_risk_ctx *ctx, size_t rel_tok)
{
    const ebb_risk_toks *t = ebb_risk_ctx_toks(ctx);
    if (t == NULL)
        return NULL;
    size_t w = ebb_risk_tok_find(t, rel_tok, PG_QUERY__TOKEN__WHERE);
    if (w >= t->n)
        return NULL;
    size_t end = ebb_risk_tok_find(t, w + 1, PG_QUERY__TOKEN__RETURNING);
    return end > w + 1 ? ebb_risk_tok_text(ctx, w + 1, end - 1) : NULL;
}

/* First depth-0 FROM after from that is not part of IS [NOT] DISTINCT FROM. */
static size_t update_from_tok(const ebb_risk_toks *t, size_t from)
{
    for (;;) {
        size_t f = ebb_risk_tok_find(t, from, PG_QUERY__TOKEN__FROM);
        if (f >= t->n || f == 0 || t->tok[f - 1]->token != PG_QUERY__TOKEN__DISTINCT)
            return f;
        from = f + 1;
    }
}

static void classify_dml(ebb_risk_ctx *ctx, const char *kind, const PgQuery__RangeVar *rel,
                         const PgQuery__Node *where, size_t n_from, const PgQuery__WithClause *with,
                         PgQuery__Node **targets, size_t n_targets)
{
    bool is_delete = strcmp(kind, "DELETE") == 0;
    char name[300];
    disp(name, sizeof name, rel->schemaname, rel->relname);
    const char *verb = is_delete ? "deletes" : "rewrites";

    if (where != NULL && where->node_case == PG_QUERY__NODE__NODE_CURRENT_OF_EXPR) {
        (void)ebb_risk_add_item(ctx, kind, EBB_RISK_HIGH,
                                "%s the row of %s under cursor %s; no probe can tell which",
                                verb, name, where->current_of_expr->cursor_name);
        return;
    }
    const ebb_risk_toks *t = ebb_risk_ctx_toks(ctx);
    if (t == NULL)
        return;
    size_t rel_tok = ebb_risk_tok_at(t, rel->location);
    char *where_s = where != NULL ? where_text(ctx, rel_tok) : NULL;
    char *from_s = NULL, *with_s = NULL;
    if (n_from > 0) {
        size_t kw = is_delete ? ebb_risk_tok_find(t, rel_tok, PG_QUERY__TOKEN__USING)
                              : update_from_tok(t, ebb_risk_tok_find(t, rel_tok, PG_QUERY__TOKEN__SET));
        from_s = clause_text(ctx, kw);
    }
    if (with != NULL)
        with_s = with_text(ctx, with, rel_tok,
                           is_delete ? PG_QUERY__TOKEN__DELETE_P : PG_QUERY__TOKEN__UPDATE);
    /* A missing text would widen the probe to other rows (or all): never guess. */
    bool texts_ok = (where == NULL || where_s != NULL) && (n_from == 0 || from_s != NULL) &&
                    (with == NULL || with_s != NULL);

    ebb_risk_item *it;
    if (where == NULL)
        it = ebb_risk_add_item(ctx, kind, EBB_RISK_HIGH, "%s EVERY row of %s (no WHERE clause)",
                               verb, name);
    else if (texts_ok)
        it = ebb_risk_add_item(ctx, kind, EBB_RISK_HIGH, "%s the rows of %s matching its WHERE clause",
                               verb, name);
    else
        it = ebb_risk_add_item(ctx, kind, EBB_RISK_HIGH,
                               "%s rows of %s; its clauses could not be cut out for a probe",
                               verb, name);
    if (it != NULL && texts_ok && !ctx->oom) {
        ebb_risk_probe *p = ebb_risk_add_probe(ctx, it, EBB_PROBE_ROWS_MATCHING, "table",
                                               rel->schemaname, rel->relname);
        if (p != NULL) {
            p->only = !rel->inh;
            p->alias = rel->alias != NULL ? ebb_risk_strdup(ctx, rel->alias->aliasname) : NULL;
            p->expr = where_s;
            p->from_text = from_s;
            p->with_text = with_s;
            where_s = from_s = with_s = NULL;
            for (size_t i = 0; i < n_targets; i++)
                if (targets[i]->node_case == PG_QUERY__NODE__NODE_RES_TARGET)
                    ebb_risk_add_key(ctx, p, targets[i]->res_target->name, NULL);
        }
    }
    free(where_s);
    free(from_s);
    free(with_s);
}

/* --- TRUNCATE / DROP ------------------------------------------------------ */

static void classify_truncate(ebb_risk_ctx *ctx, const PgQuery__TruncateStmt *s)
{
    bool cascade = s->behavior == PG_QUERY__DROP_BEHAVIOR__DROP_CASCADE;
    char names[600] = "", one[300];
    for (size_t i = 0; i < s->n_relations; i++) {
        const PgQuery__RangeVar *rv = s->relations[i]->range_var;
        size_t used = strlen(names);
        snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "",
                 disp(one, sizeof one, rv->schemaname, rv->relname));
    }
    ebb_risk_item *it = ebb_risk_add_item(
        ctx, "TRUNCATE", EBB_RISK_HIGH, "removes every row of %s%s", names,
        cascade ? " and, by CASCADE, of every table referencing them" : "");
    for (size_t i = 0; i < s->n_relations && it != NULL; i++) {
        const PgQuery__RangeVar *rv = s->relations[i]->range_var;
        ebb_risk_probe *p = ebb_risk_add_probe(ctx, it, EBB_PROBE_ROWS_IN_TABLE, "table",
                                               rv->schemaname, rv->relname);
        if (p != NULL)
            p->only = !rv->inh;
        if (cascade)
            (void)ebb_risk_add_probe(ctx, it, EBB_PROBE_DEPENDENTS, "table", rv->schemaname,
                                     rv->relname);
    }
}

typedef struct drop_rule {
    PgQuery__ObjectType type;
    const char *kind;
    const char *object_kind;
    ebb_risk_level restrict_level; /* without CASCADE */
    ebb_risk_level cascade_level;
} drop_rule;

/*
 * Objects that hold data or can own data-carrying dependents (schemas,
 * types, domains and extensions: a CASCADE drops the columns of those
 * types) are high with CASCADE and medium without (the drop fails while
 * anything uses them). Others lose no data; their CASCADE is medium (it
 * can take generated columns, defaults, views along).
 */
static const drop_rule drop_rules[] = {
    {PG_QUERY__OBJECT_TYPE__OBJECT_TABLE, "DROP TABLE", "table", EBB_RISK_HIGH, EBB_RISK_HIGH},
    {PG_QUERY__OBJECT_TYPE__OBJECT_SCHEMA, "DROP SCHEMA", "schema", EBB_RISK_MEDIUM, EBB_RISK_HIGH},
    {PG_QUERY__OBJECT_TYPE__OBJECT_TYPE, "DROP TYPE", "type", EBB_RISK_MEDIUM, EBB_RISK_HIGH},
    {PG_QUERY__OBJECT_TYPE__OBJECT_DOMAIN, "DROP DOMAIN", "domain", EBB_RISK_MEDIUM, EBB_RISK_HIGH},
    {PG_QUERY__OBJECT_TYPE__OBJECT_EXTENSION, "DROP EXTENSION", "extension", EBB_RISK_MEDIUM,
     EBB_RISK_HIGH},
    {PG_QUERY__OBJECT_TYPE__OBJECT_VIEW, "DROP VIEW", "view", EBB_RISK_LOW, EBB_RISK_MEDIUM},
    {PG_QUERY__OBJECT_TYPE__OBJECT_MATVIEW, "DROP MATERIALIZED VIEW", "materialized view",
     EBB_RISK_LOW, EBB_RISK_MEDIUM},
    {PG_QUERY__OBJECT_TYPE__OBJECT_INDEX, "DROP INDEX", "index", EBB_RISK_LOW, EBB_RISK_MEDIUM},
    {PG_QUERY__OBJECT_TYPE__OBJECT_SEQUENCE, "DROP SEQUENCE", "sequence", EBB_RISK_LOW,
     EBB_RISK_MEDIUM},
    {PG_QUERY__OBJECT_TYPE__OBJECT_FUNCTION, "DROP FUNCTION", "function", EBB_RISK_LOW,
     EBB_RISK_MEDIUM},
    {PG_QUERY__OBJECT_TYPE__OBJECT_PROCEDURE, "DROP PROCEDURE", "procedure", EBB_RISK_LOW,
     EBB_RISK_MEDIUM},
    {PG_QUERY__OBJECT_TYPE__OBJECT_ROUTINE, "DROP ROUTINE", "routine", EBB_RISK_LOW,
     EBB_RISK_MEDIUM},
    {PG_QUERY__OBJECT_TYPE__OBJECT_AGGREGATE, "DROP AGGREGATE", "aggregate", EBB_RISK_LOW,
     EBB_RISK_MEDIUM},
    {PG_QUERY__OBJECT_TYPE__OBJECT_FOREIGN_TABLE, "DROP FOREIGN TABLE", "foreign table",
     EBB_RISK_LOW, EBB_RISK_MEDIUM},
    /* Nothing depends on these: CASCADE changes nothing. */
    {PG_QUERY__OBJECT_TYPE__OBJECT_TRIGGER, "DROP TRIGGER", NULL, EBB_RISK_LOW, EBB_RISK_LOW},
    {PG_QUERY__OBJECT_TYPE__OBJECT_POLICY, "DROP POLICY", NULL, EBB_RISK_LOW, EBB_RISK_LOW},
    {PG_QUERY__OBJECT_TYPE__OBJECT_RULE, "DROP RULE", NULL, EBB_RISK_LOW, EBB_RISK_LOW},
};

static void classify_drop(ebb_risk_ctx *ctx, const PgQuery__DropStmt *s)
{
    static const drop_rule other = {0, "DROP", "object", EBB_RISK_LOW, EBB_RISK_MEDIUM};
    const drop_rule *rule = &other;
    for (size_t i = 0; i < sizeof drop_rules / sizeof drop_rules[0]; i++)
        if (drop_rules[i].type == s->remove_type)
            rule = &drop_rules[i];
    bool cascade = s->behavior == PG_QUERY__DROP_BEHAVIOR__DROP_CASCADE;
    ebb_risk_level level = cascade ? rule->cascade_level : rule->restrict_level;
    bool is_table = s->remove_type == PG_QUERY__OBJECT_TYPE__OBJECT_TABLE;
    bool is_schema = s->remove_type == PG_QUERY__OBJECT_TYPE__OBJECT_SCHEMA;

    char names[600] = "", one[300];
    for (size_t i = 0; i < s->n_objects; i++) {
        const char *schema, *name;
        object_name(s->objects[i], &schema, &name);
        size_t used = strlen(names);
        snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "",
                 disp(one, sizeof one, schema, name));
    }
    const char *kind = rule->kind;
    if (cascade && level == EBB_RISK_HIGH && !is_table)
        kind = is_schema ? "DROP SCHEMA CASCADE"
               : s->remove_type == PG_QUERY__OBJECT_TYPE__OBJECT_TYPE ? "DROP TYPE CASCADE"
               : s->remove_type == PG_QUERY__OBJECT_TYPE__OBJECT_DOMAIN ? "DROP DOMAIN CASCADE"
                                                                        : "DROP EXTENSION CASCADE";

    ebb_risk_item *it;
    if (is_table)
        it = ebb_risk_add_item(ctx, kind, level, "drops table %s with all its rows%s", names,
                               cascade ? ", and by CASCADE the views and foreign keys on it" : "");
    else if (level == EBB_RISK_HIGH)
        it = ebb_risk_add_item(ctx, kind, level,
                               "drops %s %s and by CASCADE everything in or of it, "
                               "including table columns and their data",
                               rule->object_kind, names);
    else if (rule->restrict_level == EBB_RISK_MEDIUM)
        it = ebb_risk_add_item(ctx, kind, level, "drops %s %s; fails if anything still uses it",
                               rule->object_kind, names);
    else if (cascade && level != EBB_RISK_LOW)
        it = ebb_risk_add_item(ctx, kind, level,
                               "drops %s %s and by CASCADE whatever depends on it "
                               "(views, defaults, generated columns)",
                               rule->object_kind, names);
    else
        it = ebb_risk_add_item(ctx, kind, level, "drops %s; holds no table data", names);
    if (it == NULL || level == EBB_RISK_LOW)
        return;
    for (size_t i = 0; i < s->n_objects; i++) {
        const char *schema, *name;
        object_name(s->objects[i], &schema, &name);
        if (is_table)
            (void)ebb_risk_add_probe(ctx, it, EBB_PROBE_ROWS_IN_TABLE, "table", schema, name);
        if (is_schema && cascade)
            (void)ebb_risk_add_probe(ctx, it, EBB_PROBE_ROWS_IN_SCHEMA, "schema", "", name);
        if (!is_table || cascade)
            (void)ebb_risk_add_probe(ctx, it, EBB_PROBE_DEPENDENTS, rule->object_kind, schema,
                                     name);
    }
}

/* --- SELECT and hidden effects ------------------------------------------- */

/* Built-ins a migration SELECTs for their value or a session setting, not to change data. */
static const char *const known_calls[] = {
    "set_config", "current_setting", "count", "sum", "min", "max", "avg", "now", "version",
    "lower", "upper", "length", "format", "to_char", "current_database", "current_schema",
    "pg_advisory_lock", "pg_advisory_unlock", "pg_advisory_xact_lock", "pg_try_advisory_lock",
    "nextval", "currval", "setval",
};

static bool known_call(const PgQuery__FuncCall *fc)
{
    const char *schema, *name;
    split_names(fc->funcname, fc->n_funcname, &schema, &name);
    if (schema[0] != '\0' && strcmp(schema, "pg_catalog") != 0)
        return false;
    for (size_t i = 0; i < sizeof known_calls / sizeof known_calls[0]; i++)
        if (strcmp(name, known_calls[i]) == 0)
            return true;
    return false;
}

/*
 * First call of a function not in known_calls anywhere under m. Walks every
 * message-typed field through the protobuf-c descriptors, so no node type
 * can be forgotten; of a oneof only the set member is followed.
 */
static const PgQuery__FuncCall *find_call(const ProtobufCMessage *m)
{
    if (m == NULL)
        return NULL;
    if (m->descriptor == &pg_query__func_call__descriptor &&
        !known_call((const PgQuery__FuncCall *)m))
        return (const PgQuery__FuncCall *)m;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        const char *base = (const char *)m;
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(const void *)(base + f->quantifier_offset) != f->id)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(const void *)(base + f->quantifier_offset);
            ProtobufCMessage *const *arr = *(ProtobufCMessage *const *const *)(const void *)(base + f->offset);
            for (size_t k = 0; k < n; k++) {
                const PgQuery__FuncCall *fc = find_call(arr[k]);
                if (fc != NULL)
                    return fc;
            }
        } else {
            const PgQuery__FuncCall *fc =
                find_call(*(const ProtobufCMessage *const *)(const void *)(base + f->offset));
            if (fc != NULL)
                return fc;
        }
    }
    return NULL;
}

static void classify_select(ebb_risk_ctx *ctx, const PgQuery__SelectStmt *s)
{
    const PgQuery__FuncCall *fc = find_call(&s->base);
    if (fc != NULL) {
        const char *schema, *name;
        char buf[300];
        split_names(fc->funcname, fc->n_funcname, &schema, &name);
        (void)ebb_risk_add_item(ctx, "FUNCTION CALL", EBB_RISK_UNKNOWN,
                                "calls %s(); what a function does is hidden from the parser",
                                disp(buf, sizeof buf, schema, name));
    } else if (s->into_clause != NULL) {
        char buf[300];
        (void)ebb_risk_add_item(ctx, "SELECT INTO", EBB_RISK_LOW, "creates table %s from a query",
                                disp(buf, sizeof buf, s->into_clause->rel->schemaname,
                                     s->into_clause->rel->relname));
    } else {
        (void)ebb_risk_add_item(ctx, "SELECT", EBB_RISK_LOW, "reads only");
    }
}

/* --- dispatch ------------------------------------------------------------- */

typedef struct plain_rule {
    PgQuery__Node__NodeCase node;
    const char *kind;
    ebb_risk_level level;
    const char *reason;
} plain_rule;

/* Statements whose classification does not depend on their contents. */
static const plain_rule plain_rules[] = {
    {PG_QUERY__NODE__NODE_TRANSACTION_STMT, "TRANSACTION CONTROL", EBB_RISK_LOW, "transaction control"},
    {PG_QUERY__NODE__NODE_CREATE_STMT, "CREATE TABLE", EBB_RISK_LOW, "creates a new table"},
    {PG_QUERY__NODE__NODE_CREATE_TABLE_AS_STMT, "CREATE TABLE AS", EBB_RISK_LOW, "creates a new relation from a query"},
    {PG_QUERY__NODE__NODE_VIEW_STMT, "CREATE VIEW", EBB_RISK_LOW, "creates or replaces a view; holds no data"},
    {PG_QUERY__NODE__NODE_COMMENT_STMT, "COMMENT", EBB_RISK_LOW, "sets a comment"},
    {PG_QUERY__NODE__NODE_CREATE_SCHEMA_STMT, "CREATE SCHEMA", EBB_RISK_LOW, "creates a schema"},
    {PG_QUERY__NODE__NODE_CREATE_SEQ_STMT, "CREATE SEQUENCE", EBB_RISK_LOW, "creates a sequence"},
    {PG_QUERY__NODE__NODE_ALTER_SEQ_STMT, "ALTER SEQUENCE", EBB_RISK_LOW, "changes a sequence"},
    {PG_QUERY__NODE__NODE_CREATE_ENUM_STMT, "CREATE TYPE", EBB_RISK_LOW, "creates an enum type"},
    {PG_QUERY__NODE__NODE_COMPOSITE_TYPE_STMT, "CREATE TYPE", EBB_RISK_LOW, "creates a composite type"},
    {PG_QUERY__NODE__NODE_CREATE_RANGE_STMT, "CREATE TYPE", EBB_RISK_LOW, "creates a range type"},
    {PG_QUERY__NODE__NODE_CREATE_DOMAIN_STMT, "CREATE DOMAIN", EBB_RISK_LOW, "creates a domain"},
    {PG_QUERY__NODE__NODE_DEFINE_STMT, "CREATE TYPE/OPERATOR/AGGREGATE", EBB_RISK_LOW, "defines a new object"},
    {PG_QUERY__NODE__NODE_CREATE_FUNCTION_STMT, "CREATE FUNCTION", EBB_RISK_LOW, "creates or replaces a routine; runs nothing"},
    {PG_QUERY__NODE__NODE_ALTER_FUNCTION_STMT, "ALTER FUNCTION", EBB_RISK_LOW, "changes routine attributes"},
    {PG_QUERY__NODE__NODE_CREATE_TRIG_STMT, "CREATE TRIGGER", EBB_RISK_LOW, "creates a trigger; touches no existing row"},
    {PG_QUERY__NODE__NODE_CREATE_EVENT_TRIG_STMT, "CREATE EVENT TRIGGER", EBB_RISK_LOW, "creates an event trigger"},
    {PG_QUERY__NODE__NODE_ALTER_EVENT_TRIG_STMT, "ALTER EVENT TRIGGER", EBB_RISK_LOW, "changes an event trigger"},
    {PG_QUERY__NODE__NODE_RULE_STMT, "CREATE RULE", EBB_RISK_LOW, "creates a rule; touches no existing row"},
    {PG_QUERY__NODE__NODE_CREATE_POLICY_STMT, "CREATE POLICY", EBB_RISK_LOW, "creates a row security policy"},
    {PG_QUERY__NODE__NODE_ALTER_POLICY_STMT, "ALTER POLICY", EBB_RISK_LOW, "changes a row security policy"},
    {PG_QUERY__NODE__NODE_CREATE_EXTENSION_STMT, "CREATE EXTENSION", EBB_RISK_LOW, "installs an extension"},
    {PG_QUERY__NODE__NODE_ALTER_EXTENSION_STMT, "ALTER EXTENSION", EBB_RISK_LOW, "updates an extension with its packaged scripts"},
    {PG_QUERY__NODE__NODE_ALTER_EXTENSION_CONTENTS_STMT, "ALTER EXTENSION", EBB_RISK_LOW, "changes extension membership"},
    {PG_QUERY__NODE__NODE_GRANT_STMT, "GRANT/REVOKE", EBB_RISK_LOW, "changes privileges"},
    {PG_QUERY__NODE__NODE_GRANT_ROLE_STMT, "GRANT/REVOKE ROLE", EBB_RISK_LOW, "changes role membership"},
    {PG_QUERY__NODE__NODE_ALTER_DEFAULT_PRIVILEGES_STMT, "ALTER DEFAULT PRIVILEGES", EBB_RISK_LOW, "changes default privileges"},
    {PG_QUERY__NODE__NODE_CREATE_ROLE_STMT, "CREATE ROLE", EBB_RISK_LOW, "creates a role"},
    {PG_QUERY__NODE__NODE_ALTER_ROLE_STMT, "ALTER ROLE", EBB_RISK_LOW, "changes a role"},
    {PG_QUERY__NODE__NODE_ALTER_ROLE_SET_STMT, "ALTER ROLE", EBB_RISK_LOW, "changes a role setting"},
    {PG_QUERY__NODE__NODE_DROP_ROLE_STMT, "DROP ROLE", EBB_RISK_LOW, "drops a role; fails while it owns objects"},
    {PG_QUERY__NODE__NODE_REASSIGN_OWNED_STMT, "REASSIGN OWNED", EBB_RISK_LOW, "changes owners"},
    {PG_QUERY__NODE__NODE_RENAME_STMT, "RENAME", EBB_RISK_LOW, "renames an object; no data changes (code using the old name breaks)"},
    {PG_QUERY__NODE__NODE_ALTER_OBJECT_SCHEMA_STMT, "SET SCHEMA", EBB_RISK_LOW, "moves an object to another schema; no data changes"},
    {PG_QUERY__NODE__NODE_ALTER_OWNER_STMT, "OWNER TO", EBB_RISK_LOW, "changes an owner"},
    {PG_QUERY__NODE__NODE_ALTER_OBJECT_DEPENDS_STMT, "DEPENDS ON EXTENSION", EBB_RISK_LOW, "records a dependency"},
    {PG_QUERY__NODE__NODE_ALTER_TYPE_STMT, "ALTER TYPE", EBB_RISK_LOW, "changes type properties"},
    {PG_QUERY__NODE__NODE_ALTER_OPERATOR_STMT, "ALTER OPERATOR", EBB_RISK_LOW, "changes operator properties"},
    {PG_QUERY__NODE__NODE_ALTER_COLLATION_STMT, "ALTER COLLATION", EBB_RISK_LOW, "refreshes a collation version"},
    {PG_QUERY__NODE__NODE_CREATE_STATS_STMT, "CREATE STATISTICS", EBB_RISK_LOW, "creates extended statistics"},
    {PG_QUERY__NODE__NODE_ALTER_STATS_STMT, "ALTER STATISTICS", EBB_RISK_LOW, "changes extended statistics"},
    {PG_QUERY__NODE__NODE_SEC_LABEL_STMT, "SECURITY LABEL", EBB_RISK_LOW, "sets a security label"},
    {PG_QUERY__NODE__NODE_CREATE_CAST_STMT, "CREATE CAST", EBB_RISK_LOW, "creates a cast"},
    {PG_QUERY__NODE__NODE_CREATE_CONVERSION_STMT, "CREATE CONVERSION", EBB_RISK_LOW, "creates a conversion"},
    {PG_QUERY__NODE__NODE_CREATE_OP_CLASS_STMT, "CREATE OPERATOR CLASS", EBB_RISK_LOW, "creates an operator class"},
    {PG_QUERY__NODE__NODE_CREATE_OP_FAMILY_STMT, "CREATE OPERATOR FAMILY", EBB_RISK_LOW, "creates an operator family"},
    {PG_QUERY__NODE__NODE_ALTER_OP_FAMILY_STMT, "ALTER OPERATOR FAMILY", EBB_RISK_LOW, "changes an operator family"},
    {PG_QUERY__NODE__NODE_ALTER_TSDICTIONARY_STMT, "ALTER TEXT SEARCH", EBB_RISK_LOW, "changes a text search dictionary"},
    {PG_QUERY__NODE__NODE_ALTER_TSCONFIGURATION_STMT, "ALTER TEXT SEARCH", EBB_RISK_LOW, "changes a text search configuration"},
    {PG_QUERY__NODE__NODE_CREATE_FDW_STMT, "CREATE FOREIGN DATA WRAPPER", EBB_RISK_LOW, "creates a foreign-data wrapper"},
    {PG_QUERY__NODE__NODE_ALTER_FDW_STMT, "ALTER FOREIGN DATA WRAPPER", EBB_RISK_LOW, "changes a foreign-data wrapper"},
    {PG_QUERY__NODE__NODE_CREATE_FOREIGN_SERVER_STMT, "CREATE SERVER", EBB_RISK_LOW, "creates a foreign server"},
    {PG_QUERY__NODE__NODE_ALTER_FOREIGN_SERVER_STMT, "ALTER SERVER", EBB_RISK_LOW, "changes a foreign server"},
    {PG_QUERY__NODE__NODE_CREATE_USER_MAPPING_STMT, "CREATE USER MAPPING", EBB_RISK_LOW, "creates a user mapping"},
    {PG_QUERY__NODE__NODE_ALTER_USER_MAPPING_STMT, "ALTER USER MAPPING", EBB_RISK_LOW, "changes a user mapping"},
    {PG_QUERY__NODE__NODE_DROP_USER_MAPPING_STMT, "DROP USER MAPPING", EBB_RISK_LOW, "drops a user mapping"},
    {PG_QUERY__NODE__NODE_CREATE_FOREIGN_TABLE_STMT, "CREATE FOREIGN TABLE", EBB_RISK_LOW, "creates a foreign table"},
    {PG_QUERY__NODE__NODE_IMPORT_FOREIGN_SCHEMA_STMT, "IMPORT FOREIGN SCHEMA", EBB_RISK_LOW, "creates foreign tables"},
    {PG_QUERY__NODE__NODE_CREATE_TABLE_SPACE_STMT, "CREATE TABLESPACE", EBB_RISK_LOW, "creates a tablespace"},
    {PG_QUERY__NODE__NODE_DROP_TABLE_SPACE_STMT, "DROP TABLESPACE", EBB_RISK_LOW, "drops a tablespace; fails unless empty"},
    {PG_QUERY__NODE__NODE_ALTER_TABLE_SPACE_OPTIONS_STMT, "ALTER TABLESPACE", EBB_RISK_LOW, "changes tablespace options"},
    {PG_QUERY__NODE__NODE_ALTER_TABLE_MOVE_ALL_STMT, "ALTER TABLE ALL IN TABLESPACE", EBB_RISK_LOW, "moves relations; no data changes"},
    {PG_QUERY__NODE__NODE_CREATE_PLANG_STMT, "CREATE LANGUAGE", EBB_RISK_LOW, "creates a procedural language"},
    {PG_QUERY__NODE__NODE_CREATE_TRANSFORM_STMT, "CREATE TRANSFORM", EBB_RISK_LOW, "creates a transform"},
    {PG_QUERY__NODE__NODE_CREATE_AM_STMT, "CREATE ACCESS METHOD", EBB_RISK_LOW, "creates an access method"},
    {PG_QUERY__NODE__NODE_CREATE_PUBLICATION_STMT, "CREATE PUBLICATION", EBB_RISK_LOW, "creates a publication"},
    {PG_QUERY__NODE__NODE_ALTER_PUBLICATION_STMT, "ALTER PUBLICATION", EBB_RISK_LOW, "changes a publication"},
    {PG_QUERY__NODE__NODE_CREATE_SUBSCRIPTION_STMT, "CREATE SUBSCRIPTION", EBB_RISK_LOW, "creates a subscription"},
    {PG_QUERY__NODE__NODE_ALTER_SUBSCRIPTION_STMT, "ALTER SUBSCRIPTION", EBB_RISK_LOW, "changes a subscription"},
    {PG_QUERY__NODE__NODE_DROP_SUBSCRIPTION_STMT, "DROP SUBSCRIPTION", EBB_RISK_LOW, "drops a subscription"},
    {PG_QUERY__NODE__NODE_CREATEDB_STMT, "CREATE DATABASE", EBB_RISK_LOW, "creates a database"},
    {PG_QUERY__NODE__NODE_ALTER_DATABASE_STMT, "ALTER DATABASE", EBB_RISK_LOW, "changes a database"},
    {PG_QUERY__NODE__NODE_ALTER_DATABASE_SET_STMT, "ALTER DATABASE", EBB_RISK_LOW, "changes a database setting"},
    {PG_QUERY__NODE__NODE_ALTER_DATABASE_REFRESH_COLL_STMT, "ALTER DATABASE", EBB_RISK_LOW, "refreshes a collation version"},
    {PG_QUERY__NODE__NODE_ALTER_SYSTEM_STMT, "ALTER SYSTEM", EBB_RISK_LOW, "changes server configuration"},
    {PG_QUERY__NODE__NODE_VARIABLE_SET_STMT, "SET", EBB_RISK_LOW, "changes a setting"},
    {PG_QUERY__NODE__NODE_VARIABLE_SHOW_STMT, "SHOW", EBB_RISK_LOW, "reads a setting"},
    {PG_QUERY__NODE__NODE_DISCARD_STMT, "DISCARD", EBB_RISK_LOW, "resets session state"},
    {PG_QUERY__NODE__NODE_LOCK_STMT, "LOCK", EBB_RISK_LOW, "takes a lock"},
    {PG_QUERY__NODE__NODE_CONSTRAINTS_SET_STMT, "SET CONSTRAINTS", EBB_RISK_LOW, "changes constraint timing"},
    {PG_QUERY__NODE__NODE_CHECK_POINT_STMT, "CHECKPOINT", EBB_RISK_LOW, "forces a checkpoint"},
    {PG_QUERY__NODE__NODE_NOTIFY_STMT, "NOTIFY", EBB_RISK_LOW, "sends a notification"},
    {PG_QUERY__NODE__NODE_LISTEN_STMT, "LISTEN", EBB_RISK_LOW, "listens for notifications"},
    {PG_QUERY__NODE__NODE_UNLISTEN_STMT, "UNLISTEN", EBB_RISK_LOW, "stops listening"},
    {PG_QUERY__NODE__NODE_CLUSTER_STMT, "CLUSTER", EBB_RISK_LOW, "reorders a table; no data changes"},
    {PG_QUERY__NODE__NODE_VACUUM_STMT, "VACUUM/ANALYZE", EBB_RISK_LOW, "maintenance; no data changes"},
    {PG_QUERY__NODE__NODE_REINDEX_STMT, "REINDEX", EBB_RISK_LOW, "rebuilds indexes"},
    {PG_QUERY__NODE__NODE_REFRESH_MAT_VIEW_STMT, "REFRESH MATERIALIZED VIEW", EBB_RISK_LOW, "recomputes derived data"},
    {PG_QUERY__NODE__NODE_DECLARE_CURSOR_STMT, "DECLARE CURSOR", EBB_RISK_LOW, "declares a cursor"},
    {PG_QUERY__NODE__NODE_FETCH_STMT, "FETCH", EBB_RISK_LOW, "reads from a cursor"},
    {PG_QUERY__NODE__NODE_CLOSE_PORTAL_STMT, "CLOSE", EBB_RISK_LOW, "closes a cursor"},
    {PG_QUERY__NODE__NODE_PREPARE_STMT, "PREPARE", EBB_RISK_LOW, "prepares a statement; runs nothing (EXECUTE is reported)"},
    {PG_QUERY__NODE__NODE_DEALLOCATE_STMT, "DEALLOCATE", EBB_RISK_LOW, "drops a prepared statement"},
    {PG_QUERY__NODE__NODE_DROPDB_STMT, "DROP DATABASE", EBB_RISK_HIGH, "drops a whole database; no probe is made for it"},
    {PG_QUERY__NODE__NODE_DROP_OWNED_STMT, "DROP OWNED", EBB_RISK_HIGH, "drops every object the role owns, tables included; no probe is made for it"},
    {PG_QUERY__NODE__NODE_DO_STMT, "DO", EBB_RISK_UNKNOWN, "DO block: procedural code whose effect is hidden from the parser"},
    {PG_QUERY__NODE__NODE_CALL_STMT, "CALL", EBB_RISK_UNKNOWN, "calls a procedure whose effect is hidden from the parser"},
    {PG_QUERY__NODE__NODE_EXECUTE_STMT, "EXECUTE", EBB_RISK_UNKNOWN, "runs a prepared statement the classifier cannot see"},
    {PG_QUERY__NODE__NODE_LOAD_STMT, "LOAD", EBB_RISK_UNKNOWN, "loads a shared library into the server"},
};

static void classify_node(ebb_risk_ctx *ctx, const PgQuery__Node *n);

static void classify_alter_domain(ebb_risk_ctx *ctx, const PgQuery__AlterDomainStmt *s)
{
    const char *schema, *name;
    char buf[300];
    split_names(s->type_name, s->n_type_name, &schema, &name);
    disp(buf, sizeof buf, schema, name);
    char sub = s->subtype[0];
    const PgQuery__Constraint *c =
        s->def != NULL && s->def->node_case == PG_QUERY__NODE__NODE_CONSTRAINT ? s->def->constraint : NULL;
    ebb_risk_item *it;
    ebb_risk_probe *p;
    if (sub == 'O' || (sub == 'C' && c != NULL && !c->skip_validation)) {
        bool nn = sub == 'O';
        it = ebb_risk_add_item(ctx, nn ? "ALTER DOMAIN SET NOT NULL" : "ALTER DOMAIN ADD CONSTRAINT",
                               EBB_RISK_MEDIUM, "fails if a column of domain %s holds a value that breaks %s",
                               buf, nn ? "NOT NULL" : "the new constraint");
        p = ebb_risk_add_probe(ctx, it, EBB_PROBE_DOMAIN_VALUES, "domain", schema, name);
        if (p != NULL) {
            p->not_null = nn || c->contype == PG_QUERY__CONSTR_TYPE__CONSTR_NOTNULL;
            if (!nn && c->contype == PG_QUERY__CONSTR_TYPE__CONSTR_CHECK) {
                const ebb_risk_toks *t = ebb_risk_ctx_toks(ctx);
                size_t k = t != NULL ? ebb_risk_tok_find(t, ebb_risk_tok_at(t, c->location), PG_QUERY__TOKEN__CHECK) : 0;
                if (t != NULL && k + 1 < t->n && t->tok[k + 1]->token == '(') {
                    size_t close = ebb_risk_tok_close(t, k + 1);
                    if (close < t->n && close > k + 2)
                        p->expr = ebb_risk_tok_text(ctx, k + 2, close - 1);
                }
            }
        }
    } else if (sub == 'V') {
        it = ebb_risk_add_item(ctx, "ALTER DOMAIN VALIDATE CONSTRAINT", EBB_RISK_MEDIUM,
                               "fails if a column of domain %s breaks constraint %s", buf, s->name);
        (void)ebb_risk_add_probe(ctx, it, EBB_PROBE_DOMAIN_VALUES, "domain", schema, name);
    } else {
        (void)ebb_risk_add_item(ctx, "ALTER DOMAIN", EBB_RISK_LOW,
                                "changes domain %s without checking existing values", buf);
    }
}

static void classify_known(ebb_risk_ctx *ctx, const PgQuery__Node *n)
{
    switch (n->node_case) {
    case PG_QUERY__NODE__NODE_DELETE_STMT: {
        const PgQuery__DeleteStmt *d = n->delete_stmt;
        classify_dml(ctx, "DELETE", d->relation, d->where_clause, d->n_using_clause, d->with_clause,
                     NULL, 0);
        return;
    }
    case PG_QUERY__NODE__NODE_UPDATE_STMT: {
        const PgQuery__UpdateStmt *u = n->update_stmt;
        classify_dml(ctx, "UPDATE", u->relation, u->where_clause, u->n_from_clause, u->with_clause,
                     u->target_list, u->n_target_list);
        return;
    }
    case PG_QUERY__NODE__NODE_INSERT_STMT: {
        const PgQuery__InsertStmt *s = n->insert_stmt;
        if (s->on_conflict_clause != NULL &&
            s->on_conflict_clause->action == PG_QUERY__ON_CONFLICT_ACTION__ONCONFLICT_UPDATE)
            (void)ebb_risk_add_item(ctx, "INSERT ON CONFLICT UPDATE", EBB_RISK_HIGH,
                                    "rewrites existing rows of %s that conflict; which ones depends "
                                    "on the inserted rows, so no probe is made",
                                    s->relation->relname);
        else
            (void)ebb_risk_add_item(ctx, "INSERT", EBB_RISK_LOW, "adds rows to %s",
                                    s->relation->relname);
        return;
    }
    case PG_QUERY__NODE__NODE_MERGE_STMT:
        (void)ebb_risk_add_item(ctx, "MERGE", EBB_RISK_HIGH,
                                "may update or delete rows of %s; which ones depends on the "
                                "source rows, so no probe is made",
                                n->merge_stmt->relation->relname);
        return;
    case PG_QUERY__NODE__NODE_TRUNCATE_STMT: classify_truncate(ctx, n->truncate_stmt); return;
    case PG_QUERY__NODE__NODE_DROP_STMT: classify_drop(ctx, n->drop_stmt); return;
    case PG_QUERY__NODE__NODE_ALTER_TABLE_STMT:
        ebb_risk_classify_alter_table(ctx, n->alter_table_stmt);
        return;
    case PG_QUERY__NODE__NODE_INDEX_STMT: ebb_risk_classify_index(ctx, n->index_stmt); return;
    case PG_QUERY__NODE__NODE_ALTER_DOMAIN_STMT: classify_alter_domain(ctx, n->alter_domain_stmt); return;
    case PG_QUERY__NODE__NODE_SELECT_STMT: classify_select(ctx, n->select_stmt); return;
    case PG_QUERY__NODE__NODE_ALTER_ENUM_STMT:
        if (n->alter_enum_stmt->old_val[0] != '\0')
            (void)ebb_risk_add_item(ctx, "ALTER TYPE RENAME VALUE", EBB_RISK_LOW,
                                    "renames enum label %s; stored values follow it",
                                    n->alter_enum_stmt->old_val);
        else
            (void)ebb_risk_add_item(ctx, "ALTER TYPE ADD VALUE", EBB_RISK_LOW,
                                    "adds enum label %s", n->alter_enum_stmt->new_val);
        return;
    case PG_QUERY__NODE__NODE_COPY_STMT: {
        const PgQuery__CopyStmt *c = n->copy_stmt;
        if (c->is_program)
            (void)ebb_risk_add_item(ctx, "COPY PROGRAM", EBB_RISK_UNKNOWN,
                                    "runs a shell command on the database server");
        else
            (void)ebb_risk_add_item(ctx, c->is_from ? "COPY FROM" : "COPY TO", EBB_RISK_LOW,
                                    c->is_from ? "adds rows" : "reads rows");
        return;
    }
    case PG_QUERY__NODE__NODE_EXPLAIN_STMT: {
        const PgQuery__ExplainStmt *e = n->explain_stmt;
        for (size_t i = 0; i < e->n_options; i++) {
            const PgQuery__DefElem *de =
                e->options[i]->node_case == PG_QUERY__NODE__NODE_DEF_ELEM ? e->options[i]->def_elem : NULL;
            /* EXPLAIN ANALYZE runs the statement: classify what it runs. */
            if (de != NULL && strcmp(de->defname, "analyze") == 0 &&
                (de->arg == NULL || de->arg->node_case != PG_QUERY__NODE__NODE_BOOLEAN ||
                 de->arg->boolean->boolval)) {
                classify_node(ctx, e->query);
                return;
            }
        }
        (void)ebb_risk_add_item(ctx, "EXPLAIN", EBB_RISK_LOW, "plans a statement without running it");
        return;
    }
    default: break;
    }
    for (size_t i = 0; i < sizeof plain_rules / sizeof plain_rules[0]; i++)
        if (plain_rules[i].node == n->node_case) {
            (void)ebb_risk_add_item(ctx, plain_rules[i].kind, plain_rules[i].level, "%s",
                                    plain_rules[i].reason);
            return;
        }
    /* Not in the table: never guess low. */
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(&pg_query__node__descriptor, (unsigned)n->node_case);
    (void)ebb_risk_add_item(ctx, "NOT CLASSIFIED", EBB_RISK_UNKNOWN,
                            "statement type %s is not in ebb's classification table",
                            f != NULL ? f->name : "?");
}

static void classify_node(ebb_risk_ctx *ctx, const PgQuery__Node *n)
{
    if (n == NULL) {
        (void)ebb_risk_add_item(ctx, "NOT CLASSIFIED", EBB_RISK_UNKNOWN, "empty parse tree");
        return;
    }
    classify_known(ctx, n);
}

/* --- scripts -------------------------------------------------------------- */

static void classify_statement(ebb_risk_ctx *ctx)
{
    PgQueryProtobufParseResult res = pg_query_parse_protobuf(ctx->sql);
    if (res.error != NULL) {
        size_t pos = res.error->cursorpos > 0 ? (size_t)res.error->cursorpos - 1 : 0;
        int line = ctx->line + ebb_sql_line_of(ctx->sql, pos) - 1;
        /* The message may quote the rest of the script: keep it to one short line. */
        char *msg = ebb_risk_shorten(res.error->message, 300);
        if (msg == NULL)
            ctx->oom = true;
        else
            (void)ebb_risk_add_item(ctx, "SYNTAX ERROR", EBB_RISK_UNKNOWN,
                                    "the parser cannot read it: line %d: %s", line, msg);
        free(msg);
        pg_query_free_protobuf_parse_result(res);
        return;
    }
    PgQuery__ParseResult *tree = pg_query__parse_result__unpack(
        NULL, res.parse_tree.len, (const uint8_t *)res.parse_tree.data);
    pg_query_free_protobuf_parse_result(res);
    if (tree == NULL) {
        ctx->oom = true; /* the parser's own output: only memory can fail here */
        return;
    }
    for (size_t i = 0; i < tree->n_stmts && !ctx->oom; i++)
        classify_node(ctx, tree->stmts[i]->stmt);
    pg_query__parse_result__free_unpacked(tree, NULL);
}

ebb_code ebb_risk_classify_script(const char *sql, const char *file, ebb_risk_report *report,
                                  ebb_error *err)
{
    if (sql == NULL || report == NULL)
        return ebb_error_set(err, EBB_E_INVALID, "risk classify: NULL script or report");
    size_t keep = report->count;
    ebb_risk_ctx ctx = {.out = report, .file = file != NULL ? file : ""};
    ebb_sql_script script = {0};
    ebb_error split_err;
    /* The parser's split keeps BEGIN ATOMIC bodies whole; the scanner's survives syntax errors. */
    ebb_code rc = ebb_sql_split(sql, EBB_SQL_SPLIT_PARSER, &script, &split_err);
    if (rc == EBB_E_INVALID)
        rc = ebb_sql_split(sql, EBB_SQL_SPLIT_SCANNER, &script, &split_err);
    if (rc == EBB_E_NOMEM)
        return ebb_error_set(err, rc, "%s: out of memory splitting SQL", ctx.file);
    if (rc != EBB_OK) {
        /* Not even the scanner can read it (e.g. an unterminated quote): one item for all. */
        ctx.sql = sql;
        ctx.line = 1;
        classify_statement(&ctx);
    }
    for (size_t i = 0; rc == EBB_OK && i < script.count && !ctx.oom; i++) {
        ctx.sql = script.stmts[i].text;
        ctx.line = script.stmts[i].line;
        ctx.stmt_index = i;
        ctx.toks_ready = false;
        classify_statement(&ctx);
        if (ctx.toks_ready)
            ebb_risk_toks_fini(&ctx.toks);
        ctx.toks_ready = false;
    }
    ebb_sql_script_fini(&script);
    if (ctx.toks_ready)
        ebb_risk_toks_fini(&ctx.toks);
    if (ctx.oom) {
        ebb_risk_report_truncate(report, keep);
        return ebb_error_set(err, EBB_E_NOMEM, "%s: out of memory classifying SQL", ctx.file);
    }
    return EBB_OK;
}
