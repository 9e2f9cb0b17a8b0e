#!/usr/bin/env bash
# Short fuzz runs, called by scripts/test.sh. One line per fuzz target:
#   fuzz PACKAGE TARGET
# Each runs for FUZZTIME (default 20s); the seed corpus runs in plain go test.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-20s}
fuzz() { go test -run '^$' -fuzz "^$2\$" -fuzztime "$FUZZTIME" "$1"; }

# Targets (add yours below).
fuzz ./metrics/ FuzzResponse
fuzz ./config/ FuzzLoad
fuzz ./sim/ FuzzParseTrace
fuzz ./run/lambda/ FuzzHandle
fuzz ./state/ FuzzLoadCorruptedItem
