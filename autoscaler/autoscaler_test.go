package autoscaler_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
	"github.com/node-fleet/node-fleet/decision"
	clocktesting "k8s.io/utils/clock/testing"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

type env struct {
	clk      *clocktesting.FakeClock
	metrics  *fake.Metrics
	store    *fake.Store
	fleet    *fake.Fleet
	nodes    *fake.Nodes
	notifier *fake.Notifier
	cfg      autoscaler.Config
	as       *autoscaler.Autoscaler
}

// newEnv builds an autoscaler on fakes with `ready` Ready nodes that have
// been up for an hour, the default policy and config, and the given
// snapshot.
func newEnv(t *testing.T, ready int, mutate func(*autoscaler.Config)) *env {
	t.Helper()
	e := &env{clk: clocktesting.NewFakeClock(t0.Add(-time.Hour))}
	e.metrics = &fake.Metrics{}
	e.store = fake.NewStore(e.clk)
	e.fleet = fake.NewFleet(e.clk)
	e.fleet.Zones = []string{"zone-a", "zone-b"}
	e.nodes = fake.NewNodes(e.clk, e.fleet)
	e.notifier = &fake.Notifier{}
	if ready > 0 {
		if _, err := e.fleet.Launch(context.Background(), autoscaler.LaunchRequest{OperationID: "seed", Count: ready}); err != nil {
			t.Fatal(err)
		}
	}
	e.clk.SetTime(t0)
	e.setMetrics(50, 60, 0)
	e.cfg = autoscaler.DefaultConfig()
	e.cfg.ClusterID = "test"
	e.cfg.Owner = "me"
	e.cfg.Metrics, e.cfg.Policy, e.cfg.Locker, e.cfg.State = e.metrics, decision.Default(), e.store, e.store
	e.cfg.Fleet, e.cfg.Nodes, e.cfg.Notifier, e.cfg.Clock = e.fleet, e.nodes, e.notifier, e.clk
	if mutate != nil {
		mutate(&e.cfg)
	}
	as, err := autoscaler.New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.as = as
	return e
}

func (e *env) setMetrics(cpu, mem, pending float64) {
	now := e.clk.Now()
	m := func(v float64) autoscaler.Metric {
		if math.IsNaN(v) {
			return autoscaler.Missing(autoscaler.ErrNoData)
		}
		return autoscaler.Value(v, now)
	}
	e.metrics.Set(autoscaler.Snapshot{Time: now, CPU: m(cpu), Memory: m(mem), PendingPods: m(pending)})
}

func (e *env) tick(t *testing.T) autoscaler.Result {
	t.Helper()
	res, err := e.as.RunOnce(context.Background())
	if err != nil {
		t.Fatalf("RunOnce: %v (result %v)", err, res)
	}
	return res
}

func (e *env) active() int {
	n := 0
	for _, in := range e.fleet.Instances() {
		if in.State.Active() {
			n++
		}
	}
	return n
}

func policy(a autoscaler.Action, n int) autoscaler.Policy {
	return autoscaler.PolicyFunc(func(autoscaler.PolicyInput) autoscaler.Decision {
		return autoscaler.Decision{Action: a, Count: n, Reason: "test policy"}
	})
}

// victim is the first scale-down step of res's plan.
func victim(res autoscaler.Result) autoscaler.Step {
	for _, o := range res.Steps {
		if o.Step.Kind == autoscaler.StepScaleDown {
			return o.Step
		}
	}
	return autoscaler.Step{}
}

func withPolicy(p autoscaler.Policy) func(*autoscaler.Config) {
	return func(c *autoscaler.Config) { c.Policy = p }
}

