/* Risk classifier for ALTER TABLE subcommands, constraints and CREATE INDEX. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/risk_internal.h"

typedef struct alter_rule {
    PgQuery__AlterTableType subtype;
    const char *kind;
    const char *reason;
} alter_rule;

/* Subcommands that change no row and that existing rows cannot make fail. */
static const alter_rule low_rules[] = {
    {PG_QUERY__ALTER_TABLE_TYPE__AT_ColumnDefault, "ALTER COLUMN DEFAULT", "changes a default for future rows"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_DropNotNull, "DROP NOT NULL", "relaxes a constraint"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_DropExpression, "DROP EXPRESSION", "keeps the generated values as plain data"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_SetStatistics, "SET STATISTICS", "planner setting"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_SetOptions, "SET OPTIONS", "column options"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_ResetOptions, "RESET OPTIONS", "column options"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_SetStorage, "SET STORAGE", "storage setting"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_SetCompression, "SET COMPRESSION", "storage setting"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_DropConstraint, "DROP CONSTRAINT", "relaxes a constraint; no row changes"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_AlterConstraint, "ALTER CONSTRAINT", "changes constraint timing"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_AlterColumnGenericOptions, "ALTER COLUMN OPTIONS", "foreign column options"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_ChangeOwner, "OWNER TO", "changes the owner"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_ClusterOn, "CLUSTER ON", "marks a clustering index"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_DropCluster, "SET WITHOUT CLUSTER", "clears a clustering index"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_SetLogged, "SET LOGGED", "rewrites the table; no data changes"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_SetUnLogged, "SET UNLOGGED", "the table is no longer crash-safe"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_DropOids, "SET WITHOUT OIDS", "no-op"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_SetAccessMethod, "SET ACCESS METHOD", "rewrites the table; no data changes"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_SetTableSpace, "SET TABLESPACE", "moves the table; no data changes"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_SetRelOptions, "SET (options)", "storage parameters"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_ResetRelOptions, "RESET (options)", "storage parameters"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_ReplaceRelOptions, "SET (options)", "storage parameters"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_EnableTrig, "ENABLE TRIGGER", "trigger state"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_EnableAlwaysTrig, "ENABLE ALWAYS TRIGGER", "trigger state"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_EnableReplicaTrig, "ENABLE REPLICA TRIGGER", "trigger state"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_DisableTrig, "DISABLE TRIGGER", "trigger state"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_EnableTrigAll, "ENABLE TRIGGER ALL", "trigger state"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_DisableTrigAll, "DISABLE TRIGGER ALL", "trigger state"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_EnableTrigUser, "ENABLE TRIGGER USER", "trigger state"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_DisableTrigUser, "DISABLE TRIGGER USER", "trigger state"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_EnableRule, "ENABLE RULE", "rule state"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_EnableAlwaysRule, "ENABLE ALWAYS RULE", "rule state"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_EnableReplicaRule, "ENABLE REPLICA RULE", "rule state"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_DisableRule, "DISABLE RULE", "rule state"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_AddInherit, "INHERIT", "adds a parent table"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_DropInherit, "NO INHERIT", "rows stay in the table but leave the parent's queries"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_AddOf, "OF type", "binds the table to a composite type"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_DropOf, "NOT OF", "unbinds the table from its type"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_ReplicaIdentity, "REPLICA IDENTITY", "logical replication setting"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_EnableRowSecurity, "ENABLE ROW LEVEL SECURITY", "row security"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_DisableRowSecurity, "DISABLE ROW LEVEL SECURITY", "row security"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_ForceRowSecurity, "FORCE ROW LEVEL SECURITY", "row security"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_NoForceRowSecurity, "NO FORCE ROW LEVEL SECURITY", "row security"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_GenericOptions, "OPTIONS", "foreign table options"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_DetachPartition, "DETACH PARTITION", "rows leave the partitioned table but stay in the detached one"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_DetachPartitionFinalize, "DETACH PARTITION FINALIZE", "completes a detach"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_AddIdentity, "ADD IDENTITY", "existing values are kept"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_SetIdentity, "SET IDENTITY", "sequence options"},
    {PG_QUERY__ALTER_TABLE_TYPE__AT_DropIdentity, "DROP IDENTITY", "existing values are kept"},
};

