# Plugin of scripts/test.sh (sourced): the helm command, v4, for the
# chart's tests (deploy/helm/node-fleet: lint, render, the rendered RBAC
# applied to the test API server; examples/daemon's chart_test.go). It is
# built from its Go module, pinned in tools/helm, into $CACHE/bin once per
# go.mod/go.sum and Go version (measured: 1296 s cold, nice -n 5, on a
# 2-core machine while other builds ran at a load of about 29; from a warm
# Go build cache, seconds). This plugin exports its path as NODEFLEET_HELM
# (see internal/testenv).

# helm_stamp identifies what the cached binary was built from.
helm_stamp() {
	{
		cat "$ROOT/tools/helm/go.mod" "$ROOT/tools/helm/go.sum"
		go version
		echo "helm -trimpath -s -w"
	} | sha256sum | cut -d' ' -f1
}

svc_helm_install() {
	local want have="" start
	want=$(helm_stamp)
	[ -f "$CACHE/bin/helm.stamp" ] && have=$(cat "$CACHE/bin/helm.stamp")
	if [ -x "$CACHE/bin/helm" ] && [ "$want" = "$have" ]; then
		echo "helm up to date in $CACHE/bin"
		return 0
	fi
	start=$(date +%s)
	echo "building helm v4 from tools/helm"
	(cd "$ROOT/tools/helm" && CGO_ENABLED=0 nice -n 5 go build -trimpath -ldflags='-s -w' -o "$CACHE/bin/helm" helm.sh/helm/v4/cmd/helm)
	echo "$want" >"$CACHE/bin/helm.stamp"
	echo "built in $(($(date +%s) - start))s"
}

svc_helm_start() {
	export NODEFLEET_HELM="$CACHE/bin/helm"
	"$NODEFLEET_HELM" version --short
	echo "NODEFLEET_HELM=$NODEFLEET_HELM"
}
