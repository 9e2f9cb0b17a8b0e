package chaos

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"sort"
	"strings"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
	clocktesting "k8s.io/utils/clock/testing"
)

// Options configures one run.
type Options struct {
	// Seed fixes every random draw of the run.
	Seed int64
	// Days is the simulated time, in days. Default 1.
	Days float64
	// Interval is the time between scheduled ticks. Default 10 minutes.
	Interval time.Duration
	// FaultRate scales every fault's probability. Default 1.
	FaultRate float64
	// StopAfter stops the run after that many violations. Default 5.
	StopAfter int
}

// Report is what a run did and found.
type Report struct {
	Seed    int64
	SimDays float64
	// Ticks counts the ticks started (scheduled, interruption and the
	// second replica's); Outcomes counts them by outcome.
	Ticks    int
	Outcomes map[autoscaler.Outcome]int
	// Faults counts the faults injected, by kind.
	Faults map[string]int
	// Launched and Terminated count the instances.
	Launched, Terminated int
	// BelowMinAlerted counts ticks that ended below MinNodes with an
	// alert sent (a failure made the floor impossible).
	BelowMinAlerted int
	// OverMaxAlerted counts ticks that ended above MaxNodes because a
	// termination the plan counted on (a ghost, a NotReady instance)
	// failed, with the failure alerted.
	OverMaxAlerted int
	// KnownPendingScaleDown counts scale-downs with pending pods that the
	// no-progress rule (no scheduler's view) took for pods no node helps.
	KnownPendingScaleDown int
	// ReplacedInNotice counts interruption warnings whose replacement was
	// launched in the tick that received them, of InterruptionsDelivered.
	ReplacedInNotice, InterruptionsDelivered int
	// Violations are the broken invariants, each with the tick.
	Violations []string
	// Trace is the last ticks before the first violation.
	Trace []string
}

// Err returns an error naming the seed, the violations and the trace, or
// nil.
func (r Report) Err() error {
	if len(r.Violations) == 0 {
		return nil
	}
	return fmt.Errorf("chaos seed %d: %d invariant violation(s):\n  %s\nlast ticks before the first:\n  %s",
		r.Seed, len(r.Violations), strings.Join(r.Violations, "\n  "), strings.Join(r.Trace, "\n  "))
}

// The cluster's shape.
const (
	podsPerNode  = 10
	minNodes     = 2
	maxNodes     = 12
	serverID     = "i-k3s-server"
	serverNode   = "k3s-server"
	notice       = 2 * time.Minute
	traceLen     = 40
	maxRepairs   = 2
	ownerA       = "replica-a"
	ownerB       = "replica-b"
	tickDeadline = 10 * time.Minute // the simulated Lambda timeout
)

var (
	errThrottled   = errors.New("RequestLimitExceeded: Request limit exceeded (injected)")
	errForbidden   = errors.New(`nodes "x" is forbidden: User "system:serviceaccount:node-fleet:node-fleet" cannot patch resource "nodes" (injected 403)`)
	errUnreachable = errors.New("dial tcp 10.0.0.1:6443: connect: connection refused (injected)")
	errDynamo      = errors.New("ProvisionedThroughputExceededException: throttled (injected)")
	errPromDown    = errors.New("prometheus: connection refused (injected)")
	errTimedOut    = errors.New("RequestTimeout: the conditional write timed out, outcome unknown (injected; it was written)")
)