typedef struct alter_target {
    const char *schema;
    const char *name;
    char disp[300];
} alter_target;

/* Text inside the parentheses after the first depth-0 CHECK at or after location. */
static char *check_text(ebb_risk_ctx *ctx, int location)
{
    const ebb_risk_toks *t = ebb_risk_ctx_toks(ctx);
    if (t == NULL)
        return NULL;
    size_t k = ebb_risk_tok_find(t, ebb_risk_tok_at(t, location), PG_QUERY__TOKEN__CHECK);
    if (k + 1 >= t->n || t->tok[k + 1]->token != '(')
        return NULL;
    size_t close = ebb_risk_tok_close(t, k + 1);
    return close < t->n && close > k + 2 ? ebb_risk_tok_text(ctx, k + 2, close - 1) : NULL;
}

static void add_string_keys(ebb_risk_ctx *ctx, ebb_risk_probe *p, PgQuery__Node **nodes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ebb_risk_node_str(nodes[i]) != NULL)
            (void)ebb_risk_add_key(ctx, p, ebb_risk_node_str(nodes[i]), NULL);
}

static void add_constraint(ebb_risk_ctx *ctx, const alter_target *tg, const PgQuery__Constraint *c)
{
    ebb_risk_item *it;
    ebb_risk_probe *p;
    char *expr;
    bool using_index = c->indexname[0] != '\0';
    switch (c->contype) {
    case PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY:
        if (using_index) {
            (void)ebb_risk_add_item(ctx, "ADD PRIMARY KEY", EBB_RISK_MEDIUM,
                                    "makes index %s the primary key of %s; fails if its columns "
                                    "hold NULLs (columns not known from the statement, no probe)",
                                    c->indexname, tg->disp);
            return;
        }
        it = ebb_risk_add_item(ctx, "ADD PRIMARY KEY", EBB_RISK_MEDIUM,
                               "fails if %s has duplicate or NULL keys", tg->disp);
        p = ebb_risk_add_probe(ctx, it, EBB_PROBE_DUPLICATES, "table", tg->schema, tg->name);
        add_string_keys(ctx, p, c->keys, c->n_keys);
        for (size_t i = 0; i < c->n_keys && it != NULL; i++) {
            p = ebb_risk_add_probe(ctx, it, EBB_PROBE_NULLS, "table", tg->schema, tg->name);
            add_string_keys(ctx, p, &c->keys[i], 1);
        }
        return;
    case PG_QUERY__CONSTR_TYPE__CONSTR_UNIQUE:
        if (using_index) {
            (void)ebb_risk_add_item(ctx, "ADD UNIQUE", EBB_RISK_LOW,
                                    "uses unique index %s, which already holds", c->indexname);
            return;
        }
        it = ebb_risk_add_item(ctx, "ADD UNIQUE", EBB_RISK_MEDIUM, "fails if %s has duplicate keys",
                               tg->disp);
        p = ebb_risk_add_probe(ctx, it, EBB_PROBE_DUPLICATES, "table", tg->schema, tg->name);
        if (p != NULL)
            p->nulls_not_distinct = c->nulls_not_distinct;
        add_string_keys(ctx, p, c->keys, c->n_keys);
        return;
    case PG_QUERY__CONSTR_TYPE__CONSTR_CHECK:
        if (c->skip_validation) {
            (void)ebb_risk_add_item(ctx, "ADD CHECK", EBB_RISK_LOW,
                                    "NOT VALID: existing rows of %s are not checked", tg->disp);
            return;
        }
        expr = check_text(ctx, c->location);
        if (expr == NULL) { /* a CHECK probe without its expression would check nothing */
            (void)ebb_risk_add_item(ctx, "ADD CHECK", EBB_RISK_MEDIUM,
                                    "fails if a row of %s breaks the check; its expression could "
                                    "not be cut out for a probe", tg->disp);
            return;
        }
        it = ebb_risk_add_item(ctx, "ADD CHECK", EBB_RISK_MEDIUM,
                               "fails if a row of %s breaks the check", tg->disp);
        p = ebb_risk_add_probe(ctx, it, EBB_PROBE_CHECK, "table", tg->schema, tg->name);
        if (p != NULL)
            p->expr = expr;
        else
            free(expr);
        return;
    case PG_QUERY__CONSTR_TYPE__CONSTR_FOREIGN:
        if (c->skip_validation) {
            (void)ebb_risk_add_item(ctx, "ADD FOREIGN KEY", EBB_RISK_LOW,
                                    "NOT VALID: existing rows of %s are not checked", tg->disp);
            return;
        }
        it = ebb_risk_add_item(ctx, "ADD FOREIGN KEY", EBB_RISK_MEDIUM,
                               "fails if a row of %s references a missing row of %s", tg->disp,
                               c->pktable->relname);
        p = ebb_risk_add_probe(ctx, it, EBB_PROBE_FK_ORPHANS, "table", tg->schema, tg->name);
        if (p == NULL)
            return;
        add_string_keys(ctx, p, c->fk_attrs, c->n_fk_attrs);
        free(p->ref_table.schema);
        free(p->ref_table.name);
        (void)ebb_risk_name_set(ctx, &p->ref_table, c->pktable->schemaname, c->pktable->relname);
        p->match_full = c->fk_matchtype[0] == 'f';
        p->ref_columns = calloc(c->n_pk_attrs + 1, sizeof *p->ref_columns);
        if (p->ref_columns == NULL) {
            ctx->oom = true;
            return;
        }
        for (size_t i = 0; i < c->n_pk_attrs; i++)
            if (ebb_risk_node_str(c->pk_attrs[i]) != NULL)
                p->ref_columns[p->n_ref_columns++] =
                    ebb_risk_strdup(ctx, ebb_risk_node_str(c->pk_attrs[i]));
        return;
    case PG_QUERY__CONSTR_TYPE__CONSTR_EXCLUSION:
        (void)ebb_risk_add_item(ctx, "ADD EXCLUDE", EBB_RISK_MEDIUM,
                                "fails if rows of %s conflict under the exclusion; no probe is made",
                                tg->disp);
        return;
    default:
        (void)ebb_risk_add_item(ctx, "NOT CLASSIFIED", EBB_RISK_UNKNOWN,
                                "constraint type %d is not in ebb's classification table",
                                (int)c->contype);
        return;
    }
}

