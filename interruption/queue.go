// Package interruption brings EC2's interruption events to a long-running
// autoscaler through an SQS queue: the deploy's EventBridge rules send spot
// interruption warnings, rebalance recommendations and instance state
// changes to the queue, and Queue long-polls it and hands each spot
// warning to the same autoscaler.HandleInterruption as the Lambda
// function's direct EventBridge trigger (Karpenter's interruption queue
// design). The Lambda function does not need it: EventBridge invokes it.
//
// It is a package of its own, not part of examples/daemon, so that a
// user's own daemon can run it, and not part of ec2fleet, because it is
// about events, not about launching and listing instances.
package interruption

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// The EventBridge events the queue carries (source aws.ec2).
const (
	DetailTypeSpotWarning = "EC2 Spot Instance Interruption Warning"
	DetailTypeRebalance   = "EC2 Instance Rebalance Recommendation"
	DetailTypeStateChange = "EC2 Instance State-change Notification"
)

// Client is the part of the SQS API that Queue uses, with the SDK's exact
// signatures: *sqs.Client satisfies it.
type Client interface {
	ReceiveMessage(ctx context.Context, params *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, params *sqs.DeleteMessageInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
}

var _ Client = (*sqs.Client)(nil)

// Handler handles a spot interruption warning: *autoscaler.Autoscaler.
// It returns an error when the warning was not handled (the lock was held
// until ctx's deadline, a step failed), and the message is then delivered
// again.
type Handler interface {
	HandleInterruption(ctx context.Context, instanceID string, notice time.Time) (autoscaler.Result, error)
}

// Fleet says whether an instance is the cluster's fleet:
// *ec2fleet.Provider. An error means "maybe".
type Fleet interface {
	Owns(ctx context.Context, instanceID string) (bool, error)
}

// Config configures a Queue; New checks it. Zero fields take the
// documented defaults.
type Config struct {
	// Client is the SQS client. Required.
	Client Client
	// QueueURL is the queue's URL. Required.
	QueueURL string
	// Handler handles spot warnings. Required.
	Handler Handler
	// Fleet, when set, is asked before Handler whether a warned instance
	// is the fleet's; the events of other workloads' instances are
	// deleted without taking the lock.
	Fleet Fleet
	// StateChange, when set, is called for a state change of an instance
	// of the fleet to stopping, stopped, shutting-down or terminated (the
	// daemon ticks soon, so that the instance's node is seen gone).
	StateChange func(instanceID, state string)
	// WaitTime is the long poll's wait, at most 20s; default 20s.
	WaitTime time.Duration
	// HandleTimeout bounds the handling of one warning, the lock wait
	// included; default 2 minutes (EC2 warns 2 minutes ahead). The
	// queue's visibility timeout should be longer.
	HandleTimeout time.Duration
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Clock times the wait after a failed poll; default the real clock.
	Clock clock.Clock
	// Notifier, when set, is told (EventQueueUnreachable) when the queue
	// cannot be read: at the first failed receive, again every
	// RealertInterval while it stays so or flaps, and at once when it
	// fails again after it was read for recoveredAfter without a failure.
	// The daemon passes the autoscaler's.
	Notifier autoscaler.Notifier
	// ClusterID names the cluster in the alert.
	ClusterID string
	// RealertInterval is how long a repeated alert is held back; default
	// the autoscaler's (autoscaler.DefaultConfig().RealertInterval).
	RealertInterval time.Duration
	// Nodes, when set, with Fleet, lets the queue cordon and drain the
	// node of a fleet instance with a spot warning at once, without the
	// lock, while Handler waits for it (see evacuate). Leave it nil for
	// a dry-running autoscaler.
	Nodes autoscaler.NodeManager
	// Registerer, when set, gets the queue's metrics:
	// node_fleet_interruption_queue_up (1 while the last receive worked,
	// or before the first; 0 while the queue cannot be read) and
	// node_fleet_interruption_queue_receive_failures_total.
	Registerer prometheus.Registerer
}

// EventQueueUnreachable is the kind of the alert that the interruption
// queue cannot be read: spot warnings then reach no handler.
const EventQueueUnreachable autoscaler.EventKind = "interruption_queue_unreachable"

// Queue reads the interruption queue.
type Queue struct {
	cfg      Config
	up       prometheus.Gauge
	failures prometheus.Counter

	mu sync.Mutex
	// failingSince is when the receives began to fail, zero while
	// they work; alerted is when the failure was last alerted;
	// lastFailed is when a receive last failed.
	failingSince, alerted, lastFailed time.Time
}

// recoveredAfter is how long the queue must be read without a failure
// for its next failure to be a new condition, alerted at once: a queue
// that fails again sooner flaps (a broken NAT, a DNS resolver that
// fails one query in two), and its alerts keep the re-alert interval
// instead of one at each failure, every 40 s.
const recoveredAfter = 10 * time.Minute

// New checks cfg and returns a Queue. It makes no AWS call.
func New(cfg Config) (*Queue, error) {
	var errs []error
	if cfg.Client == nil {
		errs = append(errs, errors.New("Client is required"))
	}
	if cfg.QueueURL == "" {
		errs = append(errs, errors.New("QueueURL is required"))
	}
	if cfg.Handler == nil {
		errs = append(errs, errors.New("Handler is required"))
	}
	if cfg.WaitTime < 0 || cfg.WaitTime > 20*time.Second {
		errs = append(errs, fmt.Errorf("WaitTime must be from 0 to 20s, got %s", cfg.WaitTime))
	}
	if cfg.HandleTimeout < 0 {
		errs = append(errs, fmt.Errorf("HandleTimeout must not be negative, got %s", cfg.HandleTimeout))
	}
	if cfg.RealertInterval < 0 {
		errs = append(errs, fmt.Errorf("RealertInterval must not be negative, got %s", cfg.RealertInterval))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("interruption: Config: %w", err)
	}
	if cfg.WaitTime == 0 {
		cfg.WaitTime = 20 * time.Second
	}
	if cfg.HandleTimeout == 0 {
		cfg.HandleTimeout = 2 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.RealertInterval == 0 {
		cfg.RealertInterval = autoscaler.DefaultConfig().RealertInterval
	}
	q := &Queue{cfg: cfg,
		up: prometheus.NewGauge(prometheus.GaugeOpts{Name: "node_fleet_interruption_queue_up",
			Help: "1 while the interruption queue's last receive worked (or before the first), 0 while it cannot be read."}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "node_fleet_interruption_queue_receive_failures_total",
			Help: "Receives from the interruption queue that failed."}),
	}
	q.up.Set(1)
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{q.up, q.failures} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("interruption: register metrics: %w", err)
			}
		}
	}
	return q, nil
}

