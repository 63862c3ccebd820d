#!/usr/bin/env bash
# `ebb audit` and `ebb audit verify` on a signed three-run journal, then on tampered copies:
# an edited byte, a deleted line, a truncated file, two swapped lines, a cut-off tail (anchor).
# Env: EBB_BIN_DIR (build directory).
set -euo pipefail
ebb="${EBB_BIN_DIR:?}/coordinator/ebb"
fixture="${EBB_BIN_DIR:?}/tests/ebb-test-audit-fixture"
work=$(mktemp -d "${TMPDIR:-/tmp}/ebb-cli-audit.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cd "$work"

"$ebb" keygen --out coord.key >/dev/null
"$ebb" keygen --out other.key >/dev/null
"$fixture" journal coord.key
[ "$(wc -l <journal)" = 18 ] || fail "fixture wrote $(wc -l <journal) lines, expected 18"
! grep -q hunter2 journal || fail "a password reached the journal"

# ---- queries ----
table=$("$ebb" audit --journal journal --pubkey coord.key.pub)
[ "$(wc -l <<<"$table")" = 4 ] || fail "table has not 1 header + 3 rows: $table"
grep -q '^RUN .*PERFORMED BY .*REASON .*METHOD .*OUTCOME .*HOSTS' <<<"$table" || fail "table header: $table"
grep -q '^r-0002  2024-05-02  09:00:00 .*bob (b0b0000000000b0b).*rollback to 0041.*compensated  db4,db3$' <<<"$table" \
    || fail "run r-0002 row: $table"

"$ebb" audit --journal journal --pubkey coord.key.pub --json >runs.json
python3 - runs.json <<'PY'
import json, sys
runs = json.load(open(sys.argv[1]))
assert [r["run_id"] for r in runs] == ["r-0001", "r-0002", "r-0003"], runs
r2 = runs[1]
assert r2["outcome"] == "compensated" and r2["kind"] == "rollback" and r2["environment"] == "prod"
assert r2["approvers"] == ["ca401000000ca401"], r2["approvers"]
assert "hunter2" not in json.dumps(runs) and "password=***" in r2["reason"]
steps = [x for x in r2["records"] if x["type"] == "audit.step_result"]
assert any(s["payload"]["sqlstate"] == "23503" for s in steps if "sqlstate" in s["payload"])
assert all(isinstance(x["seq"], int) for x in r2["records"])
PY

"$ebb" audit --journal journal --pubkey coord.key.pub --csv --env prod >runs.csv
python3 - runs.csv <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
assert [r["run_id"] for r in rows] == ["r-0002", "r-0003"], rows
assert rows[0]["reason"].startswith('Checkout errors after 0042, see INC-17 "hotfix"\nDB password=***'), rows[0]["reason"]
assert rows[0]["hosts"] == "db4 db3" and rows[1]["outcome"] == "aborted"
PY

# runs_of ARGS...: the run ids a filtered query returns, space-separated.
runs_of() {
    "$ebb" audit --journal journal --pubkey coord.key.pub --json "$@" |
        python3 -c 'import json, sys; print(" ".join(r["run_id"] for r in json.load(sys.stdin)))'
}
[ "$(runs_of --operator ca401000000ca401)" = r-0002 ] || fail "--operator (an approver)"
[ "$(runs_of --operator b0b0000000000b0b)" = "r-0002 r-0003" ] || fail "--operator (requester, halter)"
[ "$(runs_of --host db1 --since 2024-05-01 --until 2024-05-01)" = r-0001 ] || fail "--host --since --until"
[ "$(runs_of --since 2024-05-02T09:00:00Z)" = "r-0002 r-0003" ] || fail "--since with a time"
[ "$(runs_of --outcome aborted --database billing)" = r-0003 ] || fail "--outcome --database"
[ "$(runs_of --run r-0001)" = r-0001 ] || fail "--run"
"$ebb" audit --journal journal --pubkey coord.key.pub --env dev | grep -q 'no runs match' || fail "empty result"

# ---- verify, intact ----
out=$("$ebb" audit verify --journal journal --pubkey coord.key.pub)
grep -q 'verifies: 18 records (17 audit, 3 runs), signatures checked' <<<"$out" || fail "verify: $out"
head=$(sed -n 's/^Head.*: \([0-9]*:[0-9a-f]*\)$/\1/p' <<<"$out")
[ -n "$head" ] || fail "no head printed: $out"
"$ebb" audit verify --journal journal --pubkey coord.key.pub --json | python3 -c '
import json, sys; o = json.load(sys.stdin); assert o["ok"] and o["records"] == 18 and o["runs"] == 3, o'
"$ebb" audit verify --journal journal --pubkey coord.key.pub --anchor "$head" >/dev/null || fail "anchor on intact journal"

# expect_bad FILE LINE FAULT [KEY]: verify exits 5 and names the line and the fault.
expect_bad() {
    local file=$1 line=$2 fault=$3 key=${4:-coord.key.pub} rc=0
    "$ebb" audit verify --journal "$file" --pubkey "$key" >"$file.out" 2>"$file.err" || rc=$?
    [ "$rc" = 5 ] || fail "$file: verify exited $rc, expected 5: $(cat "$file.out" "$file.err")"
    grep -q "line $line\b.*$fault" "$file.err" || fail "$file: expected line $line $fault, got: $(cat "$file.err")"
    grep -q "First bad record: line $line\b" "$file.out" || fail "$file: report: $(cat "$file.out")"
    # The history query refuses it too.
    rc=0
    "$ebb" audit --journal "$file" --pubkey "$key" >/dev/null 2>&1 || rc=$?
    [ "$rc" = 5 ] || [ "$fault" = torn-tail ] || fail "$file: query on a damaged journal exited $rc"
}

# Wrong key: every record is signed by the coordinator, not by "other".
expect_bad journal 1 wrong-signer other.key.pub

# One byte of a payload (a host name in record 7) edited.
cp journal edited
python3 - edited <<'PY'
import sys
p = sys.argv[1]; lines = open(p, "rb").read().split(b"\n")
i = 6; assert b'"host":"db4"' in lines[i], lines[i]
lines[i] = lines[i].replace(b'"host":"db4"', b'"host":"db5"')
open(p, "wb").write(b"\n".join(lines))
PY
expect_bad edited 7 hash-mismatch

# A record deleted.
sed '9d' journal >deleted
expect_bad deleted 9 sequence-gap

# Two records swapped.
awk 'NR==11{held=$0; next} NR==12{print; print held; next} {print}' journal >swapped
expect_bad swapped 11 sequence-gap

# Truncated in the middle of the last record (a crash mid-append, or tampering).
cp journal truncated
size=$(stat -c %s truncated); truncate -s $((size - 40)) truncated
expect_bad truncated 18 torn-tail
# The query still shows what verifies before the torn line, with a warning.
"$ebb" audit --journal truncated --pubkey coord.key.pub >/dev/null 2>torn.err
grep -q 'torn line 18' torn.err || fail "query did not warn about the torn tail: $(cat torn.err)"

# Truncated in the middle of the file, keeping the tail: unparsable line, then the chain breaks.
head -c 3000 journal >cut
tail -n 5 journal >>cut
rc=0; "$ebb" audit verify --journal cut --pubkey coord.key.pub >/dev/null 2>cut.err || rc=$?
[ "$rc" = 5 ] || fail "cut: exit $rc"
grep -Eq 'line [0-9]+.*(unparsable|not-canonical|sequence-gap)' cut.err || fail "cut: $(cat cut.err)"

# Whole records cut off the end: only the anchor shows it.
head -n 15 journal >short
"$ebb" audit verify --journal short --pubkey coord.key.pub >/dev/null || fail "short journal should verify without an anchor"
rc=0; "$ebb" audit verify --journal short --pubkey coord.key.pub --anchor "$head" >short.out 2>short.err || rc=$?
[ "$rc" = 5 ] && grep -q 'anchor-mismatch.*cut off' short.err || fail "anchor did not detect the cut tail: $(cat short.err)"

# Usage errors.
rc=0; "$ebb" audit verify --journal journal >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "verify without --pubkey or --no-signatures exited $rc"
"$ebb" audit verify --journal journal --no-signatures >/dev/null || fail "--no-signatures"
rc=0; "$ebb" audit --journal journal --since yesterday >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "bad --since exited $rc"
rc=0; "$ebb" audit verify --journal nonexistent --pubkey coord.key.pub >/dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "missing journal exited $rc"
"$ebb" --help | grep -q 'audit verify' || fail "top-level help lacks audit"
"$ebb" audit --help | grep -q 'Usage: ebb audit' || fail "no audit --help"
echo OK
