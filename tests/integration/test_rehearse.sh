#!/usr/bin/env bash
# Integration: `ebb-agent db rehearse` on a real cluster with tests/fixtures/migrations/rehearse_cases
# (one broken down, one down that leaves an enum type behind, one irreversible step): the report
# finds exactly those three; the original database's fingerprint, registry and data are unchanged;
# the scratch database is gone (or kept with --keep); --from base on an empty scratch; the
# pg_dump | pg_restore copy when a session is connected to the source; a role without CREATEDB.
set -euo pipefail
. "$(dirname "$0")/lib_agent_db.sh"

src="$FIX/rehearse_cases"
scratch_dbs() { q postgres "SELECT count(*) FROM pg_database WHERE datname LIKE 'ebb\_rehearse\_%'"; }

db=app
dsn=$(new_db $db)
agent db up --dsn "$dsn" --source "$src" --to 1
expect_rc 0
q $db "INSERT INTO users (id, name, legacy_code) SELECT g, 'user' || g, 'L' || g FROM generate_series(1, 50) g"
agent db fingerprint --dsn "$dsn"
fp0=$(cat "$WORK/out")
sums0=$(table_sums $db)
registry0=$(q $db "SELECT string_agg(revision || ':' || up_checksum, ',' ORDER BY seq) FROM ebb.applied")
events0=$(q $db "SELECT count(*) FROM ebb.events")

# What must hold after every rehearsal: the original database untouched, no scratch left behind.
original_unchanged() {
  agent db fingerprint --dsn "$dsn"
  [ "$(cat "$WORK/out")" = "$fp0" ] || fail "$1: the original's fingerprint changed"
  [ "$(table_sums $db)" = "$sums0" ] || fail "$1: the original's data changed"
  [ "$(q $db "SELECT string_agg(revision || ':' || up_checksum, ',' ORDER BY seq) FROM ebb.applied")" = "$registry0" ] ||
    fail "$1: the original's registry changed"
  [ "$(q $db "SELECT count(*) FROM ebb.events")" = "$events0" ] || fail "$1: events added to the original"
}

# ---- 1. the three cases, found exactly, on a TEMPLATE copy ----
agent db rehearse --dsn "$dsn" --source "$src" --json
expect_rc 1
cp "$WORK/out" "$WORK/report1.json"
[ "$(js .scratch.method)" = template ] || fail "copy method $(js .scratch.method)"
[ "$(js .from)" = 1 ] && [ "$(js .to)" = 6 ] || fail "range $(js .from)..$(js .to)"
[ "$(js '[.revisions[].revision] | join(",")')" = 2,3,4,5,6 ] || fail "revisions $(js '[.revisions[].revision]')"
[ "$(js '[.revisions[] | select(.verdict != "ok") | .revision + "=" + .verdict] | join(",")')" = \
  "2=down_failed,3=drift,5=irreversible" ] ||
  fail "findings: $(js '[.revisions[] | .revision + "=" + .verdict] | join(",")')"
[ "$(js '.revisions[] | select(.revision == "2") | .sqlstate')" = 42P01 ] || fail "broken down: sqlstate"
js '.revisions[] | select(.revision == "2") | .error' | grep -q 'order_list' || fail "broken down: error text"
[ "$(js '[.revisions[] | select(.revision == "3") | .drift[].object] | join(",")')" = "enum public.mood" ] ||
  fail "drift objects: $(js '[.revisions[] | select(.revision == "3") | .drift[].object]')"
[ "$(js '.revisions[] | select(.revision == "3") | .steps.reup')" = true ] || fail "drift: re-up"
[ "$(js '.revisions[] | select(.revision == "5") | .irreversible')" = directive ] || fail "irreversible: why"
[ "$(js .broken)" = 2 ] || fail "broken count $(js .broken) (irreversible is not counted without --strict)"
[ "$(js .exit_code)" = 1 ] && [ "$(js .stopped)" = null ] || fail "exit_code/stopped"
[ "$(scratch_dbs)" = 0 ] || fail "scratch database left behind"
original_unchanged "template copy"
echo "ok findings on a template copy"

# ---- 2. the human table; --strict counts the irreversible step ----
agent db rehearse --dsn "$dsn" --source "$src"
expect_rc 1
grep -Eq '^2 +orders +down_failed +revision 2' "$WORK/out" || fail "table: down_failed row"
grep -Eq '^3 +mood +drift .*enum public.mood' "$WORK/out" || fail "table: drift row"
grep -Eq '^5 +drop_legacy +irreversible +by design' "$WORK/out" || fail "table: irreversible row"
agent db rehearse --dsn "$dsn" --source "$src" --strict --json
expect_rc 1
[ "$(js .broken)" = 3 ] || fail "--strict: broken $(js .broken)"
# A range without broken rollbacks exits 0.
agent db rehearse --dsn "$dsn" --source "$src" --from 3 --to 4 --json
expect_rc 0
[ "$(js '[.revisions[] | .revision + "=" + .verdict] | join(",")')" = "4=ok" ] || fail "range 3..4: $(js '[.revisions[].verdict]')"
# --to below --from is a usage error.
agent db rehearse --dsn "$dsn" --source "$src" --from 4 --to 2
expect_rc 2
[ "$(scratch_dbs)" = 0 ] || fail "scratch database left behind (ranges)"
original_unchanged "tables and ranges"
echo "ok table, --strict, ranges"

