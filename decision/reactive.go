package decision

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/capacity"
)

// ReactiveConfig sets the reactive policy.
type ReactiveConfig struct {
	// Headroom is the spare capacity kept above the demand, as a
	// fraction: 0.3 keeps 30% more room than the pods request. Default 0:
	// exactly the nodes the pods need, as cluster-autoscaler does.
	Headroom float64
	// ScaleDownUtilization: nodes are removed only while the demand is
	// below this share of the Ready nodes' room, as a fraction. Default
	// 1: whenever the pods (with headroom) fit on fewer nodes.
	// cluster-autoscaler's --scale-down-utilization-threshold defaults
	// to 0.5, per node.
	ScaleDownUtilization float64
	// ScaleDownWindow is the scale-down stabilisation: nodes are removed
	// only down to the most the demand needed over this window (as the
	// HorizontalPodAutoscaler's stabilisation window does for pods), and
	// only while the demand now plus its usual rise within this window
	// (the 95th percentile of the rises the history shows) still fits
	// the nodes left, so that a node removed is seldom needed again
	// within it. Default DefaultScaleDownWindow (14 minutes); a window
	// shorter than the tick interval (time.Second) holds nothing.
	ScaleDownWindow time.Duration
}

// Reactive is a policy that sizes the fleet for the pods there are now,
// as the scheduler sees them (Snapshot.Scheduler, which metrics.KubeScheduler
// reads from the Kubernetes API and the simulator builds alike with
// autoscaler.SchedulerViewOf): the demand is the requests of the pods on
// the workers plus the placeable pending ones, in worker units. It keeps
// ceil(demand x (1+Headroom)) nodes, adds at least the new workers the
// pending pods need (NodesNeeded, packed first-fit decreasing), and removes
// nodes when the demand fits on fewer. It never looks ahead; the booting
// time is what it leaves unserved. Without the scheduler's view it scales
// up for pending pods only and otherwise holds: it never guesses the
// demand from CPU.
type Reactive struct {
	cfg ReactiveConfig
}

// NewReactive checks cfg, fills in its defaults and returns the policy.
// Every problem is reported, naming the field.
func NewReactive(cfg ReactiveConfig) (*Reactive, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if math.IsNaN(cfg.Headroom) || cfg.Headroom < 0 || cfg.Headroom > 10 {
		bad("Headroom must be a fraction between 0 and 10, got %v", cfg.Headroom)
	}
	if cfg.ScaleDownUtilization == 0 {
		cfg.ScaleDownUtilization = 1
	}
	if math.IsNaN(cfg.ScaleDownUtilization) || cfg.ScaleDownUtilization < 0 || cfg.ScaleDownUtilization > 1 {
		bad("ScaleDownUtilization must be a fraction between 0 and 1, got %v", cfg.ScaleDownUtilization)
	}
	if cfg.ScaleDownWindow < 0 {
		bad("ScaleDownWindow must be positive, got %s", cfg.ScaleDownWindow)
	}
	if cfg.ScaleDownWindow == 0 {
		cfg.ScaleDownWindow = DefaultScaleDownWindow
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("reactive policy: %w", err)
	}
	return &Reactive{cfg: cfg}, nil
}

// Config returns the policy's configuration, defaults filled in.
func (p *Reactive) Config() ReactiveConfig { return p.cfg }

// nodesFor is the number of nodes that hold units worker units.
func nodesFor(units float64) int {
	if units <= 0 {
		return 0
	}
	// The tolerance keeps 2.000000001 units from needing a third node.
	return int(math.Ceil(units - 1e-9))
}

// placeablePending counts the pending pods a new worker would take.
func placeablePending(v *capacity.SchedulerView) int {
	n := 0
	for _, p := range v.Pending {
		if p.Unplaceable == "" {
			n++
		}
	}
	return n
}

