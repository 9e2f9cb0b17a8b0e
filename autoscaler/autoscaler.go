package autoscaler

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"
)

// Autoscaler runs ticks: lock, recover, observe, repair, decide, guardrails,
// act, record, unlock. It is safe to call RunOnce from several goroutines
// or processes at once: the Locker lets one of them act.
type Autoscaler struct {
	cfg     Config
	owner   string
	trigger chan struct{}
}

// New checks cfg and returns an Autoscaler. Every problem with cfg is
// reported, each naming its field.
func New(cfg Config) (*Autoscaler, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	owner := cfg.Owner
	if owner == "" {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("autoscaler: owner id: %w", err)
		}
		owner = cfg.ClusterID + "-" + hex.EncodeToString(b[:])
	}
	return &Autoscaler{cfg: cfg, owner: owner, trigger: make(chan struct{}, 1)}, nil
}

// Owner returns the identity this autoscaler uses in the lock.
func (a *Autoscaler) Owner() string { return a.owner }

// Trigger asks Run for a tick now, without waiting for the interval (a
// daemon calls it when pods become unschedulable). It never blocks; a
// trigger while one is already waiting is merged with it.
func (a *Autoscaler) Trigger() {
	select {
	case a.trigger <- struct{}{}:
	default:
	}
}

// Run ticks at once and then every Interval on the configured clock, and
// whenever Trigger is called, until ctx is done; it then returns ctx's
// error. Tick errors are logged, not returned.
func (a *Autoscaler) Run(ctx context.Context) error {
	t := a.cfg.Clock.NewTicker(a.cfg.Interval)
	defer t.Stop()
	for {
		res, err := a.RunOnce(ctx)
		if err != nil {
			a.cfg.Logger.ErrorContext(ctx, "tick failed", "err", err, "result", res.String())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C():
		case <-a.trigger:
		}
	}
}

// RunOnce runs one tick and says what it did. A tick skipped because
// another replica holds the lock is not an error. The lock is released on
// every path, also when ctx is cancelled.
func (a *Autoscaler) RunOnce(ctx context.Context) (res Result, err error) {
	start := a.cfg.Clock.Now()
	res.Time = start
	defer func() { res.Duration = a.cfg.Clock.Since(start) }()
	if err := ctx.Err(); err != nil {
		res.Outcome, res.Reason = OutcomeFailed, "context done before the tick started"
		return res, err
	}

	// 1. Lock.
	lease, err := a.cfg.Locker.Acquire(ctx, a.owner, a.cfg.LockTTL)
	if errors.Is(err, ErrLockHeld) {
		res.Outcome, res.Reason = OutcomeSkipped, "lock held by another replica"
		return res, nil
	}
	if err != nil {
		res.Outcome, res.Reason = OutcomeFailed, "could not acquire the lock"
		return res, fmt.Errorf("acquire lock: %w", err)
	}
	res.Lease = lease
	t := &tick{a: a, cfg: &a.cfg, lease: lease, now: start, res: &res, log: a.cfg.Logger.With("cluster", a.cfg.ClusterID, "token", lease.Token)}
	defer func() {
		// 8. Unlock, whatever happened.
		rctx, cancel := a.detached(ctx)
		defer cancel()
		if rerr := a.cfg.Locker.Release(rctx, lease); rerr != nil {
			t.log.ErrorContext(ctx, "release lock", "err", rerr)
			err = errors.Join(err, fmt.Errorf("release lock: %w", rerr))
		}
	}()
	if lease.TookOver {
		t.event(ctx, Event{Kind: EventStaleLock, Message: fmt.Sprintf("took over a stale lock held by %q", lease.PreviousOwner)})
	}

	err = t.run(ctx)
	if err != nil {
		res.Outcome = OutcomeFailed
		if res.Reason == "" {
			res.Reason = err.Error()
		}
		t.event(ctx, Event{Kind: EventFailure, Message: "tick failed: " + res.Reason, Error: err.Error()})
	}
	res.Err = err
	if a.cfg.Publisher != nil {
		pctx, cancel := a.detached(ctx)
		if perr := a.cfg.Publisher.Publish(pctx, res); perr != nil {
			t.log.WarnContext(ctx, "publish metrics", "err", perr)
		}
		cancel()
	}
	t.log.InfoContext(ctx, "tick", "outcome", res.Outcome, "reason", res.Reason, "result", res.String())
	return res, err
}

