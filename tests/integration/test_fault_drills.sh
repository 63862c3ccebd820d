#!/bin/bash
# Fault drills: SIGKILL of the agent, of the coordinator and of the PostgreSQL
# server while a host's run is at each of its steps: precheck, stop (services),
# backup (the dump written, before its checksum, check and manifest), migrate
# (inside the step's transaction, before COMMIT), verify, start (services).
# The agent's test-only failpoints (common/failpoint.h, docs/testing.md) hold
# the job at that point, so the kill lands exactly there.
#
# Fleet: environment prod with prod-1 (canary, wave 1) and prod-2 (wave 2, the
# drilled host), on_failure = compensate, backups required. Each drill resets
# both databases to its start revision (single-host CLI), restarts the agents
# (prod-2 with the failpoint armed), starts a rollback 4 -> 2 or a rollout
# 2 -> 4 (alternately), waits for the hold, kills, restarts what it killed
# (the agent without failpoints), and waits for the run to be final. Then, on
# both hosts:
#   - the database is at a revision of its registry, with no drift (live
#     fingerprint = recorded one) and no prepared transaction left over;
#   - no job id was started twice and every received job finished (agent job
#     journals); no revision was deployed or reverted twice within the run
#     (ebb.events);
#   - every backup file has its manifest, no backup is damaged, and the
#     backup the run took on each host is still there;
#   - `ebb audit verify` passes (through the coordinator and offline);
#   - the run is final (succeeded / failed / aborted / compensated).
# And what SPEC section 7 promises: after a coordinator kill the run still
# succeeds; after an agent kill the job is reported interrupted; a step killed
# (agent or server) before its COMMIT leaves the database where it was.
# A table of drills and outcomes is printed at the end; any failed invariant
# fails the test.
#
# DRILLS="agent:migrate.commit coordinator:verify ..." runs only those drills
# (default: all 18: {agent, coordinator, postgres} x the six points).
FLEET_HOSTS="prod-1 prod-2"
source "$EBB_SRC_DIR/tests/integration/lib_fleet.sh"

POINTS="precheck stop_services backup.dump migrate.commit verify start_services"
DRILLS=${DRILLS:-$(for t in agent coordinator postgres; do for p in $POINTS; do printf '%s:%s ' "$t" "$p"; done; done)}
H1=prod-1
H2=prod-2 # the drilled host
FP="$W/failpoints"
mkdir -p "$FP"

# The failpoint at the start of the job after POINT's (postgres drills hold there until the
# server is back, so the next step never races the restart).
next_point() {
  case $1 in
    precheck) echo stop_services ;; stop_services) echo backup ;; backup.dump) echo migrate ;;
    migrate.commit) echo verify ;; verify) echo start_services ;; start_services) echo health ;;
  esac
}

write_coord_conf() {
  cat >"$W/coordinator.conf" <<EOF
coordinator = {
  key_file = "$W/coord.key";
  journal_dir = "$W/coord";
  listen = { agents = "ipc://$W/agents.sock"; operators = "ipc://$W/op.sock"; };
  poll_wait_ms = 1000;
  liveness_s = 20;
  plan_timeout_ms = 20000;
  log_level = "debug";
};
environments = (
  { name = "prod";
    policy = { approvals = 0; require_backup = true; };
    waves = { canary = 1; batch = 1; on_failure = "compensate"; };
    timeouts = { default_s = 30; silent_s = 10; }; }
);
operators = (
  { name = "alice"; public_key_file = "$W/alice.key.pub";
    grants = ( { env = "*"; roles = ["read", "operate", "approve"]; } ); },
  { name = "bob"; public_key_file = "$W/bob.key.pub";
    grants = ( { env = "*"; roles = ["read", "approve"]; } ); }
);
EOF
}

# db HOST COMMAND ARGS...: the single-host CLI on HOST's database (JSON on stdout).
db() {
  local h=$1; shift
  "$AGENT" db "$@" --config "$W/agent-$h.conf" --db app --json
}

