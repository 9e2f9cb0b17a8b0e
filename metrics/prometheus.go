package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"k8s.io/utils/clock"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// Defaults of Config.
const (
	// DefaultQueryTimeout bounds each query when neither Query.Timeout nor
	// Config.QueryTimeout is set.
	DefaultQueryTimeout = 10 * time.Second
	// DefaultMaxAge is how far Prometheus' evaluation time may be from
	// this process' clock before an answer counts as stale.
	DefaultMaxAge = 2 * time.Minute
	// DefaultRateWindow is the range of the default queries' rate().
	DefaultRateWindow = 5 * time.Minute
	// DefaultMaxResponseBytes bounds the size of one query's response.
	DefaultMaxResponseBytes = 4 << 20
)

// Query is one PromQL query whose result is a single number: a scalar, or
// an instant vector of exactly one series (aggregate with sum, avg, max...
// so that it is one).
type Query struct {
	// Expr is the PromQL expression. Empty means the default query of the
	// metric (no default exists for custom queries).
	Expr string
	// Timeout bounds this query, on the client and (as the query's
	// timeout parameter) on the server. Zero means Config.QueryTimeout.
	Timeout time.Duration
	// Disabled skips the query: the metric is reported missing with the
	// reason "disabled". Use it for PendingPods when OverridePending
	// provides them, or for APILatency when the API server is not scraped.
	Disabled bool
}

// Config configures a Prometheus source. Only URL is required.
type Config struct {
	// URL is the Prometheus server's base URL with its scheme, e.g.
	// "http://prometheus.monitoring:9090" or
	// "https://example.com/prometheus" (a path prefix is kept).
	URL string

	// BearerToken is sent as "Authorization: Bearer <token>" with every
	// query; BearerTokenFile names a file holding it (a mounted secret, a
	// projected service account token), read again for every query so
	// that a rotated token is used at once. At most one of the two, and
	// not with BasicAuth.
	BearerToken     string
	BearerTokenFile string
	// BasicAuth, when set, authenticates with HTTP basic auth.
	BasicAuth *BasicAuth
	// TLS configures https connections: a private CA, a client
	// certificate, skipping verification in a lab. The zero value
	// verifies against the system's roots.
	TLS TLSConfig
	// HTTPClient, when set, is used instead of the client built from
	// BearerToken, BasicAuth and TLS (which must then be unset): for
	// OAuth2, SigV4 (Amazon Managed Service for Prometheus) or a
	// configuration in Prometheus' own file format, see the
	// metrics/prometheusconfig package. A shallow copy is used, its
	// transport wrapped to enforce MaxResponseBytes; the caller's client
	// is not changed. Proxies: the built client, like
	// http.DefaultTransport, honours HTTPS_PROXY and NO_PROXY.
	HTTPClient *http.Client

	// CPU is the workers' CPU utilisation in percent. The default is
	// CPUQuery(NodeSelector, RateWindow).
	CPU Query
	// Memory is the workers' memory utilisation in percent. The default
	// is MemoryQuery(NodeSelector).
	Memory Query
	// PendingPods is the number of pending pods. The default is
	// PendingPodsQuery: kube-state-metrics' pods in phase Pending.
	PendingPods Query
	// APILatency is the API server's p99 request latency in seconds. The
	// default is APILatencyQuery(RateWindow).
	APILatency Query
	// Custom are named queries of your own (queue depth, request rate...)
	// whose readings land in Snapshot.Custom under the same names.
	Custom map[string]Query

	// NodeSelector is a list of label matchers added to the node_exporter
	// selectors of the default CPU and memory queries, to leave nodes out
	// of the workers' utilisation: typically the K3s server, e.g.
	// `instance!~"k3s-server.*"` or `node_role!="master"` (whatever
	// label your scrape config gives the nodes). It has no effect on
	// queries you write yourself.
	NodeSelector string
	// RateWindow is the range of rate() in the default CPU and latency
	// queries. Default 5 minutes.
	RateWindow time.Duration

	// QueryTimeout is the timeout of queries without their own. Default
	// DefaultQueryTimeout.
	QueryTimeout time.Duration
	// MaxAge: an answer whose timestamp is further than this from the
	// clock's now (in the past or the future) is stale and missing.
	// Prometheus answers an instant query at its own current time, so
	// this catches a server (or a caching proxy in front of it) replaying
	// old answers or running with a wrong clock. Series that stopped
	// being scraped are dropped by Prometheus itself (at once when their
	// target disappears, after its 5-minute lookback otherwise), which
	// makes the query empty and so missing. Default DefaultMaxAge.
	MaxAge time.Duration
	// MaxResponseBytes bounds one response's size: a query that matches
	// a huge vector by mistake fails instead of filling the memory.
	// Default DefaultMaxResponseBytes.
	MaxResponseBytes int64

	// Clock reads the time; defaults to the real clock.
	Clock clock.PassiveClock
	// Logger receives warnings the server attaches to answers and the
	// reasons metrics are missing, at debug level; defaults to discarding.
	Logger *slog.Logger
}

