#!/usr/bin/env bash
# The smaller of ebb's two demos (the fleet demo is deploy/demo.sh): the
# signed message layer alone. Installs dependencies, builds into ./build-demo, and runs the loopback
# exchange of tests/integration/test_wire_loopback.sh with an explanation.
# Usage: deploy/demo-wire.sh
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
jobs=$(nproc 2>/dev/null || echo 2)

bash deploy/install-deps.sh
echo "== building into ./build-demo"
cmake -S . -B build-demo -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-demo -j "$jobs" >/dev/null

cat <<'TXT'

== What this shows
Every ebb message travels inside a signed envelope (Ed25519; version,
signer, recipient, sequence, issue and expiry times, nonce) over nng
request/reply sockets. A server that trusts two keys (a sender and an
"injector", and knows one revoked key) now receives:
  1. 1000 genuine messages from the sender, each acknowledged with a signed reply;
  2. attacks: messages from an unknown key, forged signatures claiming a
     trusted key, a revoked key, replays of 5 messages a network tap captured,
     expired and future-dated messages, a message for another recipient, a
     future protocol version, garbage bytes, messages over the envelope size
     limit, and one message over the transport limit (nng drops that
     connection before ebb sees a byte);
  3. a message from a restarted sender process, which is accepted (its
     clock-based sequence is above the old one) and stops the server.
The server counts what it delivered and what it refused, by reason.

TXT
EBB_BIN_DIR="$here/build-demo" bash tests/integration/test_wire_loopback.sh
cat <<'TXT'

== Reading the result
"delivered" is exactly the number of genuine messages: nothing injected got
through, each attack was refused with its own reason (the counts match what
was injected), and the server kept serving after the oversized message.
TXT
