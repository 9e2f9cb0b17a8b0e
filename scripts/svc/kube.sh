# Kubernetes control plane for the drain and end-to-end tests: etcd (Debian
# etcd-server), kube-apiserver and kube-controller-manager v1.37.2 built from
# the module pinned in tools/kube (cached in $CACHE/bin), on loopback ports.
# The controller-manager runs the disruption controller (it keeps
# PodDisruptionBudget status current, without which every eviction under a
# budget is refused) and the node lifecycle controller. There is no
# scheduler and no kubelet: tests bind pods and write Node and Pod status
# themselves (internal/kubetest), which keeps the cold build to two binaries.
# Exports NODEFLEET_KUBECONFIG (admin token, see internal/testenv).
# Sourced by scripts/test.sh.

APT_PACKAGES+=(etcd-server openssl)

KUBE_BINS=(kube-apiserver kube-controller-manager)

# kube_stamp identifies what the cached binaries were built from.
kube_stamp() {
	{
		cat "$ROOT/tools/kube/go.mod" "$ROOT/tools/kube/go.sum"
		go version
		echo "${KUBE_BINS[*]} -trimpath -s -w"
	} | sha256sum | cut -d' ' -f1
}

svc_kube_install() {
	local want have="" b ok=1 start
	want=$(kube_stamp)
	[ -f "$CACHE/bin/kube.stamp" ] && have=$(cat "$CACHE/bin/kube.stamp")
	for b in "${KUBE_BINS[@]}"; do [ -x "$CACHE/bin/$b" ] || ok=0; done
	if [ "$ok" = 1 ] && [ "$want" = "$have" ]; then
		echo "kube binaries up to date in $CACHE/bin"
		return 0
	fi
	start=$(date +%s)
	echo "building ${KUBE_BINS[*]} v1.37.2 (about 11 minutes cold on 2 cores)"
	local pkgs=()
	for b in "${KUBE_BINS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
	(cd "$ROOT/tools/kube" && nice -n 10 go build -trimpath -ldflags='-s -w' -o "$CACHE/bin/" "${pkgs[@]}")
	echo "$want" >"$CACHE/bin/kube.stamp"
	echo "built in $(($(date +%s) - start))s"
}

# kube_fail NAME explains a start failure with the end of NAME's log.
kube_fail() {
	echo "$1 did not start; end of $KUBE_DIR/$1.log:" >&2
	tail -n 30 "$KUBE_DIR/$1.log" >&2 || true
	return 1
}

# kube_wait NAME PID SECONDS CURL-ARGS... waits until curl succeeds, and
# fails early, with NAME's log, when process PID has exited.
kube_wait() {
	local name=$1 pid=$2 secs=$3 i
	shift 3
	for ((i = 0; i < secs * 5; i++)); do
		curl -fsk -o /dev/null "$@" 2>/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || kube_fail "$name" || return 1
		sleep 0.2
	done
	echo "timed out after ${secs}s" >&2
	kube_fail "$name"
}

svc_kube_start() {
	KUBE_DIR="$RUN/kube"
	mkdir -p "$KUBE_DIR/etcd" "$KUBE_DIR/certs"
	local client peer api token
	client=$(free_port)
	peer=$(free_port)
	api=$(free_port)

	etcd --name nodefleet --data-dir "$KUBE_DIR/etcd" \
		--listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
		--listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
		--initial-cluster "nodefleet=http://127.0.0.1:$peer" >"$KUBE_DIR/etcd.log" 2>&1 &
	track_pid $!
	kube_wait etcd $! 30 "http://127.0.0.1:$client/health" || return 1

	openssl genrsa -out "$KUBE_DIR/sa.key" 2048 2>/dev/null
	openssl rsa -in "$KUBE_DIR/sa.key" -pubout -out "$KUBE_DIR/sa.pub" 2>/dev/null
	token=$(openssl rand -hex 24)
	echo "$token,nodefleet-admin,nodefleet-admin,\"system:masters\"" >"$KUBE_DIR/tokens.csv"

	kube-apiserver --etcd-servers "http://127.0.0.1:$client" \
		--bind-address 127.0.0.1 --secure-port "$api" \
		--cert-dir "$KUBE_DIR/certs" \
		--service-account-key-file "$KUBE_DIR/sa.pub" \
		--service-account-signing-key-file "$KUBE_DIR/sa.key" \
		--service-account-issuer https://kubernetes.default.svc \
		--token-auth-file "$KUBE_DIR/tokens.csv" \
		--authorization-mode RBAC \
		--service-cluster-ip-range 10.96.0.0/16 >"$KUBE_DIR/kube-apiserver.log" 2>&1 &
	track_pid $!
	kube_wait kube-apiserver $! 90 "https://127.0.0.1:$api/readyz" || return 1

	cat >"$KUBE_DIR/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: nodefleet
  cluster:
    server: https://127.0.0.1:$api
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: $token
contexts:
- name: nodefleet
  context:
    cluster: nodefleet
    user: admin
current-context: nodefleet
EOF

	# Nodes have no kubelet here: a long monitor grace period keeps the
	# node lifecycle controller from marking them Unknown (and evicting
	# their pods) while a test runs; tests write NotReady themselves.
	kube-controller-manager --kubeconfig "$KUBE_DIR/kubeconfig" \
		--authentication-kubeconfig "$KUBE_DIR/kubeconfig" --authorization-kubeconfig "$KUBE_DIR/kubeconfig" \
		--secure-port 0 --leader-elect=false \
		--service-account-private-key-file "$KUBE_DIR/sa.key" \
		--controllers '*,-nodeipam,-serviceaccount-token' \
		--node-monitor-grace-period 30m >"$KUBE_DIR/kube-controller-manager.log" 2>&1 &
	track_pid $!
	# The controller-manager is working once it has created the default
	# namespace's ServiceAccount.
	kube_wait kube-controller-manager $! 60 -H "Authorization: Bearer $token" \
		"https://127.0.0.1:$api/api/v1/namespaces/default/serviceaccounts/default" || return 1

	export NODEFLEET_KUBECONFIG="$KUBE_DIR/kubeconfig"
	echo "kube-apiserver on https://127.0.0.1:$api, etcd on :$client; NODEFLEET_KUBECONFIG=$NODEFLEET_KUBECONFIG"
}
