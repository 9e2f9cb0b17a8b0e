package decision_test

import (
	"fmt"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/decision"
)

// worker is a new worker of 2 CPU and 4 GiB, and pod a pod asking for a
// tenth of it.
var (
	worker = autoscaler.WorkerTemplate{InstanceType: "t3.medium", Allocatable: autoscaler.Resources{MilliCPU: 2000, Memory: 4 << 30, Pods: 110}}
	pod    = autoscaler.Resources{MilliCPU: 200, Memory: 256 << 20, Pods: 1}
)

// view is the scheduler's view of running pods on the workers and pending
// ones, built as metrics.KubeScheduler and the simulator build it.
func view(running, pending int) *autoscaler.SchedulerView {
	var on autoscaler.Resources
	for range running {
		on = on.Add(pod)
	}
	var pp []autoscaler.PendingPod
	for i := range pending {
		pp = append(pp, autoscaler.PendingPod{Namespace: "shop", Name: fmt.Sprintf("web-%d", i), Requests: pod})
	}
	return autoscaler.NewSchedulerView(worker, on, pp)
}

// The predictive policy, composed with the reactive one, before a known
// flash sale and on a steady rise. The demand is the scheduler's view
// (pods' requests in worker units), which the tick also records in the
// history (autoscaler.WithDemand).
func ExamplePredictive() {
	now := time.Date(2026, 11, 27, 19, 58, 0, 0, time.UTC)
	sale := decision.Event{Name: "flash sale", Start: now.Add(2 * time.Minute), End: now.Add(47 * time.Minute), Factor: 3}
	pred, err := decision.NewPredictive(decision.PredictiveConfig{Lead: 4 * time.Minute, Calendar: []decision.Event{sale}})
	if err != nil {
		fmt.Println(err)
		return
	}
	re, err := decision.NewReactive(decision.ReactiveConfig{})
	if err != nil {
		fmt.Println(err)
		return
	}
	policy := decision.Max(pred, re)

	observe := func(at time.Time, running, pending, ready int, history []autoscaler.Record) autoscaler.PolicyInput {
		return autoscaler.PolicyInput{Now: at, ReadyNodes: ready, History: history, Snapshot: autoscaler.Snapshot{
			Time: at, CPU: autoscaler.Value(70, at), Memory: autoscaler.Value(50, at),
			PendingPods: autoscaler.Value(float64(pending), at), Scheduler: view(running, pending)}}
	}
	record := func(t time.Time, nodes float64) autoscaler.Record {
		return autoscaler.Record{Time: t, Nodes: 3, Custom: map[string]float64{autoscaler.MetricDemand: nodes}}
	}
	// Half an hour of a steady 24 pods (2.4 workers), then the sale is 2
	// minutes away.
	var history []autoscaler.Record
	for t := now.Add(-30 * time.Minute); t.Before(now); t = t.Add(2 * time.Minute) {
		history = append(history, record(t, 2.4))
	}
	fmt.Println(policy.Decide(observe(now, 24, 0, 3, history)))

	// Another day, no sale: the demand climbs 2 pods (0.2 workers) a
	// minute. The rises seen (80% of a worker within a lead time) are
	// covered too.
	later := now.Add(24 * time.Hour)
	history = nil
	for t := later.Add(-10 * time.Minute); t.Before(later); t = t.Add(2 * time.Minute) {
		history = append(history, record(t, 3-0.2*later.Sub(t).Minutes()))
	}
	fmt.Println(policy.Decide(observe(later, 30, 0, 3, history)))
	// Output:
	// scale_up 5 (PREDICTIVE): demand 2.40 nodes, in 4m0s 2.40 (trend 2.40), spike cover 0.00, event flash sale: 7.20 nodes' worth needs 8 nodes, 3 Ready
	// scale_up 3 (PREDICTIVE): demand 3.00 nodes, in 4m0s 3.80 (trend 3.80), spike cover 2.40: 5.40 nodes' worth needs 6 nodes, 3 Ready
}

// The reactive policy adds exactly the nodes that pending pods need, by
// their requests packed onto new workers; the autoscaler then subtracts
// the nodes still booting.
func ExampleReactive() {
	now := time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC)
	p, err := decision.NewReactive(decision.ReactiveConfig{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, o := range []struct{ ready, running, pending int }{{3, 30, 12}, {6, 24, 0}, {4, 32, 0}} {
		fmt.Println(p.Decide(autoscaler.PolicyInput{Now: now, ReadyNodes: o.ready, Snapshot: autoscaler.Snapshot{Time: now,
			PendingPods: autoscaler.Value(float64(o.pending), now), Scheduler: view(o.running, o.pending)}}))
	}
	// Output:
	// scale_up 2 (CRITICAL): demand 4.20 nodes (12 pending pods need 2) +0% needs 5 nodes, 3 Ready
	// scale_down 3 (LOW_LOAD): demand 2.40 nodes +0% fits 3 nodes, 6 Ready
	// hold: demand 3.20 nodes (0 pending pods) +0% fits the 4 Ready nodes
}
