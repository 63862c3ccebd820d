#!/usr/bin/env bash
# Integration: ebb-test-pg starts clusters, exports their coordinates, kills and restarts one
# from inside (fault drills), passes the exit code on and removes the clusters afterwards.
set -euo pipefail
wrap="$EBB_BIN_DIR/tests/ebb-test-pg"
psql=/usr/lib/postgresql/15/bin/psql
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# Two clusters, each reachable through its own conninfo; PG* point at the first.
"$wrap" run --clusters 2 -- bash -c '
  set -e
  test "$EBB_TEST_PG_COUNT" = 2
  test "$EBB_TEST_PG_CONNINFO" = "$EBB_TEST_PG_CONNINFO_1"
  test "$EBB_TEST_PG_PORT_1" != "$EBB_TEST_PG_PORT_2"
  test "$('"$psql"' -XAtc "SHOW port")" = "$PGPORT"
  test "$('"$psql"' -XAt "$EBB_TEST_PG_CONNINFO_2" -c "SHOW port")" = "$EBB_TEST_PG_PORT_2"
  echo "$EBB_TEST_PG_DIR_1 $EBB_TEST_PG_DIR_2"
' >"$out"
read -r d1 d2 <"$out"
[ -n "$d1" ] && [ -n "$d2" ]
for d in "$d1" "$d2"; do
  if [ -e "$d" ]; then echo "cluster directory $d left behind" >&2; exit 1; fi
done

# kill / restart from inside: the server is gone after kill (a committed row survives),
# back on the same port after restart.
"$wrap" run -- bash -c '
  set -e
  '"$psql"' -XAtq -c "CREATE TABLE t AS SELECT 1 AS x"
  "'"$wrap"'" kill 1
  if '"$psql"' -XAtq -c "SELECT 1" 2>/dev/null; then echo "server still up after kill" >&2; exit 1; fi
  "'"$wrap"'" restart 1
  test "$('"$psql"' -XAtc "SELECT x FROM t")" = 1
'
set +e
"$wrap" kill 1 2>/dev/null
rc_outside=$?
set -e
[ "$rc_outside" -eq 1 ] || { echo "kill outside a run: expected exit 1, got $rc_outside" >&2; exit 1; }

# The command's exit code comes back.
set +e
"$wrap" run -- bash -c 'exit 7' 2>/dev/null
rc=$?
"$wrap" run -- /nonexistent/program 2>/dev/null
rc_missing=$?
"$wrap" run 2>/dev/null
rc_usage=$?
set -e
[ "$rc" -eq 7 ] || { echo "expected exit 7, got $rc" >&2; exit 1; }
[ "$rc_missing" -eq 127 ] || { echo "expected 127 for a missing program, got $rc_missing" >&2; exit 1; }
[ "$rc_usage" -eq 2 ] || { echo "expected usage exit 2, got $rc_usage" >&2; exit 1; }
echo "ok"
