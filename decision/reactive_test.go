package decision

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/node-fleet/node-fleet/autoscaler"
)

var rt0 = time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC)

// obs is an observation for the capacity policies: demand < 0 leaves the
// demand metric out; cpu or pending < 0 leaves them missing.
type obs struct {
	ready           int
	cpu, pending    float64
	demand, perNode float64
	booting         int
}

func (o obs) input() autoscaler.PolicyInput {
	m := func(v float64) autoscaler.Metric {
		if v < 0 {
			return autoscaler.Missing(nil)
		}
		return autoscaler.Value(v, rt0)
	}
	s := autoscaler.Snapshot{Time: rt0, CPU: m(o.cpu), Memory: m(50), PendingPods: m(o.pending), Custom: map[string]autoscaler.Metric{}}
	if o.demand >= 0 {
		s.Custom[DefaultDemandMetric] = autoscaler.Value(o.demand, rt0)
	}
	if o.perNode > 0 {
		s.Custom["pods_per_node"] = autoscaler.Value(o.perNode, rt0)
	}
	return autoscaler.PolicyInput{Now: rt0, Snapshot: s, ReadyNodes: o.ready, Booting: o.booting, MinNodes: 2, MaxNodes: 40}
}

func TestReactive(t *testing.T) {
	for _, tt := range []struct {
		name   string
		cfg    ReactiveConfig
		in     obs
		action autoscaler.Action
		count  int
		reason string
	}{
		{"pending pods get exactly their nodes", ReactiveConfig{PodsPerNode: 10}, obs{ready: 3, cpu: 100, pending: 11, demand: 41}, autoscaler.ScaleUp, 2, "11 pending"},
		{"one pending pod, one node", ReactiveConfig{PodsPerNode: 10}, obs{ready: 3, cpu: 100, pending: 1, demand: 31}, autoscaler.ScaleUp, 1, ""},
		{"demand fits exactly", ReactiveConfig{PodsPerNode: 10}, obs{ready: 3, cpu: 100, pending: 0, demand: 30}, autoscaler.Hold, 0, "fits the 3 Ready"},
		{"headroom adds nodes before pods pend", ReactiveConfig{PodsPerNode: 10, Headroom: 0.3}, obs{ready: 3, cpu: 100, pending: 0, demand: 30}, autoscaler.ScaleUp, 1, "+30%"},
		{"nodes whose pods fit elsewhere go", ReactiveConfig{PodsPerNode: 10}, obs{ready: 5, cpu: 40, pending: 0, demand: 20}, autoscaler.ScaleDown, 3, "fits 2 nodes"},
		{"utilisation threshold keeps them", ReactiveConfig{PodsPerNode: 10, ScaleDownUtilization: 0.5}, obs{ready: 5, cpu: 60, pending: 0, demand: 30}, autoscaler.Hold, 0, "not below 50%"},
		{"below the threshold they go", ReactiveConfig{PodsPerNode: 10, ScaleDownUtilization: 0.5}, obs{ready: 5, cpu: 40, pending: 0, demand: 20}, autoscaler.ScaleDown, 3, ""},
		{"no demand metric: cpu and pending", ReactiveConfig{PodsPerNode: 10}, obs{ready: 4, cpu: 50, pending: 0, demand: -1}, autoscaler.ScaleDown, 2, "cpu+pending"},
		{"no demand metric, pods pending", ReactiveConfig{PodsPerNode: 10}, obs{ready: 2, cpu: 100, pending: 25, demand: -1}, autoscaler.ScaleUp, 3, "cpu+pending"},
		{"nothing known, pods pending", ReactiveConfig{PodsPerNode: 10}, obs{ready: 2, cpu: -1, pending: 25, demand: -1}, autoscaler.ScaleUp, 3, "demand unknown"},
		{"nothing known at all", ReactiveConfig{PodsPerNode: 10}, obs{ready: 2, cpu: -1, pending: -1, demand: -1}, autoscaler.Hold, 0, "demand unknown"},
		{"pods per node from a metric", ReactiveConfig{PodsPerNodeMetric: "pods_per_node"}, obs{ready: 2, cpu: 100, pending: 40, demand: 80, perNode: 20}, autoscaler.ScaleUp, 2, ""},
		{"metric missing, fallback", ReactiveConfig{PodsPerNodeMetric: "pods_per_node", PodsPerNode: 10}, obs{ready: 2, cpu: 100, pending: 40, demand: 60}, autoscaler.ScaleUp, 4, ""},
		{"metric missing, no fallback", ReactiveConfig{PodsPerNodeMetric: "pods_per_node"}, obs{ready: 2, cpu: 100, pending: 40, demand: 60}, autoscaler.Hold, 0, "pods per node unknown"},
		// Pods that pend beside idle nodes (affinity, size) still get
		// a node of their own, as with cluster-autoscaler.
		{"pending pods beside idle nodes", ReactiveConfig{PodsPerNode: 10}, obs{ready: 5, cpu: 10, pending: 3, demand: 8}, autoscaler.ScaleUp, 1, "3 pending"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewReactive(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			d := p.Decide(tt.in.input())
			if diff := cmp.Diff([]any{tt.action, tt.count}, []any{d.Action, d.Count}); diff != "" {
				t.Errorf("%s (-want +got):\n%s", d, diff)
			}
			if !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("reason %q lacks %q", d.Reason, tt.reason)
			}
		})
	}
}

func TestNewReactiveErrors(t *testing.T) {
	_, err := NewReactive(ReactiveConfig{PodsPerNode: -1, Headroom: -0.1, ScaleDownUtilization: 2})
	for _, want := range []string{"PodsPerNode must be positive", "PodsPerNode must not be negative", "Headroom must be", "ScaleDownUtilization must be"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
	p, err := NewReactive(ReactiveConfig{PodsPerNode: 8})
	if err != nil {
		t.Fatal(err)
	}
	if c := p.Config(); c.DemandMetric != DefaultDemandMetric || c.ScaleDownUtilization != 1 {
		t.Errorf("defaults not filled in: %+v", c)
	}
}
