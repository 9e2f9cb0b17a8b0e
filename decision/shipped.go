package decision

import (
	"fmt"
	"math"
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

// The forecast modes of the shipped policies (ShippedConfig.Forecast, the
// programs' FORECAST).
const (
	ForecastOff    = "off"
	ForecastShadow = "shadow"
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
	// boot-and-join plus a tick interval. Default DefaultLead.
	Lead time.Duration
	// Target is the predictive policy's target under-provisioning rate
	// (see ForecasterConfig.Target). Default DefaultTarget.
	Target float64
	// ScaleDownWindow, when set, is the scale-down stabilisation of
	// whichever policy is built, in place of its own default (and of
	// Threshold's ScaleDownWindow): see ThresholdConfig.ScaleDownWindow,
	// ReactiveConfig.ScaleDownWindow and
	// PredictiveConfig.ScaleDownWindow. Zero leaves each its default:
	// DefaultScaleDownWindow for threshold and reactive, two lead times
	// for predictive. A window shorter than a tick holds nothing.
	ScaleDownWindow time.Duration
	// PodsPerNode converts calendar events given in pods into nodes (see
	// PredictiveConfig.PodsPerNode); 0 when events are given in nodes.
	PodsPerNode float64
	// Calendar lists the predictive policy's known events.
	Calendar []Event
	// Forecast is ForecastOff (the default, also "") or ForecastShadow:
	// the named policy acts, and the predictive policy built from the
	// same settings only says what it would have done (see Shadow).
	// Shadow needs a policy other than PolicyPredictive.
	Forecast string
}

// ShippedNames lists the names Shipped knows, in order.
func ShippedNames() []string { return []string{PolicyThreshold, PolicyReactive, PolicyPredictive} }

// ShippedAbout describes a shipped policy in a line; "" for an unknown
// name.
func ShippedAbout(name string) string {
	switch name {
	case PolicyThreshold:
		return "the original design's thresholds (pending pods +2, CPU > 70% +1, CPU < 30% and memory < 50% -1); the -1 stabilised: held while the CPU load's usual rise within " + DefaultScaleDownWindow.String() + " would take the nodes left above 70%, or the pods' demand's would outgrow them"
	case PolicyReactive:
		return "exactly the nodes the pods need, pending pods first (as cluster-autoscaler); scale-down stabilised: no lower than the most they needed over " + DefaultScaleDownWindow.String() + " and their usual rise within it"
	case PolicyPredictive:
		return "the reactive policy, raised to the forecast of the next lead time plus its headroom (damped trend or seasonal, picked by MASE; where none beats naive, a scale-up the reactive policy asks for sized for the usual rise in a lead time) and to the calendar; scale-down reactive and stabilised"
	}
	return ""
}

// Shipped builds the named shipped policy, in the forecast mode asked.
func Shipped(c ShippedConfig) (autoscaler.Policy, error) {
	switch c.Forecast {
	case "", ForecastOff:
		return shipped(c)
	case ForecastShadow:
		if c.Name == PolicyPredictive {
			return nil, fmt.Errorf("decision: forecast mode %q needs another policy to act than %q", c.Forecast, PolicyPredictive)
		}
		acting, err := shipped(c)
		if err != nil {
			return nil, err
		}
		c.Name = PolicyPredictive
		pred, err := shipped(c)
		if err != nil {
			return nil, err
		}
		return Shadow(acting, pred), nil
	}
	return nil, fmt.Errorf("decision: unknown forecast mode %q; want %s or %s", c.Forecast, ForecastOff, ForecastShadow)
}

// Shadow returns a policy that decides as acting does and asks shadow
// what it would have done, for judging a policy (the predictive one,
// say) before letting it act, as the cloud providers' forecast-only
// modes do: the decision is acting's, its reason followed by
// "; forecast-only: " and shadow's decision, so that the tick's log
// and notifications carry both, and shadow's decision is its Shadow
// field, so that the tick records it and its forecast in the history
// (autoscaler.Record's ShadowAction, ShadowCount and Forecast fields)
// and publishes them. Shadow's decision is kept within the fleet's
// bounds (MinNodes to MaxNodes), as the guardrails would have kept it
// had it acted, so that the nodes it would have had are nodes it could
// have had. Shadow never acts.
func Shadow(acting, shadow autoscaler.Policy) autoscaler.Policy {
	return autoscaler.PolicyFunc(func(in autoscaler.PolicyInput) autoscaler.Decision {
		d := acting.Decide(in)
		s := withinBounds(shadow.Decide(in), in)
		s.Shadow = nil
		d.Reason = fmt.Sprintf("%s; forecast-only: %s", d.Reason, s)
		d.Shadow = &s
		return d
	})
}

// withinBounds is s with the Ready nodes it leads to kept from
// in.MinNodes to in.MaxNodes (no ceiling when MaxNodes is 0), saying so
// in its reason; a scale-up or scale-down whose count is not positive is
// a hold.
func withinBounds(s autoscaler.Decision, in autoscaler.PolicyInput) autoscaler.Decision {
	if (s.Action == autoscaler.ScaleUp || s.Action == autoscaler.ScaleDown) && s.Count <= 0 {
		s.Action, s.Count = autoscaler.Hold, 0
	}
	wanted := in.ReadyNodes + s.Delta()
	bounded := max(wanted, in.MinNodes, 0)
	if in.MaxNodes > 0 {
		bounded = max(min(wanted, in.MaxNodes), in.MinNodes, 0)
	}
	if bounded == wanted {
		return s
	}
	switch {
	case bounded > in.ReadyNodes:
		s.Action, s.Count = autoscaler.ScaleUp, bounded-in.ReadyNodes
	case bounded < in.ReadyNodes:
		s.Action, s.Count = autoscaler.ScaleDown, in.ReadyNodes-bounded
	default:
		s.Action, s.Count = autoscaler.Hold, 0
	}
	s.Reason += fmt.Sprintf("; %d nodes wanted, kept within MinNodes %d and MaxNodes %d", wanted, in.MinNodes, in.MaxNodes)
	return s
}

// withForecast puts fc, made for lead, in d's forecast fields
// (autoscaler.Decision's ForecastMethod, ForecastNodes, ForecastHeadroom
// and ForecastLead), unless it is not a number.
func withForecast(d *autoscaler.Decision, fc Forecast, lead time.Duration) {
	if math.IsNaN(fc.Point) || math.IsInf(fc.Point, 0) || math.IsNaN(fc.Headroom) || math.IsInf(fc.Headroom, 0) {
		return
	}
	d.ForecastMethod, d.ForecastNodes, d.ForecastHeadroom, d.ForecastLead = fc.MethodName(), fc.Point, fc.Headroom, lead
}

func shipped(c ShippedConfig) (autoscaler.Policy, error) {
	switch c.Name {
	case "", PolicyThreshold:
		th := DefaultThresholdConfig()
		if c.Threshold != nil {
			th = *c.Threshold
		}
		if c.ScaleDownWindow != 0 {
			th.ScaleDownWindow = c.ScaleDownWindow
		}
		return NewThreshold(th)
	case PolicyReactive:
		return NewReactive(ReactiveConfig{Headroom: c.Headroom, ScaleDownWindow: c.ScaleDownWindow})
	case PolicyPredictive:
		pred, err := NewPredictive(PredictiveConfig{PodsPerNode: c.PodsPerNode, Lead: c.Lead, Target: c.Target, ScaleDownWindow: c.ScaleDownWindow, Headroom: c.Headroom, Calendar: c.Calendar})
		if err != nil {
			return nil, err
		}
		return Named(PolicyPredictive, pred), nil
	}
	return nil, fmt.Errorf("decision: unknown policy %q; want one of %s", c.Name, strings.Join(ShippedNames(), ", "))
}