// detached returns a context that survives ctx's cancellation for at most
// ReleaseTimeout, for the work that must happen anyway: unlock and the last
// state write.
func (a *Autoscaler) detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), a.cfg.ReleaseTimeout)
}

// tick is the state of one RunOnce.
type tick struct {
	a     *Autoscaler
	cfg   *Config
	lease Lease
	now   time.Time
	res   *Result
	log   *slog.Logger
	st    ClusterState
}

// event records ev in the result and sends it to the Notifier.
func (t *tick) event(ctx context.Context, ev Event) {
	ev.Time = t.now
	ev.ClusterID = t.cfg.ClusterID
	t.res.Events = append(t.res.Events, ev)
	if t.cfg.Notifier == nil {
		return
	}
	nctx, cancel := t.a.detached(ctx)
	defer cancel()
	if err := t.cfg.Notifier.Notify(nctx, ev); err != nil {
		t.log.WarnContext(ctx, "notify", "kind", ev.Kind, "err", err)
	}
}

// deadlineNear reports whether ctx's deadline is closer than DeadlineMargin,
// or ctx is done: no new action may start.
func (t *tick) deadlineNear(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	// The deadline is in real time (Lambda's); compare it with the real
	// remaining time, not the injected clock.
	return ok && time.Until(d) < t.cfg.DeadlineMargin
}

// save writes the state under the tick's lease, even when ctx is done.
func (t *tick) save(ctx context.Context) error {
	sctx, cancel := t.a.detached(ctx)
	defer cancel()
	t.st.ScalingInProgress = t.st.Operation != nil
	if err := t.cfg.State.Save(sctx, t.lease, t.st); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}

// fleetView is the observed fleet, classified.
type fleetView struct {
	active    []Instance      // counted as capacity: ready + booting
	ready     []Candidate     // instances whose node is Ready
	booting   int             // active, not (yet) Ready
	ghosts    []Instance      // never joined within JoinTimeout
	unhealthy []Candidate     // node NotReady for longer than NotReadyTimeout
	orphans   []Node          // managed nodes without an instance, NotReady
	interrupt []Instance      // spot instances with an interruption notice
	nodeOf    map[string]Node // by instance id
	allActive int             // every pending/running instance
}

func (t *tick) classify(instances []Instance, nodes []Node) fleetView {
	var v fleetView
	var live []Instance
	for _, in := range instances {
		if in.State.Active() {
			live = append(live, in)
		}
	}
	v.allActive = len(live)
	v.nodeOf, v.orphans = MatchNodes(live, nodes)
	orphans := v.orphans[:0]
	for _, n := range v.orphans {
		if n.Managed && !n.Ready {
			orphans = append(orphans, n)
		}
	}
	v.orphans = orphans
	for _, in := range live {
		node, joined := v.nodeOf[in.ID]
		age := t.now.Sub(in.LaunchTime)
		switch {
		case !in.InterruptionNotice.IsZero():
			v.interrupt = append(v.interrupt, in)
		case joined && node.Ready:
			v.active = append(v.active, in)
			v.ready = append(v.ready, Candidate{Instance: in, Node: node})
		case joined && age >= t.cfg.JoinTimeout && t.now.Sub(node.ReadyTransition) >= t.cfg.NotReadyTimeout:
			v.unhealthy = append(v.unhealthy, Candidate{Instance: in, Node: node})
		case !joined && age >= t.cfg.JoinTimeout:
			v.ghosts = append(v.ghosts, in)
		default:
			v.active = append(v.active, in)
			v.booting++
		}
	}
	return v
}

