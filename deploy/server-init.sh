#!/usr/bin/env bash
# node-fleet K3s server bootstrap: the user data of the server instance
# (deploy/ prepends the variables below to it).
#
# It installs the K3s server with the token from Secrets Manager, deploys
# Prometheus (NodePort 30090, with node_exporter and kube-state-metrics)
# through K3s' Helm controller, creates the autoscaler's service account
# with the permissions drain.Manager and metrics.KubePending need and
# nothing more, and writes a kubeconfig for that account, pointing at this
# server's private address, into the secret the autoscaler reads
# (KUBECONFIG_SECRET). It also writes K3s's admin kubeconfig, pointing at
# https://127.0.0.1:6443, into the owner's secret
# (NODEFLEET_ADMIN_KUBECONFIG_SECRET): the owner reaches it through an SSM
# Session Manager port forward (deploy/README.md), so no port opens for
# it. Failures end the script loudly, as in provision/worker-join.sh.
#
# Settings (environment):
#   NODEFLEET_CLUSTER_ID        the cluster id. Required.
#   NODEFLEET_TOKEN_SECRET      the secret holding the K3s token. Required.
#   NODEFLEET_KUBECONFIG_SECRET the secret to write the kubeconfig to. Required.
#   NODEFLEET_ADMIN_KUBECONFIG_SECRET the secret to write the admin
#                               kubeconfig to. Required.
#   NODEFLEET_K3S_VERSION       K3s version; default the installer's stable channel.
set -euo pipefail

fail() {
	local msg="node-fleet server init FAILED: $*"
	echo "$msg" >&2
	{ echo "$msg" >/dev/console; } 2>/dev/null || true
	logger -t node-fleet-server "$msg" 2>/dev/null || true
	exit 1
}
trap 'fail "line $LINENO: command exited with status $?"' ERR

retry() {
	local n=$1 delay=$2 i
	shift 2
	for ((i = 1; i <= n; i++)); do
		if "$@"; then return 0; fi
		sleep "$delay"
	done
	return 1
}

CLUSTER_ID=${NODEFLEET_CLUSTER_ID:?NODEFLEET_CLUSTER_ID is required}
TOKEN_SECRET=${NODEFLEET_TOKEN_SECRET:?NODEFLEET_TOKEN_SECRET is required}
KUBECONFIG_SECRET=${NODEFLEET_KUBECONFIG_SECRET:?NODEFLEET_KUBECONFIG_SECRET is required}
ADMIN_KUBECONFIG_SECRET=${NODEFLEET_ADMIN_KUBECONFIG_SECRET:?NODEFLEET_ADMIN_KUBECONFIG_SECRET is required}
IMDS=http://169.254.169.254

IMDS_TOKEN=$(retry 10 2 curl -sf -X PUT "$IMDS/latest/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 300") || fail "no IMDSv2 token"
imds() { curl -sf -H "X-aws-ec2-metadata-token: $IMDS_TOKEN" "$IMDS/latest/meta-data/$1"; }
PRIVATE_IP=$(retry 5 2 imds local-ipv4) || fail "no private address from the instance metadata"
# The public address, when there is one, goes into the certificate too, for
# operators in adminCidrs; an instance without one has no such key.
TLS_SANS="--tls-san $PRIVATE_IP"
if PUBLIC_IP=$(imds public-ipv4) && [ -n "$PUBLIC_IP" ]; then TLS_SANS="$TLS_SANS --tls-san $PUBLIC_IP"; fi
AWS_DEFAULT_REGION=$(retry 5 2 imds placement/region) || fail "no region from the instance metadata"
export AWS_DEFAULT_REGION

K3S_TOKEN=$(retry 10 3 aws secretsmanager get-secret-value --secret-id "$TOKEN_SECRET" --query SecretString --output text) ||
	fail "cannot read the K3s token from $TOKEN_SECRET"

MANIFESTS=/var/lib/rancher/k3s/server/manifests
mkdir -p "$MANIFESTS"
cat >"$MANIFESTS/node-fleet.yaml" <<'EOF'
apiVersion: v1
kind: Namespace
metadata:
  name: node-fleet
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: autoscaler
  namespace: node-fleet
