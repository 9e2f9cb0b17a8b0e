package sim

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
	"github.com/node-fleet/node-fleet/decision"
	"github.com/node-fleet/node-fleet/internal/testenv"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestCostBillsPerSecondWithAMinute(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	end := start.Add(time.Hour)
	lives := []fake.Lifetime{
		{ID: "before", Start: start.Add(-10 * time.Minute), End: start.Add(30 * time.Minute)},      // billed from start: 1800 s
		{ID: "short", Start: start.Add(time.Minute), End: start.Add(time.Minute + 10*time.Second)}, // 10 s, billed 60 s
		{ID: "open", Start: start.Add(45 * time.Minute)},                                           // to end: 900 s
	}
	if got, want := cost(lives, start, end, 3.6, nil, 0), (1800.0+60+900)/3600*3.6; !near(got, want) {
		t.Errorf("cost %v, want %v", got, want)
	}
}

// stepPolicy scales up by one at up and down by one at down.
func stepPolicy(up, down time.Time) autoscaler.Policy {
	return autoscaler.PolicyFunc(func(in autoscaler.PolicyInput) autoscaler.Decision {
		switch {
		case in.Now.Equal(up):
			return autoscaler.Decision{Action: autoscaler.ScaleUp, Count: 1, Reason: "test"}
		case in.Now.Equal(down):
			return autoscaler.Decision{Action: autoscaler.ScaleDown, Count: 1, Reason: "test"}
		}
		return autoscaler.HoldBecause("test")
	})
}

// The lead the shipped policies default to covers the model's
// boot-and-join at its 99th percentile: the two are one assumption.
func TestTheDefaultLeadCoversTheModelsBootAndJoin(t *testing.T) {
	m := DefaultModel()
	if m.BootP99 != decision.DefaultBootAndJoin || decision.DefaultLead < m.BootP99+ModeLambda.Interval() {
		t.Errorf("model boot-and-join p99 %s, lambda ticks %s; decision.DefaultBootAndJoin %s, DefaultLead %s",
			m.BootP99, ModeLambda.Interval(), decision.DefaultBootAndJoin, decision.DefaultLead)
	}
}

// A scale-down undone by a scale-up within ChurnWindow is churn; one
// followed by a scale-up later is not.
func TestChurnCountsScaleDownsUndoneWithinTenMinutes(t *testing.T) {
	for _, tt := range []struct {
		name  string
		after time.Duration
		churn int
	}{{"undone 8 minutes later", 8 * time.Minute, 1}, {"followed 12 minutes later", 12 * time.Minute, 0}} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig(make([]float64, 60))
			down := cfg.Start.Add(10 * time.Minute)
			cfg.Autoscaler.Policy = stepPolicy(down.Add(tt.after), down)
			cfg.Autoscaler.MinNodes = 1
			cfg.InitialNodes = 3
			rep, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if rep.ScaleDowns != 1 || rep.ScaleUps != 1 || rep.Churn != tt.churn {
				t.Errorf("%d scale-downs, %d scale-ups, churn %d; want 1, 1, %d", rep.ScaleDowns, rep.ScaleUps, rep.Churn, tt.churn)
			}
		})
	}
}

func TestCostOfAScaleUpAndDownByHand(t *testing.T) {
	cfg := baseConfig(make([]float64, 60)) // an hour of no demand
	up, down := cfg.Start.Add(10*time.Minute), cfg.Start.Add(40*time.Minute)
	cfg.Autoscaler.Policy = stepPolicy(up, down)
	cfg.Autoscaler.ScaleDownCooldown = autoscaler.NoCooldown
	cfg.Model.BootMin, cfg.Model.BootMax = 90*time.Second, 90*time.Second
	cfg.Market = autoscaler.MarketOnDemand
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Two nodes all hour, a third from 00:10 to 00:40, on demand.
	want := (2*3600.0 + 1800) / 3600 * 0.0416
	if !near(rep.CostUSD, want) || rep.ScaleUps != 1 || rep.ScaleDowns != 1 {
		t.Errorf("cost %.6f (want %.6f), ups %d downs %d", rep.CostUSD, want, rep.ScaleUps, rep.ScaleDowns)
	}
	if want := 2 * 1.0 * 0.0416; !near(rep.StaticCostUSD, want) || !near(rep.OracleCostUSD, want) {
		t.Errorf("static %v oracle %v, want both %v (MinNodes for an hour)", rep.StaticCostUSD, rep.OracleCostUSD, want)
	}
}

