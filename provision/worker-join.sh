#!/usr/bin/env bash
# node-fleet worker join script: the user data of the workers' launch
# templates (deploy/ and nodefleet setup prepend the variables below to it,
# provision.UserData).
#
# It reads the K3s token from Secrets Manager, finds the K3s server, installs
# and starts the K3s agent with the node labels the autoscaler matches
# instances to nodes by (node-fleet.io/instance-id, node-fleet.io/cluster)
# and learns a worker's size from (node-fleet.io/instance-type), and checks that the agent really joined. Every failure ends the script
# with a non-zero status and a line starting "node-fleet join FAILED" on the
# console and in the journal: an instance that does not join becomes a
# "ghost" that the autoscaler terminates after its JOIN_TIMEOUT.
#
# Settings (environment):
#   NODEFLEET_CLUSTER_ID     the cluster id (CLUSTER_ID of the autoscaler). Required.
#   NODEFLEET_TOKEN_SECRET   the Secrets Manager secret holding the K3s token. Required.
#   NODEFLEET_SERVER_URL     https://HOST:6443; default: the private IP of the
#                            running instance tagged node-fleet.io/role=k3s-server
#                            and node-fleet.io/cluster=NODEFLEET_CLUSTER_ID.
#   NODEFLEET_K3S_VERSION    K3s version to install, e.g. v1.33.5+k3s1; default the
#                            installer's stable channel.
#   NODEFLEET_JOIN_TIMEOUT   seconds to wait for the agent to come up; default 300.
#   NODEFLEET_IMDS           instance metadata endpoint; default http://169.254.169.254.
#   NODEFLEET_K3S_INSTALLER  URL of the K3s install script; default https://get.k3s.io.
#   NODEFLEET_KUBELET_HEALTHZ URL of the kubelet's health check; default
#                            http://127.0.0.1:10248/healthz.
set -euo pipefail

fail() {
	local msg="node-fleet join FAILED: $*"
	echo "$msg" >&2
	# The console shows in the EC2 console's system log; the journal in
	# CloudWatch when an agent ships it.
	{ echo "$msg" >/dev/console; } 2>/dev/null || true
	logger -t node-fleet-join "$msg" 2>/dev/null || true
	exit 1
}
trap 'fail "line $LINENO: command exited with status $?"' ERR

say() { echo "node-fleet join: $*"; }

# retry N DELAY CMD... runs CMD until it succeeds, N times at most.
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
IMDS=${NODEFLEET_IMDS:-http://169.254.169.254}
TIMEOUT=${NODEFLEET_JOIN_TIMEOUT:-300}
INSTALLER=${NODEFLEET_K3S_INSTALLER:-https://get.k3s.io}
HEALTHZ=${NODEFLEET_KUBELET_HEALTHZ:-http://127.0.0.1:10248/healthz}

# Instance metadata through IMDSv2 (the launch templates require tokens).
imds_token() {
	curl -sf -X PUT "$IMDS/latest/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 300"
}
IMDS_TOKEN=$(retry 10 2 imds_token) || fail "no IMDSv2 token from $IMDS"
imds() { curl -sf -H "X-aws-ec2-metadata-token: $IMDS_TOKEN" "$IMDS/latest/meta-data/$1"; }
INSTANCE_ID=$(retry 5 2 imds instance-id) || fail "no instance id from the instance metadata"
REGION=$(retry 5 2 imds placement/region) || fail "no region from the instance metadata"
[[ $INSTANCE_ID =~ ^i-[0-9a-f]+$ ]] || fail "instance metadata returned a strange instance id: $INSTANCE_ID"
INSTANCE_TYPE=$(retry 5 2 imds instance-type) || fail "no instance type from the instance metadata"
[[ $INSTANCE_TYPE =~ ^[a-z0-9-]+\.[a-z0-9-]+$ ]] || fail "instance metadata returned a strange instance type: $INSTANCE_TYPE"
ZONE=$(retry 5 2 imds placement/availability-zone) || fail "no availability zone from the instance metadata"
[[ $ZONE =~ ^[a-z0-9-]+$ ]] || fail "instance metadata returned a strange availability zone: $ZONE"
export AWS_DEFAULT_REGION=$REGION
say "instance $INSTANCE_ID ($INSTANCE_TYPE) in $REGION joining cluster $CLUSTER_ID"

get_token() {
	aws secretsmanager get-secret-value --secret-id "$TOKEN_SECRET" --query SecretString --output text
}
K3S_TOKEN=$(retry 10 3 get_token) || fail "cannot read the K3s token from secret $TOKEN_SECRET"
if [ -z "$K3S_TOKEN" ] || [ "$K3S_TOKEN" = None ]; then fail "secret $TOKEN_SECRET is empty"; fi

find_server() {
	local ip
	ip=$(aws ec2 describe-instances \
		--filters "Name=tag:node-fleet.io/role,Values=k3s-server" "Name=tag:node-fleet.io/cluster,Values=$CLUSTER_ID" \
		"Name=instance-state-name,Values=running" \
		--query 'Reservations[].Instances[].PrivateIpAddress' --output text) || return 1
	# One server expected; take the first if there are several.
	ip=${ip%%[[:space:]]*}
	if [ -z "$ip" ] || [ "$ip" = None ]; then return 1; fi
	echo "https://$ip:6443"
}
SERVER_URL=${NODEFLEET_SERVER_URL:-}
if [ -z "$SERVER_URL" ]; then
	SERVER_URL=$(retry 30 10 find_server) || fail "no running K3s server tagged node-fleet.io/role=k3s-server for cluster $CLUSTER_ID"
fi
say "server $SERVER_URL"

installer=$(mktemp)
retry 5 5 curl -sfL -o "$installer" "$INSTALLER" || fail "cannot download the K3s installer from $INSTALLER"
# The labels are how the autoscaler matches this node to this instance
# (autoscaler.LabelInstanceID, autoscaler.LabelCluster) and learns what a
# new worker of the type offers (autoscaler.LabelInstanceType: K3s sets
# node.kubernetes.io/instance-type to "k3s", not the EC2 type). K3s without
# the AWS cloud provider sets no zone: topology.kubernetes.io/zone (which
# the kubelet may set on itself) tells the scheduler and the autoscaler
# where the node is (zonal volumes, zone spread, balanced scale-downs).
INSTALL_K3S_EXEC="agent --node-label node-fleet.io/instance-id=$INSTANCE_ID --node-label node-fleet.io/cluster=$CLUSTER_ID --node-label node-fleet.io/instance-type=$INSTANCE_TYPE --node-label topology.kubernetes.io/zone=$ZONE" \
	INSTALL_K3S_VERSION=${NODEFLEET_K3S_VERSION:-} K3S_URL=$SERVER_URL K3S_TOKEN=$K3S_TOKEN \
	sh "$installer" || fail "the K3s installer failed"
rm -f "$installer"

# The agent is up when its unit is active and the kubelet answers its
# health check, which it does only after the server accepted the token
# and gave the agent its configuration.
joined() {
	systemctl is-active --quiet k3s-agent && curl -sf -o /dev/null "$HEALTHZ"
}
if ! retry "$((TIMEOUT / 5))" 5 joined; then
	journalctl -u k3s-agent --no-pager -n 30 >&2 || true
	fail "k3s-agent did not become healthy within ${TIMEOUT}s (server $SERVER_URL)"
fi
say "joined cluster $CLUSTER_ID as node with label node-fleet.io/instance-id=$INSTANCE_ID"
