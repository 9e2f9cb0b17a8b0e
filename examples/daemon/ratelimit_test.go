package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientmetrics "k8s.io/client-go/tools/metrics"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/config"
	"github.com/node-fleet/node-fleet/internal/awsutil"
	"github.com/node-fleet/node-fleet/internal/kubetest"
	"github.com/node-fleet/node-fleet/internal/testenv"
	"github.com/node-fleet/node-fleet/state"
)

// throttle adds up the time client-go's rate limiter made requests wait
// (client-go's RateLimiterLatency metric, observed once per request).
type throttle struct {
	waited atomic.Int64 // nanoseconds
}

func (th *throttle) Observe(_ context.Context, _ string, _ url.URL, latency time.Duration) {
	th.waited.Add(int64(latency))
}

var (
	throttleOnce sync.Once
	throttled    = &throttle{}
)

// recordingTransport records the requests a client sends.
type recordingTransport struct {
	mu   *sync.Mutex
	uris *[]string
	next http.RoundTripper
}

func (c recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	*c.uris = append(*c.uris, r.URL.RequestURI())
	c.mu.Unlock()
	return c.next.RoundTrip(r)
}

// TestTicksBackToBackAndTheClientRateLimit runs the daemon's wiring
// (config.Build) in-process against moto's DynamoDB and the test
// kube-apiserver, and calls 12 ticks back to back, as a burst of triggers
// would if nothing spaced them: once with client-go's default client-side
// rate limit (5 requests per second, burst 10: rest.DefaultQPS and
// rest.DefaultBurst, set on the connection) and once with config's
// (config.KubeQPS, config.KubeBurst: none set, and Build's own default
// checked on its connection, config.Parts.KubeConfig). It logs each tick's duration, its API requests and
// how long client-go's rate limiter held them; then, as the ticks would
// be on a machine where the rest of a tick takes no time, the same
// requests 12 times back to back through a client with the same limit
// (docs/benchmarks.md, "The API server's rate limit").
func TestTicksBackToBackAndTheClientRateLimit(t *testing.T) {
	endpoint := testenv.Lookup(t, "NODEFLEET_MOTO_ENDPOINT", "moto")
	kubeconfig := testenv.Lookup(t, kubetest.EnvKubeconfig, "a kube-apiserver")
	ctx := t.Context()
	awsCfg, err := awsutil.ForEmulator(ctx, endpoint, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	promSrv := httptest.NewServer(http.HandlerFunc(emptyPrometheus))
	t.Cleanup(promSrv.Close)
	throttleOnce.Do(func() { clientmetrics.Register(clientmetrics.RegisterOpts{RateLimiterLatency: throttled}) })

	const ticks = 12
	for _, limit := range []struct {
		name  string
		qps   float32
		burst int
		set   bool // set on the connection, else left to config.Build
	}{
		{"client-go's default", rest.DefaultQPS, rest.DefaultBurst, true},
		{"config's", config.KubeQPS, config.KubeBurst, false},
	} {
		cluster := kubetest.Name("ratelimit")
		table := cluster + "-state"
		if err := state.CreateTable(ctx, dynamodb.NewFromConfig(awsCfg), table, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		env := map[string]string{
			"CLUSTER_ID": cluster, "PROMETHEUS_URL": promSrv.URL, "DYNAMODB_TABLE": table,
			// Other tests' pending pods on the shared API server must not
			// make it launch: every tick holds.
			"PENDING_PODS_SOURCE": "api", "PENDING_PODS_THRESHOLD": "100000", "MIN_NODES": "0", "MAX_NODES": "3",
			"LAUNCH_TEMPLATE_ID": "lt-0123456789abcdef0", "SUBNET_IDS": "subnet-0123456789abcdef0",
			"KUBECONFIG": kubeconfig,
		}
		cfg, err := config.Load(config.Daemon, func(k string) string { return env[k] }, nil, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		kube, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		if limit.set {
			kube.QPS, kube.Burst = limit.qps, limit.burst
		}
		var mu sync.Mutex
		var uris []string
		sent := func() int {
			mu.Lock()
			defer mu.Unlock()
			return len(uris)
		}
		kube.Wrap(func(rt http.RoundTripper) http.RoundTripper {
			return recordingTransport{mu: &mu, uris: &uris, next: rt}
		})
		parts, err := config.Build(ctx, cfg, config.Options{AWS: awsCfg, Kube: kube})
		if err != nil {
			t.Fatal(err)
		}
		// Build's connection: the limit asked for, or its own default on
		// a copy when none was (the caller's connection left as it was).
		if got := parts.KubeConfig; got.QPS != limit.qps || got.Burst != limit.burst {
			t.Fatalf("%s rate limit: Build's connection has QPS %g, burst %d; want %g, %d", limit.name, got.QPS, got.Burst, limit.qps, limit.burst)
		}
		if !limit.set && (kube.QPS != 0 || kube.Burst != 0) {
			t.Errorf("Build changed the caller's connection to QPS %g, burst %d", kube.QPS, kube.Burst)
		}
		kube = parts.KubeConfig // the replay below uses the same limit
		var rows []string
		var total time.Duration
		lastFrom := 0 // the last tick's first request
		for i := range ticks {
			req0, wait0, start := sent(), throttled.waited.Load(), time.Now()
			lastFrom = req0
			res, err := parts.Autoscaler.RunOnce(ctx)
			d := time.Since(start)
			if err != nil || res.Outcome != autoscaler.OutcomeHeld {
				t.Fatalf("%s rate limit, tick %d: %v, %v; want a hold", limit.name, i+1, res, err)
			}
			total += d
			rows = append(rows, fmt.Sprintf("tick %2d: %4d ms, %d API requests, %4d ms held by the rate limiter",
				i+1, d.Milliseconds(), sent()-req0, time.Duration(throttled.waited.Load()-wait0).Milliseconds()))
		}
		parts.Prometheus.Close()
		if sent() == 0 {
			t.Fatalf("%s rate limit: the ticks sent no API request", limit.name)
		}
		t.Logf("%s rate limit (QPS %g, burst %d): %d ticks back to back in %d ms\n  %s",
			limit.name, limit.qps, limit.burst, ticks, total.Milliseconds(), strings.Join(rows, "\n  "))

		// The last tick's requests, 12 times back to back, through a new
		// client (a full bucket) with the same limit.
		mu.Lock()
		last := append([]string(nil), uris[lastFrom:]...)
		mu.Unlock()
		replay, err := kubernetes.NewForConfig(kube)
		if err != nil {
			t.Fatal(err)
		}
		wait0, start := throttled.waited.Load(), time.Now()
		for range ticks {
			for _, uri := range last {
				if err := replay.CoreV1().RESTClient().Get().RequestURI(uri).Do(ctx).Error(); err != nil {
					t.Fatalf("GET %s: %v", uri, err)
				}
			}
		}
		held := time.Duration(throttled.waited.Load() - wait0)
		if limit.burst < ticks*len(last) && held == 0 {
			t.Errorf("%d requests through a burst of %d, and the rate limiter held none", ticks*len(last), limit.burst)
		}
		t.Logf("%s rate limit: a tick's %d requests (%s) %d times back to back: %d ms, %d ms of it held by the rate limiter",
			limit.name, len(last), strings.Join(last, ", "), ticks, time.Since(start).Milliseconds(), held.Milliseconds())
	}
}
