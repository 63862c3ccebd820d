#!/usr/bin/env bash
# The real ebb-coordinator with two real `ebb-agent run` processes, each on its own PostgreSQL
# cluster: enrollment pending -> accept -> status shows the databases; a rollout over both
# hosts; SIGKILL of the coordinator in the middle of a run, restart, the run completes and no
# job ran twice (the agents' job journals); revoke.
set -euo pipefail

if [ -z "${EBB_TEST_PG_CONNINFO_2:-}" ]; then
  exec "$EBB_BIN_DIR/tests/ebb-test-pg" run --clusters 2 -- bash "$0" "$@"
fi

COORD="$EBB_BIN_DIR/coordinator/ebb-coordinator"
AGENT="$EBB_BIN_DIR/agent/ebb-agent"
EBB="$EBB_BIN_DIR/coordinator/ebb"
OPCALL="$EBB_BIN_DIR/tests/ebb-test-opcall"
PSQL=/usr/lib/postgresql/15/bin/psql
W=$(mktemp -d "${TMPDIR:-/tmp}/ebb-coordd.XXXXXX")
chmod 755 "$W"
COORD_PID=
A1_PID=
A2_PID=

cleanup() {
  local rc=$?
  for p in $A1_PID $A2_PID $COORD_PID; do
    kill -9 "$p" 2>/dev/null || true
  done
  for h in 1 2; do
    if [ -f "$W/h$h/svc.pid" ]; then kill "$(cat "$W/h$h/svc.pid")" 2>/dev/null || true; fi
  done
  if [ "$rc" -ne 0 ]; then
    echo "--- coordinator log (tail)" >&2; tail -n 80 "$W/coord.log" >&2 2>/dev/null || true
    for h in 1 2; do
      echo "--- agent $h log (tail)" >&2; tail -n 30 "$W/h$h/agent.log" >&2 2>/dev/null || true
    done
  fi
  if [ "$rc" -ne 0 ] || [ -n "${EBB_KEEP:-}" ]; then echo "kept $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT

fail() { echo "FAIL: $* (line ${BASH_LINENO[0]})" >&2; exit 1; }

wait_for() {
  local n=$(($1 * 10)); shift
  while [ $n -gt 0 ]; do
    if eval "$1"; then return 0; fi
    sleep 0.1
    n=$((n - 1))
  done
  return 1
}

# op COMMAND [name=value ...]: one operator call, its {"status","message","json"} on stdout.
op() {
  "$OPCALL" --url "ipc://$W/op.sock" --coordinator-key "$W/coord.key.pub" --key "$W/alice.key" \
    --timeout-ms 90000 "$@"
}

# op_ok COMMAND ...: the status must be 0; prints .json.
op_ok() {
  local out
  out=$(op "$@") || fail "op $* did not go through"
  [ "$(jq -r .status <<<"$out")" = 0 ] || fail "op $*: $out"
  jq -c .json <<<"$out"
}

conninfo_db() { echo "$1" | sed "s/dbname=[^ ]*/dbname=$2/"; }

# Per host: database app on its own cluster, a fake service, the migrations, agent.conf.
make_host() {
  local h=$1 conn=$2 d="$W/h$1"
  mkdir -p "$d/backups"
  chown postgres "$d/backups" 2>/dev/null || true
  "$PSQL" -XAtq -v ON_ERROR_STOP=1 -d "$conn" -c "CREATE DATABASE app" >/dev/null
  local app
  app=$(conninfo_db "$conn" app)
  cat >"$d/svc-start.sh" <<EOF
#!/bin/sh
[ -f "$d/svc.pid" ] && kill -0 "\$(cat "$d/svc.pid")" 2>/dev/null && exit 0
setsid sleep 100000 </dev/null >/dev/null 2>&1 &
echo \$! >"$d/svc.pid"
EOF
  cat >"$d/svc-stop.sh" <<EOF
#!/bin/sh
[ -f "$d/svc.pid" ] || exit 0
kill "\$(cat "$d/svc.pid")" 2>/dev/null
rm -f "$d/svc.pid"
EOF
  cat >"$d/svc-status.sh" <<EOF
#!/bin/sh
[ -f "$d/svc.pid" ] && kill -0 "\$(cat "$d/svc.pid")" 2>/dev/null
EOF
  chmod 755 "$d"/svc-*.sh
  "$d/svc-start.sh"
  mkdir -p "$d/migrations"
  echo "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO items VALUES (1, 'a'), (2, 'b');" >"$d/migrations/1_items.up.sql"
  echo "DROP TABLE items;" >"$d/migrations/1_items.down.sql"
  echo "ALTER TABLE items ADD COLUMN price int;" >"$d/migrations/2_price.up.sql"
  echo "ALTER TABLE items DROP COLUMN price;" >"$d/migrations/2_price.down.sql"
  echo "SELECT pg_sleep(4);
CREATE TABLE slow (id int);" >"$d/migrations/3_slow.up.sql"
  echo "DROP TABLE slow;" >"$d/migrations/3_slow.down.sql"
  "$EBB" keygen --out "$d/agent.key" >/dev/null
  cat >"$d/agent.conf" <<EOF
agent = { id = "host-$h"; key_file = "$d/agent.key"; replay_store = "$d/agent.replay";
          job_journal = "$d/jobs.journal"; log_level = "debug"; };
coordinator = { address = "ipc://$W/agents.sock"; public_key_file = "$W/coord.key.pub";
                poll_interval_ms = 300; heartbeat_interval_ms = 1000;
                reconnect_min_ms = 100; reconnect_max_ms = 500; request_timeout_ms = 3000; };
databases = (
  { name = "app"; conninfo = "$app"; environment = "claims-prod";
    source = { dir = "$d/migrations"; kind = "golang-migrate"; };
    services = { stop = ["$d/svc-stop.sh"]; start = ["$d/svc-start.sh"];
                 status = ["$d/svc-status.sh"]; timeout_ms = 5000;
                 health = { command = ["$d/svc-status.sh"]; attempts = 3; interval_ms = 200; }; };
    backup = { dir = "$d/backups"; retention = 5; };
  }
);
EOF
}

start_coord() {
  "$COORD" run --config "$W/coordinator.conf" >>"$W/coord.log" 2>&1 &
  COORD_PID=$!
  wait_for 10 '[ -S "$W/op.sock" ] && op whoami >/dev/null 2>&1' || fail "coordinator did not start"
}

start_agent() {
  "$AGENT" run --config "$W/h$1/agent.conf" --status-file "$W/h$1/status.json" \
    >>"$W/h$1/agent.log" 2>&1 &
  eval "A$1_PID=\$!"
}

revisions() {
  "$PSQL" -XAtq -d "$(conninfo_db "$1" app)" \
    -c "SELECT coalesce(string_agg(revision, ',' ORDER BY revision), '') FROM ebb.applied"
}

# run_state RUN: the run's state.
run_state() { op_ok show run="$1" wait_ms=0 | jq -r .run.state; }

# ---- setup ----
"$EBB" keygen --out "$W/coord.key" >/dev/null
"$EBB" keygen --out "$W/alice.key" >/dev/null
mkdir -p "$W/state"
cat >"$W/coordinator.conf" <<EOF
coordinator = { key_file = "coord.key"; journal_dir = "state";
  listen = { agents = "ipc://$W/agents.sock"; operators = "ipc://$W/op.sock"; };
  poll_wait_ms = 1000; liveness_s = 30; plan_timeout_ms = 30000; log_level = "info"; };
environments = (
  { name = "test"; policy = { require_backup = true; };
    waves = { batch = 1; budget = 0; on_failure = "halt"; };
    timeouts = { default_s = 120; silent_s = 60; }; }
);
operators = ( { name = "alice"; public_key_file = "alice.key.pub";
                grants = ( { env = "*"; roles = ["read", "operate", "approve"]; } ); } );
EOF
"$COORD" check-config --config "$W/coordinator.conf" >/dev/null || fail "check-config"
make_host 1 "$EBB_TEST_PG_CONNINFO_1"
make_host 2 "$EBB_TEST_PG_CONNINFO_2"

start_coord
start_agent 1
start_agent 2

# ---- enrollment: pending until accepted ----
wait_for 20 '[ "$(op_ok agents state=pending | jq ".agents | length")" = 2 ]' ||
  fail "agents did not show up as pending: $(op agents)"
wait_for 10 '[ "$(jq -r .state "$W/h1/status.json" 2>/dev/null)" = pending ]' ||
  fail "agent 1 is not pending"
out=$(op rollout env=test to=2 reason=early)
[ "$(jq -r .status <<<"$out")" = 4 ] || fail "a rollout with no accepted host went through: $out"
op_ok agents.accept id=host-1 env=test >/dev/null
op_ok agents.accept id=host-2 env=test >/dev/null
wait_for 20 '[ "$(jq -r .state "$W/h1/status.json" 2>/dev/null)" = accepted ] &&
             [ "$(jq -r .state "$W/h2/status.json" 2>/dev/null)" = accepted ]' || fail "agents not accepted"
wait_for 20 '[ "$(op_ok status env=test |
  jq "[.environments[0].hosts[] | select(.alive and .databases[0].graph_known)] | length")" = 2 ]' ||
  fail "status does not show both hosts with their databases: $(op status)"
