package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/internal/awsutil"
	"github.com/node-fleet/node-fleet/internal/kubetest"
	"github.com/node-fleet/node-fleet/internal/promtest"
	"github.com/node-fleet/node-fleet/internal/testenv"
	"github.com/node-fleet/node-fleet/state"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// promStub answers every query with an empty vector (so every metric is
// missing and the autoscaler holds in safety mode), or, once hang is set,
// holds every query until the client gives up: a tick stuck in Collect,
// with the lock held.
type promStub struct {
	hang    atomic.Bool
	queries atomic.Int64
	hung    chan struct{}
	once    sync.Once
	stop    chan struct{} // closed at the end of the test: hung queries return
}

func (p *promStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.queries.Add(1)
	if p.hang.Load() {
		p.once.Do(func() { close(p.hung) })
		select {
		case <-r.Context().Done():
		case <-p.stop:
		}
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[]}}`)
}

func get(ctx context.Context, url string) (int, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err.Error()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// ticks reads node_fleet_ticks_total for outcome from a /metrics body.
func ticks(metrics string, outcome autoscaler.Outcome) int {
	m := regexp.MustCompile(`(?m)^node_fleet_ticks_total\{outcome="` + string(outcome) + `"\} ([0-9.e+]+)$`).FindStringSubmatch(metrics)
	if m == nil {
		return -1
	}
	f, _ := strconv.ParseFloat(m[1], 64)
	return int(f)
}

// TestDaemonProcess starts the daemon as a process against moto's
// DynamoDB and the test kube-apiserver: /healthz answers, /metrics counts
// the ticks, an unschedulable pod brings a tick at once (the interval is
// a minute), and SIGTERM during a tick that holds the lock ends the tick,
// releases the lock and exits 0.
func TestDaemonProcess(t *testing.T) {
	endpoint := testenv.Lookup(t, "NODEFLEET_MOTO_ENDPOINT", "moto")
	kube := kubetest.Connect(t)
	kubeconfig := testenv.Lookup(t, kubetest.EnvKubeconfig, "a kube-apiserver")
	ctx := t.Context()

	awsCfg, err := awsutil.ForEmulator(ctx, endpoint, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	cluster := kubetest.Name("daemon")
	table := cluster + "-state"
	ddb := dynamodb.NewFromConfig(awsCfg)
	if err := state.CreateTable(ctx, ddb, table, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	store, err := state.NewDynamo(state.DynamoConfig{Client: ddb, Table: table, ClusterID: cluster})
	if err != nil {
		t.Fatal(err)
	}
	prom := &promStub{hung: make(chan struct{}), stop: make(chan struct{})}
	promSrv := httptest.NewServer(prom)
	defer promSrv.Close()
	defer close(prom.stop)

	bin := filepath.Join(t.TempDir(), "daemon")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "-tick-interval", "1m", "-listen-addr", addr, "-log-level", "debug")
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"CLUSTER_ID=" + cluster, "PROMETHEUS_URL=" + promSrv.URL, "DYNAMODB_TABLE=" + table,
		"PENDING_PODS_SOURCE=prometheus", "MIN_NODES=0", "MAX_NODES=3",
		"LAUNCH_TEMPLATE_ID=lt-0123456789abcdef0", "SUBNET_IDS=subnet-0123456789abcdef0",
		"KUBECONFIG=" + kubeconfig,
		"AWS_ENDPOINT_URL=" + endpoint, "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing",
	}
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("daemon output:\n%s", out)
		}
	})
	base := "http://" + addr

	// Up, healthy, and its first tick (at once) counted.
	promtest.WaitFor(t, 60*time.Second, "/healthz", func(ctx context.Context) bool {
		code, _ := get(ctx, base+"/healthz")
		return code == http.StatusOK
	})
	var body string
	promtest.WaitFor(t, 60*time.Second, "the first tick on /metrics", func(ctx context.Context) bool {
		_, body = get(ctx, base+"/metrics")
		return ticks(body, autoscaler.OutcomeHeld) >= 1
	})
	for _, want := range []string{"node_fleet_safety_mode 1", `node_fleet_instances{state="active"} 0`, "node_fleet_tick_duration_seconds_count", "go_goroutines"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, `node_fleet_metric{name="cpu"}`) {
		t.Error("/metrics reports a CPU reading that is missing")
	}

	// An unschedulable pod: a tick at once, not a minute later.
	ns := kube.Namespace(t, "daemon")
	unschedulable := func(name string) {
		t.Helper()
		pod, err := kube.Client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/app"}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
			Message: "0/3 nodes are available", LastTransitionTime: metav1.Now()}}
		if _, err := kube.Client.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// (Other tests' pods on the shared API server may bring ticks too:
	// the log says which pod brought one.)
	time.Sleep(5 * time.Second) // earlier pods' batches have ticked
	_, body = get(ctx, base+"/metrics")
	before := ticks(body, autoscaler.OutcomeHeld)
	start := time.Now()
	unschedulable("waiting-1")
	promtest.WaitFor(t, 20*time.Second, "a tick triggered by the unschedulable pod", func(ctx context.Context) bool {
		_, body = get(ctx, base+"/metrics")
		return ticks(body, autoscaler.OutcomeHeld) > before &&
			strings.Contains(out.String(), `"msg":"unschedulable pod, tick soon","pod":"`+ns+`/waiting-1"`)
	})
	t.Logf("tick %s after the pod became unschedulable (interval 1m)", time.Since(start).Round(time.Millisecond))

	// A tick stuck in Collect holds the lock...
	prom.hang.Store(true)
	time.Sleep(5 * time.Second) // earlier pods' batches have ticked
	unschedulable("waiting-2")
	select {
	case <-prom.hung:
	case <-time.After(20 * time.Second):
		t.Fatal("no tick reached Prometheus after the second pod")
	}
	if _, err := store.Acquire(ctx, "another-replica", time.Minute); !errors.Is(err, autoscaler.ErrLockHeld) {
		t.Fatalf("during the tick another replica's Acquire returned %v, want ErrLockHeld", err)
	}
	// ...until SIGTERM, which ends it and releases the lock.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("daemon exited with %v after SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("daemon still running 30s after SIGTERM")
	}
	lease, err := store.Acquire(ctx, "another-replica", time.Minute)
	if err != nil || lease.TookOver {
		t.Fatalf("after SIGTERM another replica's Acquire returned %+v, %v; want a free lock, not a takeover", lease, err)
	}
	if !strings.Contains(out.String(), `"msg":"daemon stopped"`) {
		t.Error("no orderly stop in the log")
	}
}
