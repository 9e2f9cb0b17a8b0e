package chaos

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
)

// tickLog is what one tick's calls did, and the faults armed for them.
type tickLog struct {
	ctx    context.Context
	cancel context.CancelFunc
	start  time.Time

	faults []string
	// inject holds errors handed to the fakes' FailNext just before the
	// tick's first call to the method (so an error never outlives its
	// tick).
	inject       map[fake.Method]error
	loadFault    bool
	saveFault    bool
	saveTimeout  bool
	releaseFault bool
	cancelAfter  fake.Method
	cancelDuring fake.Method
	slow         fake.Method
	slowBy       time.Duration
	midB         fake.Method

	acquired   bool
	loadFailed bool
	saves      int
	terminated []string
	events     []autoscaler.Event
	// the fleet at the tick's start, for the mass-NotReady rule: live
	// instances, and how many of them an outage made NotReady at once
	live, notReady, mass int
	// lastPending is the pending pods of the last record before the tick
	lastPending float64
}

// parts wraps the shared fakes for one replica: every call is checked
// against the invariants that hold at call time, and the faults armed in
// the replica's current tick are applied.
type parts struct {
	w     *world
	owner string
	lease autoscaler.Lease
	cur   *tickLog
}

func (p *parts) begin(ctx context.Context, cancel context.CancelFunc) *tickLog {
	tl := &tickLog{ctx: ctx, cancel: cancel, start: p.w.clk.Now(), inject: map[fake.Method]error{}}
	tl.live, tl.notReady = p.w.brokenCounts()
	if !p.w.massUntil.IsZero() {
		tl.mass = len(p.w.massNodes)
	}
	tl.lastPending = -1
	if h := p.w.store.State().History; len(h) > 0 {
		tl.lastPending = h[len(h)-1].PendingPods
	}
	p.cur = tl
	return tl
}

func (p *parts) end() {
	p.cur = nil
	w := p.w
	w.fleet.ResetCalls()
	w.nodes.ResetCalls()
	w.store.ResetCalls()
	w.metrics.ResetCalls()
}

var mutating = map[fake.Method]bool{fake.Launch: true, fake.Terminate: true, fake.Cordon: true, fake.Uncordon: true,
	fake.Drain: true, fake.DeleteNode: true}

// pre runs before each call: the injected error is armed, a second
// replica may tick, the call may be slow or its context cancelled, and a
// call that changes the fleet or the cluster must hold a valid lease.
func (p *parts) pre(ctx context.Context, m fake.Method) error {
	w, tl := p.w, p.cur
	if tl == nil {
		return nil
	}
	if err, ok := tl.inject[m]; ok {
		delete(tl.inject, m)
		switch m {
		case fake.Launch, fake.List, fake.Terminate:
			w.fleet.FailNext(m, err)
		case fake.ListNodes, fake.Cordon, fake.Uncordon, fake.Drain, fake.DeleteNode, fake.PinnedData:
			w.nodes.FailNext(m, err)
		default:
			w.store.FailNext(m, err)
		}
	}
	if tl.midB == m {
		tl.midB = 0
		w.logf("B ticks in the middle of %s's %s", p.owner, m)
		res := w.runTick(context.WithoutCancel(ctx), w.b, w.pb, "B-mid")
		if res.Outcome != autoscaler.OutcomeSkipped && w.clk.Now().Before(p.lease.Expires) {
			w.violate("two replicas at once: B's tick in the middle of A's %s under A's valid lease ended %s, not skipped", m, res.Outcome)
		}
	}
	if tl.slow == m {
		tl.slow = 0
		// The tick's context ends LockTTL-ReleaseTimeout after the lock
		// was taken, in real time; here the call's time is simulated,
		// so the deadline is the simulated one.
		deadline := tl.start.Add(w.cfg.LockTTL - w.cfg.ReleaseTimeout)
		by := tl.slowBy
		if left := deadline.Sub(w.clk.Now()); by >= left {
			by = max(0, left)
			w.clk.Step(by)
			tl.cancel()
			return fmt.Errorf("%s: %w", m, context.DeadlineExceeded)
		}
		w.clk.Step(by)
	}
	if tl.cancelDuring == m {
		tl.cancelDuring = 0
		tl.cancel()
	}
	if err := ctx.Err(); err != nil {
		// Real clients return when their context is done; some fakes
		// do not look.
		return fmt.Errorf("%s: %w", m, err)
	}
	if mutating[m] {
		now := w.clk.Now()
		if h := w.store.Holder(); h != p.owner || !now.Before(p.lease.Expires) {
			w.violate("%s called by %s without a valid lease (holder %q, lease %d expires %s)", m, p.owner, h, p.lease.Token, p.lease.Expires.Format("15:04:05"))
		}
	}
	return nil
}

func (p *parts) post(m fake.Method, err error) {
	tl := p.cur
	if tl != nil && err == nil && tl.cancelAfter == m {
		tl.cancelAfter = 0
		tl.cancel()
	}
}

