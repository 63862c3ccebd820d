#!/usr/bin/env bash
# Integration: the rollback cases of tests/fixtures/migrations/rollback_cases against a real
# cluster: a down that must fail cleanly, data round trips (JSONB, UUID ids), a broken down
# script restored from the backup, two concurrent downs, drift, backup/restore and tampering.
set -euo pipefail
. "$(dirname "$0")/lib_agent_db.sh"

main="$FIX/rollback_cases/main"

# ---- 1. unique (a,b) -> (a,b,c): the down fails cleanly while duplicates exist ----
db=rb_unique
dsn=$(new_db $db)
agent db up --dsn "$dsn" --source "$main" --to 2
expect_rc 0
q $db "INSERT INTO pairs (a, b, c) VALUES (1, 1, 0), (1, 1, 1), (2, 2, 0)"
before=$(table_sums $db)
agent db down --dsn "$dsn" --source "$main" --to 1 --backup-dir "$WORK/b1" --json
expect_rc 1
[ "$(js .done)" = 0 ] || fail "unique: a step was committed"
[ "$(js .error.sqlstate)" = 23505 ] || fail "unique: sqlstate $(js .error.sqlstate)"
[ "$(js '.restored // "none"')" = none ] || fail "unique: restored although nothing changed"
[ "$(table_sums $db)" = "$before" ] || fail "unique: data changed"
[ "$(q $db "SELECT count(*) FROM pg_constraint WHERE conname = 'pairs_a_b_c_key'")" = 1 ] ||
  fail "unique: constraint lost"
agent db status --dsn "$dsn" --source "$main" --json
[ "$(js .current)" = 2 ] && [ "$(js .drift)" = false ] || fail "unique: state after failure"
agent db history --dsn "$dsn" --json
[ "$(js '[.events[] | select(.kind == "fail")] | length')" -ge 1 ] || fail "unique: no fail event"
# Without the duplicates the down goes through.
q $db "DELETE FROM pairs WHERE c = 1"
agent db down --dsn "$dsn" --source "$main" --to 1 --backup-dir "$WORK/b1"
expect_rc 0
echo "ok unique constraint"

# ---- 2. three columns into JSONB and back ----
db=rb_jsonb
dsn=$(new_db $db)
agent db up --dsn "$dsn" --source "$main" --to 2
q $db "INSERT INTO people (first_name, last_name, age) VALUES ('Ada', 'Lovelace', 36),
       ('Alan', 'Turing', 41), ('Anon', NULL, NULL)"
before=$(q $db "SELECT string_agg(concat_ws('|', id, first_name, last_name, age), ';' ORDER BY id) FROM people")
agent db up --dsn "$dsn" --source "$main" --to 3
expect_rc 0
[ "$(q $db "SELECT attrs ->> 'last_name' FROM people WHERE id = 2")" = Turing ] || fail "jsonb: up"
agent db down --dsn "$dsn" --source "$main" --to 2 --backup-dir "$WORK/b2"
expect_rc 0
after=$(q $db "SELECT string_agg(concat_ws('|', id, first_name, last_name, age), ';' ORDER BY id) FROM people")
[ "$before" = "$after" ] || fail "jsonb: data changed: $before / $after"
echo "ok jsonb round trip"

# ---- 3. integer ids -> UUIDs across four tables and back ----
db=rb_uuid
dsn=$(new_db $db)
agent db up --dsn "$dsn" --source "$main" --to 3
q $db "INSERT INTO orgs SELECT g, 'org' || g FROM generate_series(1, 5) g;
       INSERT INTO teams SELECT g, 1 + g % 5, 'team' || g FROM generate_series(1, 20) g;
       INSERT INTO members SELECT g, 1 + g % 20, 'm' || g FROM generate_series(1, 100) g;
       INSERT INTO tasks SELECT g, CASE WHEN g % 7 = 0 THEN NULL ELSE 1 + g % 100 END, 1 + g % 20, 't' || g
         FROM generate_series(1, 300) g"
shape="SELECT string_agg(table_name || '.' || column_name || ':' || data_type || ':' || is_nullable, ',' ORDER BY table_name, column_name)
       FROM information_schema.columns WHERE table_name IN ('orgs','teams','members','tasks')"
cons="SELECT string_agg(conname || ':' || pg_get_constraintdef(oid), ',' ORDER BY conname) FROM pg_constraint
      WHERE conrelid IN ('orgs'::regclass, 'teams'::regclass, 'members'::regclass, 'tasks'::regclass)"
