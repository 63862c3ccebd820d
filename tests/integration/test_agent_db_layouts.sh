#!/usr/bin/env bash
# Integration: `ebb-agent db up/down/status/verify` round trip on each plain-SQL layout
# (golang-migrate, Flyway, dbmate, Diesel), data kept, backups taken by down.
set -euo pipefail
. "$(dirname "$0")/lib_agent_db.sh"

for layout in golang flyway dbmate diesel; do
  db="lay_$layout"
  dsn=$(new_db "$db")
  src="$FIX/layouts/$layout"
  bdir="$WORK/backups-$layout"

  agent db up --dsn "$dsn" --source "$src" --json --reason "test up"
  expect_rc 0
  [ "$(js .done)" = 3 ] || fail "$layout: up applied $(js .done) steps"

  agent db status --dsn "$dsn" --source "$src" --json
  expect_rc 0
  [ "$(js .pending_count)" = 0 ] && [ "$(js .drift)" = false ] || fail "$layout: status after up"

  q "$db" "INSERT INTO items (name, price) VALUES ('a', 1), ('b', 2)"
  q "$db" "INSERT INTO tags (item_id, tag) SELECT id, 'x' FROM items"

  # Dry run changes nothing.
  agent db down --dsn "$dsn" --source "$src" --to -2 --dry-run --json
  expect_rc 0
  [ "$(js '.steps | length')" = 2 ] || fail "$layout: dry run shows $(js '.steps|length') steps"
  [ "$(q "$db" "SELECT count(*) FROM tags")" = 2 ] || fail "$layout: dry run changed data"

  agent db down --dsn "$dsn" --source "$src" --to -2 --backup-dir "$bdir" --json --reason "test down"
  expect_rc 0
  [ "$(js .done)" = 2 ] || fail "$layout: down reverted $(js .done) steps"
  [ "$(js .backup.verified)" = true ] || fail "$layout: no verified backup"
  [ -f "$bdir/$(js .backup.id).manifest.json" ] || fail "$layout: manifest missing"
  [ "$(q "$db" "SELECT string_agg(name, ',' ORDER BY name) FROM items")" = "a,b" ] ||
    fail "$layout: rows of items lost"
  [ "$(q "$db" "SELECT to_regclass('tags') IS NULL")" = t ] || fail "$layout: tags still there"

  agent db status --dsn "$dsn" --source "$src" --json
  [ "$(js .pending_count)" = 2 ] && [ "$(js .drift)" = false ] || fail "$layout: status after down"

  agent db up --dsn "$dsn" --source "$src"
  expect_rc 0
  agent db verify --dsn "$dsn" --source "$src"
  expect_rc 0

  agent db history --dsn "$dsn" --json
  expect_rc 0
  [ "$(js '[.events[] | select(.kind == "revert")] | length')" = 2 ] || fail "$layout: revert events"
  [ "$(js '[.events[] | select(.kind == "deploy")] | length')" = 5 ] || fail "$layout: deploy events"
  echo "ok $layout"
done

# Usage errors: down without --to, unknown option, option of another command.
agent db down --dsn "x" --source "$FIX/layouts/golang" --backup-dir "$WORK"
expect_rc 2
grep -q -- "--to is required" "$WORK/err" || fail "down without --to"
agent db status --dsn x --source y --bogus
expect_rc 2
agent db status --dsn x --source y --no-restore
expect_rc 2
agent db down --help
expect_rc 0
grep -q "lock; checksum validation" "$WORK/out" || fail "down --help"
echo "ok"
