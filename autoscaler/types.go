package autoscaler

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// Market is the EC2 purchasing option an instance runs under.
type Market string

// The markets an instance can run under.
const (
	MarketSpot     Market = "spot"
	MarketOnDemand Market = "on-demand"
)

// InstanceState is the lifecycle state of an instance, named as EC2 names it.
type InstanceState string

// The instance states the autoscaler distinguishes. Providers map their own
// states onto these.
const (
	StatePending      InstanceState = "pending"
	StateRunning      InstanceState = "running"
	StateShuttingDown InstanceState = "shutting-down"
	StateTerminated   InstanceState = "terminated"
	StateStopping     InstanceState = "stopping"
	StateStopped      InstanceState = "stopped"
)

// Active reports whether an instance in this state is, or is about to be,
// capacity: pending or running.
func (s InstanceState) Active() bool { return s == StatePending || s == StateRunning }

// Instance is one machine of the fleet as the FleetProvider sees it.
type Instance struct {
	// ID is the provider's id, e.g. "i-0abc...".
	ID string
	// Zone is the availability zone, e.g. "eu-west-1a".
	Zone string
	// Market is spot or on-demand.
	Market Market
	// InstanceType is the machine type, e.g. "t3.medium".
	InstanceType string
	// State is the lifecycle state.
	State InstanceState
	// LaunchTime is when the provider started the instance.
	LaunchTime time.Time
	// PrivateIP and PrivateDNS identify the machine on the network; they
	// are used to match instances to Nodes when providerIDs do not help.
	PrivateIP  string
	PrivateDNS string
	// OperationID is the id of the launch operation that created the
	// instance (see LaunchRequest.OperationID); empty if unknown.
	OperationID string
	// InterruptionNotice, when not zero, is when the provider announced
	// that this (spot) instance will be reclaimed.
	InterruptionNotice time.Time
	// Tags are the provider's tags or labels, for information.
	Tags map[string]string
}

// Node is one Kubernetes Node as the NodeManager sees it.
type Node struct {
	// Name is the Node object's name.
	Name string
	// ProviderID is spec.providerID, e.g. "aws:///eu-west-1a/i-0abc" or
	// "k3s://ip-10-0-1-5".
	ProviderID string
	// InstanceID is the instance id the node carries in its
	// LabelInstanceID label, if any.
	InstanceID string
	// InternalIP and Hostname are the node's addresses.
	InternalIP string
	Hostname   string
	// Ready is the node's Ready condition.
	Ready bool
	// ReadyTransition is when the Ready condition last changed.
	ReadyTransition time.Time
	// Unschedulable is true when the node is cordoned.
	Unschedulable bool
	// Created is the Node object's creation time.
	Created time.Time
	// Pods is the number of pods that a drain would have to evict
	// (DaemonSet, mirror and finished pods excluded).
	Pods int
	// MoveCost weighs how disruptive moving those pods is (the
	// NodeManager decides how: drain sums the pods' CPU requests in
	// millicores); among nodes with as many pods, the cheaper goes first.
	MoveCost float64
	// ScaleDownBlocker, when not empty, says why this node must not be
	// removed (an annotation, a pod that cannot be evicted...).
	ScaleDownBlocker string
	// Managed is true when the node says it belongs to a node-fleet fleet
	// (it carries LabelInstanceID or LabelCluster). Only managed nodes are
	// ever deleted as orphans.
	Managed bool
}

// Labels and annotations node-fleet reads on Nodes.
const (
	// LabelInstanceID is set by the worker's join script to the EC2
	// instance id, so that nodes can be matched to instances where the
	// providerID does not carry it (K3s without the AWS cloud provider).
	LabelInstanceID = "node-fleet.io/instance-id"
	// LabelCluster is set by the join script to the cluster id.
	LabelCluster = "node-fleet.io/cluster"
	// AnnotationScaleDownDisabled on a Node, "true", keeps node-fleet from
	// removing it.
	AnnotationScaleDownDisabled = "node-fleet.io/scale-down-disabled"
	// AnnotationSafeToEvict on a Pod, "false", keeps node-fleet from
	// removing the pod's node.
	AnnotationSafeToEvict = "node-fleet.io/safe-to-evict"
)

// Metric is one reading of a metric. A missing reading (OK false) is never
// zero: it is absent, and Err says why.
type Metric struct {
	// Value is the reading; meaningful only when OK.
	Value float64
	// OK is true when Value holds a real, finite reading.
	OK bool
	// At is when the reading was taken (the sample's timestamp).
	At time.Time
	// Err says why the reading is missing, when !OK.
	Err error
}

// Value returns a present reading taken at t.
func Value(v float64, t time.Time) Metric { return Metric{Value: v, OK: true, At: t} }

// Missing returns an absent reading, with the reason.
func Missing(err error) Metric {
	if err == nil {
		err = ErrNoData
	}
	return Metric{Err: err}
}

