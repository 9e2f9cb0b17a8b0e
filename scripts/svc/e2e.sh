# The end-to-end scenario's extra binaries (internal/e2e): kube-scheduler
# v1.37.2 from the module pinned in tools/kube (kube.sh builds the API
# server and the controller-manager from it), kwok v0.8.0 in place of
# kubelets, and Karpenter v1.15.0's kwok cloud provider (the peer the
# scenario is compared with). Each is built once with `go install`/`go
# build` into $CACHE/bin and rebuilt only when what it is built from
# changes. The e2e harness starts its own control plane from these (with a
# scheduler, which the shared one of kube.sh has not), and so does the
# differential test of the scheduler view (internal/scheddiff), so this
# plugin starts nothing; it exports where the binaries, kwok's stages and
# Karpenter's CRDs are:
#   NODEFLEET_E2E_BIN         directory of kube-apiserver, kube-controller-manager,
#                             kube-scheduler, kwok, karpenter-kwok
#   NODEFLEET_KWOK_STAGES     kwok's kustomize/stage directory (module cache)
#   NODEFLEET_KARPENTER_DIR   Karpenter's kwok/ directory (module cache): its CRDs
#                             in charts/crds and apis/crds
# Sourced by scripts/test.sh.

E2E_KWOK_VERSION=v0.8.0
E2E_KARPENTER_VERSION=v1.15.0
# Karpenter v1.15.0's go.mod asks for this toolchain; GOTOOLCHAIN fetches
# it through the module proxy.
E2E_KARPENTER_GO=go1.26.9

# e2e_built NAME STAMP says whether $CACHE/bin/NAME is there and was built
# from STAMP.
e2e_built() {
	[ -x "$CACHE/bin/$1" ] && [ -f "$CACHE/bin/$1.stamp" ] && [ "$(cat "$CACHE/bin/$1.stamp")" = "$2" ]
}

svc_e2e_install() {
	local stamp start tmp
	stamp=$( (cat "$ROOT/tools/kube/go.mod" "$ROOT/tools/kube/go.sum"; go version) | sha256sum | cut -d' ' -f1)
	if ! e2e_built kube-scheduler "$stamp"; then
		start=$(date +%s)
		echo "building kube-scheduler v1.37.2 (about 1 minute after kube.sh's build, 11 cold)"
		(cd "$ROOT/tools/kube" && nice -n 10 go build -trimpath -ldflags='-s -w' -o "$CACHE/bin/" k8s.io/kubernetes/cmd/kube-scheduler)
		echo "$stamp" >"$CACHE/bin/kube-scheduler.stamp"
		echo "built in $(($(date +%s) - start))s"
	fi
	stamp="sigs.k8s.io/kwok/cmd/kwok@$E2E_KWOK_VERSION $(go version)"
	if ! e2e_built kwok "$stamp"; then
		start=$(date +%s)
		echo "building kwok $E2E_KWOK_VERSION (about 2 minutes)"
		GOBIN="$CACHE/bin" nice -n 10 go install -trimpath -ldflags='-s -w' "sigs.k8s.io/kwok/cmd/kwok@$E2E_KWOK_VERSION"
		echo "$stamp" >"$CACHE/bin/kwok.stamp"
		echo "built in $(($(date +%s) - start))s"
	fi
	stamp="sigs.k8s.io/karpenter/kwok@$E2E_KARPENTER_VERSION $E2E_KARPENTER_GO"
	if ! e2e_built karpenter-kwok "$stamp"; then
		start=$(date +%s)
		echo "building Karpenter's kwok provider $E2E_KARPENTER_VERSION with $E2E_KARPENTER_GO (about 4 minutes)"
		# Its command is also called kwok: build it apart, then rename.
		tmp=$(mktemp -d)
		GOTOOLCHAIN=$E2E_KARPENTER_GO GOBIN="$tmp" nice -n 10 go install -trimpath -ldflags='-s -w' "sigs.k8s.io/karpenter/kwok@$E2E_KARPENTER_VERSION"
		mv "$tmp/kwok" "$CACHE/bin/karpenter-kwok"
		rmdir "$tmp"
		echo "$stamp" >"$CACHE/bin/karpenter-kwok.stamp"
		echo "built in $(($(date +%s) - start))s"
	fi
	local modcache
	modcache=$(go env GOMODCACHE)
	# The stages and CRDs are read from the module cache: make sure both
	# modules are there (go install fetched them; a cleaned cache did not).
	[ -d "$modcache/sigs.k8s.io/kwok@$E2E_KWOK_VERSION" ] || go mod download "sigs.k8s.io/kwok@$E2E_KWOK_VERSION"
	[ -d "$modcache/sigs.k8s.io/karpenter@$E2E_KARPENTER_VERSION" ] ||
		GOTOOLCHAIN=$E2E_KARPENTER_GO go mod download "sigs.k8s.io/karpenter@$E2E_KARPENTER_VERSION"
	export NODEFLEET_E2E_BIN="$CACHE/bin"
	export NODEFLEET_KWOK_STAGES="$modcache/sigs.k8s.io/kwok@$E2E_KWOK_VERSION/kustomize/stage"
	export NODEFLEET_KARPENTER_DIR="$modcache/sigs.k8s.io/karpenter@$E2E_KARPENTER_VERSION/kwok"
}

svc_e2e_start() {
	echo "NODEFLEET_E2E_BIN=$NODEFLEET_E2E_BIN (the e2e tests start their own control plane)"
}
