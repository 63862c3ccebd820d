#!/usr/bin/env bash
# `ebb keygen`: files and modes, refusal to overwrite, --force, --json, usage errors.
# Env: EBB_BIN_DIR (build directory).
set -euo pipefail
ebb="${EBB_BIN_DIR:?}/coordinator/ebb"
work=$(mktemp -d "${TMPDIR:-/tmp}/ebb-keygen.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

out=$("$ebb" keygen --out "$work/op.key")
[ "$(stat -c %a "$work/op.key")" = 600 ] || fail "secret key mode is not 600"
[ -f "$work/op.key.pub" ] || fail "no .pub written"
grep -q '^Key id:     [0-9a-f]\{16\}$' <<<"$out" || fail "no key id in: $out"
pub=$(cut -d' ' -f2 "$work/op.key.pub")
grep -qF "$pub" <<<"$out" || fail "printed public key differs from the .pub file"

set +e
"$ebb" keygen --out "$work/op.key" 2>"$work/err"; rc=$?
set -e
[ "$rc" = 4 ] || fail "overwrite without --force exited $rc, expected 4 (refused)"
grep -q -- '--force' "$work/err" || fail "refusal does not mention --force"
[ "$(cut -d' ' -f2 "$work/op.key.pub")" = "$pub" ] || fail "key was overwritten"

json=$("$ebb" keygen --out "$work/op.key" --force --json)
python3 - "$json" "$work" <<'PY'
import json, sys
o = json.loads(sys.argv[1]); work = sys.argv[2]
assert len(o["key_id"]) == 16 and int(o["key_id"], 16) >= 0, o
assert o["secret_key_file"] == f"{work}/op.key" and o["public_key_file"] == f"{work}/op.key.pub", o
assert open(f"{work}/op.key.pub").read().split()[1] == o["public_key"], o
PY
[ "$(cut -d' ' -f2 "$work/op.key.pub")" != "$pub" ] || fail "--force did not replace the key"

set +e
"$ebb" keygen >/dev/null 2>&1; rc_missing=$?
"$ebb" keygen --out x --bogus >/dev/null 2>&1; rc_bogus=$?
set -e
[ "$rc_missing" = 2 ] && [ "$rc_bogus" = 2 ] || fail "usage errors exited $rc_missing/$rc_bogus, expected 2"
"$ebb" keygen --help | grep -q 'Usage: ebb keygen' || fail "no --help"
"$ebb" --help | grep -q 'keygen' || fail "top-level help lacks keygen"
echo OK
