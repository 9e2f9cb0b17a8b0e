#!/usr/bin/env bash
# Installs and starts the test servers (moto, Prometheus binaries, the
# Kubernetes control plane, the Lambda emulator) as `make test` does, writes
# their endpoints to .cache/dev.env and keeps them running until stopped:
#
#	scripts/dev-env.sh &   # then, in another shell:
#	. .cache/dev.env && go test ./drain/
set -euo pipefail
exec "$(dirname "$0")/test.sh" services
