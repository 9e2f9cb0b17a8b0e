package decision

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"k8s.io/utils/ptr"
)

// ThresholdConfig sets the threshold policy. Comparisons are strict: with
// CPUHigh 70, a reading of 70.0 is not above it.
type ThresholdConfig struct {
	// PendingPodsAbove: more pending pods than this scales up by
	// PendingStep (level CRITICAL). Default 0 and 2.
	PendingPodsAbove float64
	PendingStep      int
	// CPUHigh: average CPU above this percentage scales up by CPUStep
	// (HIGH_LOAD). Default 70 and 1.
	CPUHigh float64
	CPUStep int
	// MemoryHigh: memory above this percentage scales up by MemoryStep
	// (HIGH_LOAD). Default 75 and 1.
	MemoryHigh float64
	MemoryStep int
	// CPULow and MemoryLow: CPU below CPULow and memory below MemoryLow
	// with no pending pods scales down by DownStep (LOW_LOAD). nil means
	// the default, 30 and 50 (DownStep 1); a low threshold of 0
	// (ptr.To(0.0), k8s.io/utils/ptr) is one no reading is below, so the
	// policy never scales down on it.
	CPULow    *float64
	MemoryLow *float64
	DownStep  int
	// SustainedUp and SustainedDown are how many consecutive readings
	// (this one and the ones before it in the history) a CPU or memory
	// condition must hold before it acts. Default 1 (act at once).
	// Pending pods always act at once.
	SustainedUp   int
	SustainedDown int
	// ScaleDownWindow is the scale-down stabilisation: a scale-down is
	// held while the CPU load now (the average times the Ready nodes)
	// plus its usual rise within this window (the 95th percentile of the
	// rises the history shows) would be above CPUHigh on the nodes left,
	// and, where the scheduler's view gives the pods' demand, while that
	// demand plus its usual rise within this window would not fit the
	// nodes left (the pending rule would add nodes back), so that a node
	// removed is seldom needed again within it. Without a history of at
	// least 30 such rises nothing is held. Default
	// DefaultScaleDownWindow (14 minutes); a window shorter than the
	// tick interval (time.Second) holds nothing: the original design's
	// unconditional -1.
	ScaleDownWindow time.Duration
	// PendingNodes says how many nodes the pending-pods rule adds:
	// PendingByStep (the default, the original design's +PendingStep) or
	// PendingByNeed (the nodes the scheduler's view says the placeable
	// pending pods need; PendingStep when the snapshot has no view).
	PendingNodes PendingRule
}

// PendingRule is how the threshold policy sizes a scale-up for pending
// pods.
type PendingRule string

// The pending-pods rules.
const (
	PendingByStep PendingRule = "step"
	PendingByNeed PendingRule = "needed"
)

// DefaultThresholdConfig returns the original design's thresholds, its
// scale-down stabilised over DefaultScaleDownWindow (see
// ThresholdConfig.ScaleDownWindow).
func DefaultThresholdConfig() ThresholdConfig {
	return ThresholdConfig{
		PendingPodsAbove: 0, PendingStep: 2,
		CPUHigh: 70, CPUStep: 1,
		MemoryHigh: 75, MemoryStep: 1,
		CPULow: ptr.To(30.0), MemoryLow: ptr.To(50.0), DownStep: 1,
		SustainedUp: 1, SustainedDown: 1, PendingNodes: PendingByStep,
		ScaleDownWindow: DefaultScaleDownWindow,
	}
}

// withDefaults fills every zero (or nil) field with its default (so a
// zero ThresholdConfig is the original design's).
func (c ThresholdConfig) withDefaults() ThresholdConfig {
	d := DefaultThresholdConfig()
	setF := func(v *float64, def float64) {
		if *v == 0 {
			*v = def
		}
	}
	setI := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	setF(&c.CPUHigh, d.CPUHigh)
	setF(&c.MemoryHigh, d.MemoryHigh)
	// A fresh pointer each: the policy keeps no pointer its caller holds.
	c.CPULow = ptr.To(ptr.Deref(c.CPULow, *d.CPULow))
	c.MemoryLow = ptr.To(ptr.Deref(c.MemoryLow, *d.MemoryLow))
	setI(&c.PendingStep, d.PendingStep)
	setI(&c.CPUStep, d.CPUStep)
	setI(&c.MemoryStep, d.MemoryStep)
	setI(&c.DownStep, d.DownStep)
	setI(&c.SustainedUp, d.SustainedUp)
	setI(&c.SustainedDown, d.SustainedDown)
	if c.PendingNodes == "" {
		c.PendingNodes = d.PendingNodes
	}
	if c.ScaleDownWindow == 0 {
		c.ScaleDownWindow = d.ScaleDownWindow
	}
	return c
}