func TestScaleUpOnPendingPods(t *testing.T) {
	e := newEnv(t, 3, nil)
	e.setMetrics(50, 60, 3)
	res := e.tick(t)
	if res.Outcome != autoscaler.OutcomeScaledUp || len(res.Launched()) != 2 {
		t.Fatalf("got %v, want scaled up 2", res)
	}
	if !strings.Contains(res.Reason, "3 pending pods") {
		t.Errorf("reason %q does not name the pending pods", res.Reason)
	}
	if got := e.active(); got != 5 {
		t.Errorf("active instances = %d, want 5", got)
	}
	st := e.store.State()
	if !st.LastScaleUp.Equal(t0) || st.Operation != nil || len(st.History) != 1 || st.History[0].Action != autoscaler.ScaleUp {
		t.Errorf("state after scale-up: %+v", st)
	}
	if diff := cmp.Diff([]autoscaler.EventKind{autoscaler.EventScaleUp}, e.notifier.Kinds()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if e.store.Holder() != "" {
		t.Errorf("lock still held by %q", e.store.Holder())
	}
}

func TestBootingInstancesCountAsCapacity(t *testing.T) {
	e := newEnv(t, 3, nil)
	e.fleet.BootDelay = 90 * time.Second
	e.nodes.JoinDelay = 30 * time.Second
	e.setMetrics(50, 60, 3)
	if res := e.tick(t); len(res.Launched()) != 2 {
		t.Fatalf("first tick: %v", res)
	}
	// Two minutes later the same pods are still pending, the instances
	// are still joining: nothing more is launched.
	e.clk.Step(100 * time.Second)
	e.setMetrics(50, 60, 3)
	res := e.tick(t)
	if res.Outcome != autoscaler.OutcomeHeld || res.Booting != 2 {
		t.Fatalf("second tick: %v, want held with 2 booting", res)
	}
	if !strings.Contains(res.Reason, "still booting") {
		t.Errorf("reason %q", res.Reason)
	}
	// A policy that wants more than what is booting gets the difference.
	e2 := newEnv(t, 3, withPolicy(policy(autoscaler.ScaleUp, 5)))
	e2.fleet.BootDelay = 90 * time.Second
	e2.tick(t) // +5
	e2.clk.Step(30 * time.Second)
	if _, err := e2.fleet.Launch(context.Background(), autoscaler.LaunchRequest{OperationID: "x", Count: 0}); err != nil {
		t.Fatal(err)
	}
	res = e2.tick(t)
	if res.Outcome != autoscaler.OutcomeHeld || res.Booting != 5 {
		t.Errorf("policy +5 with 5 booting: %v", res)
	}
}

func TestGuardrailsClamp(t *testing.T) {
	tests := []struct {
		name       string
		ready      int
		policy     autoscaler.Policy
		min, max   int
		wantActive int
		wantOut    autoscaler.Outcome
	}{
		{"up clamped to max", 8, policy(autoscaler.ScaleUp, 50), 2, 10, 10, autoscaler.OutcomeScaledUp},
		{"up at max holds", 10, policy(autoscaler.ScaleUp, 1), 2, 10, 10, autoscaler.OutcomeHeld},
		{"down clamped to min", 3, policy(autoscaler.ScaleDown, 5), 2, 10, 2, autoscaler.OutcomeScaledDown},
		{"down at min holds", 2, policy(autoscaler.ScaleDown, 1), 2, 10, 2, autoscaler.OutcomeHeld},
		{"below min grows to min whatever the policy", 0, policy(autoscaler.ScaleDown, 1), 2, 10, 2, autoscaler.OutcomeScaledUp},
		{"below min with a bigger up keeps the bigger", 1, policy(autoscaler.ScaleUp, 4), 2, 10, 5, autoscaler.OutcomeScaledUp},
		{"above max shrinks to max", 6, policy(autoscaler.Hold, 0), 1, 4, 4, autoscaler.OutcomeScaledDown},
		{"NoMinimum allows zero", 1, policy(autoscaler.ScaleDown, 1), autoscaler.NoMinimum, 3, 0, autoscaler.OutcomeScaledDown},
		{"negative count holds", 3, policy(autoscaler.ScaleUp, -2), 2, 10, 3, autoscaler.OutcomeHeld},
		{"unknown action holds", 3, policy("explode", 2), 2, 10, 3, autoscaler.OutcomeHeld},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.ready, func(c *autoscaler.Config) {
				c.Policy, c.MinNodes, c.MaxNodes = tt.policy, tt.min, tt.max
			})
			res := e.tick(t)
			if res.Outcome != tt.wantOut {
				t.Errorf("outcome %v, want %s", res, tt.wantOut)
			}
			if got := e.active(); got != tt.wantActive {
				t.Errorf("active instances = %d, want %d (%v)", got, tt.wantActive, res)
			}
		})
	}
}

func TestCooldownBoundaries(t *testing.T) {
	tests := []struct {
		name          string
		lastUp        time.Duration // before now; 0 = never
		lastDown      time.Duration
		upCooldown    time.Duration
		action        autoscaler.Action
		wantOutcome   autoscaler.Outcome
		reasonContain string
	}{
		{"scale-down 1s before the cooldown ends", 0, 10*time.Minute - time.Second, 0, autoscaler.ScaleDown, autoscaler.OutcomeHeld, "scale-down cooldown"},
		{"scale-down exactly when it ends", 0, 10 * time.Minute, 0, autoscaler.ScaleDown, autoscaler.OutcomeScaledDown, ""},
		{"scale-down 1s after it ends", 0, 10*time.Minute + time.Second, 0, autoscaler.ScaleDown, autoscaler.OutcomeScaledDown, ""},
		{"scale-down 1s too soon after a scale-up", 10*time.Minute - time.Second, 0, 0, autoscaler.ScaleDown, autoscaler.OutcomeHeld, "scale-down cooldown"},
		{"scale-down 10m after a scale-up", 10 * time.Minute, 0, 0, autoscaler.ScaleDown, autoscaler.OutcomeScaledDown, ""},
		{"scale-up right after a scale-down", 0, time.Second, 0, autoscaler.ScaleUp, autoscaler.OutcomeScaledUp, ""},
		{"scale-up 1s inside its cooldown", 3*time.Minute - time.Second, 0, 3 * time.Minute, autoscaler.ScaleUp, autoscaler.OutcomeHeld, "scale-up cooldown"},
		{"scale-up when its cooldown ends", 3 * time.Minute, 0, 3 * time.Minute, autoscaler.ScaleUp, autoscaler.OutcomeScaledUp, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, 4, func(c *autoscaler.Config) {
				c.Policy = policy(tt.action, 1)
				c.ScaleUpCooldown = tt.upCooldown
			})
			st := autoscaler.ClusterState{}
			if tt.lastUp > 0 {
				st.LastScaleUp = t0.Add(-tt.lastUp)
			}
			if tt.lastDown > 0 {
				st.LastScaleDown = t0.Add(-tt.lastDown)
			}
			if err := e.store.SetState(st); err != nil {
				t.Fatal(err)
			}
			res := e.tick(t)
			if res.Outcome != tt.wantOutcome || !strings.Contains(res.Reason, tt.reasonContain) {
				t.Errorf("got %v, want %s with reason containing %q", res, tt.wantOutcome, tt.reasonContain)
			}
		})
	}
}