// Prometheus is an autoscaler.MetricSource that reads the Snapshot from a
// Prometheus server with PromQL. It is safe for concurrent use.
type Prometheus struct {
	api          v1.API
	url          string
	queries      []namedQuery
	clock        clock.PassiveClock
	log          *slog.Logger
	maxAge       time.Duration
	closeIdleFns []func()
}

// namedQuery is a query with its place in the snapshot.
type namedQuery struct {
	name    string
	expr    string
	timeout time.Duration
	custom  bool
	// disabled queries are reported missing without asking the server.
	disabled bool
}

// CPUQuery returns the default CPU query: the share of CPU time that was
// not idle, over every CPU of the selected nodes, in percent.
//
// It divides the idle seconds by all CPU seconds counted (every mode),
// rather than computing 1 - avg(rate(idle)): the two agree once the rate
// window is full of samples, but rate() divides by the whole window, so on
// series younger than the window (a Prometheus just started, a node that
// just joined) the idle rate reads low and the utilisation high, close to
// 100% on a node a minute old. The ratio of two rates over the same
// samples does not depend on how much of the window is covered. (The
// original design's avg(rate(node_cpu_seconds_total{mode!="idle"}[5m]))
// averages over every mode and reads about 7 times too low.)
func CPUQuery(nodeSelector string, window time.Duration) string {
	w := promDuration(window)
	return fmt.Sprintf(`(1 - sum(rate(node_cpu_seconds_total{%s}[%s])) / sum(rate(node_cpu_seconds_total{%s}[%s]))) * 100`,
		joinMatchers(`mode="idle"`, nodeSelector), w, nodeSelector, w)
}

// metricCPUNodes names the count of nodes under the default CPU query.
const metricCPUNodes = "cpu_nodes"

// CPUNodesQuery returns how many nodes CPUQuery averages over: the nodes
// whose node_exporter answered within window.
func CPUNodesQuery(nodeSelector string, window time.Duration) string {
	return fmt.Sprintf(`count(count by (instance) (rate(node_cpu_seconds_total{%s}[%s])))`,
		joinMatchers(`mode="idle"`, nodeSelector), promDuration(window))
}

// MemoryQuery returns the default memory query: the average over the
// selected nodes of the share of memory not available, in percent.
func MemoryQuery(nodeSelector string) string {
	return fmt.Sprintf(`(1 - avg(node_memory_MemAvailable_bytes{%s} / node_memory_MemTotal_bytes{%s})) * 100`,
		nodeSelector, nodeSelector)
}

// PendingPodsQuery is the default pending-pods query: kube-state-metrics'
// count of pods in phase Pending (which includes scheduled pods still
// starting; see the package documentation for KubePending).
const PendingPodsQuery = `sum(kube_pod_status_phase{phase="Pending"})`

// APILatencyQuery returns the default API latency query: the p99 of the
// API server's request durations over window, leaving out the
// long-running WATCH and CONNECT requests whose durations are not
// latencies.
func APILatencyQuery(window time.Duration) string {
	return fmt.Sprintf(`histogram_quantile(0.99, sum by (le) (rate(apiserver_request_duration_seconds_bucket{verb!~"WATCH|CONNECT"}[%s])))`,
		promDuration(window))
}

func joinMatchers(a, b string) string {
	if strings.TrimSpace(b) == "" {
		return a
	}
	return a + "," + b
}

// promDuration writes d as a PromQL duration ("5m", "90s", "1500ms").
func promDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	default:
		return fmt.Sprintf("%dms", d/time.Millisecond)
	}
}

// NewPrometheus checks cfg and returns a Prometheus source. It does not
// contact the server. Every problem with cfg is reported, each naming its
// setting.
func NewPrometheus(cfg Config) (*Prometheus, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	cfg.check(bad)
	queries := cfg.queries(bad)
	httpClient, herrs := httpClient(&cfg)
	errs = append(errs, herrs...)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("metrics.Prometheus config: %w", err)
	}

	httpClient.Transport = limitedTransport{rt: httpClient.Transport, limit: cfg.MaxResponseBytes}
	client, err := api.NewClient(api.Config{Address: cfg.URL, Client: httpClient})
	if err != nil {
		return nil, fmt.Errorf("metrics.Prometheus config: URL: %w", err)
	}
	p := newPrometheus(client, cfg, queries)
	p.closeIdleFns = append(p.closeIdleFns, httpClient.CloseIdleConnections)
	return p, nil
}

