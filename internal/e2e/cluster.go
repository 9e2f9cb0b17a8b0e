package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/node-fleet/node-fleet/internal/testenv"
)

// Environment variables the test command sets (scripts/svc/e2e.sh).
const (
	// EnvBin is the directory of kube-apiserver, kube-controller-manager,
	// kube-scheduler, kwok and karpenter-kwok.
	EnvBin = "NODEFLEET_E2E_BIN"
	// EnvKwokStages is kwok's kustomize/stage directory.
	EnvKwokStages = "NODEFLEET_KWOK_STAGES"
	// EnvKarpenterDir is the kwok/ directory of the Karpenter module
	// (its CRDs are in charts/crds and apis/crds).
	EnvKarpenterDir = "NODEFLEET_KARPENTER_DIR"
)

// Cluster is a control plane of the scenario's own: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok, on free loopback ports,
// stopped when the test ends.
type Cluster struct {
	// Dir holds the processes' logs, certificates and kubeconfigs.
	Dir string
	// Host is the API server's URL.
	Host string
	// Admin is a client with the admin token (system:masters).
	Admin kubernetes.Interface
	// AdminConfig is Admin's configuration.
	AdminConfig *rest.Config
	// AdminKubeconfig is the path of a kubeconfig with the admin token.
	AdminKubeconfig string
	// KarpenterKubeconfig is the path of a kubeconfig for Karpenter,
	// user "karpenter" in system:masters (as its Helm chart's role is
	// broad), told apart from node-fleet's identity in the audit log.
	KarpenterKubeconfig string
	// AuditLog is the API server's audit log: pods' deletions and
	// evictions, with who asked (see Audit).
	AuditLog string

	bin   string
	procs []*proc
}

// proc is a child process whose output goes to a log file.
type proc struct {
	name    string
	stopped bool // stopped on purpose (a redeploy)
	cmd     *exec.Cmd
	log     string
	done    chan struct{}
}

// stop ends p: SIGTERM, then SIGKILL after 10 s.
func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// exited reports whether p has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// tail returns the last n bytes of p's log.
func (p *proc) tail(n int) string {
	b, _ := os.ReadFile(p.log)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// start runs bin with args and env (added to a minimal environment with
// KUBE_FEATURE_WatchListClient=false, without which client-go programs
// fail on etcd 3.4), its output in Dir/name.log.
func start(t testing.TB, dir, name, bin string, args []string, env ...string) *proc {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "KUBE_FEATURE_WatchListClient=false"}, env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// auditPolicy records who deleted or evicted pods and who deleted
// nodes, and nothing else.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  verbs: ["delete", "deletecollection"]
  resources: [{group: "", resources: ["pods"]}]
- level: Metadata
  verbs: ["create"]
  resources: [{group: "", resources: ["pods/eviction"]}]
- level: Metadata
  verbs: ["delete"]
  resources: [{group: "", resources: ["nodes"]}]
- level: None
`

// Node labels and annotations of the scenario's faults (SetNodesDown).
const (
	// LabelDown, "true" on a Node, makes kwok report it NotReady, as the
	// kubelet of a node that lost its runtime or its zone's network
	// would, until the label goes.
	LabelDown = "e2e.node-fleet.io/down"
	// AnnotationDownSince is the NotReady condition's lastTransitionTime
	// (RFC 3339) while LabelDown is set: the scenario backdates it to
	// compress the autoscaler's five minutes of NotReady before repair.
	AnnotationDownSince = "e2e.node-fleet.io/down-since"
)

// nodeDownStage is a kwok stage that holds a Node labelled LabelDown
// NotReady, with a fresh heartbeat every few seconds (the node lifecycle
// controller sees a kubelet that reports NotReady, not one gone silent)
// and the Ready condition's last transition at AnnotationDownSince. Its
// weight puts it before kwok's heartbeat and initialize stages, which
// match such a node too; when the label goes, kwok's initialize stage
// makes the node Ready again.
const nodeDownStage = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: e2e-node-down
spec:
  resourceRef:
    apiGroup: v1
    kind: Node
  selector:
    matchExpressions:
    - key: '.metadata.labels["` + LabelDown + `"]'
      operator: 'In'
      values: ['true']
  delay:
    durationMilliseconds: 3000
    jitterDurationMilliseconds: 2000
  weight: 10000
  next:
    statusTemplate: |
      {{ $now := Now }}
      {{ $annotations := or .metadata.annotations dict }}
      {{ $since := or ( index $annotations "` + AnnotationDownSince + `" ) $now }}
      conditions:
      {{ range NodeConditions }}
      {{ if eq .type "Ready" }}
      - lastHeartbeatTime: {{ $now | Quote }}
        lastTransitionTime: {{ $since | Quote }}
        message: "the e2e scenario took the node down"
        reason: "KubeletNotReady"
        status: "False"
        type: "Ready"
      {{ else }}
      - lastHeartbeatTime: {{ $now | Quote }}
        lastTransitionTime: {{ $since | Quote }}
        message: {{ .message | Quote }}
        reason: {{ .reason | Quote }}
        status: {{ .status | Quote }}
        type: {{ .type | Quote }}
      {{ end }}
      {{ end }}
`

// StartCluster starts a control plane with a scheduler and kwok, whose
// Nodes become Ready and whose scheduled pods Running (kwok's fast node,
// heartbeat and pod stages). It skips the test (fails it when integration
// is required) without the binaries of scripts/svc/e2e.sh.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	return StartClusterWith(t, ClusterOptions{})
}

