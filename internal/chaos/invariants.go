package chaos

import (
	"errors"
	"slices"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
)

// fleetCount classifies the fleet's active instances now, with the
// autoscaler's documented rules: capacity is Ready or booting (not yet past
// JoinTimeout, or NotReady for less than NotReadyTimeout), interrupted spot
// instances excluded; broken are the ghosts and long-NotReady ones awaiting
// repair.
func (w *world) fleetCount() (capacity, broken int) {
	now := w.clk.Now()
	st := w.store.State()
	interrupted := map[string]bool{}
	for _, it := range st.Interruptions {
		interrupted[it.InstanceID] = true
	}
	for _, in := range w.live() {
		if interrupted[in.ID] || !in.InterruptionNotice.IsZero() {
			continue
		}
		age := now.Sub(in.LaunchTime)
		n, joined := w.nodes.Get(fake.NodeName(in.ID))
		switch {
		case joined && n.Ready:
			capacity++
		case joined && age >= w.cfg.JoinTimeout && now.Sub(n.ReadyTransition) >= w.cfg.NotReadyTimeout:
			broken++
		case !joined && age >= w.cfg.JoinTimeout:
			broken++
		default:
			capacity++
		}
	}
	return capacity, broken
}

// brokenCounts returns the active instances and those whose node is
// NotReady or never came, for the mass-NotReady rule.
func (w *world) brokenCounts() (live, notReady int) {
	now := w.clk.Now()
	for _, in := range w.live() {
		live++
		n, joined := w.nodes.Get(fake.NodeName(in.ID))
		if (joined && !n.Ready) || (!joined && now.Sub(in.LaunchTime) >= w.cfg.JoinTimeout) {
			notReady++
		}
	}
	return live, notReady
}