# stop_agent HOST [-KILL]: TERM (KILL after 10 s) or KILL, and reap it.
stop_agent() {
  local h=$1 pid=${AGENT_PID[$1]:-}
  [ -n "$pid" ] || return 0
  kill "${2:--TERM}" "$pid" 2>/dev/null || true
  wait_for 10 "! kill -0 $pid 2>/dev/null" || kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  unset "AGENT_PID[$h]"
}

# host_field HOST FILTER: FILTER on HOST's entry of the last `show --json`.
host_field() { js ".hosts[] | select(.host == \"$1\") | $2"; }

# moved_on RUN POINT: the job held at POINT has ended: the next step's hold was reached, or the
# drilled host is no longer running its steps, or the run is over.
moved_on() {
  [ -f "$FP/$2.held" ] && return 0
  ebb_as alice show "$1" --json
  [ "$rc" -eq 0 ] || return 1
  [ "$(js .over)" = true ] || [ "$(host_field "$H2" .state)" != running ]
}

# reset REV: both databases at REV, services up, agents restarted (prod-2 with the failpoints of
# $ARM), the coordinator seeing both alive at REV.
reset() {
  local rev=$1 h
  stop_agent "$H1"
  stop_agent "$H2"
  rm -f "$FP"/*
  for h in $HOSTS; do
    if [ "$(rev "$h")" != "$rev" ]; then
      local cmd=up
      [ "$(rev "$h")" != base ] && [ "$(rev "$h")" -gt "$rev" ] && cmd=down
      db "$h" "$cmd" --to "$rev" --reason "drill reset" >"$W/reset.json" 2>>"$W/reset.log" ||
        fail "reset of $h to $rev: $(cat "$W/reset.json")"
    fi
    "$W/svc-$h-start.sh"
  done
  start_agent "$H1"
  start_agent "$H2" EBB_FAILPOINTS="$ARM" EBB_FAILPOINT_DIR="$FP"
  wait_for 20 'ebb_as alice status --json; [ "$(js "[.environments[].hosts[] | select(.alive and .databases[0].current == [\"$rev\"])] | length")" = 2 ]' ||
    fail "agents not back at $rev after the reset: $(cat "$W/out")"
}

# wait_final RUN SECONDS: until the run is over (a halted run is resumed); its state in $STATE.
wait_final() {
  local run=$1 secs=$2 n
  n=$((secs * 5))
  STATE=
  while [ $n -gt 0 ]; do
    ebb_as alice show "$run" --json
    if [ "$rc" -eq 0 ]; then
      STATE=$(js .state)
      [ "$(js .over)" = true ] && return 0
      if [ "$STATE" = halted ]; then
        ebb_as alice resume "$run" --reason "drill: resume after the restart"
        NOTES+="resumed; "
      fi
    fi
    sleep 0.2
    n=$((n - 1))
  done
  return 1
}

# ---- invariants ----

# check_db HOST: revision recorded in the registry, no drift, nothing prepared.
check_db() {
  local h=$1 out
  out=$(db "$h" status 2>/dev/null) || { PROBLEMS+="$h: status failed: $(echo "$out" | jq -c .error); "; return; }
  local cur drift
  cur=$(echo "$out" | jq -r '.current // "base"')
  drift=$(echo "$out" | jq -r '.drift')
  REVS+="${REVS:+/}$cur"
  [ "$drift" = false ] || PROBLEMS+="$h: drift at $cur ($(echo "$out" | jq -c '.drift_objects // .recorded_fingerprint')); "
  if [ "$cur" != base ] &&
    [ "$(q "$h" "SELECT count(*) FROM ebb.applied WHERE revision = '$cur'")" != 1 ]; then
    PROBLEMS+="$h: current $cur not in ebb.applied; "
  fi
  local prepared
  prepared=$(q "$h" "SELECT count(*) FROM pg_prepared_xacts")
  [ "$prepared" = 0 ] || PROBLEMS+="$h: $prepared prepared transaction(s) left; "
}

# check_jobs HOST: no job started twice, every received job finished.
check_jobs() {
  local h=$1 twice open
  twice=$(jq -rs '[.[] | select(.rec == "started") | .job_id] | group_by(.) | map(select(length > 1) | .[0]) | join(",")' "$W/agent-$h.jobs")
  [ -z "$twice" ] || PROBLEMS+="$h: job(s) started twice: $twice; "
  open=$(jq -rs '([.[] | select(.rec == "received") | .job_id] - [.[] | select(.rec == "finished") | .job_id]) | join(",")' "$W/agent-$h.jobs")
  [ -z "$open" ] || PROBLEMS+="$h: job(s) never finished: $open; "
  local dup
  dup=$(q "$h" "SELECT string_agg(kind || ' ' || revision || ' x' || n, ', ') FROM (SELECT kind, revision, count(*) AS n FROM ebb.events WHERE run_id = '$RUN' AND kind IN ('deploy', 'revert') GROUP BY 1, 2 HAVING count(*) > 1) d")
  [ -z "$dup" ] || PROBLEMS+="$h: ran twice in run $RUN: $dup; "
}

# check_backups HOST BACKUP_ID: manifests and dumps match; the run's backup (may be "") is there.
check_backups() {
  local h=$1 want=$2 out f id
  out=$(db "$h" backups 2>/dev/null) || { PROBLEMS+="$h: backups failed; "; return; }
  local damaged
  damaged=$(echo "$out" | jq -r '[.backups[] | select(.damaged) | .id] | join(",")')
  [ -z "$damaged" ] || PROBLEMS+="$h: damaged backup(s): $damaged; "
  for f in "$W/backups-$h"/*; do
    [ -e "$f" ] || continue
    case $f in
      *.manifest.json) continue ;;
      *.dump | *.dir) id=$(basename "$f"); id=${id%.*} ;;
      *) PROBLEMS+="$h: stray file $(basename "$f") in the backup directory; "; continue ;;
    esac
    [ -f "$W/backups-$h/$id.manifest.json" ] || PROBLEMS+="$h: dump $(basename "$f") has no manifest; "
  done
  if [ -n "$want" ] && [ "$(echo "$out" | jq -r --arg id "$want" '[.backups[] | select(.id == $id)] | length')" != 1 ]; then
    PROBLEMS+="$h: the run's backup $want is not listed; "
  fi
}

check_audit() {
  ebb_as bob audit verify --json
  if [ "$rc" -ne 0 ] || [ "$(js .ok)" != true ]; then
    PROBLEMS+="audit verify: $(cat "$W/out" "$W/err" | tr '\n' ' '); "
  fi
  ebb_as bob audit verify --journal "$W/coord/coordinator.journal" --pubkey "$W/coord.key.pub"
  [ "$rc" -eq 0 ] || PROBLEMS+="offline audit verify: $(cat "$W/err" | tr '\n' ' '); "
}

# ---- one drill ----

ROWS=()
FAILED=0

drill() {
  local target=$1 point=$2 k=$3
  local next; next=$(next_point "$point")
  local from=4 to=2 kind=rollback
  if [ $((k % 2)) -eq 0 ]; then from=2; to=4; kind=rollout; fi
  NOTES= PROBLEMS= REVS= STATE= RUN=
  ARM="$point:hold"
  [ "$target" = postgres ] && ARM+=",$next:hold"
  step "drill $k: SIGKILL $target at $point ($kind $from -> $to)"
  reset "$from"
  ebb_as alice "$kind" --env prod --to "$to" --reason "drill $k: $target at $point" --json
  expect_rc 0
  RUN=$(started_run)

  if ! wait_for 30 "[ -f '$FP/$point.held' ]"; then
    PROBLEMS+="failpoint $point never reached (run $(run_state "$RUN")); "
  else
    case $target in
      agent)
        stop_agent "$H2" -KILL
        rm -f "$FP/$point.held"
        start_agent "$H2"
        ;;
      coordinator)
        kill -KILL "$COORD_PID"
        wait "$COORD_PID" 2>/dev/null || true
        start_coordinator
        touch "$FP/$point.release"
        ;;
      postgres)
        "$EBB_BIN_DIR/tests/ebb-test-pg" kill "$(cluster_of "$H2")" ||
          fail "could not kill the server of $H2"
        touch "$FP/$point.release"
        # The job now meets the dead server (or needs none); the run then fails or holds at
        # the next step's start.
        wait_for 30 'moved_on "$RUN" "$next"' ||
          NOTES+="neither the next step nor a failure within 30 s; "
        "$EBB_BIN_DIR/tests/ebb-test-pg" restart "$(cluster_of "$H2")" ||
          fail "could not restart the server of $H2"
        [ -f "$FP/$next.held" ] && touch "$FP/$next.release"
        ;;
    esac
  fi

  if ! wait_final "$RUN" 90; then
    PROBLEMS+="run $RUN not final after 90 s (state ${STATE:-unknown}); "
  fi
  ebb_as alice show "$RUN" --json
  local h2_state h2_err b1 b2
  h2_state=$(host_field "$H2" .state)
  h2_err=$(host_field "$H2" '.error // "" | gsub("[\\n\\t]+"; " ")' | cut -c1-100)
  b1=$(host_field "$H1" '.backup_id // ""')
  b2=$(host_field "$H2" '.backup_id // ""')
  [ -z "$h2_err" ] || NOTES+="prod-2 $h2_state: $h2_err"

  check_db "$H1"
  check_db "$H2"
  check_jobs "$H1"
  check_jobs "$H2"
  check_backups "$H1" "$b1"
  check_backups "$H2" "$b2"
  check_audit

  # What SPEC section 7 promises for each kind of kill.
  case $target in
    coordinator)
      [ "$STATE" = succeeded ] || PROBLEMS+="a coordinator restart should not change the outcome: $STATE; " ;;
    agent)
      [[ "$h2_err" == *interrupted* ]] || PROBLEMS+="prod-2's job should be reported interrupted; " ;;
  esac
  if [ "$point" = migrate.commit ] && [ "$target" != coordinator ] && [ "$(rev "$H2")" != "$from" ]; then
    PROBLEMS+="prod-2 is at $(rev "$H2"): the step killed before COMMIT did not roll back; "
  fi
  local svc=down
  "$W/svc-$H2-status.sh" && svc=up
  local verdict=OK
  if [ -n "$PROBLEMS" ]; then verdict=FAIL; FAILED=$((FAILED + 1)); fi
  PROBLEMS=$(echo "$PROBLEMS" | tr -s '\n\t' '  ')
  ROWS+=("$(printf '%-2s %-11s %-14s %-15s %-11s %-5s %-4s %-4s %s' "$k" "$target" "$point" \
    "$kind $from->$to" "${STATE:-?}" "$REVS" "$svc" "$verdict" "$PROBLEMS$NOTES")")
  echo "   -> ${STATE:-?}, prod-1/prod-2 at $REVS, prod-2 services $svc, $verdict ${PROBLEMS}${NOTES}"
}

step "setup: coordinator, agents prod-1 and prod-2"
setup_fleet
accept_all

k=0
for d in $DRILLS; do
  k=$((k + 1))
  drill "${d%%:*}" "${d#*:}" "$k"
done

echo
echo "Fault drills ($(($(date +%s) - T0)) s): prod-2 is the drilled host, prod-1 the canary before it;"
echo "revs: prod-1/prod-2 at the end; svc: prod-2's services; inv: the invariants (OK/FAIL)"
printf '%-2s %-11s %-14s %-15s %-11s %-5s %-4s %-4s %s\n' "#" "killed" "at" "run" "outcome" "revs" \
  "svc" "inv" "detail"
for r in "${ROWS[@]}"; do echo "$r"; done
[ "$FAILED" -eq 0 ] || fail "$FAILED drill(s) broke an invariant"