// world is the simulated cluster, its faults and the checks.
type world struct {
	opt  Options
	rng  *rand.Rand
	clk  *clocktesting.FakeClock
	cfg  autoscaler.Config // A's config, defaults filled
	rep  *Report
	tick int

	store   *fake.Store
	fleet   *fake.Fleet
	nodes   *fake.Nodes
	metrics *fake.Metrics
	a, b    *autoscaler.Autoscaler
	pa, pb  *parts

	demand float64
	// fault state
	droughtUntil  time.Time
	metricFault   string
	metricUntil   time.Time
	listLag       time.Duration
	listLagUntil  time.Time
	massUntil     time.Time
	massNodes     []string
	flipped       map[string]time.Time // node -> when it comes back
	interrupted   map[string]time.Time // instance -> reclaim time
	launchedAt    map[string]time.Time
	opCount       map[string]int // largest count asked per operation id
	opInstances   map[string]map[string]bool
	overBroken    map[string]bool // launched while broken instances were not counted
	overHidden    map[string]bool // launched while List hid a just-launched instance
	gone          []string        // a few terminated instance ids
	cordonedTicks map[string]int
	// notified is when each kind of event was last sent, by either
	// replica: a condition alerted within RealertInterval is not sent
	// again, yet it is alerted.
	notified map[autoscaler.EventKind]time.Time
	trace    []string
}

// Run runs one seed for opt.Days and returns what it found; ctx bounds
// the run (a cancelled ctx ends it early, which is reported).
func Run(ctx context.Context, opt Options) Report {
	if opt.Days == 0 {
		opt.Days = 1
	}
	if opt.Interval == 0 {
		opt.Interval = 10 * time.Minute
	}
	if opt.FaultRate == 0 {
		opt.FaultRate = 1
	}
	if opt.StopAfter == 0 {
		opt.StopAfter = 5
	}
	w := newWorld(opt)
	end := w.clk.Now().Add(time.Duration(opt.Days * float64(24*time.Hour)))
	start := w.clk.Now()
	for w.clk.Now().Before(end) && len(w.rep.Violations) < opt.StopAfter {
		if ctx.Err() != nil {
			w.violate("run cancelled: %v", ctx.Err())
			break
		}
		w.step(ctx)
	}
	w.rep.SimDays = w.clk.Now().Sub(start).Hours() / 24
	w.rep.Launched, w.rep.Terminated = w.fleet.Counts()
	return *w.rep
}

func newWorld(opt Options) *world {
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakeClock(start)
	w := &world{opt: opt, rng: rand.New(rand.NewSource(opt.Seed)), clk: clk,
		rep:     &Report{Seed: opt.Seed, Outcomes: map[autoscaler.Outcome]int{}, Faults: map[string]int{}},
		flipped: map[string]time.Time{}, interrupted: map[string]time.Time{}, launchedAt: map[string]time.Time{},
		opCount: map[string]int{}, opInstances: map[string]map[string]bool{}, overBroken: map[string]bool{}, overHidden: map[string]bool{}, cordonedTicks: map[string]int{}}
	w.store = fake.NewStore(clk)
	w.store.ShareHistory = true
	w.fleet = fake.NewFleet(clk)
	w.fleet.Zones = []string{"eu-west-1a", "eu-west-1b", "eu-west-1c"}
	w.fleet.BootDelayFunc = func() time.Duration { return time.Duration(30+w.rng.Intn(9*60)) * time.Second }
	w.nodes = fake.NewNodes(clk, w.fleet)
	w.nodes.JoinDelay = 90 * time.Second
	w.metrics = &fake.Metrics{}
	w.metrics.Func = func(context.Context) (autoscaler.Snapshot, error) { return w.snapshot(), nil }

	// The K3s server carries the cluster's tag but not managed-by: it is
	// not the fleet's (AddForeign) and its Node is not managed. Another
	// cluster's worker runs in the same account.
	w.fleet.AddForeign(autoscaler.Instance{ID: serverID, State: autoscaler.StateRunning, Market: autoscaler.MarketOnDemand,
		LaunchTime: start.Add(-24 * time.Hour), PrivateIP: "10.0.255.10", Tags: map[string]string{"cluster": "chaos"}})
	w.nodes.Add(autoscaler.Node{Name: serverNode, ProviderID: "k3s://" + serverNode, InternalIP: "10.0.255.10", Ready: true,
		ReadyTransition: start.Add(-24 * time.Hour), Created: start.Add(-24 * time.Hour), Pods: 5})
	w.fleet.AddForeign(autoscaler.Instance{ID: "i-other-cluster", State: autoscaler.StateRunning, Market: autoscaler.MarketSpot,
		LaunchTime: start.Add(-time.Hour), PrivateIP: "10.9.0.5"})

	w.pa, w.pb = &parts{w: w, owner: ownerA}, &parts{w: w, owner: ownerB}
	mk := func(p *parts) *autoscaler.Autoscaler {
		a, err := autoscaler.New(autoscaler.Config{
			ClusterID: "chaos", Owner: p.owner,
			Metrics: p, Policy: autoscaler.PolicyFunc(w.decide), Locker: p, State: p, Fleet: p, Nodes: p,
			Notifier: p, Clock: clk,
			MinNodes: minNodes, MaxNodes: maxNodes, MaxRepairsPerTick: maxRepairs,
			ScaleDownCooldown: 15 * time.Minute, JoinTimeout: 15 * time.Minute, NotReadyTimeout: 10 * time.Minute,
			HistoryLimit: 24, LongHistory: 2 * time.Hour, LongHistoryStep: 30 * time.Minute,
		})
		if err != nil {
			panic(fmt.Sprintf("chaos: autoscaler config: %v", err)) // a bug in this file
		}
		return a
	}
	w.a, w.b = mk(w.pa), mk(w.pb)
	w.cfg = w.a.Config()
	return w
}

