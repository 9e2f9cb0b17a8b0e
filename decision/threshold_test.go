package decision

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/capacity"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func snap(cpu, mem, pending float64) autoscaler.Snapshot {
	m := func(v float64) autoscaler.Metric {
		if math.IsNaN(v) {
			return autoscaler.Missing(autoscaler.ErrNoData)
		}
		return autoscaler.Value(v, t0)
	}
	return autoscaler.Snapshot{Time: t0, CPU: m(cpu), Memory: m(mem), PendingPods: m(pending)}
}

type got struct {
	Action autoscaler.Action
	Count  int
	Level  autoscaler.Level
}

func TestThresholdBoundaries(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name              string
		cpu, mem, pending float64
		want              got
	}{
		{"one pending pod", 50, 60, 1, got{autoscaler.ScaleUp, 2, autoscaler.LevelCritical}},
		{"pending pods win over low cpu", 10, 10, 3, got{autoscaler.ScaleUp, 2, autoscaler.LevelCritical}},
		{"no pending pods, middle load", 50, 60, 0, got{autoscaler.Hold, 0, ""}},
		{"cpu 70.0 is not above 70", 70, 60, 0, got{autoscaler.Hold, 0, ""}},
		{"cpu 70.01 is above 70", 70.01, 60, 0, got{autoscaler.ScaleUp, 1, autoscaler.LevelHighLoad}},
		{"memory 75.0 is not above 75", 50, 75, 0, got{autoscaler.Hold, 0, ""}},
		{"memory 75.5 is above 75", 50, 75.5, 0, got{autoscaler.ScaleUp, 1, autoscaler.LevelHighLoad}},
		{"cpu 30.0 is not below 30", 30, 40, 0, got{autoscaler.Hold, 0, ""}},
		{"cpu 29.9 and memory 49.9: down", 29.9, 49.9, 0, got{autoscaler.ScaleDown, 1, autoscaler.LevelLowLoad}},
		{"memory 50.0 is not below 50", 10, 50, 0, got{autoscaler.Hold, 0, ""}},
		{"low load but a pending pod: up", 10, 10, 1, got{autoscaler.ScaleUp, 2, autoscaler.LevelCritical}},
		{"pending missing: no scale-down", 10, 10, nan, got{autoscaler.Hold, 0, ""}},
		{"cpu missing: no scale-down", nan, 10, 0, got{autoscaler.Hold, 0, ""}},
		{"memory missing: no scale-down", 10, nan, 0, got{autoscaler.Hold, 0, ""}},
		{"cpu missing, pending pods: still up", nan, nan, 4, got{autoscaler.ScaleUp, 2, autoscaler.LevelCritical}},
		{"pending missing, high cpu: up", 90, 10, nan, got{autoscaler.ScaleUp, 1, autoscaler.LevelHighLoad}},
		{"all missing: hold", nan, nan, nan, got{autoscaler.Hold, 0, ""}},
		{"zero everything: down", 0, 0, 0, got{autoscaler.ScaleDown, 1, autoscaler.LevelLowLoad}},
	}
	p := Default()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := p.Decide(autoscaler.PolicyInput{Now: t0, Snapshot: snap(tt.cpu, tt.mem, tt.pending)})
			if diff := cmp.Diff(tt.want, got{d.Action, d.Count, d.Level}); diff != "" {
				t.Errorf("decision %v (-want +got):\n%s", d, diff)
			}
			if d.Reason == "" {
				t.Errorf("decision without a reason: %v", d)
			}
		})
	}
}

func TestThresholdMissingReasonNamesMetric(t *testing.T) {
	d := Default().Decide(autoscaler.PolicyInput{Snapshot: snap(math.NaN(), 10, 0)})
	if !strings.Contains(d.Reason, "missing cpu") {
		t.Errorf("reason %q does not say cpu is missing", d.Reason)
	}
}

func rec(cpu, mem float64) autoscaler.Record {
	return autoscaler.Record{CPU: cpu, Memory: mem, PendingPods: 0}
}

