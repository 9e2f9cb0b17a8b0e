package autoscaler_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
	"github.com/node-fleet/node-fleet/decision"
	clocktesting "k8s.io/utils/clock/testing"
)

// benchFleetSizes are the fleet sizes the tick is measured at; the cost of
// a tick must grow no faster than linearly with them.
var benchFleetSizes = []int{10, 100, 1000, 5000}

// newBenchCluster wires an autoscaler to the in-memory parts with n Ready
// instances, a full history (HistoryLimit records, so that every tick
// trims it) and metrics the original design's policy holds on.
func newBenchCluster(b testing.TB, n int) (*autoscaler.Autoscaler, *clocktesting.FakeClock) {
	b.Helper()
	ctx := context.Background()
	clk := clocktesting.NewFakeClock(time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC))
	fleet := fake.NewFleet(clk)
	if _, err := fleet.Launch(ctx, autoscaler.LaunchRequest{OperationID: "initial", Count: n}); err != nil {
		b.Fatal(err)
	}
	clk.Step(time.Minute)
	nodes := fake.NewNodes(clk, fleet)
	store := fake.NewStore(clk)
	cfg := autoscaler.DefaultConfig()
	hist := make([]autoscaler.Record, cfg.HistoryLimit)
	for i := range hist {
		hist[i] = autoscaler.Record{Time: clk.Now().Add(-time.Duration(len(hist)-i) * 2 * time.Minute), CPU: 50, Memory: 60,
			PendingPods: 0, Nodes: n, Instances: n, Action: autoscaler.Hold, Custom: map[string]float64{autoscaler.MetricDemand: float64(5 * n)}}
	}
	if err := store.SetState(autoscaler.ClusterState{ClusterID: "bench", NodeCount: n, History: hist}); err != nil {
		b.Fatal(err)
	}
	metrics := &fake.Metrics{Func: func(context.Context) (autoscaler.Snapshot, error) {
		now := clk.Now()
		return autoscaler.Snapshot{Time: now, CPU: autoscaler.Value(50, now), Memory: autoscaler.Value(60, now), PendingPods: autoscaler.Value(0, now),
			Custom: map[string]autoscaler.Metric{autoscaler.MetricDemand: autoscaler.Value(float64(5*n), now)}}, nil
	}}
	cfg.ClusterID, cfg.Owner = "bench", "bench"
	cfg.Metrics, cfg.Policy, cfg.Locker, cfg.State, cfg.Fleet, cfg.Nodes, cfg.Clock = metrics, decision.Default(), store, store, fleet, nodes, clk
	cfg.MinNodes, cfg.MaxNodes = 1, 2*n
	a, err := autoscaler.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	// One tick to let every instance join and check the setup holds.
	res, err := a.RunOnce(ctx)
	if err != nil || res.Outcome != autoscaler.OutcomeHeld || res.ReadyNodes != n {
		b.Fatalf("setup tick: %v, %s, %d Ready of %d", err, res.String(), res.ReadyNodes, n)
	}
	return a, clk
}

// BenchmarkTick measures one steady-state tick (lock, load, observe,
// decide, record, save, unlock; the policy holds) with n instances.
func BenchmarkTick(b *testing.B) {
	for _, n := range benchFleetSizes {
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) {
			a, clk := newBenchCluster(b, n)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				clk.Step(2 * time.Minute)
				if _, err := a.RunOnce(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestTickAllocationsGrowLinearly checks that the allocations of a tick at
// 5,000 instances are no more than a linear extrapolation from 1,000
// allows (linear is x5; the margin covers the fakes' own bookkeeping).
// Allocation counts do not depend on the machine's load, unlike timings,
// which are measured by BenchmarkTick (numbers in docs/benchmarks.md).
func TestTickAllocationsGrowLinearly(t *testing.T) {
	allocs := map[int]float64{}
	for _, n := range []int{1000, 5000} {
		a, clk := newBenchCluster(t, n)
		ctx := context.Background()
		var err error
		allocs[n] = testing.AllocsPerRun(5, func() {
			clk.Step(2 * time.Minute)
			if _, e := a.RunOnce(ctx); e != nil {
				err = e
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	ratio := allocs[5000] / allocs[1000]
	t.Logf("tick: %.0f allocations at 1,000 instances, %.0f at 5,000 (x%.2f for x5 instances)", allocs[1000], allocs[5000], ratio)
	if ratio > 6 || math.IsNaN(ratio) {
		t.Errorf("a tick's allocations grow x%.1f from 1,000 to 5,000 instances: faster than linear", ratio)
	}
}
