package autoscaler_test

import (
	"context"
	"fmt"
	"math"
	"runtime"
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
			PendingPods: 0, Nodes: n, Instances: n, Action: autoscaler.Hold, Custom: map[string]float64{"demand_pods": float64(5 * n)}}
	}
	if err := store.SetState(autoscaler.ClusterState{ClusterID: "bench", NodeCount: n, History: hist}); err != nil {
		b.Fatal(err)
	}
	metrics := &fake.Metrics{Func: func(context.Context) (autoscaler.Snapshot, error) {
		now := clk.Now()
		return autoscaler.Snapshot{Time: now, CPU: autoscaler.Value(50, now), Memory: autoscaler.Value(60, now), PendingPods: autoscaler.Value(0, now),
			Custom: map[string]autoscaler.Metric{"demand_pods": autoscaler.Value(float64(5*n), now)}}, nil
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

// TestTickGrowsLinearly checks that a tick at 5,000 instances costs no
// more than a linear extrapolation from 1,000 allows, with a wide margin
// for noise on a shared machine (linear is x5, n log n about x6, quadratic
// x25). The numbers are in docs/benchmarks.md.
func TestTickGrowsLinearly(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	// The fastest of several ticks is the measure least disturbed by
	// garbage collection and other processes.
	const ticks = 10
	per := map[int]time.Duration{}
	for _, n := range []int{1000, 5000} {
		a, clk := newBenchCluster(t, n)
		ctx := context.Background()
		runtime.GC()
		for range ticks {
			clk.Step(2 * time.Minute)
			began := time.Now()
			if _, err := a.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(began); per[n] == 0 || d < per[n] {
				per[n] = d
			}
		}
	}
	ratio := float64(per[5000]) / float64(per[1000])
	t.Logf("tick: %s at 1,000 instances, %s at 5,000 (x%.2f for x5 instances)", per[1000], per[5000], ratio)
	if ratio > 10 || math.IsNaN(ratio) {
		t.Errorf("a tick grows x%.1f from 1,000 to 5,000 instances: faster than linear", ratio)
	}
}