func TestThresholdSustained(t *testing.T) {
	cfg := DefaultThresholdConfig()
	cfg.SustainedUp, cfg.SustainedDown = 3, 2
	p, err := NewThreshold(cfg)
	if err != nil {
		t.Fatal(err)
	}
	nan := math.NaN()
	tests := []struct {
		name    string
		history []autoscaler.Record
		cpu     float64
		want    autoscaler.Action
	}{
		{"high once", nil, 90, autoscaler.Hold},
		{"high twice", []autoscaler.Record{rec(80, 60)}, 90, autoscaler.Hold},
		{"high three times", []autoscaler.Record{rec(80, 60), rec(75, 60)}, 90, autoscaler.ScaleUp},
		{"high three times but the oldest at 70.0", []autoscaler.Record{rec(70, 60), rec(75, 60)}, 90, autoscaler.Hold},
		{"missing reading breaks the run", []autoscaler.Record{rec(80, 60), rec(nan, 60)}, 90, autoscaler.Hold},
		{"only the recent readings count", []autoscaler.Record{rec(10, 60), rec(80, 60), rec(75, 60)}, 90, autoscaler.ScaleUp},
		{"low once", nil, 10, autoscaler.Hold},
		{"low twice", []autoscaler.Record{rec(20, 20)}, 10, autoscaler.ScaleDown},
		{"low twice but memory was high", []autoscaler.Record{rec(20, 60)}, 10, autoscaler.Hold},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := 60.0
			if tt.cpu < 30 {
				mem = 20
			}
			d := p.Decide(autoscaler.PolicyInput{Snapshot: snap(tt.cpu, mem, 0), History: tt.history})
			if d.Action != tt.want {
				t.Errorf("got %v, want %s", d, tt.want)
			}
		})
	}
}

// A low threshold of 0 is kept, not taken for "unset": no reading is
// below it, so the policy never scales down on it; nil is the default.
func TestThresholdLowOfZeroNeverScalesDown(t *testing.T) {
	idle := autoscaler.PolicyInput{Now: t0, Snapshot: snap(0.5, 10, 0)}
	for _, tt := range []struct {
		name          string
		cpuLow, memLo *float64
		want          autoscaler.Action
		wantCPULow    float64
	}{
		{"defaults", nil, nil, autoscaler.ScaleDown, 30},
		{"CPU low 0", ptr.To(0.0), nil, autoscaler.Hold, 0},
		{"memory low 0", nil, ptr.To(0.0), autoscaler.Hold, 30},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewThreshold(ThresholdConfig{CPULow: tt.cpuLow, MemoryLow: tt.memLo})
			if err != nil {
				t.Fatal(err)
			}
			if d := p.Decide(idle); d.Action != tt.want {
				t.Errorf("CPU 0.5%%, memory 10%%: %s, want %s", d, tt.want)
			}
			if got := *p.Config().CPULow; got != tt.wantCPULow {
				t.Errorf("CPULow %v, want %v", got, tt.wantCPULow)
			}
		})
	}
}

func TestNewThresholdErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*ThresholdConfig)
		want   string
	}{
		{"cpu above 100", func(c *ThresholdConfig) { c.CPUHigh = 120 }, "CPUHigh must be a percentage"},
		{"low not below high", func(c *ThresholdConfig) { c.CPULow = ptr.To(80.0) }, "CPULow (80) must be below CPUHigh (70)"},
		{"memory low above high", func(c *ThresholdConfig) { c.MemoryLow = ptr.To(90.0) }, "MemoryLow (90) must be below MemoryHigh (75)"},
		{"negative step", func(c *ThresholdConfig) { c.PendingStep = -1 }, "PendingStep must be at least 1"},
		{"negative window", func(c *ThresholdConfig) { c.SustainedDown = -2 }, "SustainedDown must be at least 1"},
		{"unknown pending rule", func(c *ThresholdConfig) { c.PendingNodes = "lots" }, `PendingNodes must be "step" or "needed", got "lots"`},
		{"negative pending", func(c *ThresholdConfig) { c.PendingPodsAbove = -1 }, "PendingPodsAbove must be 0 or more"},
		{"NaN threshold", func(c *ThresholdConfig) { c.MemoryHigh = math.NaN() }, "MemoryHigh must be a percentage"},
		{"negative low", func(c *ThresholdConfig) { c.CPULow = ptr.To(-1.0) }, "CPULow must be a percentage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultThresholdConfig()
			tt.mutate(&cfg)
			_, err := NewThreshold(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewThreshold error = %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := NewThreshold(DefaultThresholdConfig()); err != nil {
		t.Errorf("defaults rejected: %v", err)
	}
}

func fixed(a autoscaler.Action, n int, reason string) autoscaler.Policy {
	return autoscaler.PolicyFunc(func(autoscaler.PolicyInput) autoscaler.Decision {
		return autoscaler.Decision{Action: a, Count: n, Reason: reason}
	})
}

func TestCompose(t *testing.T) {
	hold := fixed(autoscaler.Hold, 0, "quiet")
	up1, up3 := fixed(autoscaler.ScaleUp, 1, "a"), fixed(autoscaler.ScaleUp, 3, "b")
	down1, down2 := fixed(autoscaler.ScaleDown, 1, "c"), fixed(autoscaler.ScaleDown, 2, "d")
	tests := []struct {
		name string
		p    autoscaler.Policy
		want autoscaler.Decision
	}{
		{"first of: first acting wins", FirstOf(hold, up1, up3), autoscaler.Decision{Action: autoscaler.ScaleUp, Count: 1, Reason: "a"}},
		{"first of: down before up", FirstOf(down1, up3), autoscaler.Decision{Action: autoscaler.ScaleDown, Count: 1, Reason: "c"}},
		{"first of: all hold", FirstOf(hold, hold), autoscaler.Decision{Action: autoscaler.Hold, Reason: "quiet"}},
		{"max: largest up", Max(up1, down1, up3), autoscaler.Decision{Action: autoscaler.ScaleUp, Count: 3, Reason: "b"}},
		{"max: all down, smallest", Max(down2, down1), autoscaler.Decision{Action: autoscaler.ScaleDown, Count: 1, Reason: "c"}},
		{"max: one holds, no down", Max(down2, hold), autoscaler.Decision{Action: autoscaler.Hold, Reason: "only 1 of 2 policies want to scale down (quiet)"}},
		{"max: none", Max(), autoscaler.Decision{Action: autoscaler.Hold, Reason: "no policy"}},
		{"named", Named("queue", up1), autoscaler.Decision{Action: autoscaler.ScaleUp, Count: 1, Reason: "queue: a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.p.Decide(autoscaler.PolicyInput{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// A zero ThresholdConfig is the original design's.
func TestZeroThresholdConfigIsTheDefault(t *testing.T) {
	p, err := NewThreshold(ThresholdConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(DefaultThresholdConfig(), p.Config()); d != "" {
		t.Errorf("config (-want +got):\n%s", d)
	}
}

// With the scheduler's view, pods no new node helps are not counted, and
// PendingByNeed adds the nodes the placeable pods need.
func TestThresholdPendingRuleWithTheSchedulersView(t *testing.T) {
	now := time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC)
	view := &capacity.SchedulerView{NodesNeeded: 5, Pending: []capacity.PendingPod{
		{Namespace: "shop", Name: "a"}, {Namespace: "shop", Name: "b"},
		{Namespace: "shop", Name: "huge", Unplaceable: "requests 6 CPU; a new t3.medium worker offers 1.93"},
	}}
	in := autoscaler.PolicyInput{Now: now, ReadyNodes: 3, Snapshot: autoscaler.Snapshot{Time: now,
		CPU: autoscaler.Value(20, now), Memory: autoscaler.Value(20, now), PendingPods: autoscaler.Value(3, now), Scheduler: view}}
	for _, tt := range []struct {
		rule PendingRule
		want int
	}{{PendingByStep, 2}, {PendingByNeed, 5}} {
		p, err := NewThreshold(ThresholdConfig{PendingNodes: tt.rule})
		if err != nil {
			t.Fatal(err)
		}
		if d := p.Decide(in); d.Action != autoscaler.ScaleUp || d.Count != tt.want {
			t.Errorf("%s: %v, want +%d", tt.rule, d, tt.want)
		}
	}
	// Only the unplaceable pod is left: it neither scales up nor blocks
	// the quiet scale-down.
	only := &capacity.SchedulerView{Pending: view.Pending[2:]}
	in.Snapshot.Scheduler, in.Snapshot.PendingPods = only, autoscaler.Value(1, now)
	if d := Default().Decide(in); d.Action != autoscaler.ScaleDown {
		t.Errorf("one unplaceable pod: %v, want the quiet scale-down", d)
	}
}

// The zero Threshold (a variable declared, not built by NewThreshold)
// decides as the default policy does rather than dereferencing its unset
// low thresholds.
func TestZeroThresholdDecidesAsTheDefault(t *testing.T) {
	var zero Threshold
	for _, s := range []autoscaler.Snapshot{snap(10, 20, 0), snap(90, 20, 0), snap(50, 60, 0)} {
		in := autoscaler.PolicyInput{Now: t0, Snapshot: s, ReadyNodes: 3, MinNodes: 1, MaxNodes: 10}
		g, w := zero.Decide(in), Default().Decide(in)
		if diff := cmp.Diff(got{w.Action, w.Count, w.Level}, got{g.Action, g.Count, g.Level}); diff != "" {
			t.Errorf("cpu %s mem %s (-default +zero):\n%s", s.CPU, s.Memory, diff)
		}
	}
}
