package drain_test

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
	"github.com/node-fleet/node-fleet/drain"
	"github.com/node-fleet/node-fleet/internal/kubetest"
	"github.com/node-fleet/node-fleet/kube"
)

// apiFault is a RoundTripper in front of the real API server: while
// forbid is set an eviction is answered 403 (an RBAC change), and after
// that every request fails as if the server were unreachable, until
// restore.
type apiFault struct {
	next http.RoundTripper
	mu   sync.Mutex
	// forbid: evictions get a 403; down: every request fails.
	forbid, down bool
	refused      int
}

func (f *apiFault) RoundTrip(r *http.Request) (*http.Response, error) {
	f.mu.Lock()
	forbid, down := f.forbid, f.down
	if forbid && r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/eviction") {
		f.refused++
		f.down = true // the API goes away right after
		f.mu.Unlock()
		body := `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"pods is forbidden: User \"system:serviceaccount:node-fleet:node-fleet\" cannot create resource \"pods/eviction\" (injected)","reason":"Forbidden","code":403}`
		return &http.Response{StatusCode: http.StatusForbidden, Status: "403 Forbidden", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{"Content-Type": []string{"application/json"}}, Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
	}
	f.mu.Unlock()
	if down {
		return nil, errors.New("dial tcp 127.0.0.1:6443: connect: connection refused (injected)")
	}
	return f.next.RoundTrip(r)
}

func (f *apiFault) restore() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forbid, f.down = false, false
}

// The Kubernetes API refuses the eviction (403 after an RBAC change) and
// then is unreachable during a scale-down: the node is not terminated; the
// uncordon fails too, so the operation stays in the journal, and the next
// tick, with the API back, uncordons the node; nothing is ever terminated.
func TestIntegrationTickDrainForbiddenThenAPIUnreachable(t *testing.T) {
	t.Parallel()
	c := kubetest.Connect(t)
	ns := c.Namespace(t, "drain-fault")
	fault := &apiFault{forbid: true}
	cfg := rest.CopyConfig(c.Config)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { fault.next = rt; return fault }
	k, err := kube.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m, err := drain.New(drain.Config{Client: k, NodeSelector: runLabel + "=" + ns, Timeout: 5 * time.Second,
		RetryInterval: 200 * time.Millisecond, PollInterval: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	a := addNode(t, c, ns, kubetest.NodeOptions{Labels: map[string]string{autoscaler.LabelInstanceID: "i-0a"}})
	addNode(t, c, ns, kubetest.NodeOptions{Labels: map[string]string{autoscaler.LabelInstanceID: "i-0b"},
		Annotations: map[string]string{autoscaler.AnnotationScaleDownDisabled: "true"}})
	c.StartKubelet(t, ns, kubetest.KubeletOptions{BindTo: []string{a}, FinishTerminating: true})
	replicaSet(t, c, ns, "web", 1)
	waitRunning(t, c, ns, "web", a, 1)

	ac, fleet := tickParts(t, m, autoscaler.PolicyFunc(func(autoscaler.PolicyInput) autoscaler.Decision {
		return autoscaler.Decision{Action: autoscaler.ScaleDown, Count: 1, Reason: "test"}
	}), func(c *autoscaler.Config) { c.ScaleDownCooldown = autoscaler.NoCooldown })
	for _, id := range []string{"i-0a", "i-0b"} {
		fleet.Add(autoscaler.Instance{ID: id, State: autoscaler.StateRunning, Market: autoscaler.MarketSpot, LaunchTime: time.Now().Add(-time.Hour)})
	}
	res, err := ac.RunOnce(t.Context())
	t.Logf("tick with the API refusing: %s (err %v)", res, err)
	if fault.refused == 0 {
		t.Fatalf("no eviction was tried: %s", res)
	}
	if n := len(fleet.CallsTo(fake.Terminate)); n != 0 {
		t.Fatalf("%d Terminate calls while the drain was refused", n)
	}
	if !unschedulable(t, c, a) {
		t.Fatalf("node %s was uncordoned while the API was unreachable?", a)
	}

	fault.restore()
	res, err = ac.RunOnce(t.Context())
	if err != nil {
		t.Fatalf("tick with the API back: %v (%s)", err, res)
	}
	t.Logf("tick with the API back: %s", res)
	if unschedulable(t, c, a) {
		t.Errorf("node %s still cordoned after the API came back: %s", a, res)
	}
	if n := len(fleet.CallsTo(fake.Terminate)); n != 0 {
		t.Errorf("%d Terminate calls, want none", n)
	}
	if runningOn(t, c, ns, "web", a) != 1 {
		t.Errorf("the pod on %s was evicted", a)
	}
}
