package fake

import (
	"context"
	"maps"

	"k8s.io/utils/clock"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// Static is a MetricSource that returns the same snapshot at every
// collection: for demos, the simulator's fixed loads and tests. Metrics
// left zero in Snapshot are missing (a zero Metric has OK false), as they
// would be from a real source that could not read them. Like the rest of
// this package it links neither the Prometheus client nor client-go, so a
// test of a custom source or policy stays small; metrics.Merge combines
// it (or any source) with others.
type Static struct {
	// Snapshot is returned by Collect.
	Snapshot autoscaler.Snapshot
	// Clock, when set, stamps the returned snapshot's Time and the At of
	// every present reading with the collection time, so that the
	// readings are never stale. Without it the snapshot is returned as
	// it is.
	Clock clock.PassiveClock
}

// Collect returns a copy of s.Snapshot (restamped when s.Clock is set), or
// ctx's error when ctx is done.
func (s *Static) Collect(ctx context.Context) (autoscaler.Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return autoscaler.Snapshot{}, err
	}
	snap := s.Snapshot
	snap.Custom = maps.Clone(s.Snapshot.Custom)
	if s.Clock == nil {
		return snap, nil
	}
	now := s.Clock.Now()
	snap.Time = now
	stamp := func(m *autoscaler.Metric) {
		if m.OK {
			m.At = now
		}
	}
	stamp(&snap.CPU)
	stamp(&snap.Memory)
	stamp(&snap.PendingPods)
	stamp(&snap.APILatency)
	for k, m := range snap.Custom {
		stamp(&m)
		snap.Custom[k] = m
	}
	return snap, nil
}