// Threshold is the original design's policy: pending pods first, then CPU,
// then memory, and a gradual scale-down when everything is quiet.
type Threshold struct {
	cfg ThresholdConfig
}

// NewThreshold checks cfg and returns the policy. Zero fields take their
// defaults (DefaultThresholdConfig); every problem is reported, naming the
// field.
func NewThreshold(cfg ThresholdConfig) (*Threshold, error) {
	cfg = cfg.withDefaults()
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for _, p := range []struct {
		name string
		v    float64
	}{{"CPUHigh", cfg.CPUHigh}, {"MemoryHigh", cfg.MemoryHigh}, {"CPULow", *cfg.CPULow}, {"MemoryLow", *cfg.MemoryLow}} {
		if math.IsNaN(p.v) || p.v < 0 || p.v > 100 {
			bad("%s must be a percentage between 0 and 100, got %v", p.name, p.v)
		}
	}
	if math.IsNaN(cfg.PendingPodsAbove) || cfg.PendingPodsAbove < 0 {
		bad("PendingPodsAbove must be 0 or more, got %v", cfg.PendingPodsAbove)
	}
	if *cfg.CPULow >= cfg.CPUHigh {
		bad("CPULow (%v) must be below CPUHigh (%v)", *cfg.CPULow, cfg.CPUHigh)
	}
	if *cfg.MemoryLow >= cfg.MemoryHigh {
		bad("MemoryLow (%v) must be below MemoryHigh (%v)", *cfg.MemoryLow, cfg.MemoryHigh)
	}
	for _, s := range []struct {
		name string
		v    int
	}{{"PendingStep", cfg.PendingStep}, {"CPUStep", cfg.CPUStep}, {"MemoryStep", cfg.MemoryStep}, {"DownStep", cfg.DownStep},
		{"SustainedUp", cfg.SustainedUp}, {"SustainedDown", cfg.SustainedDown}} {
		if s.v < 1 {
			bad("%s must be at least 1, got %d", s.name, s.v)
		}
	}
	if cfg.ScaleDownWindow < 0 {
		bad("ScaleDownWindow must be positive, got %s", cfg.ScaleDownWindow)
	}
	if cfg.PendingNodes != PendingByStep && cfg.PendingNodes != PendingByNeed {
		bad("PendingNodes must be %q or %q, got %q", PendingByStep, PendingByNeed, cfg.PendingNodes)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("threshold policy: %w", err)
	}
	return &Threshold{cfg: cfg}, nil
}

// Default returns the threshold policy with the original design's defaults.
func Default() *Threshold {
	return &Threshold{cfg: DefaultThresholdConfig()}
}

// Config returns the policy's configuration (its low thresholds fresh
// copies).
func (p *Threshold) Config() ThresholdConfig { return p.cfg.withDefaults() }

// sustained reports whether cond holds for the current reading and the
// n-1 readings before it in history. A missing (NaN) reading breaks it.
func sustained(cur float64, history []autoscaler.Record, n int, get func(autoscaler.Record) float64, cond func(float64) bool) bool {
	if math.IsNaN(cur) || !cond(cur) {
		return false
	}
	if n-1 > len(history) {
		return false
	}
	for _, r := range history[len(history)-(n-1):] {
		v := get(r)
		if math.IsNaN(v) || !cond(v) {
			return false
		}
	}
	return true
}

func val(m autoscaler.Metric) float64 {
	if !m.OK {
		return math.NaN()
	}
	return m.Value
}