// check reports to bad what is wrong with cfg's URL, rate window, query
// timeout, age and response limits and node selector, after setting the
// defaults of those unset.
func (cfg *Config) check(bad func(format string, args ...any)) {
	if err := checkURL(cfg.URL); err != nil {
		bad("URL: %w", err)
	}
	if cfg.RateWindow == 0 {
		cfg.RateWindow = DefaultRateWindow
	} else if cfg.RateWindow < time.Millisecond {
		bad("RateWindow must be at least 1ms, got %s", cfg.RateWindow)
	}
	if cfg.QueryTimeout == 0 {
		cfg.QueryTimeout = DefaultQueryTimeout
	} else if cfg.QueryTimeout < 0 {
		bad("QueryTimeout must be positive, got %s", cfg.QueryTimeout)
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = DefaultMaxAge
	} else if cfg.MaxAge < 0 {
		bad("MaxAge must be positive, got %s", cfg.MaxAge)
	}
	if cfg.MaxResponseBytes == 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	} else if cfg.MaxResponseBytes < 0 {
		bad("MaxResponseBytes must be positive, got %d", cfg.MaxResponseBytes)
	}
	if cfg.NodeSelector != "" {
		if err := checkMatchers(cfg.NodeSelector); err != nil {
			bad("NodeSelector %q: %w", cfg.NodeSelector, err)
		}
	}
}

// queries returns cfg's queries, the shipped ones (their defaults where
// cfg sets no expression) and then the custom ones by name, and reports
// to bad what is wrong with each.
func (cfg *Config) queries(bad func(format string, args ...any)) []namedQuery {
	var queries []namedQuery
	add := func(setting, name string, q Query, def string, custom bool) {
		nq := namedQuery{name: name, expr: q.Expr, timeout: q.Timeout, custom: custom, disabled: q.Disabled}
		if nq.expr == "" {
			nq.expr = def
		}
		if nq.timeout == 0 {
			nq.timeout = cfg.QueryTimeout
		}
		if q.Timeout < 0 {
			bad("%s.Timeout must be positive, got %s", setting, q.Timeout)
		}
		if !q.Disabled {
			if nq.expr == "" {
				bad("%s.Expr is required", setting)
			} else if err := checkPromQL(nq.expr); err != nil {
				bad("%s.Expr %q: %w", setting, nq.expr, err)
			}
		}
		queries = append(queries, nq)
	}
	add("CPU", autoscaler.MetricCPU, cfg.CPU, CPUQuery(cfg.NodeSelector, cfg.RateWindow), false)
	if cfg.CPU.Expr == "" && !cfg.CPU.Disabled {
		// How many nodes the default CPU query averages over, for the
		// tick to compare with the Ready nodes.
		add("CPU", metricCPUNodes, Query{Timeout: cfg.CPU.Timeout}, CPUNodesQuery(cfg.NodeSelector, cfg.RateWindow), false)
	}
	add("Memory", autoscaler.MetricMemory, cfg.Memory, MemoryQuery(cfg.NodeSelector), false)
	add("PendingPods", autoscaler.MetricPendingPods, cfg.PendingPods, PendingPodsQuery, false)
	add("APILatency", autoscaler.MetricAPILatency, cfg.APILatency, APILatencyQuery(cfg.RateWindow), false)
	names := make([]string, 0, len(cfg.Custom))
	for name := range cfg.Custom {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if strings.TrimSpace(name) == "" {
			bad("Custom: a query has an empty name")
			continue
		}
		add(fmt.Sprintf("Custom[%q]", name), name, cfg.Custom[name], "", true)
	}
	return queries
}

