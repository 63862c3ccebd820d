#!/usr/bin/env bash
# Integration: the live risk probes on real data (tests/fixtures/migrations/risk_cases): every
# probe kind through `db plan --json`, refusals of `db up` / `db down` before anything changes
# (exit 4; the database untouched: fingerprint and table checksums), and accepted data loss
# recorded in the revert events.
set -euo pipefail
. "$(dirname "$0")/lib_agent_db.sh"

src="$FIX/risk_cases"
db=risk
dsn=$(new_db $db)

# probe LINE FIELD [FILE]: a field of the first probe of the item at LINE of FILE (a down script).
probe() { jq -r --argjson l "$1" --arg f "${3:-2_relax.down.sql}" \
  "[.risk.items[] | select(.line == \$l and (.file | endswith(\$f))) | .probes[0]][0].$2" "$WORK/out"; }

# ---- up: a DO block is unknown: refused without --accept-unknown ----
agent db up --dsn "$dsn" --source "$src" --to 3
expect_rc 4
grep -q -- "--accept-unknown" "$WORK/err" || fail "up: unknown refusal does not name the flag"
[ "$(q $db "SELECT to_regclass('customers') IS NULL")" = t ] || fail "up: refused up changed something"
agent db up --dsn "$dsn" --source "$src" --to 3 --accept-unknown
expect_rc 0
echo "ok unknown refused, then accepted"

