package lambda

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// The EventBridge events the function handles.
const (
	SourceSchedule       = "aws.events"
	DetailTypeSchedule   = "Scheduled Event"
	SourceEC2            = "aws.ec2"
	DetailTypeSpotNotice = "EC2 Spot Instance Interruption Warning"
)

// ErrUnsupportedEvent is returned for any event that is neither the
// schedule nor a spot interruption warning.
var ErrUnsupportedEvent = errors.New(`unsupported event: this function handles EventBridge's "Scheduled Event" (source aws.events) and "EC2 Spot Instance Interruption Warning" (source aws.ec2)`)

// Ticker runs autoscaler ticks: *autoscaler.Autoscaler.
type Ticker interface {
	RunOnce(ctx context.Context) (autoscaler.Result, error)
	HandleInterruption(ctx context.Context, instanceID string, notice time.Time) (autoscaler.Result, error)
}

// Fleet says whether an instance is the cluster's fleet:
// *ec2fleet.Provider.
type Fleet interface {
	// Owns reports whether instanceID is the fleet's; an instance that
	// does not exist is not (false, nil). An error means "maybe".
	Owns(ctx context.Context, instanceID string) (bool, error)
}

// Handler is the function's handler: one tick per scheduled event; a tick
// that knows of the warning per spot interruption warning (same lock,
// same journal, same planner).
type Handler struct {
	Ticker Ticker
	// Fleet, when set, is asked before the lock whether a warned
	// instance is the fleet's: the EventBridge rule delivers every spot
	// warning of the account and region, and a warning for another
	// workload's instance then costs one DescribeInstances call, no lock
	// and no retry. Nil: every warning goes to the Ticker.
	Fleet Fleet
	// Logger receives the handler's log; nil discards it.
	Logger *slog.Logger
}

// notOurs is InterruptionResult.Ignored for an instance that the fleet
// check says is not the fleet's.
const notOurs = "not an instance of this cluster's fleet (checked before the lock)"

// Response is what an invocation returns (visible in the console, the
// emulator and the logs).
type Response struct {
	// Event is "tick" or "spot-interruption".
	Event string `json:"event"`
	// Outcome and Result describe the tick.
	Outcome autoscaler.Outcome `json:"outcome,omitempty"`
	Result  string             `json:"result,omitempty"`
	// Interruption says what the tick did about a spot interruption.
	Interruption *InterruptionResult `json:"interruption,omitempty"`
}

// InterruptionResult is what a tick did about one interrupted instance,
// read from its Result.
type InterruptionResult struct {
	InstanceID string `json:"instanceId"`
	// Ignored says why nothing was done (not an active instance of the
	// cluster's fleet: another cluster's, or already gone).
	Ignored string `json:"ignored,omitempty"`
	// Node is the instance's node, if it has one.
	Node string `json:"node,omitempty"`
	// Replacements are the instances launched in its place by this
	// tick; ReplacedBy the operation that replaced it (this tick's or an
	// earlier one's, when the warning was delivered again).
	Replacements []string `json:"replacements,omitempty"`
	ReplacedBy   string   `json:"replacedBy,omitempty"`
	// Drained is true when no pod is left to evict from its node;
	// DrainError says why not otherwise.
	Drained    bool   `json:"drained"`
	DrainError string `json:"drainError,omitempty"`
}

// interruptionResult reads what res did about instanceID.
func interruptionResult(instanceID string, res autoscaler.Result) *InterruptionResult {
	r := &InterruptionResult{InstanceID: instanceID}
	known := false
	for _, it := range res.Interruptions {
		if it.InstanceID == instanceID {
			known, r.ReplacedBy = true, it.ReplacedBy
		}
	}
	if !known {
		r.Ignored = "not an active instance of this cluster's fleet"
		return r
	}
	r.Drained = true
	for _, o := range res.Steps {
		s := o.Step
		switch {
		case s.Kind == autoscaler.StepLaunch && slices.Contains(s.Replacing, instanceID):
			if i := slices.Index(s.Replacing, instanceID); i < len(o.Launched) {
				r.Replacements = append(r.Replacements, o.Launched[i].ID)
			}
		case s.InstanceID != instanceID:
		case s.Kind == autoscaler.StepCordonInterrupted:
			r.Node = s.NodeName
		case s.Kind == autoscaler.StepDrainInterrupted:
			r.Node = s.NodeName
			if !o.Done {
				r.Drained = false
				r.DrainError = o.Skipped
				if err := errors.Join(o.Err, o.Shortfall); err != nil {
					r.DrainError = err.Error()
				}
			}
		}
	}
	return r
}

// spotDetail is the detail of an EC2 Spot Instance Interruption Warning.
type spotDetail struct {
	InstanceID     string `json:"instance-id"`
	InstanceAction string `json:"instance-action"`
}

// Handle dispatches one invocation.
func (h *Handler) Handle(ctx context.Context, raw json.RawMessage) (Response, error) {
	log := h.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var ev events.CloudWatchEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return Response{}, fmt.Errorf("%w; the payload is not an EventBridge event: %v", ErrUnsupportedEvent, err)
	}
	switch {
	case ev.Source == SourceSchedule && ev.DetailType == DetailTypeSchedule:
		res, err := h.Ticker.RunOnce(ctx)
		out := Response{Event: "tick", Outcome: res.Outcome, Result: res.String()}
		if err != nil {
			// A failed tick fails the invocation: the Errors alarm
			// counts it.
			return out, fmt.Errorf("tick: %w", err)
		}
		return out, nil
	case ev.Source == SourceEC2 && ev.DetailType == DetailTypeSpotNotice:
		var d spotDetail
		if err := json.Unmarshal(ev.Detail, &d); err != nil || d.InstanceID == "" {
			return Response{}, fmt.Errorf("spot interruption warning %s without an instance id in its detail %s", ev.ID, ev.Detail)
		}
		if h.Fleet != nil {
			owned, err := h.Fleet.Owns(ctx, d.InstanceID)
			switch {
			case err != nil:
				// In doubt, the tick decides (it checks the fleet too).
				log.WarnContext(ctx, "could not check whether the warned instance is the fleet's; handling it", "instance", d.InstanceID, "err", err)
			case !owned:
				log.DebugContext(ctx, "spot interruption warning for another workload's instance", "instance", d.InstanceID)
				return Response{Event: "spot-interruption", Interruption: &InterruptionResult{InstanceID: d.InstanceID, Ignored: notOurs}}, nil
			}
		}
		log.InfoContext(ctx, "spot interruption warning", "instance", d.InstanceID, "action", d.InstanceAction, "time", ev.Time)
		res, err := h.Ticker.HandleInterruption(ctx, d.InstanceID, ev.Time)
		out := Response{Event: "spot-interruption", Outcome: res.Outcome, Result: res.String()}
		if errors.Is(err, autoscaler.ErrLockHeld) {
			return out, fmt.Errorf("spot interruption of %s: %w; EventBridge will retry", d.InstanceID, err)
		}
		if res.Lease.Token != 0 {
			out.Interruption = interruptionResult(d.InstanceID, res)
		}
		if err != nil {
			return out, fmt.Errorf("spot interruption of %s: %w", d.InstanceID, err)
		}
		return out, nil
	}
	return Response{}, fmt.Errorf("%w; got source %q, detail-type %q", ErrUnsupportedEvent, ev.Source, ev.DetailType)
}
