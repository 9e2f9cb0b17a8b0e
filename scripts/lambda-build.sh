#!/usr/bin/env bash
# lambda-build.sh ARCH OUT [go build flags...]: build the Lambda function's
# bootstrap (the package $PKG, default ./examples/lambda; a custom-policy
# function such as ./examples/custompolicy, or your own main calling
# run/lambda's Main) for linux/ARCH (amd64 or arm64) into OUT,
# the way it ships: static, lambda.norpc (no go1.x RPC server), trimmed
# paths, stripped (-s -w). Extra arguments go to go build before the
# package (e.g. -ldflags='-s -w -dumpdep'; a later -ldflags replaces the
# default one). The one definition used by `make lambda` and by
# scripts/lambda-size.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 2 ]; then
	echo "usage: $0 ARCH OUT [go build flags...]" >&2
	exit 2
fi
arch=$1 out=$2
shift 2
pkg=${PKG:-./examples/lambda}
CGO_ENABLED=0 GOOS=linux GOARCH=$arch nice go build -tags lambda.norpc -trimpath -ldflags='-s -w' "$@" -o "$out" "$pkg"
