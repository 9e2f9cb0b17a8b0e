package autoscaler_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
	"github.com/node-fleet/node-fleet/decision"
)

// The tests in this file are the outside review's defects, each named
// after the behaviour; each failed on the tick before the planner.

func (e *env) joinAll(t *testing.T) {
	t.Helper()
	if _, err := e.nodes.ListNodes(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (e *env) kinds() map[autoscaler.EventKind]int {
	out := map[autoscaler.EventKind]int{}
	for _, k := range e.notifier.Kinds() {
		out[k]++
	}
	return out
}

// Defect 3: every node NotReady at once (a control-plane or network fault)
// terminates nothing, alerts, and keeps the fleet.
func TestEveryNodeNotReadyAtOnceTerminatesNothing(t *testing.T) {
	e := newEnv(t, 4, nil)
	e.joinAll(t)
	for _, name := range e.nodes.Names() {
		e.nodes.Update(name, func(n *autoscaler.Node) { n.Ready, n.ReadyTransition = false, t0.Add(-20*time.Minute) })
	}
	for range 5 {
		e.tick(t)
		e.clk.Step(2 * time.Minute)
	}
	if c := e.fleet.CallsTo(fake.Terminate); len(c) != 0 {
		t.Errorf("terminated during a mass NotReady: %v", c)
	}
	if c := e.nodes.CallsTo(fake.Drain); len(c) != 0 {
		t.Errorf("drained during a mass NotReady: %v", c)
	}
	if got := e.kinds()[autoscaler.EventRepairHeld]; got == 0 {
		t.Errorf("no repair_held alert: %v", e.notifier.Kinds())
	}
}

// Defect 3: no repair in safety mode.
func TestNoGhostTerminatedInSafetyMode(t *testing.T) {
	e := newEnv(t, 3, nil)
	e.joinAll(t)
	ghost := autoscaler.Instance{ID: "i-ghost", State: autoscaler.StateRunning, LaunchTime: t0.Add(-time.Hour)}
	e.fleet.Add(ghost)
	e.nodes.NeverJoin("i-ghost")
	e.setMetrics(math.NaN(), 60, 0)
	res := e.tick(t)
	if !res.SafetyMode || len(res.Ghosts) != 0 || len(e.fleet.CallsTo(fake.Terminate)) != 0 {
		t.Errorf("safety mode %v, ghosts %v, terminate calls %v", res.SafetyMode, res.Ghosts, e.fleet.CallsTo(fake.Terminate))
	}
}

// Defect 4: a spot replacement at MaxNodes never makes a later tick drain
// a healthy node: the interrupted instance is not capacity.
func TestReplacementAtMaxNodesDrainsNoHealthyNode(t *testing.T) {
	e := newEnv(t, 3, func(c *autoscaler.Config) {
		c.MaxNodes = 3
		c.Policy = policy(autoscaler.Hold, 0)
	})
	e.fleet.BootDelay = 90 * time.Second
	e.joinAll(t)
	victim := e.fleet.Instances()[0].ID
	res, err := e.as.HandleInterruption(context.Background(), victim, t0)
	if err != nil || len(res.Launched) != 1 {
		t.Fatalf("interruption: %v, %v", res, err)
	}
	e.nodes.ResetCalls()
	for range 4 { // the replacement boots and joins; the victim lingers
		e.clk.Step(time.Minute)
		res := e.tick(t)
		if res.Outcome == autoscaler.OutcomeScaledDown || len(res.Launched) > 0 {
			t.Fatalf("tick %v", res)
		}
	}
	for _, c := range e.nodes.CallsTo(fake.Drain) {
		if c.Args != fake.NodeName(victim) {
			t.Errorf("drained healthy node: %v", c)
		}
	}
}

// Defect 5: an operation that fails for good (a deleted launch template)
// does not wedge later ticks: repair and decide still run, and it is
// dropped after MaxRecoveryAttempts with an alert.
func TestPermanentRecoveryErrorDoesNotWedgeLaterTicks(t *testing.T) {
	e := newEnv(t, 3, nil)
	e.joinAll(t)
	if err := e.store.SetState(autoscaler.ClusterState{Operation: &autoscaler.Operation{ID: "op-dead", Kind: autoscaler.OpLaunch, Count: 2, Started: t0.Add(-5 * time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	ghost := autoscaler.Instance{ID: "i-ghost", State: autoscaler.StateRunning, LaunchTime: t0.Add(-time.Hour)}
	e.fleet.Add(ghost)
	e.nodes.NeverJoin("i-ghost")
	for range 3 {
		e.fleet.FailNext(fake.Launch, errors.New("InvalidLaunchTemplateId.NotFound: the template was deleted"))
	}
	var results []autoscaler.Result
	for range 4 {
		res, _ := e.as.RunOnce(context.Background())
		results = append(results, res)
		e.clk.Step(2 * time.Minute)
	}
	if len(results[0].Ghosts) != 1 {
		t.Errorf("first tick did not repair: %v", results[0])
	}
	if st := e.store.State(); st.Operation != nil {
		t.Errorf("operation still recorded after %d ticks: %+v", len(results), st.Operation)
	}
	if e.kinds()[autoscaler.EventFailure] == 0 {
		t.Errorf("no alert for the dropped operation: %v", e.notifier.Kinds())
	}
	if len(e.store.State().History) != 4 {
		t.Errorf("history %d records, want every tick recorded", len(e.store.State().History))
	}
}

// Defect 6 and 11: one ghost that cannot be terminated (termination
// protection) does not stop the scale-up for pending pods, and is not
// reported as terminated.
func TestUnterminatableGhostDoesNotBlockScaleUp(t *testing.T) {
	e := newEnv(t, 3, nil)
	e.joinAll(t)
	e.fleet.Add(autoscaler.Instance{ID: "i-ghost", State: autoscaler.StateRunning, LaunchTime: t0.Add(-time.Hour)})
	e.nodes.NeverJoin("i-ghost")
	e.fleet.FailNext(fake.Terminate, errors.New("OperationNotPermitted: termination protection"))
	e.setMetrics(50, 60, 4)
	res, err := e.as.RunOnce(context.Background())
	if err == nil || !strings.Contains(err.Error(), "termination protection") {
		t.Errorf("err = %v, want the termination failure", err)
	}
	if len(res.Launched) != 2 || res.Outcome != autoscaler.OutcomeScaledUp {
		t.Errorf("result %v, want +2 for the pending pods", res)
	}
	if len(res.Ghosts) != 0 {
		t.Errorf("ghosts %v reported terminated though the call failed", res.Ghosts)
	}
}

// Defect 7: an interrupted spot instance is replaced even when the policy
// also asks for a scale-up inside the scale-up cooldown.
func TestInterruptionReplacedDuringScaleUpCooldown(t *testing.T) {
	e := newEnv(t, 3, func(c *autoscaler.Config) { c.ScaleUpCooldown = 10 * time.Minute })
	e.joinAll(t)
	st := e.store.State()
	st.LastScaleUp = t0.Add(-time.Minute)
	if err := e.store.SetState(st); err != nil {
		t.Fatal(err)
	}
	e.setMetrics(50, 60, 5) // the policy wants +2
	res, err := e.as.HandleInterruption(context.Background(), e.fleet.Instances()[0].ID, t0)
	if err != nil {
		t.Fatal(err)
	}
	if res.Replacements != 1 || len(res.Launched) != 1 || res.Hold != autoscaler.HoldCooldown {
		t.Errorf("result %v (replacements %d, hold %q), want the replacement launched and the policy held by the cooldown", res, res.Replacements, res.Hold)
	}
}

// Defect 9: one pod that can never be scheduled does not grow an idle
// cluster to MaxNodes: once the nodes launched for it are Ready and it is
// still pending, the tick holds and alerts once.
func TestUnschedulablePodDoesNotGrowTheFleetToMax(t *testing.T) {
	e := newEnv(t, 2, func(c *autoscaler.Config) { c.Policy = decision.Default() })
	e.fleet.BootDelay = 90 * time.Second
	e.joinAll(t)
	for range 30 { // an hour of 2-minute ticks
		e.setMetrics(20, 30, 1)
		e.tick(t)
		e.clk.Step(2 * time.Minute)
	}
	if got := e.active(); got > 4 {
		t.Errorf("%d instances for one unschedulable pod, want at most 2 + the first +2", got)
	}
	if got := e.kinds()[autoscaler.EventNoProgress]; got != 1 {
		t.Errorf("%d no_progress alerts, want 1 (%v)", got, e.notifier.Kinds())
	}
	// The pod goes away: scaling works again.
	e.setMetrics(20, 30, 0)
	if res := e.tick(t); res.Hold == autoscaler.HoldNoProgress {
		t.Errorf("still held: %v", res)
	}
}

// Defect 10: a warning delivered twice (EventBridge delivers at least
// once) launches one replacement; and once the replacement is Ready
// before EC2 reclaims the instance, later ticks launch no other.
func TestRedeliveredInterruptionLaunchesOneReplacement(t *testing.T) {
	e := newEnv(t, 3, withPolicy(policy(autoscaler.Hold, 0)))
	e.fleet.BootDelay = 30 * time.Second
	e.joinAll(t)
	e.fleet.ResetCalls() // the seed's launch
	victim := e.fleet.Instances()[0].ID
	for range 2 {
		if _, err := e.as.HandleInterruption(context.Background(), victim, t0); err != nil {
			t.Fatal(err)
		}
	}
	e.clk.Step(time.Minute) // the replacement is Ready, the victim not reclaimed yet
	e.joinAll(t)
	for range 3 {
		e.tick(t)
		e.clk.Step(20 * time.Second)
	}
	if got := len(e.fleet.CallsTo(fake.Launch)); got != 1 {
		t.Errorf("%d launches, want 1", got)
	}
	// The victim is reclaimed: it leaves the state's interruptions.
	e.fleet.Reclaim(victim)
	e.tick(t)
	if st := e.store.State(); len(st.Interruptions) != 0 {
		t.Errorf("interruptions kept after the reclaim: %+v", st.Interruptions)
	}
	if got := len(e.fleet.CallsTo(fake.Launch)); got != 1 {
		t.Errorf("%d launches after the reclaim, want 1", got)
	}
}

// A warning for an instance that is not the fleet's changes nothing.
func TestInterruptionOfAnotherClustersInstanceIsIgnored(t *testing.T) {
	e := newEnv(t, 3, nil)
	e.joinAll(t)
	e.fleet.AddForeign(autoscaler.Instance{ID: "i-theirs", State: autoscaler.StateRunning, Market: autoscaler.MarketSpot, LaunchTime: t0.Add(-time.Hour)})
	res, err := e.as.HandleInterruption(context.Background(), "i-theirs", t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Launched) != 0 || len(res.Interruptions) != 0 || len(e.nodes.CallsTo(fake.Cordon)) != 0 {
		t.Errorf("acted on another cluster's instance: %v", res)
	}
}

// Defect 11: a custom policy composed before the default cannot scale down
// while pods are pending.
func TestFirstOfCustomPolicyCannotScaleDownWithPendingPods(t *testing.T) {
	eager := autoscaler.PolicyFunc(func(autoscaler.PolicyInput) autoscaler.Decision {
		return autoscaler.Decision{Action: autoscaler.ScaleDown, Count: 1, Reason: "night"}
	})
	e := newEnv(t, 4, withPolicy(decision.FirstOf(eager, decision.Default())))
	e.joinAll(t)
	e.setMetrics(10, 20, 3)
	res := e.tick(t)
	if res.Outcome == autoscaler.OutcomeScaledDown || res.Hold != autoscaler.HoldPendingPods {
		t.Errorf("result %v, hold %q: want held for the pending pods", res, res.Hold)
	}
}

// deadlineFleet records the deadline of the context List is called with.
type deadlineFleet struct {
	autoscaler.FleetProvider
	deadline time.Time
}

func (d *deadlineFleet) List(ctx context.Context) ([]autoscaler.Instance, error) {
	d.deadline, _ = ctx.Deadline()
	return d.FleetProvider.List(ctx)
}

// Defect 11: a tick never outlives its lease, whatever deadline its caller
// gives it (a Lambda timeout longer than LOCK_TTL).
func TestTickEndsBeforeItsLease(t *testing.T) {
	df := &deadlineFleet{}
	e := newEnv(t, 2, func(c *autoscaler.Config) {
		df.FleetProvider = c.Fleet
		c.Fleet = df
		c.LockTTL = time.Minute
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	before := time.Now()
	if _, err := e.as.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if df.deadline.IsZero() || df.deadline.After(before.Add(time.Minute)) {
		t.Errorf("tick deadline %s, want within the 1-minute lease from %s", df.deadline, before)
	}
}

// A pod no new node would help (the scheduler's view) launches nothing, is
// named in the result, and is alerted once while it stays pending.
func TestUnplaceablePodIsAlertedOnceAndLaunchesNothing(t *testing.T) {
	e := newEnv(t, 3, nil)
	e.joinAll(t)
	huge := autoscaler.PendingPod{Namespace: "shop", Name: "checkout-7", Requests: autoscaler.Resources{MilliCPU: 6000, Pods: 1},
		Unplaceable: "requests 6 CPU; a new t3.medium worker offers 1.93"}
	for range 3 {
		now := e.clk.Now()
		e.metrics.Set(autoscaler.Snapshot{Time: now, CPU: autoscaler.Value(50, now), Memory: autoscaler.Value(50, now),
			PendingPods: autoscaler.Value(1, now), Scheduler: &autoscaler.SchedulerView{Pending: []autoscaler.PendingPod{huge}}})
		res := e.tick(t)
		if len(res.Launched) != 0 || len(res.Unplaceable) != 1 || res.Unplaceable[0].Key() != "shop/checkout-7" {
			t.Fatalf("result %v, unplaceable %v", res, res.Unplaceable)
		}
		e.clk.Step(2 * time.Minute)
	}
	if got := e.kinds()[autoscaler.EventUnplaceable]; got != 1 {
		t.Errorf("%d unplaceable alerts, want 1", got)
	}
	for _, ev := range e.notifier.Events() {
		if ev.Kind == autoscaler.EventUnplaceable && !strings.Contains(ev.Message, "pod shop/checkout-7 will not get a node: requests 6 CPU; a new t3.medium worker offers 1.93") {
			t.Errorf("alert %q", ev.Message)
		}
	}
}

// laggingFleet hides instances launched less than lag ago from List, as
// EC2's eventually consistent DescribeInstances can.
type laggingFleet struct {
	*fake.Fleet
	clk interface{ Now() time.Time }
	lag time.Duration
}

func (l laggingFleet) List(ctx context.Context) ([]autoscaler.Instance, error) {
	all, err := l.Fleet.List(ctx)
	var out []autoscaler.Instance
	for _, in := range all {
		if l.clk.Now().Sub(in.LaunchTime) >= l.lag {
			out = append(out, in)
		}
	}
	return out, err
}

// A List that does not show a just-launched instance yet does not make
// the next tick launch it again (found by the chaos run).
func TestListLagDoesNotLaunchTwice(t *testing.T) {
	var lf laggingFleet
	e := newEnv(t, 3, func(c *autoscaler.Config) {
		lf = laggingFleet{Fleet: c.Fleet.(*fake.Fleet), clk: c.Clock, lag: 90 * time.Second}
		c.Fleet = lf
	})
	e.fleet.BootDelay = 3 * time.Minute
	e.joinAll(t)
	e.fleet.ResetCalls()
	e.setMetrics(50, 60, 4)
	if res := e.tick(t); len(res.Launched) != 2 {
		t.Fatalf("first tick: %v", res)
	}
	e.clk.Step(30 * time.Second) // the two are not listed yet
	e.setMetrics(50, 60, 4)
	res := e.tick(t)
	if len(res.Launched) != 0 || res.Booting != 2 {
		t.Errorf("second tick %v (booting %d), want the unlisted launches counted as booting", res, res.Booting)
	}
	if got := len(e.fleet.CallsTo(fake.Launch)); got != 1 {
		t.Errorf("%d launches, want 1", got)
	}
	e.clk.Step(2 * time.Minute) // listed now: dropped from the state's list
	e.tick(t)
	if st := e.store.State(); len(st.Launched) != 0 {
		t.Errorf("recent launches kept once listed: %+v", st.Launched)
	}
}

// At MaxNodes with a ghost, the launch that the ghost's termination makes
// room for is cut when the termination fails (found by the chaos run): the
// fleet never goes above MaxNodes.
func TestFailedRepairTerminationCutsTheLaunchItMadeRoomFor(t *testing.T) {
	e := newEnv(t, 3, func(c *autoscaler.Config) { c.MaxNodes = 4; c.Policy = policy(autoscaler.ScaleUp, 1) })
	e.joinAll(t)
	e.fleet.Add(autoscaler.Instance{ID: "i-ghost", State: autoscaler.StateRunning, LaunchTime: t0.Add(-time.Hour)})
	e.nodes.NeverJoin("i-ghost")
	e.fleet.FailNext(fake.Terminate, errors.New("OperationNotPermitted: termination protection"))
	res, _ := e.as.RunOnce(context.Background())
	if got := e.active(); got > 4 {
		t.Errorf("%d active instances, MaxNodes 4 (%v)", got, res)
	}
	if len(res.Launched) != 0 {
		t.Errorf("launched %d though the ghost's termination failed", len(res.Launched))
	}
}
