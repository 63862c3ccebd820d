#!/usr/bin/env bash
# The agent daemon end to end: a real `ebb-agent run` process, the fake
# coordinator, a real PostgreSQL cluster. Enrollment (nothing runs before
# acceptance), every job kind once over the wire, a duplicate job id
# (executed once: journal and ebb.events), a forged and a replayed command
# (refused, counted, nothing runs), a service whose stop fails (the job
# fails, the agent keeps taking jobs), cancel of a running migration, SIGTERM
# finishing a running job.
set -euo pipefail
: "${EBB_BIN_DIR:?}" "${EBB_SRC_DIR:?}"
source "$EBB_SRC_DIR/tests/integration/lib_agent_daemon.sh"

setup
start_fc
start_agent

# --- enrollment: pending until accepted; the agent acts on nothing before
hello=$(fc_ok wait-hello host-1 1 15000)
[ "$(jq -r .hello.state <<<"$hello")" = pending ] || fail "first hello: $hello"
[ "$(jq -r '.hello.databases[0].name' <<<"$hello")" = app ] || fail "inventory: $hello"
[ "$(jq -r '.hello.databases[0].kind' <<<"$hello")" != null ] || fail "inventory kind: $hello"
fc_ok send job=early run=r0 action=inspect db=app >/dev/null
fc_ok wait-hello host-1 3 15000 >/dev/null   # it keeps saying hello, nothing else
out=$(fc wait-result early 1000)
[ "$(jq -r .ok <<<"$out")" = false ] || fail "a job ran before acceptance: $out"
[ "$(journal_count early received)" = 0 ] || fail "job journal has a job from before acceptance"
grep -q "waiting for an operator to accept key $AGENT_KEY_ID" "$W/agent.log" ||
  fail "no 'waiting for an operator' log line"
[ "$(st .state)" = pending ] || fail "status file state $(st .state)"
[ "$(fc_ok status | jq -r .polls)" = 0 ] || fail "a pending agent polled"

fc_ok accept host-1 >/dev/null
r=$(expect_outcome early succeeded)
[ "$(jq -r .action <<<"$r")" = inspect ] || fail "early: $r"
[ "$(st .state)" = accepted ] || fail "status file state after accept: $(st .state)"

# --- every job kind once over the wire
"$W/svc-start.sh"
"$W/svc-status.sh" || fail "fake service did not start"
fc_ok send job=stop1 run=r1 action=stop_services db=app >/dev/null
expect_outcome stop1 succeeded >/dev/null
"$W/svc-status.sh" && fail "service still running after stop_services"

fc_ok send job=m1 run=r1 action=migrate db=app target=1 reason=test >/dev/null
r=$(expect_outcome m1 succeeded)
[ "$(revisions)" = 1 ] || fail "after m1: revisions $(revisions)"
[ "$(jq -r '.revisions_after[0]' <<<"$r")" = 1 ] || fail "m1 result: $r"

fc_ok send job=b1 run=r1 action=backup db=app >/dev/null
r=$(expect_outcome b1 succeeded 60)
BACKUP_ID=$(jq -r .backup_id <<<"$r")
[ -n "$BACKUP_ID" ] && [ "$BACKUP_ID" != null ] || fail "backup without id: $r"
[ "$(jq -r .backup_checksum <<<"$r")" != null ] || fail "backup without checksum: $r"

fc_ok send job=m2 run=r2 action=migrate db=app target=2 reason=test >/dev/null
expect_outcome m2 succeeded >/dev/null
[ "$(revisions)" = 1,2 ] || fail "after m2: revisions $(revisions)"

fc_ok send job=v1 run=r2 action=verify db=app >/dev/null
expect_outcome v1 succeeded >/dev/null

fc_ok send job=pc1 run=r2 action=precheck db=app target=head >/dev/null
r=$(expect_outcome pc1 succeeded)
[ "$(jq -r .action <<<"$r")" = precheck ] || fail "precheck: $r"

fc_ok send job=rs1 run=r3 action=restore db=app backup=$BACKUP_ID >/dev/null
expect_outcome rs1 succeeded 60 >/dev/null
[ "$(revisions)" = 1 ] || fail "after restore: revisions $(revisions)"
[ "$(q app "SELECT count(*) FROM information_schema.columns WHERE table_name='items' AND column_name='price'")" = 0 ] ||
  fail "restore left the price column"

fc_ok send job=m3 run=r4 action=migrate db=app target=2 >/dev/null
expect_outcome m3 succeeded >/dev/null

