package autoscaler

import (
	"fmt"
	"math"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler/capacity"
)

// Metric is one reading of a metric. A missing reading (OK false) is never
// zero: it is absent, and Err says why.
type Metric struct {
	// Value is the reading; meaningful only when OK.
	Value float64
	// OK is true when Value holds a real, finite reading.
	OK bool
	// At is when the reading was taken (the sample's timestamp).
	At time.Time
	// Err says why the reading is missing, when !OK.
	Err error
}

// Value returns a present reading taken at t.
func Value(v float64, t time.Time) Metric { return Metric{Value: v, OK: true, At: t} }

// Missing returns an absent reading, with the reason.
func Missing(err error) Metric {
	if err == nil {
		err = ErrNoData
	}
	return Metric{Err: err}
}

// String prints the value, or "missing".
func (m Metric) String() string {
	if !m.OK {
		return "missing"
	}
	return fmt.Sprintf("%.4g", m.Value)
}

// Names of the metrics in a Snapshot (the core ones and the demand), as
// used in error messages, Snapshot.Missing and custom-metric maps.
const (
	MetricCPU         = "cpu"
	MetricMemory      = "memory"
	MetricPendingPods = "pending_pods"
	MetricAPILatency  = "api_latency_p99"
	// MetricDemand is the name under which a snapshot's scheduler Demand
	// (in worker units) is kept among the custom metrics (Snapshot.Custom,
	// and so Record.Custom in the decision history), where forecasting
	// policies read its past. WithDemand puts it there.
	MetricDemand = "scheduler_demand"
)

// Snapshot is one observation of the cluster's load. Every field is a
// Metric, so that a missing value can never be mistaken for zero.
type Snapshot struct {
	// Time is when the snapshot was collected.
	Time time.Time
	// CPU is the workers' average CPU utilisation in percent (0-100).
	CPU Metric
	// Memory is the workers' average memory utilisation in percent (0-100).
	Memory Metric
	// PendingPods is the number of pods waiting for capacity.
	PendingPods Metric
	// APILatency is the API server's p99 request latency in seconds.
	// It is informational: its absence alone does not enter safety mode.
	APILatency Metric
	// Custom holds user-defined metrics by name (queue depth, request
	// rate...), for custom policies.
	Custom map[string]Metric
	// CPUNodes is how many nodes the CPU reading averages over (their
	// node_exporter series), when the source knows it. Fewer than the
	// Ready nodes means exporters are down and the average is of the
	// others (the busiest nodes may be the ones not answering): the tick
	// then enters safety mode.
	CPUNodes Metric
	// Scheduler is the scheduler's view (pending pods with their
	// requests, the new worker's template), when the source provides it;
	// nil otherwise.
	Scheduler *capacity.SchedulerView
	// Failed names the sources of the snapshot that could not be
	// collected, each with its error (metrics.Merge: the core source or
	// an extra that failed). Any entry is a problem (Problems): a policy may be
	// reading one of their metrics, now absent, so no scale-down.
	Failed []string `json:",omitempty"`
}

// Missing lists the names of the core metrics (cpu, memory, pending_pods)
// that have no reading, in that order.
func (s Snapshot) Missing() []string {
	var out []string
	for _, m := range []struct {
		name string
		m    Metric
	}{{MetricCPU, s.CPU}, {MetricMemory, s.Memory}, {MetricPendingPods, s.PendingPods}} {
		if !m.m.OK {
			out = append(out, m.name)
		}
	}
	return out
}

// Problems lists what is wrong with the snapshot's core metrics at time now:
// missing readings, readings older than maxAge (when maxAge > 0), and
// nonsense (NaN, infinities, percentages outside 0-100, negative pod counts),
// and the sources that failed (Failed).
// An empty list means the snapshot can be trusted for scaling down.
func (s Snapshot) Problems(now time.Time, maxAge time.Duration) []string {
	var out []string
	check := func(name string, m Metric, lo, hi float64) {
		switch {
		case !m.OK:
			reason := "missing"
			if m.Err != nil {
				reason = "missing: " + m.Err.Error()
			}
			out = append(out, name+" "+reason)
		case math.IsNaN(m.Value) || math.IsInf(m.Value, 0):
			out = append(out, fmt.Sprintf("%s is %v", name, m.Value))
		case m.Value < lo || m.Value > hi:
			out = append(out, fmt.Sprintf("%s %.4g is outside [%g, %g]", name, m.Value, lo, hi))
		case maxAge > 0 && !m.At.IsZero() && now.Sub(m.At) > maxAge:
			out = append(out, fmt.Sprintf("%s is stale (%s old, limit %s)", name, now.Sub(m.At).Round(time.Second), maxAge))
		}
	}
	// A little above 100% is tolerated: rate() over counters can overshoot.
	check(MetricCPU, s.CPU, 0, 105)
	check(MetricMemory, s.Memory, 0, 105)
	check(MetricPendingPods, s.PendingPods, 0, math.MaxInt32)
	for _, f := range s.Failed {
		out = append(out, "source failed: "+f)
	}
	return out
}