// Locker and StateStore.

func (p *parts) Acquire(ctx context.Context, owner string, ttl time.Duration) (autoscaler.Lease, error) {
	if err := p.pre(ctx, fake.Acquire); err != nil {
		return autoscaler.Lease{}, err
	}
	w := p.w
	other := w.pa
	if p == w.pa {
		other = w.pb
	}
	l, err := w.store.Acquire(ctx, owner, ttl)
	p.post(fake.Acquire, err)
	if err == nil {
		if l.TookOver && w.clk.Now().Before(other.lease.Expires) && l.PreviousOwner == other.owner {
			w.violate("%s took over %s's lease %d before its expiry %s", owner, other.owner, other.lease.Token, other.lease.Expires.Format("15:04:05"))
		}
		p.lease = l
		if p.cur != nil {
			p.cur.acquired = true
		}
	}
	return l, err
}

func (p *parts) Release(ctx context.Context, l autoscaler.Lease) error {
	if err := p.pre(ctx, fake.Release); err != nil {
		return err
	}
	err := p.w.store.Release(ctx, l)
	p.post(fake.Release, err)
	return err
}

func (p *parts) Load(ctx context.Context) (autoscaler.ClusterState, error) {
	if err := p.pre(ctx, fake.Load); err != nil {
		if p.cur != nil {
			p.cur.loadFailed = true
		}
		return autoscaler.ClusterState{}, err
	}
	st, err := p.w.store.Load(ctx)
	p.post(fake.Load, err)
	if err != nil && p.cur != nil {
		p.cur.loadFailed = true
	}
	return st, err
}

func (p *parts) Save(ctx context.Context, l autoscaler.Lease, st autoscaler.ClusterState) error {
	if err := p.pre(ctx, fake.Save); err != nil {
		return err
	}
	if tl := p.cur; tl != nil && tl.loadFailed {
		p.w.violate("%s saved the state after its Load failed (a state that cannot be read is overwritten)", p.owner)
	}
	err := p.w.store.Save(ctx, l, st)
	p.post(fake.Save, err)
	if tl := p.cur; tl != nil && err == nil {
		tl.saves++
		if tl.saveTimeout {
			// A conditional write that timed out but succeeded.
			tl.saveTimeout = false
			return errTimedOut
		}
	}
	return err
}

// FleetProvider.

func (p *parts) List(ctx context.Context) ([]autoscaler.Instance, error) {
	if err := p.pre(ctx, fake.List); err != nil {
		return nil, err
	}
	w := p.w
	ins, err := w.fleet.List(ctx)
	p.post(fake.List, err)
	if err != nil || w.listLag == 0 {
		return ins, err
	}
	now := w.clk.Now()
	out := ins[:0:0]
	for _, in := range ins {
		if at, ok := w.launchedAt[in.ID]; ok && now.Sub(at) < w.listLag {
			continue // not visible yet
		}
		out = append(out, in)
	}
	return out, nil
}

func (p *parts) Launch(ctx context.Context, req autoscaler.LaunchRequest) ([]autoscaler.Instance, error) {
	if err := p.pre(ctx, fake.Launch); err != nil {
		return nil, err
	}
	w := p.w
	if req.Count > w.opCount[req.OperationID] {
		w.opCount[req.OperationID] = req.Count
	}
	_, broken := w.fleetCount()
	hidden := false
	if w.listLag > 0 {
		for _, in := range w.live() {
			if at, ok := w.launchedAt[in.ID]; ok && w.clk.Now().Sub(at) < w.listLag {
				hidden = true
			}
		}
	}
	got, err := w.fleet.Launch(ctx, req)
	p.post(fake.Launch, err)
	set := w.opInstances[req.OperationID]
	if set == nil {
		set = map[string]bool{}
		w.opInstances[req.OperationID] = set
	}
	for _, in := range got {
		set[in.ID] = true
		if _, seen := w.launchedAt[in.ID]; !seen {
			if broken > 0 {
				w.overBroken[in.ID] = true
			}
			if hidden {
				w.overHidden[in.ID] = true
			}
			w.launchedAt[in.ID] = w.clk.Now()
			if w.p(0.03) {
				w.fault("ec2-instance-never-joins")
				w.nodes.NeverJoin(in.ID)
			}
		}
	}
	if len(set) > w.opCount[req.OperationID] {
		w.violate("operation %s launched %d instances in all, at most %d were asked", req.OperationID, len(set), w.opCount[req.OperationID])
	}
	return got, err
}

