#!/usr/bin/env bash
# The Sqitch project tests/fixtures/sqitch/flipr (tags, reworked changes,
# dependencies, scripts wrapped in BEGIN/COMMIT) run by ebb: deploy, verify,
# revert to a tag, redeploy; and the same project deployed by the real sqitch
# ends with the fingerprint ebb's deployment has.
set -euo pipefail
. "$(dirname "$0")/lib_agent_db.sh"

PROJ="$EBB_SRC_DIR/tests/fixtures/sqitch/flipr"
BK="$WORK/backups"
DB=sqitch_ebb
DSN=$(new_db $DB)
fp() { "$AGENT" db fingerprint --dsn "$1"; }
applied() { q $DB "SELECT string_agg(revision, ',' ORDER BY seq) FROM ebb.applied"; }

# --- deploy with ebb --------------------------------------------------------------
agent db up --dsn "$DSN" --source "$PROJ" --kind sqitch --json
expect_rc 0
[ "$(js .done)" = 10 ] || fail "deployed $(js .done) changes, expected 10"
[ "$(js .to)" = "change_pass#2" ] || fail "now at $(js .to)"
FP_HEAD=$(fp "$DSN")
# The reworked insert_user is the pgcrypto one.
q $DB "SELECT prosrc FROM pg_proc WHERE proname = 'insert_user'" | grep -q crypt || fail "rework not deployed"

agent db verify --dsn "$DSN" --source "$PROJ"
expect_rc 0

# --- targets in Sqitch's syntax ----------------------------------------------------
agent db down --dsn "$DSN" --source "$PROJ" --to insert_user --dry-run
expect_rc 2
grep -q "ambiguous" "$WORK/err" || fail "reworked name should be ambiguous"
agent db down --dsn "$DSN" --source "$PROJ" --to '@v1.0.0-dev2' --dry-run --json
expect_rc 0
[ "$(js '[.steps[].revision] | join(",")')" = "change_pass#2,insert_user#2,pgcrypto" ] \
  || fail "path to @v1.0.0-dev2: $(js '[.steps[].revision] | join(",")')"

# --- revert to a tag, then redeploy ----------------------------------------------------
agent db down --dsn "$DSN" --source "$PROJ" --to '@v1.0.0-dev2' --backup-dir "$BK" --json
expect_rc 0
[ "$(js .done)" = 3 ] || fail "reverted $(js .done) changes"
q $DB "SELECT prosrc FROM pg_proc WHERE proname = 'insert_user'" | grep -q crypt \
  && fail "revert of the rework left the pgcrypto insert_user"
agent db down --dsn "$DSN" --source "$PROJ" --to 'users@HEAD' --backup-dir "$BK" --json
expect_rc 0
[ "$(applied)" = "appschema,users" ] || fail "after down to users@HEAD: $(applied)"
agent db up --dsn "$DSN" --source "$PROJ" --to '@HEAD' --json
expect_rc 0
[ "$(fp "$DSN")" = "$FP_HEAD" ] || fail "redeploy ends with another fingerprint"
agent db verify --dsn "$DSN" --source "$PROJ"
expect_rc 0

# --- a script with a COMMIT in the middle is refused, naming file and line ----------------
BAD="$WORK/bad"
cp -r "$PROJ" "$BAD"
printf 'BEGIN;\nCREATE TABLE t1 (id int);\nCOMMIT;\nCREATE TABLE t2 (id int);\n' > "$BAD/deploy/appschema.sql"
DSN2=$(new_db sqitch_bad)
agent db up --dsn "$DSN2" --source "$BAD"
expect_rc 4
grep -q "deploy/appschema.sql:3: " "$WORK/err" || fail "no file:line in $(cat "$WORK/err")"
[ "$(q sqitch_bad "SELECT count(*) FROM pg_tables WHERE tablename IN ('t1','t2')")" = 0 ] \
  || fail "refused script left tables"

# --- the real sqitch on another database: same fingerprint ----------------------------------
if command -v sqitch >/dev/null && perl -MDBD::Pg -e1 2>/dev/null; then
  DSN3=$(new_db sqitch_real)
  (cd "$PROJ" && sqitch deploy --verify "db:pg://$PGUSER@/sqitch_real?host=$PGHOST&port=$PGPORT" \
     >"$WORK/sqitch.log" 2>&1) || { cat "$WORK/sqitch.log" >&2; fail "sqitch deploy failed"; }
  # Sqitch's own registry (schema sqitch) is its bookkeeping, as schema ebb is ebb's.
  agent db up --dsn "$DSN3" --source "$PROJ"
  expect_rc 4
  grep -q "sqitch" "$WORK/err" || fail "a sqitch-managed database was not refused"
  q sqitch_real "DROP SCHEMA sqitch CASCADE" >/dev/null 2>&1
  [ "$(fp "$DSN3")" = "$FP_HEAD" ] || fail "sqitch and ebb deployments differ"
else
  echo "note: sqitch or DBD::Pg missing, comparison with the real sqitch skipped"
fi
echo "ok: sqitch"