---
apiVersion: v1
kind: Secret
metadata:
  name: autoscaler-token
  namespace: node-fleet
  annotations:
    kubernetes.io/service-account.name: autoscaler
type: kubernetes.io/service-account-token
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: node-fleet-autoscaler
rules:
- apiGroups: [""]
  resources: ["nodes"]
  verbs: ["get", "list", "watch", "patch", "delete"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch"]
- apiGroups: [""]
  resources: ["pods/eviction"]
  verbs: ["create"]
- apiGroups: ["apps"]
  resources: ["daemonsets"]
  verbs: ["get", "list"]
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["list"]
- apiGroups: [""]
  resources: ["persistentvolumeclaims", "persistentvolumes"]
  verbs: ["get", "list"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: node-fleet-autoscaler
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: node-fleet-autoscaler
subjects:
- kind: ServiceAccount
  name: autoscaler
  namespace: node-fleet
---
apiVersion: helm.cattle.io/v1
kind: HelmChart
metadata:
  name: prometheus
  namespace: kube-system
spec:
  repo: https://prometheus-community.github.io/helm-charts
  chart: prometheus
  targetNamespace: monitoring
  createNamespace: true
  valuesContent: |-
    alertmanager:
      enabled: false
    prometheus-pushgateway:
      enabled: false
    kube-state-metrics:
      enabled: true
    prometheus-node-exporter:
      enabled: true
    server:
      global:
        scrape_interval: 15s
      service:
        type: NodePort
        nodePort: 30090
EOF

installer=$(mktemp)
retry 5 5 curl -sfL -o "$installer" https://get.k3s.io || fail "cannot download the K3s installer"
INSTALL_K3S_EXEC="server --node-label node-fleet.io/role=k3s-server --node-taint node-role.kubernetes.io/control-plane=true:NoSchedule $TLS_SANS" \
	INSTALL_K3S_VERSION=${NODEFLEET_K3S_VERSION:-} K3S_TOKEN=$K3S_TOKEN sh "$installer" || fail "the K3s installer failed"
rm -f "$installer"

export KUBECONFIG=/etc/rancher/k3s/k3s.yaml
retry 60 5 k3s kubectl get --raw /readyz >/dev/null || fail "the K3s server did not become ready"
sa_token() { k3s kubectl -n node-fleet get secret autoscaler-token -o jsonpath='{.data.token}' | base64 -d; }
TOKEN=$(retry 60 5 sa_token) || fail "the autoscaler's service account token was not created"
[ -n "$TOKEN" ] || fail "the autoscaler's service account token is empty"
CA=$(base64 -w0 </var/lib/rancher/k3s/server/tls/server-ca.crt)

KUBECONFIG_TEXT=$(
	cat <<EOF
apiVersion: v1
kind: Config
clusters:
- name: $CLUSTER_ID
  cluster:
    server: https://$PRIVATE_IP:6443
    certificate-authority-data: $CA
users:
- name: node-fleet-autoscaler
  user:
    token: $TOKEN
contexts:
- name: $CLUSTER_ID
  context:
    cluster: $CLUSTER_ID
    user: node-fleet-autoscaler
current-context: $CLUSTER_ID
EOF
)
retry 5 5 aws secretsmanager put-secret-value --secret-id "$KUBECONFIG_SECRET" --secret-string "$KUBECONFIG_TEXT" >/dev/null ||
	fail "cannot write the kubeconfig to $KUBECONFIG_SECRET"
retry 5 5 aws secretsmanager put-secret-value --secret-id "$ADMIN_KUBECONFIG_SECRET" --secret-string "$(cat "$KUBECONFIG")" >/dev/null ||
	fail "cannot write the admin kubeconfig to $ADMIN_KUBECONFIG_SECRET"
echo "node-fleet server init: K3s server ready on https://$PRIVATE_IP:6443, kubeconfig in $KUBECONFIG_SECRET"