func (w *world) p(base float64) bool { return w.rng.Float64() < base*w.opt.FaultRate }

func (w *world) fault(kind string) { w.rep.Faults[kind]++ }

func (w *world) violate(format string, args ...any) {
	msg := fmt.Sprintf("tick %d at %s: ", w.tick, w.clk.Now().Format("2006-01-02T15:04:05")) + fmt.Sprintf(format, args...)
	if len(w.rep.Violations) == 0 {
		w.rep.Trace = append([]string(nil), w.trace...)
	}
	w.rep.Violations = append(w.rep.Violations, msg)
}

func (w *world) logf(format string, args ...any) {
	line := fmt.Sprintf("%d %s ", w.tick, w.clk.Now().Format("01-02T15:04:05")) + fmt.Sprintf(format, args...)
	w.trace = append(w.trace, line)
	if len(w.trace) > traceLen {
		w.trace = w.trace[len(w.trace)-traceLen:]
	}
}

// snapshot is what a healthy Prometheus would report now.
func (w *world) snapshot() autoscaler.Snapshot {
	now := w.clk.Now()
	running, pending := w.placement()
	slots := float64(podsPerNode * max(1, running))
	cpu := math.Min(100, 100*math.Min(w.demand, slots)/slots)
	if running == 0 {
		cpu = 0
	}
	return autoscaler.Snapshot{Time: now, CPU: autoscaler.Value(cpu, now), Memory: autoscaler.Value(cpu*0.8, now),
		PendingPods: autoscaler.Value(float64(pending), now), APILatency: autoscaler.Value(0.05, now),
		CPUNodes: autoscaler.Value(float64(len(w.managedReady())), now)}
}

// schedulable returns the Ready, schedulable, managed nodes, sorted.
func (w *world) schedulable() []autoscaler.Node {
	var out []autoscaler.Node
	nodes, _ := w.nodes.ListNodes(context.Background())
	w.nodes.ResetCalls()
	for _, n := range nodes {
		if n.Managed && n.Ready && !n.Unschedulable {
			out = append(out, n)
		}
	}
	return out
}

// placement is how many workers run pods and how many pods wait.
func (w *world) placement() (running, pending int) {
	nodes := w.schedulable()
	want := int(math.Ceil(w.demand))
	return len(nodes), max(0, want-podsPerNode*len(nodes))
}

// place spreads the demand's pods over the schedulable nodes; cordoned
// nodes keep theirs until drained.
func (w *world) place() {
	nodes := w.schedulable()
	left := int(math.Ceil(w.demand))
	for _, n := range nodes {
		k := min(podsPerNode, left)
		if k < 0 {
			k = 0
		}
		left -= k
		w.nodes.Update(n.Name, func(n *autoscaler.Node) { n.Pods, n.MoveCost = k, float64(100*k) })
	}
}

