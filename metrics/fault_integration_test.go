package metrics

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/internal/promtest"
)

// promFault is a RoundTripper in front of the real Prometheus: it delays
// answers, replaces them with garbage, or fails the queries whose PromQL
// contains a string.
type promFault struct {
	mu      sync.Mutex
	mode    string // "", "slow", "garbage", "partial"
	partial string // for "partial": queries containing it fail
}

func (f *promFault) set(mode, partial string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode, f.partial = mode, partial
}

func (f *promFault) RoundTrip(r *http.Request) (*http.Response, error) {
	f.mu.Lock()
	mode, partial := f.mode, f.partial
	f.mu.Unlock()
	switch mode {
	case "slow":
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	case "garbage":
		return &http.Response{StatusCode: 200, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{"Content-Type": []string{"application/json"}}, Request: r,
			Body: io.NopCloser(strings.NewReader(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]},{"oops`))}, nil
	case "partial":
		// Read the form from a copy of the body: ParseForm consumes it,
		// and the request goes on to the real server.
		var body []byte
		if r.Body != nil {
			body, _ = io.ReadAll(r.Body)
			r.Body.Close()
		}
		form, _ := url.ParseQuery(string(body))
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		if q := r.URL.Query().Get("query") + form.Get("query"); strings.Contains(q, partial) {
			return &http.Response{StatusCode: 503, Status: "503 Service Unavailable", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
				Header: http.Header{"Content-Type": []string{"application/json"}}, Request: r,
				Body: io.NopCloser(strings.NewReader(`{"status":"error","errorType":"unavailable","error":"injected"}`))}, nil
		}
	}
	return http.DefaultTransport.RoundTrip(r)
}

// startFaultProm starts Prometheus scraping two node_exporters (two
// "nodes") and the test exporter, and waits until all are up.
func startFaultProm(t *testing.T) (prom *promtest.Process, nodes []*promtest.Process) {
	t.Helper()
	promBin := promtest.PrometheusBin(t)
	nodeBin := promtest.NodeExporterBin(t)
	nodes = []*promtest.Process{promtest.StartNodeExporter(t, nodeBin), promtest.StartNodeExporter(t, nodeBin)}
	kube := promtest.StartExporter(t)
	kube.SetPods(0, 3)
	kube.Observe("GET", 0.01, 10)
	prom = promtest.StartPrometheus(t, promBin, promtest.PrometheusOptions{Targets: []promtest.Target{
		{Job: "node-a", Addr: nodes[0].Addr}, {Job: "node-b", Addr: nodes[1].Addr}, {Job: "kube", Addr: kube.Addr},
	}})
	promtest.WaitFor(t, 60*time.Second, "Prometheus to scrape its three targets and a CPU rate", func(ctx context.Context) bool {
		up, ok := probe(ctx, prom.URL, `count(up == 1)`)
		_, cpu := probe(ctx, prom.URL, `avg(rate(node_cpu_seconds_total{mode="idle"}[30s]))`)
		return ok && up == 3 && cpu
	})
	return prom, nodes
}

// Prometheus slow past its timeout, answering garbage, or answering only
// some queries, and a reading too old: every affected core metric is
// missing (never zero), so the tick enters safety mode.
func TestPrometheusFaultsAgainstRealServer(t *testing.T) {
	prom, _ := startFaultProm(t)
	fault := &promFault{}
	now := time.Now()
	clk := clocktesting.NewFakePassiveClock(now)
	src, err := NewPrometheus(Config{URL: prom.URL, HTTPClient: &http.Client{Transport: fault}, RateWindow: 30 * time.Second,
		QueryTimeout: time.Second, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx := context.Background()
	healthy, err := src.Collect(ctx)
	if err != nil || len(healthy.Problems(now, 0)) > 0 {
		t.Fatalf("healthy Prometheus: %v, problems %v", err, healthy.Problems(now, 0))
	}
	for _, tc := range []struct {
		mode, partial string
		missing       []string
	}{
		{"slow", "", []string{autoscaler.MetricCPU, autoscaler.MetricMemory, autoscaler.MetricPendingPods}},
		{"garbage", "", []string{autoscaler.MetricCPU, autoscaler.MetricMemory, autoscaler.MetricPendingPods}},
		{"partial", "node_cpu_seconds_total", []string{autoscaler.MetricCPU}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			fault.set(tc.mode, tc.partial)
			defer fault.set("", "")
			snap, _ := src.Collect(ctx)
			got := snap.Missing()
			if strings.Join(got, ",") != strings.Join(tc.missing, ",") {
				t.Errorf("missing %v, want %v (cpu %v, memory %v, pending %v)", got, tc.missing, snap.CPU, snap.Memory, snap.PendingPods)
			}
			for _, m := range []autoscaler.Metric{snap.CPU, snap.Memory, snap.PendingPods} {
				if !m.OK && m.Value != 0 {
					t.Errorf("a missing reading carries %v", m.Value)
				}
			}
			if len(snap.Problems(now, 0)) == 0 {
				t.Errorf("no problems: the tick would not enter safety mode")
			}
		})
	}
	t.Run("stale", func(t *testing.T) {
		// The autoscaler's clock is ten minutes past Prometheus' answers.
		clk.SetTime(now.Add(10 * time.Minute))
		defer clk.SetTime(now)
		snap, _ := src.Collect(ctx)
		if len(snap.Problems(clk.Now(), 5*time.Minute)) == 0 {
			t.Errorf("answers ten minutes old give no problem: cpu %v (at %s)", snap.CPU, snap.CPU.At)
		}
	})
}

// When node_exporter is down on some nodes (the busiest, whose exporter
// starved), the CPU average comes from the others only. The snapshot
// counts the nodes it averages (Snapshot.CPUNodes), and the tick compares
// them with the Ready nodes and enters safety mode when fewer answer.
func TestNodeExporterDownOnSomeNodesIsCounted(t *testing.T) {
	prom, nodes := startFaultProm(t)
	nodes[1].Stop()
	promtest.WaitFor(t, 30*time.Second, "Prometheus to see one node target down", func(ctx context.Context) bool {
		down, ok := probe(ctx, prom.URL, `count(up{job=~"node-.*"} == 0)`)
		return ok && down == 1
	})
	src, err := NewPrometheus(Config{URL: prom.URL, RateWindow: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	// The average is of the one exporter that answers; once the rate
	// window has passed the stopped one's last sample the snapshot says
	// so, and the tick, which knows two nodes are Ready, enters safety
	// mode (autoscaler: TestPlannerSafetyWhenCPUAveragesFewerNodesThanReady).
	var snap autoscaler.Snapshot
	promtest.WaitFor(t, 90*time.Second, "the CPU query to count one node", func(ctx context.Context) bool {
		snap, _ = src.Collect(ctx)
		return snap.CPUNodes.OK && snap.CPUNodes.Value == 1
	})
	if !snap.CPU.OK {
		t.Errorf("CPU %v, want the one exporter's reading (the tick judges it)", snap.CPU)
	}
}