func (t *tick) run(ctx context.Context) error {
	res := t.res
	// 2. Recover.
	st, err := t.cfg.State.Load(ctx)
	if err != nil {
		res.Reason = "could not load the state"
		return fmt.Errorf("load state: %w", err)
	}
	t.st = st
	if t.st.Operation != nil {
		if err := t.recover(ctx); err != nil {
			return err
		}
	}

	// 3. Observe.
	snap, merr := t.cfg.Metrics.Collect(ctx)
	if merr != nil {
		snap = Snapshot{Time: t.now, CPU: Missing(merr), Memory: Missing(merr), PendingPods: Missing(merr), APILatency: Missing(merr)}
	}
	res.Snapshot = snap
	if problems := snap.Problems(t.now, t.cfg.MaxMetricAge); len(problems) > 0 {
		res.SafetyMode = true
		if merr != nil {
			problems = []string{"metric source failed: " + merr.Error()}
		}
		res.SafetyReasons = problems
		if n := len(t.st.History); n == 0 || !t.st.History[n-1].Safety {
			t.event(ctx, Event{Kind: EventSafetyMode, Message: "entering safety mode, no scale-down: " + strings.Join(problems, "; ")})
		}
	}
	instances, err := t.cfg.Fleet.List(ctx)
	if err != nil {
		res.Reason = "could not list the fleet"
		return fmt.Errorf("list instances: %w", err)
	}
	nodes, err := t.cfg.Nodes.ListNodes(ctx)
	if err != nil {
		res.Reason = "could not list the nodes"
		return fmt.Errorf("list nodes: %w", err)
	}
	v := t.classify(instances, nodes)
	res.ReadyNodes, res.Booting, res.Instances = len(v.ready), v.booting, len(v.active)

	// 4. Repair.
	if err := t.repair(ctx, v); err != nil {
		return err
	}

	// 5. Decide, then guardrails.
	in := PolicyInput{
		Now: t.now, Snapshot: snap, ReadyNodes: len(v.ready), Booting: v.booting,
		MinNodes: t.cfg.MinNodes, MaxNodes: t.cfg.MaxNodes, History: t.st.History,
		LastScaleUp: t.st.LastScaleUp, LastScaleDown: t.st.LastScaleDown, SafetyMode: res.SafetyMode,
	}
	res.Proposed = t.cfg.Policy.Decide(in)
	res.Decision = t.guard(ctx, res.Proposed, v)

	// 6. Act.
	actErr := t.act(ctx, v)

	// 7. Record.
	t.record(v)
	if err := t.save(ctx); err != nil {
		return errors.Join(actErr, err)
	}
	return actErr
}

// recover finishes or rolls back the operation an earlier tick left behind.
func (t *tick) recover(ctx context.Context) error {
	op := *t.st.Operation
	switch op.Kind {
	case OpLaunch:
		// Find the launch's instances again by its id; launch what is
		// still missing, within MaxNodes.
		instances, err := t.cfg.Fleet.List(ctx)
		if err != nil {
			t.res.Reason = "could not list the fleet to recover a launch"
			return fmt.Errorf("recover launch %s: list: %w", op.ID, err)
		}
		found, active := 0, 0
		for _, in := range instances {
			if !in.State.Active() {
				continue
			}
			active++
			if in.OperationID == op.ID {
				found++
			}
		}
		want := min(op.Count, found+max(0, t.cfg.MaxNodes-active))
		msg := fmt.Sprintf("launch %s: found %d of %d instances", op.ID, found, op.Count)
		if want > found && !t.deadlineNear(ctx) {
			got, err := t.cfg.Fleet.Launch(ctx, LaunchRequest{OperationID: op.ID, Count: want})
			msg += fmt.Sprintf(", relaunched to %d", len(got))
			if err != nil && !errors.Is(err, ErrInsufficientCapacity) {
				t.res.Reason = "could not finish an earlier launch"
				return fmt.Errorf("recover launch %s: %w", op.ID, err)
			}
		}
		t.st.LastScaleUp = op.Started
		t.res.Recovered = msg
	case OpScaleDown:
		if op.Phase == PhaseTerminating {
			// The node was drained; finish the removal.
			if err := t.cfg.Fleet.Terminate(ctx, []string{op.InstanceID}); err != nil {
				t.res.Reason = "could not finish an earlier scale-down"
				return fmt.Errorf("recover scale-down %s: terminate %s: %w", op.ID, op.InstanceID, err)
			}
			if err := t.cfg.Nodes.DeleteNode(ctx, op.NodeName); err != nil {
				return fmt.Errorf("recover scale-down %s: delete node %s: %w", op.ID, op.NodeName, err)
			}
			t.st.LastScaleDown = t.now
			t.res.Recovered = fmt.Sprintf("scale-down %s: terminated %s and deleted node %s", op.ID, op.InstanceID, op.NodeName)
		} else {
			// The drain was interrupted: give the node back.
			if err := t.cfg.Nodes.Uncordon(ctx, op.NodeName); err != nil && !errors.Is(err, ErrNotFound) {
				t.res.Reason = "could not roll back an earlier scale-down"
				return fmt.Errorf("recover scale-down %s: uncordon %s: %w", op.ID, op.NodeName, err)
			}
			t.res.Recovered = fmt.Sprintf("scale-down %s: drain interrupted, node %s uncordoned", op.ID, op.NodeName)
		}
	default:
		t.res.Recovered = fmt.Sprintf("dropped unknown operation %q of kind %q", op.ID, op.Kind)
	}
	t.st.Operation = nil
	t.event(ctx, Event{Kind: EventRecovered, Message: "recovered an interrupted operation: " + t.res.Recovered})
	return t.save(ctx)
}