// decide is the policy: mostly sensible, sometimes adversarial (a policy
// cannot break the guardrails, whatever it asks).
func (w *world) decide(in autoscaler.PolicyInput) autoscaler.Decision {
	r := w.rng.Float64()
	switch {
	case r < 0.06:
		return autoscaler.Decision{Action: autoscaler.ScaleDown, Count: 1 + w.rng.Intn(5), Reason: "chaos: adversarial scale-down"}
	case r < 0.09:
		return autoscaler.Decision{Action: autoscaler.ScaleUp, Count: 1 + w.rng.Intn(8), Reason: "chaos: adversarial scale-up"}
	}
	s := in.Snapshot
	if s.PendingPods.OK && s.PendingPods.Value > 0 {
		return autoscaler.Decision{Action: autoscaler.ScaleUp, Count: int(math.Ceil(s.PendingPods.Value / podsPerNode)), Reason: "pending pods"}
	}
	if s.CPU.OK && s.CPU.Value > 80 {
		return autoscaler.Decision{Action: autoscaler.ScaleUp, Count: 1, Reason: "cpu high"}
	}
	if s.CPU.OK && s.CPU.Value < 40 {
		return autoscaler.Decision{Action: autoscaler.ScaleDown, Count: 1, Reason: "cpu low"}
	}
	return autoscaler.HoldBecause("cpu in band")
}

// step advances the world by one interval, injects this step's faults and
// runs the ticks.
func (w *world) step(ctx context.Context) {
	w.clk.Step(w.opt.Interval)
	now := w.clk.Now()
	day := float64(now.Sub(time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC))) / float64(24*time.Hour)
	w.demand = 45 + 35*math.Sin(2*math.Pi*day) + 8*w.rng.NormFloat64()
	if w.p(0.01) {
		w.fault("demand-burst")
		w.demand += 40 + 40*w.rng.Float64()
	}
	w.demand = math.Max(0, w.demand)

	w.worldFaults()
	w.place()

	// The second replica: ticks in the same step, or crashed holding the
	// lease (never released: it expires).
	if w.p(0.04) {
		w.fault("lock-second-replica-ticks")
		w.runTick(ctx, w.b, w.pb, "B")
	}
	if w.p(0.01) {
		w.fault("lock-stuck-lease")
		if l, err := w.store.Acquire(ctx, ownerB, w.cfg.LockTTL); err == nil {
			w.pb.lease = l
			w.logf("B crashed holding lease %d until %s", l.Token, l.Expires.Format("15:04:05"))
		}
		w.store.ResetCalls()
	}

	// An interruption warning, handled by a tick of its own at a random
	// offset, before or after the scheduled tick.
	if w.p(0.025) {
		w.interruptionTick(ctx)
	}
	w.runTick(ctx, w.a, w.pa, "A")
	w.checkBetweenTicks()
}

