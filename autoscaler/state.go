package autoscaler

import (
	"encoding/json"
	"math"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler/capacity"
)

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
	// Hold is the code of the guardrail that held the policy's action.
	Hold HoldCode `json:",omitempty"`
	// Samples is the number of ticks a downsampled record
	// (ClusterState.LongHistory) averages; 0 for a tick's own record.
	Samples int `json:",omitempty"`
	// DryRun is true for the record of a tick that ran dry
	// (Config.DryRun; in a downsampled record, any of its ticks): it did
	// nothing, so Action is Hold and Count 0, and readers of the history
	// (policies, guardrails) see no would-be action as done.
	DryRun bool `json:",omitempty"`
	// Would are the steps a dry-run tick would have carried out, in
	// order, each as "kind [count] [instance] [node name]" ("launch 3",
	// "scale-down i-0abc node worker-1", "terminate-ghost i-0def"); a
	// recovery step here is an earlier live tick's operation, left alone.
	// Empty in a live tick's record and in downsampled records.
	Would []string `json:",omitempty"`
	// ForecastMethod, ForecastNodes and ForecastHeadroom are the forecast
	// the tick's policy made (Decision's fields of the same names), in
	// forecast-only mode the shadow policy's: the method picked, the
	// highest demand it expected over its lead time and its headroom, in
	// worker units. ForecastMethod is "" when no forecast was made.
	// ForecastLead is the lead time the forecast was made for, the
	// policy's own (Decision.ForecastLead): a forecast is judged at it; 0
	// when the policy did not say (and in records stored before it was
	// kept). Empty in downsampled records.
	ForecastMethod   string        `json:",omitempty"`
	ForecastNodes    float64       `json:",omitempty"`
	ForecastHeadroom float64       `json:",omitempty"`
	ForecastLead     time.Duration `json:",omitempty"`
	// ShadowAction and ShadowCount are, in forecast-only mode
	// (Decision.Shadow), what the shadow policy would have done, within
	// the fleet's bounds (MinNodes to MaxNodes) but before the other
	// guardrails, counted from Nodes (see ShadowDesired); ShadowAction is
	// "" otherwise and in downsampled records.
	ShadowAction Action `json:",omitempty"`
	ShadowCount  int    `json:",omitempty"`
}

// ShadowDesired is the number of Ready nodes the shadow policy would
// have wanted (Nodes plus its change); ok is false when the record has no
// shadow decision.
func (r Record) ShadowDesired() (nodes int, ok bool) {
	if r.ShadowAction == "" {
		return 0, false
	}
	return max(r.Nodes+Decision{Action: r.ShadowAction, Count: r.ShadowCount}.Delta(), 0), true
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
	// PhaseUncordoning: the scale-down was dropped, and its node, left
	// cordoned, could not be uncordoned yet. The operation stays, so that
	// no scale-down starts (the operation guardrail; launches do, see
	// Operation.Uncordoning) and every tick tries again, failing loudly,
	// until the node is given back.
	PhaseUncordoning = "uncordoning"
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
	// Replacing lists the interrupted spot instances a launch replaces.
	Replacing []string `json:",omitempty"`
	// Fit and Zones are a launch's LaunchRequest.Fit and Zones: a
	// recovery launches what is missing with the same ones.
	Fit   capacity.Resources `json:",omitempty"`
	Zones []string           `json:",omitempty"`
	// Attempts counts the ticks that tried to finish the operation after
	// the tick that started it; after Config.MaxRecoveryAttempts it is
	// dropped with an alert. A dropped scale-down still giving its node
	// back (PhaseUncordoning) counts no more: it is no longer finished.
	Attempts int `json:",omitempty"`
	// Cordoned are the nodes of a multi-node scale-down's later victims,
	// cordoned ahead with this one (so that no pod is evicted onto a
	// node about to go): a recovery gives them back.
	Cordoned []string `json:",omitempty"`
	// Uncordoning is, on a launch, the dropped scale-down (in
	// PhaseUncordoning) that was the journal's operation when the launch
	// started: it is the journal's operation again once the launch ends,
	// is recovered or is dropped, so that its node is still given back.
	Uncordoning *Operation `json:",omitempty"`
}

// RecentLaunch is an instance a tick launched, until the FleetProvider
// lists it.
type RecentLaunch struct {
	InstanceID string
	At         time.Time
}

// Pause is who paused the cluster's scaling, when and why.
type Pause struct {
	By     string
	At     time.Time
	Reason string
}

// String is "paused by <who> at <when>: <why>".
func (p Pause) String() string {
	return "paused by " + p.By + " at " + p.At.UTC().Format(time.RFC3339) + ": " + p.Reason
}

