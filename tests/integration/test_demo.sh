#!/usr/bin/env bash
# The README's first command: deploy/demo.sh runs its whole scenario (seven
# clusters, agents, coordinator; staged rollout, approved prod rollback, a
# broken downgrade halted with the host restored, status, audit, audit verify)
# against the programs of this build tree, and exits 0. The demo checks every
# step itself (revisions, run states, exit codes) and fails loudly otherwise;
# installing and building are left out here (.ci/run does both).
set -euo pipefail
out=$(mktemp "${TMPDIR:-/tmp}/ebb-test-demo.XXXXXX")
trap 'rm -f "$out"' EXIT
set +e
bash "$EBB_SRC_DIR/deploy/demo.sh" --no-install --build-dir "$EBB_BIN_DIR" >"$out" 2>&1
rc=$?
set -e
if [ "$rc" -ne 0 ]; then
  cat "$out"
  logs=$(grep -o '/tmp/ebb-demo-logs\.[A-Za-z0-9]*' "$out" | tail -n 1)
  if [ -n "$logs" ]; then
    for f in "$logs"/agent-dev-1.log "$logs"/coordinator.log; do
      echo "--- $f (tail)"
      tail -n 40 "$f" || true
    done
  fi
  echo "FAIL: deploy/demo.sh exited $rc"
  exit 1
fi
# The scenario's landmarks are in the output.
for want in "==== 6/6" "rollback to 4; restored from backup on 1 host" "dev-1 +shop +1 +failed_restored" \
  "The coordinator's journal verifies" "Demo finished"; do
  grep -qE "$want" "$out" || { cat "$out"; echo "FAIL: the demo output lacks '$want'"; exit 1; }
done
# It cleaned up after itself: no cluster, agent or application of this run is left.
logs=$(grep -o '/tmp/ebb-demo-logs\.[A-Za-z0-9]*' "$out" | tail -n 1)
work=$(grep -o '/tmp/ebb-demo\.[A-Za-z0-9]*' "$out" | head -n 1)
[ -n "$work" ] && [ ! -e "$work" ] || { echo "FAIL: the demo left $work behind"; exit 1; }
if pgrep -f "$work" >/dev/null; then
  pgrep -af "$work"
  echo "FAIL: processes of the demo are still running"
  exit 1
fi
rm -rf "$logs"
echo ok
