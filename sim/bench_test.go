package sim

import (
	"context"
	"testing"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// BenchmarkRunWeek simulates a week of the synthetic day in the real
// model with the predictive policy in lambda mode (the benchmark's
// commonest run), for the simulator's speed.
func BenchmarkRunWeek(b *testing.B) {
	start, day := SyntheticDay(time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC))
	var demand []float64
	for range 7 {
		demand = append(demand, day...)
	}
	for b.Loop() {
		ac := autoscaler.DefaultConfig()
		p, err := NewPolicy(PolicySpec{Name: "predictive"})
		if err != nil {
			b.Fatal(err)
		}
		ac.Policy, ac.MaxNodes, ac.HistoryLimit = p, 40, HistoryLimit("predictive", ModeLambda)
		if _, err := Run(context.Background(), Config{Start: start, Step: time.Minute, Demand: demand, PodsPerNode: 10, Autoscaler: ac}); err != nil {
			b.Fatal(err)
		}
	}
}
