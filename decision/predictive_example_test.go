package decision_test

import (
	"fmt"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/decision"
)

// The predictive policy, composed with the reactive one, before a known
// flash sale and on a steady rise. The demand comes from a custom metric
// that the autoscaler also records in the history.
func ExamplePredictive() {
	now := time.Date(2026, 11, 27, 19, 58, 0, 0, time.UTC)
	sale := decision.Event{Name: "flash sale", Start: now.Add(2 * time.Minute), End: now.Add(47 * time.Minute), Factor: 3}
	pred, err := decision.NewPredictive(decision.PredictiveConfig{PodsPerNode: 10, Lead: 4 * time.Minute, Calendar: []decision.Event{sale}})
	if err != nil {
		fmt.Println(err)
		return
	}
	re, err := decision.NewReactive(decision.ReactiveConfig{PodsPerNode: 10})
	if err != nil {
		fmt.Println(err)
		return
	}
	policy := decision.Max(pred, re)

	observe := func(at time.Time, demand, pending float64, ready int, history []autoscaler.Record) autoscaler.PolicyInput {
		return autoscaler.PolicyInput{Now: at, ReadyNodes: ready, History: history, Snapshot: autoscaler.Snapshot{
			Time: at, CPU: autoscaler.Value(100*min(demand, float64(10*ready))/float64(10*ready), at),
			Memory: autoscaler.Value(50, at), PendingPods: autoscaler.Value(pending, at),
			Custom: map[string]autoscaler.Metric{decision.DefaultDemandMetric: autoscaler.Value(demand, at)}}}
	}
	// Half an hour of a steady 24 pods, then the sale is 2 minutes away.
	var history []autoscaler.Record
	for t := now.Add(-30 * time.Minute); t.Before(now); t = t.Add(2 * time.Minute) {
		history = append(history, autoscaler.Record{Time: t, Nodes: 3, Custom: map[string]float64{decision.DefaultDemandMetric: 24}})
	}
	fmt.Println(policy.Decide(observe(now, 24, 0, 3, history)))

	// Another day, no sale: the demand climbs 2 pods a minute. The
	// rises seen (80% of 10 pods within a lead time) are covered too.
	later := now.Add(24 * time.Hour)
	history = nil
	for t := later.Add(-10 * time.Minute); t.Before(later); t = t.Add(2 * time.Minute) {
		history = append(history, autoscaler.Record{Time: t, Nodes: 3, Custom: map[string]float64{decision.DefaultDemandMetric: 30 - 2*later.Sub(t).Minutes()}})
	}
	fmt.Println(policy.Decide(observe(later, 30, 0, 3, history)))
	// Output:
	// scale_up 5 (PREDICTIVE): demand 24 pods, in 4m0s 24 (trend 24), spike cover 0, event flash sale: 72 pods need 8 nodes, 3 Ready
	// scale_up 3 (PREDICTIVE): demand 30 pods, in 4m0s 38 (trend 38), spike cover 24: 54 pods need 6 nodes, 3 Ready
}

// The reactive policy adds exactly the nodes that pending pods need; the
// autoscaler then subtracts the nodes still booting.
func ExampleReactive() {
	now := time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC)
	p, err := decision.NewReactive(decision.ReactiveConfig{PodsPerNode: 10})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, o := range []struct {
		ready        int
		cpu, pending float64
	}{{3, 100, 12}, {6, 40, 0}, {4, 80, 0}} {
		fmt.Println(p.Decide(autoscaler.PolicyInput{Now: now, ReadyNodes: o.ready, Snapshot: autoscaler.Snapshot{
			CPU: autoscaler.Value(o.cpu, now), Memory: autoscaler.Value(50, now), PendingPods: autoscaler.Value(o.pending, now)}}))
	}
	// Output:
	// scale_up 2 (CRITICAL): demand 42 pods (cpu+pending, 12 pending) +0% needs 5 nodes, 3 Ready
	// scale_down 3 (LOW_LOAD): demand 24 pods (cpu+pending) +0% fits 3 nodes, 6 Ready
	// hold: demand 32 pods (cpu+pending, 0 pending) +0% fits the 4 Ready nodes
}
