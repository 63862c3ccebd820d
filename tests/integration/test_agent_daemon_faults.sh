#!/usr/bin/env bash
# Fault drills for the agent daemon (real agent process, fake coordinator,
# real PostgreSQL): the coordinator goes away during a job (the result
# arrives after it comes back); the coordinator is away when a job ends and
# the agent is killed before it could deliver (the result comes from the job
# journal after the restart); SIGKILL of the agent in the middle of a
# migration step (the database holds the old revision, never something in
# between; after the restart the job is reported interrupted, in the hello
# and as a result, and is not run again when its id is sent again).
set -euo pipefail
: "${EBB_BIN_DIR:?}" "${EBB_SRC_DIR:?}"
SLOW_S=3
source "$EBB_SRC_DIR/tests/integration/lib_agent_daemon.sh"

setup
start_fc
start_agent
fc_ok wait-hello host-1 1 15000 >/dev/null
fc_ok accept host-1 >/dev/null
fc_ok send job=m1 run=r1 action=migrate db=app target=2 >/dev/null
expect_outcome m1 succeeded >/dev/null
[ "$(revisions)" = 1,2 ] || fail "after m1: $(revisions)"

# --- the coordinator goes away while a job runs, and comes back
fc_ok send job=u1 run=r2 action=migrate db=app target=3 >/dev/null
wait_for 15 'test "$(journal_count u1 started)" = 1' || fail "u1 did not start"
fc_ok stop >/dev/null
wait_for 20 'test "$(journal_count u1 finished)" = 1' || fail "u1 did not finish while the coordinator was away"
wait_for 10 'grep -qx u1 "$W/jobs.journal.undelivered"' || fail "u1 not listed as undelivered"
wait_for 10 'test "$(st .counters.calls_failed)" -ge 1' || fail "no failed call counted"
[ "$(st .connected)" = false ] || fail "status says connected while the coordinator is away"
sleep 2 # a few reconnect attempts with backoff
fc_ok start >/dev/null
r=$(expect_outcome u1 succeeded 30)
[ "$(jq -r '.revisions_after[0]' <<<"$r")" = 3 ] || fail "u1 result: $r"
[ "$(revisions)" = 1,2,3 ] || fail "after u1: $(revisions)"
wait_for 10 'test ! -s "$W/jobs.journal.undelivered"' || fail "u1 still listed as undelivered after the Ack"
[ "$(deliveries u1)" = 1 ] || fail "u1 delivered $(deliveries u1) times"
grep -q "retrying in" "$W/agent.log" || fail "no backoff logged"

# --- the coordinator is away when a job ends, then the agent is killed: the result survives
fc_ok send job=u2 run=r3 action=migrate db=app target=4 >/dev/null
wait_for 15 'test "$(journal_count u2 started)" = 1' || fail "u2 did not start"
fc_ok stop >/dev/null
wait_for 20 'test "$(journal_count u2 finished)" = 1' || fail "u2 did not finish"
wait_for 10 'grep -qx u2 "$W/jobs.journal.undelivered"' || fail "u2 not listed as undelivered"
kill -9 "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null || true
start_agent
fc_ok start >/dev/null
r=$(expect_outcome u2 succeeded 30)
[ "$(revisions)" = 1,2,3,4 ] || fail "after u2: $(revisions)"
[ "$(journal_count u2 started)" = 1 ] || fail "u2 ran again after the restart"

# --- SIGKILL in the middle of a migration step
hellos=$(fc_ok wait-hello host-1 1 1000 | jq -r .count)
fc_ok send job=k1 run=r4 action=migrate db=app target=5 >/dev/null
wait_for 15 'test "$(journal_count k1 started)" = 1' || fail "k1 did not start"
wait_for 15 'test "$(q app "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '\''%pg_sleep%'\'' AND pid <> pg_backend_pid()")" -ge 1' ||
  fail "the slow step is not running"
kill -9 "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null || true
AGENT_PID=
# The orphaned backend finishes its statement, cannot answer, and rolls back.
wait_for 30 'test "$(q app "SELECT count(*) FROM pg_stat_activity WHERE datname = '\''app'\'' AND pid <> pg_backend_pid() AND backend_type = '\''client backend'\''")" = 0' ||
  fail "the killed agent's session did not end"
[ "$(revisions)" = 1,2,3,4 ] || fail "after the kill: revisions $(revisions)"
[ "$(q app "SELECT count(*) FROM pg_tables WHERE tablename = 'slow_c'")" = 0 ] ||
  fail "a half-applied migration is visible"
[ "$(journal_count k1 finished)" = 0 ] || fail "k1 finished before the kill?"

start_agent
hello=$(fc_ok wait-hello host-1 $((hellos + 1)) 20000)
intr=$(jq -c '.hello.interrupted_jobs[] | select(.job_id == "k1")' <<<"$hello")
[ -n "$intr" ] || fail "k1 not reported interrupted in the hello: $hello"
[ "$(jq -r .outcome <<<"$intr")" = interrupted ] || fail "k1 in the hello: $intr"
[ "$(jq -r '.revisions_after | join(",")' <<<"$intr")" = 4 ] || fail "k1 interrupted at: $intr"
applied=$(jq -r '[.hello.databases[0].revisions[] | select(.applied) | .id] | join(",")' <<<"$hello")
[ "$applied" = 1,2,3,4 ] || fail "hello revision graph: applied $applied: $hello"
[ "$(jq -r '.hello.databases[0].revisions[4].parents[0]' <<<"$hello")" = 4 ] || fail "graph parents: $hello"
r=$(expect_outcome k1 interrupted 30)
# Sent again with the same id: the recorded result, nothing runs.
fc_ok send job=k1 run=r4 action=migrate db=app target=5 >/dev/null
wait_for 15 'test "$(deliveries k1)" = 2' || fail "k1 sent again was not answered"
sleep $((SLOW_S + 1))
[ "$(journal_count k1 started)" = 1 ] || fail "k1 was run again"
[ "$(revisions)" = 1,2,3,4 ] || fail "k1 changed the database after the restart: $(revisions)"
[ "$(q app "SELECT count(*) FROM pg_tables WHERE tablename = 'slow_c'")" = 0 ] ||
  fail "k1 ran again"

kill -TERM "$AGENT_PID"
wait "$AGENT_PID" || fail "agent exit code $? after SIGTERM"
AGENT_PID=
[ "$(fc_ok status | jq -r '.rejected | length')" = 0 ] || fail "the coordinator rejected agent messages"
fc_ok quit >/dev/null
echo "ok: agent daemon fault drills"
