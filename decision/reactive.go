package decision

import (
	"errors"
	"fmt"
	"math"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// DefaultDemandMetric is the custom metric the capacity policies read the
// demand from when it is present: the number of pods the workload wants,
// running and pending (an HPA's desired replicas summed, or a request rate
// divided by what one pod serves). The simulator publishes it.
const DefaultDemandMetric = "demand_pods"

// ReactiveConfig sets the reactive policy.
type ReactiveConfig struct {
	// PodsPerNode is how many pods one node holds (its allocatable
	// resources divided by a pod's requests). Required unless
	// PodsPerNodeMetric is set; it is then the fallback when that
	// metric is missing.
	PodsPerNode float64
	// PodsPerNodeMetric, when set, names a custom metric in the snapshot
	// that gives PodsPerNode (for clusters whose pod size changes).
	PodsPerNodeMetric string
	// DemandMetric names the custom metric that gives the demand in
	// pods. Default DefaultDemandMetric. When it is missing, the demand
	// is estimated as CPU/100 * ReadyNodes * PodsPerNode + PendingPods:
	// the pods that keep the Ready nodes busy plus the ones waiting.
	DemandMetric string
	// Headroom is the spare capacity kept above the demand, as a
	// fraction: 0.3 keeps 30% more pods' room than the demand. Default 0:
	// exactly the nodes the pods need, as cluster-autoscaler does.
	Headroom float64
	// ScaleDownUtilization: nodes are removed only while the Ready nodes'
	// utilisation (demand / capacity) is below it, as a fraction.
	// Default 1: whenever the pods (with headroom) fit on fewer nodes.
	// cluster-autoscaler's --scale-down-utilization-threshold defaults
	// to 0.5, per node.
	ScaleDownUtilization float64
}

// Reactive is a policy that sizes the fleet for the pods there are now: it
// adds exactly the nodes that pending pods need (plus Headroom) and
// removes the nodes whose pods fit on the others. It never looks ahead;
// the booting time is what it leaves unserved.
type Reactive struct {
	cfg ReactiveConfig
}

// NewReactive checks cfg, fills in its defaults and returns the policy.
// Every problem is reported, naming the field.
func NewReactive(cfg ReactiveConfig) (*Reactive, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if cfg.PodsPerNodeMetric == "" && !(cfg.PodsPerNode > 0) {
		bad("PodsPerNode must be positive (or PodsPerNodeMetric set), got %v", cfg.PodsPerNode)
	}
	if math.IsNaN(cfg.PodsPerNode) || cfg.PodsPerNode < 0 {
		bad("PodsPerNode must not be negative, got %v", cfg.PodsPerNode)
	}
	if math.IsNaN(cfg.Headroom) || cfg.Headroom < 0 || cfg.Headroom > 10 {
		bad("Headroom must be a fraction between 0 and 10, got %v", cfg.Headroom)
	}
	if cfg.ScaleDownUtilization == 0 {
		cfg.ScaleDownUtilization = 1
	}
	if math.IsNaN(cfg.ScaleDownUtilization) || cfg.ScaleDownUtilization < 0 || cfg.ScaleDownUtilization > 1 {
		bad("ScaleDownUtilization must be a fraction between 0 and 1, got %v", cfg.ScaleDownUtilization)
	}
	if cfg.DemandMetric == "" {
		cfg.DemandMetric = DefaultDemandMetric
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("reactive policy: %w", err)
	}
	return &Reactive{cfg: cfg}, nil
}

// Config returns the policy's configuration, defaults filled in.
func (p *Reactive) Config() ReactiveConfig { return p.cfg }

// podsPerNode reads PodsPerNodeMetric when set and present.
func podsPerNode(s autoscaler.Snapshot, metric string, fallback float64) float64 {
	if metric != "" {
		if m, ok := s.Custom[metric]; ok && m.OK && m.Value > 0 && !math.IsInf(m.Value, 0) {
			return m.Value
		}
	}
	return fallback
}

// currentDemand is the demand in pods now: the demand metric when present,
// else busy pods (from CPU) plus pending pods. ok is false when neither
// can be had.
func currentDemand(in autoscaler.PolicyInput, metric string, ppn float64) (d float64, estimated, ok bool) {
	s := in.Snapshot
	if m, found := s.Custom[metric]; found && m.OK && m.Value >= 0 && !math.IsInf(m.Value, 0) {
		return m.Value, false, true
	}
	if !s.CPU.OK || !s.PendingPods.OK || math.IsNaN(s.CPU.Value) || math.IsNaN(s.PendingPods.Value) {
		return 0, true, false
	}
	return s.CPU.Value/100*float64(in.ReadyNodes)*ppn + s.PendingPods.Value, true, true
}

// nodesFor is the number of nodes that hold pods at ppn pods per node.
func nodesFor(pods, ppn float64) int {
	if pods <= 0 {
		return 0
	}
	// The tolerance keeps 20.000000001 pods from needing a third node of 10.
	return int(math.Ceil(pods/ppn - 1e-9))
}

// Decide implements autoscaler.Policy.
func (p *Reactive) Decide(in autoscaler.PolicyInput) autoscaler.Decision {
	c := p.cfg
	ppn := podsPerNode(in.Snapshot, c.PodsPerNodeMetric, c.PodsPerNode)
	if !(ppn > 0) {
		return autoscaler.HoldBecause("reactive: pods per node unknown (%s missing, no PodsPerNode)", c.PodsPerNodeMetric)
	}
	pending := val(in.Snapshot.PendingPods)
	demand, estimated, ok := currentDemand(in, c.DemandMetric, ppn)
	if !ok {
		if pending > 0 {
			n := nodesFor(pending, ppn)
			return autoscaler.Decision{Action: autoscaler.ScaleUp, Count: n, Level: autoscaler.LevelCritical,
				Reason: fmt.Sprintf("%g pending pods need %d node(s) (demand unknown)", pending, n)}
		}
		return autoscaler.HoldBecause("reactive: demand unknown (no %s, cpu=%s pending=%s)", c.DemandMetric, in.Snapshot.CPU, in.Snapshot.PendingPods)
	}
	src := c.DemandMetric
	if estimated {
		src = "cpu+pending"
	}
	target := nodesFor(demand*(1+c.Headroom), ppn)
	// Pending pods need their own nodes whatever the estimate says.
	if pending > 0 {
		if need := nodesFor(pending, ppn); in.ReadyNodes+need > target {
			target = in.ReadyNodes + need
		}
	}
	switch {
	case target > in.ReadyNodes:
		lvl := autoscaler.LevelHighLoad
		if pending > 0 {
			lvl = autoscaler.LevelCritical
		}
		return autoscaler.Decision{Action: autoscaler.ScaleUp, Count: target - in.ReadyNodes, Level: lvl,
			Reason: fmt.Sprintf("demand %.0f pods (%s, %g pending) +%.0f%% needs %d nodes, %d Ready", demand, src, pending, 100*c.Headroom, target, in.ReadyNodes)}
	case target < in.ReadyNodes && pending == 0:
		capacity := float64(in.ReadyNodes) * ppn
		if util := demand / capacity; util >= c.ScaleDownUtilization {
			return autoscaler.HoldBecause("demand %.0f pods fits %d nodes but utilisation %.0f%% is not below %.0f%%", demand, target, 100*util, 100*c.ScaleDownUtilization)
		}
		return autoscaler.Decision{Action: autoscaler.ScaleDown, Count: in.ReadyNodes - target, Level: autoscaler.LevelLowLoad,
			Reason: fmt.Sprintf("demand %.0f pods (%s) +%.0f%% fits %d nodes, %d Ready", demand, src, 100*c.Headroom, target, in.ReadyNodes)}
	}
	return autoscaler.HoldBecause("demand %.0f pods (%s, %g pending) +%.0f%% fits the %d Ready nodes", demand, src, pending, 100*c.Headroom, in.ReadyNodes)
}