func TestAnInstanceGoneWithinAMinuteIsBilledAMinute(t *testing.T) {
	cfg := baseConfig(make([]float64, 10))
	cfg.Mode = ModeDaemon
	up := cfg.Start.Add(2 * time.Minute)
	cfg.Autoscaler.Policy = stepPolicy(up, up.Add(15*time.Second))
	cfg.Autoscaler.ScaleDownCooldown = autoscaler.NoCooldown
	cfg.Model.BootMin, cfg.Model.BootMax = time.Second, time.Second
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Launched != 1 || rep.Terminated != 1 {
		t.Fatalf("launched %d terminated %d, want 1 and 1", rep.Launched, rep.Terminated)
	}
	// Two nodes for 10 minutes plus 60 s (not 15 s) for the third.
	if want := (2*600.0 + 60) / 3600 * 0.0125; !near(rep.CostUSD, want) {
		t.Errorf("cost %.8f, want %.8f", rep.CostUSD, want)
	}
}

func TestOracleByHand(t *testing.T) {
	cfg := baseConfig([]float64{0, 5, 25, 10, 41})
	// max(2, ceil(d/10)) nodes: 2, 2, 3, 2, 5 = 14 node-minutes.
	if got, want := oracleCost(cfg), 14.0/60*0.0125; !near(got, want) {
		t.Errorf("oracle %v, want %v", got, want)
	}
	if got, want := staticCost(cfg), 5*5.0/60*0.0125; !near(got, want) {
		t.Errorf("static %v, want %v", got, want)
	}
	cfg.Demand = nil
	if oracleCost(cfg) != 0 || staticCost(cfg) != 0 {
		t.Error("an invalid config has a cost")
	}
}

func TestSpotInterruptionsAreReplaced(t *testing.T) {
	demand := make([]float64, 6*60)
	for i := range demand {
		demand[i] = 30 // 3 nodes, 100% busy
	}
	cfg := baseConfig(demand)
	cfg.Autoscaler.Policy = mustPolicy(t, "reactive", ModeLambda)
	cfg.Model.InterruptionRate = 0.5 // per instance-hour: about 9 over 6 hours of 3 nodes
	cfg.Seed = 7
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Interruptions < 3 {
		t.Fatalf("%d interruptions at 0.5 per instance-hour over 18 instance-hours", rep.Interruptions)
	}
	// Each notice is replaced at the next tick, within the 2 minutes'
	// notice plus a boot: a replacement per interruption, little unserved.
	if rep.Launched < rep.Interruptions {
		t.Errorf("%d interruptions but only %d launches", rep.Interruptions, rep.Launched)
	}
	if rep.UnservedPct() > 2 {
		t.Errorf("%.2f%% unserved with replacements", rep.UnservedPct())
	}
	t.Logf("%d interruptions, %d launched, %.3f%% unserved, cost $%.4f", rep.Interruptions, rep.Launched, rep.UnservedPct(), rep.CostUSD)
}