static bool is_serial(const PgQuery__TypeName *tn)
{
    static const char *const serials[] = {"serial", "bigserial", "smallserial", "serial2", "serial4", "serial8"};
    const char *name = tn != NULL && tn->n_names > 0 ? ebb_risk_node_str(tn->names[tn->n_names - 1]) : NULL;
    for (size_t i = 0; name != NULL && i < sizeof serials / sizeof serials[0]; i++)
        if (strcmp(name, serials[i]) == 0)
            return true;
    return false;
}

static void add_column(ebb_risk_ctx *ctx, const alter_target *tg, const PgQuery__ColumnDef *cd)
{
    bool not_null = cd->is_not_null, pk = false, unique = false, check = false;
    bool fill = is_serial(cd->type_name) || cd->raw_default != NULL, has_default = cd->raw_default != NULL;
    for (size_t i = 0; i < cd->n_constraints; i++) {
        if (cd->constraints[i]->node_case != PG_QUERY__NODE__NODE_CONSTRAINT)
            continue;
        switch (cd->constraints[i]->constraint->contype) {
        case PG_QUERY__CONSTR_TYPE__CONSTR_NOTNULL: not_null = true; break;
        case PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY: pk = true; break;
        case PG_QUERY__CONSTR_TYPE__CONSTR_UNIQUE: unique = true; break;
        case PG_QUERY__CONSTR_TYPE__CONSTR_CHECK: check = true; break;
        case PG_QUERY__CONSTR_TYPE__CONSTR_DEFAULT: fill = has_default = true; break;
        case PG_QUERY__CONSTR_TYPE__CONSTR_IDENTITY:
        case PG_QUERY__CONSTR_TYPE__CONSTR_GENERATED: fill = true; break;
        default: break;
        }
    }
    /* Identity, generated and serial columns get a distinct value per row: no failure. */
    const char *why = NULL;
    if ((not_null || pk) && !fill)
        why = "NOT NULL with no DEFAULT to fill the new column: fails if the table has any row";
    else if ((pk || unique) && has_default)
        why = "every existing row gets the DEFAULT: with more than one row a constant default "
              "breaks the unique key";
    else if (check && has_default)
        why = "the DEFAULT of the new column must pass its CHECK for every existing row";
    if (why == NULL) {
        (void)ebb_risk_add_item(ctx, "ADD COLUMN", EBB_RISK_LOW, "adds column %s to %s", cd->colname,
                                tg->disp);
        return;
    }
    ebb_risk_item *it = ebb_risk_add_item(ctx, "ADD COLUMN", EBB_RISK_MEDIUM, "adds column %s to %s; %s",
                                          cd->colname, tg->disp, why);
    (void)ebb_risk_add_probe(ctx, it, EBB_PROBE_ROWS_IN_TABLE, "table", tg->schema, tg->name);
}

