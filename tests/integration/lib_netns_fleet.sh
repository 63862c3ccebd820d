# A fleet in network namespaces (sourced, not run): a real ebb-coordinator in
# its own namespace, one real `ebb-agent run` per host namespace (h1..hN, one
# PostgreSQL cluster each), the ebb CLI in the root namespace.
#
# Links (lib_netns.sh): agents dial tcp://$NETNS_COORD_IP:7400 over their
# veth, so cut/heal take a host off the coordinator's network. The operator
# API is an ipc:// socket in the work directory: a unix socket is a file, and
# the file system is shared by every namespace, so the CLI reaches the
# coordinator however the links are. The clusters are reached through their
# unix socket directory for the same reason: only the coordinator link goes
# over the veth.
#
# The sourcing test sets before sourcing:
#   NETNS_N            number of hosts (default 3)
#   WAVES              the environment's waves group (default: canary 1, then the rest, halt)
#   MIGRATE_SLEEP_S    how long revision 2's up script sleeps (default 4)
#   TIMEOUTS           the environment's timeouts group
# EBB_TEST_KEEP=1 in the environment keeps the work directory (logs, journals).
# The test re-executes itself under `ebb-test-pg run --clusters N --`.

NETNS_N=${NETNS_N:-3}
source "$EBB_SRC_DIR/tests/integration/lib_netns.sh"
netns_require
ci_last="EBB_TEST_PG_CONNINFO_$NETNS_N"
if [ -z "${!ci_last:-}" ]; then
  exec "$EBB_BIN_DIR/tests/ebb-test-pg" run --clusters "$NETNS_N" -- bash "$0" "$@"
fi
set -euo pipefail

AGENT="$EBB_BIN_DIR/agent/ebb-agent"
COORD="$EBB_BIN_DIR/coordinator/ebb-coordinator"
EBB="$EBB_BIN_DIR/coordinator/ebb"
W=$(mktemp -d "${TMPDIR:-/tmp}/ebb-netns.XXXXXX")
chmod 755 "$W"
HOSTS=$(for i in $(seq 1 "$NETNS_N"); do printf 'h%d ' "$i"; done)
WAVES=${WAVES:-'canary = 1; on_failure = "halt";'}
MIGRATE_SLEEP_S=${MIGRATE_SLEEP_S:-4}
TIMEOUTS=${TIMEOUTS:-'default_s = 30; migrate_s = 15; silent_s = 120;'}
LIVENESS_S=3
COORD_PORT=7400
declare -A AGENT_PID=()
COORD_PID=
T0=$(date +%s)

source "$EBB_SRC_DIR/tests/integration/lib_ebb.sh"

# Host hI uses cluster I.
cluster_of() { echo "${1#h}"; }

netns_fleet_cleanup() {
  local rc=$1 h
  for h in "${!AGENT_PID[@]}"; do kill -9 "${AGENT_PID[$h]}" 2>/dev/null || true; done
  if [ -n "$COORD_PID" ]; then kill -9 "$COORD_PID" 2>/dev/null || true; fi
  stop_services_all
  if [ "$rc" -ne 0 ] && [ "$rc" -ne "$NETNS_SKIP_RC" ]; then
    echo "--- coordinator log (tail)" >&2; tail -n 60 "$W/coord.log" >&2 2>/dev/null || true
    for h in $HOSTS; do
      echo "--- agent $h log (tail)" >&2; tail -n 20 "$W/agent-$h.log" >&2 2>/dev/null || true
      echo "--- agent $h status" >&2; cat "$W/agent-$h.status" >&2 2>/dev/null || true
    done
    echo "--- last ebb output" >&2; cat "$W/out" "$W/err" >&2 2>/dev/null || true
  fi
  if [ -n "${EBB_TEST_KEEP:-}" ]; then echo "kept $W" >&2; else rm -rf "$W"; fi
}
netns_on_exit netns_fleet_cleanup

