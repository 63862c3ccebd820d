#!/usr/bin/env bash
# `ebb-agent db ... --config FILE --db NAME`: the database's connection,
# source, timeouts and backup settings come from the agent configuration;
# options on the command line win; a wrong name or file changes nothing.
set -euo pipefail
. "$EBB_SRC_DIR/tests/integration/lib_agent_db.sh"

dsn=$(new_db cfgdb)
src="$FIX/rollback_cases/main"
"$EBB_BIN_DIR/coordinator/ebb" keygen --out "$WORK/coord.key" >/dev/null
cat >"$WORK/agent.conf" <<CONF
agent = {
  id = "cfg-test";
  key_file = "$WORK/agent.key";
  replay_store = "$WORK/replay";
  job_journal = "$WORK/jobs.journal";
};
coordinator = {
  address = "tcp://127.0.0.1:1";
  public_key_file = "$WORK/coord.key.pub";
};
databases = (
  {
    name = "shop";
    conninfo = "$dsn";
    source = { dir = "$src"; kind = "golang-migrate"; };
    migrate = { lock_timeout_ms = 5000; };
    backup = { dir = "$WORK/backups"; retention = 2; };
  }
);
CONF
C=(--config "$WORK/agent.conf" --db shop)

agent db up "${C[@]}" --json
expect_rc 0
[ "$(jq -r .to <"$WORK/out")" = 4 ] || fail "up via config: $(cat "$WORK/out")"
agent db status "${C[@]}" --json
expect_rc 0
[ "$(jq -r .current <"$WORK/out")" = 4 ] || fail "status via config: $(cat "$WORK/out")"
echo "ok up and status from the configuration"

# down takes its backup directory and retention from the configuration.
agent db down "${C[@]}" --to 3 --reason "config test" --accept-data-loss --json
expect_rc 0
ls "$WORK/backups"/*.manifest.json >/dev/null 2>&1 || fail "no backup in the configured directory"
agent db backups "${C[@]}" --json
expect_rc 0
[ "$(jq '.backups | length' <"$WORK/out")" -ge 1 ] || fail "backups via config"
echo "ok down with the configured backup directory"

# A command-line option wins over the configuration.
agent db status "${C[@]}" --source "$FIX/rollback_cases/broken" --json
expect_rc 0
echo "ok options win"

# Errors: unknown database (names the ones there are), half of the pair, a bad file.
agent db status --config "$WORK/agent.conf" --db nosuch
expect_rc 3
grep -q "has no database 'nosuch' (it has: shop)" "$WORK/err" || fail "unknown db message: $(cat "$WORK/err")"
agent db status --config "$WORK/agent.conf"
expect_rc 2
grep -q -- "--config and --db go together" "$WORK/err" || fail "pair message"
printf 'agent = { id = 3; };\n' >"$WORK/bad.conf"
agent db status --config "$WORK/bad.conf" --db shop
expect_rc 3
grep -q "bad.conf:1" "$WORK/err" || fail "bad config should name file and line: $(cat "$WORK/err")"
[ "$(q "$dsn" "SELECT max(revision::int) FROM ebb.applied")" = 3 ] || fail "errors changed the database"
echo "ok errors"
echo "PASS"