static char *typmod_text(ebb_risk_ctx *ctx, const PgQuery__Node *n)
{
    char buf[64] = "?";
    if (n->node_case == PG_QUERY__NODE__NODE_A_CONST) {
        const PgQuery__AConst *a = n->a_const;
        if (a->val_case == PG_QUERY__A__CONST__VAL_IVAL)
            snprintf(buf, sizeof buf, "%d", (int)a->ival->ival);
        else if (a->val_case == PG_QUERY__A__CONST__VAL_FVAL)
            return ebb_risk_strdup(ctx, a->fval->fval);
        else if (a->val_case == PG_QUERY__A__CONST__VAL_SVAL)
            return ebb_risk_strdup(ctx, a->sval->sval);
    } else if (n->node_case == PG_QUERY__NODE__NODE_COLUMN_REF && n->column_ref->n_fields == 1 &&
               ebb_risk_node_str(n->column_ref->fields[0]) != NULL) {
        return ebb_risk_strdup(ctx, ebb_risk_node_str(n->column_ref->fields[0]));
    }
    return ebb_risk_strdup(ctx, buf);
}

static void alter_column_type(ebb_risk_ctx *ctx, const alter_target *tg, bool is_type,
                              const PgQuery__AlterTableCmd *cmd)
{
    const PgQuery__ColumnDef *cd = cmd->def != NULL && cmd->def->node_case == PG_QUERY__NODE__NODE_COLUMN_DEF
                                       ? cmd->def->column_def : NULL;
    if (cd == NULL || cd->type_name == NULL) {
        (void)ebb_risk_add_item(ctx, "NOT CLASSIFIED", EBB_RISK_UNKNOWN, "ALTER COLUMN TYPE without a type");
        return;
    }
    const PgQuery__TypeName *tn = cd->type_name;
    char *type_text = NULL, *using_text = NULL;
    const ebb_risk_toks *t = ebb_risk_ctx_toks(ctx);
    if (t == NULL)
        return;
    size_t start = ebb_risk_tok_at(t, tn->location);
    static const int type_end[] = {PG_QUERY__TOKEN__COLLATE, PG_QUERY__TOKEN__USING, ','};
    size_t end = ebb_risk_tok_find_any(t, start, type_end, 3);
    if (end > start)
        type_text = ebb_risk_tok_text(ctx, start, end - 1);
    if (cd->raw_default != NULL) {
        size_t u = ebb_risk_tok_find(t, start, PG_QUERY__TOKEN__USING);
        size_t uend = ebb_risk_tok_find(t, u + 1, ',');
        if (u < t->n && uend > u + 1)
            using_text = ebb_risk_tok_text(ctx, u + 1, uend - 1);
    }
    ebb_risk_item *it;
    if (is_type)
        it = ebb_risk_add_item(ctx, "ALTER ATTRIBUTE TYPE", EBB_RISK_MEDIUM,
                               "changes attribute %s of type %s to %s; fails or converts where the type is used",
                               cmd->name, tg->disp, type_text != NULL ? type_text : "?");
    else
        it = ebb_risk_add_item(ctx, "ALTER COLUMN TYPE", EBB_RISK_MEDIUM,
                               "converts %s.%s to %s%s; fails on values that do not convert or fit",
                               tg->disp, cmd->name, type_text != NULL ? type_text : "?",
                               using_text != NULL ? " with USING" : "");
    ebb_risk_probe *p = is_type ? ebb_risk_add_probe(ctx, it, EBB_PROBE_DEPENDENTS, "type", tg->schema, tg->name)
                                : ebb_risk_add_probe(ctx, it, EBB_PROBE_NARROWING_TYPE, "table", tg->schema, tg->name);
    if (p == NULL || is_type) {
        free(type_text);
        free(using_text);
        return;
    }
    (void)ebb_risk_add_key(ctx, p, cmd->name, NULL);
    p->expr = using_text;
    p->new_type.text = type_text;
    const char *ts = "", *tname = "";
    if (tn->n_names >= 1 && ebb_risk_node_str(tn->names[tn->n_names - 1]) != NULL)
        tname = ebb_risk_node_str(tn->names[tn->n_names - 1]);
    if (tn->n_names >= 2 && ebb_risk_node_str(tn->names[tn->n_names - 2]) != NULL)
        ts = ebb_risk_node_str(tn->names[tn->n_names - 2]);
    free(p->new_type.name.schema);
    free(p->new_type.name.name);
    (void)ebb_risk_name_set(ctx, &p->new_type.name, ts, tname);
    p->new_type.array_dims = (int)tn->n_array_bounds;
    p->new_type.mods = calloc(tn->n_typmods + 1, sizeof *p->new_type.mods);
    if (p->new_type.mods == NULL) {
        ctx->oom = true;
        return;
    }
    for (size_t i = 0; i < tn->n_typmods; i++)
        p->new_type.mods[p->new_type.n_mods++] = typmod_text(ctx, tn->typmods[i]);
}