// Decide implements autoscaler.Policy.
func (p *Threshold) Decide(in autoscaler.PolicyInput) autoscaler.Decision {
	c := p.cfg
	if c.CPULow == nil || c.MemoryLow == nil {
		c = c.withDefaults() // the zero Threshold: the default policy
	}
	cpuLow, memLow := *c.CPULow, *c.MemoryLow
	s := in.Snapshot
	cpu, mem, pending := val(s.CPU), val(s.Memory), val(s.PendingPods)
	cpuOf := func(r autoscaler.Record) float64 { return r.CPU }
	memOf := func(r autoscaler.Record) float64 { return r.Memory }

	if sv := s.Scheduler; sv != nil {
		// Pods no new node would help are not counted: they would pin
		// the fleet at MaxNodes.
		placeable := len(sv.Placeable())
		if float64(placeable) > c.PendingPodsAbove && sv.NodesNeeded > 0 {
			n := c.PendingStep
			if c.PendingNodes == PendingByNeed {
				n = sv.NodesNeeded
			}
			return autoscaler.Decision{Action: autoscaler.ScaleUp, Count: n, Level: autoscaler.LevelCritical,
				Reason: fmt.Sprintf("%d pending pods a new node can take (they need %d new node(s))", placeable, sv.NodesNeeded)}
		}
		pending = float64(placeable)
	} else if s.PendingPods.OK && pending > c.PendingPodsAbove {
		return autoscaler.Decision{Action: autoscaler.ScaleUp, Count: c.PendingStep, Level: autoscaler.LevelCritical,
			Reason: fmt.Sprintf("%g pending pods", pending)}
	}
	if sustained(cpu, in.History, c.SustainedUp, cpuOf, func(v float64) bool { return v > c.CPUHigh }) {
		return autoscaler.Decision{Action: autoscaler.ScaleUp, Count: c.CPUStep, Level: autoscaler.LevelHighLoad,
			Reason: fmt.Sprintf("CPU %.1f%% above %g%%%s", cpu, c.CPUHigh, forReadings(c.SustainedUp))}
	}
	if sustained(mem, in.History, c.SustainedUp, memOf, func(v float64) bool { return v > c.MemoryHigh }) {
		return autoscaler.Decision{Action: autoscaler.ScaleUp, Count: c.MemoryStep, Level: autoscaler.LevelHighLoad,
			Reason: fmt.Sprintf("memory %.1f%% above %g%%%s", mem, c.MemoryHigh, forReadings(c.SustainedUp))}
	}
	if s.PendingPods.OK && pending == 0 &&
		sustained(cpu, in.History, c.SustainedDown, cpuOf, func(v float64) bool { return v < cpuLow }) &&
		sustained(mem, in.History, c.SustainedDown, memOf, func(v float64) bool { return v < memLow }) {
		if left := in.ReadyNodes - c.DownStep; left > 0 {
			rise := riseQuantile(in.History, cpuLoad, c.ScaleDownWindow)
			if after := 100 * (cpu/100*float64(in.ReadyNodes) + rise) / float64(left); rise > 0 && after > c.CPUHigh {
				return autoscaler.HoldBecause("CPU %.1f%% below %g%%, but with its usual rise within %s (%.2f nodes' worth) it would be %.1f%% of the %d nodes left, above %g%%: stabilised",
					cpu, cpuLow, c.ScaleDownWindow, rise, after, left, c.CPUHigh)
			}
			if d, ok := s.Demand(); ok {
				// The pods' own demand, where the scheduler's view has
				// it: the pending rule above adds nodes as soon as the
				// pods outgrow the fleet, so a -1 that their usual rise
				// would outgrow is a scale-up in waiting.
				rise := riseQuantile(in.History, autoscaler.Record.Demand, c.ScaleDownWindow)
				if need := nodesFor(d + rise); rise > 0 && need > left {
					return autoscaler.HoldBecause("CPU %.1f%% below %g%%, but the pods' demand %.2f nodes with its usual rise within %s (%.2f) needs %d, more than the %d nodes left: stabilised",
						cpu, cpuLow, d, c.ScaleDownWindow, rise, need, left)
				}
			}
		}
		return autoscaler.Decision{Action: autoscaler.ScaleDown, Count: c.DownStep, Level: autoscaler.LevelLowLoad,
			Reason: fmt.Sprintf("CPU %.1f%% below %g%%, memory %.1f%% below %g%%, no pending pods%s", cpu, cpuLow, mem, memLow, forReadings(c.SustainedDown))}
	}
	var why []string
	if missing := s.Missing(); len(missing) > 0 {
		why = append(why, "missing "+strings.Join(missing, ", "))
	}
	why = append(why, fmt.Sprintf("cpu=%s mem=%s pending=%s within thresholds", s.CPU, s.Memory, s.PendingPods))
	return autoscaler.Decision{Action: autoscaler.Hold, Reason: strings.Join(why, "; ")}
}

func forReadings(n int) string {
	if n <= 1 {
		return ""
	}
	return fmt.Sprintf(" for %d readings", n)
}