// scaleDown is the stabilised scale-down from the Ready nodes towards
// target: no lower than the most the demand needed over the window, nor
// than the demand now plus its usual rise within it needs.
func (p *Reactive) scaleDown(in autoscaler.PolicyInput, demand float64, target int) autoscaler.Decision {
	c := p.cfg
	recent := mostNeeded(in.Now, in.History, c.ScaleDownWindow, c.Headroom)
	rise := riseQuantile(in.History, autoscaler.Record.Demand, c.ScaleDownWindow)
	ahead := nodesFor((demand + rise) * (1 + c.Headroom))
	why := fmt.Sprintf("demand %.2f nodes +%.0f%% fits %d nodes, %d Ready; the most needed over %s %d, with its usual rise (%.2f) %d",
		demand, 100*c.Headroom, target, in.ReadyNodes, c.ScaleDownWindow, recent, rise, ahead)
	keep := max(target, recent, ahead)
	if keep >= in.ReadyNodes {
		return autoscaler.HoldBecause("%s: stabilised", why)
	}
	return autoscaler.Decision{Action: autoscaler.ScaleDown, Count: in.ReadyNodes - keep, Level: autoscaler.LevelLowLoad, Reason: why}
}

// Decide implements autoscaler.Policy.
func (p *Reactive) Decide(in autoscaler.PolicyInput) autoscaler.Decision {
	return p.decide(in, true)
}

// decide is Decide, its scale-down stabilised or not (the predictive
// policy stabilises its own).
func (p *Reactive) decide(in autoscaler.PolicyInput, stabilise bool) autoscaler.Decision {
	c := p.cfg
	v := in.Snapshot.Scheduler
	demand, ok := in.Snapshot.Demand()
	if !ok {
		if v != nil && v.NodesNeeded > 0 {
			return autoscaler.Decision{Action: autoscaler.ScaleUp, Count: v.NodesNeeded, Level: autoscaler.LevelCritical,
				Reason: fmt.Sprintf("%d pending pods need %d new node(s) (demand unknown)", placeablePending(v), v.NodesNeeded)}
		}
		return autoscaler.HoldBecause("reactive: demand unknown (no scheduler view with a worker template; pending=%s)", in.Snapshot.PendingPods)
	}
	target := nodesFor(demand * (1 + c.Headroom))
	pending := placeablePending(v)
	// Pending pods need their new workers whatever the sum says (it
	// ignores how pods pack).
	if v.NodesNeeded > 0 && in.ReadyNodes+v.NodesNeeded > target {
		target = in.ReadyNodes + v.NodesNeeded
	}
	switch {
	case target > in.ReadyNodes:
		lvl := autoscaler.LevelHighLoad
		if pending > 0 {
			lvl = autoscaler.LevelCritical
		}
		return autoscaler.Decision{Action: autoscaler.ScaleUp, Count: target - in.ReadyNodes, Level: lvl,
			Reason: fmt.Sprintf("demand %.2f nodes (%d pending pods need %d) +%.0f%% needs %d nodes, %d Ready", demand, pending, v.NodesNeeded, 100*c.Headroom, target, in.ReadyNodes)}
	case target < in.ReadyNodes && pending == 0:
		if util := demand / float64(in.ReadyNodes); util >= c.ScaleDownUtilization {
			return autoscaler.HoldBecause("demand %.2f nodes fits %d nodes but utilisation %.0f%% is not below %.0f%%", demand, target, 100*util, 100*c.ScaleDownUtilization)
		}
		if !stabilise {
			return autoscaler.Decision{Action: autoscaler.ScaleDown, Count: in.ReadyNodes - target, Level: autoscaler.LevelLowLoad,
				Reason: fmt.Sprintf("demand %.2f nodes +%.0f%% fits %d nodes, %d Ready", demand, 100*c.Headroom, target, in.ReadyNodes)}
		}
		return p.scaleDown(in, demand, target)
	}
	return autoscaler.HoldBecause("demand %.2f nodes (%d pending pods) +%.0f%% fits the %d Ready nodes", demand, pending, 100*c.Headroom, in.ReadyNodes)
}