func newPrometheus(client api.Client, cfg Config, queries []namedQuery) *Prometheus {
	p := &Prometheus{api: v1.NewAPI(client), url: cfg.URL, queries: queries, clock: cfg.Clock, log: cfg.Logger, maxAge: cfg.MaxAge}
	if p.clock == nil {
		p.clock = clock.RealClock{}
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	return p
}

// Queries returns the PromQL of every query the source runs, by metric
// name (custom queries under their own names), disabled ones left out.
func (p *Prometheus) Queries() map[string]string {
	out := make(map[string]string, len(p.queries))
	for _, q := range p.queries {
		if !q.disabled {
			out[q.name] = q.expr
		}
	}
	return out
}

// Close releases idle connections. The source remains usable.
func (p *Prometheus) Close() {
	for _, f := range p.closeIdleFns {
		f()
	}
}

// Collect runs every query concurrently, each bounded by its timeout and
// by ctx, and returns the readings. A query that fails for any reason
// leaves its metric missing, with an error wrapping autoscaler.ErrNoData
// that says why. Collect returns an error (wrapping ErrNoData, and ctx's
// error when ctx ended) only when no query succeeded; the snapshot then
// has every metric missing.
func (p *Prometheus) Collect(ctx context.Context) (autoscaler.Snapshot, error) {
	snap := autoscaler.Snapshot{Time: p.clock.Now()}
	results := make([]autoscaler.Metric, len(p.queries))
	var wg sync.WaitGroup
	for i, q := range p.queries {
		if q.disabled {
			results[i] = autoscaler.Missing(fmt.Errorf("%s: query disabled: %w", q.name, autoscaler.ErrNoData))
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = p.run(ctx, q)
		}()
	}
	wg.Wait()

	ok, asked := 0, 0
	var firstErr error
	for i, q := range p.queries {
		m := results[i]
		if !q.disabled {
			asked++
			if m.OK {
				ok++
			} else if firstErr == nil {
				firstErr = m.Err
			}
		}
		if !m.OK {
			p.log.DebugContext(ctx, "metric missing", "metric", q.name, "err", m.Err)
		}
		switch {
		case q.custom:
			if snap.Custom == nil {
				snap.Custom = make(map[string]autoscaler.Metric)
			}
			snap.Custom[q.name] = m
		case q.name == autoscaler.MetricCPU:
			snap.CPU = m
		case q.name == autoscaler.MetricMemory:
			snap.Memory = m
		case q.name == metricCPUNodes:
			snap.CPUNodes = m
		case q.name == autoscaler.MetricPendingPods:
			snap.PendingPods = m
		case q.name == autoscaler.MetricAPILatency:
			snap.APILatency = m
		}
	}
	if asked > 0 && ok == 0 {
		err := fmt.Errorf("prometheus %s: no query succeeded: %w", p.url, firstErr)
		if cerr := ctx.Err(); cerr != nil {
			err = fmt.Errorf("prometheus %s: %w (%w)", p.url, cerr, autoscaler.ErrNoData)
		}
		return snap, err
	}
	return snap, nil
}

// run evaluates one query and turns its answer into a Metric.
func (p *Prometheus) run(ctx context.Context, q namedQuery) autoscaler.Metric {
	qctx, cancel := context.WithTimeout(ctx, q.timeout)
	defer cancel()
	// No evaluation time: Prometheus evaluates at its own now, and the
	// answer's timestamp says when that was (see Config.MaxAge).
	val, warnings, _, err := p.api.Query(qctx, q.expr, time.Time{}, v1.WithTimeout(q.timeout))
	if len(warnings) > 0 {
		p.log.WarnContext(ctx, "prometheus warnings", "metric", q.name, "warnings", warnings)
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("timed out after %s: %w", q.timeout, err)
		}
		return autoscaler.Missing(fmt.Errorf("%s: query failed: %w: %w", q.name, autoscaler.ErrNoData, err))
	}
	v, at, err := reading(val)
	if err != nil {
		return autoscaler.Missing(fmt.Errorf("%s: %w: %w", q.name, autoscaler.ErrNoData, err))
	}
	if age := p.clock.Since(at); age > p.maxAge || -age > p.maxAge {
		return autoscaler.Missing(fmt.Errorf("%s: %w: stale answer: evaluated at %s, %s from now (limit %s)",
			q.name, autoscaler.ErrNoData, at.UTC().Format(time.RFC3339), age.Round(time.Second), p.maxAge))
	}
	return autoscaler.Value(v, at)
}

// limitedTransport fails a response whose body is larger than limit.
type limitedTransport struct {
	rt    http.RoundTripper
	limit int64
}

func (l limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.rt.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	resp.Body = &limitedBody{rc: resp.Body, left: l.limit}
	return resp, nil
}

// CloseIdleConnections passes the call on to the wrapped transport.
func (l limitedTransport) CloseIdleConnections() { closeIdle(l.rt) }

// errTooLarge is returned when a response exceeds MaxResponseBytes.
var errTooLarge = errors.New("response larger than MaxResponseBytes")

type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// Is there more? Then the limit is exceeded.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, errTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// checkURL accepts an absolute http or https URL with a host.
func checkURL(raw string) error {
	if raw == "" {
		return errors.New("is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q does not parse: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q has no http:// or https:// scheme (write e.g. http://%s)", raw, strings.TrimPrefix(raw, "//"))
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q has a query or fragment; give the server's base URL", raw)
	}
	return nil
}
