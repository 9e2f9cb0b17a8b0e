// Package autoscaler is node-fleet's core: the tick that scales a
// Kubernetes cluster's worker fleet, the types it works on and the small
// interfaces it consumes (MetricSource, Policy, Locker, StateStore,
// FleetProvider, NodeManager, Notifier, Publisher). Implementations live
// in other packages (metrics, decision, state, ec2fleet, drain, notify);
// autoscaler imports none of them.
//
// # The tick
//
// Every run, whatever starts it (a schedule, a daemon's ticker, a watch
// event, a spot interruption warning, a simulator's clock), is one tick:
//
//  1. Lock: the cluster's lease (Locker), with a fencing token; held by
//     another replica, the tick is skipped. The tick's context ends
//     before the lease does.
//  2. Load the state (StateStore). A state that cannot be read stops the
//     tick and is never overwritten.
//  3. Observe: the metrics (MetricSource; missing is never zero), the
//     fleet (FleetProvider.List) and the nodes (NodeManager.ListNodes).
//  4. Plan: PlanTick, a pure function of the Observation, returns a Plan
//     of Steps, each with a typed Reason:
//     - recover the operation an earlier tick left behind (finish a
//     launch, finish or roll back a scale-down; dropped with an alert
//     after Config.MaxRecoveryAttempts);
//     - repair, bounded: ghosts and long-NotReady instances terminated,
//     at most Config.MaxRepairsPerTick a tick, none in safety mode, none
//     when more than Config.MassNotReadyShare of the fleet is broken at
//     once (an outage: alert instead), never below MinNodes;
//     - replace interrupted spot instances (which are never capacity);
//     - decide: the Policy's Decision, then the guardrails, one ordered
//     list of named constraints (Guardrails), each turning the decision
//     into what may be done with a Verdict and a HoldCode;
//     - act: one launch (replacements and scale-up together), the
//     interrupted nodes cordoned and drained, the scale-down victims.
//  5. Execute: the journaling executor writes each operation ahead to the
//     state store, carries the steps out and records each one's
//     StepOutcome; a failed step stops only the steps that depend on it.
//  6. Record the tick in the history, save the state, publish the metrics
//     (Publisher), notify (Notifier). Result is assembled once from the
//     plan and the outcomes.
//  7. Unlock, on every path.
//
// Spot interruption warnings are an input of the tick
// (Autoscaler.HandleInterruption), not a second tick: the same lock, the
// same journal and the same planner.
//
// # Guarantees, whatever the policy says
//
// The fleet stays within MinNodes and MaxNodes (booting instances count,
// interrupted ones do not); no scale-down in safety mode, within the
// cooldown, while instances boot or while pending pods a node would help
// wait; near the deadline nothing new starts; an instance without this
// cluster's tags is never touched (the FleetProvider's contract).
//
// Start with Example, then New, Config and PlanTick; the fake package has
// in-memory parts for tests and the mock package gomock mocks.
package autoscaler
