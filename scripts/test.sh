#!/usr/bin/env bash
# The project's test command (README: `make test`). On a fresh machine it
# installs everything the tests need (Debian packages, moto in a
# project-local virtual environment, Go tools and server binaries cached
# under .cache/), starts the real servers on loopback, runs the linters, the
# unit and integration tests (none may skip) and short fuzz runs, and stops
# the servers again.
#
# Services are plugins: each scripts/svc/NAME.sh, when sourced, appends its
# Debian packages to APT_PACKAGES and defines svc_NAME_install and
# svc_NAME_start. Start functions export the endpoint variables the tests
# read (see internal/testenv) and register their processes with track_pid.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export ROOT
export CACHE="$ROOT/.cache"
export GOBIN="$CACHE/bin"
export PATH="$GOBIN:$PATH"
export KUBE_FEATURE_WatchListClient=false
mkdir -p "$CACHE/bin" "$CACHE/run"
RUN="$(mktemp -d "$CACHE/run/XXXXXX")"
export RUN

log() { printf '\n== %s (%s)\n' "$*" "$(date +%H:%M:%S)"; }
PIDS=()
track_pid() { PIDS+=("$1"); }
cleanup() {
	local rc=$? i p alive
	# Stop the services newest first (the API server before etcd), give
	# them 10 s to go, then kill what is left: a server stuck in a graceful
	# shutdown must not hang the run.
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		kill "${PIDS[i]}" 2>/dev/null || true
	done
	for _ in $(seq 50); do
		alive=0
		for p in "${PIDS[@]}"; do
			if kill -0 "$p" 2>/dev/null && ! grep -qs '^State:.*Z' "/proc/$p/status"; then alive=1; fi
		done
		[ "$alive" -eq 0 ] && break
		sleep 0.2
	done
	for p in "${PIDS[@]}"; do
		kill -9 "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$RUN"
	exit "$rc"
}
trap cleanup EXIT INT TERM
# free_port prints a free TCP port on 127.0.0.1.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
# wait_http URL SECONDS waits until URL answers 2xx.
wait_http() {
	local url=$1 secs=${2:-60} i
	for ((i = 0; i < secs * 5; i++)); do
		curl -fsk -o /dev/null "$url" 2>/dev/null && return 0
		sleep 0.2
	done
	echo "timed out after ${secs}s waiting for $url" >&2
	return 1
}
export -f free_port wait_http

APT_PACKAGES=(curl ca-certificates git shellcheck)
SERVICES=()
for f in scripts/svc/*.sh; do
	[ -e "$f" ] || continue
	# shellcheck source=/dev/null
	. "$f"
	SERVICES+=("$(basename "$f" .sh)")
done

log "Debian packages: ${APT_PACKAGES[*]}"
missing=()
for p in "${APT_PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get update -q
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

log "Go modules"
go mod download
go version

log "Go tools"
[ -x "$GOBIN/staticcheck" ] || go install honnef.co/go/tools/cmd/staticcheck@v0.8.2

for s in "${SERVICES[@]}"; do
	log "install $s"
	"svc_${s}_install"
done
for s in "${SERVICES[@]}"; do
	log "start $s"
	"svc_${s}_start"
done

# `scripts/test.sh services` (or scripts/dev-env.sh) stops here: the
# servers keep running, their endpoints are written to .cache/dev.env for a
# developer's shell (`. .cache/dev.env; go test ./drain/`), until killed.
if [ "${1:-}" = services ]; then
	env | grep -E '^(NODEFLEET_|KUBE_FEATURE_)' | sed 's/^/export /' >"$CACHE/dev.env"
	log "services running; endpoints in $CACHE/dev.env (Ctrl-C stops them)"
	while :; do sleep 3600; done
fi

# `scripts/test.sh e2e` (what scripts/e2e.sh runs) stops here too: the
# end-to-end comparison of internal/e2e runs on the servers just started
# (NODEFLEET_E2E_RUNS and NODEFLEET_E2E_MODES pass through) and rewrites
# docs/e2e.md.
if [ "${1:-}" = e2e ]; then
	log "end-to-end comparison (docs/e2e.md)"
	NODEFLEET_REQUIRE_INTEGRATION=1 NODEFLEET_E2E_REPORT="${NODEFLEET_E2E_REPORT:-$ROOT/docs/e2e.md}" NODEFLEET_E2E_COMMAND="${NODEFLEET_E2E_COMMAND:-scripts/e2e.sh}" \
		go test -tags e2ereport -count=1 -timeout 240m -v -run '^TestCompare$' ./internal/e2e/ 2>&1 |
		grep -vE '^ +\{' | tee "$RUN/e2e.log"
	exit "${PIPESTATUS[0]}"
fi

log "gofmt, go vet, staticcheck"
mapfile -t gofiles < <(git ls-files '*.go')
unformatted=$(gofmt -l "${gofiles[@]}")
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted" >&2
	exit 1
fi
go vet ./...
staticcheck ./...
log "generated mocks up to date"
scripts/check-mocks.sh
log "shellcheck"
mapfile -t shfiles < <(git ls-files '*.sh')
# Plugins are sourced, not run: tell shellcheck the shell.
shellcheck -x -s bash .ci/run "${shfiles[@]}"

# Nested modules that are part of the product (deploy/ and the like; tools/
# only builds servers for the tests) are vetted and tested too.
NESTED=()
for m in $(git ls-files '*/go.mod' | xargs -r -n1 dirname); do
	case "$m" in tools/*) continue ;; esac
	NESTED+=("$m")
done

# --- alerting rules (deploy/monitoring): promtool comes with Debian's
# prometheus package (scripts/svc/prometheus.sh installs it).
log "alerting rules: promtool check rules, promtool test rules"
(cd deploy/monitoring && promtool check rules node-fleet.rules.yml && promtool test rules node-fleet.rules.test.yml)
# --- end of alerting rules

log "tests (integration required: none may skip)"
export NODEFLEET_REQUIRE_INTEGRATION=1
go test -count=1 -timeout 30m -v ./... 2>&1 | grep -vE "^(=== (RUN|PAUSE|CONT|NAME)|\s+--- PASS)" | tee "$RUN/go-test.log"
rc=${PIPESTATUS[0]}
if [ "$rc" -ne 0 ]; then
	exit "$rc"
fi
for m in "${NESTED[@]:-}"; do
	[ -n "$m" ] || continue
	log "nested module $m"
	(cd "$m" && go vet ./... && go test -count=1 -timeout 30m ./...)
done
# A test that skipped in spite of NODEFLEET_REQUIRE_INTEGRATION is a failure.
if grep -E '^\s*--- SKIP' "$RUN/go-test.log"; then
	echo "some tests skipped (listed above); in CI nothing may skip" >&2
	exit 1
fi

log "Lambda size budget (both architectures)"
scripts/lambda-size.sh

if [ -x scripts/fuzz.sh ]; then
	log "short fuzz runs"
	scripts/fuzz.sh
fi
log "all tests passed"