// String prints the value, or "missing".
func (m Metric) String() string {
	if !m.OK {
		return "missing"
	}
	return fmt.Sprintf("%.4g", m.Value)
}

// Names of the core metrics in a Snapshot, as used in error messages,
// Snapshot.Missing and custom-metric maps.
const (
	MetricCPU         = "cpu"
	MetricMemory      = "memory"
	MetricPendingPods = "pending_pods"
	MetricAPILatency  = "api_latency_p99"
)

// Snapshot is one observation of the cluster's load. Every field is a
// Metric, so that a missing value can never be mistaken for zero.
type Snapshot struct {
	// Time is when the snapshot was collected.
	Time time.Time
	// CPU is the workers' average CPU utilisation in percent (0-100).
	CPU Metric
	// Memory is the workers' average memory utilisation in percent (0-100).
	Memory Metric
	// PendingPods is the number of pods waiting for capacity.
	PendingPods Metric
	// APILatency is the API server's p99 request latency in seconds.
	// It is informational: its absence alone does not enter safety mode.
	APILatency Metric
	// Custom holds user-defined metrics by name (queue depth, request
	// rate...), for custom policies.
	Custom map[string]Metric
}

// Missing lists the names of the core metrics (cpu, memory, pending_pods)
// that have no reading, in that order.
func (s Snapshot) Missing() []string {
	var out []string
	for _, m := range []struct {
		name string
		m    Metric
	}{{MetricCPU, s.CPU}, {MetricMemory, s.Memory}, {MetricPendingPods, s.PendingPods}} {
		if !m.m.OK {
			out = append(out, m.name)
		}
	}
	return out
}

// Problems lists what is wrong with the snapshot's core metrics at time now:
// missing readings, readings older than maxAge (when maxAge > 0), and
// nonsense (NaN, infinities, percentages outside 0-100, negative pod counts).
// An empty list means the snapshot can be trusted for scaling down.
func (s Snapshot) Problems(now time.Time, maxAge time.Duration) []string {
	var out []string
	check := func(name string, m Metric, lo, hi float64) {
		switch {
		case !m.OK:
			reason := "missing"
			if m.Err != nil {
				reason = "missing: " + m.Err.Error()
			}
			out = append(out, name+" "+reason)
		case math.IsNaN(m.Value) || math.IsInf(m.Value, 0):
			out = append(out, fmt.Sprintf("%s is %v", name, m.Value))
		case m.Value < lo || m.Value > hi:
			out = append(out, fmt.Sprintf("%s %.4g is outside [%g, %g]", name, m.Value, lo, hi))
		case maxAge > 0 && !m.At.IsZero() && now.Sub(m.At) > maxAge:
			out = append(out, fmt.Sprintf("%s is stale (%s old, limit %s)", name, now.Sub(m.At).Round(time.Second), maxAge))
		}
	}
	// A little above 100% is tolerated: rate() over counters can overshoot.
	check(MetricCPU, s.CPU, 0, 105)
	check(MetricMemory, s.Memory, 0, 105)
	check(MetricPendingPods, s.PendingPods, 0, math.MaxInt32)
	return out
}

// Action is what a Decision asks for.
type Action string

// The actions a Policy can decide.
const (
	Hold      Action = "hold"
	ScaleUp   Action = "scale_up"
	ScaleDown Action = "scale_down"
)

// Level says how urgent a decision is, after the original design's levels.
type Level string

// Levels used by the built-in policies; policies may use their own.
const (
	LevelNone       Level = ""
	LevelCritical   Level = "CRITICAL"
	LevelHighLoad   Level = "HIGH_LOAD"
	LevelPredictive Level = "PREDICTIVE"
	LevelLowLoad    Level = "LOW_LOAD"
	LevelGuardrail  Level = "GUARDRAIL"
	LevelRepair     Level = "REPAIR"
)

// Decision is what a Policy wants done: hold, or scale up or down by Count
// nodes, with a reason a person can read.
type Decision struct {
	Action Action
	// Count is the number of nodes to add or remove; 0 for Hold.
	// For ScaleUp it is counted from Ready capacity: instances still
	// booting are subtracted from it by the autoscaler, so a policy that
	// sees the same pending pods twice does not launch twice.
	Count  int
	Reason string
	Level  Level
}

// HoldBecause returns a Hold decision with a reason.
func HoldBecause(format string, args ...any) Decision {
	return Decision{Action: Hold, Reason: fmt.Sprintf(format, args...)}
}

// String prints the decision as "scale_up 2 (CRITICAL): 3 pending pods".
func (d Decision) String() string {
	var b strings.Builder
	b.WriteString(string(d.Action))
	if d.Action != Hold {
		fmt.Fprintf(&b, " %d", d.Count)
	}
	if d.Level != LevelNone {
		fmt.Fprintf(&b, " (%s)", d.Level)
	}
	if d.Reason != "" {
		b.WriteString(": ")
		b.WriteString(d.Reason)
	}
	return b.String()
}

