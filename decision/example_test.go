package decision_test

import (
	"fmt"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/decision"
)

// The original design's policy on three observations.
func ExampleThreshold() {
	now := time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC)
	p := decision.Default()
	for _, s := range []struct{ cpu, mem, pending float64 }{{55, 60, 3}, {82, 60, 0}, {12, 30, 0}} {
		in := autoscaler.PolicyInput{Now: now, Snapshot: autoscaler.Snapshot{
			CPU:         autoscaler.Value(s.cpu, now),
			Memory:      autoscaler.Value(s.mem, now),
			PendingPods: autoscaler.Value(s.pending, now),
		}}
		fmt.Println(p.Decide(in))
	}
	// Output:
	// scale_up 2 (CRITICAL): 3 pending pods
	// scale_up 1 (HIGH_LOAD): CPU 82.0% above 70%
	// scale_down 1 (LOW_LOAD): CPU 12.0% below 30%, memory 30.0% below 50%, no pending pods
}

// A user's policy on a custom metric, composed with the default: the
// queue policy is asked first.
func ExampleFirstOf() {
	now := time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC)
	queue := autoscaler.PolicyFunc(func(in autoscaler.PolicyInput) autoscaler.Decision {
		if m, ok := in.Snapshot.Custom["queue_depth"]; ok && m.OK && m.Value > 1000 {
			return autoscaler.Decision{Action: autoscaler.ScaleUp, Count: 3, Reason: fmt.Sprintf("queue depth %.0f", m.Value)}
		}
		return autoscaler.HoldBecause("queue short")
	})
	p := decision.FirstOf(queue, decision.Default())
	in := autoscaler.PolicyInput{Now: now, Snapshot: autoscaler.Snapshot{
		CPU:         autoscaler.Value(40, now),
		Memory:      autoscaler.Value(60, now),
		PendingPods: autoscaler.Value(0, now),
		Custom:      map[string]autoscaler.Metric{"queue_depth": autoscaler.Value(2500, now)},
	}}
	fmt.Println(p.Decide(in))
	// Output: scale_up 3: queue depth 2500
}
