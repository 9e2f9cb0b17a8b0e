#!/usr/bin/env bash
# lambda-size.sh: the Lambda function's size budget. Builds the bootstrap
# for amd64 and arm64 as it ships (scripts/lambda-build.sh) into a temporary
# directory and fails when either is larger than its budget, or when a
# reflective method call is linked (reflect's Method or MethodByName with a
# name not known at compile time, as text/template does): that turns off the
# linker's removal of unused methods and multiplies the size (87 MB instead
# of 34 MB, docs/benchmarks.md). Prints the sizes, and the zips' too.
#
# Budgets in bytes, overridable for an experiment:
# LAMBDA_BUDGET_AMD64, LAMBDA_BUDGET_ARM64. Both are issue 15's goal, 25 MB
# (10^6 bytes); the function measures 23.2 MB (amd64) and 21.5 MB (arm64)
# with go1.26.8 (docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/.."
declare -A budget=(
	[amd64]=${LAMBDA_BUDGET_AMD64:-25000000}
	[arm64]=${LAMBDA_BUDGET_ARM64:-25000000}
)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }

# Sizes depend on the toolchain as much as on the code: say which.
echo "lambda-size: $(go version)"
fail=0
for arch in amd64 arm64; do
	bin=$tmp/bootstrap-$arch
	if [ "$arch" = amd64 ]; then
		# The same build, with the linker's reachability dump.
		if ! scripts/lambda-build.sh "$arch" "$bin" -ldflags='-s -w -dumpdep' >"$tmp/dumpdep" 2>&1; then
			grep -v ' -> ' "$tmp/dumpdep" >&2
			exit 1
		fi
	else
		scripts/lambda-build.sh "$arch" "$bin"
	fi
	size=$(stat -c %s "$bin")
	zip=$(python3 -c 'import io, sys, zipfile
b = io.BytesIO()
with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    z.write(sys.argv[1], "bootstrap")
print(len(b.getvalue()))' "$bin")
	verdict=ok
	if [ "$size" -gt "${budget[$arch]}" ]; then
		verdict="OVER BUDGET by $(mb $((size - budget[$arch])))"
		fail=1
	fi
	printf 'lambda bootstrap linux/%s: %d bytes (%s; zip %s), budget %d (%s): %s\n' \
		"$arch" "$size" "$(mb "$size")" "$(mb "$zip")" "${budget[$arch]}" "$(mb "${budget[$arch]}")" "$verdict"
done

rc=0
python3 scripts/whylive.py "$tmp/dumpdep" --reflect || rc=$?
case $rc in
0) ;;
1)
	echo "lambda-size: a reflective method call is linked (path above); the linker keeps every exported method of every reachable type. Remove the import that brings it (scripts/whylive.py explains, docs/benchmarks.md)." >&2
	fail=1
	;;
*)
	echo "lambda-size: scripts/whylive.py could not read the linker's dump (exit $rc)" >&2
	fail=1
	;;
esac
# client-go's clientset registers all of Kubernetes' API groups in its
# scheme's init (7.4 MB of machine code): the function talks to the API
# server through package kube instead. Say so plainly if it comes back.
deps=$(GOOS=linux go list -deps -tags lambda.norpc ./examples/lambda)
if grep -qx 'k8s.io/client-go/kubernetes/scheme' <<<"$deps"; then
	echo "lambda-size: the Lambda links k8s.io/client-go/kubernetes/scheme (every API group of Kubernetes); use package kube (kube.NewForConfig, or a kube.Interface) instead of a clientset. scripts/whylive.py on a -dumpdep build shows who reaches it (docs/benchmarks.md)." >&2
	fail=1
fi
if [ "$fail" -ne 0 ]; then
	echo "lambda-size: the Lambda bootstrap is over its size budget; see docs/benchmarks.md (\"The Lambda function's size\") for how to find what keeps code alive" >&2
	exit 1
fi
