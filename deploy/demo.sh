#!/usr/bin/env bash
# The README's demo: a small fleet on this machine, driven by ebb end to end.
#
#   bash deploy/demo.sh                      install dependencies, build into ./build-demo, run
#   bash deploy/demo.sh --no-install --build-dir DIR
#                                            run against programs already built in DIR (tests)
#
# Seven PostgreSQL 15 clusters stand in for database hosts (dev-1 dev-2,
# staging-1 staging-2, prod-1 prod-2 prod-3). Each host gets an ebb agent and a
# stand-in application (deploy/demo/app.py: holds a database connection and
# answers an HTTP health check) that the agent stops and starts around every
# change. One coordinator, two operators: alice asks, bob approves. Then:
#   1. enrollment   2. a plan   3. a staged rollout dev -> staging -> prod
#   4. a prod rollback that needs bob's approval
#   5. a rollback that hits a broken down script on one host: the run halts,
#      the host is restored from its backup, the others are untouched
#   6. fleet status, rollback history from the audit, audit verification.
# Everything runs as root on private unix sockets and is stopped and removed at
# the end (or on Ctrl-C), except the logs, whose place is printed.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
DEMO="$here/deploy/demo"
PGBIN=/usr/lib/postgresql/15/bin
HOSTS="dev-1 dev-2 staging-1 staging-2 prod-1 prod-2 prod-3"
BROKEN_HOST=dev-1 # gets the copy of release 6 with a broken down script

install=1
bin=
usage() {
  sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
}
while [ $# -gt 0 ]; do
  case "$1" in
    --no-install) install=0 ;;
    --build-dir) bin=$(cd "${2:?--build-dir needs a directory}" && pwd); shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "demo: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

if [ "$(id -u)" -ne 0 ]; then
  echo "demo: run as root (PostgreSQL clusters are started as the postgres user)" >&2
  exit 2
fi

# ---------------------------------------------------------------- output ----

if [ -t 1 ]; then B=$'\e[1m'; D=$'\e[2m'; R=$'\e[31m'; G=$'\e[32m'; N=$'\e[0m'; else B= D= R= G= N=; fi
T0=$SECONDS