func TestSafetyMode(t *testing.T) {
	stale := func(e *env) {
		old := e.clk.Now().Add(-6 * time.Minute)
		e.metrics.Set(autoscaler.Snapshot{Time: old, CPU: autoscaler.Value(10, old), Memory: autoscaler.Value(10, old), PendingPods: autoscaler.Value(0, old)})
	}
	tests := []struct {
		name   string
		set    func(e *env)
		reason string
	}{
		{"source unreachable", func(e *env) { e.metrics.FailNext(fake.Collect, errors.New("dial tcp: connection refused")) }, "metric source failed: dial tcp"},
		{"cpu missing", func(e *env) { e.setMetrics(math.NaN(), 10, 0) }, "cpu missing"},
		{"memory missing", func(e *env) { e.setMetrics(10, math.NaN(), 0) }, "memory missing"},
		{"pending missing", func(e *env) { e.setMetrics(10, 10, math.NaN()) }, "pending_pods missing"},
		{"stale readings", stale, "stale"},
		{"cpu NaN marked present", func(e *env) {
			now := e.clk.Now()
			e.metrics.Set(autoscaler.Snapshot{Time: now, CPU: autoscaler.Value(math.NaN(), now), Memory: autoscaler.Value(10, now), PendingPods: autoscaler.Value(0, now)})
		}, "cpu is NaN"},
		{"cpu +Inf", func(e *env) { e.setMetrics(math.Inf(1), 10, 0) }, "cpu is +Inf"},
		{"negative pending pods", func(e *env) { e.setMetrics(10, 10, -1) }, "pending_pods -1 is outside"},
		{"cpu 700%", func(e *env) { e.setMetrics(700, 10, 0) }, "cpu 700 is outside"},
		{"empty snapshot", func(e *env) { e.metrics.Set(autoscaler.Snapshot{}) }, "cpu missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A policy that always wants to scale down: safety mode
			// must stop it.
			e := newEnv(t, 4, withPolicy(policy(autoscaler.ScaleDown, 1)))
			tt.set(e)
			res := e.tick(t)
			if !res.SafetyMode || res.Outcome != autoscaler.OutcomeHeld {
				t.Fatalf("got %v, want held in safety mode", res)
			}
			if !strings.Contains(strings.Join(res.SafetyReasons, ";"), tt.reason) {
				t.Errorf("safety reasons %q do not contain %q", res.SafetyReasons, tt.reason)
			}
			if e.active() != 4 || len(e.fleet.CallsTo(fake.Terminate)) != 0 {
				t.Errorf("something was terminated in safety mode")
			}
			if diff := cmp.Diff([]autoscaler.EventKind{autoscaler.EventSafetyMode}, e.notifier.Kinds()); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			// Still in safety mode on the next tick: no second alert.
			tt.set(e)
			e.clk.Step(2 * time.Minute)
			if res := e.tick(t); !res.SafetyMode {
				t.Errorf("second tick not in safety mode: %v", res)
			}
			if n := len(e.notifier.Events()); n != 1 {
				t.Errorf("%d events after two safety ticks, want 1", n)
			}
		})
	}
}

func TestSafetyModeStillScalesUpOnPendingPods(t *testing.T) {
	e := newEnv(t, 3, nil)
	e.setMetrics(math.NaN(), math.NaN(), 4) // Prometheus CPU gone, pending pods from the API
	res := e.tick(t)
	if !res.SafetyMode || res.Outcome != autoscaler.OutcomeScaledUp || len(res.Launched()) != 2 {
		t.Errorf("got %v, want a scale-up of 2 in safety mode", res)
	}
}

