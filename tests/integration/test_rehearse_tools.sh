#!/usr/bin/env bash
# `ebb-agent db rehearse` on Sqitch and Alembic projects: every revision is
# walked up, down and up again on a scratch copy (for Alembic through
# Alembic, across its branch and merge); a downgrade broken on purpose is
# found; the real database is never touched.
set -euo pipefail
. "$EBB_SRC_DIR/tests/integration/lib_agent_db.sh"

# --- Sqitch: the flipr tutorial project (tags, reworked changes) from nothing ---
sq=$(new_db sq)
cp -r "$EBB_SRC_DIR/tests/fixtures/sqitch/flipr" "$WORK/flipr"
agent db rehearse --dsn "$sq" --source "$WORK/flipr" --from base --reason "ci" --json
expect_rc 0
[ "$(jq '.revisions | length' <"$WORK/out")" = 10 ] || fail "sqitch: $(jq -c .revisions <"$WORK/out")"
[ "$(jq '[.revisions[] | select(.verdict != "ok")] | length' <"$WORK/out")" = 0 ] ||
  fail "sqitch verdicts: $(jq -c '[.revisions[] | {revision, verdict}]' <"$WORK/out")"
[ "$(q "$sq" "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog','information_schema')")" = 0 ] ||
  fail "sqitch: the real database was changed"
echo "ok sqitch: 10 revisions rehearsed"

# --- Alembic: branch, merge and a data migration, through the real Alembic ---
al=$(new_db al)
PROJ="$EBB_SRC_DIR/tests/fixtures/alembic/branchy"
agent db rehearse --dsn "$al" --source "$PROJ" --from base --reason "ci" --json
expect_rc 0
[ "$(jq '[.revisions[] | select(.verdict == "ok")] | length' <"$WORK/out")" = 6 ] ||
  fail "alembic verdicts: $(jq -c '[.revisions[] | {revision, verdict}]' <"$WORK/out")"
echo "ok alembic: 6 revisions across the branch and the merge"

# The fixture's downgrade of 2b0000000003 raises when EBB_TEST_BREAK_DOWN names it.
agent db rehearse --dsn "$al" --source "$PROJ" --from base --reason "ci" \
  --alembic-env EBB_TEST_BREAK_DOWN=2b0000000003 --json
expect_rc 1
[ "$(jq -r '.revisions[] | select(.revision == "2b0000000003") | .verdict' <"$WORK/out")" = down_failed ] ||
  fail "broken alembic down not found: $(jq -c '[.revisions[] | {revision, verdict}]' <"$WORK/out")"
[ "$(jq '[.revisions[] | select(.verdict != "ok")] | length' <"$WORK/out")" = 1 ] ||
  fail "only the broken down should be reported: $(jq -c '[.revisions[] | {revision, verdict}]' <"$WORK/out")"
[ "$(q "$al" "SELECT count(*) FROM pg_tables WHERE tablename = 'alembic_version'")" = 0 ] ||
  fail "alembic: the real database was changed"
[ "$(q postgres "SELECT count(*) FROM pg_database WHERE datname LIKE 'ebb_rehearse_%'")" = 0 ] ||
  fail "a scratch database was left behind"
echo "ok alembic: the broken downgrade is found, nothing else"
echo PASS
