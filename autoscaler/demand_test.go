package autoscaler_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/capacity"
)

func TestDemandIsReadTheSameNowAndFromTheHistory(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	tpl := capacity.WorkerTemplate{Allocatable: capacity.Resources{MilliCPU: 2000, Memory: 4 << 30, Pods: 110}}
	v := capacity.NewSchedulerView(tpl, capacity.Resources{MilliCPU: 3000, Memory: 1 << 30},
		[]capacity.PendingPod{{Name: "a", Requests: capacity.Resources{MilliCPU: 1000, Memory: 1 << 30, Pods: 1}}})
	s := autoscaler.Snapshot{Time: now, Scheduler: v}.WithDemand()
	d, ok := s.Demand()
	if !ok || d != 2 {
		t.Errorf("Demand = %v, %v; want 2 workers (4 CPU of 2)", d, ok)
	}
	if m := s.Custom[autoscaler.MetricDemand]; !m.OK || m.Value != d {
		t.Errorf("WithDemand put %v among the custom metrics, want %v", m, d)
	}
	if r := (autoscaler.Record{Custom: map[string]float64{autoscaler.MetricDemand: d}}); r.Demand() != d {
		t.Errorf("Record.Demand = %v", r.Demand())
	}
	// Missing is never zero.
	for name, s := range map[string]autoscaler.Snapshot{
		"no view":          {Time: now},
		"unknown template": {Time: now, Scheduler: &capacity.SchedulerView{Demand: 3}},
	} {
		if _, ok := s.Demand(); ok {
			t.Errorf("%s: Demand reports a demand", name)
		}
		if w := s.WithDemand(); w.Custom != nil {
			t.Errorf("%s: WithDemand added %v", name, w.Custom)
		}
	}
	if v := (autoscaler.Record{}).Demand(); !math.IsNaN(v) {
		t.Errorf("Record.Demand of a record without it = %v, want NaN", v)
	}
}

// A MetricSource that builds the scheduler's view passes its snapshot
// through WithDemand, so that the tick records the demand in the history
// where forecasting policies read it back.
func ExampleSnapshot_WithDemand() {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	tpl := capacity.WorkerTemplate{InstanceType: "t3.medium", Allocatable: capacity.Resources{MilliCPU: 1930, Memory: 3 << 30, Pods: 110},
		DaemonSet: capacity.Resources{MilliCPU: 100, Memory: 128 << 20, Pods: 1}}
	running := capacity.Resources{MilliCPU: 2500, Memory: 3 << 30, Pods: 6}
	pending := []capacity.PendingPod{{Namespace: "shop", Name: "checkout-7", Requests: capacity.Resources{MilliCPU: 500, Memory: 1 << 30, Pods: 1}}}
	s := autoscaler.Snapshot{Time: now, Scheduler: capacity.NewSchedulerView(tpl, running, pending)}.WithDemand()
	d, _ := s.Demand()
	fmt.Printf("demand %.2f workers, %d new worker(s) for the pending pod, recorded as %s=%.2f\n",
		d, s.Scheduler.NodesNeeded, autoscaler.MetricDemand, s.Custom[autoscaler.MetricDemand].Value)
	// Output: demand 1.64 workers, 1 new worker(s) for the pending pod, recorded as scheduler_demand=1.64
}