// noCapacity runs an hour of 45 pods on a fleet whose every launch finds
// no capacity.
func noCapacity(t *testing.T) Report {
	t.Helper()
	demand := make([]float64, 60)
	for i := range demand {
		demand[i] = 45
	}
	cfg := baseConfig(demand)
	cfg.Model.LaunchFailureRate = 1
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// Every tick whose launch finds no capacity counts, also those whose
// alert is held back as a repeat of the last (RealertInterval).
func TestEveryTickWithoutLaunchCapacityCounts(t *testing.T) {
	if rep := noCapacity(t); rep.CapacityFailures != rep.Ticks {
		t.Errorf("%d ticks without launch capacity counted of %d ticks that all found none", rep.CapacityFailures, rep.Ticks)
	}
}

func TestNoLaunchCapacity(t *testing.T) {
	rep := noCapacity(t)
	if rep.Launched != 0 || rep.CapacityFailures == 0 || rep.ScaleUps != 0 {
		t.Errorf("launched %d, %d capacity failures, %d scale-ups; want 0, >0, 0", rep.Launched, rep.CapacityFailures, rep.ScaleUps)
	}
	// Two nodes serve 20 of 45 pods.
	if want := 25.0 / 45 * 100; math.Abs(rep.UnservedPct()-want) > 1e-6 {
		t.Errorf("unserved %.4f%%, want %.4f%%", rep.UnservedPct(), want)
	}
}

func TestMoreConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		mutate func(*Config)
		want   string
	}{
		{func(c *Config) { c.Demand = []float64{1, math.NaN()} }, "Demand[1] is NaN"},
		{func(c *Config) { c.Resolution = 7 * time.Second }, "Resolution 7s must divide Step 1m0s"},
		{func(c *Config) { c.Market = "reserved" }, `Market must be "spot" or "on-demand"`},
		{func(c *Config) { c.Model.InterruptionRate = -1 }, "InterruptionRate must be 0 or more"},
		{func(c *Config) { c.Model.LaunchFailureRate = 1.5 }, "LaunchFailureRate must be a probability"},
		{func(c *Config) { c.SpotPrice = -1 }, "must not be negative"},
	} {
		cfg := baseConfig([]float64{1})
		tt.mutate(&cfg)
		if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("error %v, want %q", err, tt.want)
		}
	}
}