// worldFaults injects the faults that are the world's, not a call's.
func (w *world) worldFaults() {
	now := w.clk.Now()
	active := w.live()
	// Spot instances whose notice ran out are reclaimed.
	ids := sortedKeys(w.interrupted)
	for _, id := range ids {
		if !now.Before(w.interrupted[id]) {
			w.fleet.Reclaim(id)
			delete(w.interrupted, id)
		}
	}
	if len(active) > 0 && w.p(0.008) {
		w.fault("ec2-reclaim-without-notice")
		w.fleet.Reclaim(active[w.rng.Intn(len(active))].ID)
	}
	// Capacity droughts.
	switch {
	case !w.droughtUntil.IsZero() && !now.Before(w.droughtUntil):
		w.droughtUntil = time.Time{}
		w.fleet.SetCapacity(-1)
	case w.droughtUntil.IsZero() && w.p(0.004):
		w.fault("ec2-capacity-drought")
		w.droughtUntil = now.Add(time.Duration(1+w.rng.Intn(36)) * w.opt.Interval)
		w.fleet.SetCapacity(w.rng.Intn(2)) // nothing, or one more
	}
	// Prometheus faults over several ticks.
	if !w.metricUntil.IsZero() && !now.Before(w.metricUntil) {
		w.metricFault, w.metricUntil = "", time.Time{}
	}
	if w.metricFault == "" && w.p(0.03) {
		kinds := []string{"down", "stale", "nan", "out-of-range", "partial", "negative-pending", "slow", "node-exporter-down"}
		w.metricFault = kinds[w.rng.Intn(len(kinds))]
		w.metricUntil = now.Add(time.Duration(1+w.rng.Intn(6)) * w.opt.Interval)
		w.fault("prometheus-" + w.metricFault)
	}
	// An eventually consistent DescribeInstances.
	if !w.listLagUntil.IsZero() && !now.Before(w.listLagUntil) {
		w.listLag, w.listLagUntil = 0, time.Time{}
	}
	if w.listLag == 0 && w.p(0.01) {
		w.fault("ec2-list-lags-launches")
		w.listLag = time.Duration(10+w.rng.Intn(90)) * time.Second
		w.listLagUntil = now.Add(time.Duration(1+w.rng.Intn(12)) * w.opt.Interval)
	}
	// NotReady: one node at a time, and all at once.
	for _, name := range sortedKeys(w.flipped) {
		if !now.Before(w.flipped[name]) {
			w.nodes.Update(name, func(n *autoscaler.Node) {
				if n.InstanceID != "" && w.instanceActive(n.InstanceID) {
					n.Ready, n.ReadyTransition = true, now
				}
			})
			delete(w.flipped, name)
		}
	}
	if !w.massUntil.IsZero() && !now.Before(w.massUntil) {
		for _, name := range w.massNodes {
			w.nodes.Update(name, func(n *autoscaler.Node) {
				if n.InstanceID != "" && w.instanceActive(n.InstanceID) {
					n.Ready, n.ReadyTransition = true, now
				}
			})
		}
		w.massUntil, w.massNodes = time.Time{}, nil
	}
	managed := w.managedReady()
	if len(managed) > 0 && w.p(0.02) {
		w.fault("k8s-node-notready")
		n := managed[w.rng.Intn(len(managed))]
		w.nodes.Update(n.Name, func(n *autoscaler.Node) { n.Ready, n.ReadyTransition = false, now })
		w.flipped[n.Name] = now.Add(time.Duration(1+w.rng.Intn(8)) * w.opt.Interval)
	}
	if w.massUntil.IsZero() && len(managed) > 1 && w.p(0.003) {
		w.fault("k8s-mass-notready")
		w.massUntil = now.Add(time.Duration(1+w.rng.Intn(8)) * w.opt.Interval)
		for _, n := range managed {
			w.nodes.Update(n.Name, func(n *autoscaler.Node) { n.Ready, n.ReadyTransition = false, now })
			w.massNodes = append(w.massNodes, n.Name)
		}
	}
}

func (w *world) managedReady() []autoscaler.Node {
	nodes, _ := w.nodes.ListNodes(context.Background())
	w.nodes.ResetCalls()
	var out []autoscaler.Node
	for _, n := range nodes {
		if n.Managed && n.Ready {
			out = append(out, n)
		}
	}
	return out
}

// live returns the fleet's active instances (the fake's List, which
// walks only those; Instances walks every instance ever launched).
func (w *world) live() []autoscaler.Instance {
	ins, _ := w.fleet.List(context.Background())
	w.fleet.ResetCalls()
	return ins
}

func (w *world) instanceActive(id string) bool {
	for _, in := range w.live() {
		if in.ID == id {
			return in.State.Active()
		}
	}
	return false
}

