#!/usr/bin/env bash
# Integration: `ebb-agent db stamp REV --reason TEXT` on a real cluster: forward and back without
# running scripts, the stamp event (operator, reason, rows), an unknown revision refused, --dry-run,
# and the warning when the live schema differs from the fingerprint recorded for REV.
set -euo pipefail
. "$(dirname "$0")/lib_agent_db.sh"

src="$FIX/rehearse_cases"
db=st
dsn=$(new_db $db)
agent db up --dsn "$dsn" --source "$src" --to 2
expect_rc 0
current() { q $db "SELECT coalesce((SELECT revision FROM ebb.applied ORDER BY seq DESC LIMIT 1), 'base')"; }
stamps() { q $db "SELECT count(*) FROM ebb.events WHERE kind = 'stamp'"; }
schema0=$(q $db "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace")

# ---- 1. forward: rows for 3 and 4 inserted, no script run ----
agent db stamp 4 --dsn "$dsn" --source "$src" --reason "INC-7: applied 3 and 4 by hand" \
  --operator alice --json
expect_rc 0
[ "$(js '.inserted | join(",")')" = 3,4 ] || fail "forward: inserted $(js .inserted)"
[ "$(js .from)" = 2 ] && [ "$(js .to)" = 4 ] || fail "forward: from/to"
[ "$(js .recorded_live)" = true ] || fail "forward: 4 had no fingerprint; the live one is recorded"
[ "$(js .fingerprint_differs)" = false ] || fail "forward: no warning expected"
[ "$(current)" = 4 ] || fail "forward: registry says $(current)"
[ "$(q $db "SELECT count(*) FROM pg_type WHERE typname = 'mood'")" = 0 ] || fail "forward: a script ran"
[ "$(q $db "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace")" = "$schema0" ] ||
  fail "forward: the schema changed"
[ "$(q $db "SELECT applied_by || '|' || (up_checksum <> '') FROM ebb.applied WHERE revision = '4'")" = "alice|true" ] ||
  fail "forward: row of 4"
agent db history --dsn "$dsn" --json
[ "$(js '[.events[] | select(.kind == "stamp")] | length')" = 1 ] || fail "forward: no stamp event"
[ "$(js '.events[] | select(.kind == "stamp") | .operator + "|" + .reason + "|" + .revision')" = \
  "alice|INC-7: applied 3 and 4 by hand|4" ] || fail "forward: event $(js '.events[] | select(.kind == "stamp")')"
[ "$(js '.events[] | select(.kind == "stamp") | .details.inserted | join(",")')" = 3,4 ] || fail "forward: event details"
agent db status --dsn "$dsn" --source "$src" --json
[ "$(js .drift)" = false ] || fail "forward: drift after the stamp"
echo "ok stamp forward"

# ---- 2. back: rows removed; 2's recorded fingerprint matches the live schema ----
agent db stamp 2 --dsn "$dsn" --source "$src" --reason "undo INC-7 stamp" --json
expect_rc 0
[ "$(js '.removed | join(",")')" = 4,3 ] || fail "back: removed $(js .removed)"
[ "$(js .fingerprint_differs)" = false ] && [ "$(js .recorded_live)" = false ] || fail "back: fingerprints"
[ "$(current)" = 2 ] || fail "back: registry says $(current)"
[ "$(stamps)" = 2 ] || fail "back: stamp events $(stamps)"
echo "ok stamp back"

# ---- 3. unknown revision refused; --reason required; --dry-run changes nothing ----
agent db stamp 99 --dsn "$dsn" --source "$src" --reason x --json
expect_rc 4
js .error.message | grep -q 99 || fail "unknown: message $(js .error.message)"
agent db stamp 4 --dsn "$dsn" --source "$src"
expect_rc 2
agent db stamp 4 --dsn "$dsn" --source "$src" --reason "just looking" --dry-run --json
expect_rc 0
[ "$(js .dry_run)" = true ] && [ "$(js '.inserted | join(",")')" = 3,4 ] || fail "dry run: plan"
[ "$(current)" = 2 ] && [ "$(stamps)" = 2 ] || fail "dry run: something changed"
echo "ok refusals and dry run"

# ---- 4. the live schema differs from REV's recorded fingerprint: stamped, with a warning ----
agent db up --dsn "$dsn" --source "$src" --to 4 --accept-unknown  # 3_mood.up.sql has a DO block
expect_rc 0
agent db stamp 2 --dsn "$dsn" --source "$src" --reason "restored an old backup (not really)" --json
expect_rc 0
[ "$(js .fingerprint_differs)" = true ] || fail "warning: fingerprint_differs"
[ "$(js .warning)" != null ] || fail "warning: no warning field"
js '[.drift_objects[].object] | join(",")' | grep -q 'enum public.mood' || fail "warning: objects $(js '[.drift_objects[].object]')"
grep -q 'warning: the live schema' "$WORK/err" || fail "warning: nothing on stderr"
[ "$(current)" = 2 ] || fail "warning: not stamped"
agent db history --dsn "$dsn" --json
[ "$(js '[.events[] | select(.kind == "stamp")][-1].details.fingerprint_differs')" = true ] ||
  fail "warning: not in the event"
agent db status --dsn "$dsn" --source "$src" --json
[ "$(js .drift)" = true ] || fail "warning: status should show the drift"
echo "ok fingerprint warning"
