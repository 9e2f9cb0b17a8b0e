package decision

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/capacity"
)

var rt0 = time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC)

// obs is an observation for the capacity policies, in tenthPods (a
// tenth of a worker each, see tenthView): running on the workers and
// pending; noView leaves the scheduler's view out.
type obs struct {
	ready            int
	running, pending int
	noView           bool
	booting          int
}

func (o obs) input() autoscaler.PolicyInput {
	s := autoscaler.Snapshot{Time: rt0, CPU: autoscaler.Value(50, rt0), Memory: autoscaler.Value(50, rt0), PendingPods: autoscaler.Value(float64(o.pending), rt0)}
	if !o.noView {
		s.Scheduler = tenthView(o.running, o.pending)
	}
	return autoscaler.PolicyInput{Now: rt0, Snapshot: s, ReadyNodes: o.ready, Booting: o.booting, MinNodes: 2, MaxNodes: 40}
}

func TestReactive(t *testing.T) {
	big := capacity.Resources{MilliCPU: 1500, Memory: 1 << 30, Pods: 1}
	for _, tt := range []struct {
		name   string
		cfg    ReactiveConfig
		in     autoscaler.PolicyInput
		action autoscaler.Action
		count  int
		reason string
	}{
		{"pending pods get exactly their nodes", ReactiveConfig{}, obs{ready: 3, running: 30, pending: 11}.input(), autoscaler.ScaleUp, 2, "11 pending pods need 2"},
		{"one pending pod, one node", ReactiveConfig{}, obs{ready: 3, running: 30, pending: 1}.input(), autoscaler.ScaleUp, 1, ""},
		{"demand fits exactly", ReactiveConfig{}, obs{ready: 3, running: 30}.input(), autoscaler.Hold, 0, "fits the 3 Ready"},
		{"headroom adds nodes before pods pend", ReactiveConfig{Headroom: 0.3}, obs{ready: 3, running: 30}.input(), autoscaler.ScaleUp, 1, "+30%"},
		{"nodes whose pods fit elsewhere go", ReactiveConfig{}, obs{ready: 5, running: 20}.input(), autoscaler.ScaleDown, 3, "fits 2 nodes"},
		{"utilisation threshold keeps them", ReactiveConfig{ScaleDownUtilization: 0.5}, obs{ready: 5, running: 30}.input(), autoscaler.Hold, 0, "not below 50%"},
		{"below the threshold they go", ReactiveConfig{ScaleDownUtilization: 0.5}, obs{ready: 5, running: 20}.input(), autoscaler.ScaleDown, 3, ""},
		// Pods that pend beside idle nodes (affinity, size) still get
		// a node of their own, as with cluster-autoscaler.
		{"pending pods beside idle nodes", ReactiveConfig{}, obs{ready: 5, running: 5, pending: 3}.input(), autoscaler.ScaleUp, 1, "3 pending"},
		// Three pods of 1.5 CPU: 2.25 workers by their sum, but one
		// worker each by how they pack.
		{"packing, not the sum", ReactiveConfig{}, autoscaler.PolicyInput{Now: rt0, ReadyNodes: 2, Snapshot: autoscaler.Snapshot{Time: rt0,
			Scheduler: capacity.NewSchedulerView(tenthTemplate, capacity.Resources{}, []capacity.PendingPod{
				{Name: "a", Requests: big}, {Name: "b", Requests: big}, {Name: "c", Requests: big}})}}, autoscaler.ScaleUp, 3, "need 3"},
		{"an unplaceable pod adds nothing", ReactiveConfig{}, autoscaler.PolicyInput{Now: rt0, ReadyNodes: 2, Snapshot: autoscaler.Snapshot{Time: rt0,
			Scheduler: capacity.NewSchedulerView(tenthTemplate, capacity.Resources{MilliCPU: 3000, Memory: 1 << 30}, []capacity.PendingPod{
				{Name: "huge", Requests: capacity.Resources{MilliCPU: 6000, Pods: 1}}})}}, autoscaler.Hold, 0, "fits the 2 Ready"},
		{"no view, pending pods: hold, no guess", ReactiveConfig{}, obs{ready: 2, pending: 25, noView: true}.input(), autoscaler.Hold, 0, "demand unknown"},
		{"unknown template, pods needing nodes", ReactiveConfig{}, autoscaler.PolicyInput{Now: rt0, ReadyNodes: 2, Snapshot: autoscaler.Snapshot{Time: rt0,
			Scheduler: &capacity.SchedulerView{NodesNeeded: 2, Pending: []capacity.PendingPod{{Name: "a"}}}}}, autoscaler.ScaleUp, 2, "demand unknown"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewReactive(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			d := p.Decide(tt.in)
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
	_, err := NewReactive(ReactiveConfig{Headroom: -0.1, ScaleDownUtilization: 2})
	for _, want := range []string{"Headroom must be", "ScaleDownUtilization must be"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
	p, err := NewReactive(ReactiveConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if c := p.Config(); c.ScaleDownUtilization != 1 {
		t.Errorf("defaults not filled in: %+v", c)
	}
}
