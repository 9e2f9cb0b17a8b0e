package autoscaler

import (
	"sort"
	"time"
)

// EventKind classifies a notification.
type EventKind string

// The events the autoscaler notifies.
const (
	EventScaleUp     EventKind = "scale_up"
	EventScaleDown   EventKind = "scale_down"
	EventFailure     EventKind = "failure"
	EventSafetyMode  EventKind = "safety_mode"
	EventStaleLock   EventKind = "stale_lock"
	EventGhost       EventKind = "ghost_terminated"
	EventCapacity    EventKind = "insufficient_capacity"
	EventAbandoned   EventKind = "scale_down_abandoned"
	EventRecovered   EventKind = "recovered"
	EventInterrupted EventKind = "spot_interruption"
	// EventRepairHeld: repair was held because too much of the fleet is
	// NotReady at once (an outage, not broken machines).
	EventRepairHeld EventKind = "repair_held"
	// EventNoProgress: pending pods a launch did not help; no more
	// launches for them.
	EventNoProgress EventKind = "no_progress"
	// EventUnplaceable: a pending pod no new node would help (its
	// requests, nodeSelector, affinity or tolerations); alerted once.
	EventUnplaceable EventKind = "unplaceable_pod"
	// EventFloorUnmet: the fleet is below MinNodes and cannot launch,
	// because instances that are not capacity fill MaxNodes.
	EventFloorUnmet EventKind = "floor_unmet"
	// EventClockSkew: a time stored by another replica or by hand
	// (ClusterState.LastScaleUp, LastScaleDown, a recent launch) lies in
	// the future; it is taken as long ago.
	EventClockSkew EventKind = "clock_skew"
)

// Event is something a person may want to know about, sent to the Notifier.
type Event struct {
	Kind      EventKind
	Time      time.Time
	ClusterID string
	// Message is one readable line.
	Message string
	// Decision is the decision behind a scaling event.
	Decision *Decision `json:",omitempty"`
	// Instances are the instance ids concerned.
	Instances []string `json:",omitempty"`
	// Error is the error text of a failure.
	Error string `json:",omitempty"`
	// DryRun is true for every event of a dry-running autoscaler
	// (Config.DryRun): a scaling or repair event's Message then says what
	// it would have done ("would scale up 3: ..."); nothing was done.
	DryRun bool `json:",omitempty"`
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