// maxQueued is how many spot warnings Run keeps received, their nodes
// being evacuated, while Handler handles an earlier one; beyond it, Run
// receives no more until Handler catches up.
const maxQueued = 64

// Run polls the queue until ctx ends and returns nil then, once the
// warnings in hand have ended. A failed receive is logged, alerted
// (Config.Notifier) and retried after the poll's wait: a queue that
// cannot be read stops no tick. Unlike Poll, Run goes on receiving while
// Handler handles a warning (it may wait minutes for the lock): the node
// of each warning received meanwhile is evacuated at once, and Handler
// handles the warnings one at a time, in the order received. A warning
// left waiting for Handler past the queue's visibility timeout is
// delivered again: its evacuation is repeated (cordon and drain are
// idempotent) and Handler records it once.
func (q *Queue) Run(ctx context.Context) error {
	queued := make(chan *warning, maxQueued)
	handled := make(chan struct{})
	go func() {
		defer close(handled)
		for w := range queued {
			if _, err := q.complete(ctx, w); err != nil {
				q.cfg.Logger.WarnContext(ctx, "interruption queue", "err", err)
			}
		}
	}()
	defer func() {
		close(queued)
		<-handled
	}()
	for ctx.Err() == nil {
		ws, _, err := q.receive(ctx)
		for i, w := range ws {
			select {
			case queued <- w:
			case <-ctx.Done():
				for _, w := range ws[i:] {
					<-w.evacuated
					w.cancel()
				}
				return nil
			}
		}
		if err != nil && ctx.Err() == nil {
			q.cfg.Logger.WarnContext(ctx, "interruption queue", "err", err)
			select {
			case <-ctx.Done():
			case <-q.cfg.Clock.After(q.cfg.WaitTime):
			}
		}
	}
	return nil
}

// Poll receives up to 10 messages (waiting up to WaitTime for the first)
// and handles them in order, the nodes of every spot warning among them
// evacuated at once (before Handler handles the first). A message is
// deleted once handled, and so is a malformed one or one about another
// workload's instance (each with a log line), and a state change to a
// state in which no instance leaves the fleet (pending, running: without
// asking EC2 whose instance it is); a message whose handling failed
// stays, and the queue delivers it again after its visibility timeout.
// Poll returns how many messages it deleted.
func (q *Queue) Poll(ctx context.Context) (int, error) {
	ws, deleted, err := q.receive(ctx)
	errs := []error{err}
	for _, w := range ws {
		ok, err := q.complete(ctx, w)
		if ok {
			deleted++
		}
		errs = append(errs, err)
	}
	return deleted, errors.Join(errs...)
}