// checkTick checks the invariants that hold after every tick.
func (w *world) checkTick(who string, p *parts, tl *tickLog, res autoscaler.Result, err error) {
	now := w.clk.Now()
	// The lock is released, or (its release failed) expires within its TTL.
	if h := w.store.Holder(); h == p.owner {
		if !tl.releaseFault {
			w.violate("%s's tick ended holding the lock (lease %d) without a failed release", who, p.lease.Token)
		} else if p.lease.Expires.Sub(now) > w.cfg.LockTTL {
			w.violate("%s's unreleased lease %d outlives its TTL", who, p.lease.Token)
		}
	}
	if tl.loadFailed && tl.saves > 0 {
		w.violate("%s: the state could not be loaded and %d save(s) followed", who, tl.saves)
	}
	if tl.loadFailed && res.Outcome != autoscaler.OutcomeFailed {
		w.violate("%s: the state could not be loaded and the tick ended %s", who, res.Outcome)
	}
	skipped := res.Outcome == autoscaler.OutcomeSkipped
	if skipped || !tl.acquired {
		if len(tl.terminated) > 0 {
			w.violate("%s: a tick without the lock terminated %v", who, tl.terminated)
		}
		return
	}
	// The outcome is recorded.
	if !tl.loadFailed && !tl.saveFault && !errors.Is(err, autoscaler.ErrLeaseLost) {
		h := w.store.State().History
		if len(h) == 0 || !h[len(h)-1].Time.Equal(res.Time) {
			w.violate("%s: the tick (%s) was not recorded in the history", who, res.Outcome)
		}
	}
	if tl.loadFailed {
		return
	}

	// Scale-downs: never on missing or stale metrics, never with pending
	// pods.
	downs, recoverTerm, repairs, notReadyRepairs := 0, 0, 0, 0
	for _, o := range res.Steps {
		switch o.Step.Kind {
		case autoscaler.StepScaleDown:
			if o.Skipped != "" {
				continue
			}
			downs++
			if probs := res.Snapshot.Problems(res.Time, w.cfg.MaxMetricAge); len(probs) > 0 {
				w.violate("%s: scale-down of %s on bad metrics: %v", who, o.Step.InstanceID, probs)
			}
			if c := res.Snapshot.CPUNodes; c.OK && int(c.Value) < res.ReadyNodes {
				w.violate("%s: scale-down of %s on a CPU averaged over %d of %d Ready nodes", who, o.Step.InstanceID, int(c.Value), res.ReadyNodes)
			}
			if s := res.Snapshot.PendingPods; !s.OK || s.Value > 0 {
				if s.OK && res.Snapshot.Scheduler == nil && tl.lastPending == s.Value {
					// The no-progress rule took these pods for ones no
					// node helps: the known limitation without the
					// scheduler's view (docs/reliability.md).
					w.rep.KnownPendingScaleDown++
				} else {
					w.violate("%s: scale-down of %s with pending pods %s", who, o.Step.InstanceID, s)
				}
			}
		case autoscaler.StepRecoverTerminate:
			recoverTerm++
		case autoscaler.StepTerminateGhost, autoscaler.StepTerminateNotReady:
			if o.Done {
				repairs++
				if o.Step.Kind == autoscaler.StepTerminateNotReady {
					notReadyRepairs++
				}
			}
		}
	}
	// Repair within its bound; none in a mass NotReady.
	if repairs > w.cfg.MaxRepairsPerTick {
		w.violate("%s: %d repairs in one tick, bound %d", who, repairs, w.cfg.MaxRepairsPerTick)
	}
	if len(tl.terminated) > w.cfg.MaxRepairsPerTick+downs+recoverTerm {
		w.violate("%s: terminated %d instances (%v) with %d scale-down(s), %d recovery and a repair bound of %d",
			who, len(tl.terminated), tl.terminated, downs, recoverTerm, w.cfg.MaxRepairsPerTick)
	}
	if tl.mass >= 2 && 2*tl.mass >= tl.live && repairs > 0 {
		w.violate("%s: %d of %d instances went NotReady at once (an outage) and %d repaired", who, tl.mass, tl.live, repairs)
	}
	_ = notReadyRepairs

	// Bounds, booting included.
	capacity, broken := w.fleetCount()
	repairFailed := slices.ContainsFunc(res.Steps, func(o autoscaler.StepOutcome) bool {
		k := o.Step.Kind
		return o.Err != nil && (k == autoscaler.StepTerminateGhost || k == autoscaler.StepTerminateNotReady)
	})
	if capacity+broken > w.cfg.MaxNodes && repairFailed && w.alerted(tl, autoscaler.EventFailure) {
		// The plan counted on terminating a ghost or NotReady instance
		// and the termination failed: the failure makes the bound
		// impossible this tick, and it was alerted.
		w.rep.OverMaxAlerted++
	} else if capacity+broken > w.cfg.MaxNodes {
		cause := ""
		for _, in := range w.live() {
			switch {
			case w.overBroken[in.ID]:
				cause = "; some were launched while ghosts or NotReady instances were not counted"
			case w.overHidden[in.ID] && cause == "":
				cause = "; some were launched while List did not show a just-launched one"
			}
		}
		w.violate("%s: %d active instances (%d Ready or booting, %d awaiting repair; interrupted excluded) above MaxNodes %d%s",
			who, capacity+broken, capacity, broken, w.cfg.MaxNodes, cause)
	}
	if capacity < w.cfg.MinNodes {
		alerted := w.alerted(tl, autoscaler.EventFailure, autoscaler.EventCapacity, autoscaler.EventRepairHeld, autoscaler.EventFloorUnmet)
		excused := res.Hold() == autoscaler.HoldDeadline || res.Hold() == autoscaler.HoldOperation || slices.Contains(tl.faults, "ctx-deadline-near") ||
			slices.ContainsFunc(res.Steps, func(o autoscaler.StepOutcome) bool {
				k := o.Step.Kind
				return k == autoscaler.StepRecoverLaunch || k == autoscaler.StepRecoverTerminate || k == autoscaler.StepRecoverUncordon || k == autoscaler.StepDropOperation
			})
		switch {
		case alerted:
			w.rep.BelowMinAlerted++
		case !excused:
			w.violate("%s: %d active instances, below MinNodes %d, and no alert (outcome %s: %s)", who, capacity, w.cfg.MinNodes, res.Outcome, res.Reason)
		}
	}
}

// checkBetweenTicks checks what must hold between ticks: no node stays
// cordoned for ever, no operation outlives its recovery attempts.
func (w *world) checkBetweenTicks() {
	st := w.store.State()
	if op := st.Operation; op != nil && op.Attempts > w.cfg.MaxRecoveryAttempts {
		w.violate("operation %s has %d recovery attempts, more than %d", op.ID, op.Attempts, w.cfg.MaxRecoveryAttempts)
	}
	interrupted := map[string]bool{}
	for _, it := range st.Interruptions {
		interrupted[it.InstanceID] = true
	}
	for _, in := range w.live() {
		name := fake.NodeName(in.ID)
		n, ok := w.nodes.Get(name)
		if !ok || !n.Unschedulable || !in.State.Active() || interrupted[in.ID] || !in.InterruptionNotice.IsZero() ||
			(st.Operation != nil && st.Operation.NodeName == name) {
			delete(w.cordonedTicks, name)
			continue
		}
		w.cordonedTicks[name]++
		if w.cordonedTicks[name] == 4 {
			w.violate("node %s (instance %s) cordoned for %d ticks with no operation holding it", name, in.ID, w.cordonedTicks[name])
		}
	}
}