links="SELECT (SELECT count(*) FROM orgs) || '/' || (SELECT count(*) FROM teams) || '/' ||
              (SELECT count(*) FROM members) || '/' || (SELECT count(*) FROM tasks) || '/' ||
              (SELECT count(*) FROM tasks WHERE member_id IS NULL) || '/' ||
              (SELECT string_agg(c::text, ',' ORDER BY o) FROM (SELECT o.name AS o, count(k.*) AS c FROM orgs o
                 JOIN teams t ON t.org_id = o.id JOIN tasks k ON k.team_id = t.id GROUP BY o.name) s)"
shape0=$(q $db "$shape"); cons0=$(q $db "$cons"); links0=$(q $db "$links")
agent db up --dsn "$dsn" --source "$main" --to 4
expect_rc 0
[ "$(q $db "SELECT data_type FROM information_schema.columns WHERE table_name = 'tasks' AND column_name = 'team_id'")" = uuid ] ||
  fail "uuid: up did not change types"
[ "$(q $db "$links")" = "$links0" ] || fail "uuid: links changed by up"
agent db down --dsn "$dsn" --source "$main" --to 3 --backup-dir "$WORK/b3" --json
expect_rc 0
[ "$(js .data_checks_ok)" = true ] || fail "uuid: data checks"
[ "$(q $db "$shape")" = "$shape0" ] || fail "uuid: column types differ after down"
[ "$(q $db "$cons")" = "$cons0" ] || fail "uuid: constraints differ after down"
[ "$(q $db "$links")" = "$links0" ] || fail "uuid: counts or links differ after down"
[ "$(q $db "SELECT count(*) FROM tasks k LEFT JOIN members m ON m.id = k.member_id
            WHERE k.member_id IS NOT NULL AND m.id IS NULL")" = 0 ] || fail "uuid: orphans"
echo "ok uuid round trip"

# ---- 4. a down script broken in the middle of a path: restored from the backup ----
db=rb_broken
dsn=$(new_db $db)
src="$FIX/rollback_cases/broken"
agent db up --dsn "$dsn" --source "$src"
expect_rc 0
q $db "INSERT INTO accounts (owner, balance) SELECT 'o' || g, g * 10 FROM generate_series(1, 50) g;
       INSERT INTO ledger (account_id, amount, note) SELECT 1 + g % 50, g, CASE WHEN g % 3 = 0 THEN 'n' END
         FROM generate_series(1, 500) g;
       INSERT INTO limits SELECT id, 500 FROM accounts ON CONFLICT DO NOTHING"
