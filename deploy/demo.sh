#!/usr/bin/env bash
# The README's demo command. Today it runs the signed-wire demo
# (deploy/demo-wire.sh): 1,000 sealed messages over nng on loopback and every
# kind of forged, replayed, expired and oversized message refused and counted.
# The fleet demo (clusters per environment, agents, coordinator, a staged
# rollout, a fleet rollback, the audit) takes its place when the coordinator
# exists.
set -euo pipefail
exec bash "$(dirname "$0")/demo-wire.sh" "$@"
