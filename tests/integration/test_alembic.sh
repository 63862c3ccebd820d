#!/usr/bin/env bash
# Alembic projects run by ebb with the real Alembic (Debian's alembic 1.8 with
# SQLAlchemy 1.4): a branch, a merge and a data migration; downgrade across the
# merge; targets; reconciliation with alembic_version after plain alembic ran;
# a downgrade broken on purpose in the middle of a path is restored from the
# backup and alembic_version and the fingerprint equal the starting ones.
set -euo pipefail
. "$(dirname "$0")/lib_agent_db.sh"

if ! /usr/bin/python3 -c 'import alembic, sqlalchemy, psycopg2' 2>/dev/null; then
  echo "SKIP: python3-alembic, python3-sqlalchemy or python3-psycopg2 missing"; exit 0
fi
PROJ="$EBB_SRC_DIR/tests/fixtures/alembic/branchy"
DB=alembic_t
DSN=$(new_db $DB)
BK="$WORK/backups"
# Plain alembic reads DATABASE_URL (the fixture's env.py), ebb passes its own DSN.
export DATABASE_URL="postgresql+psycopg2:///$DB?host=$PGHOST&port=$PGPORT&user=$PGUSER"
plain_alembic() { (cd "$PROJ" && /usr/bin/alembic "$@" 2>/dev/null); }
version() { q $DB "SELECT string_agg(version_num, ',' ORDER BY version_num) FROM alembic_version"; }
fp() { "$AGENT" db fingerprint --dsn "$DSN"; }

# --- up to heads: six revisions, one event and one fingerprint each -----------
agent db up --dsn "$DSN" --source "$PROJ" --json
expect_rc 0
[ "$(js .done)" = 6 ] || fail "up ran $(js .done) steps"
[ "$(version)" = 5e0000000006 ] || fail "alembic_version is $(version)"
[ "$(q $DB "SELECT count(*) FROM ebb.events WHERE kind = 'deploy'")" = 6 ] || fail "deploy events"
[ "$(q $DB "SELECT count(DISTINCT revision) FROM ebb.fingerprints WHERE revision IS NOT NULL")" = 6 ] \
  || fail "fingerprints per revision"
[ "$(q $DB "SELECT count(*) FROM notes WHERE body = 'welcome'")" = 3 ] || fail "data migration"
plain_alembic current | grep -q '5e0000000006 (head)' || fail "alembic current disagrees"
FP_HEAD=$(fp)

# --- targets --------------------------------------------------------------------
agent db down --dsn "$DSN" --source "$PROJ" --to 2b --dry-run --json
expect_rc 0
[ "$(js '[.steps[].revision] | join(",")')" = 5e0000000006,4d0000000005,3c0000000004,2a0000000002 ] \
  || fail "dry run path $(js '[.steps[].revision] | join(",")')"
js '.steps[1].sql' | grep -q "DELETE FROM notes WHERE body = 'welcome'" || fail "no offline SQL"
agent db up --dsn "$DSN" --source "$PROJ" --to head2 --dry-run
expect_rc 2
agent db down --dsn "$DSN" --source "$PROJ" --to 2 --dry-run
expect_rc 2
grep -q "ambiguous" "$WORK/err" || fail "prefix 2 should be ambiguous"

# --- downgrade across the merge, then back up by branch label ------------------------
# The risk gate reads Alembic's offline SQL: dropping notes (with rows) is refused first.
agent db down --dsn "$DSN" --source "$PROJ" --to 2a0000000002 --backup-dir "$BK" --json
expect_rc 4
js '[.risk.items[] | select(.kind == "DROP TABLE" and .data_at_risk)] | length' | grep -qv '^0$' \
  || fail "the offline SQL's DROP TABLE notes was not found at risk"
js '.risk.items[].file' | grep -q '2b0000000003_create_notes.py' || fail "item not tied to its .py"
[ "$(version)" = 5e0000000006 ] || fail "refused down changed alembic_version: $(version)"
agent db down --dsn "$DSN" --source "$PROJ" --to 2a0000000002 --backup-dir "$BK" \
  --accept-data-loss --json
expect_rc 0
[ "$(js .done)" = 4 ] || fail "down ran $(js .done) steps"
[ "$(version)" = 2a0000000002 ] || fail "after down alembic_version is $(version)"
[ "$(q $DB "SELECT count(*) FROM pg_tables WHERE tablename = 'notes'")" = 0 ] || fail "notes kept"
agent db up --dsn "$DSN" --source "$PROJ" --to notes@head --accept-data-loss --json  # UPDATE accounts
expect_rc 0
[ "$(version)" = 5e0000000006 ] || fail "notes@head: $(version)"
[ "$(fp)" = "$FP_HEAD" ] || fail "fingerprint after down and up differs"

# --- plain alembic moves the database; ebb reconciles from alembic_version ----
plain_alembic downgrade 4d0000000005
agent db up --dsn "$DSN" --source "$PROJ" --json
expect_rc 0
[ "$(js .done)" = 1 ] || fail "after plain downgrade ebb ran $(js .done) steps"
[ "$(q $DB "SELECT count(*) FROM ebb.events WHERE kind = 'stamp'")" -ge 1 ] || fail "no stamp event"

# --- a downgrade broken in the middle: stops there, restored, equal to the start --------
SUMS=$(table_sums $DB)
agent db down --dsn "$DSN" --source "$PROJ" --to base --backup-dir "$BK" --accept-data-loss --accept-unknown \
  --alembic-env EBB_TEST_BREAK_DOWN=2b0000000003 --json
expect_rc 6
[ "$(js .done)" = 3 ] || fail "broken down committed $(js .done) steps, expected 3"
[ "$(js .failed_revision)" = 2b0000000003 ] || fail "failed revision $(js .failed_revision)"
js .program_output | grep -q "broken on purpose" || fail "alembic output not shown"
[ "$(js .restored)" != null ] || fail "backup not restored"
[ "$(version)" = 5e0000000006 ] || fail "after restore alembic_version is $(version)"
[ "$(fp)" = "$FP_HEAD" ] || fail "after restore the fingerprint differs"
[ "$(table_sums $DB)" = "$SUMS" ] || fail "after restore the data differs"
[ "$(q $DB "SELECT count(*) FROM ebb.events WHERE kind = 'fail' AND revision = '2b0000000003'")" = 1 ] \
  || fail "no fail event for 2b0000000003"

# --- a changed migration file is refused before a down ---------------------------
COPY="$WORK/copy"
cp -r "$PROJ" "$COPY"
sed -i 's/CREATE INDEX notes_account_idx/CREATE INDEX  notes_account_idx/' \
  "$COPY/migrations/versions/5e0000000006_notes_index.py"
agent db down --dsn "$DSN" --source "$COPY" --to -1 --backup-dir "$BK"
expect_rc 4
grep -q "checksum" "$WORK/err" || fail "no checksum refusal"
echo "ok: alembic"
