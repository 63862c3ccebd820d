# Helpers for the fleet integration tests (sourced, not run): a real
# ebb-coordinator, real `ebb-agent run` processes (by default six: dev-1
# dev-2 staging-1 staging-2 prod-1 prod-2; FLEET_HOSTS set before sourcing
# names others, each "ENV-N"), one PostgreSQL cluster each (the host's
# position in the list), and the ebb CLI, all on loopback (ipc sockets). The
# test re-executes itself under `ebb-test-pg run --clusters N --`. CLI,
# polling, registry and audit helpers (ebb_as, wait_for, rev, run_state,
# audit_verify, ...) are in lib_ebb.sh.

HOSTS=${FLEET_HOSTS:-"dev-1 dev-2 staging-1 staging-2 prod-1 prod-2"}
N_HOSTS=$(echo "$HOSTS" | wc -w)
if [ -z "${EBB_TEST_PG_CONNINFO_1:-}" ] || [ "${EBB_TEST_PG_COUNT:-0}" -lt "$N_HOSTS" ]; then
  exec "$EBB_BIN_DIR/tests/ebb-test-pg" run --clusters "$N_HOSTS" -- bash "$0" "$@"
fi
set -euo pipefail

AGENT="$EBB_BIN_DIR/agent/ebb-agent"
COORD="$EBB_BIN_DIR/coordinator/ebb-coordinator"
EBB="$EBB_BIN_DIR/coordinator/ebb"
FIX="$EBB_SRC_DIR/tests/fixtures/migrations/fleet"
PSQL=/usr/lib/postgresql/15/bin/psql
W=$(mktemp -d "${TMPDIR:-/tmp}/ebb-fleet.XXXXXX")
chmod 755 "$W"
declare -A AGENT_PID=()
COORD_PID=
T0=$(date +%s)

cleanup() {
  local rc=$?
  for h in "${!AGENT_PID[@]}"; do
    kill -9 "${AGENT_PID[$h]}" 2>/dev/null || true
  done
  if [ -n "$COORD_PID" ]; then kill -9 "$COORD_PID" 2>/dev/null || true; fi
  stop_services_all
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

source "$EBB_SRC_DIR/tests/integration/lib_ebb.sh"

# cluster_of HOST: the cluster index of a host (its position in HOSTS).
cluster_of() {
  local i=1 h
  for h in $HOSTS; do
    if [ "$h" = "$1" ]; then echo "$i"; return; fi
    i=$((i + 1))
  done
  fail "no host $1"
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

# start_agent HOST [VAR=VALUE...]: `ebb-agent run` for HOST, with extra environment.
start_agent() {
  local h=$1; shift
  env "$@" "$AGENT" run --config "$W/agent-$h.conf" --status-file "$W/agent-$h.status" \
    >>"$W/agent-$h.log" 2>&1 &
  AGENT_PID[$h]=$!
}

# setup_fleet: keys, coordinator, the agents (not yet accepted); CLI environment exported.
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
    write_agent_conf "$h" "$conninfo" "$env" "ipc://$W/agents.sock" 5000
    start_agent "$h"
  done
}

# accept_all: every agent accepted into the environment its name starts with, and alive.
accept_all() {
  wait_for 30 'ebb_as alice agents --state pending --json; [ "$(js ".agents | length")" = "$N_HOSTS" ]' ||
    fail "$N_HOSTS pending agents expected: $(cat "$W/out" "$W/err")"
  for h in $HOSTS; do
    ebb_as alice agents accept "$h" --env "${h%-*}"
    expect_rc 0
  done
  wait_for 30 'ebb_as alice status --json; [ "$(js "[.environments[].hosts[] | select(.alive and (.databases | length) > 0)] | length")" = "$N_HOSTS" ]' ||
    fail "$N_HOSTS live accepted hosts expected: $(cat "$W/out")"
}