section() { printf '\n%s==== %s %s[%ds]%s\n' "$B" "$*" "$D" $((SECONDS - T0)) "$N"; }
# say [""] TEXT...: one paragraph, wrapped; a first empty argument puts a blank line before it.
say() {
  if [ $# -gt 0 ] && [ -z "$1" ]; then echo; shift; fi
  printf '%s\n' "$*" | fold -s -w 78 | sed 's/ *$//; s/^/  /'
}
ok() { printf '  %s✔ %s%s\n' "$G" "$*" "$N"; }

# ------------------------------------------------------- install, build ----

cd "$here"
if [ "$install" = 1 ]; then
  bash deploy/install-deps.sh
fi
if [ -z "$bin" ]; then
  section "Building ebb (RelWithDebInfo) into ./build-demo"
  cmake -S . -B build-demo -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build-demo -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
  bin="$here/build-demo"
fi
EBB="$bin/coordinator/ebb"
COORD="$bin/coordinator/ebb-coordinator"
AGENT="$bin/agent/ebb-agent"
for p in "$EBB" "$COORD" "$AGENT" "$PGBIN/initdb" "$PGBIN/pg_ctl"; do
  [ -x "$p" ] || { echo "demo: $p is missing (build first, or give --build-dir)" >&2; exit 2; }
done

# ------------------------------------------------------ state, clean-up ----

W=$(mktemp -d /tmp/ebb-demo.XXXXXX)        # clusters, keys, configurations, journals
LOGS=$(mktemp -d /tmp/ebb-demo-logs.XXXXXX) # kept after the demo
chmod 755 "$W" "$LOGS"
declare -A AGENT_PID=()
COORD_PID=
OUT="$W/out" # the last ebb command's stdout / stderr
ERR="$W/err"

# stop_pids PID...: SIGTERM to each, up to 10 s for all to exit, then SIGKILL for the rest.
stop_pids() {
  local pid i=0
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "$@"; do
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  printf '\n%s==== Cleaning up%s\n' "$B" "$N"
  [ ${#AGENT_PID[@]} -gt 0 ] && stop_pids "${AGENT_PID[@]}"
  [ -n "$COORD_PID" ] && stop_pids "$COORD_PID"
  for h in $HOSTS; do
    [ -f "$W/hosts/$h/app.env" ] && "$DEMO/service.sh" stop "$W/hosts/$h" >/dev/null 2>&1
    [ -f "$W/pg/$h/postmaster.pid" ] &&
      runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/pg/$h" -m fast -w -t 30 stop >/dev/null 2>&1
  done
  cp "$W/coordinator.conf" "$W"/hosts/*/agent.conf "$LOGS/" 2>/dev/null
  rm -rf "$W"
  echo "  agents, coordinator, applications and clusters stopped; $W removed"
  if [ "$rc" -eq 0 ]; then
    printf '  %sDemo finished in %ds.%s Logs: %s\n' "$G" $((SECONDS - T0)) "$N" "$LOGS"
  elif [ "$rc" -eq 130 ]; then
    printf '  %sDemo interrupted.%s Logs: %s\n' "$R" "$N" "$LOGS"
  else
    printf '  %sDemo FAILED (exit %d).%s Logs: %s\n' "$R" "$rc" "$N" "$LOGS"
  fi
  echo "  (coordinator.log, agent-HOST.log, app-HOST.log, postgres-HOST.log, configurations)"
  exit "$rc"
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted" >&2; exit 130' INT TERM

die() {
  printf '\n%sdemo: FAILED: %s%s\n' "$R" "$*" "$N" >&2
  if [ -s "$OUT" ] || [ -s "$ERR" ]; then
    echo "--- last ebb output" >&2
    cat "$OUT" "$ERR" >&2 2>/dev/null
  fi
  echo "--- coordinator log (tail)" >&2
  tail -n 20 "$LOGS/coordinator.log" >&2 2>/dev/null
  exit 1
}

# wait_for SECONDS WHAT COMMAND...: poll COMMAND every 0.2 s until it succeeds.
wait_for() {
  local secs=$1 what=$2
  shift 2
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || die "timed out after ${secs}s waiting for: $what"
    sleep 0.2
  done
}

# ------------------------------------------------------------- ebb CLI ------

export EBB_TIMEOUT=60

# ebb_as OPERATOR ARGS...: the CLI with OPERATOR's key; output in $OUT/$ERR, exit code in $rc.
ebb_as() {
  local who=$1
  shift
  set +e
  EBB_KEY="$W/keys/$who.key" EBB_STATE_DIR="$W/cli-$who" "$EBB" "$@" >"$OUT" 2>"$ERR"
  rc=$?
  set -e
}

# run OPERATOR EXPECTED_RC ARGS...: print the command, run it, print its output; stop the demo
# when it exits otherwise than expected.
run() {
  local who=$1 want=$2
  shift 2
  local shown=""
  for a in "$@"; do
    case "$a" in *[\ \"]*) shown+=" \"$a\"" ;; *) shown+=" $a" ;; esac
  done
  printf '\n%s%s$ ebb%s%s\n' "$B" "$who" "$shown" "$N"
  ebb_as "$who" "$@"
  sed 's/^/    /' "$OUT"
  sed 's/^/    /' "$ERR"
  [ "$rc" -eq "$want" ] || die "'ebb$shown' exited $rc, expected $want"
}

js() { jq -r "$1" "$OUT"; }

# start_run OPERATOR ARGS...: `run` a rollout or rollback; its run id in $RUN.
start_run() {
  run "$1" 0 "${@:2}"
  RUN=$(grep -o 'run-[0-9]*-[0-9a-f]*' "$OUT" | head -n 1)
  [ -n "$RUN" ] || die "no run id in the output of ebb ${*:2}"
}

# follow RUN EXPECTED_RC: `ebb show RUN --follow`, condensed to one line per change (the run's
# state, then each host's step or state), then the run as `ebb show RUN` prints it.
follow() {
  local run_id=$1 want=$2
  printf '\n%salice$ ebb show %s --follow%s   %s(one line per change)%s\n' "$B" "$run_id" "$N" "$D" "$N"
  set +e
  EBB_KEY="$W/keys/alice.key" EBB_STATE_DIR="$W/cli-alice" "$EBB" show "$run_id" --follow --json \
    2>"$ERR" | jq --unbuffered -r '
        "\(.state)  " + ([.hosts[] | "\(.host):\(if (.state | IN("running", "unknown", "restoring", "compensating"))
                                  then (.job // .state) else .state end)"]
                        | join("  "))' |
    {
      prev=
      while IFS= read -r line; do
        [ "$line" = "$prev" ] || printf '    %(%H:%M:%S)T  %s\n' -1 "$line"
        prev=$line
      done
    }
  rc=${PIPESTATUS[0]}
  set -e
  sed 's/^/    /' "$ERR"
  [ "$rc" -eq "$want" ] || die "'ebb show $run_id --follow' exited $rc, expected $want"
  run alice 0 show "$run_id"
}

run_state() {
  ebb_as alice show "$1" --json
  js .state
}

# in_state RUN STATE: the run is in STATE now.
in_state() { [ "$(run_state "$1")" = "$2" ]; }

# psql on HOST's database shop
q() { "$PGBIN/psql" -XAtq -v ON_ERROR_STOP=1 -h "$W/pg/$1" -U postgres -d shop -c "$2"; }

# rev HOST: the newest revision ebb's registry records on HOST ("base" when none).
rev() {
  q "$1" "SELECT coalesce((SELECT revision FROM ebb.applied ORDER BY seq DESC LIMIT 1), 'base')" \
    2>/dev/null || echo base
}

expect_rev() { # expect_rev REV HOST...
  local want=$1 h
  shift
  for h in "$@"; do
    [ "$(rev "$h")" = "$want" ] || die "$h is at revision $(rev "$h"), expected $want"
  done
}

# health HOST: GET the stand-in application's health check, print the answer.
health() {
  local port
  port=$(. "$W/hosts/$1/app.env" && echo "$APP_PORT")
  /usr/bin/python3 - "$port" <<'PY'
import sys, urllib.request, urllib.error
url = "http://127.0.0.1:%s/health" % sys.argv[1]
try:
    with urllib.request.urlopen(url, timeout=2) as r:
        print("%d %s" % (r.status, r.read().decode().strip()))
except urllib.error.HTTPError as e:
    print("%d %s" % (e.code, e.read().decode().strip())); sys.exit(1)
except OSError as e:
    print("no answer (%s)" % getattr(e, "reason", e)); sys.exit(1)
PY
}

show_health() { # show_health HOST...: one line per host
  local h
  for h in "$@"; do printf '    %-10s %s\n' "$h" "$(health "$h" || true)"; done
}

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ------------------------------------------------------------ the fleet -----

section "0/6 Setting up the demo fleet in $W"
say "One PostgreSQL 15 cluster per host, each with a database \"shop\"; per host an ebb agent" \
  "and a stand-in application (deploy/demo/app.py) that holds a database connection and" \
  "answers http://127.0.0.1:PORT/health. The coordinator listens on unix sockets; agents dial" \
  "out to it. Keys: one per coordinator, agent and operator (alice asks, bob approves)."

mkdir -p "$W/pg" "$W/keys" "$W/hosts" "$W/coord"
chown postgres "$W/pg"
# One initdb, copied: seven initdb runs would take longer than the rest of the set-up.
runuser -u postgres -- "$PGBIN/initdb" -D "$W/pg/template" -A trust -U postgres -E UTF8 \
  --locale=C.UTF-8 --no-sync >"$LOGS/initdb.log" 2>&1 || die "initdb failed (see $LOGS/initdb.log)"
for h in $HOSTS; do
  cp -a "$W/pg/template" "$W/pg/$h"
  touch "$LOGS/postgres-$h.log"
  chown postgres "$LOGS/postgres-$h.log"
  # Unix socket only (in the data directory): no TCP port to collide with anything.
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/pg/$h" -l "$LOGS/postgres-$h.log" -w -t 60 \
    -o "-k $W/pg/$h -c listen_addresses= -c fsync=off" start >/dev/null ||
    die "PostgreSQL for $h did not start (see $LOGS/postgres-$h.log)"
  "$PGBIN/psql" -XAtq -h "$W/pg/$h" -U postgres -d postgres -c "CREATE DATABASE shop" >/dev/null
done
rm -rf "$W/pg/template"
ok "7 clusters running, database shop on each"

"$EBB" keygen --out "$W/keys/coordinator.key" --json >"$W/keys/coordinator.json"
"$EBB" keygen --out "$W/keys/alice.key" >/dev/null
"$EBB" keygen --out "$W/keys/bob.key" >/dev/null
COORD_PUB=$(jq -r .public_key "$W/keys/coordinator.json")
export EBB_COORDINATOR="ipc://$W/operators.sock"
export EBB_COORDINATOR_KEY="$W/keys/coordinator.key.pub"

# Promotion order dev -> staging -> prod. prod is forward-only: a rollback there needs the
# approval of an operator other than the one who asked. Canary first, then batches; the first
# failed host stops the run (budget 0, on_failure = halt).
cat >"$W/coordinator.conf" <<EOF
coordinator = {
  key_file = "$W/keys/coordinator.key";
  journal_dir = "$W/coord";
  listen = { agents = "ipc://$W/agents.sock"; operators = "ipc://$W/operators.sock"; };
  poll_wait_ms = 1000;
  liveness_s = 20;
  plan_timeout_ms = 30000;
  log_level = "info";
};
environments = (
  { name = "dev";
    waves = { canary = 1; batch = 1; budget = 0; on_failure = "halt"; }; },
  { name = "staging";
    policy = { promotion = true; require_backup = true; };
    waves = { canary = 1; batch = 1; budget = 0; on_failure = "halt"; }; },
  { name = "prod";
    policy = { promotion = true; approvals = 0; forward_only = true; require_backup = true; };
    waves = { canary = 1; batch = 2; budget = 0; on_failure = "halt"; }; }
);
operators = (
  { name = "alice"; public_key_file = "$W/keys/alice.key.pub";
    grants = ( { env = "*"; roles = ["read", "operate", "approve"]; } ); },
  { name = "bob"; public_key_file = "$W/keys/bob.key.pub";
    grants = ( { env = "*"; roles = ["read", "approve"]; } ); }
);
EOF
"$COORD" check-config --config "$W/coordinator.conf" >"$LOGS/coordinator-check.log" 2>&1 ||
  die "the coordinator configuration is refused: $(cat "$LOGS/coordinator-check.log")"
"$COORD" run --config "$W/coordinator.conf" >>"$LOGS/coordinator.log" 2>&1 &
COORD_PID=$!
wait_for 15 "the coordinator to listen" test -S "$W/operators.sock"
ok "coordinator running (pid $COORD_PID)"

for h in $HOSTS; do
  d="$W/hosts/$h"
  mkdir -p "$d/migrations" "$d/backups"
  chown postgres "$d/backups"
  cp "$DEMO"/migrations/shop/*.sql "$d/migrations/"
  cat >"$d/app.env" <<EOF
APP_HOST=$h
APP_DSN="host=$W/pg/$h user=postgres dbname=shop"
APP_PORT=$(free_port)
APP_LOG=$LOGS/app-$h.log
EOF
  "$DEMO/service.sh" start "$d" || die "the application of $h did not start (see $LOGS/app-$h.log)"
  port=$(. "$d/app.env" && echo "$APP_PORT")
  "$EBB" keygen --out "$d/agent.key" >/dev/null
  cat >"$d/agent.conf" <<EOF
agent = { id = "$h"; key_file = "$d/agent.key"; replay_store = "$d/agent.replay";
          job_journal = "$d/agent.jobs"; log_level = "info"; };
coordinator = { address = "ipc://$W/agents.sock"; public_key = "$COORD_PUB";
                poll_interval_ms = 200; heartbeat_interval_ms = 1000;
                reconnect_min_ms = 100; reconnect_max_ms = 1000; request_timeout_ms = 10000; };
databases = (
  { name = "shop"; conninfo = "host=$W/pg/$h user=postgres dbname=shop"; environment = "${h%-*}";
    source = { dir = "$d/migrations"; kind = "golang-migrate"; };
    services = { stop = ["$DEMO/service.sh", "stop", "$d"];
                 start = ["$DEMO/service.sh", "start", "$d"];
                 status = ["$DEMO/service.sh", "status", "$d"]; timeout_ms = 15000;
                 health = { url = "http://127.0.0.1:$port/health"; attempts = 5; interval_ms = 300; }; };
    backup = { dir = "$d/backups"; retention = 5; };
  }
);
EOF
  "$AGENT" check-config --config "$d/agent.conf" >"$LOGS/agent-$h-check.log" 2>&1 ||
    die "the agent configuration of $h is refused: $(cat "$LOGS/agent-$h-check.log")"
  "$AGENT" run --config "$d/agent.conf" >>"$LOGS/agent-$h.log" 2>&1 &
  AGENT_PID[$h]=$!
done
ok "7 applications answering their health checks, 7 agents started"
show_health $HOSTS

# ------------------------------------------------------------ 1 enrollment --

section "1/6 Enrollment: agents wait until an operator accepts them"
say "Each agent dialled out and sent its public key. Enrollment is deny by default: the" \
  "coordinator lists them as pending and sends them nothing until an operator accepts each" \
  "key into an environment (the coordinator's record of the environment is what counts)."
pending_count() {
  ebb_as alice agents --state pending --json
  [ "$(js '.agents | length')" = 7 ]
}
wait_for 30 "7 pending agents" pending_count
run alice 0 agents
for h in $HOSTS; do
  run alice 0 agents accept "$h" --env "${h%-*}"
done
all_alive() {
  ebb_as alice status --json
  [ "$(js '[.environments[].hosts[] | select(.alive and (.databases | length) > 0)] | length')" = 7 ]
}
wait_for 30 "7 accepted, live agents that reported their database" all_alive
say "" "Every host: its database, the revision it is at (nothing applied yet), liveness."
run bob 0 status

# ------------------------------------------------------------------ 2 plan --

section "2/6 A plan: what a rollout to head would do in dev, checked on the hosts"
say "ebb plan asks every agent for a precheck (path, script checksums, risk of each statement" \
  "with live probes, free space for the backup, long transactions) and shows the waves:" \
  "dev-1 is the canary, dev-2 follows once it succeeded. Nothing changes yet."
run alice 0 plan --env dev --to head

# -------------------------------------------------------- 3 staged rollout --

section "3/6 Staged rollout of release 4 (head): dev, then staging, then prod"
say "Promotion order is enforced: prod takes a revision only after staging completed and" \
  "verified it. Asking for prod first is refused (exit 4):"
run alice 4 rollout --env prod --to head --reason "release 4"
expect_rev base prod-1 prod-2 prod-3

say "" "dev first. Per host: precheck, stop the application, back up (pg_dump, checksum," \
  "pg_restore --list), migrate one transaction per step, verify (schema fingerprint, verify" \
  "scripts), start the application, health check. ebb show RUN --follow shows the progress" \
  "live (condensed here to one line per change)."
start_run alice rollout --env dev --to head --reason "release 4"
follow "$RUN" 0
expect_rev 4 dev-1 dev-2

say "" "staging, now that dev completed and verified revision 4:"
start_run alice rollout --env staging --to head --reason "release 4"
follow "$RUN" 0
expect_rev 4 staging-1 staging-2

say "" "prod, now that staging did: canary prod-1 first, then prod-2 and prod-3 as one batch."
start_run alice rollout --env prod --to head --reason "release 4"
follow "$RUN" 0
expect_rev 4 prod-1 prod-2 prod-3
say "" "The agents restarted every application; each sees revision 4:"
show_health $HOSTS

# ------------------------------------------------------ 4 prod rollback -----

section "4/6 Coordinated rollback of prod to revision 2, with a reason and an approval"
say "INC-4711: the new index and view slow down checkout. alice asks to roll prod back to" \
  "revision 2. prod is forward-only, so the run waits for an approval by someone else."
start_run alice rollback --env prod --to 2 --reason "INC-4711: orders index slows checkout"
wait_for 15 "run $RUN to wait for approval" in_state "$RUN" awaiting_approval
run alice 0 show "$RUN"
say "" "The requester cannot approve her own run (exit 4); bob can:"
run alice 4 approve "$RUN"
run bob 0 approve "$RUN"
follow "$RUN" 0
expect_rev 2 prod-1 prod-2 prod-3
expect_rev 4 dev-1 dev-2 staging-1 staging-2
say "" "prod is at 2 (down scripts of 4 and 3, each verified against the fingerprint recorded" \
  "when 2 was current); dev and staging keep 4. The applications are back:"
show_health prod-1 prod-2 prod-3

# ---------------------------------------------- 5 broken downgrade, restore --

section "5/6 A rollback that hits a broken down script: halted, the host restored from its backup"
say "Release 6 (revisions 5 and 6) lands in dev. dev-1's copy of revision 5 has a down script" \
  "that is broken on purpose (it drops an index under a wrong name). The agents report their new" \
  "migrations when they restart."
for h in dev-1 dev-2; do
  if [ "$h" = "$BROKEN_HOST" ]; then
    cp "$DEMO"/migrations/release-6-broken/*.sql "$W/hosts/$h/migrations/"
  else
    cp "$DEMO"/migrations/release-6/*.sql "$W/hosts/$h/migrations/"
  fi
  stop_pids "${AGENT_PID[$h]}"
  "$AGENT" run --config "$W/hosts/$h/agent.conf" >>"$LOGS/agent-$h.log" 2>&1 &
  AGENT_PID[$h]=$!
done
dev_has_6() {
  ebb_as alice plan --env dev --to head --no-precheck --json
  [ "$(js '[.plan.waves[].hosts[] | select(.to == "6")] | length')" = 2 ]
}
wait_for 30 "dev agents to report revision 6" dev_has_6
start_run alice rollout --env dev --to head --reason "release 6"
follow "$RUN" 0
expect_rev 6 dev-1 dev-2

say "" "Release 6 turns out wrong; alice rolls dev back to 4. On the canary dev-1, revision 6" \
  "goes down fine, then revision 5's down script fails. The database is now between" \
  "revisions, so the backup taken at the start of the run is restored (pg_restore, then the" \
  "registry and fingerprint are checked against the backup's manifest), then its application" \
  "is started and health-checked. The failure stops the run: dev-2 is never touched." \
  "ebb show --follow exits 1 (failed)."
start_run alice rollback --env dev --to 4 --reason "release 6 breaks the reports"
follow "$RUN" 1
[ "$(run_state "$RUN")" = failed ] || die "run $RUN is $(run_state "$RUN"), expected failed"
[ "$(js '[.hosts[] | select(.host == "dev-1")][0].state')" = failed_restored ] ||
  die "dev-1 was not restored: $(cat "$OUT")"
expect_rev 6 dev-1 dev-2
expect_rev 4 staging-1 staging-2
expect_rev 2 prod-1 prod-2 prod-3
q dev-1 "SELECT to_regclass('big_orders') IS NOT NULL AND to_regclass('orders_amount_idx') IS NOT NULL" |
  grep -qx t || die "dev-1 lacks revision 6's objects after the restore"
say "" "dev-1 holds revision 6 again, restored and checked; what ebb recorded in its database:"
"$PGBIN/psql" -X -h "$W/pg/dev-1" -U postgres -d shop -P pager=off \
  -c "SELECT id, kind, revision, run_id, coalesce(sqlstate, '') AS sqlstate,
             coalesce(details::jsonb->>'backup_id', '') AS backup
      FROM ebb.events ORDER BY id DESC LIMIT 4" | sed 's/^/    /'
say "" "After the restore the engine started dev-1's application again and health-checked it" \
  "(the host still counts as failed: failed_restored); dev-2 was never stopped:"
show_health dev-1 dev-2

# ------------------------------------------------------------- 6 the audit --

section "6/6 Fleet status, rollback history, audit verification"
run bob 0 status
say "" "The rollback history from the coordinator's audit journal: one record per run (who," \
  "why, approvals, hosts, outcome, how it was undone)."
run bob 0 audit
say "" "Each audit record carries the hash of the one before and the coordinator's signature;" \
  "verify detects any edit, removal or truncation:"
run bob 0 audit verify
