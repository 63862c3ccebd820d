# Helpers for the agent daemon integration tests (sourced, not run): a real
# `ebb-agent run` process against ebb-test-fake-coordinator on a throwaway
# PostgreSQL cluster. The test re-executes itself under `ebb-test-pg run --`.

if [ -z "${EBB_TEST_PG_CONNINFO:-}" ]; then
  exec "$EBB_BIN_DIR/tests/ebb-test-pg" run -- bash "$0" "$@"
fi

AGENT="$EBB_BIN_DIR/agent/ebb-agent"
EBB="$EBB_BIN_DIR/coordinator/ebb"
FAKE="$EBB_BIN_DIR/tests/ebb-test-fake-coordinator"
PSQL=/usr/lib/postgresql/15/bin/psql
W=$(mktemp -d "${TMPDIR:-/tmp}/ebb-agentd.XXXXXX")
chmod 755 "$W"
AGENT_PID=
FC_PID=

cleanup() {
  local rc=$?
  if [ -n "$AGENT_PID" ] && kill -0 "$AGENT_PID" 2>/dev/null; then
    kill -9 "$AGENT_PID" 2>/dev/null || true
  fi
  if [ -n "$FC_PID" ] && kill -0 "$FC_PID" 2>/dev/null; then
    kill "$FC_PID" 2>/dev/null || true
  fi
  if [ -f "$W/svc.pid" ]; then kill "$(cat "$W/svc.pid")" 2>/dev/null || true; fi
  if [ "$rc" -ne 0 ]; then
    echo "--- agent log (tail)" >&2; tail -n 60 "$W/agent.log" >&2 2>/dev/null || true
    echo "--- fake coordinator log (tail)" >&2; tail -n 20 "$W/fc.log" >&2 2>/dev/null || true
  fi
  if [ "$rc" -ne 0 ] || [ -n "${EBB_KEEP:-}" ]; then echo "kept $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT

fail() { echo "FAIL: $* (line ${BASH_LINENO[0]})" >&2; exit 1; }

# q DB SQL: one query, unaligned output.
q() { "$PSQL" -XAtq -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

new_db() {
  "$PSQL" -XAtq -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE \"$1\"" >/dev/null
  echo "$EBB_TEST_PG_CONNINFO" | sed "s/dbname=[^ ]*/dbname=$1/"
}

# A fake application: a sleep process behind start/stop/status scripts (the
# configured argv). stop fails while $W/fail-stop exists.
make_service() {
  cat >"$W/svc-start.sh" <<EOF
#!/bin/sh
[ -f "$W/svc.pid" ] && kill -0 "\$(cat "$W/svc.pid")" 2>/dev/null && exit 0
setsid sleep 100000 </dev/null >/dev/null 2>&1 &
echo \$! >"$W/svc.pid"
EOF
  cat >"$W/svc-stop.sh" <<EOF
#!/bin/sh
if [ -f "$W/fail-stop" ]; then echo "stop refused: maintenance lock" >&2; exit 1; fi
[ -f "$W/svc.pid" ] || exit 0
kill "\$(cat "$W/svc.pid")" 2>/dev/null
rm -f "$W/svc.pid"
EOF
  cat >"$W/svc-status.sh" <<EOF
#!/bin/sh
[ -f "$W/svc.pid" ] && kill -0 "\$(cat "$W/svc.pid")" 2>/dev/null
EOF
  chmod 755 "$W"/svc-*.sh
}

# Migrations (golang-migrate layout): two quick steps, then three slow ones.
make_migrations() {
  mkdir -p "$W/migrations"
  cd "$W/migrations"
  echo "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO items VALUES (1, 'a'), (2, 'b'), (3, 'c');" >1_items.up.sql
  echo "DROP TABLE items;" >1_items.down.sql
  echo "ALTER TABLE items ADD COLUMN price int;" >2_price.up.sql
  echo "ALTER TABLE items DROP COLUMN price;" >2_price.down.sql
  echo "SELECT pg_sleep(${SLOW_S:-3});
CREATE TABLE slow_a (id int);" >3_slow_a.up.sql
  echo "DROP TABLE slow_a;" >3_slow_a.down.sql
  echo "SELECT pg_sleep(${SLOW_S:-3});
CREATE TABLE slow_b (id int);" >4_slow_b.up.sql
  echo "DROP TABLE slow_b;" >4_slow_b.down.sql
  echo "SELECT pg_sleep(${SLOW_S:-3});
CREATE TABLE slow_c (id int);" >5_slow_c.up.sql
  echo "DROP TABLE slow_c;" >5_slow_c.down.sql
  cd - >/dev/null
}

# setup: keys, database "app", service scripts, migrations, agent.conf; URL set.
setup() {
  "$EBB" keygen --out "$W/coord.key" --json >"$W/coord.json"
  "$EBB" keygen --out "$W/agent.key" --json >"$W/agent.json"
  COORD_PUB=$(jq -r .public_key "$W/coord.json")
  AGENT_KEY_ID=$(jq -r .key_id "$W/agent.json")
  APP=$(new_db app)
  make_service
  make_migrations
  mkdir -p "$W/backups"
  chown postgres "$W/backups" 2>/dev/null || true
  URL="ipc://$W/coord.sock"
  cat >"$W/agent.conf" <<EOF
agent = { id = "host-1"; key_file = "$W/agent.key"; replay_store = "$W/agent.replay";
          job_journal = "$W/jobs.journal"; log_level = "debug"; };
coordinator = { address = "$URL"; public_key = "$COORD_PUB";
                poll_interval_ms = 300; heartbeat_interval_ms = 2000;
                reconnect_min_ms = 100; reconnect_max_ms = 1000; request_timeout_ms = 3000; };
databases = (
  { name = "app"; conninfo = "$APP"; environment = "test";
    source = { dir = "$W/migrations"; kind = "golang-migrate"; };
    services = { stop = ["$W/svc-stop.sh"]; start = ["$W/svc-start.sh"];
                 status = ["$W/svc-status.sh"]; timeout_ms = 5000;
                 health = { command = ["$W/svc-status.sh"]; attempts = 3; interval_ms = 200; }; };
    backup = { dir = "$W/backups"; retention = 5; };
  }
);
EOF
}

# The fake coordinator behind two FIFOs (descriptors 7 and 8 of this shell,
# inherited by command substitutions): fc CMD... writes one command and
# prints its one-line answer.
start_fc() {
  mkfifo "$W/fc.in" "$W/fc.out"
  "$FAKE" --url "$URL" --key "$W/coord.key" --wait-ms "${FC_WAIT_MS:-2000}" \
    <"$W/fc.in" >"$W/fc.out" 2>>"$W/fc.log" &
  FC_PID=$!
  exec 7>"$W/fc.in" 8<"$W/fc.out"
}

fc() {
  coproc FC { exec "$FAKE" --url "$URL" --key "$W/coord.key" --wait-ms "${FC_WAIT_MS:-2000}" 2>>"$W/fc.log"; }
  FC_PID=$FC_PID
  FC_IN=${FC[1]}
  FC_OUT=${FC[0]}
}

fc() {
  echo "$*" >&7
  local line
  IFS= read -r -t 120 line <&8 || fail "fake coordinator did not answer '$*'"
  echo "$line"
}

# fc_ok CMD...: the answer must have ok=true; prints it.
fc_ok() {
  local out
  out=$(fc "$@")
  [ "$(jq -r .ok <<<"$out")" = true ] || fail "fake coordinator: '$*' -> $out"
  echo "$out"
}

start_agent() {
  "$AGENT" run --config "$W/agent.conf" --status-file "$W/status.json" >>"$W/agent.log" 2>&1 &
  AGENT_PID=$!
}

# st FILTER: jq on the agent's status file.
st() { jq -r "$1" "$W/status.json"; }

# rejected REASON: how many coordinator messages the agent refused for REASON.
rejected() { jq -r --arg c "$1" '.rejected[$c] // 0' "$W/status.json"; }

# deliveries JOB: how many times the fake coordinator received JOB's result.
deliveries() { fc_ok status | jq -r --arg j "$1" '.deliveries[$j] // 0'; }

# journal_count JOB REC: how many records of kind REC the job journal has for JOB.
journal_count() {
  if [ ! -f "$W/jobs.journal" ]; then echo 0; return; fi
  jq -c --arg j "$1" --arg r "$2" 'select(.job_id == $j and .rec == $r)' "$W/jobs.journal" | wc -l
}

# wait_for SECONDS 'SHELL CONDITION': until the condition (evaluated each time) holds.
wait_for() {
  local n=$(($1 * 10)); shift
  while [ $n -gt 0 ]; do
    if eval "$1"; then return 0; fi
    sleep 0.1
    n=$((n - 1))
  done
  return 1
}

# Current revisions of app (the registry).
revisions() { q app "SELECT coalesce(string_agg(revision, ',' ORDER BY seq), '') FROM ebb.applied"; }

# result JOB [SECONDS]: wait for JOB's result, print the result object.
result() {
  local out
  out=$(fc wait-result "$1" "$(( ${2:-30} * 1000 ))")
  [ "$(jq -r .ok <<<"$out")" = true ] || fail "no result for $1: $out"
  jq -c .result <<<"$out"
}

# expect_outcome JOB OUTCOME [SECONDS]: prints the result.
expect_outcome() {
  local r
  r=$(result "$1" "${3:-30}")
  [ "$(jq -r .outcome <<<"$r")" = "$2" ] || fail "job $1: expected $2, got $r"
  echo "$r"
}
