package sim_test

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/sim"
)

// A custom policy measured on the built-in day: it keeps the nodes the
// scheduler's demand needs plus one spare, and the report says what that
// cost beside a static fleet and how much demand it left unserved.
func ExampleMeasure() {
	spare := autoscaler.PolicyFunc(func(in autoscaler.PolicyInput) autoscaler.Decision {
		v := in.Snapshot.Scheduler
		if v == nil {
			return autoscaler.HoldBecause("no scheduler view")
		}
		want := int(math.Ceil(v.Demand)) + 1
		switch {
		case want > in.ReadyNodes:
			return autoscaler.Decision{Action: autoscaler.ScaleUp, Count: want - in.ReadyNodes, Reason: "demand plus one spare"}
		case want < in.ReadyNodes:
			return autoscaler.Decision{Action: autoscaler.ScaleDown, Count: 1, Reason: "more than demand plus one spare"}
		}
		return autoscaler.HoldBecause("demand plus one spare fits")
	})
	rep, err := sim.Measure(context.Background(), sim.BuiltinDay(), spare, sim.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("cost $%.2f (static fleet $%.2f), unserved %.2f%% of the demand\n", rep.CostUSD, rep.StaticCostUSD, rep.UnservedPct())
	// Output: cost $1.13 (static fleet $3.00), unserved 0.61% of the demand
}

// Your cluster's history (here six hours written in code; a CSV or JSON
// export through LoadHistory, or Prometheus through QueryHistory) replayed
// through your own policy, beside what the cluster cost.
func ExampleHistory_Demand() {
	start := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	h := sim.History{Name: "shop", Step: 5 * time.Minute}
	for i := range 6 * 12 {
		cores := 2 + 6*math.Exp(-math.Pow(float64(i-36)/12, 2)) // a midday bump
		h.Samples = append(h.Samples, sim.HistorySample{Time: start.Add(time.Duration(i) * h.Step),
			CPU: cores, Memory: cores * (1 << 30), Types: map[string]int{"t3.medium": 6}})
	}
	actual, err := h.Cost(func(string) (float64, bool) { return 0.0125, true })
	if err != nil {
		fmt.Println(err)
		return
	}
	demand, err := h.Demand(sim.DefaultModel(), sim.DefaultPodsPerNode)
	if err != nil {
		fmt.Println(err)
		return
	}
	mine := autoscaler.PolicyFunc(func(in autoscaler.PolicyInput) autoscaler.Decision {
		if v := in.Snapshot.Scheduler; v != nil && v.NodesNeeded > 0 {
			return autoscaler.Decision{Action: autoscaler.ScaleUp, Count: v.NodesNeeded, Reason: "pending pods"}
		}
		if v := in.Snapshot.Scheduler; v != nil && float64(in.ReadyNodes) > v.Demand+1.5 {
			return autoscaler.Decision{Action: autoscaler.ScaleDown, Count: 1, Reason: "more than a spare node"}
		}
		return autoscaler.HoldBecause("fits")
	})
	rep, err := sim.Measure(context.Background(), demand, mine, sim.Config{InitialNodes: 6})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("actual $%.2f; mine $%.2f, unserved %.2f%%\n", actual, rep.CostUSD, rep.UnservedPct())
	// Output: actual $0.45; mine $0.28, unserved 0.02%
}
