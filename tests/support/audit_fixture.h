/* A realistic audit journal for tests: a rollout, a compensated and an aborted rollback. */
#ifndef EBB_TESTS_SUPPORT_AUDIT_FIXTURE_H
#define EBB_TESTS_SUPPORT_AUDIT_FIXTURE_H

#include "common/error.h"
#include "common/keys.h"

/* Operator key ids used by the fixture. */
#define EBB_FIXTURE_ALICE "a11ce0000000a11c"
#define EBB_FIXTURE_BOB "b0b0000000000b0b"
#define EBB_FIXTURE_CAROL "ca401000000ca401"
/* The secret an operator pasted into a reason; must never reach the journal. */
#define EBB_FIXTURE_SECRET "hunter2"
#define EBB_FIXTURE_URI_SECRET "s3cretpw"

/*
 * Create the journal at path (must not exist) signed by key (may be NULL)
 * and write three runs, 2024-05-01 .. 2024-05-03 (UTC):
 *   r-0001 rollout to 0043, staging, alice, db1+db2 ok -> succeeded
 *   r-0002 rollback to 0041, prod, bob, approved by carol; db3 migrate fails
 *          (23503), restored from backup; db4 compensated -> compensated.
 *          Its reason holds a comma, quotes, a newline and password=hunter2.
 *   r-0003 rollback to 0040, prod, alice; halted by bob, resumed, aborted by
 *          alice on db5 -> aborted
 */
EBB_MUSTCHECK ebb_code ebb_test_audit_fixture_write(const char *path, const ebb_secret_key *key,
                                                    ebb_error *err);

#endif
