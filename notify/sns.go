package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/node-fleet/node-fleet/autoscaler"
)

// SNSClient is the part of the SNS API the notifier uses, with the SDK's
// exact signature: *sns.Client satisfies it.
type SNSClient interface {
	Publish(ctx context.Context, params *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

var _ SNSClient = (*sns.Client)(nil)

// SNSConfig configures an SNS notifier.
type SNSConfig struct {
	// Client publishes to SNS (an *sns.Client). Required.
	Client SNSClient
	// TopicARN is the topic events are published to. Required.
	TopicARN string
	// SubjectPrefix starts every subject (e-mail subscribers see it);
	// default "[node-fleet]".
	SubjectPrefix string
	// Logger receives the notifier's log; default discards.
	Logger *slog.Logger
}

// SNS is an autoscaler.Notifier that publishes events to an SNS topic.
type SNS struct {
	cfg SNSConfig
}

var _ autoscaler.Notifier = (*SNS)(nil)

// NewSNS checks cfg and returns an SNS notifier; it makes no AWS call.
func NewSNS(cfg SNSConfig) (*SNS, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if cfg.Client == nil {
		bad("Client is required")
	}
	if cfg.TopicARN == "" {
		bad("TopicARN is required")
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("notify: SNSConfig: %w", err)
	}
	if cfg.SubjectPrefix == "" {
		cfg.SubjectPrefix = "[node-fleet]"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &SNS{cfg: cfg}, nil
}

// Message is the JSON body of a notification.
type Message struct {
	Kind      autoscaler.EventKind `json:"kind"`
	Time      time.Time            `json:"time"`
	ClusterID string               `json:"cluster_id"`
	Message   string               `json:"message"`
	Decision  *MessageDecision     `json:"decision,omitempty"`
	Instances []string             `json:"instances,omitempty"`
	Error     string               `json:"error,omitempty"`
	// DryRun is true for the events of a dry-running autoscaler: nothing
	// was done; a scaling event says what it would have done.
	DryRun bool `json:"dry_run,omitempty"`
}

// MessageDecision is the decision behind a scaling event, in a Message.
type MessageDecision struct {
	Action autoscaler.Action `json:"action"`
	Count  int               `json:"count"`
	Level  autoscaler.Level  `json:"level,omitempty"`
	Reason string            `json:"reason,omitempty"`
}

// NewMessage returns ev as a Message.
func NewMessage(ev autoscaler.Event) Message {
	m := Message{Kind: ev.Kind, Time: ev.Time.UTC(), ClusterID: ev.ClusterID, Message: ev.Message, Instances: ev.Instances, Error: ev.Error, DryRun: ev.DryRun}
	if d := ev.Decision; d != nil {
		m.Decision = &MessageDecision{Action: d.Action, Count: d.Count, Level: d.Level, Reason: d.Reason}
	}
	return m
}

// Subject returns the readable one-line subject of ev, without the
// prefix: "prod: scaled up by 2 nodes"; a dry-running autoscaler's
// starts with "dry run: " and says what it would have done: "prod: dry
// run: would scale up by 2 nodes".
func Subject(ev autoscaler.Event) string {
	n := len(ev.Instances)
	if n == 0 && ev.Decision != nil {
		n = ev.Decision.Count
	}
	what := string(ev.Kind)
	if c, ok := countedSubjects[ev.Kind]; ok {
		format := c.did
		if ev.DryRun {
			format = c.would
		}
		what = fmt.Sprintf(format, plural(n, c.unit))
	} else if p, ok := subjects[ev.Kind]; ok {
		what = p
	}
	if ev.DryRun {
		what = "dry run: " + what
	}
	if ev.ClusterID == "" {
		return what
	}
	return ev.ClusterID + ": " + what
}

// countedSubjects are the subjects of the kinds of events that count
// nodes or instances (unit): what was done and what a dry run would have
// done, each with a %s for the count.
var countedSubjects = map[autoscaler.EventKind]struct{ did, would, unit string }{
	autoscaler.EventScaleUp:   {"scaled up by %s", "would scale up by %s", "node"},
	autoscaler.EventScaleDown: {"scaled down by %s", "would scale down by %s", "node"},
	autoscaler.EventGhost: {"terminated %s that did not become healthy nodes",
		"would terminate %s that did not become healthy nodes", "instance"},
}

// subjects are the subjects of the other kinds of events; a kind in
// neither list is its own subject.
var subjects = map[autoscaler.EventKind]string{
	autoscaler.EventFailure:     "autoscaler tick failed",
	autoscaler.EventSafetyMode:  "metrics unreliable, safety mode (no scale-down)",
	autoscaler.EventStaleLock:   "took over a stale autoscaler lock",
	autoscaler.EventCapacity:    "insufficient EC2 capacity",
	autoscaler.EventAbandoned:   "scale-down abandoned",
	autoscaler.EventRecovered:   "recovered an interrupted operation",
	autoscaler.EventInterrupted: "spot interruption",
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// subjectLimit is SNS's limit on a subject's length.
const subjectLimit = 100

// cleanSubject makes s acceptable to SNS: printable ASCII on one line, at
// most 100 characters.
func cleanSubject(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			b.WriteByte(' ')
		case r < 0x20 || r > 0x7e:
			b.WriteByte('?')
		default:
			b.WriteRune(r)
		}
	}
	out := strings.TrimSpace(b.String())
	if len(out) > subjectLimit {
		out = out[:subjectLimit-3] + "..."
	}
	return out
}

// Notify publishes ev to the topic: the subject from Subject, the body a
// JSON Message, and the message attributes "kind", "cluster_id" and, for
// a dry-running autoscaler's, "dry_run" ("true") for subscription filter
// policies.
func (n *SNS) Notify(ctx context.Context, ev autoscaler.Event) error {
	body, err := json.Marshal(NewMessage(ev))
	if err != nil {
		return fmt.Errorf("notify: encode %s event: %w", ev.Kind, err)
	}
	attrs := map[string]types.MessageAttributeValue{
		"kind": {DataType: aws.String("String"), StringValue: aws.String(string(ev.Kind))},
	}
	if ev.DryRun {
		attrs["dry_run"] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String("true")}
	}
	if ev.ClusterID != "" {
		attrs["cluster_id"] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(ev.ClusterID)}
	}
	_, err = n.cfg.Client.Publish(ctx, &sns.PublishInput{
		TopicArn:          aws.String(n.cfg.TopicARN),
		Subject:           aws.String(cleanSubject(n.cfg.SubjectPrefix + " " + Subject(ev))),
		Message:           aws.String(string(body)),
		MessageAttributes: attrs,
	})
	if err != nil {
		return fmt.Errorf("notify: publish %s event to %s: %w", ev.Kind, n.cfg.TopicARN, err)
	}
	n.cfg.Logger.DebugContext(ctx, "notified", "kind", ev.Kind, "topic", n.cfg.TopicARN)
	return nil
}
