#!/bin/bash
# Fleet faults: the coordinator SIGKILLed in the middle of a run and restarted
# (the run resumes from the journal and ends); halt and resume; a broken
# down script on one host (staging-2 has its own copy of the migrations),
# first with on_failure = halt (the run stops and ends failed, the failed
# host keeps its revision, the host done before it and the other
# environments are untouched), then with on_failure = compensate (the host
# done in the run is brought back); `ebb audit verify` after each.
# staging-2's copy makes a second migration graph, which promotion refuses
# within one run: staging is not promoted from dev here.
BROKEN_HOST=staging-2
export STAGING_PROMOTION=false
source "$EBB_SRC_DIR/tests/integration/lib_fleet.sh"

# restart_coordinator [SIGNAL]: stop it (TERM, or KILL for a crash), start it again, wait
# until every agent is back and alive.
restart_coordinator() {
  kill "-${1:-TERM}" "$COORD_PID"
  wait "$COORD_PID" 2>/dev/null || true
  write_coord_conf
  start_coordinator
  wait_for 30 'ebb_as alice status --json; [ "$(js "[.environments[].hosts[] | select(.alive)] | length")" = 6 ]' ||
    fail "agents did not come back after the coordinator restart: $(cat "$W/out" "$W/err")"
}

step "setup: coordinator, six agents (staging-2: a broken down script for revision 4)"
setup_fleet
accept_all

step "rollout dev -> 4"
ebb_as alice rollout --env dev --to 4 --reason "release 4" --follow
expect_rc 0
expect_rev 4 dev-1 dev-2

step "rollout staging -> 4: halted, resumed; the coordinator is SIGKILLed mid-run and restarted"
ebb_as alice rollout --env staging --to 4 --reason "release 4" --json
expect_rc 0
RUN=$(started_run)
ebb_as alice halt "$RUN" --reason "checking the canary"
expect_rc 0
wait_state "$RUN" 20 halted
ebb_as alice show "$RUN" --follow
expect_rc 1
grep -q "is halted" "$W/err" || fail "show --follow should stop at a halt: $(cat "$W/err")"
ebb_as alice abort "$RUN"
expect_rc 2
ebb_as bob resume "$RUN"
expect_rc 4
ebb_as alice resume "$RUN" --reason "canary fine"
expect_rc 0
# kill once the first host is done and the run is still going
wait_for 30 'ebb_as alice show "$RUN" --json; [ "$(js .hosts_done)" -ge 1 ] || [ "$(js .over)" = true ]' ||
  fail "run $RUN made no progress: $(cat "$W/out")"
[ "$(js .over)" = false ] || echo "note: run $RUN was over before the kill"
restart_coordinator KILL
ebb_as alice show "$RUN" --follow
expect_rc 0
expect_rev 4 staging-1 staging-2
expect_rev base prod-1 prod-2
# every step ran once: one migrate result per host in the run's audit, and in the host's registry
ebb_as bob audit --run "$RUN" --json
expect_rc 0
for h in staging-1 staging-2; do
  n=$(js "[.[0].records[] | select(.type == \"audit.step_result\" and .payload.host == \"$h\" and .payload.step == \"migrate\")] | length")
  [ "$n" = 1 ] || fail "$h: $n migrate results in the audit of run $RUN: $(cat "$W/out")"
  n=$(q "$h" "SELECT count(*) FROM ebb.events WHERE kind = 'deploy'")
  [ "$n" = 4 ] || fail "$h: $n deploy events (4 revisions, each once)"
done
audit_verify

step "rollback staging -> 3 with on_failure = halt: staging-2's down script fails, the run stops"
ebb_as alice rollback --env staging --to 3 --reason "INC-7: totals view wrong" --json
expect_rc 0
RUN=$(started_run)
ebb_as alice show "$RUN" --follow
expect_rc 1
grep -q "ended failed" "$W/err" || fail "expected a failed run: $(cat "$W/err")"
[ "$(run_state "$RUN")" = failed ] || fail "run $RUN is $(run_state "$RUN")"
expect_rev 3 staging-1
expect_rev 4 staging-2 dev-1 dev-2
expect_rev base prod-1 prod-2
q staging-2 "SELECT count(*) FROM account_totals" | grep -qx 3 || fail "staging-2 lost its view"
ebb_as alice show "$RUN" --json
[ "$(js '[.hosts[] | select(.host == "staging-2")][0].error // "" | length > 0')" = true ] ||
  fail "staging-2's failure is not reported: $(cat "$W/out")"
# the halt stopped the run: nothing else runs, later commands on it are refused
ebb_as alice resume "$RUN"
expect_rc 4
audit_verify

step "rollback staging -> 2 with on_failure = compensate: staging-1 is brought back"
STAGING_ON_FAILURE=compensate restart_coordinator TERM
ebb_as alice rollback --env staging --to 2 --reason "INC-8: orders index" --json
expect_rc 0
RUN=$(started_run)
ebb_as alice show "$RUN" --follow
expect_rc 6
[ "$(run_state "$RUN")" = compensated ] || fail "run $RUN is $(run_state "$RUN")"
expect_rev 3 staging-1
expect_rev 4 staging-2 dev-1 dev-2
q staging-1 "SELECT to_regclass('orders_account_idx') IS NOT NULL" | grep -qx t ||
  fail "staging-1 was not brought back to 3"
ebb_as bob audit --outcome compensated --json
expect_rc 0
[ "$(js "[.[] | select(.run_id == \"$RUN\")] | length")" = 1 ] ||
  fail "the audit lacks the compensated run: $(cat "$W/out")"
audit_verify

step "done"
