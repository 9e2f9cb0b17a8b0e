#!/usr/bin/env bash
# lambda-measure.sh [ARCH...]: the Lambda function's run time and memory
# under the AWS Lambda Runtime Interface Emulator, against moto, a real
# Prometheus and the test kube-apiserver, for each ARCH (default: amd64
# arm64). It runs examples/lambda's TestBootstrapUnderTheRuntimeInterfaceEmulator
# with NODEFLEET_RIE_GOARCH=ARCH and prints the figures the test logs:
# the bootstrap's size, the emulator's INIT REPORT and REPORT durations
# (first tick, warm tick, the ticks called back to back, the spot warning,
# a rejected event) and the bootstrap process's peak resident memory
# (VmHWM from /proc: the emulator's own "Max Memory Used" only repeats
# AWS_LAMBDA_FUNCTION_MEMORY_SIZE).
#
# An ARCH other than the machine's runs through qemu-user
# (qemu-aarch64-static from Debian's qemu-user-static, or NODEFLEET_QEMU_BIN);
# without it the test skips and this script says so. Durations under qemu
# are qemu's, not that architecture's hardware's (docs/benchmarks.md).
#
# Needs the test servers: scripts/dev-env.sh running (it writes
# .cache/dev.env), or the NODEFLEET_* variables set otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${NODEFLEET_RIE_BIN:-}" ] && [ -f .cache/dev.env ]; then
	# shellcheck disable=SC1091
	. .cache/dev.env
fi
: "${NODEFLEET_RIE_BIN:?no NODEFLEET_RIE_BIN: start scripts/dev-env.sh first}"
echo "lambda-measure: $(go version) on $(uname -m), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=(amd64 arm64)
status=0
for a in "${archs[@]}"; do
	log=$(mktemp)
	if NODEFLEET_RIE_GOARCH=$a nice go test -count=1 -timeout 30m -v -run 'TestBootstrapUnderTheRuntimeInterfaceEmulator$' ./examples/lambda/ >"$log" 2>&1; then
		if grep -q -- '--- SKIP' "$log"; then
			echo "$a: not measured: $(grep -A1 -- '--- SKIP' "$log" | tail -1 | sed 's/^ *//')"
		else
			grep -E 'bootstrap \(stripped|emulator \(linux|peak resident memory' "$log" | sed "s/^ */$a: /"
		fi
	else
		echo "$a: the test failed:" >&2
		tail -40 "$log" >&2
		status=1
	fi
	rm -f "$log"
done
exit $status