// StartClusterWith is StartCluster with opts.
func StartClusterWith(t testing.TB, opts ClusterOptions) *Cluster {
	t.Helper()
	bin := testenv.Lookup(t, EnvBin, "the e2e binaries (scripts/svc/e2e.sh)")
	stages := testenv.Lookup(t, EnvKwokStages, "kwok's stages (scripts/svc/e2e.sh)")
	etcd, err := exec.LookPath("etcd")
	if err != nil {
		if testenv.Required() {
			t.Fatal("etcd not on PATH (Debian etcd-server)")
		}
		t.Skip("etcd not on PATH (Debian etcd-server)")
	}
	dir, err := os.MkdirTemp("", "nodefleet-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{Dir: dir, bin: bin}
	t.Cleanup(func() {
		for i := len(c.procs) - 1; i >= 0; i-- {
			c.procs[i].stop()
		}
		if t.Failed() {
			t.Logf("control plane logs kept in %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	ctx := context.Background()

	client, peer, api := freePort(t), freePort(t), freePort(t)
	c.run(t, "etcd", etcd, "--name", "e2e", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", fmt.Sprintf("http://127.0.0.1:%d", client), "--advertise-client-urls", fmt.Sprintf("http://127.0.0.1:%d", client),
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peer), "--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peer),
		"--initial-cluster", fmt.Sprintf("e2e=http://127.0.0.1:%d", peer))

	for _, args := range [][]string{{"genrsa", "-out", "sa.key", "2048"}, {"rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"}} {
		cmd := exec.Command("openssl", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	admin, karpenter := randomHex(24), randomHex(24)
	write(t, filepath.Join(dir, "tokens.csv"), fmt.Sprintf("%s,e2e-admin,e2e-admin,\"system:masters\"\n%s,karpenter,karpenter,\"system:masters\"\n", admin, karpenter))
	write(t, filepath.Join(dir, "audit-policy.yaml"), auditPolicy)
	c.AuditLog = filepath.Join(dir, "audit.log")
	c.Host = fmt.Sprintf("https://127.0.0.1:%d", api)
	c.run(t, "kube-apiserver", filepath.Join(bin, "kube-apiserver"),
		"--etcd-servers", fmt.Sprintf("http://127.0.0.1:%d", client),
		"--bind-address", "127.0.0.1", "--secure-port", fmt.Sprint(api), "--cert-dir", filepath.Join(dir, "certs"),
		"--service-account-key-file", filepath.Join(dir, "sa.pub"), "--service-account-signing-key-file", filepath.Join(dir, "sa.key"),
		"--service-account-issuer", "https://kubernetes.default.svc",
		"--token-auth-file", filepath.Join(dir, "tokens.csv"), "--authorization-mode", "RBAC",
		"--service-cluster-ip-range", "10.96.0.0/16",
		"--audit-policy-file", filepath.Join(dir, "audit-policy.yaml"), "--audit-log-path", c.AuditLog,
		"--audit-log-mode", "blocking", "--audit-log-format", "json",
		// etcd 3.4 cannot serve watch-list streams; kwok ignores
		// KUBE_FEATURE_WatchListClient, and with the server's WatchList
		// on its informers retried with back-off for half a minute at a
		// time. Off, the server refuses the stream as invalid and every
		// client falls back to LIST and WATCH at once.
		"--feature-gates", "WatchList=false")

	c.AdminKubeconfig = filepath.Join(dir, "admin.kubeconfig")
	write(t, c.AdminKubeconfig, kubeconfig(c.Host, admin))
	c.KarpenterKubeconfig = filepath.Join(dir, "karpenter.kubeconfig")
	write(t, c.KarpenterKubeconfig, kubeconfig(c.Host, karpenter))
	c.AdminConfig = &rest.Config{Host: c.Host, BearerToken: admin, TLSClientConfig: rest.TLSClientConfig{Insecure: true}, QPS: 100, Burst: 200}
	c.Admin = kubernetes.NewForConfigOrDie(c.AdminConfig)
	c.wait(t, "kube-apiserver", 90*time.Second, func() bool {
		body, err := c.Admin.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil && string(body) == "ok"
	})

	kc := c.AdminKubeconfig
	c.run(t, "kube-controller-manager", filepath.Join(bin, "kube-controller-manager"), controllerManagerArgs(kc, dir, opts)...)
	c.run(t, "kube-scheduler", filepath.Join(bin, "kube-scheduler"),
		"--kubeconfig", kc, "--authentication-kubeconfig", kc, "--authorization-kubeconfig", kc,
		"--secure-port", "0", "--leader-elect=false")
	kwokArgs := append([]string{"--kubeconfig", kc, "--manage-all-nodes=true", "--server-address", "127.0.0.1:" + fmt.Sprint(freePort(t))},
		kwokStages(t, dir, stages, opts)...)
	c.run(t, "kwok", filepath.Join(bin, "kwok"), kwokArgs...)
	// The controller-manager works once it has made the default
	// namespace's ServiceAccount.
	c.wait(t, "kube-controller-manager", 60*time.Second, func() bool {
		_, err := c.Admin.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil
	})
	if opts.ReadyDelay > 0 {
		c.registerBootingNotReady(t)
	}
	return c
}

// controllerManagerArgs are kube-controller-manager's arguments, with the
// admin kubeconfig kc and the service accounts' key in dir.
func controllerManagerArgs(kc, dir string, opts ClusterOptions) []string {
	args := []string{"--kubeconfig", kc, "--authentication-kubeconfig", kc, "--authorization-kubeconfig", kc,
		"--secure-port", "0", "--leader-elect=false",
		"--service-account-private-key-file", filepath.Join(dir, "sa.key"),
		// The node lifecycle controller stays (it keeps the not-ready
		// taint of a NotReady Node and removes it once the Node is
		// Ready; kwok's heartbeat keeps them Ready), and so does the
		// disruption controller (budgets' disruptionsAllowed).
		"--controllers", "*,-nodeipam,-serviceaccount-token"}
	// A booting Node's NotReady status gets no heartbeat from kwok (a
	// kubelet posts one every 10 s): past the grace period (50 s by
	// default) the controller would call it Unknown. Only longer delays
	// widen it.
	if grace := opts.ReadyDelay + 20*time.Second; grace > 50*time.Second {
		args = append(args, "--node-monitor-grace-period", grace.String())
	}
	return args
}

// kwokStages returns kwok's --config arguments: its fast node, heartbeat
// and pod stages from the directory stages, the NotReady stage of
// SetNodesDown and, with a ReadyDelay, the booting nodes' stage, these two
// written into dir.
func kwokStages(t testing.TB, dir, stages string, opts ClusterOptions) []string {
	t.Helper()
	var args []string
	for _, s := range []string{"node/fast", "node/heartbeat", "pod/fast"} {
		files, err := filepath.Glob(filepath.Join(stages, s, "*.yaml"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no kwok stages in %s: %v", filepath.Join(stages, s), err)
		}
		for _, f := range files {
			if filepath.Base(f) == "kustomization.yaml" {
				continue
			}
			args = append(args, "--config", f)
		}
	}
	downStage := filepath.Join(dir, "node-down-stage.yaml")
	write(t, downStage, nodeDownStage)
	args = append(args, "--config", downStage)
	if opts.ReadyDelay > 0 {
		bootStage := filepath.Join(dir, "node-boot-stage.yaml")
		write(t, bootStage, nodeBootStage(t, filepath.Join(stages, "node/fast/node-initialize.yaml"), opts.ReadyDelay))
		args = append(args, "--config", bootStage)
	}
	return args
}

// run starts a process of the control plane and fails t if it exits at
// once.
func (c *Cluster) run(t testing.TB, name, bin string, args ...string) *proc {
	t.Helper()
	p := start(t, c.Dir, name, bin, args)
	c.procs = append(c.procs, p)
	return p
}

// Start runs a process beside the control plane (Karpenter, the
// autoscaler), stopped before it when the test ends; env is added to its
// environment. Its log is Dir/name.log.
func (c *Cluster) Start(t testing.TB, name, bin string, args []string, env ...string) {
	t.Helper()
	p := start(t, c.Dir, name, bin, args, env...)
	c.procs = append(c.procs, p)
}

// Log returns the end of a process's log (n bytes).
func (c *Cluster) Log(name string, n int) string {
	for _, p := range c.procs {
		if p.name == name {
			return p.tail(n)
		}
	}
	return ""
}

// Exited names the processes of the cluster that have ended.
func (c *Cluster) Exited() []string {
	var out []string
	for _, p := range c.procs {
		if p.exited() && !p.stopped {
			out = append(out, p.name)
		}
	}
	return out
}

// wait polls cond until it holds, failing t with the end of name's log
// when a process exits or limit passes.
func (c *Cluster) wait(t testing.TB, name string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if ex := c.Exited(); len(ex) > 0 {
			t.Fatalf("%v exited; end of %s's log:\n%s", ex, ex[0], c.Log(ex[0], 3000))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not up after %s; end of its log:\n%s", name, limit, c.Log(name, 3000))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ServiceAccountKubeconfig writes a kubeconfig for the ServiceAccount
// ns/name with a token from the TokenRequest API (valid for a day), as the
// token Secret of deploy/server-init.sh gives the autoscaler, and returns
// its path and content.
func (c *Cluster) ServiceAccountKubeconfig(t testing.TB, ns, name string) (string, string) {
	t.Helper()
	exp := int64(24 * 3600)
	tr, err := c.Admin.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for %s/%s: %v", ns, name, err)
	}
	kc := kubeconfig(c.Host, tr.Status.Token)
	path := filepath.Join(c.Dir, ns+"-"+name+".kubeconfig")
	write(t, path, kc)
	return path, kc
}

// RestConfig reads a kubeconfig file.
func RestConfig(t testing.TB, path string) *rest.Config {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func kubeconfig(host, token string) string {
	return strings.Join([]string{
		"apiVersion: v1", "kind: Config",
		"clusters:", "- name: e2e", "  cluster:", "    server: " + host, "    insecure-skip-tls-verify: true",
		"users:", "- name: u", "  user:", "    token: " + token,
		"contexts:", "- name: e2e", "  context:", "    cluster: e2e", "    user: u",
		"current-context: e2e", ""}, "\n")
}

func write(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// nodeReady reports whether n's Ready condition is True.
func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
