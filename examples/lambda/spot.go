package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/ec2fleet"
)

// Tagger writes tags on EC2 resources, with the SDK's exact signature:
// *ec2.Client satisfies it.
type Tagger interface {
	CreateTags(ctx context.Context, params *ec2.CreateTagsInput, optFns ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error)
}

// Interruptions handles EC2 spot interruption warnings: the instance has
// two minutes left. Under the cluster's lock (the same lock the ticks take,
// so that a tick and a warning never act at once) it cordons the
// instance's node, launches its replacement at once (or, when it cannot,
// marks the instance with ec2fleet.TagInterruptionNotice for the next tick
// to replace), then drains the node within what is left of the
// invocation.
//
// It uses the autoscaler's parts through their public interfaces; the
// autoscaler has no method for an event of this kind (see the report of
// issue 6 for the one proposed).
type Interruptions struct {
	// Cfg supplies the parts (Locker, State, Fleet, Nodes, Notifier),
	// the clock, the logger and the limits (MaxNodes, LockTTL,
	// DeadlineMargin, ReleaseTimeout) of the autoscaler.
	Cfg autoscaler.Config
	// Owner is the lock owner, the autoscaler's.
	Owner string
	// Tagger marks the instance; nil skips the mark.
	Tagger Tagger
	// LockRetry is the wait between attempts while a tick holds the lock.
	LockRetry time.Duration
}

// InterruptionResult says what Handle did.
type InterruptionResult struct {
	InstanceID string `json:"instanceId"`
	// Ignored says why nothing was done (not one of the cluster's
	// instances, already gone).
	Ignored string `json:"ignored,omitempty"`
	// Node is the instance's node, if it has one.
	Node string `json:"node,omitempty"`
	// Replacements are the instances launched in its place.
	Replacements []string `json:"replacements,omitempty"`
	// ReplacementSkipped says why no replacement was launched.
	ReplacementSkipped string `json:"replacementSkipped,omitempty"`
	// Marked is true when the instance was tagged
	// ec2fleet.TagInterruptionNotice, for the next tick to replace it
	// (only when no replacement was launched here).
	Marked bool `json:"marked,omitempty"`
	// Drained is true when every pod left the node; DrainError says why
	// not otherwise.
	Drained    bool   `json:"drained"`
	DrainError string `json:"drainError,omitempty"`
}

// Handle acts on the interruption warning for instanceID issued at notice.
// It waits for the lock while a tick holds it, until ctx's deadline is
// DeadlineMargin away; it then returns an error (EventBridge invokes the
// function again). Warnings for instances the cluster does not own are
// ignored, not errors: the rule sees every spot instance of the account.
func (h *Interruptions) Handle(ctx context.Context, instanceID string, notice time.Time) (res InterruptionResult, err error) {
	res.InstanceID = instanceID
	c := &h.Cfg
	log := c.Logger.With("instance", instanceID)
	lease, err := h.acquire(ctx)
	if err != nil {
		return res, err
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.ReleaseTimeout)
		defer cancel()
		if rerr := c.Locker.Release(rctx, lease); rerr != nil {
			err = errors.Join(err, fmt.Errorf("release lock: %w", rerr))
		}
	}()

	instances, err := c.Fleet.List(ctx)
	if err != nil {
		return res, fmt.Errorf("list instances: %w", err)
	}
	var target *autoscaler.Instance
	others := 0
	for i, in := range instances {
		switch {
		case in.ID == instanceID:
			target = &instances[i]
		case in.State.Active() && in.InterruptionNotice.IsZero():
			others++
		}
	}
	if target == nil {
		res.Ignored = "not one of cluster " + c.ClusterID + "'s instances"
		log.InfoContext(ctx, "spot interruption ignored", "reason", res.Ignored)
		return res, nil
	}
	if !target.State.Active() {
		res.Ignored = "instance already " + string(target.State)
		log.InfoContext(ctx, "spot interruption ignored", "reason", res.Ignored)
		return res, nil
	}

	// 1. Nothing new on its node.
	nodes, err := c.Nodes.ListNodes(ctx)
	if err != nil {
		return res, fmt.Errorf("list nodes: %w", err)
	}
	byInstance, _ := autoscaler.MatchNodes([]autoscaler.Instance{*target}, nodes)
	node, hasNode := byInstance[instanceID]
	if hasNode {
		res.Node = node.Name
		if err := c.Nodes.Cordon(ctx, node.Name); err != nil && !errors.Is(err, autoscaler.ErrNotFound) {
			log.WarnContext(ctx, "cordon interrupted node", "node", node.Name, "err", err)
		}
	}

	// 2. Its replacement, at once: booting takes longer than draining.
	if err := h.replace(ctx, lease, target, others, &res); err != nil {
		return res, err
	}

	// 3. Without a replacement, mark it (ec2fleet.TagInterruptionNotice):
	// the next tick then no longer counts it as capacity and replaces it
	// itself. With one, the mark would make that tick replace it a
	// second time (the tick replaces every marked instance, whatever is
	// booting), so it is left unmarked: it counts as capacity until the
	// reclaim, under the scale-down cooldown that the replacement started.
	if len(res.Replacements) == 0 && h.Tagger != nil {
		_, err := h.Tagger.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{instanceID},
			Tags: []ec2types.Tag{{Key: aws.String(ec2fleet.TagInterruptionNotice), Value: aws.String(notice.UTC().Format(time.RFC3339))}}})
		if err != nil {
			log.WarnContext(ctx, "mark interrupted instance", "err", err)
		} else {
			res.Marked = true
		}
	}

	// 4. Drain within what is left of the two minutes and of ctx.
	if hasNode {
		dctx, cancel := ctx, context.CancelFunc(func() {})
		if d, ok := ctx.Deadline(); ok {
			// Keep the margin for the release and the notification.
			dctx, cancel = context.WithDeadline(ctx, d.Add(-c.DeadlineMargin/2))
		}
		err := c.Nodes.Drain(dctx, node.Name)
		cancel()
		if err != nil && !errors.Is(err, autoscaler.ErrNotFound) {
			// The node stays cordoned: the instance is going anyway.
			res.DrainError = err.Error()
			log.ErrorContext(ctx, "drain interrupted node", "node", node.Name, "err", err)
		} else {
			res.Drained = true
		}
	}

	msg := fmt.Sprintf("spot instance %s will be reclaimed", instanceID)
	if res.Node != "" {
		msg += fmt.Sprintf("; node %s cordoned", res.Node)
		if res.Drained {
			msg += " and drained"
		} else {
			msg += ", drain incomplete: " + res.DrainError
		}
	}
	if len(res.Replacements) > 0 {
		msg += fmt.Sprintf("; replacement %v launched", res.Replacements)
	} else {
		msg += "; no replacement: " + res.ReplacementSkipped
	}
	h.notify(ctx, autoscaler.Event{Kind: autoscaler.EventInterrupted, Time: c.Clock.Now(), ClusterID: c.ClusterID,
		Message: msg, Instances: append([]string{instanceID}, res.Replacements...)})
	log.InfoContext(ctx, "spot interruption handled", "node", res.Node, "replacements", res.Replacements, "drained", res.Drained)
	return res, nil
}

