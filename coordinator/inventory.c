/* The coordinator's inventory of agents and their databases (see inventory.h). */
#include "coordinator/inventory.h"

#include "agent/risk.h"

#include <stdlib.h>
#include <string.h>

const char *ebb_agent_state_name(ebb_agent_state state)
{
    switch (state) {
    case EBB_AGENT_PENDING:
        return "pending";
    case EBB_AGENT_ACCEPTED:
        return "accepted";
    case EBB_AGENT_REVOKED:
        return "revoked";
    }
    return "?";
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* A copy of n strings (NULL when n is 0); false when out of memory. */
static bool dup_strv(const char *const *src, size_t n, char ***out)
{
    *out = NULL;
    if (n == 0)
        return true;
    char **v = calloc(n, sizeof *v);
    if (v == NULL)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((v[i] = strdup(src[i] ? src[i] : "")) == NULL) {
            free_strv(v, i);
            return false;
        }
    *out = v;
    return true;
}

static void db_fini(ebb_inv_db *d)
{
    free(d->name);
    free(d->kind);
    free_strv(d->current, d->n_current);
    free(d->graph_hash);
    free(d->fingerprint);
    free(d->claimed_env);
    free(d->error);
    for (size_t i = 0; i < d->n_revs; i++) {
        free(d->revs[i].id);
        free_strv(d->revs[i].parents, d->revs[i].n_parents);
    }
    free(d->revs);
    free_strv(d->applied, d->n_applied);
    memset(d, 0, sizeof *d);
}

static void agent_dbs_fini(ebb_inv_agent *a)
{
    for (size_t i = 0; i < a->n_dbs; i++)
        db_fini(&a->dbs[i]);
    free(a->dbs);
    a->dbs = NULL;
    a->n_dbs = 0;
}

static void agent_fini(ebb_inv_agent *a)
{
    agent_dbs_fini(a);
    free(a->id);
    free(a->env);
    free(a->software_version);
    memset(a, 0, sizeof *a);
}

void ebb_inventory_init(ebb_inventory *inv)
{
    memset(inv, 0, sizeof *inv);
}

void ebb_inventory_fini(ebb_inventory *inv)
{
    for (size_t i = 0; i < inv->n_agents; i++)
        agent_fini(&inv->agents[i]);
    free(inv->agents);
    memset(inv, 0, sizeof *inv);
}

ebb_inv_agent *ebb_inventory_find(ebb_inventory *inv, const char *agent_id)
{
    for (size_t i = 0; agent_id != NULL && i < inv->n_agents; i++)
        if (strcmp(inv->agents[i].id, agent_id) == 0)
            return &inv->agents[i];
    return NULL;
}

ebb_inv_agent *ebb_inventory_find_key(ebb_inventory *inv, const ebb_key_id *key_id)
{
    for (size_t i = 0; i < inv->n_agents; i++)
        if (ebb_key_id_equal(&inv->agents[i].key_id, key_id))
            return &inv->agents[i];
    return NULL;
}

ebb_inv_db *ebb_inv_agent_db(ebb_inv_agent *agent, const char *name)
{
    for (size_t i = 0; name != NULL && i < agent->n_dbs; i++)
        if (strcmp(agent->dbs[i].name, name) == 0)
            return &agent->dbs[i];
    return NULL;
}

bool ebb_inv_risk_loses_data(const char *level)
{
    return level != NULL && strcmp(level, ebb_risk_level_name(EBB_RISK_HIGH)) == 0;
}

static ebb_code add_agent(ebb_inventory *inv, const char *id, const ebb_public_key *key,
                          ebb_inv_agent **out, ebb_error *err)
{
    if (inv->n_agents == inv->cap) {
        size_t cap = inv->cap ? inv->cap * 2 : 8;
        ebb_inv_agent *a = realloc(inv->agents, cap * sizeof *a);
        if (a == NULL)
            return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
        inv->agents = a;
        inv->cap = cap;
    }
    ebb_inv_agent *a = &inv->agents[inv->n_agents];
    memset(a, 0, sizeof *a);
    if ((a->id = strdup(id)) == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    a->key = *key;
    ebb_key_id_of(key, &a->key_id);
    ebb_key_id_hex(&a->key_id, a->key_id_hex);
    a->state = EBB_AGENT_PENDING;
    inv->n_agents++;
    *out = a;
    return EBB_OK;
}

static bool db_from_report(ebb_inv_db *d, const ebb_inv_db_report *r)
{
    memset(d, 0, sizeof *d);
    d->name = strdup(r->name ? r->name : "");
    d->kind = dup_or_null(r->kind);
    d->graph_hash = dup_or_null(r->graph_hash);
    d->fingerprint = dup_or_null(r->fingerprint);
    d->claimed_env = dup_or_null(r->environment);
    d->error = dup_or_null(r->error);
    d->drift = r->drift;
    if (d->name == NULL || !dup_strv(r->current, r->n_current, &d->current))
        return false;
    d->n_current = r->n_current;
    if (r->n_revs > 0) {
        d->revs = calloc(r->n_revs, sizeof *d->revs);
        d->applied = calloc(r->n_revs, sizeof *d->applied);
        if (d->revs == NULL || d->applied == NULL)
            return false;
        for (size_t i = 0; i < r->n_revs; i++) {
            ebb_inv_rev *v = &d->revs[i];
            if ((v->id = strdup(r->revs[i].id ? r->revs[i].id : "")) == NULL)
                return false;
            d->n_revs = i + 1;
            if (!dup_strv(r->revs[i].parents, r->revs[i].n_parents, &v->parents))
                return false;
            v->n_parents = r->revs[i].n_parents;
            v->no_transaction = r->revs[i].no_transaction;
            v->down_no_transaction = r->revs[i].down_no_transaction;
            v->has_down = !r->revs[i].has_down_known || r->revs[i].has_down;
            v->up_data_loss = ebb_inv_risk_loses_data(r->revs[i].up_risk);
            v->down_data_loss = v->has_down && ebb_inv_risk_loses_data(r->revs[i].down_risk);
            if (r->revs[i].applied && (d->applied[d->n_applied] = strdup(v->id)) != NULL)
                d->n_applied++;
        }
    }
    return true;
}

ebb_code ebb_inventory_hello(ebb_inventory *inv, const ebb_inv_hello *h, int64_t now_ms,
                             ebb_inv_agent **agent_out, ebb_error *err)
{
    ebb_key_id kid;
    ebb_key_id_of(h->key, &kid);
    ebb_inv_agent *by_id = ebb_inventory_find(inv, h->agent_id);
    ebb_inv_agent *by_key = ebb_inventory_find_key(inv, &kid);
    if (by_id != NULL && !ebb_key_id_equal(&by_id->key_id, &kid))
        return ebb_error_set(err, EBB_E_CONFLICT,
                             "agent '%s' is enrolled with key %s, not with the key of this hello",
                             h->agent_id, by_id->key_id_hex);
    if (by_key != NULL && by_id == NULL)
        return ebb_error_set(err, EBB_E_CONFLICT, "key %s is enrolled as agent '%s', not as '%s'",
                             by_key->key_id_hex, by_key->id, h->agent_id);
    ebb_inv_agent *a = by_id;
    if (a == NULL) {
        ebb_code rc = add_agent(inv, h->agent_id, h->key, &a, err);
        if (rc != EBB_OK)
            return rc;
        a->first_seen_ms = now_ms;
    }
    ebb_inv_db *dbs = h->n_dbs ? calloc(h->n_dbs, sizeof *dbs) : NULL;
    if (h->n_dbs && dbs == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    for (size_t i = 0; i < h->n_dbs; i++)
        if (!db_from_report(&dbs[i], &h->dbs[i])) {
            for (size_t j = 0; j <= i; j++)
                db_fini(&dbs[j]);
            free(dbs);
            return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
        }
    char *ver = dup_or_null(h->software_version);
    agent_dbs_fini(a);
    a->dbs = dbs;
    a->n_dbs = h->n_dbs;
    free(a->software_version);
    a->software_version = ver;
    a->protocol_version = h->protocol_version;
    a->last_hello_ms = now_ms;
    a->last_seen_ms = now_ms;
    if (a->first_seen_ms == 0)
        a->first_seen_ms = now_ms;
    if (agent_out != NULL)
        *agent_out = a;
    return EBB_OK;
}

ebb_code ebb_inventory_db_state(ebb_inv_agent *agent, const char *db_name,
                                const ebb_inv_db_state *st, ebb_error *err)
{
    ebb_inv_db *d = ebb_inv_agent_db(agent, db_name);
    if (d == NULL)
        return ebb_error_set(err, EBB_E_NOT_FOUND, "agent %s reported no database '%s'",
                             agent->id, db_name ? db_name : "(none)");
    if (st->fingerprint == NULL)
        return ebb_error_set(err, EBB_E_INVALID, "%s/%s: a state without a fingerprint",
                             agent->id, d->name);
    /* The applied set: the current revisions and, walking the topological list backwards,
     * every parent of an applied revision. */
    bool *applied = calloc(d->n_revs ? d->n_revs : 1, sizeof *applied);
    if (applied == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    for (size_t c = 0; d->n_revs > 0 && c < st->n_current; c++) {
        size_t k = 0;
        while (k < d->n_revs && strcmp(d->revs[k].id, st->current[c]) != 0)
            k++;
        if (k == d->n_revs) {
            free(applied);
            return ebb_error_set(err, EBB_E_INVALID,
                                 "%s/%s: current revision %s is not in the reported graph",
                                 agent->id, d->name, st->current[c]);
        }
        applied[k] = true;
    }
    for (size_t k = d->n_revs; k-- > 0;)
        for (size_t p = 0; applied[k] && p < d->revs[k].n_parents; p++)
            for (size_t q = 0; q < k; q++)
                if (strcmp(d->revs[q].id, d->revs[k].parents[p]) == 0)
                    applied[q] = true;
    size_t n_applied = 0;
    for (size_t k = 0; k < d->n_revs; k++)
        n_applied += applied[k];
    char **cur = NULL, **app = n_applied ? calloc(n_applied, sizeof *app) : NULL;
    char *fp = strdup(st->fingerprint);
    bool ok = fp != NULL && (n_applied == 0 || app != NULL) &&
              dup_strv(st->current, st->n_current, &cur);
    for (size_t k = 0, a = 0; ok && k < d->n_revs; k++)
        if (applied[k] && (app[a++] = strdup(d->revs[k].id)) == NULL)
            ok = false;
    free(applied);
    if (!ok) {
        free(fp);
        free_strv(cur, cur ? st->n_current : 0);
        free_strv(app, n_applied); /* calloc'd: unfilled entries are NULL */
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    }
    free_strv(d->current, d->n_current);
    d->current = cur;
    d->n_current = st->n_current;
    if (d->n_revs > 0) {
        free_strv(d->applied, d->n_applied);
        d->applied = app;
        d->n_applied = n_applied;
    }
    free(d->fingerprint);
    d->fingerprint = fp;
    if (st->has_drift)
        d->drift = st->drift;
    return EBB_OK;
}

ebb_inv_agent *ebb_inventory_seen(ebb_inventory *inv, const ebb_key_id *key_id, int64_t now_ms)
{
    ebb_inv_agent *a = ebb_inventory_find_key(inv, key_id);
    if (a != NULL && now_ms > a->last_seen_ms)
        a->last_seen_ms = now_ms;
    return a;
}

ebb_code ebb_inventory_accept(ebb_inventory *inv, const char *agent_id, const char *env,
                              ebb_error *err)
{
    ebb_inv_agent *a = ebb_inventory_find(inv, agent_id);
    if (a == NULL)
        return ebb_error_set(err, EBB_E_NOT_FOUND, "no agent '%s' has enrolled", agent_id);
    if (a->state == EBB_AGENT_REVOKED)
        return ebb_error_set(err, EBB_E_CONFLICT,
                             "agent '%s' (key %s) is revoked; a revoked key is never accepted "
                             "again (give the host a new key)",
                             agent_id, a->key_id_hex);
    char *e = strdup(env);
    if (e == NULL)
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    free(a->env);
    a->env = e;
    a->state = EBB_AGENT_ACCEPTED;
    return EBB_OK;
}

ebb_code ebb_inventory_revoke(ebb_inventory *inv, const char *agent_id, ebb_error *err)
{
    ebb_inv_agent *a = ebb_inventory_find(inv, agent_id);
    if (a == NULL)
        return ebb_error_set(err, EBB_E_NOT_FOUND, "no agent '%s' has enrolled", agent_id);
    a->state = EBB_AGENT_REVOKED;
    return EBB_OK;
}

json_t *ebb_inventory_record_json(const ebb_inv_agent *a, const char *operator_key_id)
{
    char b64[EBB_PUBLIC_KEY_B64_SIZE];
    ebb_public_key_base64(&a->key, b64);
    return json_pack("{s:s, s:s, s:s, s:s?, s:s?}", "agent_id", a->id, "key_id", a->key_id_hex,
                     "public_key", b64, "environment", a->env, "operator_key_id", operator_key_id);
}

ebb_code ebb_inventory_apply_record(ebb_inventory *inv, const ebb_journal_record *rec,
                                    ebb_error *err)
{
    bool accepted = strcmp(rec->type, EBB_INV_ACCEPTED) == 0;
    if (!accepted && strcmp(rec->type, EBB_INV_REVOKED) != 0)
        return EBB_OK;
    const char *id = NULL, *b64 = NULL, *env = NULL;
    if (json_unpack((json_t *)rec->payload, "{s:s, s:s, s?s}", "agent_id", &id, "public_key", &b64,
                    "environment", &env) != 0 ||
        (accepted && env == NULL))
        return ebb_error_set(err, EBB_E_INVALID, "journal record %llu (%s): fields missing",
                             (unsigned long long)rec->seq, rec->type);
    ebb_public_key pk;
    if (ebb_public_key_parse(b64, &pk, NULL) != EBB_OK)
        return ebb_error_set(err, EBB_E_INVALID, "journal record %llu (%s): bad public key",
                             (unsigned long long)rec->seq, rec->type);
    ebb_inv_agent *a = ebb_inventory_find(inv, id);
    ebb_code rc = EBB_OK;
    if (a == NULL)
        rc = add_agent(inv, id, &pk, &a, err);
    else if (memcmp(a->key.bytes, pk.bytes, sizeof pk.bytes) != 0) {
        /* Only reachable through a revoke (a fresh key under an old id): the newer wins. */
        a->key = pk;
        ebb_key_id_of(&pk, &a->key_id);
        ebb_key_id_hex(&a->key_id, a->key_id_hex);
    }
    if (rc != EBB_OK)
        return rc;
    return accepted ? ebb_inventory_accept(inv, id, env, err) : ebb_inventory_revoke(inv, id, err);
}

bool ebb_inv_db_graph_known(const ebb_inv_db *db)
{
    return db->n_revs > 0 && db->graph_hash != NULL;
}

ebb_code ebb_inventory_fleet(const ebb_inventory *inv, long liveness_s, ebb_inv_fleet *out,
                             ebb_error *err)
{
    size_t nh = 0, nd = 0, nr = 0;
    for (size_t i = 0; i < inv->n_agents; i++) {
        const ebb_inv_agent *a = &inv->agents[i];
        if (a->state != EBB_AGENT_ACCEPTED)
            continue;
        nh++;
        nd += a->n_dbs;
        for (size_t d = 0; d < a->n_dbs; d++)
            nr += a->dbs[d].n_revs;
    }
    ebb_inv_fleet f = {0};
    f.hosts = calloc(nh ? nh : 1, sizeof *f.hosts);
    f.dbs = calloc(nd ? nd : 1, sizeof *f.dbs);
    f.revs = calloc(nr ? nr : 1, sizeof *f.revs);
    if (f.hosts == NULL || f.dbs == NULL || f.revs == NULL) {
        ebb_inv_fleet_fini(&f);
        return ebb_error_set(err, EBB_E_NOMEM, "out of memory");
    }
    size_t h = 0, dn = 0, rn = 0;
    for (size_t i = 0; i < inv->n_agents; i++) {
        const ebb_inv_agent *a = &inv->agents[i];
        if (a->state != EBB_AGENT_ACCEPTED)
            continue;
        ebb_fleet_host *fh = &f.hosts[h++];
        fh->name = a->id;
        fh->env = a->env;
        fh->last_seen = a->last_seen_ms / 1000;
        fh->dbs = &f.dbs[dn];
        fh->n_dbs = a->n_dbs;
        for (size_t d = 0; d < a->n_dbs; d++) {
            const ebb_inv_db *db = &a->dbs[d];
            ebb_fleet_db *fd = &f.dbs[dn++];
            fd->name = db->name;
            fd->graph_hash = db->graph_hash;
            fd->revs = &f.revs[rn];
            fd->n_revs = db->n_revs;
            for (size_t r = 0; r < db->n_revs; r++) {
                ebb_fleet_rev *fr = &f.revs[rn++];
                fr->id = db->revs[r].id;
                fr->parents = (const char *const *)db->revs[r].parents;
                fr->n_parents = db->revs[r].n_parents;
                fr->has_down = db->revs[r].has_down;
                fr->no_transaction = db->revs[r].no_transaction;
                fr->down_no_transaction = db->revs[r].down_no_transaction;
                fr->up_data_loss = db->revs[r].up_data_loss;
                fr->down_data_loss = db->revs[r].down_data_loss;
            }
            fd->applied = (const char *const *)db->applied;
            fd->n_applied = db->n_applied;
            fd->revision_known = db->error == NULL && ebb_inv_db_graph_known(db);
            fd->drift = db->drift;
        }
    }
    f.fleet.hosts = f.hosts;
    f.fleet.n_hosts = nh;
    f.fleet.liveness_s = liveness_s;
    *out = f;
    return EBB_OK;
}

void ebb_inv_fleet_fini(ebb_inv_fleet *f)
{
    free(f->hosts);
    free(f->dbs);
    free(f->revs);
    memset(f, 0, sizeof *f);
}

static json_t *strv_json(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

json_t *ebb_inv_agent_json(const ebb_inv_agent *a, int64_t now_ms, long liveness_s)
{
    json_t *dbs = json_array();
    for (size_t i = 0; dbs != NULL && i < a->n_dbs; i++) {
        const ebb_inv_db *d = &a->dbs[i];
        json_array_append_new(
            dbs, json_pack("{s:s, s:s?, s:o, s:s?, s:s?, s:b, s:s?, s:s?, s:b}", "name", d->name,
                           "kind", d->kind, "current", strv_json(d->current, d->n_current),
                           "graph_hash", d->graph_hash, "fingerprint", d->fingerprint, "drift",
                           d->drift, "claimed_environment", d->claimed_env, "error", d->error,
                           "graph_known", ebb_inv_db_graph_known(d)));
    }
    bool alive = a->last_seen_ms > 0 && now_ms - a->last_seen_ms <= (int64_t)liveness_s * 1000;
    return json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:I, s:I, s:b, s:o}", "id", a->id, "key_id",
                     a->key_id_hex, "state", ebb_agent_state_name(a->state), "environment", a->env,
                     "software_version", a->software_version, "first_seen_ms",
                     (json_int_t)a->first_seen_ms, "last_seen_ms", (json_int_t)a->last_seen_ms,
                     "alive", alive, "databases", dbs ? dbs : json_array());
}
