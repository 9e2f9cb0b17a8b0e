package main

import (
	"context"
	"errors"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// skipReporter is the autoscaler's Locker with the ticks it skips
// reported to the publisher. The autoscaler returns a tick skipped
// because another replica holds the lock without publishing it, so a
// replica that keeps losing the lock (two replicas started together tick
// in phase, and the loser loses every time) would count no skipped tick,
// keep node_fleet_active at its last value and, its LastTick never
// advancing, fail /healthz after 3 intervals and a LockTTL: the liveness
// probe would restart a healthy standby. When the autoscaler publishes
// skipped ticks itself, this wrapper must go (they would count twice;
// TestSkippedTicksArePublishedOnce says so).
type skipReporter struct {
	autoscaler.Locker
	pub *PromPublisher
}

// Acquire implements autoscaler.Locker; a lock held by another replica is
// published as a skipped tick.
func (s skipReporter) Acquire(ctx context.Context, owner string, ttl time.Duration) (autoscaler.Lease, error) {
	start := time.Now()
	lease, err := s.Locker.Acquire(ctx, owner, ttl)
	if errors.Is(err, autoscaler.ErrLockHeld) {
		_ = s.pub.Publish(ctx, autoscaler.Result{Time: start, Duration: time.Since(start), Outcome: autoscaler.OutcomeSkipped, Reason: err.Error()})
	}
	return lease, err
}
