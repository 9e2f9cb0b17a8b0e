package autoscaler

import "time"

// KnownEvent is a surge known in advance: a flash sale, a match, a launch.
// Policies that look ahead (decision.Predictive) raise capacity before it.
// Events come from a policy's configuration and from the cluster's state
// (ClusterState.Calendar), where an operator adds one without redeploying.
type KnownEvent struct {
	// Name names the event in reasons and alerts.
	Name string
	// Start and End bound the event: [Start, End).
	Start, End time.Time
	// Pods is the least demand in pods expected during the event; 0 for
	// none.
	Pods float64 `json:",omitempty"`
	// Nodes is the least demand in nodes (worker units) expected during
	// the event; 0 for none.
	Nodes float64 `json:",omitempty"`
	// Factor multiplies the forecast before the event; 0 or 1 for none.
	Factor float64 `json:",omitempty"`
}
