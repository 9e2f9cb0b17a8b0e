package provision

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// stubs are the commands the join script calls, as shell scripts that
// answer like the real ones (or fail, per the STUB_* variables) and log
// their arguments and the K3s installer's environment to $STUB_LOG.
var stubs = map[string]string{
	"curl": `#!/bin/sh
echo "curl $*" >>"$STUB_LOG"
for a in "$@"; do last=$a; done
case "$*" in
*"-X PUT"*api/token*) echo imds-token ;;
*meta-data/instance-id) echo i-0abc123def4567890 ;;
*meta-data/instance-type) [ "${STUB_INSTANCE_TYPE-t3.medium}" != missing ] || exit 22; echo "${STUB_INSTANCE_TYPE-t3.medium}" ;;
*meta-data/placement/region) echo eu-west-1 ;;
*meta-data/placement/availability-zone) echo eu-west-1b ;;
*healthz) [ "${STUB_HEALTHY:-yes}" = yes ] || exit 7 ;;
*"-o "*)
	out=""; prev=""
	for a in "$@"; do [ "$prev" = "-o" ] && out=$a; prev=$a; done
	echo "# k3s installer from $last" >"$out" ;;
*) exit 22 ;;
esac
`,
	"aws": `#!/bin/sh
echo "aws $*" >>"$STUB_LOG"
case "$1 $2" in
"secretsmanager get-secret-value") printf '%s\n' "${STUB_TOKEN-K10abc::server:secret}" ;;
"ec2 describe-instances") printf '%s\n' "${STUB_SERVER_IP-10.0.1.10}" ;;
*) exit 1 ;;
esac
`,
	"sh": `#!/bin/sh
# The K3s installer: record what it was given.
echo "installer $1 INSTALL_K3S_EXEC=$INSTALL_K3S_EXEC K3S_URL=$K3S_URL K3S_TOKEN=$K3S_TOKEN" >>"$STUB_LOG"
exit "${STUB_INSTALL_STATUS:-0}"
`,
	"systemctl": `#!/bin/sh
echo "systemctl $*" >>"$STUB_LOG"
[ "${STUB_ACTIVE:-yes}" = yes ]
`,
	"sleep":      "#!/bin/sh\nexit 0\n",
	"logger":     "#!/bin/sh\necho \"logger $*\" >>\"$STUB_LOG\"\n",
	"journalctl": "#!/bin/sh\necho 'k3s-agent[42]: level=fatal msg=\"token is not valid\"'\n",
}

// runJoin runs worker-join.sh with the stubs first on PATH and the given
// settings, and returns its output, the stub log and whether it succeeded.
func runJoin(t *testing.T, env map[string]string) (out, log string, ok bool) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range stubs {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	logFile := filepath.Join(dir, "calls.log")
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bash, "worker-join.sh")
	cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "STUB_LOG=" + logFile, "TMPDIR=" + dir,
		"NODEFLEET_CLUSTER_ID=shop", "NODEFLEET_TOKEN_SECRET=shop/k3s-token", "NODEFLEET_JOIN_TIMEOUT=10"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	b, err := cmd.CombinedOutput()
	l, _ := os.ReadFile(logFile)
	return string(b), string(l), err == nil
}

func TestJoinScriptJoinsWithTheInstanceLabels(t *testing.T) {
	out, log, ok := runJoin(t, nil)
	if !ok {
		t.Fatalf("join failed:\n%s\ncalls:\n%s", out, log)
	}
	for _, want := range []string{
		// IMDSv2: a token first, then the metadata with it.
		"curl -sf -X PUT http://169.254.169.254/latest/api/token -H X-aws-ec2-metadata-token-ttl-seconds: 300",
		"curl -sf -H X-aws-ec2-metadata-token: imds-token http://169.254.169.254/latest/meta-data/instance-id",
		"curl -sf -H X-aws-ec2-metadata-token: imds-token http://169.254.169.254/latest/meta-data/instance-type",
		"curl -sf -H X-aws-ec2-metadata-token: imds-token http://169.254.169.254/latest/meta-data/placement/availability-zone",
		"aws secretsmanager get-secret-value --secret-id shop/k3s-token --query SecretString --output text",
		"aws ec2 describe-instances --filters Name=tag:node-fleet.io/role,Values=k3s-server Name=tag:node-fleet.io/cluster,Values=shop Name=instance-state-name,Values=running",
		"INSTALL_K3S_EXEC=agent --node-label node-fleet.io/instance-id=i-0abc123def4567890 --node-label node-fleet.io/cluster=shop --node-label node-fleet.io/instance-type=t3.medium --node-label topology.kubernetes.io/zone=eu-west-1b K3S_URL=https://10.0.1.10:6443 K3S_TOKEN=K10abc::server:secret",
		"systemctl is-active --quiet k3s-agent",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("no call %q; calls:\n%s", want, log)
		}
	}
	if !strings.Contains(out, "joined cluster shop") {
		t.Errorf("output:\n%s", out)
	}
}

func TestJoinScriptUsesAGivenServerURL(t *testing.T) {
	_, log, ok := runJoin(t, map[string]string{"NODEFLEET_SERVER_URL": "https://10.0.1.99:6443"})
	if !ok || strings.Contains(log, "describe-instances") || !strings.Contains(log, "K3S_URL=https://10.0.1.99:6443") {
		t.Errorf("ok=%v, calls:\n%s", ok, log)
	}
}

func TestJoinScriptFailsLoudly(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"agent never healthy", map[string]string{"STUB_HEALTHY": "no"},
			"node-fleet join FAILED: k3s-agent did not become healthy within 10s (server https://10.0.1.10:6443)"},
		{"agent unit inactive", map[string]string{"STUB_ACTIVE": "no"},
			"node-fleet join FAILED: k3s-agent did not become healthy within 10s"},
		{"empty token", map[string]string{"STUB_TOKEN": ""}, "node-fleet join FAILED: secret shop/k3s-token is empty"},
		{"no server", map[string]string{"STUB_SERVER_IP": "None"},
			"node-fleet join FAILED: no running K3s server tagged node-fleet.io/role=k3s-server for cluster shop"},
		{"installer fails", map[string]string{"STUB_INSTALL_STATUS": "3"}, "node-fleet join FAILED: the K3s installer failed"},
		{"no cluster id", map[string]string{"NODEFLEET_CLUSTER_ID": ""}, "NODEFLEET_CLUSTER_ID is required"},
		{"no instance type", map[string]string{"STUB_INSTANCE_TYPE": "missing"}, "node-fleet join FAILED: no instance type from the instance metadata"},
		{"strange instance type", map[string]string{"STUB_INSTANCE_TYPE": "t3.medium --node-label evil=1"},
			"node-fleet join FAILED: instance metadata returned a strange instance type: t3.medium --node-label evil=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, log, ok := runJoin(t, tt.env)
			if ok {
				t.Fatalf("succeeded:\n%s", out)
			}
			if !strings.Contains(out, tt.want) {
				t.Errorf("output lacks %q:\n%s\ncalls:\n%s", tt.want, out, log)
			}
		})
	}
	// The agent's own complaint is shown with the failure.
	out, _, _ := runJoin(t, map[string]string{"STUB_HEALTHY": "no"})
	if !strings.Contains(out, `token is not valid`) {
		t.Errorf("the agent's journal is not shown:\n%s", out)
	}
}
