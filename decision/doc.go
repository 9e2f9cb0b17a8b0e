// Package decision holds Policies: pure functions from an observation
// (autoscaler.PolicyInput) to a Decision, with no I/O and no clock.
//
// Threshold is the original design's policy and the default. FirstOf and
// Max compose policies, so that a user's own policy can run beside it:
//
//	p := decision.FirstOf(myQueuePolicy, threshold)
//
// Guardrails (MinNodes/MaxNodes, cooldowns, safety mode) are not a
// policy's business: the autoscaler applies them to whatever a policy
// returns.
package decision