func (p *parts) Terminate(ctx context.Context, ids []string) error {
	w := p.w
	for _, id := range ids {
		if id == serverID || id == "i-other-cluster" {
			w.violate("%s asked to terminate %s, which is not the fleet's (the K3s server or another cluster's)", p.owner, id)
		}
		if n, ok := w.nodes.Get(fake.NodeName(id)); ok && n.Ready && n.Pods > 0 {
			w.violate("%s asked to terminate %s whose Ready node %s still runs %d evictable pod(s)", p.owner, id, n.Name, n.Pods)
		}
	}
	if err := p.pre(ctx, fake.Terminate); err != nil {
		return err
	}
	err := w.fleet.Terminate(ctx, ids)
	p.post(fake.Terminate, err)
	if err == nil && len(w.gone) < 50 {
		w.gone = append(w.gone, ids...)
	}
	if err == nil && p.cur != nil {
		p.cur.terminated = append(p.cur.terminated, ids...)
	}
	return err
}

// NodeManager.

func (p *parts) nodeCall(ctx context.Context, m fake.Method, name string, f func() error) error {
	if name == serverNode {
		p.w.violate("%s called %s on the K3s server's node", p.owner, m)
	}
	if err := p.pre(ctx, m); err != nil {
		return err
	}
	err := f()
	p.post(m, err)
	return err
}

func (p *parts) ListNodes(ctx context.Context) ([]autoscaler.Node, error) {
	if err := p.pre(ctx, fake.ListNodes); err != nil {
		return nil, err
	}
	n, err := p.w.nodes.ListNodes(ctx)
	p.post(fake.ListNodes, err)
	return n, err
}

func (p *parts) Cordon(ctx context.Context, name string) error {
	return p.nodeCall(ctx, fake.Cordon, name, func() error { return p.w.nodes.Cordon(ctx, name) })
}

func (p *parts) Uncordon(ctx context.Context, name string) error {
	return p.nodeCall(ctx, fake.Uncordon, name, func() error { return p.w.nodes.Uncordon(ctx, name) })
}

func (p *parts) Drain(ctx context.Context, name string) error {
	return p.nodeCall(ctx, fake.Drain, name, func() error { return p.w.nodes.Drain(ctx, name) })
}

func (p *parts) DeleteNode(ctx context.Context, name string) error {
	return p.nodeCall(ctx, fake.DeleteNode, name, func() error { return p.w.nodes.DeleteNode(ctx, name) })
}

func (p *parts) PinnedData(ctx context.Context) (map[string][]string, error) {
	if err := p.pre(ctx, fake.PinnedData); err != nil {
		return nil, err
	}
	d, err := p.w.nodes.PinnedData(ctx)
	p.post(fake.PinnedData, err)
	return d, err
}

// MetricSource, with Prometheus's faults.

func (p *parts) Collect(ctx context.Context) (autoscaler.Snapshot, error) {
	if err := p.pre(ctx, fake.Collect); err != nil {
		return autoscaler.Snapshot{}, err
	}
	w := p.w
	s, err := w.metrics.Collect(ctx)
	p.post(fake.Collect, err)
	if err != nil {
		return s, err
	}
	now := w.clk.Now()
	switch w.metricFault {
	case "down":
		return autoscaler.Snapshot{}, errPromDown
	case "slow":
		return autoscaler.Snapshot{}, fmt.Errorf("prometheus: query past its 10s timeout (injected): %w", context.DeadlineExceeded)
	case "stale":
		old := now.Add(-20 * time.Minute)
		s.CPU.At, s.Memory.At, s.PendingPods.At = old, old, old
		s.PendingPods.Value = 0 // what it said 20 minutes ago
	case "nan":
		s.CPU = autoscaler.Metric{Value: math.NaN(), OK: true, At: now}
	case "out-of-range":
		s.CPU.Value = 250
	case "partial":
		s.CPU = autoscaler.Missing(fmt.Errorf("cpu query: empty result (injected): %w", autoscaler.ErrNoData))
	case "negative-pending":
		s.PendingPods.Value = -3
	case "node-exporter-down":
		// node_exporter answers on one node fewer than are Ready (the
		// busiest starved it): the average is of the others.
		if ready := len(w.managedReady()); ready >= 2 {
			s.CPUNodes = autoscaler.Value(float64(ready-1), now)
		}
	}
	return s, nil
}

// Notifier: events are kept per tick.
func (p *parts) Notify(ctx context.Context, ev autoscaler.Event) error {
	if p.cur != nil {
		p.cur.events = append(p.cur.events, ev)
	}
	if p.w.notified == nil {
		p.w.notified = map[autoscaler.EventKind]time.Time{}
	}
	p.w.notified[ev.Kind] = p.w.clk.Now()
	return nil
}

// alerted reports whether tl's tick sent an event of one of kinds, or
// one was sent less than RealertInterval ago (a repeat is held back).
func (w *world) alerted(tl *tickLog, kinds ...autoscaler.EventKind) bool {
	if hasEvent(tl.events, kinds...) {
		return true
	}
	for _, k := range kinds {
		if at, ok := w.notified[k]; ok && w.clk.Since(at) < w.cfg.RealertInterval {
			return true
		}
	}
	return false
}

func hasEvent(evs []autoscaler.Event, kinds ...autoscaler.EventKind) bool {
	return slices.ContainsFunc(evs, func(e autoscaler.Event) bool { return slices.Contains(kinds, e.Kind) })
}
