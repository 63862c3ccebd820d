# Shell helpers shared by the tests that drive a real coordinator, agents and
# the ebb CLI (sourced, not run). The sourcing script sets W (its work
# directory, with alice.key / bob.key and state-<operator>/ under it), T0
# (start time, for step) and defines cluster_of HOST (the ebb-test-pg cluster
# index of a host).

PSQL=${PSQL:-/usr/lib/postgresql/15/bin/psql}

fail() { echo "FAIL: $* (line ${BASH_LINENO[0]})" >&2; exit 1; }
step() { echo "== [$(( $(date +%s) - T0 ))s] $*"; }

# wait_for SECONDS 'CONDITION': poll the condition every 0.2 s.
wait_for() {
  local n=$(($1 * 5)); shift
  while [ $n -gt 0 ]; do
    if eval "$1"; then return 0; fi
    sleep 0.2
    n=$((n - 1))
  done
  return 1
}

# q HOST SQL: one query on HOST's database "app".
q() {
  local i; i=$(cluster_of "$1")
  local ci="EBB_TEST_PG_CONNINFO_$i"
  "$PSQL" -XAtq -v ON_ERROR_STOP=1 -d "$(echo "${!ci}" | sed 's/dbname=[^ ]*/dbname=app/')" -c "$2"
}

# rev HOST: the newest revision applied on HOST's app (from ebb's registry), "base" when none.
rev() {
  if [ "$(q "$1" "SELECT to_regclass('ebb.applied') IS NOT NULL")" != t ]; then
    echo base
    return
  fi
  q "$1" "SELECT coalesce((SELECT revision FROM ebb.applied ORDER BY seq DESC LIMIT 1), 'base')"
}

# expect_rev REV HOST...: every host is at REV.
expect_rev() {
  local want=$1; shift
  for h in "$@"; do
    local got; got=$(rev "$h")
    [ "$got" = "$want" ] || fail "$h is at $got, expected $want"
  done
}

# ebb_as OPERATOR ARGS...: run the CLI as alice or bob; stdout in $W/out, stderr in $W/err,
# exit code in $rc.
ebb_as() {
  local who=$1; shift
  set +e
  EBB_KEY="$W/$who.key" EBB_STATE_DIR="$W/state-$who" "$EBB" "$@" >"$W/out" 2>"$W/err"
  rc=$?
  set -e
}

# expect_rc N: the last ebb_as exited N.
expect_rc() {
  if [ "$rc" -ne "$1" ]; then
    echo "--- stdout" >&2; cat "$W/out" >&2
    echo "--- stderr" >&2; cat "$W/err" >&2
    fail "expected exit $1, got $rc (line ${BASH_LINENO[0]})"
  fi
}

# js FILTER: jq on the last stdout.
js() { jq -r "$1" "$W/out"; }

# A fake application per host: a sleep process behind start/stop/status scripts.
make_services() {
  local h=$1
  cat >"$W/svc-$h-start.sh" <<EOF
#!/bin/sh
[ -f "$W/svc-$h.pid" ] && kill -0 "\$(cat "$W/svc-$h.pid")" 2>/dev/null && exit 0
setsid sleep 100000 </dev/null >/dev/null 2>&1 &
echo \$! >"$W/svc-$h.pid"
EOF
  cat >"$W/svc-$h-stop.sh" <<EOF
#!/bin/sh
[ -f "$W/svc-$h.pid" ] || exit 0
kill "\$(cat "$W/svc-$h.pid")" 2>/dev/null
rm -f "$W/svc-$h.pid"
EOF
  cat >"$W/svc-$h-status.sh" <<EOF
#!/bin/sh
[ -f "$W/svc-$h.pid" ] && kill -0 "\$(cat "$W/svc-$h.pid")" 2>/dev/null
EOF
  chmod 755 "$W"/svc-"$h"-*.sh
  "$W/svc-$h-start.sh"
}

# Stop every fake application (cleanup).
stop_services_all() {
  local f
  for f in "$W"/svc-*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
}

# run_state RUN: the run's state (as alice).
run_state() {
  ebb_as alice show "$1" --json
  js .state
}

# wait_state RUN SECONDS STATE...: until the run is in one of the states.
wait_state() {
  local run=$1 secs=$2; shift 2
  local want=" $* "
  wait_for "$secs" '[[ "$want" == *" $(run_state "$run") "* ]]' ||
    fail "run $run: expected one of [$*], it is $(run_state "$run"): $(cat "$W/out")"
}

# audit_verify: the coordinator's journal verifies (through the CLI), and offline too.
audit_verify() {
  ebb_as bob audit verify --json
  expect_rc 0
  [ "$(js .ok)" = true ] || fail "audit verify: $(cat "$W/out")"
  ebb_as bob audit verify --journal "$W/coord/coordinator.journal" --pubkey "$W/coord.key.pub"
  expect_rc 0
}

# started_run: the run id of the last rollout/rollback output (--json).
started_run() { js .run.run_id; }

# write_agent_conf HOST CONNINFO ENV ADDRESS REQUEST_TIMEOUT_MS: the test agent configuration of
# HOST in $W/agent-HOST.conf (key, journals, migrations, service scripts and backups under $W,
# as make_services and the fleet libraries lay them out), pinned to $coord_pub.
write_agent_conf() {
  local h=$1 conninfo=$2 env=$3 address=$4 timeout=$5
  cat >"$W/agent-$h.conf" <<EOF
agent = { id = "$h"; key_file = "$W/agent-$h.key"; replay_store = "$W/agent-$h.replay";
          job_journal = "$W/agent-$h.jobs"; log_level = "debug"; };
coordinator = { address = "$address"; public_key = "$coord_pub";
                poll_interval_ms = 200; heartbeat_interval_ms = 1000;
                reconnect_min_ms = 100; reconnect_max_ms = 1000; request_timeout_ms = $timeout; };
databases = (
  { name = "app"; conninfo = "$conninfo"; environment = "$env";
    source = { dir = "$W/mig-$h"; kind = "golang-migrate"; };
    services = { stop = ["$W/svc-$h-stop.sh"]; start = ["$W/svc-$h-start.sh"];
                 status = ["$W/svc-$h-status.sh"]; timeout_ms = 5000;
                 health = { command = ["$W/svc-$h-status.sh"]; attempts = 3; interval_ms = 200; }; };
    backup = { dir = "$W/backups-$h"; retention = 5; };
  }
);
EOF
}
