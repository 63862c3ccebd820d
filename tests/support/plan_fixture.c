/* A fleet of 12 hosts in dev/staging/prod with one database each, for planner and rollout tests. */
#include "tests/support/plan_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

static const char *const ids[] = {"0001", "0002", "0003", "0004", "0005"};

static const ebb_fleet_rev revs[] = {
    {"0001", NULL, 0, true, false, false, false, false},    {"0002", &ids[0], 1, true, false, false, true, false},
    {"0003", &ids[1], 1, true, false, false, false, false}, {"0004", &ids[2], 1, true, false, false, true, false},
    {"0005", &ids[3], 1, false, false, true, false, false},
};

static const ebb_fleet_tag tags[] = {{"v1", "0003"}, {"v2", "0005"}};

static const char *const names[EBB_FIX_HOSTS] = {
    "dev-01",  "dev-02",  "dev-03",  "stg-01",  "stg-02",  "stg-03",
    "prod-01", "prod-02", "prod-03", "prod-04", "prod-05", "prod-06",
};

const ebb_fleet_rev *ebb_fix_revs(void)
{
    return revs;
}

void ebb_fix_fleet_init(ebb_fix_fleet *f)
{
    memset(f, 0, sizeof *f);
    for (size_t i = 0; i < EBB_FIX_HOSTS; i++) {
        ebb_fleet_db *d = &f->dbs[i];
        d->name = "app";
        d->graph_hash = EBB_FIX_GRAPH;
        d->revs = revs;
        d->n_revs = 5;
        d->tags = tags;
        d->n_tags = 2;
        d->applied = ids;
        d->n_applied = i < 3 ? 5 : i < 6 ? 4 : 3;
        d->revision_known = true;
        ebb_fleet_host *h = &f->hosts[i];
        h->name = names[i];
        h->env = i < 3 ? "dev" : i < 6 ? "staging" : "prod";
        h->last_seen = EBB_FIX_NOW - 10;
        h->dbs = d;
        h->n_dbs = 1;
    }
    f->fleet.hosts = f->hosts;
    f->fleet.n_hosts = EBB_FIX_HOSTS;
    f->fleet.liveness_s = 60;
}

size_t ebb_fix_host(const ebb_fix_fleet *f, const char *name)
{
    for (size_t i = 0; i < EBB_FIX_HOSTS; i++)
        if (strcmp(f->hosts[i].name, name) == 0)
            return i;
    fail_msg("no fixture host %s", name);
    return 0;
}

void ebb_fix_set_applied(ebb_fix_fleet *f, const char *host, size_t n)
{
    f->dbs[ebb_fix_host(f, host)].n_applied = n;
}

ebb_plan_input ebb_fix_input(const ebb_fix_fleet *f, ebb_run_kind kind, const char *env,
                             const char *target)
{
    ebb_plan_input in;
    memset(&in, 0, sizeof in);
    in.kind = kind;
    in.target = target;
    in.fleet = &f->fleet;
    in.selection.env = env;
    in.requester = "op-alice";
    in.reason = kind == EBB_RUN_ROLLBACK ? "bad release" : "";
    in.now = EBB_FIX_NOW;
    return in;
}
