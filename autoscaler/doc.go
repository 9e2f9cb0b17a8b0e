// Package autoscaler is node-fleet's core: the tick that scales a
// Kubernetes cluster's worker fleet, as one pipeline (lock, load, observe;
// plan: classify, recover, repair, replace, decide, constrain; execute,
// record, unlock), the types it works on and the small interfaces it
// consumes (MetricSource, Policy, Locker, StateStore,
// FleetProvider, NodeManager, Notifier, Publisher). Implementations live
// in other packages (metrics, decision, state, ec2fleet, drain, notify);
// autoscaler imports none of them.
//
// # The tick
//
// Every run, whatever starts it (a schedule, a daemon's ticker, a watch
// event, a spot interruption warning, a simulator's clock), is one tick:
// lock (Locker, with a fencing token; held by another replica, the tick is
// skipped), load the state (StateStore; a state that cannot be read stops
// the tick and is never overwritten), observe (MetricSource, whose missing
// readings are never zero; FleetProvider.List; NodeManager.ListNodes and
// PinnedData),
// plan, execute, record, unlock.
//
// # The planner: PlanTick, phase by phase
//
// PlanTick is a pure function of the Observation and the Limits (the
// validated numbers, zero meaning zero; Config.Limits applies the
// defaults once). It reads as its phases:
//
//  1. classify: the fleet into Ready, booting, ghosts (never joined
//     within JoinTimeout), NotReady (longer than NotReadyTimeout),
//     orphaned Nodes and interrupted spot instances; safety mode (metrics
//     missing, stale or nonsense); an outage (at least
//     MassNotReadyShare of the fleet NotReady at once, or a zone whose
//     workers are all NotReady; workers kept for their node-local data
//     and broken for over an hour are left out of both).
//  2. recover: the operation an earlier tick left behind is finished or
//     rolled back (dropped with an alert after MaxRecoveryAttempts).
//  3. repair: terminate the ghosts and the NotReady instances (never one
//     whose node or host name holds node-local data), delete the
//     orphaned Nodes.
//  4. replace: launch replacements for interrupted spot instances (never
//     capacity) and cordon and drain their nodes.
//  5. decide: the Policy's Decision.
//  6. constrain: everything proposed, the policy's decision, the repair
//     and the replacements alike, passes through the one ordered list of
//     guardrails (in order: repair, in-flight, floor, ceiling, safety,
//     pending-pods, no-progress, cooldown, at-min, paused, operation,
//     deadline). Each is a pure function that cuts or holds what it is
//     given and returns a Verdict with a HoldCode; only the floor and the
//     ceiling replace the decision, with a forced one (LevelFloor,
//     LevelCeiling), which cooldowns do not hold. The plan's alerts are
//     made from the verdicts afterwards.
//
// What is left becomes Steps, each with a typed Reason: the recovery,
// the repair, one launch (replacements and scale-up together), the
// interrupted nodes' drains, and the scale-down's victims (those whose
// pods fit on the other nodes).
//
// # Execute and record
//
// The journaling executor writes each operation ahead to the state store,
// carries the steps out and records each one's StepOutcome; a failed step
// stops only the steps that depend on it. The Result is the plan and the
// outcomes (Result.Launched, Terminated, Removed, Ghosts, ... read them);
// the tick is recorded in the history, the state saved, the metrics
// published (Publisher), people notified (Notifier), the lock released on
// every path.
//
// Spot interruption warnings are an input of the tick
// (Autoscaler.HandleInterruption), not a second tick: the same lock, the
// same journal and the same planner.
//
// # Dry run
//
// With Config.DryRun a tick locks, loads, observes and plans as always,
// and the executor carries no step out: it marks each one it would have
// tried (StepOutcome.Would, Result.Would) and calls no mutating method of
// the FleetProvider or the NodeManager, and writes no operation ahead.
// The Result is held, its Reason says what the tick would have done
// ("would scale up 3: ..."), its String starts "dry run"; the history's
// Record is a hold marked DryRun with the would-be steps (Record.Would);
// every Event is marked DryRun, the scaling and repair ones saying
// "would ...". An operation a live tick left in flight is left alone, not
// finished, rolled back or counted as an attempt, and named in the
// Reason. LastScaleUp, LastScaleDown and the recent launches do not move,
// so that turning the dry run off finds the cooldowns and the history
// (which guardrails and policies read) as the live ticks left them. Each
// dry-run tick answers "what would a live tick do now"; it does not
// pretend its earlier answers happened (the simulator plays sequences).
//
// # Guarantees, whatever the policy says
//
// The fleet stays within MinNodes and MaxNodes (booting instances count,
// interrupted ones do not); no scale-down in safety mode, within the
// cooldown, while instances boot or while pending pods a node would help
// wait; repair is bounded and holds in an outage; a node holding
// node-local data (Node.LocalData) or annotated scale-down-disabled is
// never removed, by scale-down or by repair (alerted instead); near the deadline
// nothing new starts; an instance without this cluster's tags is never
// touched (the FleetProvider's contract).
//
// Start with Example, then New, Config and PlanTick. What fits where (the
// scheduler's view, packing pending pods onto new workers, the scale-down
// simulation) is package capacity, which the planner calls; the fake
// package has in-memory parts for tests (fake.Static a fixed
// MetricSource) and the mock package gomock mocks.
package autoscaler
