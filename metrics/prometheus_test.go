package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	testclock "k8s.io/utils/clock/testing"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// t0 is the fake clock's time in the httptest-based tests.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// promTS writes t as Prometheus writes sample timestamps.
func promTS(t time.Time) string {
	return fmt.Sprintf("%d.%03d", t.Unix(), t.Nanosecond()/1e6)
}

func vectorBody(ts time.Time, values ...string) string {
	var series []string
	for i, v := range values {
		series = append(series, fmt.Sprintf(`{"metric":{"instance":"n%d"},"value":[%s,%q]}`, i, promTS(ts), v))
	}
	return `{"status":"success","data":{"resultType":"vector","result":[` + strings.Join(series, ",") + `]}}`
}

// answer is a canned reply of the fake server to one query.
type answer struct {
	status int
	body   string
	delay  time.Duration
}

// fakeProm serves canned answers by query expression; unknown expressions
// get a valid answer of 1 at t0. It counts the queries it received.
func fakeProm(t *testing.T, answers map[string]answer) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		a, ok := answers[r.Form.Get("query")]
		if !ok {
			a = answer{body: vectorBody(t0, "1")}
		}
		if a.delay > 0 {
			select {
			case <-time.After(a.delay):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		if a.status != 0 {
			w.WriteHeader(a.status)
		}
		_, _ = w.Write([]byte(a.body))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestNewPrometheusConfigErrors(t *testing.T) {
	good := func() Config { return Config{URL: "http://127.0.0.1:9090"} }
	tests := []struct {
		name  string
		edit  func(c *Config)
		wants []string // every one must appear in the error
	}{
		{"no URL", func(c *Config) { c.URL = "" }, []string{"URL: is required"}},
		{"URL without scheme", func(c *Config) { c.URL = "prometheus.monitoring:9090" }, []string{"URL:", "no http:// or https:// scheme"}},
		{"URL host only", func(c *Config) { c.URL = "localhost" }, []string{"URL:", "scheme"}},
		{"URL ftp", func(c *Config) { c.URL = "ftp://x:21" }, []string{"URL:", "scheme"}},
		{"URL no host", func(c *Config) { c.URL = "http:///api" }, []string{"URL:", "no host"}},
		{"unclosed paren", func(c *Config) { c.CPU.Expr = `avg(rate(x[5m])` }, []string{"CPU.Expr", `unclosed '('`}},
		{"mismatched bracket", func(c *Config) { c.Memory.Expr = `sum(x[5m)]` }, []string{"Memory.Expr", `unexpected ')'`}},
		{"unclosed string", func(c *Config) { c.PendingPods.Expr = `sum(x{phase="Pending})` }, []string{"PendingPods.Expr", "not closed"}},
		{"empty custom expr", func(c *Config) { c.Custom = map[string]Query{"queue": {}} }, []string{`Custom["queue"].Expr is required`}},
		{"bad custom expr", func(c *Config) { c.Custom = map[string]Query{"queue": {Expr: "sum(q))"}} }, []string{`Custom["queue"].Expr`}},
		{"empty custom name", func(c *Config) { c.Custom = map[string]Query{" ": {Expr: "q"}} }, []string{"empty name"}},
		{"negative timeout", func(c *Config) { c.APILatency.Timeout = -time.Second }, []string{"APILatency.Timeout must be positive"}},
		{"negative query timeout", func(c *Config) { c.QueryTimeout = -1 }, []string{"QueryTimeout must be positive"}},
		{"negative max age", func(c *Config) { c.MaxAge = -1 }, []string{"MaxAge must be positive"}},
		{"selector without quotes", func(c *Config) { c.NodeSelector = `instance!=k3s-server` }, []string{"NodeSelector", "quoted string"}},
		{"selector bad regexp", func(c *Config) { c.NodeSelector = `instance=~"k3s-(server"` }, []string{"NodeSelector", "regular expression"}},
		{"selector bad name", func(c *Config) { c.NodeSelector = `1node="x"` }, []string{"NodeSelector", "not a label name"}},
		{"basic auth and bearer", func(c *Config) {
			c.BasicAuth = &BasicAuth{Username: "u"}
			c.BearerToken = "t"
		}, []string{"BasicAuth and BearerToken/BearerTokenFile: set at most one"}},
		{"bearer token and its file", func(c *Config) { c.BearerToken, c.BearerTokenFile = "t", "/etc/token" },
			[]string{"BearerToken and BearerTokenFile: set at most one"}},
		{"bearer token file missing", func(c *Config) { c.BearerTokenFile = "/nonexistent/token" },
			[]string{"BearerTokenFile:", "/nonexistent/token", "no such file"}},
		{"basic auth without user", func(c *Config) { c.BasicAuth = &BasicAuth{Password: "p"} },
			[]string{"BasicAuth.Username is required"}},
		{"basic auth password twice", func(c *Config) { c.BasicAuth = &BasicAuth{Username: "u", Password: "p", PasswordFile: "/f"} },
			[]string{"BasicAuth.Password and BasicAuth.PasswordFile"}},
		{"password file missing", func(c *Config) { c.BasicAuth = &BasicAuth{Username: "u", PasswordFile: "/nonexistent/pw"} },
			[]string{"BasicAuth.PasswordFile:", "/nonexistent/pw"}},
		{"CA file missing", func(c *Config) { c.TLS.CAFile = "/nonexistent/ca.pem" }, []string{"TLS.CAFile:", "/nonexistent/ca.pem"}},
		{"CA without certificates", func(c *Config) { c.TLS.CA = []byte("not a certificate") },
			[]string{"TLS.CA: no PEM certificate found"}},
		{"CA twice", func(c *Config) { c.TLS.CA, c.TLS.CAFile = []byte("x"), "/f" }, []string{"TLS.CAFile and CA: set at most one"}},
		{"client cert without key", func(c *Config) { c.TLS.CertFile = "/c.pem" }, []string{"TLS.CertFile and KeyFile: set both"}},
		{"client and own settings", func(c *Config) {
			c.HTTPClient = &http.Client{}
			c.TLS.InsecureSkipVerify = true
		}, []string{"HTTPClient replaces BearerToken, BearerTokenFile, BasicAuth, TLS"}},
		{"several problems at once", func(c *Config) { c.URL = "x:1"; c.CPU.Expr = "(" }, []string{"URL:", "CPU.Expr"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good()
			tc.edit(&cfg)
			p, err := NewPrometheus(cfg)
			if err == nil {
				t.Fatalf("NewPrometheus accepted the config: %v", p.Queries())
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestNewPrometheusAcceptsValidConfigs(t *testing.T) {
	for _, cfg := range []Config{
		{URL: "https://prom.example.com/prefix/"},
		{URL: "http://127.0.0.1:9090", NodeSelector: `instance!~"k3s-server.*", node_role!='master',`},
		{URL: "http://127.0.0.1:9090", CPU: Query{Expr: "max(cpu) # a comment with ( and \"\n"}, PendingPods: Query{Disabled: true},
			Custom: map[string]Query{"queue": {Expr: "sum(queue_depth{q=~`a|b`})", Timeout: time.Second}}},
		{URL: "http://127.0.0.1:9090", BasicAuth: &BasicAuth{Username: "u", Password: "p"}},
		{URL: "https://127.0.0.1:9090", BearerToken: "t", TLS: TLSConfig{InsecureSkipVerify: true, ServerName: "prom"}},
		{URL: "http://127.0.0.1:9090", HTTPClient: &http.Client{Timeout: time.Second}},
	} {
		if _, err := NewPrometheus(cfg); err != nil {
			t.Errorf("NewPrometheus(%+v): %v", cfg, err)
		}
	}
}

func TestDefaultQueries(t *testing.T) {
	p, err := NewPrometheus(Config{URL: "http://127.0.0.1:9090", NodeSelector: `role!="server"`, RateWindow: 2 * time.Minute,
		APILatency: Query{Disabled: true}, Custom: map[string]Query{"queue": {Expr: "sum(queue_depth)"}}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		autoscaler.MetricCPU:         `(1 - sum(rate(node_cpu_seconds_total{mode="idle",role!="server"}[2m])) / sum(rate(node_cpu_seconds_total{role!="server"}[2m]))) * 100`,
		"cpu_nodes":                  `count(count by (instance) (rate(node_cpu_seconds_total{mode="idle",role!="server"}[2m])))`,
		autoscaler.MetricMemory:      `(1 - avg(node_memory_MemAvailable_bytes{role!="server"} / node_memory_MemTotal_bytes{role!="server"})) * 100`,
		autoscaler.MetricPendingPods: `sum(kube_pod_status_phase{phase="Pending"})`,
		"queue":                      "sum(queue_depth)",
	}
	if d := cmp.Diff(want, p.Queries()); d != "" {
		t.Errorf("queries (-want +got):\n%s", d)
	}
	for _, w := range []struct {
		d    time.Duration
		want string
	}{{5 * time.Minute, "5m"}, {90 * time.Second, "90s"}, {time.Hour, "1h"}, {1500 * time.Millisecond, "1500ms"}} {
		if got := promDuration(w.d); got != w.want {
			t.Errorf("promDuration(%s) = %q, want %q", w.d, got, w.want)
		}
	}
}

// missingCase is one bad (or good) answer and what Collect must make of it.
type missingCase struct {
	name    string
	answer  answer
	timeout time.Duration
	wantOK  bool
	want    float64
	wantErr string // substring of the missing metric's error
}

func TestCollectBadAnswers(t *testing.T) {
	big := make([]string, 30000)
	for i := range big {
		big[i] = "1"
	}
	cases := []missingCase{
		{name: "ok", answer: answer{body: vectorBody(t0, "42.5")}, wantOK: true, want: 42.5},
		{name: "scalar", answer: answer{body: fmt.Sprintf(`{"status":"success","data":{"resultType":"scalar","result":[%s,"7"]}}`, promTS(t0))}, wantOK: true, want: 7},
		{name: "zero is a value", answer: answer{body: vectorBody(t0, "0")}, wantOK: true, want: 0},
		{name: "slightly old is fine", answer: answer{body: vectorBody(t0.Add(-30*time.Second), "3")}, wantOK: true, want: 3},
		{name: "empty", answer: answer{body: vectorBody(t0)}, wantErr: "empty result"},
		{name: "NaN", answer: answer{body: vectorBody(t0, "NaN")}, wantErr: "value is NaN"},
		{name: "+Inf", answer: answer{body: vectorBody(t0, "+Inf")}, wantErr: "value is +Inf"},
		{name: "-Inf", answer: answer{body: vectorBody(t0, "-Inf")}, wantErr: "value is -Inf"},
		{name: "two series", answer: answer{body: vectorBody(t0, "1", "2")}, wantErr: "2 series, want 1"},
		{name: "huge vector", answer: answer{body: vectorBody(t0, big...)}, wantErr: "larger than MaxResponseBytes"},
		{name: "matrix", answer: answer{body: fmt.Sprintf(`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[%s,"1"]]}]}}`, promTS(t0))}, wantErr: "type matrix"},
		{name: "string", answer: answer{body: fmt.Sprintf(`{"status":"success","data":{"resultType":"string","result":[%s,"x"]}}`, promTS(t0))}, wantErr: `value type "string"`},
		{name: "malformed JSON", answer: answer{body: `{"status":"success","data":{"resultType":"vector","result":[{`}, wantErr: "bad_response"},
		{name: "not JSON", answer: answer{body: `<html>proxy error</html>`}, wantErr: "bad_response"},
		{name: "unknown result type", answer: answer{body: `{"status":"success","data":{"resultType":"tensor","result":[]}}`}, wantErr: "query failed"},
		{name: "value not a number", answer: answer{body: fmt.Sprintf(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[%s,"abc"]}]}}`, promTS(t0))}, wantErr: "query failed"},
		{name: "server error", answer: answer{status: 500, body: "boom"}, wantErr: "server_error"},
		{name: "bad query", answer: answer{status: 400, body: `{"status":"error","errorType":"bad_data","error":"parse error at char 5"}`}, wantErr: "parse error"},
		{name: "error in 200", answer: answer{body: `{"status":"error","errorType":"execution","error":"query too expensive"}`}, wantErr: "query too expensive"},
		{name: "stale", answer: answer{body: vectorBody(t0.Add(-10*time.Minute), "5")}, wantErr: "stale answer"},
		{name: "from the future", answer: answer{body: vectorBody(t0.Add(10*time.Minute), "5")}, wantErr: "stale answer"},
		{name: "slow", answer: answer{body: vectorBody(t0, "5"), delay: 5 * time.Second}, timeout: 200 * time.Millisecond, wantErr: "timed out after 200ms"},
		{name: "native histogram", answer: answer{body: fmt.Sprintf(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"histogram":[%s,{"count":"1","sum":"1","buckets":[[0,"0","1","1"]]}]}]}}`, promTS(t0))}, wantErr: "native histogram"},
	}
	answers := map[string]answer{}
	custom := map[string]Query{}
	for i, c := range cases {
		expr := fmt.Sprintf("case_%d", i)
		answers[expr] = c.answer
		custom[c.name] = Query{Expr: expr, Timeout: c.timeout}
	}
	srv, _ := fakeProm(t, answers)
	p, err := NewPrometheus(Config{URL: srv.URL, Custom: custom, Clock: testclock.NewFakeClock(t0), MaxResponseBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	snap, err := p.Collect(context.Background())
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("Collect: %v (some queries succeeded, so no error is expected)", err)
	}
	// The queries run concurrently: the slow one costs its own timeout,
	// not the sum of all.
	if elapsed > 3*time.Second {
		t.Errorf("Collect took %s; the slow query should have been cut at 200ms", elapsed)
	}
	for _, c := range cases {
		m, ok := snap.Custom[c.name]
		if !ok {
			t.Errorf("%s: no reading in Snapshot.Custom", c.name)
			continue
		}
		if m.OK != c.wantOK {
			t.Errorf("%s: OK = %v, want %v (err %v)", c.name, m.OK, c.wantOK, m.Err)
			continue
		}
		if c.wantOK {
			if m.Value != c.want {
				t.Errorf("%s: value %v, want %v", c.name, m.Value, c.want)
			}
			if m.At.IsZero() {
				t.Errorf("%s: reading without a timestamp", c.name)
			}
			continue
		}
		if m.Value != 0 || !errors.Is(m.Err, autoscaler.ErrNoData) {
			t.Errorf("%s: missing reading must have no value and wrap ErrNoData; got %v, %v", c.name, m.Value, m.Err)
		}
		if !strings.Contains(m.Err.Error(), c.wantErr) {
			t.Errorf("%s: error %q does not say %q", c.name, m.Err, c.wantErr)
		}
		if !strings.Contains(m.Err.Error(), c.name) {
			t.Errorf("%s: error %q does not name the metric", c.name, m.Err)
		}
	}
	// The core metrics got the server's default answer.
	for name, m := range map[string]autoscaler.Metric{"cpu": snap.CPU, "memory": snap.Memory, "pending": snap.PendingPods, "latency": snap.APILatency} {
		if !m.OK || m.Value != 1 {
			t.Errorf("%s = %v (%v), want 1", name, m, m.Err)
		}
	}
	if !snap.Time.Equal(t0) {
		t.Errorf("snapshot time %s, want the clock's %s", snap.Time, t0)
	}
}

func TestCollectCoreMetricsMissingEnterSafetyProblems(t *testing.T) {
	srv, _ := fakeProm(t, map[string]answer{
		CPUQuery("", DefaultRateWindow): {body: vectorBody(t0, "NaN")},
		PendingPodsQuery:                {body: vectorBody(t0, "4")},
	})
	p, err := NewPrometheus(Config{URL: srv.URL, Clock: testclock.NewFakeClock(t0)})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := p.Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{autoscaler.MetricCPU}, snap.Missing()); d != "" {
		t.Errorf("Missing() (-want +got):\n%s", d)
	}
	if !snap.PendingPods.OK || snap.PendingPods.Value != 4 {
		t.Errorf("pending pods %v, want 4: a failed CPU query must not take the others down", snap.PendingPods)
	}
	if probs := snap.Problems(t0, 5*time.Minute); len(probs) != 1 || !strings.Contains(probs[0], "cpu missing") {
		t.Errorf("Problems = %q, want one about cpu", probs)
	}
}

func TestCollectUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	p, err := NewPrometheus(Config{URL: url, Clock: testclock.NewFakeClock(t0), PendingPods: Query{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := p.Collect(context.Background())
	if err == nil || !errors.Is(err, autoscaler.ErrNoData) {
		t.Fatalf("Collect error = %v, want one wrapping ErrNoData", err)
	}
	if d := cmp.Diff([]string{"cpu", "memory", "pending_pods"}, snap.Missing()); d != "" {
		t.Errorf("Missing() (-want +got):\n%s", d)
	}
	if !strings.Contains(snap.PendingPods.Err.Error(), "disabled") {
		t.Errorf("disabled query's reason = %v", snap.PendingPods.Err)
	}
}

func TestCollectHonoursContext(t *testing.T) {
	srv, n := fakeProm(t, map[string]answer{
		CPUQuery("", DefaultRateWindow): {body: vectorBody(t0, "1"), delay: 10 * time.Second},
	})
	p, err := NewPrometheus(Config{URL: srv.URL, Clock: testclock.NewFakeClock(t0)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = p.Collect(ctx)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, autoscaler.ErrNoData) {
		t.Errorf("Collect with a cancelled ctx: %v, want context.Canceled and ErrNoData", err)
	}
	// A deadline in the middle of a slow query ends Collect at the deadline.
	ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	snap, err := p.Collect(ctx)
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Collect took %s past a 300ms deadline", took)
	}
	if err != nil {
		t.Errorf("Collect: %v (the fast queries succeeded)", err)
	}
	if snap.CPU.OK || !errors.Is(snap.CPU.Err, context.DeadlineExceeded) {
		t.Errorf("slow CPU query: %v, %v; want missing with the deadline", snap.CPU, snap.CPU.Err)
	}
	if n.Load() == 0 {
		t.Error("the server saw no query")
	}
}
