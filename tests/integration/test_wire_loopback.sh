#!/usr/bin/env bash
# Loopback wire test (and the interim demo): a REP server that trusts two
# keys receives 1000 signed messages from a sender, then a stream of attacks
# (unknown and revoked signers, forged signatures, replays of captured
# messages, expired and future messages, wrong recipient, a future protocol
# version, garbage, messages over the envelope limit and one over the
# transport limit). Asserts from the server's own counters: exactly 1000
# delivered, every attack refused with its own code, nothing injected
# delivered, and the server survived the dropped connection.
# Env: EBB_BIN_DIR (build directory). Optional: EBB_WIRE_COUNT (default 1000).
set -euo pipefail

bin_dir=${EBB_BIN_DIR:?EBB_BIN_DIR must point at the build directory}
peer="$bin_dir/tests/ebb-test-wire-peer"
ebb="$bin_dir/coordinator/ebb"
count=${EBB_WIRE_COUNT:-1000}
max_envelope=65536
recv_max=262144

work=$(mktemp -d "${TMPDIR:-/tmp}/ebb-wire-loopback.XXXXXX")
server_pid=
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

for k in server sender injector unknown revoked; do
  "$ebb" keygen --out "$work/$k.key" --json >"$work/$k.keygen.json"
done

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url="tcp://127.0.0.1:$port"

"$peer" serve --url "$url" --key "$work/server.key" \
  --trust "$work/sender.key.pub" --trust "$work/injector.key.pub" \
  --revoked "$work/revoked.key.pub" --replay "$work/server.replay" \
  --max-envelope "$max_envelope" --recv-max "$recv_max" --contexts 16 \
  >"$work/server.json" 2>"$work/server.log" &
server_pid=$!

"$peer" send --url "$url" --key "$work/sender.key" --server-pub "$work/server.key.pub" \
  --count "$count" --capture "$work/tap.bin" --capture-count 5 >"$work/send.json"

"$peer" inject --url "$url" --key "$work/injector.key" --server-pub "$work/server.key.pub" \
  --unknown-key "$work/unknown.key" --revoked-key "$work/revoked.key" \
  --capture "$work/tap.bin" --max-envelope "$max_envelope" --recv-max "$recv_max" \
  >"$work/inject.json" || { echo "inject reported mismatches:"; cat "$work/inject.json"; exit 1; }

# A new sender process (a restart): its clock-based sequence is above the
# old one's, so the server still accepts it; this message stops the server.
"$peer" send --url "$url" --key "$work/sender.key" --server-pub "$work/server.key.pub" \
  --count 0 --shutdown >/dev/null

wait "$server_pid"
server_pid=

python3 - "$work" "$count" <<'PY'
import json, sys
work, count = sys.argv[1], int(sys.argv[2])
server = json.load(open(f"{work}/server.json"))
inject = json.load(open(f"{work}/inject.json"))
send = json.load(open(f"{work}/send.json"))
sender_id = json.load(open(f"{work}/sender.keygen.json"))["key_id"]
injector_id = json.load(open(f"{work}/injector.keygen.json"))["key_id"]
problems = []
def check(cond, what):
    if not cond:
        problems.append(what)
check(send["acked"] == count, f"sender got {send['acked']} acks, expected {count}")
check(server["delivered"] == count, f"server delivered {server['delivered']}, expected exactly {count}")
check(server["delivered_by_signer"] == {sender_id: count},
      f"deliveries by signer {server['delivered_by_signer']}, expected only {sender_id}")
check(server["delivered_injected"] == 0, f"{server['delivered_injected']} injected messages were delivered")
check(injector_id not in server["delivered_by_signer"], "a message signed by the injector was delivered")
check(server["control"] == 1, "the shutdown message was not received once")
check(server["stopped_by"] == "shutdown-message", "server did not stop on the shutdown message")
check(server["rejected"] == inject["injected"],
      f"rejections {server['rejected']} differ from injections {inject['injected']}")
check(inject["transport_dropped"] == 1, "the over-transport-limit message was not dropped")
check(inject["mismatches"] == 0, f"{inject['mismatches']} replies had an unexpected code")
expected_kinds = {"env-unknown-signer", "env-bad-signature", "env-revoked-signer", "env-replay",
                  "env-expired", "env-future", "env-wrong-recipient", "env-version",
                  "env-malformed", "env-too-large"}
check(set(inject["injected"]) == expected_kinds, f"injected kinds {sorted(inject['injected'])}")
check(inject["injected"].get("env-replay") == send["captured"],
      f"{send['captured']} captured messages but {inject['injected'].get('env-replay')} replays refused")

print(f"wire loopback over tcp://127.0.0.1 (envelope limit {64*1024} B, transport limit {256*1024} B)")
print(f"  sent by the trusted sender : {count}, acknowledged {send['acked']}")
print(f"  delivered by the server    : {server['delivered']} (all from {sender_id})")
print(f"  injected and rejected      : {server['rejected_total']} messages, none delivered")
for kind, n in sorted(server["rejected"].items()):
    print(f"    {kind:22} {n}")
print(f"  over the transport limit   : {inject['transport_dropped']} (connection dropped by nng, server kept serving)")
if problems:
    print("FAILED:")
    for p in problems:
        print("  - " + p)
    sys.exit(1)
print("OK")
PY
