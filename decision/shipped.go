package decision

import (
	"fmt"
	"strings"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// The policies the programs ship, by the name POLICY gives them.
const (
	PolicyThreshold  = "threshold"
	PolicyReactive   = "reactive"
	PolicyPredictive = "predictive"
)

// ShippedConfig says how to build one of the shipped policies: the
// programs (POLICY and its settings) and the simulator build them alike,
// so that the benchmark measures what runs.
type ShippedConfig struct {
	// Name is PolicyThreshold (the default), PolicyReactive or
	// PolicyPredictive.
	Name string
	// Threshold configures the threshold policy; zero means
	// DefaultThresholdConfig.
	Threshold *ThresholdConfig
	// Headroom is the reactive policy's spare capacity (0.3: 30%), also
	// the reactive half of the predictive policy's. Default 0. The
	// reactive and predictive policies read the demand in worker units
	// from the scheduler's view (Snapshot.Scheduler), so they need no
	// pod size.
	Headroom float64
	// Lead is the predictive policy's lead time: the longest
	// boot-and-join plus a tick interval. Default 4 minutes.
	Lead time.Duration
	// SpikeQuantile is the predictive policy's spike cover (see
	// PredictiveConfig.SpikeQuantile). Default 0.99; negative turns it
	// off.
	SpikeQuantile float64
	// PodsPerNode converts calendar events given in pods into nodes (see
	// PredictiveConfig.PodsPerNode); 0 when events are given in nodes.
	PodsPerNode float64
	// Calendar lists the predictive policy's known events.
	Calendar []Event
}

// ShippedNames lists the names Shipped knows, in order.
func ShippedNames() []string { return []string{PolicyThreshold, PolicyReactive, PolicyPredictive} }

// ShippedAbout describes a shipped policy in a line; "" for an unknown
// name.
func ShippedAbout(name string) string {
	switch name {
	case PolicyThreshold:
		return "the original design's thresholds (pending pods +2, CPU > 70% +1, CPU < 30% and memory < 50% -1)"
	case PolicyReactive:
		return "exactly the nodes the pods need, pending pods first (as cluster-autoscaler)"
	case PolicyPredictive:
		return "the predictive policy (trend, seasonality, spike cover, calendar) composed with the reactive one by decision.Max"
	}
	return ""
}

// Shipped builds the named shipped policy.
func Shipped(c ShippedConfig) (autoscaler.Policy, error) {
	switch c.Name {
	case "", PolicyThreshold:
		th := DefaultThresholdConfig()
		if c.Threshold != nil {
			th = *c.Threshold
		}
		return NewThreshold(th)
	case PolicyReactive:
		return NewReactive(ReactiveConfig{Headroom: c.Headroom})
	case PolicyPredictive:
		lead := c.Lead
		if lead == 0 {
			lead = 4 * time.Minute
		}
		pred, err := NewPredictive(PredictiveConfig{PodsPerNode: c.PodsPerNode, Lead: lead, SpikeQuantile: c.SpikeQuantile, Calendar: c.Calendar})
		if err != nil {
			return nil, err
		}
		re, err := NewReactive(ReactiveConfig{Headroom: c.Headroom})
		if err != nil {
			return nil, err
		}
		return Max(Named(PolicyPredictive, pred), Named(PolicyReactive, re)), nil
	}
	return nil, fmt.Errorf("decision: unknown policy %q; want one of %s", c.Name, strings.Join(ShippedNames(), ", "))
}
