package autoscaler_test

import (
	"context"
	"fmt"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
	"github.com/node-fleet/node-fleet/decision"
	clocktesting "k8s.io/utils/clock/testing"
)

// One tick with in-memory parts: three workers, five pods pending. The
// original design's policy adds two nodes.
func Example() {
	clk := clocktesting.NewFakeClock(time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC))
	fleet := fake.NewFleet(clk)
	fleet.BootDelay = 90 * time.Second
	store := fake.NewStore(clk)
	if _, err := fleet.Launch(context.Background(), autoscaler.LaunchRequest{OperationID: "initial", Count: 3}); err != nil {
		fmt.Println(err)
		return
	}
	clk.Step(10 * time.Minute) // the first three have joined

	metrics := &fake.Metrics{}
	now := clk.Now()
	metrics.Set(autoscaler.Snapshot{
		Time:        now,
		CPU:         autoscaler.Value(64, now),
		Memory:      autoscaler.Value(58, now),
		PendingPods: autoscaler.Value(5, now),
	})

	cfg := autoscaler.DefaultConfig()
	cfg.ClusterID = "shop"
	cfg.Metrics = metrics
	cfg.Policy = decision.Default()
	cfg.Locker, cfg.State = store, store
	cfg.Fleet = fleet
	cfg.Nodes = fake.NewNodes(clk, fleet)
	cfg.Clock = clk
	as, err := autoscaler.New(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := as.RunOnce(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Outcome, len(res.Launched()))
	fmt.Println(res.Decision)

	// Two minutes later the pods are still pending, but the new nodes are
	// still booting: they already count, nothing is launched twice.
	clk.Step(time.Minute)
	res, _ = as.RunOnce(context.Background())
	fmt.Println(res.Outcome+":", res.Reason)
	// Output:
	// scaled_up 2
	// scale_up 2 (CRITICAL): 5 pending pods
	// held: 2 instance(s) still booting cover the wanted +2 (5 pending pods)
}