static void classify_cmd(ebb_risk_ctx *ctx, const alter_target *tg, bool is_type,
                         const PgQuery__AlterTableCmd *cmd)
{
    bool cascade = cmd->behavior == PG_QUERY__DROP_BEHAVIOR__DROP_CASCADE;
    ebb_risk_item *it;
    ebb_risk_probe *p;
    switch (cmd->subtype) {
    case PG_QUERY__ALTER_TABLE_TYPE__AT_AddColumn:
        if (is_type)
            (void)ebb_risk_add_item(ctx, "ADD ATTRIBUTE", EBB_RISK_LOW, "adds an attribute to type %s", tg->disp);
        else if (cmd->def != NULL && cmd->def->node_case == PG_QUERY__NODE__NODE_COLUMN_DEF)
            add_column(ctx, tg, cmd->def->column_def);
        return;
    case PG_QUERY__ALTER_TABLE_TYPE__AT_DropColumn:
        if (is_type) {
            it = ebb_risk_add_item(ctx, "DROP ATTRIBUTE", cascade ? EBB_RISK_HIGH : EBB_RISK_MEDIUM,
                                   cascade ? "drops attribute %s of type %s, with its data in every column of the type"
                                           : "drops attribute %s of type %s; fails if a table column uses the type",
                                   cmd->name, tg->disp);
            (void)ebb_risk_add_probe(ctx, it, EBB_PROBE_DEPENDENTS, "type", tg->schema, tg->name);
            return;
        }
        it = ebb_risk_add_item(ctx, "DROP COLUMN", EBB_RISK_HIGH, "drops column %s of %s with its data%s",
                               cmd->name, tg->disp, cascade ? ", and by CASCADE what depends on it" : "");
        p = ebb_risk_add_probe(ctx, it, EBB_PROBE_NONNULL_IN_COLUMN, "table", tg->schema, tg->name);
        (void)ebb_risk_add_key(ctx, p, cmd->name, NULL);
        if (cascade) {
            p = ebb_risk_add_probe(ctx, it, EBB_PROBE_DEPENDENTS, "column", tg->schema, tg->name);
            (void)ebb_risk_add_key(ctx, p, cmd->name, NULL);
        }
        return;
    case PG_QUERY__ALTER_TABLE_TYPE__AT_AlterColumnType: alter_column_type(ctx, tg, is_type, cmd); return;
    case PG_QUERY__ALTER_TABLE_TYPE__AT_SetNotNull:
        it = ebb_risk_add_item(ctx, "SET NOT NULL", EBB_RISK_MEDIUM, "fails if %s.%s holds NULLs",
                               tg->disp, cmd->name);
        p = ebb_risk_add_probe(ctx, it, EBB_PROBE_NULLS, "table", tg->schema, tg->name);
        (void)ebb_risk_add_key(ctx, p, cmd->name, NULL);
        return;
    case PG_QUERY__ALTER_TABLE_TYPE__AT_AddConstraint:
        if (cmd->def != NULL && cmd->def->node_case == PG_QUERY__NODE__NODE_CONSTRAINT)
            add_constraint(ctx, tg, cmd->def->constraint);
        return;
    case PG_QUERY__ALTER_TABLE_TYPE__AT_ValidateConstraint:
        it = ebb_risk_add_item(ctx, "VALIDATE CONSTRAINT", EBB_RISK_MEDIUM,
                               "fails if a row of %s breaks constraint %s", tg->disp, cmd->name);
        p = ebb_risk_add_probe(ctx, it, EBB_PROBE_VALIDATE, "table", tg->schema, tg->name);
        if (p != NULL)
            p->constraint = ebb_risk_strdup(ctx, cmd->name);
        return;
    case PG_QUERY__ALTER_TABLE_TYPE__AT_AttachPartition:
        (void)ebb_risk_add_item(ctx, "ATTACH PARTITION", EBB_RISK_MEDIUM,
                                "fails if rows of the partition fall outside its bounds; no probe is made");
        return;
    default: break;
    }
    for (size_t i = 0; i < sizeof low_rules / sizeof low_rules[0]; i++)
        if (low_rules[i].subtype == cmd->subtype) {
            (void)ebb_risk_add_item(ctx, low_rules[i].kind, EBB_RISK_LOW, "%s", low_rules[i].reason);
            return;
        }
    (void)ebb_risk_add_item(ctx, "NOT CLASSIFIED", EBB_RISK_UNKNOWN,
                            "ALTER TABLE subcommand %d is not in ebb's classification table",
                            (int)cmd->subtype);
}

