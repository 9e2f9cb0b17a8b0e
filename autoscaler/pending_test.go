package autoscaler_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/capacity"
	"github.com/node-fleet/node-fleet/decision"
)

// One pod that can never be scheduled does not grow an idle
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
	if res := e.tick(t); res.Hold() == autoscaler.HoldNoProgress {
		t.Errorf("still held: %v", res)
	}
}

// A custom policy composed before the default cannot scale down
// while pods are pending.
func TestFirstOfCustomPolicyCannotScaleDownWithPendingPods(t *testing.T) {
	eager := autoscaler.PolicyFunc(func(autoscaler.PolicyInput) autoscaler.Decision {
		return autoscaler.Decision{Action: autoscaler.ScaleDown, Count: 1, Reason: "night"}
	})
	e := newEnv(t, 4, withPolicy(decision.FirstOf(eager, decision.Default())))
	e.joinAll(t)
	e.setMetrics(10, 20, 3)
	res := e.tick(t)
	if res.Outcome == autoscaler.OutcomeScaledDown || res.Hold() != autoscaler.HoldPendingPods {
		t.Errorf("result %v, hold %q: want held for the pending pods", res, res.Hold())
	}
}

// A pod no new node would help (the scheduler's view) launches nothing, is
// named in the result, and is alerted once while it stays pending.
func TestUnplaceablePodIsAlertedOnceAndLaunchesNothing(t *testing.T) {
	e := newEnv(t, 3, nil)
	e.joinAll(t)
	huge := capacity.PendingPod{Namespace: "shop", Name: "checkout-7", Requests: capacity.Resources{MilliCPU: 6000, Pods: 1},
		Unplaceable: "requests 6 CPU; a new t3.medium worker offers 1.93"}
	for range 3 {
		now := e.clk.Now()
		e.metrics.Set(autoscaler.Snapshot{Time: now, CPU: autoscaler.Value(50, now), Memory: autoscaler.Value(50, now),
			PendingPods: autoscaler.Value(1, now), Scheduler: &capacity.SchedulerView{Pending: []capacity.PendingPod{huge}}})
		res := e.tick(t)
		if len(res.Launched()) != 0 || len(res.Unplaceable) != 1 || res.Unplaceable[0].Key() != "shop/checkout-7" {
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

// cappingStore keeps what a size-bounded store (state.Dynamo) keeps of
// the unplaceable pods: the first few keys and a summary of the rest.
type cappingStore struct {
	autoscaler.StateStore
	keep int
}

func (s cappingStore) Save(ctx context.Context, l autoscaler.Lease, st autoscaler.ClusterState) error {
	if len(st.Unplaceable) > s.keep {
		st.Unplaceable = append(slices.Clone(st.Unplaceable[:s.keep-1]), autoscaler.UnplaceableSummary(len(st.Unplaceable)-s.keep+1))
	}
	return s.StateStore.Save(ctx, l, st)
}

// More unplaceable pods than the store keeps the keys of are alerted
// once, not again at every tick for the pods the store summarised; a pod
// that becomes unplaceable later is still alerted.
func TestUnplaceablePodsBeyondTheStoredKeysAreNotAlertedEveryTick(t *testing.T) {
	e := newEnv(t, 3, func(c *autoscaler.Config) { c.State = cappingStore{StateStore: c.State, keep: 10} })
	e.joinAll(t)
	var pods []capacity.PendingPod
	for i := range 30 {
		pods = append(pods, capacity.PendingPod{Namespace: "shop", Name: fmt.Sprintf("gpu-%d", i), Requests: capacity.Resources{MilliCPU: 6000, Pods: 1},
			Unplaceable: "requests 6 CPU; a new t3.medium worker offers 1.93"})
	}
	tick := func(pods []capacity.PendingPod) {
		now := e.clk.Now()
		e.metrics.Set(autoscaler.Snapshot{Time: now, CPU: autoscaler.Value(50, now), Memory: autoscaler.Value(50, now),
			PendingPods: autoscaler.Value(float64(len(pods)), now), Scheduler: &capacity.SchedulerView{Pending: pods}})
		e.tick(t)
		e.clk.Step(2 * time.Minute)
	}
	for range 3 {
		tick(pods)
	}
	// One message for the 30 (alerts aggregate per tick), none again.
	if got := e.kinds()[autoscaler.EventUnplaceable]; got != 1 {
		t.Errorf("%d unplaceable alerts after 3 ticks of the same 30 pods, want 1 (all of them, once)", got)
	}
	late := pods[0]
	late.Name = "gpu-late"
	tick(append(slices.Clone(pods), late))
	// The store kept 9 of the keys and a count, so the new pod is known
	// by the count only: the tick's one message is sent again (it may not
	// name the new pod among the first it lists).
	if got := e.kinds()[autoscaler.EventUnplaceable]; got != 2 {
		t.Errorf("%d unplaceable alerts after a pod became unplaceable later, want 2", got)
	}
}
