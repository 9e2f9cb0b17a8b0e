package sim

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/config"
	"github.com/node-fleet/node-fleet/decision"
)

// quietModel is the real model without its random disruptions and noise,
// so that a test sees one lag at a time.
func quietModel() *Model {
	m := DefaultModel()
	m.GhostShare, m.InterruptionRate, m.LaunchFailureRate, m.Noise = 0, 0, 0, 0
	return &m
}

// watch runs cfg with a policy that holds and records what each tick saw.
func watch(t *testing.T, cfg Config) (map[time.Time]autoscaler.Snapshot, Report) {
	t.Helper()
	seen := map[time.Time]autoscaler.Snapshot{}
	cfg.Autoscaler.Policy = autoscaler.PolicyFunc(func(in autoscaler.PolicyInput) autoscaler.Decision {
		seen[in.Now] = in.Snapshot
		return autoscaler.HoldBecause("watching")
	})
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return seen, rep
}

// stepDemand is an hour at from, then at to from minute 30.
func stepDemand(from, to float64) []float64 {
	d := make([]float64, 60)
	for i := range d {
		d[i] = from
		if i >= 30 {
			d[i] = to
		}
	}
	return d
}

// A step in demand reaches the policy only through the HPA (its metric's
// lag, then its sync) and the pods it creates: at the tick of the step
// the scheduler's demand is still the old one, a tick later it has risen.
func TestADemandStepIsSeenAfterTheHPA(t *testing.T) {
	cfg := baseConfig(stepDemand(20, 60))
	cfg.Model = quietModel()
	cfg.Autoscaler.MinNodes, cfg.Autoscaler.MaxNodes = 12, 20 // room for the step: no node lag here
	seen, _ := watch(t, cfg)
	step := cfg.Start.Add(30 * time.Minute)
	before, _ := seen[step.Add(-2*time.Minute)].Demand()
	at, _ := seen[step].Demand()
	after, _ := seen[step.Add(2*time.Minute)].Demand()
	if before <= 0 || at != before {
		t.Errorf("demand %.2f before the step and %.2f at it: the HPA's %s lag should hide the step", before, at, cfg.Model.HPALag)
	}
	// 60 units are 6 workers' CPU; the pods' requests round up.
	if after < 6 {
		t.Errorf("demand %.2f a tick after the step, want the new pods' 6 workers or more", after)
	}
}

// The CPU reading is a 5-minute rate of 15-second scrapes: after a step
// it climbs over the window, it does not jump.
func TestCPUReadingLagsByTheRateWindow(t *testing.T) {
	cfg := baseConfig(stepDemand(20, 60))
	cfg.Model = quietModel()
	cfg.Autoscaler.MinNodes, cfg.Autoscaler.MaxNodes = 12, 20
	seen, _ := watch(t, cfg)
	step := cfg.Start.Add(30 * time.Minute)
	cpu := func(d time.Duration) float64 { return seen[step.Add(d)].CPU.Value }
	if !(cpu(0) < cpu(2*time.Minute) && cpu(2*time.Minute) < cpu(4*time.Minute) && cpu(4*time.Minute) < cpu(6*time.Minute)) {
		t.Errorf("CPU at the step and 2, 4, 6 minutes on: %.1f %.1f %.1f %.1f, want a climb over the window", cpu(0), cpu(2*time.Minute), cpu(4*time.Minute), cpu(6*time.Minute))
	}
	if d := cpu(8*time.Minute) - cpu(6*time.Minute); math.Abs(d) > 0.5 {
		t.Errorf("CPU still moving by %.2f points once the window is past", d)
	}
}

// The scheduler sees pending pods only when the nodes are full, and a
// scale-up's nodes serve only after boot-and-join and the pods' start:
// the unserved demand lasts at least a boot.
func TestNewPodsWaitForBootAndStart(t *testing.T) {
	cfg := baseConfig(stepDemand(10, 50))
	cfg.Model = quietModel()
	cfg.Model.BootMedian, cfg.Model.BootP99, cfg.Model.BootMin = 3*time.Minute, 3*time.Minute, time.Second
	cfg.Autoscaler.Policy = mustPolicy(t, "reactive", ModeLambda)
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.ScaleUps == 0 || len(rep.TimeToCapacity) == 0 {
		t.Fatalf("no scale-up for the step: %+v", rep)
	}
	if p := slices.Max(rep.TimeToCapacity); p < 3*time.Minute {
		t.Errorf("the surge was served in %s, sooner than a 3-minute boot", p)
	}
}