// repair terminates ghosts and instances whose node stayed NotReady, and
// deletes orphaned managed Nodes. Interrupted spot instances' nodes are
// cordoned; their capacity is replaced by the decision step.
func (t *tick) repair(ctx context.Context, v fleetView) error {
	var doomed []string
	for _, g := range v.ghosts {
		doomed = append(doomed, g.ID)
		t.res.Ghosts = append(t.res.Ghosts, g.ID)
	}
	for _, u := range v.unhealthy {
		doomed = append(doomed, u.Instance.ID)
		t.res.Replaced = append(t.res.Replaced, u.Instance.ID)
	}
	if len(doomed) > 0 && !t.deadlineNear(ctx) {
		if err := t.cfg.Fleet.Terminate(ctx, doomed); err != nil {
			t.res.Reason = "could not terminate ghost or NotReady instances"
			return fmt.Errorf("terminate %s: %w", strings.Join(doomed, ","), err)
		}
		if len(t.res.Ghosts) > 0 {
			t.event(ctx, Event{Kind: EventGhost, Instances: t.res.Ghosts,
				Message: fmt.Sprintf("terminated %d instance(s) that did not join within %s", len(t.res.Ghosts), t.cfg.JoinTimeout)})
		}
		for _, u := range v.unhealthy {
			if err := t.cfg.Nodes.DeleteNode(ctx, u.Node.Name); err != nil {
				t.log.WarnContext(ctx, "delete NotReady node", "node", u.Node.Name, "err", err)
			}
		}
		if len(v.unhealthy) > 0 {
			t.event(ctx, Event{Kind: EventGhost, Instances: t.res.Replaced,
				Message: fmt.Sprintf("terminated %d instance(s) whose node was NotReady for over %s", len(v.unhealthy), t.cfg.NotReadyTimeout)})
		}
	} else if len(doomed) > 0 {
		t.res.Ghosts, t.res.Replaced = nil, nil
	}
	for _, n := range v.orphans {
		if t.deadlineNear(ctx) {
			break
		}
		if err := t.cfg.Nodes.DeleteNode(ctx, n.Name); err != nil {
			t.log.WarnContext(ctx, "delete orphaned node", "node", n.Name, "err", err)
			continue
		}
		t.res.OrphansDeleted = append(t.res.OrphansDeleted, n.Name)
	}
	for _, in := range v.interrupt {
		if n, ok := v.nodeOf[in.ID]; ok && !n.Unschedulable && !t.deadlineNear(ctx) {
			if err := t.cfg.Nodes.Cordon(ctx, n.Name); err != nil && !errors.Is(err, ErrNotFound) {
				t.log.WarnContext(ctx, "cordon interrupted node", "node", n.Name, "err", err)
			}
		}
	}
	return nil
}

