#!/usr/bin/env bash
# ebb-coordinator do fsm: prints both tables, one with --run/--host, Graphviz with --dot, usage errors exit 2.
set -euo pipefail
bin="$EBB_BIN_DIR/coordinator/ebb-coordinator"
out=$("$bin" do fsm)
grep -q '^run state machine: ' <<<"$out"
grep -q '^host state machine: ' <<<"$out"
grep -q "^committing  *commits_done  *running" <<<"$out"
run=$("$bin" do fsm --run)
! grep -q 'host state machine' <<<"$run"
dot=$("$bin" do fsm --dot --host)
grep -q '^digraph ebb_host {' <<<"$dot"
grep -q '"prepared" -> "committing" \[label="commit / send_commit"\];' <<<"$dot"
! grep -q 'digraph ebb_run' <<<"$dot"
set +e
"$bin" do fsm --bogus 2>/dev/null; rc=$?
set -e
[ "$rc" -eq 2 ]
echo ok
