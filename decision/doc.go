// Package decision holds Policies: pure functions from an observation
// (autoscaler.PolicyInput) to a Decision, with no I/O and no clock.
//
// Threshold is the original design's policy and the default. Reactive adds
// exactly the nodes the pending pods need (as cluster-autoscaler does).
// Reactive and Predictive, and Threshold's scale-down guard, read the
// demand from the scheduler's view (Snapshot.Scheduler: the pods'
// requests in worker units, with autoscaler.Snapshot.Demand now and
// autoscaler.Record.Demand in the history),
// which metrics.KubeScheduler reads from the Kubernetes API and the
// simulator builds from its model alike; they never read anything a real
// cluster does not show. All three stabilise their scale-down, so that a
// node removed is seldom needed again minutes later: Reactive and
// Predictive remove a node only when the demand needed no more over a
// window and the demand now plus its usual rise within the window (the
// 95th percentile the history shows) still fits the nodes left;
// Threshold holds its -1 while the CPU load now plus its usual rise
// within the window would be above CPUHigh on the nodes left, or, where
// the scheduler's view gives the pods' demand, while that demand plus its
// usual rise within the window would not fit the nodes left (it does not
// look back over the window).
// Forecaster forecasts the highest demand of the next lead time (default
// DefaultLead, a boot-and-join and a tick): it detects daily and weekly
// periods in the long history and picks among naive, damped-trend and
// seasonal methods by their rolling out-of-sample MASE (the seasonal ones
// judged on the long history's days), with a headroom
// from the quantile of its own recent errors; when no method beats naive,
// the headroom is naive's own (the demand's usual rise in a lead time).
// Predictive raises the reactive policy's capacity to that forecast and
// to a calendar of known events, and scales down reactively, stabilised
// over a window; a naive forecast only sizes a scale-up the reactive
// policy asks for, and starts none.
// FirstOf and Max compose policies, so that a user's own policy can run
// beside them:
//
//	p := decision.FirstOf(myQueuePolicy, threshold)
//
// Guardrails (MinNodes/MaxNodes, cooldowns, safety mode) are not a
// policy's business: the autoscaler applies them to whatever a policy
// returns.
package decision