func TestLockHeldSkipsAndChangesNothing(t *testing.T) {
	e := newEnv(t, 3, nil)
	e.setMetrics(90, 90, 5)
	if _, err := e.store.Acquire(context.Background(), "other", 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	e.fleet.ResetCalls()
	res := e.tick(t)
	if res.Outcome != autoscaler.OutcomeSkipped {
		t.Fatalf("got %v, want skipped", res)
	}
	if calls := e.fleet.Calls(); len(calls) != 0 {
		t.Errorf("fleet called while locked out: %v", calls)
	}
	if n := e.store.Saves(); n != 0 {
		t.Errorf("%d state saves while locked out", n)
	}
	if e.store.Holder() != "other" {
		t.Errorf("lock holder = %q, want other", e.store.Holder())
	}
}

func TestStaleLockTakenOver(t *testing.T) {
	e := newEnv(t, 3, nil)
	if _, err := e.store.Acquire(context.Background(), "dead-lambda", 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	e.clk.Step(5 * time.Minute)
	res := e.tick(t)
	if res.Outcome == autoscaler.OutcomeSkipped || !res.Lease.TookOver {
		t.Fatalf("got %v, want the stale lock taken over", res)
	}
	if k := e.notifier.Kinds(); len(k) == 0 || k[0] != autoscaler.EventStaleLock {
		t.Errorf("events %v, want a stale_lock event first", k)
	}
}

func TestLockReleasedOnEveryErrorPath(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name   string
		ready  int
		policy autoscaler.Policy
		inject func(e *env)
		ctx    func() (context.Context, context.CancelFunc)
	}{
		{"load fails", 3, nil, func(e *env) { e.store.FailNext(fake.Load, boom) }, nil},
		{"fleet list fails", 3, nil, func(e *env) { e.fleet.FailNext(fake.List, boom) }, nil},
		{"node list fails", 3, nil, func(e *env) { e.nodes.FailNext(fake.ListNodes, boom) }, nil},
		{"launch fails", 3, policy(autoscaler.ScaleUp, 1), func(e *env) { e.fleet.FailNext(fake.Launch, boom) }, nil},
		{"write-ahead save fails", 3, policy(autoscaler.ScaleUp, 1), func(e *env) { e.store.FailNext(fake.Save, boom) }, nil},
		{"final save fails", 3, nil, func(e *env) { e.store.FailNext(fake.Save, boom) }, nil},
		{"terminate fails", 3, policy(autoscaler.ScaleDown, 1), func(e *env) { e.fleet.FailNext(fake.Terminate, boom) }, nil},
		{"uncordon after failed drain fails", 3, policy(autoscaler.ScaleDown, 1), func(e *env) {
			e.nodes.FailNext(fake.Drain, autoscaler.ErrDrainBlocked)
			e.nodes.FailNext(fake.Uncordon, boom)
		}, nil},
		{"context cancelled during the tick", 3, nil, func(e *env) {}, func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			return ctx, cancel
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.ready, func(c *autoscaler.Config) {
				if tt.policy != nil {
					c.Policy = tt.policy
				}
			})
			tt.inject(e)
			ctx := context.Background()
			if tt.ctx != nil {
				var cancel context.CancelFunc
				ctx, cancel = tt.ctx()
				// Cancel as soon as the tick lists the fleet.
				e.metrics.Func = func(context.Context) (autoscaler.Snapshot, error) {
					cancel()
					return autoscaler.Snapshot{}, context.Canceled
				}
			}
			res, err := e.as.RunOnce(ctx)
			if err == nil {
				t.Fatalf("no error; result %v", res)
			}
			if res.Outcome != autoscaler.OutcomeFailed {
				t.Errorf("outcome %s, want failed", res.Outcome)
			}
			if h := e.store.Holder(); h != "" {
				t.Errorf("lock still held by %q after %v", h, err)
			}
			if n := len(e.store.CallsTo(fake.Release)); n != 1 {
				t.Errorf("Release called %d times", n)
			}
			if k := e.notifier.Kinds(); len(k) == 0 || k[len(k)-1] != autoscaler.EventFailure {
				t.Errorf("events %v, want a failure event last", k)
			}
		})
	}
}

func TestLostLeaseCannotWrite(t *testing.T) {
	e := newEnv(t, 3, nil)
	// Another replica takes a newer lease while this tick runs.
	e.metrics.Func = func(ctx context.Context) (autoscaler.Snapshot, error) {
		e.clk.Step(6 * time.Minute) // our lease expires
		if _, err := e.store.Acquire(ctx, "newer", 5*time.Minute); err != nil {
			t.Error(err)
		}
		now := e.clk.Now()
		return autoscaler.Snapshot{Time: now, CPU: autoscaler.Value(50, now), Memory: autoscaler.Value(50, now), PendingPods: autoscaler.Value(0, now)}, nil
	}
	res, err := e.as.RunOnce(context.Background())
	if !errors.Is(err, autoscaler.ErrLeaseLost) {
		t.Fatalf("err = %v, want ErrLeaseLost (result %v)", err, res)
	}
	if e.store.Holder() != "newer" {
		t.Errorf("our release freed the newer holder's lock")
	}
}

