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
	// PodsPerNode is the pods one node holds.
	PodsPerNode float64
	// Mode sets the predictive policy's lead time: the longest boot plus
	// the tick interval.
	Mode Mode
	// BootMax is the longest boot-and-join time. Default 120 seconds.
	BootMax time.Duration
	// Calendar is the predictive policy's calendar of known events.
	Calendar []decision.Event
}

// policies maps a name to its description and builder.
var policies = map[string]struct {
	about string
	build func(s PolicySpec) (autoscaler.Policy, error)
}{
	decision.PolicyThreshold: {decision.ShippedAbout(decision.PolicyThreshold),
		func(PolicySpec) (autoscaler.Policy, error) {
			return decision.Shipped(decision.ShippedConfig{Name: decision.PolicyThreshold})
		}},
	decision.PolicyReactive: {decision.ShippedAbout(decision.PolicyReactive),
		func(s PolicySpec) (autoscaler.Policy, error) {
			return decision.Shipped(decision.ShippedConfig{Name: decision.PolicyReactive, PodsPerNode: s.PodsPerNode})
		}},
	"reactive30": {"the reactive policy keeping 30% headroom",
		func(s PolicySpec) (autoscaler.Policy, error) {
			return decision.NewReactive(decision.ReactiveConfig{PodsPerNode: s.PodsPerNode, Headroom: 0.3})
		}},
	decision.PolicyPredictive: {decision.ShippedAbout(decision.PolicyPredictive),
		func(s PolicySpec) (autoscaler.Policy, error) {
			return decision.Shipped(decision.ShippedConfig{Name: decision.PolicyPredictive, PodsPerNode: s.PodsPerNode, Lead: s.Lead(), Calendar: s.Calendar})
		}},
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

// Lead is the predictive policy's lead time for the spec: the longest
// boot-and-join time plus the mode's tick interval.
func (s PolicySpec) Lead() time.Duration {
	boot := s.BootMax
	if boot <= 0 {
		boot = 120 * time.Second
	}
	return boot + s.Mode.Interval()
}

// NewPolicy builds the named policy.
func NewPolicy(s PolicySpec) (autoscaler.Policy, error) {
	p, ok := policies[s.Name]
	if !ok {
		return nil, fmt.Errorf("unknown policy %q; want one of %s", s.Name, strings.Join(PolicyNames(), ", "))
	}
	return p.build(s)
}

// HistoryLimit is the history the simulator keeps for a policy in a mode:
// the predictive policy in lambda mode keeps a day and an hour of 2-minute
// ticks (750 records) so that its daily seasonality has data; everything
// else keeps the autoscaler's default (720 records: a day in lambda mode,
// three hours in daemon mode, where a day would be 5,760 records and the
// core copies the whole history on every tick).
func HistoryLimit(policy string, mode Mode) int {
	if policy == "predictive" && mode == ModeLambda {
		return 750
	}
	return autoscaler.DefaultConfig().HistoryLimit
}
