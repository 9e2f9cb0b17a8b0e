package sim_test

import (
	"context"
	"fmt"
	"math"

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