// receive receives up to 10 messages and handles each as far as it can
// without Handler (prepare): it deletes those done, and returns the spot
// warnings left for Handler, their evacuations started, with how many it
// deleted and the receive's or the deletions' errors.
func (q *Queue) receive(ctx context.Context) ([]*warning, int, error) {
	out, err := q.cfg.Client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:            aws.String(q.cfg.QueueURL),
		MaxNumberOfMessages: 10,
		WaitTimeSeconds:     int32(q.cfg.WaitTime / time.Second),
	})
	if err != nil {
		err = fmt.Errorf("interruption: receive from %s: %w", q.cfg.QueueURL, err)
		if ctx.Err() == nil {
			q.receiveFailed(ctx, err)
		}
		return nil, 0, err
	}
	q.receiveWorked(ctx)
	deleted := 0
	var ws []*warning
	var errs []error
	for _, m := range out.Messages {
		if w := q.prepare(ctx, m); w != nil {
			ws = append(ws, w)
			continue
		}
		if err := q.delete(ctx, m); err != nil {
			errs = append(errs, err)
			continue
		}
		deleted++
	}
	return ws, deleted, errors.Join(errs...)
}

// complete has Handler handle w and, once it has and w's evacuation has
// ended, deletes its message; it reports whether it did. A warning that
// Handler failed to handle is logged and stays in the queue.
func (q *Queue) complete(ctx context.Context, w *warning) (bool, error) {
	if err := q.finish(ctx, w); err != nil {
		q.cfg.Logger.WarnContext(ctx, "interruption not handled; the queue delivers it again", "message", aws.ToString(w.m.MessageId), "err", err)
		return false, nil
	}
	if err := q.delete(ctx, w.m); err != nil {
		return false, err
	}
	return true, nil
}

// delete deletes m from the queue.
func (q *Queue) delete(ctx context.Context, m types.Message) error {
	if _, err := q.cfg.Client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q.cfg.QueueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
		return fmt.Errorf("interruption: delete message %s: %w", aws.ToString(m.MessageId), err)
	}
	return nil
}

// receiveFailed counts a failed receive and alerts it: at the first of a
// run of failures that follows recoveredAfter without one, then once
// every RealertInterval. An alert the Notifier failed to deliver is tried
// again at the next failed receive.
func (q *Queue) receiveFailed(ctx context.Context, err error) {
	q.failures.Inc()
	q.up.Set(0)
	now := q.cfg.Clock.Now()
	q.mu.Lock()
	if q.failingSince.IsZero() {
		q.failingSince = now
	}
	if !q.lastFailed.IsZero() && now.Sub(q.lastFailed) >= recoveredAfter {
		q.alerted = time.Time{}
	}
	q.lastFailed = now
	since := q.failingSince
	due := q.alerted.IsZero() || now.Sub(q.alerted) >= q.cfg.RealertInterval || now.Before(q.alerted)
	q.mu.Unlock()
	if q.cfg.Notifier == nil || !due {
		return
	}
	ev := autoscaler.Event{Kind: EventQueueUnreachable, Time: now, ClusterID: q.cfg.ClusterID, Error: err.Error(),
		Message: fmt.Sprintf("the interruption queue %s cannot be read (since %s): spot interruption warnings reach no handler, their nodes are not drained before EC2 reclaims them",
			q.cfg.QueueURL, since.UTC().Format(time.RFC3339))}
	if nerr := q.cfg.Notifier.Notify(ctx, ev); nerr != nil {
		q.cfg.Logger.WarnContext(ctx, "could not alert that the interruption queue cannot be read", "err", nerr)
		return
	}
	q.mu.Lock()
	q.alerted = now
	q.mu.Unlock()
}

// receiveWorked ends a run of failed receives; the alert's hold stays
// (receiveFailed lifts it once the queue has been read for
// recoveredAfter).
func (q *Queue) receiveWorked(ctx context.Context) {
	q.up.Set(1)
	q.mu.Lock()
	since := q.failingSince
	q.failingSince = time.Time{}
	q.mu.Unlock()
	if !since.IsZero() {
		q.cfg.Logger.InfoContext(ctx, "interruption queue readable again", "failing since", since)
	}
}

// event is an EventBridge event as the queue carries it.
type event struct {
	ID         string    `json:"id"`
	DetailType string    `json:"detail-type"`
	Source     string    `json:"source"`
	Time       time.Time `json:"time"`
	Detail     struct {
		InstanceID string `json:"instance-id"`
		State      string `json:"state"`
	} `json:"detail"`
}