# ---- 3. --keep keeps the scratch copy at the end of the range ----
agent db rehearse --dsn "$dsn" --source "$src" --to 4 --keep --json
expect_rc 1
kept=$(js .scratch.name)
[ "$(js .scratch.kept)" = true ] || fail "--keep: not reported as kept"
case "$kept" in ebb_rehearse_app_*) ;; *) fail "--keep: name $kept" ;; esac
[ "$(q postgres "SELECT count(*) FROM pg_database WHERE datname = '$kept'")" = 1 ] || fail "--keep: $kept is gone"
[ "$(q "$kept" "SELECT revision FROM ebb.applied ORDER BY seq DESC LIMIT 1")" = 4 ] || fail "--keep: copy not at 4"
[ "$(q "$kept" "SELECT count(*) FROM users")" = 50 ] || fail "--keep: the copy lacks the data"
q postgres "DROP DATABASE \"$kept\""
original_unchanged "--keep"
echo "ok --keep"

# ---- 4. --from base: a whole project from nothing on an empty scratch database ----
agent db rehearse --dsn "$dsn" --source "$src" --from base --json
expect_rc 1
[ "$(js .scratch.method)" = empty ] || fail "--from base: method $(js .scratch.method)"
[ "$(js .from)" = null ] || fail "--from base: from $(js .from)"
[ "$(js '[.revisions[] | .revision + "=" + .verdict] | join(",")')" = \
  "1=ok,2=down_failed,3=drift,4=ok,5=irreversible,6=ok" ] ||
  fail "--from base: $(js '[.revisions[] | .revision + "=" + .verdict] | join(",")')"
[ "$(scratch_dbs)" = 0 ] || fail "--from base: scratch left behind"
original_unchanged "--from base"
echo "ok --from base"

# ---- 5. a session on the source: copied with pg_dump | pg_restore instead ----
"$PSQL" -XAtq -d $db -c "SELECT pg_sleep(120)" >/dev/null 2>&1 &
sleeper=$!
for _ in $(seq 50); do
  [ "$(q postgres "SELECT count(*) FROM pg_stat_activity WHERE datname = '$db' AND query LIKE '%pg_sleep%'")" = 1 ] && break
  sleep 0.1
done
agent db rehearse --dsn "$dsn" --source "$src" --json
expect_rc 1
kill "$sleeper" 2>/dev/null || true
wait "$sleeper" 2>/dev/null || true
[ "$(js .scratch.method)" = dump-restore ] || fail "busy source: method $(js .scratch.method)"
[ "$(js .scratch.sessions_on_source)" -ge 1 ] || fail "busy source: sessions"
[ "$(js '[.revisions[] | .revision + "=" + .verdict] | join(",")')" = \
  "$(jq -r '[.revisions[] | .revision + "=" + .verdict] | join(",")' "$WORK/report1.json")" ] ||
  fail "dump-restore copy: findings differ from the template copy"
[ "$(scratch_dbs)" = 0 ] || fail "dump-restore: scratch left behind"
original_unchanged "dump-restore"
echo "ok dump-restore fallback"

# ---- 6. a role without CREATEDB gets a clear refusal ----
q postgres "CREATE ROLE ebb_nocreate LOGIN"
agent db rehearse --dsn "$dsn user=ebb_nocreate" --source "$src" --from 1 --json
expect_rc 4
js .error.message | grep -q CREATEDB || fail "no CREATEDB: $(js .error.message)"
[ "$(scratch_dbs)" = 0 ] || fail "no CREATEDB: scratch created"
echo "ok no CREATEDB"

# ---- 7. a real down through the irreversible step is refused before anything runs ----
db2=irrev
dsn2=$(new_db $db2)
agent db up --dsn "$dsn2" --source "$src" --to 5 --accept-unknown  # 3_mood.up.sql has a DO block
expect_rc 0
agent db down --dsn "$dsn2" --source "$src" --to 4 --backup-dir "$WORK/b7" --json
expect_rc 4
js .error.message | grep -q 'ebb:irreversible' || fail "irreversible down: $(js .error.message)"
[ "$(q $db2 "SELECT revision FROM ebb.applied ORDER BY seq DESC LIMIT 1")" = 5 ] || fail "irreversible down: moved"
echo "ok irreversible down refused"

# ---- 8. SIGINT during a step: the walk stops after it, reports the rest as not run, drops the copy ----
slow="$FIX/rollback_cases/slow" # its down sleeps 4 s
"$AGENT" db rehearse --dsn "$dsn" --source "$slow" --from base --json >"$WORK/out" 2>"$WORK/err" &
pid=$!
for _ in $(seq 100); do
  grep -q '1 down' "$WORK/err" 2>/dev/null && break
  sleep 0.1
done
kill -INT "$pid"
set +e; wait "$pid"; rc=$?; set -e
expect_rc 1
[ "$(js .interrupted)" = true ] && [ "$(js .stopped)" = interrupted ] || fail "SIGINT: $(js '{interrupted, stopped}')"
[ "$(js '[.revisions[].verdict] | join(",")')" = not_run ] || fail "SIGINT: verdicts $(js '[.revisions[].verdict]')"
[ "$(scratch_dbs)" = 0 ] || fail "SIGINT: scratch left behind"
echo "ok SIGINT"
