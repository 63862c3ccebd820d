# Helpers for the `ebb-agent db` integration tests (sourced, not run).
# The test re-executes itself under `ebb-test-pg run --` so that PGHOST,
# PGPORT, PGUSER and EBB_TEST_PG_CONNINFO point at a throwaway cluster.

if [ -z "${EBB_TEST_PG_CONNINFO:-}" ]; then
  exec "$EBB_BIN_DIR/tests/ebb-test-pg" run -- bash "$0" "$@"
fi

AGENT="$EBB_BIN_DIR/agent/ebb-agent"
FIX="$EBB_SRC_DIR/tests/fixtures/migrations"
PSQL=/usr/lib/postgresql/15/bin/psql
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# new_db NAME: create a database, print its conninfo.
new_db() {
  "$PSQL" -XAtq -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE \"$1\"" >/dev/null
  echo "$EBB_TEST_PG_CONNINFO" | sed "s/dbname=[^ ]*/dbname=$1/"
}

# q DB SQL: one query, unaligned output.
q() { "$PSQL" -XAtq -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

# agent ARGS...: run ebb-agent, keep stdout in $WORK/out, the exit code in $rc.
agent() {
  set +e
  "$AGENT" "$@" >"$WORK/out" 2>"$WORK/err"
  rc=$?
  set -e
}

# expect_rc N: the last agent call exited N.
expect_rc() {
  if [ "$rc" -ne "$1" ]; then
    echo "--- stdout" >&2; cat "$WORK/out" >&2
    echo "--- stderr" >&2; cat "$WORK/err" >&2
    fail "expected exit $1, got $rc (line ${BASH_LINENO[0]})"
  fi
}

# js FILTER: jq on the last agent stdout.
js() { jq -r "$1" "$WORK/out"; }

# table_sums DB: "table checksum" of every user table's rows (COPY ... TO STDOUT, ordered).
table_sums() {
  local db=$1 t
  for t in $(q "$db" "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables
                      WHERE schemaname NOT IN ('pg_catalog','information_schema','ebb') ORDER BY 1"); do
    printf '%s %s\n' "$t" "$("$PSQL" -XAtq -d "$db" -c "COPY (SELECT * FROM $t ORDER BY 1) TO STDOUT" | sha256sum | cut -c1-16)"
  done
}
