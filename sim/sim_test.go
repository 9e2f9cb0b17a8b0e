package sim

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/decision"
)

// baseConfig is a simulation of demand in the ideal model (whose costs
// can be worked out by hand), with the threshold policy.
func baseConfig(demand []float64) Config {
	ac := autoscaler.DefaultConfig()
	ac.Policy = decision.Default()
	m := IdealModel()
	return Config{Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Step: time.Minute, Demand: demand, PodsPerNode: 10, Autoscaler: ac, Model: &m}
}

func TestFlatDemandCostsExactlyTheMinimumFleet(t *testing.T) {
	demand := make([]float64, 600) // 10 hours at 15 pods: 2 nodes at 75%...
	for i := range demand {
		demand[i] = 12 // 60% of two nodes: neither threshold fires
	}
	cfg := baseConfig(demand)
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := 2 * 10 * 0.0125
	if diff := rep.CostUSD - want; diff > 1e-9 || diff < -1e-9 {
		t.Errorf("cost %.6f, want %.6f (2 spot nodes for 10 hours)", rep.CostUSD, want)
	}
	if rep.UnservedPodMinutes != 0 || rep.ScaleUps != 0 || rep.ScaleDowns != 0 {
		t.Errorf("flat demand within capacity: %+v", rep)
	}
	if rep.Ticks != 300 {
		t.Errorf("%d ticks in 10 hours of lambda mode, want 300", rep.Ticks)
	}
}

func TestSurgeIsServedAndMeasured(t *testing.T) {
	demand := make([]float64, 120)
	for i := range demand {
		demand[i] = 10
		if i >= 30 && i < 90 {
			demand[i] = 45 // needs 5 nodes
		}
	}
	for _, mode := range []Mode{ModeLambda, ModeDaemon} {
		t.Run(string(mode), func(t *testing.T) {
			cfg := baseConfig(demand)
			cfg.Mode = mode
			rep, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if rep.ScaleUps == 0 || rep.UnservedPodMinutes == 0 || len(rep.TimeToCapacity) == 0 {
				t.Fatalf("surge not seen: %+v", rep)
			}
			// Boot takes 60-120 s, so capacity cannot come sooner.
			if p := Percentile(rep.TimeToCapacity, 50); p < time.Minute {
				t.Errorf("time to capacity %s is faster than a boot", p)
			}
			if rep.PeakNodes < 5 {
				t.Errorf("peak %d nodes, the surge needs 5", rep.PeakNodes)
			}
			t.Logf("%s: cost $%.4f unserved %.0f pod-min (%.2f%%), p95 ttc %s, ups %d downs %d",
				mode, rep.CostUSD, rep.UnservedPodMinutes, rep.UnservedPct(), Percentile(rep.TimeToCapacity, 95), rep.ScaleUps, rep.ScaleDowns)
		})
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		mutate func(*Config)
		want   string
	}{
		{func(c *Config) { c.Demand = nil }, "Demand is empty"},
		{func(c *Config) { c.PodsPerNode = 0 }, "PodsPerNode must be positive"},
		{func(c *Config) { c.Mode = "cron" }, `Mode must be "lambda" or "daemon"`},
		{func(c *Config) { c.Model.BootMin, c.Model.BootMax = time.Minute, time.Second }, "BootMax"},
	} {
		cfg := baseConfig([]float64{1})
		tt.mutate(&cfg)
		if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("error %v, want %q", err, tt.want)
		}
	}
}

func TestPercentile(t *testing.T) {
	ds := []time.Duration{5, 1, 4, 2, 3}
	if p := Percentile(ds, 50); p != 3 {
		t.Errorf("p50 = %d", p)
	}
	if p := Percentile(ds, 95); p != 5 {
		t.Errorf("p95 = %d", p)
	}
	if p := Percentile(nil, 95); p != 0 {
		t.Errorf("empty p95 = %d", p)
	}
}
