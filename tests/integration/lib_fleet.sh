# Helpers for the fleet integration tests (sourced, not run): a real
# ebb-coordinator, six real `ebb-agent run` processes (dev-1 dev-2 staging-1
# staging-2 prod-1 prod-2, one PostgreSQL cluster each) and the ebb CLI, all
# on loopback (ipc sockets). The test re-executes itself under
# `ebb-test-pg run --clusters 6 --`.

if [ -z "${EBB_TEST_PG_CONNINFO_6:-}" ]; then
  exec "$EBB_BIN_DIR/tests/ebb-test-pg" run --clusters 6 -- bash "$0" "$@"
fi
set -euo pipefail

AGENT="$EBB_BIN_DIR/agent/ebb-agent"
COORD="$EBB_BIN_DIR/coordinator/ebb-coordinator"
EBB="$EBB_BIN_DIR/coordinator/ebb"
FIX="$EBB_SRC_DIR/tests/fixtures/migrations/fleet"
PSQL=/usr/lib/postgresql/15/bin/psql
W=$(mktemp -d "${TMPDIR:-/tmp}/ebb-fleet.XXXXXX")
chmod 755 "$W"
HOSTS="dev-1 dev-2 staging-1 staging-2 prod-1 prod-2"
declare -A AGENT_PID=()
COORD_PID=
T0=$(date +%s)

cleanup() {
  local rc=$?
  for h in "${!AGENT_PID[@]}"; do
    kill -9 "${AGENT_PID[$h]}" 2>/dev/null || true
  done
  if [ -n "$COORD_PID" ]; then kill -9 "$COORD_PID" 2>/dev/null || true; fi
  for f in "$W"/svc-*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  if [ "$rc" -ne 0 ]; then
    echo "--- coordinator log (tail)" >&2; tail -n 80 "$W/coord.log" >&2 2>/dev/null || true
    for h in $HOSTS; do
      echo "--- agent $h log (tail)" >&2; tail -n 15 "$W/agent-$h.log" >&2 2>/dev/null || true
    done
    echo "--- last ebb output" >&2; cat "$W/out" "$W/err" >&2 2>/dev/null || true
  fi
  if [ -n "${EBB_TEST_KEEP:-}" ]; then
    echo "kept $W (EBB_TEST_KEEP)" >&2
  else
    rm -rf "$W"
  fi
}
trap cleanup EXIT

fail() { echo "FAIL: $* (line ${BASH_LINENO[0]})" >&2; exit 1; }
step() { echo "== [$(( $(date +%s) - T0 ))s] $*"; }

# cluster_of HOST: the cluster index of a host.
cluster_of() {
  case "$1" in
    dev-1) echo 1 ;; dev-2) echo 2 ;; staging-1) echo 3 ;; staging-2) echo 4 ;;
    prod-1) echo 5 ;; prod-2) echo 6 ;;
  esac
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

# write_coord_conf: the coordinator's configuration (STAGING_ON_FAILURE, STAGING_PROMOTION
# override staging's policy).
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
  { name = "dev";
    waves = { canary = 1; batch = 1; on_failure = "halt"; }; },
  { name = "staging";
    policy = { require_backup = true; promotion = ${STAGING_PROMOTION:-true}; };
    waves = { canary = 1; batch = 1; on_failure = "${STAGING_ON_FAILURE:-halt}"; }; },
  { name = "prod";
    policy = { approvals = 0; forward_only = true; require_backup = true; };
    waves = { canary = 1; batch = 1; on_failure = "halt"; }; }
);
operators = (
  { name = "alice"; public_key_file = "$W/alice.key.pub";
    grants = ( { env = "*"; roles = ["read", "operate", "approve"]; } ); },
  { name = "bob"; public_key_file = "$W/bob.key.pub";
    grants = ( { env = "*"; roles = ["read", "approve"]; } ); }
);
EOF
}

start_coordinator() {
  "$COORD" run --config "$W/coordinator.conf" >>"$W/coord.log" 2>&1 &
  COORD_PID=$!
  wait_for 10 "[ -S '$W/op.sock' ]" || fail "the coordinator did not start listening"
}

start_agent() {
  local h=$1
  "$AGENT" run --config "$W/agent-$h.conf" --status-file "$W/agent-$h.status" \
    >>"$W/agent-$h.log" 2>&1 &
  AGENT_PID[$h]=$!
}

# setup_fleet: keys, coordinator, six agents (not yet accepted); CLI environment exported.
setup_fleet() {
  "$EBB" keygen --out "$W/coord.key" --json >"$W/coord.json"
  "$EBB" keygen --out "$W/alice.key" >/dev/null
  "$EBB" keygen --out "$W/bob.key" >/dev/null
  export EBB_COORDINATOR="ipc://$W/op.sock"
  export EBB_COORDINATOR_KEY="$W/coord.key.pub"
  export EBB_TIMEOUT=30
  local coord_pub; coord_pub=$(jq -r .public_key "$W/coord.json")
  write_coord_conf
  start_coordinator
  for h in $HOSTS; do
    local i; i=$(cluster_of "$h")
    local ci="EBB_TEST_PG_CONNINFO_$i"
    "$PSQL" -XAtq -v ON_ERROR_STOP=1 -d "${!ci}" -c "CREATE DATABASE app" >/dev/null
    local conninfo; conninfo=$(echo "${!ci}" | sed 's/dbname=[^ ]*/dbname=app/')
    mkdir -p "$W/mig-$h" "$W/backups-$h"
    chown postgres "$W/backups-$h" 2>/dev/null || true
    if [ "${BROKEN_HOST:-}" = "$h" ]; then
      cp "$FIX"/broken_down/*.sql "$W/mig-$h/"
    else
      cp "$FIX"/main/*.sql "$W/mig-$h/"
    fi
    "$EBB" keygen --out "$W/agent-$h.key" >/dev/null
    make_services "$h"
    local env=${h%-*}
    cat >"$W/agent-$h.conf" <<EOF
agent = { id = "$h"; key_file = "$W/agent-$h.key"; replay_store = "$W/agent-$h.replay";
          job_journal = "$W/agent-$h.jobs"; log_level = "debug"; };
coordinator = { address = "ipc://$W/agents.sock"; public_key = "$coord_pub";
                poll_interval_ms = 200; heartbeat_interval_ms = 1000;
                reconnect_min_ms = 100; reconnect_max_ms = 1000; request_timeout_ms = 5000; };
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
    start_agent "$h"
  done
}

# accept_all: every agent accepted into the environment its name starts with, and alive.
accept_all() {
  wait_for 30 'ebb_as alice agents --state pending --json; [ "$(js ".agents | length")" = 6 ]' ||
    fail "six pending agents expected: $(cat "$W/out" "$W/err")"
  for h in $HOSTS; do
    ebb_as alice agents accept "$h" --env "${h%-*}"
    expect_rc 0
  done
  wait_for 30 'ebb_as alice status --json; [ "$(js "[.environments[].hosts[] | select(.alive and (.databases | length) > 0)] | length")" = 6 ]' ||
    fail "six live accepted hosts expected: $(cat "$W/out")"
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