// guard applies the guardrails to the policy's decision: MinNodes/MaxNodes,
// in-flight instances, cooldowns, safety mode, an operation in progress and
// the deadline.
func (t *tick) guard(ctx context.Context, d Decision, v fleetView) Decision {
	cur := len(v.active)
	lo, hi := t.cfg.MinNodes, t.cfg.MaxNodes
	// The fleet's size must stay within bounds whatever the policy says.
	if cur < lo {
		need := lo - cur
		if d.Action == ScaleUp && d.Count-v.booting > need {
			need = min(d.Count-v.booting, hi-cur)
		}
		d = Decision{Action: ScaleUp, Count: need, Level: LevelGuardrail,
			Reason: fmt.Sprintf("%d active instances, below MinNodes %d", cur, lo)}
		return t.gate(ctx, d)
	}
	// Interrupted spot instances are replaced at once; instances already
	// booting count as their replacements (an interrupted instance is
	// not capacity, so a replacement launched last tick is booting now).
	if need := len(v.interrupt) - v.booting; need > 0 && cur < hi {
		n := min(need, hi-cur)
		if !(d.Action == ScaleUp && d.Count-v.booting > n) {
			return t.gate(ctx, Decision{Action: ScaleUp, Count: n, Level: LevelRepair,
				Reason: fmt.Sprintf("replacing %d spot instance(s) with an interruption notice", n)})
		}
	}
	if cur > hi && !t.res.SafetyMode {
		return t.gate(ctx, Decision{Action: ScaleDown, Count: cur - hi, Level: LevelGuardrail,
			Reason: fmt.Sprintf("%d active instances, above MaxNodes %d", cur, hi)})
	}
	switch d.Action {
	case ScaleUp:
		want := d.Count
		n := want - v.booting
		if n <= 0 {
			return HoldBecause("%d instance(s) still booting cover the wanted +%d (%s)", v.booting, want, d.Reason)
		}
		if room := hi - cur; n > room {
			if room <= 0 {
				return HoldBecause("at MaxNodes %d; wanted +%d (%s)", hi, want, d.Reason)
			}
			n = room
		}
		if since := t.now.Sub(t.st.LastScaleUp); !t.st.LastScaleUp.IsZero() && since < t.cfg.ScaleUpCooldown {
			return HoldBecause("scale-up cooldown: %s since the last scale-up, %s required (%s)", since.Round(time.Second), t.cfg.ScaleUpCooldown, d.Reason)
		}
		if v.booting > 0 {
			d.Reason += fmt.Sprintf("; %d booting already counted", v.booting)
		}
		d.Count = n
	case ScaleDown:
		if t.res.SafetyMode {
			return HoldBecause("safety mode, no scale-down: %s", strings.Join(t.res.SafetyReasons, "; "))
		}
		if v.booting > 0 {
			return HoldBecause("%d instance(s) still booting, no scale-down (%s)", v.booting, d.Reason)
		}
		last := t.st.LastScaleUp
		if t.st.LastScaleDown.After(last) {
			last = t.st.LastScaleDown
		}
		if since := t.now.Sub(last); !last.IsZero() && since < t.cfg.ScaleDownCooldown {
			return HoldBecause("scale-down cooldown: %s since the last scaling action, %s required (%s)", since.Round(time.Second), t.cfg.ScaleDownCooldown, d.Reason)
		}
		n := min(d.Count, cur-lo)
		if n <= 0 {
			return HoldBecause("at MinNodes %d (%s)", lo, d.Reason)
		}
		d.Count = n
	default:
		d.Action, d.Count = Hold, 0
		return d
	}
	if d.Count <= 0 {
		return HoldBecause("policy asked for %s with count %d", d.Action, d.Count)
	}
	return t.gate(ctx, d)
}

// gate holds an action when the tick's deadline is near.
func (t *tick) gate(ctx context.Context, d Decision) Decision {
	if d.Action != Hold && t.deadlineNear(ctx) {
		return HoldBecause("deadline near, not starting %s", d)
	}
	return d
}