// interruptionTick delivers a spot interruption warning: for an active
// instance (twice, sometimes), for one already gone, or for another
// cluster's.
func (w *world) interruptionTick(ctx context.Context) {
	off := time.Duration(w.rng.Intn(int(w.opt.Interval/time.Second))) * time.Second
	w.clk.Step(off)
	now := w.clk.Now()
	var active, gone []autoscaler.Instance
	for _, in := range w.live() {
		if in.InterruptionNotice.IsZero() {
			active = append(active, in)
		}
	}
	for _, id := range w.gone {
		gone = append(gone, autoscaler.Instance{ID: id})
	}
	id := ""
	r := w.rng.Float64()
	switch {
	case r < 0.1 && len(gone) > 0:
		w.fault("spot-warning-for-gone-instance")
		id = gone[w.rng.Intn(len(gone))].ID
	case r < 0.15:
		w.fault("spot-warning-for-foreign-instance")
		id = "i-other-cluster"
	case len(active) > 0:
		w.fault("spot-warning")
		id = active[w.rng.Intn(len(active))].ID
		if err := w.fleet.Interrupt(id); err == nil {
			w.interrupted[id] = now.Add(notice)
		}
	default:
		return
	}
	times := 1
	if w.p(0.3) {
		w.fault("spot-warning-delivered-twice")
		times = 2
	}
	for i := 0; i < times; i++ {
		w.handleInterruption(ctx, id, now)
	}
}

func (w *world) handleInterruption(ctx context.Context, id string, at time.Time) {
	// HandleInterruption waits on the clock while the lock is held; on a
	// fake clock that waits for ever, so a held lock is met with a real
	// deadline within the margin: it gives up at once (EventBridge
	// delivers again).
	held := w.store.Holder()
	tctx, cancel := context.WithCancel(ctx)
	if held != "" && held != ownerA {
		cancel()
		tctx, cancel = context.WithTimeout(ctx, time.Second)
	}
	defer cancel()
	w.tick++
	w.rep.Ticks++
	tl := w.pa.begin(tctx, cancel)
	res, err := w.a.HandleInterruption(tctx, id, at)
	w.pa.end()
	w.rep.Outcomes[res.Outcome]++
	w.logf("A interruption %s: %s err=%v", id, res.String(), err)
	if held != "" && held != ownerA {
		if !errors.Is(err, autoscaler.ErrLockHeld) {
			w.violate("an interruption while %s holds the lock returned %v, want ErrLockHeld", held, err)
		}
		return
	}
	if w.instanceActiveFleet(id) && res.Outcome != autoscaler.OutcomeFailed {
		w.rep.InterruptionsDelivered++
		if res.Replacements() > 0 {
			w.rep.ReplacedInNotice++
		}
	}
	w.checkTick("A", w.pa, tl, res, err)
}

func (w *world) instanceActiveFleet(id string) bool {
	return id != "i-other-cluster" && w.instanceActive(id)
}

// runTick runs one scheduled tick of a (A or B) with this tick's call
// faults, and checks it.
func (w *world) runTick(ctx context.Context, a *autoscaler.Autoscaler, p *parts, who string) autoscaler.Result {
	var tctx context.Context
	var cancel context.CancelFunc
	if who == "A" && w.p(0.01) {
		// A Lambda invoked close to its timeout.
		w.fault("ctx-deadline-near")
		tctx, cancel = context.WithTimeout(ctx, 5*time.Second)
	} else {
		tctx, cancel = context.WithCancel(ctx)
	}
	defer cancel()
	w.tick++
	w.rep.Ticks++
	tl := p.begin(tctx, cancel)
	if who == "A" {
		w.callFaults(tl)
	}
	res, err := a.RunOnce(tctx)
	p.end()
	w.rep.Outcomes[res.Outcome]++
	w.logf("%s %s err=%v faults=%v", who, res.String(), err, tl.faults)
	w.checkTick(who, p, tl, res, err)
	return res
}