// acquire takes the lock, waiting while a tick holds it.
func (h *Interruptions) acquire(ctx context.Context) (autoscaler.Lease, error) {
	c := &h.Cfg
	for {
		lease, err := c.Locker.Acquire(ctx, h.Owner, c.LockTTL)
		if err == nil {
			return lease, nil
		}
		if !errors.Is(err, autoscaler.ErrLockHeld) {
			return autoscaler.Lease{}, fmt.Errorf("acquire lock: %w", err)
		}
		if d, ok := ctx.Deadline(); ok && time.Until(d) < c.DeadlineMargin+h.LockRetry {
			return autoscaler.Lease{}, fmt.Errorf("lock still held near the deadline, EventBridge will retry: %w", err)
		}
		select {
		case <-ctx.Done():
			return autoscaler.Lease{}, fmt.Errorf("waiting for the lock: %w", ctx.Err())
		case <-c.Clock.After(h.LockRetry):
		}
	}
}

// replace launches one instance in target's place, as a recorded
// operation that a later tick finishes if this invocation dies.
func (h *Interruptions) replace(ctx context.Context, lease autoscaler.Lease, target *autoscaler.Instance, others int, res *InterruptionResult) error {
	c := &h.Cfg
	if others >= c.MaxNodes {
		res.ReplacementSkipped = fmt.Sprintf("%d other active instances, at MaxNodes %d", others, c.MaxNodes)
		return nil
	}
	st, err := c.State.Load(ctx)
	if err != nil {
		return fmt.Errorf("load state: %w", err)
	}
	if st.Operation != nil {
		// An earlier tick's operation: the next tick recovers it; do
		// not overwrite it.
		res.ReplacementSkipped = fmt.Sprintf("operation %s in progress", st.Operation.ID)
		return nil
	}
	now := c.Clock.Now()
	op := &autoscaler.Operation{ID: c.ClusterID + "-spot-" + target.ID, Kind: autoscaler.OpLaunch, Count: 1, Started: now}
	st.Operation, st.ScalingInProgress = op, true
	if err := h.save(ctx, lease, st); err != nil {
		return err
	}
	got, lerr := c.Fleet.Launch(ctx, autoscaler.LaunchRequest{OperationID: op.ID, Count: 1})
	for _, in := range got {
		res.Replacements = append(res.Replacements, in.ID)
	}
	if lerr != nil && !errors.Is(lerr, autoscaler.ErrInsufficientCapacity) {
		// Keep the operation: the next tick finds or relaunches it.
		return fmt.Errorf("launch replacement: %w", lerr)
	}
	if lerr != nil {
		res.ReplacementSkipped = lerr.Error()
		h.notify(ctx, autoscaler.Event{Kind: autoscaler.EventCapacity, Time: now, ClusterID: c.ClusterID, Error: lerr.Error(),
			Message: fmt.Sprintf("no capacity for the replacement of spot instance %s: %v", target.ID, lerr)})
	}
	st.Operation, st.ScalingInProgress = nil, false
	if len(got) > 0 {
		st.LastScaleUp = now
	}
	return h.save(ctx, lease, st)
}

func (h *Interruptions) save(ctx context.Context, lease autoscaler.Lease, st autoscaler.ClusterState) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.Cfg.ReleaseTimeout)
	defer cancel()
	if err := h.Cfg.State.Save(sctx, lease, st); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}

func (h *Interruptions) notify(ctx context.Context, ev autoscaler.Event) {
	if h.Cfg.Notifier == nil {
		return
	}
	nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.Cfg.ReleaseTimeout)
	defer cancel()
	if err := h.Cfg.Notifier.Notify(nctx, ev); err != nil {
		h.Cfg.Logger.WarnContext(ctx, "notify", "kind", ev.Kind, "err", err)
	}
}