// act carries out the decision.
func (t *tick) act(ctx context.Context, v fleetView) error {
	d := t.res.Decision
	switch d.Action {
	case ScaleUp:
		return t.scaleUp(ctx, d)
	case ScaleDown:
		return t.scaleDown(ctx, d, v)
	}
	t.res.Outcome, t.res.Reason = OutcomeHeld, d.Reason
	if t.res.Reason == "" {
		t.res.Reason = "nothing to do"
	}
	return nil
}

func (t *tick) scaleUp(ctx context.Context, d Decision) error {
	op := &Operation{ID: fmt.Sprintf("%s-%d-up", t.cfg.ClusterID, t.lease.Token), Kind: OpLaunch, Count: d.Count, Started: t.now}
	t.st.Operation = op
	// Write ahead: a tick that dies during the launch leaves the
	// operation for the next one to find.
	if err := t.save(ctx); err != nil {
		t.st.Operation = nil
		t.res.Outcome, t.res.Reason = OutcomeFailed, "could not record the launch before starting it"
		return err
	}
	got, err := t.cfg.Fleet.Launch(ctx, LaunchRequest{OperationID: op.ID, Count: op.Count})
	t.res.Launched = got
	if len(got) > 0 {
		t.st.LastScaleUp = t.now
	}
	ids := instanceIDs(got)
	switch {
	case err == nil:
		t.st.Operation = nil
	case errors.Is(err, ErrInsufficientCapacity):
		t.st.Operation = nil
		t.event(ctx, Event{Kind: EventCapacity, Decision: &d, Instances: ids, Error: err.Error(),
			Message: fmt.Sprintf("launched %d of %d: %v", len(got), d.Count, err)})
	default:
		// Keep the operation: the next tick finds what was launched.
		t.res.Outcome, t.res.Reason = OutcomeFailed, fmt.Sprintf("launch failed after %d of %d instances", len(got), d.Count)
		return fmt.Errorf("launch %d instance(s): %w", d.Count, err)
	}
	if len(got) == 0 {
		t.res.Outcome, t.res.Reason = OutcomeHeld, fmt.Sprintf("wanted +%d (%s) but no capacity: %v", d.Count, d.Reason, err)
		return nil
	}
	t.res.Outcome = OutcomeScaledUp
	t.res.Reason = fmt.Sprintf("scaled up %d: %s", len(got), d.Reason)
	t.event(ctx, Event{Kind: EventScaleUp, Decision: &d, Instances: ids, Message: t.res.Reason})
	return nil
}

