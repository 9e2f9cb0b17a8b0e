package promtest

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Exporter is a scrape target that imitates what kube-state-metrics and
// the API server expose, with values the test sets:
// kube_pod_status_phase{namespace,pod,phase} and the histogram
// apiserver_request_duration_seconds{verb}. It has its own registry and
// registers nothing globally.
type Exporter struct {
	// Addr is host:port on 127.0.0.1, for a Target.
	Addr string
	// Buckets are the latency histogram's upper bounds, in seconds.
	Buckets []float64

	phase    *prometheus.GaugeVec
	latency  *prometheus.HistogramVec
	memAvail *prometheus.GaugeVec
	memTotal *prometheus.GaugeVec
	srv      *httptest.Server
}

// podPhases are the phases kube-state-metrics reports, one series each.
var podPhases = []string{"Pending", "Running", "Succeeded", "Failed", "Unknown"}

// StartExporter serves a new Exporter on a free loopback port until the
// test ends.
func StartExporter(t testing.TB) *Exporter {
	t.Helper()
	reg := prometheus.NewRegistry()
	e := &Exporter{
		Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60},
		phase: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kube_pod_status_phase", Help: "The pods' current phase (test exporter).",
		}, []string{"namespace", "pod", "phase"}),
	}
	e.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "apiserver_request_duration_seconds", Help: "API request latency (test exporter).",
		Buckets: e.Buckets,
	}, []string{"verb"})
	// Vectors without labels: nothing is exposed until NodeMemory is
	// called (a plain Gauge would expose 0, a total memory of 0 bytes).
	e.memAvail = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "node_memory_MemAvailable_bytes", Help: "Available memory (test exporter).",
	}, nil)
	e.memTotal = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "node_memory_MemTotal_bytes", Help: "Total memory (test exporter).",
	}, nil)
	reg.MustRegister(e.phase, e.latency, e.memAvail, e.memTotal)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewUnstartedServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	e.srv.Listener.Close()
	e.srv.Listener = l
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	e.Addr = l.Addr().String()
	return e
}

// SetPods makes the exporter report pending pods in phase Pending and
// running pods in phase Running, in namespace "default", as
// kube-state-metrics does: one series per pod and phase, 1 for the pod's
// phase and 0 for the others. Earlier pods are forgotten.
func (e *Exporter) SetPods(pending, running int) {
	e.phase.Reset()
	set := func(prefix string, n int, phase string) {
		for i := 0; i < n; i++ {
			pod := prefix + "-" + strconv.Itoa(i)
			for _, p := range podPhases {
				v := 0.0
				if p == phase {
					v = 1
				}
				e.phase.WithLabelValues("default", pod, p).Set(v)
			}
		}
	}
	set("pending", pending, "Pending")
	set("running", running, "Running")
}

// Observe records n API requests with the given verb that took seconds.
// With n = 0 it only makes the verb's series appear, with zero counts, so
// that later observations are increases Prometheus can rate().
func (e *Exporter) Observe(verb string, seconds float64, n int) {
	o := e.latency.WithLabelValues(verb)
	for i := 0; i < n; i++ {
		o.Observe(seconds)
	}
}

// Handler returns the exporter's HTTP handler.
func (e *Exporter) Handler() http.Handler { return e.srv.Config.Handler }

// NodeMemory makes the exporter also report node_exporter's two memory
// gauges, node_memory_MemAvailable_bytes and node_memory_MemTotal_bytes,
// with the given values: a stand-in for a node (a K3s server, say) whose
// memory use the test chooses. An exporter never asked for them does not
// report them.
func (e *Exporter) NodeMemory(available, total float64) {
	e.memAvail.WithLabelValues().Set(available)
	e.memTotal.WithLabelValues().Set(total)
}
