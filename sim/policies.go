package sim

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/decision"
)

// PolicySpec says how to build one of the simulator's named policies.
type PolicySpec struct {
	// Name is the policy's name (see PolicyNames).
	Name string
	// Calendar is the predictive policy's calendar of known events.
	Calendar []decision.Event
	// Setting, when set, replaces the policy's main setting (the one
	// the benchmark's frontier sweeps, see MainSetting).
	Setting *float64
}

// policies maps a name to its description and builder. The shipped
// policies are built exactly as the programs build them, through
// decision.Shipped with the programs' defaults.
var policies = map[string]struct {
	about string
	build func(s PolicySpec) (autoscaler.Policy, error)
}{
	decision.PolicyThreshold: {decision.ShippedAbout(decision.PolicyThreshold),
		func(s PolicySpec) (autoscaler.Policy, error) {
			c := decision.ShippedConfig{Name: decision.PolicyThreshold}
			if s.Setting != nil {
				th := decision.DefaultThresholdConfig()
				th.CPUHigh = *s.Setting
				c.Threshold = &th
			}
			return decision.Shipped(c)
		}},
	decision.PolicyReactive: {decision.ShippedAbout(decision.PolicyReactive),
		func(s PolicySpec) (autoscaler.Policy, error) {
			c := decision.ShippedConfig{Name: decision.PolicyReactive}
			if s.Setting != nil {
				c.Headroom = *s.Setting
			}
			return decision.Shipped(c)
		}},
	"reactive30": {"the reactive policy keeping 30% headroom",
		func(s PolicySpec) (autoscaler.Policy, error) {
			return decision.Shipped(decision.ShippedConfig{Name: decision.PolicyReactive, Headroom: 0.3})
		}},
	decision.PolicyPredictive: {decision.ShippedAbout(decision.PolicyPredictive),
		func(s PolicySpec) (autoscaler.Policy, error) {
			c := decision.ShippedConfig{Name: decision.PolicyPredictive, Calendar: s.Calendar}
			if s.Setting != nil {
				c.ScaleDownWindow = time.Duration(*s.Setting * float64(time.Minute))
			}
			return decision.Shipped(c)
		}},
}

// MainSetting names the setting of a shipped policy that the benchmark's
// frontier sweeps, and the values it takes (the shipped default among
// them); "" for a policy without one.
func MainSetting(policy string) (name string, values []float64) {
	switch policy {
	case decision.PolicyThreshold:
		return "CPU scale-up threshold %", []float64{50, 60, 70, 80, 90}
	case decision.PolicyReactive:
		return "headroom", []float64{0, 0.1, 0.2, 0.3, 0.5}
	case decision.PolicyPredictive:
		return "scale-down window, minutes", []float64{4, 7, 14, 28, 56}
	}
	return "", nil
}

// PolicyNames lists the names NewPolicy knows, sorted.
func PolicyNames() []string {
	names := make([]string, 0, len(policies))
	for n := range policies {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// PolicyAbout describes a named policy in a line; "" for an unknown name.
func PolicyAbout(name string) string { return policies[name].about }

// NewPolicy builds the named policy.
func NewPolicy(s PolicySpec) (autoscaler.Policy, error) {
	p, ok := policies[s.Name]
	if !ok {
		return nil, fmt.Errorf("unknown policy %q; want one of %s", s.Name, strings.Join(PolicyNames(), ", "))
	}
	return p.build(s)
}

// HistoryLimit is the history the simulator keeps for a policy in a mode:
// the autoscaler's default (720 records) for every policy, as the
// programs keep it; the predictive policy finds its daily and weekly
// periods in the long history (8 days of 10-minute means by default).
func HistoryLimit(policy string, mode Mode) int {
	return autoscaler.DefaultConfig().HistoryLimit
}
