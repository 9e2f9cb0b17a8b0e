// Package decision holds Policies: pure functions from an observation
// (autoscaler.PolicyInput) to a Decision, with no I/O and no clock.
//
// Threshold is the original design's policy and the default. Reactive adds
// exactly the nodes the pending pods need (as cluster-autoscaler does).
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
