// Package decision holds Policies: pure functions from an observation
// (autoscaler.PolicyInput) to a Decision, with no I/O and no clock.
//
// Threshold is the original design's policy and the default. Reactive adds
// exactly the nodes the pending pods need (as cluster-autoscaler does).
// Reactive and Predictive read the demand from the scheduler's view
// (Snapshot.Scheduler: the pods' requests in worker units, with
// autoscaler.DemandOf now and autoscaler.RecordDemand in the history),
// which metrics.KubeScheduler reads from the Kubernetes API and the
// simulator builds from its model alike; they never read anything a real
// cluster does not show.
// Predictive forecasts demand one boot time ahead from the decision history
// (trend, daily and weekly patterns, a calendar of known events) and scales
// up before a surge; it is meant to run as Max(predictive, reactive).
// FirstOf and Max compose policies, so that a user's own policy can run
// beside them:
//
//	p := decision.FirstOf(myQueuePolicy, threshold)
//
// Guardrails (MinNodes/MaxNodes, cooldowns, safety mode) are not a
// policy's business: the autoscaler applies them to whatever a policy
// returns.
package decision