func mustPolicy(t *testing.T, name string, mode Mode) autoscaler.Policy {
	t.Helper()
	p, err := NewPolicy(PolicySpec{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// tracesDir finds the shared traces: $NODEFLEET_TRACES, else
// ../shared/traces beside the repository. Missing, the test is skipped,
// or fails when integration tests are required (CI has them).
func tracesDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("NODEFLEET_TRACES")
	if dir == "" {
		root, err := filepath.Abs("..") // sim -> repository root
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(root, "..", "shared", "traces")
	}
	if _, err := os.Stat(filepath.Join(dir, "wc98_requests_per_minute.csv")); err != nil {
		msg := "the shared traces are not available (" + err.Error() + "): run scripts/fetch-traces.sh (it downloads them to ../shared/traces, or to $NODEFLEET_TRACES) or set NODEFLEET_TRACES"
		if testenv.Required() {
			t.Fatal(msg + " (NODEFLEET_REQUIRE_INTEGRATION=1: a skipped test is a failure)")
		}
		t.Skip(msg)
	}
	return dir
}

// A day of the World Cup 1998 trace (a match day) replayed with every
// policy in the ideal model: the oracle is the lower bound of every policy that serves the
// demand, the static fleet costs the most, and the predictive policy
// (with a day of history, no period to find: the reactive policy with a
// stabilised scale-down) leaves no more unserved than the reactive one,
// at no more than 1.5x the oracle.
func TestReplayWC98Day(t *testing.T) {
	dir := tracesDir(t)
	tr, err := LoadTrace(filepath.Join(dir, "wc98_requests_per_minute.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Values) != 125_300+tr.Gaps || tr.Step != time.Minute {
		t.Errorf("%d steps (%d gaps) of %s; PROVENANCE.md says 125,300 rows of a minute", len(tr.Values), tr.Gaps, tr.Step)
	}
	from := time.Date(1998, 6, 30, 0, 0, 0, 0, time.UTC)
	w, err := tr.Window(from, from.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	pods, err := w.Pods(20, 10)
	if err != nil {
		t.Fatal(err)
	}
	unserved := map[string]float64{}
	for _, name := range PolicyNames() {
		ac := autoscaler.DefaultConfig()
		ac.Policy = mustPolicy(t, name, ModeLambda)
		ac.HistoryLimit = HistoryLimit(name, ModeLambda)
		ac.MaxNodes = 40
		ideal := IdealModel()
		rep, err := Run(context.Background(), Config{Start: w.Start, Step: w.Step, Demand: pods, PodsPerNode: 10, Autoscaler: ac, Model: &ideal})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%-10s cost $%.3f = %.2fx oracle, %.0f%% of static, unserved %.3f%%, ups %d downs %d",
			name, rep.CostUSD, rep.CostUSD/rep.OracleCostUSD, 100*rep.CostUSD/rep.StaticCostUSD, rep.UnservedPct(), rep.ScaleUps, rep.ScaleDowns)
		if rep.StaticNodes != 20 || rep.CostUSD >= rep.StaticCostUSD {
			t.Errorf("%s: static fleet %d nodes $%.3f, policy $%.3f", name, rep.StaticNodes, rep.StaticCostUSD, rep.CostUSD)
		}
		// Where (nearly) nothing is unserved, capacity was at least the
		// oracle's in every step, so the cost is too.
		if rep.UnservedPct() < 0.01 && rep.CostUSD < rep.OracleCostUSD {
			t.Errorf("%s: cost $%.4f below the oracle's $%.4f with %.4f%% unserved", name, rep.CostUSD, rep.OracleCostUSD, rep.UnservedPct())
		}
		unserved[name] = rep.UnservedPct()
		if name == "predictive" && rep.CostUSD > 1.5*rep.OracleCostUSD {
			t.Errorf("predictive: %.2fx the oracle", rep.CostUSD/rep.OracleCostUSD)
		}
	}
	if unserved["predictive"] > unserved["reactive"] {
		t.Errorf("predictive left %.3f%% unserved, the reactive policy %.3f%%", unserved["predictive"], unserved["reactive"])
	}
}

// The same match day under the real model, with the policies as shipped:
// each costs less than the static fleet, and none leaves less unserved
// than the lags of the workload itself leave a fleet that never scales
// (the static fleet simulated the same way).
func TestReplayWC98DayRealModel(t *testing.T) {
	dir := tracesDir(t)
	tr, err := LoadTrace(filepath.Join(dir, "wc98_requests_per_minute.csv"))
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(1998, 6, 30, 0, 0, 0, 0, time.UTC)
	w, err := tr.Window(from, from.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	pods, err := w.Pods(20, 10)
	if err != nil {
		t.Fatal(err)
	}
	run := func(p autoscaler.Policy, minNodes, initial int) Report {
		ac := autoscaler.DefaultConfig()
		ac.Policy, ac.MaxNodes = p, 40
		if minNodes > 0 {
			ac.MinNodes = minNodes
		}
		m := quietModel()
		rep, err := Run(context.Background(), Config{Start: w.Start, Step: w.Step, Demand: pods, PodsPerNode: 10, Autoscaler: ac, Model: m, InitialNodes: initial})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	static := run(autoscaler.PolicyFunc(func(autoscaler.PolicyInput) autoscaler.Decision { return autoscaler.HoldBecause("static") }), 20, 20)
	for _, name := range []string{"threshold", "reactive", "predictive"} {
		rep := run(mustPolicy(t, name, ModeLambda), 0, 0)
		t.Logf("%-10s cost $%.3f = %.2fx oracle, unserved %.3f%% (static fleet %.3f%%)", name, rep.CostUSD, rep.CostUSD/rep.OracleCostUSD, rep.UnservedPct(), static.UnservedPct())
		if rep.CostUSD >= static.CostUSD {
			t.Errorf("%s: $%.3f, not less than the static fleet's $%.3f", name, rep.CostUSD, static.CostUSD)
		}
		if rep.UnservedPct() < static.UnservedPct()-1e-9 {
			t.Errorf("%s: %.4f%% unserved, less than a fleet that never scales (%.4f%%)", name, rep.UnservedPct(), static.UnservedPct())
		}
	}
}