void ebb_risk_classify_alter_table(ebb_risk_ctx *ctx, const PgQuery__AlterTableStmt *stmt)
{
    alter_target tg = {.schema = stmt->relation->schemaname, .name = stmt->relation->relname};
    if (tg.schema[0] != '\0')
        snprintf(tg.disp, sizeof tg.disp, "%s.%s", tg.schema, tg.name);
    else
        snprintf(tg.disp, sizeof tg.disp, "%s", tg.name);
    bool is_type = stmt->objtype == PG_QUERY__OBJECT_TYPE__OBJECT_TYPE;
    for (size_t i = 0; i < stmt->n_cmds && !ctx->oom; i++)
        if (stmt->cmds[i]->node_case == PG_QUERY__NODE__NODE_ALTER_TABLE_CMD)
            classify_cmd(ctx, &tg, is_type, stmt->cmds[i]->alter_table_cmd);
}

/* Index keys: column names from the tree, expressions cut from the statement. */
static void index_keys(ebb_risk_ctx *ctx, const PgQuery__IndexStmt *s, ebb_risk_probe *p,
                       size_t *close_out)
{
    const ebb_risk_toks *t = ebb_risk_ctx_toks(ctx);
    *close_out = t != NULL ? t->n : 0;
    if (t == NULL || p == NULL)
        return;
    size_t open = ebb_risk_tok_find(t, ebb_risk_tok_at(t, s->relation->location), '(');
    size_t close = open < t->n ? ebb_risk_tok_close(t, open) : t->n;
    if (close >= t->n)
        return;
    *close_out = close;
    size_t seg = open + 1, k = 0;
    for (size_t i = open + 1; i <= close && !ctx->oom; i++) {
        if (i < close && (int)t->tok[i]->token != ',') {
            if (t->tok[i]->token == '(' || t->tok[i]->token == '[')
                i = ebb_risk_tok_close(t, i);
            continue;
        }
        if (k >= s->n_index_params || s->index_params[k]->node_case != PG_QUERY__NODE__NODE_INDEX_ELEM)
            break;
        const PgQuery__IndexElem *e = s->index_params[k]->index_elem;
        if (e->name[0] != '\0') {
            (void)ebb_risk_add_key(ctx, p, e->name, NULL);
        } else {
            /* '(' expr ')' or a function call: the expression ends where its first group closes. */
            size_t first_open = ebb_risk_tok_find(t, seg, '(');
            bool wrapped = t->tok[seg]->token == '(';
            size_t c = first_open < i ? ebb_risk_tok_close(t, first_open) : i - 1;
            char *expr = wrapped ? ebb_risk_tok_text(ctx, seg + 1, c - 1) : ebb_risk_tok_text(ctx, seg, c);
            if (expr == NULL)
                break; /* keys are cleared below: never a key with neither column nor expr */
            (void)ebb_risk_add_key(ctx, p, NULL, expr);
            free(expr);
        }
        k++;
        seg = i + 1;
    }
    if (k != s->n_index_params) { /* could not line keys up with the statement: say none */
        for (size_t i = 0; i < p->n_keys; i++) {
            free(p->keys[i].column);
            free(p->keys[i].expr);
        }
        p->n_keys = 0;
    }
}