// Interruption is a spot interruption warning the autoscaler was told of
// (an EventBridge "EC2 Spot Instance Interruption Warning", or a notice the
// FleetProvider reports on the instance). It is kept in the state until the
// instance is gone, so that a warning delivered twice replaces it once, or
// until it expires: an instance still running interruptionExpiry after its
// notice was not reclaimed (EC2 reclaims two minutes after the warning),
// counts as capacity again, and its node is uncordoned, with an alert.
type Interruption struct {
	// InstanceID is the interrupted instance.
	InstanceID string
	// Notice is when the warning was issued.
	Notice time.Time
	// ReplacedBy is the id of the launch operation that replaced it;
	// empty until a replacement was launched.
	ReplacedBy string `json:",omitempty"`
}

// interruptionExpiry is how long after its notice an interruption of an
// instance that is still running is kept: twice EC2's two-minute notice,
// and a minute for a slow shutdown and an eventually consistent listing.
const interruptionExpiry = 2*2*time.Minute + time.Minute

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
	// Interruptions are the spot interruption warnings received for
	// instances that are not gone yet.
	Interruptions []Interruption
	// Paused, when set, is an operator's maintenance switch: ticks start
	// nothing new (no launch, no scale-down, no repair, no replacement);
	// an operation already in flight is still finished or rolled back, and
	// interrupted nodes are still cordoned and drained.
	Paused *Pause `json:",omitempty"`
	// OutageSince is when many of the fleet's nodes went NotReady at
	// once (Config.MassNotReadyShare): repair holds from then until every
	// node is Ready again.
	OutageSince time.Time `json:",omitempty"`
	// Launched are the instances launched in the last few minutes
	// (5 minutes), kept so that a List that does not show them yet
	// (EC2's DescribeInstances is eventually consistent) does not make
	// the next tick launch them again; dropped once listed.
	Launched []RecentLaunch `json:",omitempty"`
	// Unplaceable lists the pending pods ("namespace/name") already
	// alerted as ones no new node would help, so that each is alerted
	// once while it stays pending. It is bounded: at most 100 keys in
	// order, each cut to 256 bytes, then one entry "+N" for the N more
	// alerted but not named.
	Unplaceable []string `json:",omitempty"`
	// Alerted remembers, per kind, the last alert sent (its subjects'
	// digest and when), so that a condition that stays is re-sent only
	// every Config.RealertInterval. At most MaxAlertMarks entries, one a
	// kind, of fixed size.
	Alerted []AlertMark `json:",omitempty"`
	// Calendar holds the known events an operator added (see
	// PolicyInput.Calendar); events that ended are dropped by the tick.
	Calendar []KnownEvent `json:",omitempty"`
	// History is the bounded decision history, oldest first.
	History []Record
	// LongHistory is the history downsampled to means over
	// Config.LongHistoryStep (10 minutes), oldest first, over
	// Config.LongHistory (8 days): long enough for daily seasonality.
	LongHistory []Record `json:",omitempty"`
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
	Count       int      `json:",omitempty"`
	Safety      bool     `json:",omitempty"`
	Hold        HoldCode `json:",omitempty"`
	Samples     int      `json:",omitempty"`
	DryRun      bool     `json:",omitempty"`
	Would       []string `json:",omitempty"`

	ForecastMethod   string        `json:",omitempty"`
	ForecastNodes    *float64      `json:",omitempty"`
	ForecastHeadroom *float64      `json:",omitempty"`
	ForecastLead     time.Duration `json:",omitempty"`
	ShadowAction     Action        `json:",omitempty"`
	ShadowCount      int           `json:",omitempty"`
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
		Nodes: r.Nodes, Instances: r.Instances, Action: r.Action, Count: r.Count, Safety: r.Safety, Hold: r.Hold, Samples: r.Samples,
		DryRun: r.DryRun, Would: r.Would, ForecastMethod: r.ForecastMethod,
		ShadowAction: r.ShadowAction, ShadowCount: r.ShadowCount}
	if r.ForecastMethod != "" {
		j.ForecastNodes, j.ForecastHeadroom, j.ForecastLead = nanToNil(r.ForecastNodes), nanToNil(r.ForecastHeadroom), r.ForecastLead
	}
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
		Nodes: j.Nodes, Instances: j.Instances, Action: j.Action, Count: j.Count, Safety: j.Safety, Hold: j.Hold, Samples: j.Samples,
		DryRun: j.DryRun, Would: j.Would, ForecastMethod: j.ForecastMethod,
		ShadowAction: j.ShadowAction, ShadowCount: j.ShadowCount}
	if j.ForecastMethod != "" {
		r.ForecastNodes, r.ForecastHeadroom, r.ForecastLead = nilToNaN(j.ForecastNodes), nilToNaN(j.ForecastHeadroom), j.ForecastLead
	}
	if len(j.Custom) > 0 {
		r.Custom = make(map[string]float64, len(j.Custom))
		for k, v := range j.Custom {
			r.Custom[k] = nilToNaN(v)
		}
	}
	return nil
}