# The migrations every host has: revision 2's up script is slow, so that a
# link can be cut while it runs.
write_migrations() {
  local dir=$1
  mkdir -p "$dir"
  cat >"$dir/1_accounts.up.sql" <<'EOF'
CREATE TABLE accounts (id bigserial PRIMARY KEY, name text NOT NULL);
INSERT INTO accounts (name) VALUES ('alice'), ('bob');
EOF
  echo 'DROP TABLE accounts;' >"$dir/1_accounts.down.sql"
  cat >"$dir/2_ledger.up.sql" <<EOF
CREATE TABLE ledger (id bigserial PRIMARY KEY, account_id bigint NOT NULL REFERENCES accounts (id),
                     amount numeric(12, 2) NOT NULL);
SELECT pg_sleep($MIGRATE_SLEEP_S);
EOF
  echo 'DROP TABLE ledger;' >"$dir/2_ledger.down.sql"
}

write_coord_conf() {
  cat >"$W/coordinator.conf" <<EOF
coordinator = {
  key_file = "$W/coord.key";
  journal_dir = "$W/coord";
  listen = { agents = "tcp://$NETNS_COORD_IP:$COORD_PORT"; operators = "ipc://$W/op.sock"; };
  poll_wait_ms = 1000;
  liveness_s = $LIVENESS_S;
  plan_timeout_ms = 20000;
  log_level = "debug";
};
environments = (
  { name = "net";
    waves = { $WAVES };
    timeouts = { $TIMEOUTS }; }
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
  ns_exec "$NETNS_COORD" "$COORD" run --config "$W/coordinator.conf" >>"$W/coord.log" 2>&1 &
  COORD_PID=$!
  wait_for 10 "[ -S '$W/op.sock' ]" || fail "the coordinator did not start listening"
}

start_agent() {
  local h=$1
  ns_exec "$(ns_host "${h#h}")" "$AGENT" run --config "$W/agent-$h.conf" \
    --status-file "$W/agent-$h.status" >>"$W/agent-$h.log" 2>&1 &
  AGENT_PID[$h]=$!
}

# setup_netns_fleet: namespaces and links, keys, the coordinator, the agents (not yet accepted);
# CLI environment exported.
setup_netns_fleet() {
  netns_setup "$NETNS_N"
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
    write_migrations "$W/mig-$h"
    mkdir -p "$W/backups-$h"
    chown postgres "$W/backups-$h" 2>/dev/null || true
    "$EBB" keygen --out "$W/agent-$h.key" >/dev/null
    make_services "$h"
    # request_timeout_ms is short so that an agent notices a cut link within seconds.
    write_agent_conf "$h" "$conninfo" net "tcp://$NETNS_COORD_IP:$COORD_PORT" 2000
    start_agent "$h"
  done
}

# accept_all: every agent accepted into "net" and alive.
accept_all() {
  wait_for 30 'ebb_as alice agents --state pending --json; [ "$(js ".agents | length")" = "$NETNS_N" ]' ||
    fail "$NETNS_N pending agents expected: $(cat "$W/out" "$W/err")"
  for h in $HOSTS; do
    ebb_as alice agents accept "$h" --env net
    expect_rc 0
  done
  wait_for 30 'ebb_as alice status --json; [ "$(js "[.environments[].hosts[] | select(.alive and (.databases | length) > 0)] | length")" = "$NETNS_N" ]' ||
    fail "$NETNS_N live accepted hosts expected: $(cat "$W/out")"
}

# ---- what the coordinator says ----

# host_state RUN HOST: the host's state in the run (pending, running, unknown, done, ...).
host_state() {
  ebb_as alice show "$1" --json
  js "[.hosts[] | select(.host == \"$2\")][0].state"
}

# alive HOST: "true" or "false" from `ebb status`.
alive() {
  ebb_as alice status --json
  js "[.environments[].hosts[] | select(.host == \"$1\" or .id == \"$1\")][0].alive"
}

# ---- what the agent recorded (its job journal and status file, on the shared file system) ----

# job_of HOST RUN ACTION: the id of the run's ACTION job in HOST's journal ("" when none).
job_of() {
  [ -f "$W/agent-$1.jobs" ] || return 0
  jq -r --arg run "$2" --arg action "$3" \
    'select(.rec == "received" and .run_id == $run and .action == $action) | .job_id' \
    "$W/agent-$1.jobs" | head -n 1
}

# job_recs HOST JOB REC: how many REC records (received, started, finished) JOB has.
job_recs() {
  jq -r --arg job "$2" --arg rec "$3" 'select(.job_id == $job and .rec == $rec) | .job_id' \
    "$W/agent-$1.jobs" | wc -l
}

# job_outcome HOST JOB: the recorded outcome of a finished job.
job_outcome() {
  jq -r --arg job "$2" 'select(.job_id == $job and .rec == "finished") | .result.outcome' \
    "$W/agent-$1.jobs"
}

# undelivered HOST: the job ids waiting for the coordinator's Ack (status file), space-separated.
undelivered() {
  jq -r '.undelivered // [] | join(" ")' "$W/agent-$1.status" 2>/dev/null
}

# delivered_count HOST: results the agent had acknowledged so far.
delivered_count() {
  jq -r '.counters.results_delivered // 0' "$W/agent-$1.status" 2>/dev/null || echo 0
}

# no_job_twice HOST RUN: every job of the run was received, started and finished once in HOST's
# journal, and the migration's deploy events are in the registry once per revision.
no_job_twice() {
  local h=$1 run=$2 job n
  for job in $(jq -r --arg run "$run" 'select(.rec == "received" and .run_id == $run) | .job_id' \
    "$W/agent-$h.jobs"); do
    for rec in received started finished; do
      n=$(job_recs "$h" "$job" "$rec")
      [ "$n" = 1 ] || fail "$h: job $job has $n '$rec' records in its journal"
    done
  done
  n=$(jq -r --arg run "$run" 'select(.rec == "started") | .job_id' "$W/agent-$h.jobs" |
    sort | uniq -d | wc -l)
  [ "$n" = 0 ] || fail "$h: a job was started twice"
  n=$(q "$h" "SELECT count(*) FROM ebb.events WHERE kind = 'deploy' AND run_id = '$run'")
  [ "$n" = 2 ] || fail "$h: $n deploy events for run $run (2 revisions, each once)"
}

# migrate_results_once RUN HOST...: the run's audit holds one migrate step result per host.
migrate_results_once() {
  local run=$1 h n; shift
  ebb_as bob audit --run "$run" --json
  expect_rc 0
  for h in "$@"; do
    n=$(js "[.[0].records[] | select(.type == \"audit.step_result\" and .payload.host == \"$h\" and .payload.step == \"migrate\")] | length")
    [ "$n" = 1 ] || fail "$h: $n migrate results in the audit of run $run"
  done
}

# registry_consistent HOST REV: the agent's own view of its database (ebb-agent db status):
# at REV, no drift.
registry_consistent() {
  local h=$1 want=$2 out
  out=$("$AGENT" db status --config "$W/agent-$h.conf" --db app --json) ||
    fail "$h: ebb-agent db status failed: $out"
  echo "$out" >"$W/dbstatus-$h.json"
  [ "$(jq -r .current <<<"$out")" = "$want" ] ||
    fail "$h: ebb-agent db status says $(jq -c . <<<"$out"), expected $want"
  [ "$(jq -r '.recorded_fingerprint | length > 0' <<<"$out")" = true ] ||
    fail "$h: no fingerprint recorded for $want: $(jq -c . <<<"$out")"
  [ "$(jq -r .drift <<<"$out")" = false ] ||
    fail "$h: drift after the migration: $(jq -c .drift_objects <<<"$out")"
}