st=$(op_ok status env=test)
[ "$(jq -r '.environments[0].hosts[0].environment' <<<"$st")" = test ] ||
  fail "the coordinator's environment must win over the agent's claim: $st"
[ "$(jq -r '.environments[0].hosts[0].databases[0].claimed_environment' <<<"$st")" = claims-prod ] ||
  fail "the claim is kept apart: $st"

# ---- plan: every host's precheck before anything changes ----
plan=$(op_ok plan env=test kind=rollout to=2)
[ "$(jq '.prechecks | length' <<<"$plan")" = 2 ] || fail "plan prechecks: $plan"
[ "$(jq -r .prechecks_ok <<<"$plan")" = true ] || fail "prechecks failed: $plan"
[ "$(revisions "$EBB_TEST_PG_CONNINFO_1")" = "" ] || fail "plan changed host 1"

# ---- a rollout over both hosts ----
out=$(op rollback env=test to=1)
[ "$(jq -r .status <<<"$out")" = 2 ] || fail "a rollback without a reason must be refused: $out"
run1=$(op_ok rollout env=test to=2 reason="first release" | jq -r .run.run_id)
wait_for 120 '[ "$(run_state "$run1")" = succeeded ]' || fail "run 1: $(op show run="$run1" wait_ms=0)"
[ "$(revisions "$EBB_TEST_PG_CONNINFO_1")" = "1,2" ] || fail "host 1 revisions"
[ "$(revisions "$EBB_TEST_PG_CONNINFO_2")" = "1,2" ] || fail "host 2 revisions"

