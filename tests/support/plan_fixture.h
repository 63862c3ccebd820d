/* A fleet of 12 hosts in dev/staging/prod with one database each, for planner and rollout tests. */
#ifndef EBB_TESTS_PLAN_FIXTURE_H
#define EBB_TESTS_PLAN_FIXTURE_H

#include <stdbool.h>

#include "coordinator/plan.h"

#define EBB_FIX_NOW 1700000000LL
#define EBB_FIX_HOSTS 12
#define EBB_FIX_GRAPH "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
#define EBB_FIX_OTHER_GRAPH "ffee0000111122223333444455556666777788889999aaaabbbbccccddddeeee"

/*
 * Revisions 0001..0005, linear, tags @v1 = 0003 and @v2 = 0005. 0002 and
 * 0004 lose data when reverted (their downs drop a column / a table), 0005
 * is a backfill (its up rewrites data) without a down script.
 * dev-01..03 are at 0005, stg-01..03 at 0004, prod-01..06 at 0003; every
 * host has database "app", was seen 10 s before EBB_FIX_NOW and shares
 * EBB_FIX_GRAPH. Tests change fields of the arrays freely.
 */
typedef struct ebb_fix_fleet {
    ebb_fleet_db dbs[EBB_FIX_HOSTS];
    ebb_fleet_host hosts[EBB_FIX_HOSTS];
    ebb_fleet fleet;
} ebb_fix_fleet;

void ebb_fix_fleet_init(ebb_fix_fleet *f);

/* Index of host name in f->hosts (fails the test when absent). */
size_t ebb_fix_host(const ebb_fix_fleet *f, const char *name);

/* Point host's database at the first n revisions of the fixture graph. */
void ebb_fix_set_applied(ebb_fix_fleet *f, const char *host, size_t n);

/* A plan input for env against f: target, now = EBB_FIX_NOW, requester "op-alice". */
ebb_plan_input ebb_fix_input(const ebb_fix_fleet *f, ebb_run_kind kind, const char *env,
                             const char *target);

/* The fixture's revision list (5 entries) for tests that need a variant. */
const ebb_fleet_rev *ebb_fix_revs(void);

#endif