before=$(table_sums $db)
fp0=$("$AGENT" db fingerprint --dsn "$dsn")
agent db down --dsn "$dsn" --source "$src" --to base --backup-dir "$WORK/b4" --json
expect_rc 6
[ "$(js .done)" = 1 ] || fail "broken: expected one committed step, got $(js .done)"
[ "$(js .failed_revision)" = 2 ] || fail "broken: failed revision $(js .failed_revision)"
[ -n "$(js .restored)" ] || fail "broken: not restored"
[ "$(table_sums $db)" = "$before" ] || { table_sums $db >&2; fail "broken: tables differ from before"; }
[ "$("$AGENT" db fingerprint --dsn "$dsn")" = "$fp0" ] || fail "broken: fingerprint differs"
agent db status --dsn "$dsn" --source "$src" --json
[ "$(js .current)" = 3 ] && [ "$(js .drift)" = false ] || fail "broken: registry after restore"
agent db history --dsn "$dsn" --json
for kind in revert fail restore; do
  [ "$(js "[.events[] | select(.kind == \"$kind\")] | length")" -ge 1 ] || fail "broken: no $kind event"
done
echo "ok broken down restored"

# ---- 5. two downs at once: one runs, the other is refused (exit 4) ----
db=rb_lock
dsn=$(new_db $db)
src="$FIX/rollback_cases/slow"
agent db up --dsn "$dsn" --source "$src"
expect_rc 0
set +e
"$AGENT" db down --dsn "$dsn" --source "$src" --to base --backup-dir "$WORK/b5" >"$WORK/first" 2>&1 &
first=$!
set -e
# Wait until the first one is inside its slow step (it holds the lock by then).
for _ in $(seq 1 100); do
  [ "$(q $db "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(4)%' AND pid <> pg_backend_pid()")" = 1 ] && break
  sleep 0.1
done
agent db down --dsn "$dsn" --source "$src" --to base --backup-dir "$WORK/b5"
expect_rc 4
grep -qi "lock" "$WORK/err" || fail "lock: message does not mention the lock"
wait $first || fail "lock: the first down failed: $(cat "$WORK/first")"
echo "ok concurrent downs"

# ---- 6. drift: a manual ALTER after up shows in status and fails a later down ----
db=rb_drift
dsn=$(new_db $db)
src="$FIX/layouts/golang"
agent db up --dsn "$dsn" --source "$src"
q $db "ALTER TABLE items ADD COLUMN sneaky integer"
agent db status --dsn "$dsn" --source "$src" --json
[ "$(js .drift)" = true ] || fail "drift: not shown"
js '.drift_objects[].object' | grep -q "items.sneaky" || fail "drift: object not named"
agent db down --dsn "$dsn" --source "$src" --to 1 --backup-dir "$WORK/b6" --no-restore --json
expect_rc 5
js .error.message | grep -q "items.sneaky" || fail "drift: down does not name the object"
echo "ok drift"

# ---- 7. backup / backups / restore, and a tampered dump ----
db=rb_backup
dsn=$(new_db $db)
src="$FIX/layouts/golang"
agent db up --dsn "$dsn" --source "$src"
q $db "INSERT INTO items (name) SELECT 'i' || g FROM generate_series(1, 1000) g"
before=$(table_sums $db)
agent db backup --dsn "$dsn" --backup-dir "$WORK/b7" --json --reason "manual"
expect_rc 0
id=$(js .backup.id)
[ "$(js .backup.revisions[-1])" = 3 ] || fail "backup: revision not recorded"
agent db backup --dsn "$dsn" --backup-dir "$WORK/b7" --format directory --jobs 2 --json
expect_rc 0
id_dir=$(js .backup.id)
q $db "DELETE FROM tags; DELETE FROM items WHERE id > 10; UPDATE items SET name = 'changed'"
agent db restore --dsn "$dsn" --backup-dir "$WORK/b7" "$id_dir"
expect_rc 0
[ "$(table_sums $db)" = "$before" ] || fail "restore (directory format): data differs"
agent db restore --dsn "$dsn" --backup-dir "$WORK/b7" "$id" --json
expect_rc 0
[ "$(table_sums $db)" = "$before" ] || fail "restore: data differs"
agent db backups --dsn "$dsn" --backup-dir "$WORK/b7" --json
[ "$(js '.backups | length')" = 2 ] && [ "$(js '[.backups[] | select(.damaged)] | length')" = 0 ] ||
  fail "backups: list"
# Tamper with the custom-format dump: listed as damaged, restore refused (exit 4).
printf 'X' | dd of="$WORK/b7/$id.dump" bs=1 seek=200 conv=notrunc status=none
agent db backups --backup-dir "$WORK/b7" --json
[ "$(js "[.backups[] | select(.id == \"$id\" and .damaged)] | length")" = 1 ] || fail "tamper: not damaged"
agent db restore --dsn "$dsn" --backup-dir "$WORK/b7" "$id"
expect_rc 4
grep -q "checksum" "$WORK/err" || fail "tamper: message does not name the checksum"
# Retention keeps the newest N, never the one just taken.
agent db backup --dsn "$dsn" --backup-dir "$WORK/b7" --keep 1 --json
expect_rc 0
[ "$(js .removed_by_retention)" = 2 ] || fail "retention removed $(js .removed_by_retention)"
[ "$(ls "$WORK/b7" | grep -c manifest.json)" = 1 ] || fail "retention: $(ls "$WORK/b7")"
# A password in the connection string reaches neither output nor messages, and its passfile is removed.
TMPDIR="$WORK" agent db backup --dsn "$dsn password=s3cr3t-pw" --backup-dir "$WORK/b8" --json
expect_rc 0
! grep -q s3cr3t "$WORK/out" "$WORK/err" || fail "password shown"
! grep -rq s3cr3t "$WORK/b8" || fail "password in a manifest"
[ -z "$(ls "$WORK" | grep ebb-pgpass)" ] || fail "passfile left behind"
agent db status --dsn "host=/nonexistent port=1 dbname=x password=s3cr3t-pw" --source "$src"
expect_rc 7
! grep -q s3cr3t "$WORK/out" "$WORK/err" || fail "password shown in a connection error"
echo "ok backups"
echo "ok"
