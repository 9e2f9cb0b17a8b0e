// Package chaos drives the real tick (autoscaler.Autoscaler, its planner,
// guardrails and journaling executor) on the in-memory parts of
// autoscaler/fake for long simulated runs with random faults of every
// kind, and checks the autoscaler's invariants after every tick and at
// every call that changes the fleet or the cluster.
//
// A run is one seed: Run(ctx, Options{Seed: s, Days: d}) replays the same
// faults in the same order for the same seed, so a failure prints its seed
// and the last ticks, and is reproduced by running that seed alone.
//
// The world is a coarse model: a fake clock stepped by Options.Interval
// (10 minutes by default), a diurnal demand in pods, pods placed on the
// Ready and schedulable nodes, spot interruptions two minutes before a
// reclaim. Faults injected (each counted in Report.Faults):
//
//   - EC2: insufficient capacity for one call and droughts over many ticks,
//     throttling, a List that fails or lags behind launches (an eventually
//     consistent DescribeInstances), failed terminations, spot reclaims
//     without notice, interruption warnings delivered once, twice, for gone
//     and for foreign instances;
//   - Kubernetes: ListNodes, cordon, drain (blocked by a budget or
//     refused, like a 403), uncordon and delete failures, instances that
//     never join, nodes NotReady one at a time and all at once;
//   - DynamoDB: Acquire, Load, Save and Release failures, and a Save that
//     reports a timeout after it was written;
//   - Prometheus: the source down, stale readings, NaN, out-of-range
//     values, a missing metric;
//   - the context: cancelled after the launch call, during a drain, between
//     the drain and the termination; a deadline near at the start; calls
//     slow enough to reach the tick's own deadline;
//   - the lock: a second autoscaler ticking in the same step, holding a
//     lease it never releases (a crashed replica), ticking in the middle of
//     the first one's tick.
//
// The invariants (see Check* in invariants.go and docs/reliability.md) are
// those of issue 16: the bounds, one operation in flight under a valid
// lease, what may be terminated, no scale-down on bad metrics or with
// pending pods, bounded repair, the lock released or expiring and the
// outcome recorded, a state that could not be loaded never overwritten,
// no launch twice, no node cordoned for ever.
//
// internal/chaos uses the autoscaler's public API only; it does not use
// sim.
package chaos