// warning is a spot warning received and left for Handler.
type warning struct {
	m        types.Message
	instance string
	notice   time.Time
	// evacuated is closed once the evacuation of the node ahead of
	// the tick has ended (at once without one); cancel ends its
	// context.
	evacuated <-chan struct{}
	cancel    context.CancelFunc
}

// prepare handles m as far as it can without Handler: nil means m is
// done and may be deleted; a spot warning that Handler must handle is
// returned, the evacuation of its node started.
func (q *Queue) prepare(ctx context.Context, m types.Message) *warning {
	log := q.cfg.Logger.With("message", aws.ToString(m.MessageId))
	var ev event
	if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &ev); err != nil || ev.Source != "aws.ec2" || ev.Detail.InstanceID == "" {
		log.WarnContext(ctx, "malformed interruption message deleted: not an EC2 event with an instance id", "err", err, "body", truncate(aws.ToString(m.Body), 200))
		return nil
	}
	log = log.With("instance", ev.Detail.InstanceID, "event", ev.DetailType)
	switch ev.DetailType {
	case DetailTypeSpotWarning:
	case DetailTypeStateChange:
		if !goingAway(ev.Detail.State) {
			// Every instance of the account starts and runs: no
			// DescribeInstances call for those.
			return nil
		}
	case DetailTypeRebalance:
		// A recommendation, not a notice: the warning that may follow
		// is what the autoscaler acts on.
		log.InfoContext(ctx, "rebalance recommendation")
		return nil
	default:
		log.WarnContext(ctx, "interruption message of an unknown kind deleted")
		return nil
	}
	confirmed := false // the instance is the fleet's, by its tags
	if q.cfg.Fleet != nil {
		owned, err := q.cfg.Fleet.Owns(ctx, ev.Detail.InstanceID)
		if err == nil && !owned {
			log.DebugContext(ctx, "event for another workload's instance")
			return nil
		}
		if err != nil {
			log.WarnContext(ctx, "could not check whether the instance is the fleet's; handling it", "err", err)
		}
		confirmed = err == nil
	}
	if ev.DetailType == DetailTypeStateChange {
		log.InfoContext(ctx, "fleet instance going away", "state", ev.Detail.State)
		if q.cfg.StateChange != nil {
			q.cfg.StateChange(ev.Detail.InstanceID, ev.Detail.State)
		}
		return nil
	}
	return q.warned(ctx, log, m, ev.Detail.InstanceID, ev.Time, confirmed)
}

// spotNotice is how long before it reclaims a spot instance EC2 warns.
// A warning read later than that is not evacuated ahead of the tick: the
// instance is gone by then or was not reclaimed, and a node cordoned for
// a warning older than the autoscaler keeps (it drops one a few minutes
// old) would be given back by nothing.
const spotNotice = 2 * time.Minute

// warned starts the handling of a spot warning for instanceID: for an
// instance the Fleet confirmed to be the fleet's, its node is evacuated
// at once (evacuate), unless the warning's two minutes are past
// (spotNotice), while Handler (finish) records the warning, replaces the
// instance and evacuates its node under the lock, which may be held for
// minutes by a tick draining another node.
func (q *Queue) warned(ctx context.Context, log *slog.Logger, m types.Message, instanceID string, notice time.Time, confirmed bool) *warning {
	log.InfoContext(ctx, "spot interruption warning", "time", notice)
	done := make(chan struct{})
	w := &warning{m: m, instance: instanceID, notice: notice, evacuated: done, cancel: func() {}}
	switch {
	case !confirmed || q.cfg.Nodes == nil:
		close(done)
	case q.cfg.Clock.Since(notice) >= spotNotice:
		log.InfoContext(ctx, "spot warning older than its two minutes: its node is left to the tick")
		close(done)
	default:
		ectx, cancel := context.WithTimeout(ctx, q.cfg.HandleTimeout)
		w.cancel = cancel
		go func() {
			defer close(done)
			q.evacuate(ectx, log, instanceID)
		}()
	}
	return w
}

// finish has Handler handle w, within HandleTimeout, and returns once
// w's evacuation has ended too; its error is Handler's.
func (q *Queue) finish(ctx context.Context, w *warning) error {
	hctx, cancel := context.WithTimeout(ctx, q.cfg.HandleTimeout)
	defer cancel()
	res, err := q.cfg.Handler.HandleInterruption(hctx, w.instance, w.notice)
	<-w.evacuated
	w.cancel()
	if err != nil {
		return fmt.Errorf("spot interruption of %s: %w (%s)", w.instance, err, res.String())
	}
	return nil
}

// goingAway reports whether an instance in state is leaving the fleet:
// stopping, stopped, shutting-down or terminated.
func goingAway(state string) bool {
	switch state {
	case "stopping", "stopped", "shutting-down", "terminated":
		return true
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