// callFaults arms this tick's faults on calls.
func (w *world) callFaults(tl *tickLog) {
	arm := func(prob float64, kind string, f func()) {
		if w.p(prob) {
			w.fault(kind)
			tl.faults = append(tl.faults, kind)
			f()
		}
	}
	inj := func(m fake.Method, err error) func() { return func() { tl.inject[m] = err } }
	arm(0.02, "ec2-launch-insufficient-capacity", inj(fake.Launch,
		fmt.Errorf("InsufficientInstanceCapacity in every pool (injected): %w", autoscaler.ErrInsufficientCapacity)))
	arm(0.015, "ec2-launch-throttled", inj(fake.Launch, errThrottled))
	arm(0.01, "ec2-list-fails", inj(fake.List, errThrottled))
	arm(0.015, "ec2-terminate-fails", inj(fake.Terminate, errThrottled))
	arm(0.01, "k8s-list-nodes-fails", inj(fake.ListNodes, errUnreachable))
	arm(0.015, "k8s-cordon-forbidden", inj(fake.Cordon, errForbidden))
	arm(0.02, "k8s-drain-blocked-by-pdb", inj(fake.Drain,
		fmt.Errorf("evicting pod shop/web-1: budget (injected): %w", autoscaler.ErrDrainBlocked)))
	arm(0.015, "k8s-drain-forbidden", inj(fake.Drain, errForbidden))
	arm(0.015, "k8s-uncordon-unreachable", inj(fake.Uncordon, errUnreachable))
	arm(0.01, "k8s-delete-node-fails", inj(fake.DeleteNode, errUnreachable))
	arm(0.008, "dynamo-acquire-throttled", inj(fake.Acquire, errDynamo))
	arm(0.008, "dynamo-load-fails", func() { tl.loadFault = true; tl.inject[fake.Load] = errDynamo })
	arm(0.015, "dynamo-save-fails", func() { tl.saveFault = true; tl.inject[fake.Save] = errDynamo })
	arm(0.01, "dynamo-save-timeout-but-written", func() { tl.saveTimeout = true })
	arm(0.01, "dynamo-release-fails", func() { tl.releaseFault = true; tl.inject[fake.Release] = errDynamo })
	arm(0.015, "ctx-cancel-after-launch", func() { tl.cancelAfter = fake.Launch })
	arm(0.015, "ctx-cancel-during-drain", func() { tl.cancelDuring = fake.Drain })
	arm(0.015, "ctx-cancel-after-drain", func() { tl.cancelAfter = fake.Drain })
	arm(0.015, "slow-call-to-deadline", func() {
		ms := []fake.Method{fake.Launch, fake.Drain, fake.Cordon, fake.List, fake.Collect}
		tl.slow, tl.slowBy = ms[w.rng.Intn(len(ms))], time.Duration(1+w.rng.Intn(6))*time.Minute
	})
	arm(0.015, "lock-second-replica-mid-tick", func() {
		ms := []fake.Method{fake.Launch, fake.Drain, fake.Terminate, fake.Collect}
		tl.midB = ms[w.rng.Intn(len(ms))]
	})
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// faultKinds are every fault the run injects, by the name Report.Faults
// counts it under.
var faultKinds = []string{
	"demand-burst", "lock-second-replica-ticks", "lock-stuck-lease", "lock-second-replica-mid-tick",
	"ec2-reclaim-without-notice", "ec2-capacity-drought", "ec2-list-lags-launches", "ec2-instance-never-joins",
	"ec2-launch-insufficient-capacity", "ec2-launch-throttled", "ec2-list-fails", "ec2-terminate-fails",
	"prometheus-down", "prometheus-stale", "prometheus-nan", "prometheus-out-of-range", "prometheus-partial",
	"prometheus-negative-pending", "prometheus-slow", "prometheus-node-exporter-down",
	"k8s-node-notready", "k8s-mass-notready", "k8s-list-nodes-fails", "k8s-cordon-forbidden",
	"k8s-drain-blocked-by-pdb", "k8s-drain-forbidden", "k8s-uncordon-unreachable", "k8s-delete-node-fails",
	"spot-warning", "spot-warning-delivered-twice", "spot-warning-for-gone-instance", "spot-warning-for-foreign-instance",
	"dynamo-acquire-throttled", "dynamo-load-fails", "dynamo-save-fails", "dynamo-save-timeout-but-written", "dynamo-release-fails",
	"ctx-deadline-near", "ctx-cancel-after-launch", "ctx-cancel-during-drain", "ctx-cancel-after-drain", "slow-call-to-deadline",
}