fc_ok send job=start1 run=r4 action=start_services db=app >/dev/null
expect_outcome start1 succeeded >/dev/null
"$W/svc-status.sh" || fail "service not running after start_services"

fc_ok send job=h1 run=r4 action=health db=app >/dev/null
expect_outcome h1 succeeded >/dev/null

# --- a duplicate job id: the recorded result again, executed once
events_before=$(q app "SELECT count(*) FROM ebb.events WHERE run_id = 'r2'")
[ "$events_before" -ge 1 ] || fail "m2 left no ebb.events row"
fc_ok send job=m2 run=r2 action=migrate db=app target=2 >/dev/null
wait_for 15 'test "$(deliveries m2)" = 2' || fail "duplicate m2 not answered"
[ "$(journal_count m2 received)" = 1 ] || fail "m2 received $(journal_count m2 received) times"
[ "$(journal_count m2 started)" = 1 ] || fail "m2 started twice"
[ "$(q app "SELECT count(*) FROM ebb.events WHERE run_id = 'r2'")" = "$events_before" ] ||
  fail "the duplicate wrote ebb.events"
wait_for 5 'test "$(st .counters.jobs_resent_from_journal)" = 1' || fail "resend not counted"

# --- a forged command (signed by a key the agent never pinned): refused, counted, nothing runs
fc_ok forge job=forged1 run=rf action=migrate db=app target=base >/dev/null
wait_for 15 'test "$(rejected env-unknown-signer)" = 1' || fail "forged reply not counted: $(cat "$W/status.json")"
out=$(fc wait-result forged1 2000)
[ "$(jq -r .ok <<<"$out")" = false ] || fail "forged job answered: $out"
[ "$(journal_count forged1 received)" = 0 ] || fail "forged job reached the journal"
[ "$(revisions)" = 1,2 ] || fail "forged job changed the database: $(revisions)"
grep -q "rejected a message from the coordinator side" "$W/agent.log" || fail "no rejection log line"

# --- a replayed PollReply (the sealed bytes that carried m1): refused as a replay
fc_ok replay m1 >/dev/null
wait_for 15 'test "$(rejected env-replay)" = 1' || fail "replay not counted: $(cat "$W/status.json")"
sleep 1
[ "$(deliveries m1)" = 1 ] || fail "m1 answered again after the replay"
[ "$(journal_count m1 received)" = 1 ] || fail "m1 received twice"
[ "$(st .counters.rejected_total)" -ge 2 ] || fail "rejected_total $(st .counters.rejected_total)"

# --- a service whose stop fails: the job fails with the reason; the agent keeps taking jobs
touch "$W/fail-stop"
fc_ok send job=sf1 run=r5 action=stop_services db=app >/dev/null
r=$(expect_outcome sf1 failed)
grep -q "maintenance lock" <<<"$(jq -r .error_message <<<"$r")" || fail "stop failure reason missing: $r"
"$W/svc-status.sh" || fail "service stopped although stop failed"
fc_ok send job=after1 run=r5 action=inspect db=app >/dev/null
expect_outcome after1 succeeded >/dev/null
rm -f "$W/fail-stop"

# --- cancel: runs beside the job it cancels; the cancelled step rolls back
fc_ok send job=c1 run=r7 action=migrate db=app target=4 >/dev/null
wait_for 15 'test "$(journal_count c1 started)" = 1' || fail "c1 did not start"
sleep 1
fc_ok send job=x1 run=r7 action=cancel cancel=c1 >/dev/null
expect_outcome x1 succeeded >/dev/null
expect_outcome c1 cancelled >/dev/null
[ "$(revisions)" = 1,2 ] || fail "after the cancelled migrate: revisions $(revisions)"

# --- SIGTERM: the running job finishes and is reported, then the agent exits
fc_ok send job=t1 run=r6 action=migrate db=app target=4 >/dev/null
wait_for 15 'test "$(journal_count t1 started)" = 1' || fail "t1 did not start"
kill -TERM "$AGENT_PID"
r=$(expect_outcome t1 succeeded 30)
wait "$AGENT_PID" || fail "agent exited with $? after SIGTERM"
AGENT_PID=
[ "$(revisions)" = 1,2,3,4 ] || fail "after t1: revisions $(revisions)"
[ "$(fc_ok status | jq -r '.progress')" -ge 1 ] || fail "no progress message for the slow job"
[ "$(fc_ok status | jq -r '.rejected | length')" = 0 ] || fail "the coordinator rejected agent messages"
grep -q "counters at exit" "$W/agent.log" || fail "no counters logged at exit"
fc_ok quit >/dev/null
echo "ok: agent daemon end to end"