func (t *tick) scaleDown(ctx context.Context, d Decision, v fleetView) error {
	victims, reasons := ChooseVictims(v.ready, d.Count)
	if len(victims) == 0 {
		t.res.Outcome, t.res.Reason = OutcomeHeld, fmt.Sprintf("wanted -%d (%s) but no node can be removed", d.Count, d.Reason)
		return nil
	}
	var removed []string
	for i, c := range victims {
		if t.deadlineNear(ctx) {
			break
		}
		if i == 0 {
			t.res.Victim, t.res.VictimReason = c.Node.Name, reasons[0]
		}
		op := &Operation{ID: fmt.Sprintf("%s-%d-down-%d", t.cfg.ClusterID, t.lease.Token, i), Kind: OpScaleDown,
			NodeName: c.Node.Name, InstanceID: c.Instance.ID, Phase: PhaseDraining, Started: t.now}
		t.st.Operation = op
		if err := t.save(ctx); err != nil {
			t.st.Operation = nil
			t.res.Outcome, t.res.Reason = OutcomeFailed, "could not record the scale-down before starting it"
			return err
		}
		if err := t.drain(ctx, c.Node.Name); err != nil {
			// Abandon: give the node back, even when ctx has run out.
			uctx, cancel := t.a.detached(ctx)
			uerr := t.cfg.Nodes.Uncordon(uctx, c.Node.Name)
			cancel()
			t.st.Operation = nil
			t.event(ctx, Event{Kind: EventAbandoned, Decision: &d, Instances: []string{c.Instance.ID}, Error: err.Error(),
				Message: fmt.Sprintf("scale-down of node %s abandoned: %v", c.Node.Name, err)})
			if uerr != nil && !errors.Is(uerr, ErrNotFound) {
				t.st.Operation = op // the next tick uncordons it
				t.res.Outcome, t.res.Reason = OutcomeFailed, fmt.Sprintf("could not uncordon %s after a failed drain", c.Node.Name)
				return errors.Join(err, fmt.Errorf("uncordon %s: %w", c.Node.Name, uerr))
			}
			if len(removed) == 0 {
				t.res.Outcome, t.res.Reason = OutcomeHeld, fmt.Sprintf("scale-down abandoned: %v", err)
				return nil
			}
			break
		}
		op.Phase = PhaseTerminating
		if err := t.save(ctx); err != nil {
			return err
		}
		if err := t.cfg.Fleet.Terminate(ctx, []string{c.Instance.ID}); err != nil {
			t.res.Outcome, t.res.Reason = OutcomeFailed, fmt.Sprintf("could not terminate %s", c.Instance.ID)
			return fmt.Errorf("terminate %s: %w", c.Instance.ID, err)
		}
		if err := t.cfg.Nodes.DeleteNode(ctx, c.Node.Name); err != nil {
			t.log.WarnContext(ctx, "delete node after termination", "node", c.Node.Name, "err", err)
		}
		t.st.Operation = nil
		t.st.LastScaleDown = t.now
		removed = append(removed, c.Instance.ID)
	}
	t.res.Terminated = removed
	if len(removed) == 0 {
		t.res.Outcome, t.res.Reason = OutcomeHeld, "deadline near, scale-down not started"
		return nil
	}
	t.res.Outcome = OutcomeScaledDown
	t.res.Reason = fmt.Sprintf("scaled down %d: %s; removed node %s (%s)", len(removed), d.Reason, t.res.Victim, t.res.VictimReason)
	t.event(ctx, Event{Kind: EventScaleDown, Decision: &d, Instances: removed, Message: t.res.Reason})
	return nil
}

func (t *tick) drain(ctx context.Context, node string) error {
	if err := t.cfg.Nodes.Cordon(ctx, node); err != nil {
		return fmt.Errorf("cordon %s: %w", node, err)
	}
	// The NodeManager's errors name the node already.
	return t.cfg.Nodes.Drain(ctx, node)
}

// record appends this tick to the history.
func (t *tick) record(v fleetView) {
	s := t.res.Snapshot
	val := func(m Metric) float64 {
		if !m.OK {
			return math.NaN()
		}
		return m.Value
	}
	r := Record{
		Time: t.now, CPU: val(s.CPU), Memory: val(s.Memory), PendingPods: val(s.PendingPods),
		Nodes: len(v.ready), Instances: len(v.active), Safety: t.res.SafetyMode,
	}
	if len(s.Custom) > 0 {
		r.Custom = make(map[string]float64, len(s.Custom))
		for _, k := range sortedKeys(s.Custom) {
			r.Custom[k] = val(s.Custom[k])
		}
	}
	switch t.res.Outcome {
	case OutcomeScaledUp:
		r.Action, r.Count = ScaleUp, len(t.res.Launched)
	case OutcomeScaledDown:
		r.Action, r.Count = ScaleDown, len(t.res.Terminated)
	default:
		r.Action = Hold
	}
	t.st.History = append(t.st.History, r)
	if lim := t.cfg.HistoryLimit; len(t.st.History) > lim {
		// Trim in place: no new slice every tick once the history is full.
		n := copy(t.st.History, t.st.History[len(t.st.History)-lim:])
		clear(t.st.History[n:])
		t.st.History = t.st.History[:n]
	}
	t.st.NodeCount = len(v.active) + len(t.res.Launched) - len(t.res.Terminated)
}

func instanceIDs(ins []Instance) []string {
	ids := make([]string, len(ins))
	for i, in := range ins {
		ids[i] = in.ID
	}
	return ids
}