# ---- data that breaks every re-created constraint, and a table above the estimate threshold ----
q $db "INSERT INTO regions VALUES (1, 'north'), (2, 'south');
INSERT INTO customers (id, email, code, score, price, qty, region_id, notes) VALUES
 (1, 'a@x', 'ABCDEFG', 5000000000, 12345.67, '12', 1, 'n1'),
 (2, 'a@x', 'AB', -1, 1.5, 'x1', 3, NULL),
 (3, NULL, 'ABC  ', 7, 2, ' 7 ', 2, 'n3'),
 (4, 'd@x', NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO audit (note) VALUES ('a'), ('b');
INSERT INTO archive.old_orders VALUES (1, 50), (2, 500);
INSERT INTO events SELECT g, CASE WHEN g % 10 = 0 THEN 'debug' ELSE 'info' END
  FROM generate_series(1, 1100000) g;
ANALYZE events;
-- Legacy rows under a NOT VALID check: the check is re-added as the up left it.
ALTER TABLE stock DROP CONSTRAINT stock_level_max;
INSERT INTO stock VALUES (1, 5), (2, -3), (3, 2000);
ALTER TABLE stock ADD CONSTRAINT stock_level_max CHECK (level < 1000) NOT VALID;"

# ---- plan: every probe kind ----
agent db plan --dsn "$dsn" --source "$src" --to 1 --json
expect_rc 0
[ "$(js .direction)" = down ] && [ "$(js '.steps | length')" = 2 ] || fail "plan: path"
[ "$(js .risk.verdict)" = refuse-certain-failure ] || fail "plan: verdict $(js .risk.verdict)"
[ "$(js .risk.certain_failures)" = 10 ] || fail "plan: certain failures $(js .risk.certain_failures)"
[ "$(js .risk.rows_estimated)" = true ] || fail "plan: total not marked as estimated"
f=3_archive.down.sql
[ "$(probe 2 kind $f)" = rows-matching ] && [ "$(probe 2 estimate $f)" = true ] ||
  fail "rows-matching: big table not estimated"
est=$(probe 2 count $f)
[ "$est" -gt 50000 ] && [ "$est" -lt 200000 ] || fail "rows-matching estimate $est"
[ "$(probe 3 count $f)" = 1 ] && [ "$(probe 3 estimate $f)" = false ] || fail "rows-matching: UPDATE count"
[ "$(probe 4 kind $f)" = rows-in-schema ] && [ "$(probe 4 count $f)" = 2 ] || fail "rows-in-schema"
[ "$(jq -r '[.risk.items[] | select(.line == 4 and (.file | endswith("3_archive.down.sql"))) | .probes[1]][0].examples | join(",")' "$WORK/out")" = \
  "table archive.old_orders,view archive.big_orders" ] || fail "dependents of the schema"
[ "$(probe 5 kind $f)" = rows-in-table ] && [ "$(probe 5 estimate $f)" = true ] || fail "rows-in-table estimate"
[ "$(probe 6 kind $f)" = domain-values ] && [ "$(probe 6 count $f)" = 1 ] || fail "domain-values"
[ "$(probe 7 kind $f)" = validate ] && [ "$(probe 7 count $f)" = 1 ] && [ "$(probe 7 examples[0] $f)" = id=3 ] ||
  fail "validate"
[ "$(probe 9 status $f)" = absent ] || fail "absent: scratch is created on the path"
probe 9 note $f | grep -q "does not exist before the path runs" || fail "absent: note"
[ "$(probe 2 count)" = 2 ] || fail "rows-in-table audit"
[ "$(probe 3 kind)" = nonnull-in-column ] && [ "$(probe 3 count)" = 2 ] || fail "nonnull-in-column"
[ "$(probe 4 kind)" = check ] && [ "$(probe 4 examples[0])" = id=2 ] || fail "check"
[ "$(probe 5 kind)" = fk-orphans ] && [ "$(probe 5 examples[0])" = region_id=3 ] || fail "fk-orphans"
[ "$(probe 6 at_least)" = true ] && probe 6 note | grep -q '"x1"' || fail "narrowing: failed cast"
[ "$(probe 7 count)" = 1 ] && [ "$(probe 7 examples[0])" = id=1 ] || fail "narrowing: numeric(6,2)"
[ "$(probe 8 count)" = 1 ] && [ "$(probe 8 examples[0])" = id=1 ] || fail "narrowing: bigint -> integer"
[ "$(probe 9 count)" = 1 ] && [ "$(probe 9 examples[0])" = id=1 ] || fail "narrowing: varchar(5) ('ABC  ' fits)"
[ "$(probe 10 kind)" = nulls ] && [ "$(probe 10 examples[0])" = id=3 ] || fail "nulls"
[ "$(probe 11 kind)" = duplicates ] && [ "$(probe 11 rows)" = 2 ] &&
  [ "$(probe 11 examples[0])" = "email=a@x (2 rows)" ] || fail "duplicates"
echo "ok plan: every probe kind"

agent db plan --dsn "$dsn" --source "$src" --to 1
expect_rc 0
grep -q "2_relax.down.sql:11 .*ADD UNIQUE.*WILL FAIL" "$WORK/out" || fail "plan: human table"
grep -q "^verdict: .*will certainly fail" "$WORK/out" || fail "plan: human verdict"

# ---- down: constraints that will fail are refused even with --accept-data-loss; nothing changes ----
fp0=$("$AGENT" db fingerprint --dsn "$dsn")
sums0=$(table_sums $db)
events0=$(q $db "SELECT count(*) FROM ebb.events")
agent db down --dsn "$dsn" --source "$src" --to 1 --backup-dir "$WORK/b" --accept-data-loss --json
expect_rc 4
[ "$(js .error.code)" = refused ] || fail "down: error code $(js .error.code)"
js .error.message | grep -q "will certainly fail" || fail "down: message"
[ ! -e "$WORK/b" ] || fail "down: a backup was taken before the refusal"
[ "$("$AGENT" db fingerprint --dsn "$dsn")" = "$fp0" ] || fail "down: fingerprint changed"
[ "$(table_sums $db)" = "$sums0" ] || fail "down: table data changed"
[ "$(q $db "SELECT count(*) FROM ebb.events WHERE kind = 'revert'")" = 0 ] || fail "down: a step ran"
[ "$(q $db "SELECT count(*) FROM ebb.events WHERE kind = 'fail' AND details->>'stage' = 'precheck'")" = 1 ] ||
  fail "down: no fail event for the refusal"
echo "ok certain failures refused, database untouched"

# ---- data at risk only: refused without the flag, then accepted and recorded ----
q $db "UPDATE stock SET level = 5"
agent db down --dsn "$dsn" --source "$src" --to 2 --backup-dir "$WORK/b" --json
expect_rc 4
[ "$(js .risk.verdict)" = refuse-data-loss ] || fail "data loss: verdict $(js .risk.verdict)"
[ ! -e "$WORK/b" ] || fail "data loss: backup taken"
[ "$(table_sums $db)" != "$sums0" ] || fail "data loss: the stock update did not land"
agent db down --dsn "$dsn" --source "$src" --to 2 --backup-dir "$WORK/b" --accept-data-loss --json \
  --run-id risk-accepted
expect_rc 0
[ "$(q $db "SELECT details->'risk_accepted'->'accepted'->>0 FROM ebb.events
            WHERE kind = 'revert' AND run_id = 'risk-accepted'")" = data-loss ] ||
  fail "accepted data loss not recorded in the revert event"
[ "$(q $db "SELECT to_regnamespace('archive') IS NULL")" = t ] || fail "down --to 2 did not run"
echo "ok data loss refused, then accepted and recorded"

# ---- the rest of the way once the data fits ----
q $db "UPDATE customers SET email = id || '@x', score = 1, price = 1, qty = '1', code = 'c', region_id = 1"
agent db down --dsn "$dsn" --source "$src" --to 1 --backup-dir "$WORK/b" --json
expect_rc 4
[ "$(js .risk.verdict)" = refuse-data-loss ] || fail "final: verdict $(js .risk.verdict)"
agent db down --dsn "$dsn" --source "$src" --to 1 --backup-dir "$WORK/b" --accept-data-loss
expect_rc 0
[ "$(q $db "SELECT count(*) FROM customers")" = 4 ] || fail "final: rows lost"
echo "ok"
