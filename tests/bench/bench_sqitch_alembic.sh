#!/usr/bin/env bash
# Benchmark (not a test): the same migrations run by ebb and by the tools themselves.
#  - a generated Sqitch project of N changes (tags every 20, requires, BEGIN/COMMIT scripts):
#    ebb `db up` + `db verify` + `db down --to base`  vs  `sqitch deploy --verify` + `sqitch revert -y`
#  - a generated Alembic project of M revisions:
#    ebb `db up` + `db down --to base`  vs  `alembic upgrade head` + `alembic downgrade base`
# ebb's down includes its pg_dump backup, the fingerprint comparison and the data checks.
# Usage: tests/bench/bench_sqitch_alembic.sh [BUILD_DIR] [N] [M]   (default build, 120, 30)
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$here/build}" && pwd)
n=${2:-120}
m=${3:-30}

if [ -z "${EBB_TEST_PG_CONNINFO:-}" ]; then
  exec "$build/tests/ebb-test-pg" run -- bash "$0" "$build" "$n" "$m"
fi

agent="$build/agent/ebb-agent"
psql=/usr/lib/postgresql/15/bin/psql
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dsn_of() { echo "$EBB_TEST_PG_CONNINFO" | sed "s/dbname=[^ ]*/dbname=$1/"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
for db in sq_ebb sq_sqitch al_ebb al_alembic; do "$psql" -XAtq -d postgres -c "CREATE DATABASE $db"; done

# ---- Sqitch project -------------------------------------------------------------
sq="$work/sqitch"
mkdir -p "$sq/deploy" "$sq/revert" "$sq/verify"
printf '[core]\n\tengine = pg\n' >"$sq/sqitch.conf"
{
  printf '%%syntax-version=1.0.0\n%%project=bench\n\n'
  for i in $(seq 1 "$n"); do
    req=""
    [ "$i" -gt 1 ] && req="[c$((i - 1))] "
    printf 'c%d %s2024-01-01T00:00:00Z Bench <bench@example.com> # change %d\n' "$i" "$req" "$i"
    [ $((i % 20)) -eq 0 ] && printf '@t%d 2024-01-01T00:00:01Z Bench <bench@example.com> # tag\n' "$i"
  done
} >"$sq/sqitch.plan"
for i in $(seq 1 "$n"); do
  printf 'BEGIN;\nCREATE TABLE c%d (id integer PRIMARY KEY, v text NOT NULL DEFAULT %s);\nCREATE INDEX c%d_v ON c%d (v);\nCOMMIT;\n' \
    "$i" "''" "$i" "$i" >"$sq/deploy/c$i.sql"
  printf 'BEGIN;\nDROP TABLE c%d;\nCOMMIT;\n' "$i" >"$sq/revert/c$i.sql"
  printf 'BEGIN;\nSELECT id, v FROM c%d WHERE false;\nROLLBACK;\n' "$i" >"$sq/verify/c$i.sql"
done
sqitch_target="db:pg://$PGUSER@/sq_sqitch?host=$PGHOST&port=$PGPORT"
dsn=$(dsn_of sq_ebb)

t0=$(now)
"$agent" db up --dsn "$dsn" --source "$sq" >/dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }
"$agent" db verify --dsn "$dsn" --source "$sq" >/dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }
t1=$(now)
"$agent" db down --dsn "$dsn" --source "$sq" --to base --backup-dir "$work/bk" >/dev/null 2>"$work/err" \
  || { cat "$work/err"; exit 1; }
t2=$(now)
(cd "$sq" && sqitch deploy --verify "$sqitch_target" >/dev/null)
t3=$(now)
(cd "$sq" && sqitch revert -y "$sqitch_target" >/dev/null)
t4=$(now)

# ---- Alembic project --------------------------------------------------------------
al="$work/alembic"
mkdir -p "$al/migrations/versions"
cp "$here/tests/fixtures/alembic/branchy/alembic.ini" "$al/"
cp "$here/tests/fixtures/alembic/branchy/migrations/env.py" "$al/migrations/"
prev=None
for i in $(seq 1 "$m"); do
  rev=$(printf 'b%011d' "$i")
  cat >"$al/migrations/versions/${rev}_r$i.py" <<PY
"""revision $i"""
from alembic import op

revision = "$rev"
down_revision = $prev
branch_labels = None
depends_on = None


def upgrade():
    op.execute("CREATE TABLE r$i (id integer PRIMARY KEY, v text)")
    op.execute("CREATE INDEX r${i}_v ON r$i (v)")


def downgrade():
    op.execute("DROP TABLE r$i")
PY
  prev="\"$rev\""
done
dsn=$(dsn_of al_ebb)
export DATABASE_URL="postgresql+psycopg2:///al_alembic?host=$PGHOST&port=$PGPORT&user=$PGUSER"

t5=$(now)
env -u DATABASE_URL "$agent" db up --dsn "$dsn" --source "$al" >/dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }
t6=$(now)
env -u DATABASE_URL "$agent" db down --dsn "$dsn" --source "$al" --to base --backup-dir "$work/bk" \
  >/dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }
t7=$(now)
(cd "$al" && alembic upgrade head 2>/dev/null)
t8=$(now)
(cd "$al" && alembic downgrade base 2>/dev/null)
t9=$(now)

printf '\n(ratio = ebb time / tool time)\nSqitch project, %d changes (tags every 20, each requires the previous)\n' "$n"
printf '  %-32s %8s s   %-30s %8s s   %s\n' "ebb up + verify" "$(secs "$t0" "$t1")" "sqitch deploy --verify" "$(secs "$t2" "$t3")" "$(ratio "$(secs "$t0" "$t1")" "$(secs "$t2" "$t3")")"
printf '  %-32s %8s s   %-30s %8s s   %s\n' "ebb down --to base (backup)" "$(secs "$t1" "$t2")" "sqitch revert -y" "$(secs "$t3" "$t4")" "$(ratio "$(secs "$t1" "$t2")" "$(secs "$t3" "$t4")")"
printf '\nAlembic project, %d revisions\n' "$m"
printf '  %-32s %8s s   %-30s %8s s   %s\n' "ebb up" "$(secs "$t5" "$t6")" "alembic upgrade head" "$(secs "$t7" "$t8")" "$(ratio "$(secs "$t5" "$t6")" "$(secs "$t7" "$t8")")"
printf '  %-32s %8s s   %-30s %8s s   %s\n' "ebb down --to base (backup)" "$(secs "$t6" "$t7")" "alembic downgrade base" "$(secs "$t8" "$t9")" "$(ratio "$(secs "$t6" "$t7")" "$(secs "$t8" "$t9")")"
