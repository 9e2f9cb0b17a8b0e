package sim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/decision"
)

// DefaultPodsPerNode is the demand units one worker holds when
// Config.PodsPerNode is zero in Measure: a unit is a tenth of a worker's
// free CPU.
const DefaultPodsPerNode = 10

// Demand is a series to replay: Units[i] is what the step that starts at
// Start + i*Step needs, in demand units (a PodsPerNode-th of a worker's
// free CPU; see Config.Demand). BuiltinDay, Trace.Demand and
// History.Demand make one.
type Demand struct {
	// Name says where the series came from, for reports.
	Name  string
	Start time.Time
	Step  time.Duration
	Units []float64
	// Calendar holds the known events of the period (a flash sale, say),
	// which the predictive policy may be told about.
	Calendar []decision.Event
}

// Peak is the largest value of the series.
func (d Demand) Peak() float64 {
	p := 0.0
	for _, v := range d.Units {
		p = math.Max(p, v)
	}
	return p
}

// End is the end of the series' last step.
func (d Demand) End() time.Time { return d.Start.Add(time.Duration(len(d.Units)) * d.Step) }

// BuiltinDay is the built-in day of e-commerce demand (SyntheticDay for
// 2026-11-27) with its flash sale at 20:00 in the calendar: the
// simulator's demo, needing no file and no network.
func BuiltinDay() Demand {
	start, units := SyntheticDay(time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC))
	sale := start.Add(20 * time.Hour)
	return Demand{Name: "built-in day", Start: start, Step: time.Minute, Units: units,
		Calendar: []decision.Event{{Name: "flash sale", Start: sale, End: sale.Add(45 * time.Minute), Factor: 3}}}
}

// Measure replays d through policy in the cluster model and reports what
// the fleet cost and how much demand it left unserved. cfg sets
// everything else (its Start, Step and Demand are taken from d and its
// Autoscaler.Policy is policy); a zero cfg is the shipped Lambda setup on
// spot t3.medium workers in DefaultModel, with these defaults on top of
// Run's: PodsPerNode DefaultPodsPerNode, and Autoscaler.MaxNodes, when
// zero, twice the nodes d's peak needs (at least 10, and at least
// Autoscaler.MinNodes) so that the guardrail is not what the measurement
// measures. The policy is told MaxNodes (PolicyInput.MaxNodes) from the
// first tick, and so, with this default, d's peak before it comes: a
// policy that reads MaxNodes is measured fairly only with MaxNodes set
// in cfg, as in production.
func Measure(ctx context.Context, d Demand, policy autoscaler.Policy, cfg Config) (Report, error) {
	if policy == nil {
		return Report{}, errors.New("sim: Measure needs a policy")
	}
	cfg.Start, cfg.Step, cfg.Demand = d.Start, d.Step, d.Units
	if cfg.PodsPerNode == 0 {
		cfg.PodsPerNode = DefaultPodsPerNode
	}
	cfg.Autoscaler.Policy = policy
	if cfg.Autoscaler.MaxNodes == 0 && cfg.PodsPerNode > 0 {
		cfg.Autoscaler.MaxNodes = max(cfg.Autoscaler.MinNodes, DefaultMaxNodes(d.Peak(), cfg.PodsPerNode))
	}
	rep, err := Run(ctx, cfg)
	if err != nil && d.Name != "" {
		return rep, fmt.Errorf("%s: %w", d.Name, err)
	}
	return rep, err
}

// DefaultMaxNodes is the MaxNodes guardrail the simulator sets for a
// demand peak: twice the nodes the peak needs, at least 10.
func DefaultMaxNodes(peak, podsPerNode float64) int {
	return max(10, 2*int(math.Ceil(peak/podsPerNode)))
}

// Demand turns the trace into demand (see Pods), named after the trace.
func (t Trace) Demand(peakNodes int, podsPerNode float64) (Demand, error) {
	units, err := t.Pods(peakNodes, podsPerNode)
	if err != nil {
		return Demand{}, err
	}
	return Demand{Name: t.Name, Start: t.Start, Step: t.Step, Units: units}, nil
}