# ---- SIGKILL of the coordinator in the middle of a run ----
run2=$(op_ok rollout env=test to=3 reason="slow release" | jq -r .run.run_id)
wait_for 60 '[ "$(op_ok show run="$run2" wait_ms=0 |
  jq -r "[.run.hosts[] | select(.job == \"migrate\")] | length")" = 1 ]' ||
  fail "run 2 never reached a migrate step"
kill -9 "$COORD_PID"
wait "$COORD_PID" 2>/dev/null || true
sleep 1
start_coord
wait_for 120 '[ "$(run_state "$run2")" = succeeded ]' || fail "run 2 after restart: $(op show run="$run2" wait_ms=0)"
[ "$(revisions "$EBB_TEST_PG_CONNINFO_1")" = "1,2,3" ] || fail "host 1 revisions after run 2"
[ "$(revisions "$EBB_TEST_PG_CONNINFO_2")" = "1,2,3" ] || fail "host 2 revisions after run 2"
grep -q "asking host-.* again for job" "$W/coord.log" || fail "no job was asked again after restart"

# No job ran twice: every job id has at most one "started" record in each agent's job journal.
for h in 1 2; do
  dup=$(jq -r 'select(.rec == "started") | .job_id' "$W/h$h/jobs.journal" | sort | uniq -d)
  [ -z "$dup" ] || fail "host $h ran job(s) twice: $dup"
done
steps=$(jq -r "select(.rec == \"received\" and .run_id == \"$run2\") | .job_id" "$W/h1/jobs.journal" | sort -u | wc -l)
[ "$steps" = 7 ] || fail "host 1 received $steps distinct jobs of run 2, expected 7"

# ---- audit: both runs, each step once, the operator named ----
audit=$(op_ok audit)
[ "$(jq '.runs | length' <<<"$audit")" = 2 ] || fail "audit runs: $audit"
[ "$(jq -r "[.runs[] | select(.outcome == \"succeeded\")] | length" <<<"$audit")" = 2 ] ||
  fail "audit outcomes: $audit"
alice=$(op_ok whoami | jq -r .key_id)
grep -q "\"operator_key_id\":\"$alice\"" "$W/state/coordinator.journal" || fail "audit names no key"
[ "$(op_ok audit.verify | jq -r .ok)" = true ] || fail "journal does not verify"

# ---- revoke: the key is refused from then on, also after a restart ----
op_ok agents.revoke id=host-2 >/dev/null
wait_for 20 '[ "$(jq -r ".rejected_total // .counters.rejected_total // 0" "$W/h2/status.json")" != 0 ] ||
             grep -q "revoked" "$W/h2/agent.log"' || true
kill -TERM "$COORD_PID"
wait "$COORD_PID" || fail "coordinator did not exit cleanly on SIGTERM"
start_coord
[ "$(op_ok agents | jq -r '.agents[] | select(.id == "host-2") | .state')" = revoked ] ||
  fail "revocation lost across a restart"
[ "$(op_ok agents | jq -r '.agents[] | select(.id == "host-1") | .environment')" = test ] ||
  fail "acceptance lost across a restart"
echo "ok"
