#!/usr/bin/env bash
# e2e.sh: the end-to-end comparison (issue 14). Starts the test servers as
# the test command does (moto, Prometheus, the Lambda emulator; the e2e
# binaries built once into .cache/bin), runs the flash sale
# NODEFLEET_E2E_RUNS times (default 3) against node-fleet's Lambda
# function, its daemon, the daemon with the sale in its calendar, and
# Karpenter, each on a control plane of its own (internal/e2e), prints each
# run's timeline, and rewrites docs/e2e.md with the medians.
#   NODEFLEET_E2E_RUNS=1 NODEFLEET_E2E_MODES=daemon,karpenter scripts/e2e.sh
# runs fewer; NODEFLEET_E2E_BOOT_DELAY=30s registers every new worker's
# Node NotReady and tainted node.kubernetes.io/not-ready:NoSchedule, as a
# kubelet's, and makes it Ready 30 s later, Karpenter's and node-fleet's
# alike, for a boot closer to EC2's than the default at once (with
# NODEFLEET_E2E_REPORT=$PWD/docs/e2e-boot-delay.md for that table). About 4
# minutes a run of each mode, 15 for the four.
set -euo pipefail
cd "$(dirname "$0")/.."
exec scripts/test.sh e2e