func TestCapacityErrorAlertsAndHolds(t *testing.T) {
	e := newEnv(t, 3, nil)
	e.fleet.SetCapacity(0)
	e.setMetrics(50, 60, 2)
	res, err := e.as.RunOnce(context.Background())
	if err != nil {
		t.Fatalf("capacity shortage failed the tick: %v", err)
	}
	if res.Outcome != autoscaler.OutcomeHeld || !strings.Contains(res.Reason, "no capacity") {
		t.Errorf("got %v, want held for capacity", res)
	}
	if diff := cmp.Diff([]autoscaler.EventKind{autoscaler.EventCapacity}, e.notifier.Kinds()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if st := e.store.State(); st.Operation != nil {
		t.Errorf("operation left behind: %+v", st.Operation)
	}
	// Partial capacity: one of two.
	e2 := newEnv(t, 3, nil)
	e2.fleet.SetCapacity(1)
	e2.setMetrics(50, 60, 2)
	if res := e2.tick(t); res.Outcome != autoscaler.OutcomeScaledUp || len(res.Launched()) != 1 {
		t.Errorf("partial capacity: %v", res)
	}
}

func TestGhostsTerminated(t *testing.T) {
	e := newEnv(t, 3, nil)
	e.fleet.Add(autoscaler.Instance{ID: "i-ghost", State: autoscaler.StateRunning, LaunchTime: t0.Add(-11 * time.Minute), Market: autoscaler.MarketSpot})
	e.fleet.Add(autoscaler.Instance{ID: "i-young", State: autoscaler.StateRunning, LaunchTime: t0.Add(-9 * time.Minute), Market: autoscaler.MarketSpot})
	e.nodes.NeverJoin("i-ghost", "i-young")
	res := e.tick(t)
	if diff := cmp.Diff([]string{"i-ghost"}, res.Ghosts()); diff != "" {
		t.Errorf("ghosts (-want +got):\n%s", diff)
	}
	if res.Booting != 1 {
		t.Errorf("booting = %d, want 1 (the young one)", res.Booting)
	}
	for _, in := range e.fleet.Instances() {
		if in.ID == "i-ghost" && in.State != autoscaler.StateTerminated {
			t.Errorf("ghost not terminated: %v", in.State)
		}
		if in.ID == "i-young" && in.State == autoscaler.StateTerminated {
			t.Errorf("young instance terminated")
		}
	}
	if k := e.notifier.Kinds(); len(k) != 1 || k[0] != autoscaler.EventGhost {
		t.Errorf("events %v", k)
	}
}

func TestNotReadyNodeReplacedAndOrphanDeleted(t *testing.T) {
	// Seven nodes: two NotReady stay below the third of the fleet that
	// would mean an outage (see TestMassNotReadyTerminatesNothing).
	e := newEnv(t, 7, nil)
	e.nodes.ListNodes(context.Background()) // let the nodes join
	names := e.nodes.Names()
	e.nodes.Update(names[0], func(n *autoscaler.Node) { n.Ready, n.ReadyTransition = false, t0.Add(-6*time.Minute) })
	e.nodes.Update(names[1], func(n *autoscaler.Node) { n.Ready, n.ReadyTransition = false, t0.Add(-4*time.Minute) })
	e.nodes.Add(autoscaler.Node{Name: "orphan", InstanceID: "i-gone", Managed: true, Cluster: "test", Ready: false})
	e.nodes.Add(autoscaler.Node{Name: "k3s-server", Ready: false}) // not managed: never deleted
	e.nodes.Add(autoscaler.Node{Name: "live-orphan", InstanceID: "i-gone2", Managed: true, Cluster: "test", Ready: true})
	res := e.tick(t)
	if len(res.Replaced()) != 1 {
		t.Errorf("replaced %v, want the node NotReady for 6 minutes", res.Replaced())
	}
	if diff := cmp.Diff([]string{"orphan"}, res.OrphansDeleted()); diff != "" {
		t.Errorf("orphans (-want +got):\n%s", diff)
	}
	if _, ok := e.nodes.Get("k3s-server"); !ok {
		t.Errorf("the unmanaged server node was deleted")
	}
}

func TestForeignInstanceNeverTerminated(t *testing.T) {
	e := newEnv(t, 3, nil)
	e.fleet.AddForeign(autoscaler.Instance{ID: "i-database", State: autoscaler.StateRunning, LaunchTime: t0.Add(-48 * time.Hour)})
	err := e.fleet.Terminate(context.Background(), []string{"i-database"})
	if !errors.Is(err, autoscaler.ErrNotManaged) {
		t.Errorf("terminate foreign: %v, want ErrNotManaged", err)
	}
	res := e.tick(t)
	if res.Instances != 3 {
		t.Errorf("foreign instance counted: %v", res)
	}
}

func TestScaleDownDrainsAndRemovesTheBestVictim(t *testing.T) {
	e := newEnv(t, 0, withPolicy(policy(autoscaler.ScaleDown, 1)))
	add := func(id string, market autoscaler.Market, age time.Duration, pods int, blocker string) {
		e.fleet.Add(autoscaler.Instance{ID: id, State: autoscaler.StateRunning, Market: market, LaunchTime: t0.Add(-age)})
		e.nodes.Add(autoscaler.Node{Name: "n-" + id, InstanceID: id, Ready: true, Pods: pods, ScaleDownBlocker: blocker, Managed: true})
	}
	add("i-od", autoscaler.MarketOnDemand, time.Hour, 0, "")
	add("i-spot-busy", autoscaler.MarketSpot, time.Hour, 9, "")
	add("i-spot-old", autoscaler.MarketSpot, 3*time.Hour, 2, "")
	add("i-spot-new", autoscaler.MarketSpot, 2*time.Hour, 2, "")
	add("i-spot-blocked", autoscaler.MarketSpot, time.Hour, 0, "pod web-0 has safe-to-evict=false")
	res := e.tick(t)
	if v := victim(res); res.Outcome != autoscaler.OutcomeScaledDown || v.NodeName != "n-i-od" {
		t.Fatalf("got %v victim %q, want n-i-od", res, v.NodeName)
	}
	want := []string{"Cordon(n-i-od)", "Drain(n-i-od)", "DeleteNode(n-i-od)"}
	var got []string
	for _, c := range e.nodes.Calls() {
		if c.Method != fake.ListNodes && c.Method != fake.PinnedData {
			got = append(got, c.String())
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("node calls (-want +got):\n%s", diff)
	}
	if r := victim(res).Reason.Text; !strings.Contains(r, "on-demand instance i-od, 0 pods to move") {
		t.Errorf("victim reason %q", r)
	}
}

func TestDrainBlockedAbandonsAndUncordons(t *testing.T) {
	e := newEnv(t, 3, withPolicy(policy(autoscaler.ScaleDown, 1)))
	e.nodes.FailNext(fake.Drain, errors.Join(autoscaler.ErrDrainBlocked, errors.New("pdb web allows 0 disruptions")))
	res := e.tick(t)
	if res.Outcome != autoscaler.OutcomeHeld || !strings.Contains(res.Reason, "abandoned") {
		t.Fatalf("got %v, want held, scale-down abandoned", res)
	}
	node, _ := e.nodes.Get(victim(res).NodeName)
	if node.Unschedulable {
		t.Errorf("victim %s left cordoned", node.Name)
	}
	if e.active() != 3 {
		t.Errorf("an instance was terminated")
	}
	if k := e.notifier.Kinds(); len(k) != 1 || k[0] != autoscaler.EventAbandoned {
		t.Errorf("events %v", k)
	}
	if st := e.store.State(); st.Operation != nil || !st.LastScaleDown.IsZero() {
		t.Errorf("state after abandoned scale-down: op %+v last down %v", st.Operation, st.LastScaleDown)
	}
}

func TestDeadlineNearStartsNothing(t *testing.T) {
	e := newEnv(t, 3, nil)
	e.setMetrics(50, 60, 4)
	e.fleet.ResetCalls()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // margin is 30s
	defer cancel()
	res, err := e.as.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != autoscaler.OutcomeHeld || !strings.Contains(res.Reason, "deadline near") {
		t.Errorf("got %v, want held: deadline near", res)
	}
	if n := len(e.fleet.CallsTo(fake.Launch)); n != 0 {
		t.Errorf("launched with the deadline near")
	}
}

func TestRecovery(t *testing.T) {
	tests := []struct {
		name         string
		prep         func(e *env) autoscaler.Operation
		wantActive   int
		wantRecovery string
		check        func(t *testing.T, e *env)
	}{
		{"launch done before the crash is found again, not repeated", func(e *env) autoscaler.Operation {
			e.fleet.Launch(context.Background(), autoscaler.LaunchRequest{OperationID: "op-1", Count: 2})
			return autoscaler.Operation{ID: "op-1", Kind: autoscaler.OpLaunch, Count: 2, Started: t0.Add(-2 * time.Minute)}
		}, 5, "found 2 of 2", nil},
		{"launch cut short is completed", func(e *env) autoscaler.Operation {
			e.fleet.Launch(context.Background(), autoscaler.LaunchRequest{OperationID: "op-1", Count: 1})
			return autoscaler.Operation{ID: "op-1", Kind: autoscaler.OpLaunch, Count: 2, Started: t0.Add(-2 * time.Minute)}
		}, 5, "found 1 of 2 instances, relaunched to 2", nil},
		{"interrupted drain is rolled back", func(e *env) autoscaler.Operation {
			e.nodes.ListNodes(context.Background())
			name := e.nodes.Names()[0]
			e.nodes.Cordon(context.Background(), name)
			return autoscaler.Operation{ID: "op-2", Kind: autoscaler.OpScaleDown, NodeName: name, Phase: autoscaler.PhaseDraining, Started: t0.Add(-2 * time.Minute)}
		}, 3, "uncordoned", func(t *testing.T, e *env) {
			for _, name := range e.nodes.Names() {
				if n, _ := e.nodes.Get(name); n.Unschedulable {
					t.Errorf("node %s still cordoned", name)
				}
			}
		}},
		{"drained node is terminated and deleted", func(e *env) autoscaler.Operation {
			e.nodes.ListNodes(context.Background())
			name := e.nodes.Names()[0]
			id := strings.TrimPrefix(name, "node-")
			return autoscaler.Operation{ID: "op-3", Kind: autoscaler.OpScaleDown, NodeName: name, InstanceID: id, Phase: autoscaler.PhaseTerminating, Started: t0.Add(-2 * time.Minute)}
		}, 2, "terminated", func(t *testing.T, e *env) {
			if n := len(e.nodes.Names()); n != 2 {
				t.Errorf("%d nodes, want 2", n)
			}
			if st := e.store.State(); !st.LastScaleDown.Equal(t0) {
				t.Errorf("LastScaleDown %v", st.LastScaleDown)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, 3, withPolicy(policy(autoscaler.Hold, 0)))
			op := tt.prep(e)
			if err := e.store.SetState(autoscaler.ClusterState{Operation: &op, ScalingInProgress: true}); err != nil {
				t.Fatal(err)
			}
			res := e.tick(t)
			if !strings.Contains(res.Recovered(), tt.wantRecovery) {
				t.Errorf("recovered %q, want it to contain %q", res.Recovered(), tt.wantRecovery)
			}
			if got := e.active(); got != tt.wantActive {
				t.Errorf("active = %d, want %d", got, tt.wantActive)
			}
			if st := e.store.State(); st.Operation != nil || st.ScalingInProgress {
				t.Errorf("operation not cleared: %+v", st)
			}
			if tt.check != nil {
				tt.check(t, e)
			}
		})
	}
}

// A tick that dies right after its write-ahead record (a Lambda timeout
// during RunInstances) is finished by the next tick without a second launch.
func TestTimeoutMidLaunchIsRecoveredWithoutDuplicates(t *testing.T) {
	e := newEnv(t, 3, nil)
	e.fleet.BootDelay = 90 * time.Second
	e.setMetrics(50, 60, 3)
	e.fleet.FailNext(fake.Launch, context.DeadlineExceeded)
	if _, err := e.as.RunOnce(context.Background()); err == nil {
		t.Fatal("expected the launch failure")
	}
	st := e.store.State()
	if st.Operation == nil || st.Operation.Kind != autoscaler.OpLaunch {
		t.Fatalf("no launch operation recorded: %+v", st)
	}
	e.clk.Step(2 * time.Minute)
	res := e.tick(t)
	if !strings.Contains(res.Recovered(), "found 0 of 2 instances, relaunched to 2") {
		t.Errorf("recovered %q", res.Recovered())
	}
	if got := e.active(); got != 5 {
		t.Errorf("active = %d, want 5: the recovered launch and nothing more", got)
	}
}

func TestSpotInterruptionReplaced(t *testing.T) {
	e := newEnv(t, 3, nil)
	e.nodes.ListNodes(context.Background())
	id := strings.TrimPrefix(e.nodes.Names()[0], "node-")
	if err := e.fleet.Interrupt(id); err != nil {
		t.Fatal(err)
	}
	res := e.tick(t)
	if res.Outcome != autoscaler.OutcomeScaledUp || len(res.Launched()) != 1 || res.Replacements() != 1 {
		t.Errorf("got %v, want one replacement", res)
	}
	if n, _ := e.nodes.Get(fake.NodeName(id)); !n.Unschedulable {
		t.Errorf("interrupted node not cordoned")
	}
}

// The replacement launched for an interrupted instance is booting on the
// next tick: it is not launched a second time.
func TestSpotInterruptionReplacedOnce(t *testing.T) {
	e := newEnv(t, 3, withPolicy(policy(autoscaler.Hold, 0)))
	e.fleet.BootDelay = 90 * time.Second
	e.nodes.ListNodes(context.Background())
	id := strings.TrimPrefix(e.nodes.Names()[0], "node-")
	if err := e.fleet.Interrupt(id); err != nil {
		t.Fatal(err)
	}
	if res := e.tick(t); len(res.Launched()) != 1 {
		t.Fatalf("first tick: %v", res)
	}
	e.clk.Step(30 * time.Second)
	res := e.tick(t)
	if res.Outcome != autoscaler.OutcomeHeld || len(res.Launched()) != 0 {
		t.Errorf("second tick launched again: %v", res)
	}
	if got := e.active(); got != 4 {
		t.Errorf("active = %d, want 4 (3 + one replacement)", got)
	}
}

func TestNewValidates(t *testing.T) {
	e := newEnv(t, 0, nil)
	tests := []struct {
		name   string
		mutate func(*autoscaler.Config)
		want   []string
	}{
		{"empty", func(c *autoscaler.Config) { *c = autoscaler.Config{} },
			[]string{"ClusterID is required", "Metrics is required", "Policy is required", "Locker is required", "State is required", "Fleet is required", "Nodes is required"}},
		{"min above max", func(c *autoscaler.Config) { c.MinNodes, c.MaxNodes = 5, 3 }, []string{"MinNodes (5) must not exceed MaxNodes (3)"}},
		{"negative min", func(c *autoscaler.Config) { c.MinNodes = -2 }, []string{"MinNodes must be 0 (the default, 2), NoMinimum (-1) or more"}},
		{"negative cooldown", func(c *autoscaler.Config) { c.ScaleDownCooldown = -time.Second }, []string{"ScaleDownCooldown must not be negative"}},
		{"negative join timeout", func(c *autoscaler.Config) { c.JoinTimeout = -time.Second }, []string{"JoinTimeout must not be negative"}},
		{"share above one", func(c *autoscaler.Config) { c.MassNotReadyShare = 1.5 }, []string{"MassNotReadyShare must be between 0"}},
		{"lock shorter than its margins", func(c *autoscaler.Config) { c.LockTTL = 20 * time.Second }, []string{"LockTTL (20s) must exceed ReleaseTimeout (10s) plus DeadlineMargin (30s)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := e.cfg
			tt.mutate(&cfg)
			_, err := autoscaler.New(cfg)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestRunTicksOnTheClockAndOnTrigger(t *testing.T) {
	e := newEnv(t, 3, withPolicy(policy(autoscaler.Hold, 0)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.as.Run(ctx) }()
	waitSaves := func(n int) {
		t.Helper()
		for i := 0; i < 10000 && e.store.Saves() < n; i++ {
			time.Sleep(time.Millisecond)
		}
		if got := e.store.Saves(); got < n {
			t.Fatalf("%d ticks, want %d", got, n)
		}
	}
	waitSaves(1) // the first tick runs at once
	for i := 0; i < 10000 && !e.clk.HasWaiters(); i++ {
		time.Sleep(time.Millisecond)
	}
	e.clk.Step(2 * time.Minute)
	waitSaves(2)
	e.as.Trigger()
	waitSaves(3)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v", err)
	}
}

// The downsampled history holds 10-minute means of the ticks, kept for
// LongHistory, and reaches the policy.
func TestLongHistoryDownsamples(t *testing.T) {
	var seen []autoscaler.Record
	e := newEnv(t, 3, withPolicy(autoscaler.PolicyFunc(func(in autoscaler.PolicyInput) autoscaler.Decision {
		seen = in.LongHistory
		return autoscaler.HoldBecause("watching")
	})))
	for i := range 45 { // 90 minutes of 2-minute ticks from 12:00
		e.setMetrics(float64(10*(i%5)), 50, 0) // 0, 10, 20, 30, 40 in every 10 minutes
		e.tick(t)
		e.clk.Step(2 * time.Minute)
	}
	long := e.store.State().LongHistory
	if len(long) != 9 {
		t.Fatalf("%d downsampled records after 90 minutes, want 9 (8 days' retention)", len(long))
	}
	for _, r := range long {
		if r.Samples != 5 || math.Abs(r.CPU-20) > 1e-9 || r.Time.Minute()%10 != 0 {
			t.Errorf("record %+v, want 5 samples averaging CPU 20 on a 10-minute boundary", r)
		}
	}
	if len(seen) != 9 {
		t.Errorf("the policy saw %d downsampled records, want 9", len(seen))
	}
	// With an hour's retention only the buckets of the last hour before
	// the last tick (13:28) stay: 12:30 to 13:20.
	e2 := newEnv(t, 3, func(c *autoscaler.Config) { c.LongHistory = time.Hour })
	for range 45 {
		e2.tick(t)
		e2.clk.Step(2 * time.Minute)
	}
	if n := len(e2.store.State().LongHistory); n != 6 {
		t.Errorf("%d downsampled records kept with an hour's retention, want 6", n)
	}
}

type warningFleet struct{ autoscaler.FleetProvider }

func (warningFleet) Warnings() []string { return []string{"only 2 instance types for spot"} }

func TestPartsWarningsReachTheResult(t *testing.T) {
	e := newEnv(t, 2, func(c *autoscaler.Config) { c.Fleet = warningFleet{c.Fleet} })
	if res := e.tick(t); len(res.Warnings) != 1 || res.Warnings[0] != "only 2 instance types for spot" {
		t.Errorf("warnings %v", res.Warnings)
	}
}

// TestOrphanOfAnotherClusterIsNeverDeleted: with a node selector wider
// than one pool the NodeManager lists the nodes of another node-fleet
// cluster too; a NotReady one matched to none of this fleet's instances is
// not this cluster's orphan and stays.
func TestOrphanOfAnotherClusterIsNeverDeleted(t *testing.T) {
	e := newEnv(t, 3, nil)
	e.joinAll(t)
	e.nodes.Add(autoscaler.Node{Name: "theirs", InstanceID: "i-other-pool", Managed: true, Cluster: "other", Ready: false})
	e.nodes.Add(autoscaler.Node{Name: "ours", InstanceID: "i-gone", Managed: true, Cluster: "test", Ready: false})
	res := e.tick(t)
	if diff := cmp.Diff([]string{"ours"}, res.OrphansDeleted()); diff != "" {
		t.Errorf("orphans deleted (-want +got):\n%s", diff)
	}
	if _, ok := e.nodes.Get("theirs"); !ok {
		t.Errorf("another cluster's node was deleted as an orphan")
	}
}
