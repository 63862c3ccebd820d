#!/usr/bin/env bash
# Benchmark (not a test): `ebb-agent db up` then `down --to base` of N generated small changes
# on one database, in changes per second, against the floor of the same SQL sent by one
# `psql -1 -f`. Usage: tests/bench/bench_migrate.sh [BUILD_DIR] [N]   (default build, 500)
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$here/build}" && pwd)
n=${2:-500}

if [ -z "${EBB_TEST_PG_CONNINFO:-}" ]; then
  exec "$build/tests/ebb-test-pg" run -- bash "$0" "$build" "$n"
fi

agent="$build/agent/ebb-agent"
psql=/usr/lib/postgresql/15/bin/psql
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
src="$work/src"
mkdir -p "$src"
: >"$work/all_up.sql"
for i in $(seq 1 "$n"); do
  printf 'CREATE TABLE bench_%d (id integer PRIMARY KEY, v text);\nCREATE INDEX bench_%d_v ON bench_%d (v);\n' \
    "$i" "$i" "$i" >"$src/${i}_change_$i.up.sql"
  printf 'DROP TABLE bench_%d;\n' "$i" >"$src/${i}_change_$i.down.sql"
  cat "$src/${i}_change_$i.up.sql" >>"$work/all_up.sql"
done
: >"$work/all_down.sql"
for i in $(seq "$n" -1 1); do cat "$src/${i}_change_$i.down.sql" >>"$work/all_down.sql"; done

"$psql" -XAtq -d postgres -c "CREATE DATABASE bench_ebb" -c "CREATE DATABASE bench_psql"
dsn=$(echo "$EBB_TEST_PG_CONNINFO" | sed "s/dbname=[^ ]*/dbname=bench_ebb/")

now() { date +%s.%N; }
rate() { awk -v n="$n" -v a="$1" -v b="$2" 'BEGIN { d = b - a; printf "%8.1f changes/s  (%.2f s)", n / d, d }'; }

t0=$(now); "$agent" db up --dsn "$dsn" --source "$src" >/dev/null 2>&1; t1=$(now)
"$agent" db down --dsn "$dsn" --source "$src" --to base --backup-dir "$work/backups" >/dev/null 2>&1
t2=$(now)
t3=$(now); "$psql" -XAtq -v ON_ERROR_STOP=1 -d bench_psql -1 -f "$work/all_up.sql"; t4=$(now)
"$psql" -XAtq -v ON_ERROR_STOP=1 -d bench_psql -1 -f "$work/all_down.sql"; t5=$(now)

echo "$n changes (CREATE TABLE + CREATE INDEX up, DROP TABLE down), PostgreSQL 15, one database"
echo "ebb-agent db up              $(rate "$t0" "$t1")  one transaction + fingerprint per step"
echo "ebb-agent db down --to base  $(rate "$t1" "$t2")  incl. lock, checksums, counts, backup, checks"
echo "psql -1 -f (up, floor)       $(rate "$t3" "$t4")"
echo "psql -1 -f (down, floor)     $(rate "$t4" "$t5")"
