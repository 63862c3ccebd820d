#!/bin/bash
# A host that stays cut off past silent_s (network namespaces,
# lib_netns_fleet.sh). Two hosts, h1 the canary. h1's link goes down while
# its migrate step runs; the step completes locally. The coordinator marks
# h1 unknown after migrate_s, then failed after silent_s more, and follows
# the run's policy (on_failure = halt, budget 0): nothing else starts (h2
# never gets a job) and the run ends failed, with h1's error saying it went
# silent. After the link returns, the late result is delivered and
# acknowledged (it matches no job out: the run is over) and h1 is not asked
# to run anything again; the coordinator's fleet view then shows what h1
# really holds (revision 2, from its hello). `ebb resume` is refused; no job
# ran twice; `ebb audit verify` passes.
#
# Timeouts (environment "net"): migrate_s = 12 (the migration sleeps 4 s),
# silent_s = 4, liveness_s = 3. Skipped (exit 77) where network namespaces
# cannot be created.
NETNS_N=2
WAVES='canary = 1; budget = 0; on_failure = "halt";'
MIGRATE_SLEEP_S=4
TIMEOUTS='default_s = 30; migrate_s = 12; silent_s = 4;'
source "$EBB_SRC_DIR/tests/integration/lib_netns_fleet.sh"

step "setup: namespaces, coordinator, two agents over veth"
setup_netns_fleet
accept_all

step "rollout net -> 2; h1 (the canary) is cut off while its migrate step runs"
ebb_as alice rollout --env net --to 2 --reason "release 2" --json
expect_rc 0
RUN=$(started_run)
wait_for 60 'MJ=$(job_of h1 "$RUN" migrate); [ -n "$MJ" ] && [ "$(job_recs h1 "$MJ" started)" = 1 ]' ||
  fail "h1's migrate step did not start: $(cat "$W/agent-h1.jobs" 2>/dev/null)"
[ "$(job_recs h1 "$MJ" finished)" = 0 ] || fail "h1's migrate step ended before the cut"
cut 1
step "cut h1 (migrate job $MJ running)"
wait_for 30 '[ "$(job_recs h1 "$MJ" finished)" = 1 ]' || fail "h1's migrate step did not finish locally"
[ "$(job_outcome h1 "$MJ")" = succeeded ] || fail "h1's migrate step: $(job_outcome h1 "$MJ")"
expect_rev 2 h1
registry_consistent h1 2

step "unknown after migrate_s, failed after silent_s: the run halts per its policy and ends failed"
wait_for 40 '[[ " unknown failed " == *" $(host_state "$RUN" h1) "* ]]' ||
  fail "h1 not marked unknown: $(cat "$W/out")"
wait_for 30 '[ "$(run_state "$RUN")" = failed ]' || fail "run $RUN did not fail: $(cat "$W/out")"
[ "$(host_state "$RUN" h1)" = failed ] || fail "h1: $(cat "$W/out")"
[ "$(js '[.hosts[] | select(.host == "h1")][0].error')" != null ] &&
  js '[.hosts[] | select(.host == "h1")][0].error' | grep -q "host silent" ||
  fail "h1's error does not say it went silent: $(cat "$W/out")"
[ "$(js .hosts_failed)" = 1 ] || fail "run $RUN: $(cat "$W/out")"
[ -z "$(job_of h2 "$RUN" precheck)$(job_of h2 "$RUN" stop_services)$(job_of h2 "$RUN" migrate)" ] ||
  fail "h2 got jobs of a run that halted on h1"
expect_rev base h2
[[ " $(undelivered h1) " == *" $MJ "* ]] || fail "h1's result left its outbox while cut"

step "heal h1: the late result is acknowledged, nothing runs again"
heal 1
T_HEAL=$(date +%s)
wait_for 60 '[ -z "$(undelivered h1)" ]' ||
  fail "h1's late result was not acknowledged: $(cat "$W/agent-h1.status")"
step "late result delivered $(( $(date +%s) - T_HEAL ))s after the link returned"
grep -q "result of job $MJ from h1 matches no job out" "$W/coord.log" ||
  fail "the coordinator did not log the late result"
[ "$(run_state "$RUN")" = failed ] || fail "run $RUN changed after the late result: $(cat "$W/out")"
ebb_as alice resume "$RUN" --reason "h1 is back"
expect_rc 4
# The fleet view comes from the hello: it shows what h1 really holds.
wait_for 20 'ebb_as alice status --json; [ "$(js "[.environments[].hosts[] | select(.host == \"h1\" or .id == \"h1\")][0].databases[0].current[0]")" = 2 ]' ||
  fail "ebb status does not show h1 at 2: $(cat "$W/out")"
expect_rev 2 h1
expect_rev base h2
# Nothing of the run was sent to h1 after the migrate step.
[ -z "$(job_of h1 "$RUN" verify)" ] || fail "h1 got a verify job of a failed run"
no_job_twice h1 "$RUN"
# The audit holds h1's steps up to the backup and the run's end (failed); the
# migrate step that the coordinator gave up on has no step result in it, and
# the late result is only in the coordinator log (a gap, reported).
ebb_as bob audit --run "$RUN" --json
expect_rc 0
n=$(js '[.[0].records[] | select(.type == "audit.step_result" and .payload.host == "h1" and .payload.step == "migrate")] | length')
[ "$n" -le 1 ] || fail "h1: $n migrate results in the audit of run $RUN"
[ "$(js '[.[0].records[] | select(.type == "audit.run_end")][0].payload.outcome')" = failed ] ||
  fail "the audit does not end run $RUN failed: $(cat "$W/out")"
audit_verify

step "done"