// Delta returns the signed change in nodes: +Count, -Count or 0.
func (d Decision) Delta() int {
	switch d.Action {
	case ScaleUp:
		return d.Count
	case ScaleDown:
		return -d.Count
	}
	return 0
}

// Record is one tick's entry in the decision history: what was observed and
// what was done. Policies read the history (sustained windows, forecasts).
// Its JSON form writes missing readings as null.
type Record struct {
	Time time.Time
	// CPU, Memory and PendingPods are the readings; NaN when missing.
	CPU         float64
	Memory      float64
	PendingPods float64
	// Custom holds custom metric readings, if any.
	Custom map[string]float64
	// Nodes is the number of Ready nodes matched to fleet instances;
	// Instances the number of active instances (Ready or booting).
	Nodes     int
	Instances int
	// Action and Count are what the tick did after guardrails.
	Action Action
	Count  int
	// Safety is true when the tick ran in safety mode.
	Safety bool `json:",omitempty"`
}

// OperationKind names an operation that spans several steps of a tick.
type OperationKind string

// The kinds of operations recorded in ClusterState.Operation.
const (
	OpLaunch    OperationKind = "launch"
	OpScaleDown OperationKind = "scale_down"
)

// Operation phases of a scale-down.
const (
	PhaseDraining    = "draining"
	PhaseTerminating = "terminating"
)

// Operation is a scaling action in progress, written to the state store
// before the action starts, so that a tick that dies half-way (a Lambda
// timeout) can be finished or rolled back by the next one.
type Operation struct {
	// ID is unique per operation; for launches it is the idempotency key
	// passed to FleetProvider.Launch.
	ID   string
	Kind OperationKind
	// Count is the number of instances a launch asked for.
	Count int `json:",omitempty"`
	// NodeName and InstanceID name a scale-down's victim.
	NodeName   string `json:",omitempty"`
	InstanceID string `json:",omitempty"`
	// Phase is how far a scale-down got.
	Phase string `json:",omitempty"`
	// Started is when the operation began.
	Started time.Time
}

// ClusterState is what the autoscaler remembers between ticks.
type ClusterState struct {
	// ClusterID names the cluster; set by the store.
	ClusterID string
	// NodeCount is the number of active instances after the last tick.
	NodeCount int
	// ScalingInProgress is true while Operation is set.
	ScalingInProgress bool
	// LastScaleUp and LastScaleDown are when the last scaling actions
	// happened; cooldowns are measured from them.
	LastScaleUp   time.Time
	LastScaleDown time.Time
	// Operation is the action in progress, if any.
	Operation *Operation
	// History is the bounded decision history, oldest first.
	History []Record
	// Version is the fencing token of the lease under which the state was
	// last written; stores set it.
	Version int64
}

// Lease is a held lock on the cluster.
type Lease struct {
	// Owner identifies the holder.
	Owner string
	// Token is the fencing token: it grows with every acquisition, and
	// state writes are accepted only under the newest token.
	Token int64
	// Expires is when the lease lapses if not released.
	Expires time.Time
	// TookOver is true when this acquisition took over a lease whose
	// holder had let it expire (a stuck lock); PreviousOwner names it.
	TookOver      bool
	PreviousOwner string
}

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

// recordJSON is Record with readings that may be null: JSON has no NaN.
type recordJSON struct {
	Time        time.Time
	CPU         *float64
	Memory      *float64
	PendingPods *float64
	Custom      map[string]*float64 `json:",omitempty"`
	Nodes       int
	Instances   int
	Action      Action
	Count       int  `json:",omitempty"`
	Safety      bool `json:",omitempty"`
}

func nanToNil(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func nilToNaN(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// MarshalJSON writes missing readings (NaN) as null.
func (r Record) MarshalJSON() ([]byte, error) {
	j := recordJSON{Time: r.Time, CPU: nanToNil(r.CPU), Memory: nanToNil(r.Memory), PendingPods: nanToNil(r.PendingPods),
		Nodes: r.Nodes, Instances: r.Instances, Action: r.Action, Count: r.Count, Safety: r.Safety}
	if len(r.Custom) > 0 {
		j.Custom = make(map[string]*float64, len(r.Custom))
		for k, v := range r.Custom {
			j.Custom[k] = nanToNil(v)
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads null readings back as NaN.
func (r *Record) UnmarshalJSON(b []byte) error {
	var j recordJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*r = Record{Time: j.Time, CPU: nilToNaN(j.CPU), Memory: nilToNaN(j.Memory), PendingPods: nilToNaN(j.PendingPods),
		Nodes: j.Nodes, Instances: j.Instances, Action: j.Action, Count: j.Count, Safety: j.Safety}
	if len(j.Custom) > 0 {
		r.Custom = make(map[string]float64, len(j.Custom))
		for k, v := range j.Custom {
			r.Custom[k] = nilToNaN(v)
		}
	}
	return nil
}