void ebb_risk_classify_index(ebb_risk_ctx *ctx, const PgQuery__IndexStmt *s)
{
    char name[300];
    if (s->relation->schemaname[0] != '\0')
        snprintf(name, sizeof name, "%s.%s", s->relation->schemaname, s->relation->relname);
    else
        snprintf(name, sizeof name, "%s", s->relation->relname);
    if (!s->unique) {
        (void)ebb_risk_add_item(ctx, s->concurrent ? "CREATE INDEX CONCURRENTLY" : "CREATE INDEX",
                                EBB_RISK_LOW, "builds an index on %s; changes no data%s", name,
                                s->concurrent ? " (cannot run inside a transaction)" : "");
        return;
    }
    ebb_risk_item *it = ebb_risk_add_item(
        ctx, s->concurrent ? "CREATE UNIQUE INDEX CONCURRENTLY" : "CREATE UNIQUE INDEX",
        EBB_RISK_MEDIUM, "fails if %s has duplicate keys%s", name,
        s->concurrent ? "; a failed concurrent build leaves an invalid index behind" : "");
    ebb_risk_probe *p = ebb_risk_add_probe(ctx, it, EBB_PROBE_DUPLICATES, "table",
                                           s->relation->schemaname, s->relation->relname);
    if (p == NULL)
        return;
    p->nulls_not_distinct = s->nulls_not_distinct;
    p->only = !s->relation->inh;
    size_t close;
    index_keys(ctx, s, p, &close);
    if (s->where_clause != NULL) {
        const ebb_risk_toks *t = ebb_risk_ctx_toks(ctx);
        size_t w = t != NULL && close < t->n ? ebb_risk_tok_find(t, close + 1, PG_QUERY__TOKEN__WHERE) : 0;
        if (t != NULL && w + 1 < t->n)
            p->expr = ebb_risk_tok_text(ctx, w + 1, t->n - 1);
    }
}
