package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

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

// Ticker runs one autoscaler tick: *autoscaler.Autoscaler.
type Ticker interface {
	RunOnce(ctx context.Context) (autoscaler.Result, error)
}

// Handler is the function's handler: one tick per scheduled event, the
// interruption handling per spot warning.
type Handler struct {
	Ticker        Ticker
	Interruptions *Interruptions
	Logger        *slog.Logger
}

// Response is what an invocation returns (visible in the console, the
// emulator and the logs).
type Response struct {
	// Event is "tick" or "spot-interruption".
	Event string `json:"event"`
	// Outcome and Result describe a tick.
	Outcome autoscaler.Outcome `json:"outcome,omitempty"`
	Result  string             `json:"result,omitempty"`
	// Interruption describes a spot interruption's handling.
	Interruption *InterruptionResult `json:"interruption,omitempty"`
}

// spotDetail is the detail of an EC2 Spot Instance Interruption Warning.
type spotDetail struct {
	InstanceID     string `json:"instance-id"`
	InstanceAction string `json:"instance-action"`
}

// Handle dispatches one invocation.
func (h *Handler) Handle(ctx context.Context, raw json.RawMessage) (Response, error) {
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
		h.Logger.InfoContext(ctx, "spot interruption warning", "instance", d.InstanceID, "action", d.InstanceAction, "time", ev.Time)
		res, err := h.Interruptions.Handle(ctx, d.InstanceID, ev.Time)
		return Response{Event: "spot-interruption", Interruption: &res}, err
	}
	return Response{}, fmt.Errorf("%w; got source %q, detail-type %q", ErrUnsupportedEvent, ev.Source, ev.DetailType)
}
