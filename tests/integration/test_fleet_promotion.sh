#!/bin/bash
# Fleet: enrollment and accept; a staged rollout through the promotion order
# (prod refused before staging completed); a prod rollback that needs an
# approval (forward_only), where the requester's own approval does not count
# and a second operator's does; status, runs, show, audit and audit verify.
source "$EBB_SRC_DIR/tests/integration/lib_fleet.sh"

step "setup: coordinator, six agents"
setup_fleet

step "unreachable coordinator and unknown operator key"
set +e
EBB_KEY="$W/alice.key" EBB_STATE_DIR="$W/state-alice" "$EBB" status \
  --coordinator "ipc://$W/nobody.sock" >"$W/out" 2>"$W/err"
rc=$?
set -e
expect_rc 7
grep -q unreachable "$W/err" || fail "no 'unreachable' in: $(cat "$W/err")"
"$EBB" keygen --out "$W/mallory.key" >/dev/null
ebb_as mallory status
expect_rc 4
grep -q "refused" "$W/err" || fail "expected a refusal: $(cat "$W/err")"

step "enrollment: six pending agents, accepted into their environments"
accept_all
ebb_as alice agents
expect_rc 0
grep -q "staging-2  accepted  staging" "$W/out" || fail "agents table: $(cat "$W/out")"
# bob may read but not operate
ebb_as bob agents revoke dev-1
expect_rc 4

step "rollout dev -> 4"
ebb_as alice rollout --env dev --to 4 --reason "release 4" --follow
expect_rc 0
expect_rev 4 dev-1 dev-2
expect_rev base staging-1 staging-2 prod-1 prod-2

step "promotion order: prod before staging is refused"
ebb_as alice rollout --env prod --to 4 --reason "release 4" --json
expect_rc 4
expect_rev base prod-1 prod-2
ebb_as alice plan --env prod --to 4 --no-precheck
expect_rc 4

step "plan staging -> 4 with prechecks"
ebb_as alice plan --env staging --to 4 --json
expect_rc 0
[ "$(js '.prechecks | length')" = 2 ] || fail "two prechecks expected: $(cat "$W/out")"
[ "$(js .prechecks_ok)" = true ] || fail "prechecks: $(cat "$W/out")"
ebb_as alice plan --env staging --to 4
expect_rc 0
grep -q "^fleet: 2 checked, 0 failed" "$W/out" || fail "plan report: $(cat "$W/out")"

step "rollout staging -> 4, then prod -> 4"
ebb_as alice rollout --env staging --to 4 --reason "release 4" --json
expect_rc 0
RUN=$(started_run)
ebb_as alice show "$RUN" --follow
expect_rc 0
expect_rev 4 staging-1 staging-2
ebb_as alice rollout --env prod --to 4 --reason "release 4" --follow
expect_rc 0
expect_rev 4 prod-1 prod-2
audit_verify

step "status shows every host at 4"
ebb_as bob status --json
expect_rc 0
[ "$(js '[.environments[].hosts[].databases[].current[0]] | unique | join(",")')" = 4 ] ||
  fail "status: $(cat "$W/out")"
ebb_as bob status --env prod
expect_rc 0
grep -q "prod-1  app       4" "$W/out" || fail "status table: $(cat "$W/out")"

step "a rollback without a reason is refused (locally, and by the coordinator)"
ebb_as alice rollback --env prod --to 2
expect_rc 2
ebb_as alice rollback --env prod --to 2 --reason " "
expect_rc 2

step "prod rollback needs an approval (forward_only)"
ebb_as alice rollback --env prod --to 2 --reason "INC-42: orders index slows checkout" --json
expect_rc 0
RUN=$(started_run)
wait_state "$RUN" 10 awaiting_approval
expect_rev 4 prod-1 prod-2
# the requester's own approval does not count
ebb_as alice approve "$RUN"
expect_rc 4
[ "$(run_state "$RUN")" = awaiting_approval ] || fail "own approval counted"
# a second operator's does
ebb_as bob approve "$RUN" --json
expect_rc 0
ebb_as bob approve "$RUN"
expect_rc 4
ebb_as alice show "$RUN" --follow
expect_rc 0
expect_rev 2 prod-1 prod-2
expect_rev 4 staging-1 staging-2 dev-1 dev-2
q prod-1 "SELECT to_regclass('account_totals') IS NULL AND to_regclass('orders_account_idx') IS NULL" |
  grep -q t || fail "prod-1 still has revision 3/4 objects"

step "runs, show, audit"
ebb_as bob runs --json
expect_rc 0
[ "$(js '.runs | length')" -ge 4 ] || fail "runs: $(cat "$W/out")"
ebb_as bob runs
grep -q "$RUN" "$W/out" || fail "runs table lacks $RUN"
ebb_as bob show "$RUN"
expect_rc 0
grep -q "prod-2" "$W/out" || fail "show: $(cat "$W/out")"
ebb_as bob audit --env prod --json
expect_rc 0
[ "$(js "[.[] | select(.run_id == \"$RUN\")] | .[0].reason")" = "INC-42: orders index slows checkout" ] ||
  fail "audit lacks the rollback's reason: $(cat "$W/out")"
[ "$(js "[.[] | select(.run_id == \"$RUN\")] | .[0].approvers | length")" = 1 ] ||
  fail "audit approvers: $(cat "$W/out")"
ebb_as bob audit --env prod --csv
expect_rc 0
grep -q "INC-42" "$W/out" || fail "audit CSV: $(cat "$W/out")"
ebb_as bob audit --outcome succeeded
expect_rc 0
audit_verify

step "done"