// A scale-down drains its node: the pods on it are unserved until they
// run elsewhere, and the node is billed until the drain ends.
func TestScaleDownDrains(t *testing.T) {
	run := func(drain time.Duration) Report {
		cfg := baseConfig(make([]float64, 60))
		for i := range cfg.Demand {
			cfg.Demand[i] = 36 // pods on every node of the five
		}
		cfg.Model = quietModel()
		cfg.Model.DrainTime = drain
		cfg.InitialNodes = 5
		down := cfg.Start.Add(20 * time.Minute)
		cfg.Autoscaler.Policy = stepPolicy(time.Time{}, down)
		cfg.Autoscaler.ScaleDownCooldown = autoscaler.NoCooldown
		rep, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	with, without := run(45*time.Second), run(0)
	if with.Drains != 1 || with.ScaleDowns != 1 {
		t.Fatalf("%d drains, %d scale-downs; want 1 and 1", with.Drains, with.ScaleDowns)
	}
	if with.UnservedPodMinutes <= 0 {
		t.Errorf("the drain's evicted pods cost nothing unserved")
	}
	if d, want := with.CostUSD-without.CostUSD, 45.0/3600*0.0125; math.Abs(d-want) > 1e-9 {
		t.Errorf("the drain added $%.8f, want 45 s of a node, $%.8f", d, want)
	}
}

// Instances that never join are ghosts: they never serve, and the core
// terminates them after its join timeout.
func TestGhostsNeverJoin(t *testing.T) {
	cfg := baseConfig(stepDemand(10, 80))
	cfg.Model = quietModel()
	cfg.Model.GhostShare = 0.5
	cfg.Seed = 3
	cfg.Autoscaler.Policy = mustPolicy(t, "reactive", ModeLambda)
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Ghosts == 0 || rep.Terminated == 0 {
		t.Errorf("%d ghosts, %d terminated at a 50%% ghost share", rep.Ghosts, rep.Terminated)
	}
	last := rep.Series[len(rep.Series)-1]
	if last.Instances <= last.ReadyNodes && rep.Ghosts > rep.Terminated {
		t.Errorf("ghosts counted as Ready: %+v", last)
	}
}

// Boot-and-join is lognormal with the model's median and p99.
func TestBootTimesHaveTheirTail(t *testing.T) {
	m := DefaultModel()
	rng := rand.New(rand.NewPCG(1, 2))
	ds := make([]time.Duration, 20000)
	for i := range ds {
		ds[i] = lognormalBoot(&m, rng)
	}
	if p := Percentile(ds, 50); p < 85*time.Second || p > 95*time.Second {
		t.Errorf("median %s, want about %s", p, m.BootMedian)
	}
	if p := Percentile(ds, 99); p < 270*time.Second || p > 330*time.Second {
		t.Errorf("p99 %s, want about %s", p, m.BootP99)
	}
}

// The daemon's tick is the one shipped.
func TestDaemonIntervalIsTheShippedOne(t *testing.T) {
	if d := config.Defaults().Interval; d != DaemonInterval || ModeDaemon.Interval() != d {
		t.Errorf("the simulated daemon ticks every %s, the shipped one every %s", ModeDaemon.Interval(), d)
	}
}

// The real model's settings are checked.
func TestModelErrors(t *testing.T) {
	m := DefaultModel()
	m.Mix[0].Share = 0.9
	m.HPASync = 10 * time.Second
	m.GhostShare = 1
	cfg := baseConfig([]float64{1})
	cfg.Model = &m
	_, err := Run(context.Background(), cfg)
	for _, want := range []string{"Mix: the shares must add up to 1", "HPASync 10s must be a positive multiple", "GhostShare must be in [0, 1)"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

// With Config.Load the snapshots carry the workload's load
// (decision.MetricLoad) as a request-rate query gives it: the HPA's
// target share of the demand, as old as the HPA's metric; without it,
// none.
func TestTheLoadIsInTheSnapshotsOnlyWhenAsked(t *testing.T) {
	cfg := baseConfig(stepDemand(20, 60))
	cfg.Model = quietModel()
	cfg.Autoscaler.MinNodes, cfg.Autoscaler.MaxNodes = 12, 20
	seen, _ := watch(t, cfg)
	for at, s := range seen {
		if _, ok := s.Custom[decision.MetricLoad]; ok {
			t.Fatalf("%s: a load without Config.Load: %v", at, s.Custom)
		}
	}
	ideal := baseConfig(stepDemand(20, 60))
	ideal.Load = true
	if _, err := Run(context.Background(), ideal); err == nil || !strings.Contains(err.Error(), "Load needs the real model") {
		t.Errorf("Load with the ideal model: error %v, want one saying it needs the real model", err)
	}
	cfg.Load = true
	seen, _ = watch(t, cfg)
	step := cfg.Start.Add(30 * time.Minute)
	hpa := cfg.Model.HPATarget
	for _, tt := range []struct {
		at   time.Time
		want float64
	}{
		{step.Add(-2 * time.Minute), hpa * 20},
		{step.Add(2 * time.Minute), hpa * 60},
	} {
		l, ok := seen[tt.at].Custom[decision.MetricLoad]
		if !ok || !l.OK || math.Abs(l.Value-tt.want) > 1e-9 || !l.At.Equal(tt.at.Add(-cfg.Model.HPALag)) {
			t.Errorf("%s: load %v, want %.0f read at %s", tt.at, l, tt.want, tt.at.Add(-cfg.Model.HPALag))
		}
	}
}
