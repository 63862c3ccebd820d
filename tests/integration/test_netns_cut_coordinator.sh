#!/bin/bash
# The coordinator cut off from every host during a run (network namespaces,
# lib_netns_fleet.sh). Three hosts in one wave; once every host's migrate
# step runs, all links go down. Each agent finishes its step (journal:
# finished, succeeded; database at the new revision, registry consistent)
# and keeps the result for delivery. The coordinator hears from nobody: every
# host becomes unknown once migrate_s has passed, `ebb status` shows none
# alive, the run waits (running, nothing failed). The operator API stays
# reachable (ipc:// socket on the shared file system). After the links
# return, every result is delivered, the hosts finish their steps and the run
# succeeds on its own; no job ran twice (journals, registries, audit) and
# `ebb audit verify` passes.
#
# Timeouts (environment "net"): migrate_s = 25 — the migration sleeps 10 s
# (long enough that the three hosts' migrations overlap under load), so only
# the cut makes the coordinator wait past 25 s; silent_s = 120 — the hosts
# stay unknown, not failed, while the links are down; liveness_s = 3.
# Skipped (exit 77) where network namespaces cannot be created.
NETNS_N=3
WAVES='on_failure = "halt";' # one wave: all three hosts at once
MIGRATE_SLEEP_S=10
TIMEOUTS='default_s = 30; migrate_s = 25; silent_s = 120;'
source "$EBB_SRC_DIR/tests/integration/lib_netns_fleet.sh"

step "setup: namespaces, coordinator, three agents over veth"
setup_netns_fleet
accept_all

step "rollout net -> 2; every host's migrate step starts"
ebb_as alice rollout --env net --to 2 --reason "release 2" --json
expect_rc 0
RUN=$(started_run)
declare -A MJ=()
all_migrating() {
  local h
  for h in $HOSTS; do
    MJ[$h]=$(job_of $h "$RUN" migrate)
    [ -n "${MJ[$h]}" ] && [ "$(job_recs $h "${MJ[$h]}" started)" = 1 ] || return 1
  done
}
wait_for 60 all_migrating || fail "the migrate steps did not all start: $(ebb_as alice show "$RUN"; cat "$W/out")"
for h in $HOSTS; do
  [ "$(job_recs $h "${MJ[$h]}" finished)" = 0 ] ||
    fail "$h's migrate step ended before the cut (the hosts' migrations did not overlap)"
done
cut_all
step "cut the coordinator off from every host"

for h in $HOSTS; do
  wait_for 30 '[ "$(job_recs $h "${MJ[$h]}" finished)" = 1 ]' || fail "$h's migrate step did not finish"
  [ "$(job_outcome $h "${MJ[$h]}")" = succeeded ] || fail "$h: migrate $(job_outcome $h "${MJ[$h]}")"
  expect_rev 2 $h
  registry_consistent $h 2
  wait_for 10 '[[ " $(undelivered $h) " == *" ${MJ[$h]} "* ]]' ||
    fail "$h does not hold its migrate result: $(cat "$W/agent-$h.status")"
done

step "the coordinator marks every host unknown; the run waits"
wait_for 45 'ebb_as alice show "$RUN" --json; [ "$(js "[.hosts[] | select(.state == \"unknown\")] | length")" = 3 ]' ||
  fail "not every host is unknown: $(cat "$W/out")"
[ "$(js .state)" = running ] || fail "run $RUN: $(cat "$W/out")"
[ "$(js .hosts_failed)" = 0 ] || fail "run $RUN counts failures: $(cat "$W/out")"
wait_for 20 'ebb_as alice status --json; [ "$(js "[.environments[].hosts[] | select(.alive)] | length")" = 0 ]' ||
  fail "hosts still alive after the cut: $(cat "$W/out")"
for h in $HOSTS; do
  [[ " $(undelivered $h) " == *" ${MJ[$h]} "* ]] || fail "$h's result left its outbox while cut"
done

step "heal: every result arrives and the run ends by itself"
heal_all
T_HEAL=$(date +%s)
for h in $HOSTS; do
  wait_for 60 '[[ " $(undelivered $h) " != *" ${MJ[$h]} "* ]]' ||
    fail "$h's result was not delivered after the links returned: $(cat "$W/agent-$h.status")"
done
step "results delivered $(( $(date +%s) - T_HEAL ))s after the links returned"
ebb_as alice show "$RUN" --follow
expect_rc 0
[ "$(run_state "$RUN")" = succeeded ] || fail "run $RUN: $(cat "$W/out")"
expect_rev 2 $HOSTS
for h in $HOSTS; do
  registry_consistent $h 2
  no_job_twice $h "$RUN"
  wait_for 10 '[ -z "$(undelivered $h)" ]' || fail "$h still holds results: $(undelivered $h)"
done
wait_for 20 'ebb_as alice status --json; [ "$(js "[.environments[].hosts[] | select(.alive)] | length")" = 3 ]' ||
  fail "hosts not alive again: $(cat "$W/out")"
migrate_results_once "$RUN" $HOSTS
audit_verify

step "done"
