package autoscaler_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/capacity"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
)

// unplaceablePods returns n pending pods of namespace ns that no worker
// fits.
func unplaceablePods(ns string, n int) []capacity.PendingPod {
	out := make([]capacity.PendingPod, n)
	for i := range out {
		out[i] = capacity.PendingPod{Namespace: ns, Name: fmt.Sprintf("gpu-job-%d", i),
			Requests: capacity.Resources{MilliCPU: 64000, Pods: 1}, Unplaceable: "requests 64 CPU; a new worker offers 1.93"}
	}
	return out
}

func (e *env) setView(pods []capacity.PendingPod) {
	now := e.clk.Now()
	e.metrics.Set(autoscaler.Snapshot{Time: now, CPU: autoscaler.Value(50, now), Memory: autoscaler.Value(50, now),
		PendingPods: autoscaler.Value(float64(len(pods)), now), Scheduler: &capacity.SchedulerView{Pending: pods}})
}

// A batch of 1,500 pods no worker fits makes one alert, not one per pod;
// the state remembers a bounded list (100 names and a count) and the same
// pods alert no more; new ones alert once, named.
func TestUnplaceableStormIsOneAlertAndABoundedList(t *testing.T) {
	e := newEnv(t, 3, nil)
	e.joinAll(t)
	pods := unplaceablePods("batch", 1500)
	e.setView(pods)
	res := e.tick(t)
	if len(res.Unplaceable) != 1500 {
		t.Fatalf("%d unplaceable in the result, want 1500", len(res.Unplaceable))
	}
	if got := e.kinds()[autoscaler.EventUnplaceable]; got != 1 {
		t.Fatalf("%d unplaceable alerts, want 1", got)
	}
	msg := e.notifier.Events()[0].Message
	if !strings.Contains(msg, "1500 pending pods fit no worker") || !strings.Contains(msg, "and 1497 more") {
		t.Errorf("alert %q", msg)
	}
	st := e.store.State().Unplaceable
	if len(st) != 100 || st[99] != autoscaler.UnplaceableSummary(1401) {
		t.Errorf("stored %d keys ending %q, want 99 keys and %q", len(st), st[len(st)-1], autoscaler.UnplaceableSummary(1401))
	}
	e.clk.Step(2 * time.Minute)
	e.setView(pods)
	e.tick(t)
	if got := e.kinds()[autoscaler.EventUnplaceable]; got != 1 {
		t.Errorf("%d unplaceable alerts after the same pods again, want 1", got)
	}
	e.clk.Step(2 * time.Minute)
	e.setView(append(pods, unplaceablePods("shop", 10)...))
	e.tick(t)
	evs := e.notifier.Events()
	if got := e.kinds()[autoscaler.EventUnplaceable]; got != 2 || !strings.Contains(evs[len(evs)-1].Message, "1510 pending pods fit no worker, no node is launched for them (10 not alerted before)") {
		t.Errorf("%d unplaceable alerts, last %q: want a second one naming the new pods", got, evs[len(evs)-1].Message)
	}
}

// A stored key of any length is cut: the list stays bounded per key too.
func TestUnplaceableKeysAreCutInTheState(t *testing.T) {
	e := newEnv(t, 3, nil)
	e.joinAll(t)
	pod := unplaceablePods("shop", 1)[0]
	pod.Name = strings.Repeat("x", 1000)
	e.setView([]capacity.PendingPod{pod})
	e.tick(t)
	if st := e.store.State().Unplaceable; len(st) != 1 || len(st[0]) > 256 {
		t.Errorf("stored %d keys, the first %d bytes", len(st), len(st[0]))
	}
	e.clk.Step(2 * time.Minute)
	e.setView([]capacity.PendingPod{pod})
	e.tick(t)
	if got := e.kinds()[autoscaler.EventUnplaceable]; got != 1 {
		t.Errorf("%d alerts for one long-named pod, want 1", got)
	}
}

// activeAtNotify records how many instances the fleet had when each event
// was sent.
type activeAtNotify struct {
	fake.Notifier
	fleet  *fake.Fleet
	active map[autoscaler.EventKind]int
}

func (n *activeAtNotify) Notify(ctx context.Context, ev autoscaler.Event) error {
	ins, _ := n.fleet.List(ctx)
	n.active[ev.Kind] = len(ins)
	return n.Notifier.Notify(ctx, ev)
}

// The plan's alerts are sent once the tick has acted: a slow or failing
// notifier never delays a launch.
func TestAlertsAreSentAfterTheTickActs(t *testing.T) {
	var n *activeAtNotify
	e := newEnv(t, 2, func(c *autoscaler.Config) {
		n = &activeAtNotify{fleet: c.Fleet.(*fake.Fleet), active: map[autoscaler.EventKind]int{}}
		c.Notifier = n
	})
	e.joinAll(t)
	now := e.clk.Now()
	e.metrics.Set(autoscaler.Snapshot{Time: now, CPU: autoscaler.Value(95, now), Memory: autoscaler.Value(50, now),
		PendingPods: autoscaler.Value(1, now), Scheduler: &capacity.SchedulerView{Pending: unplaceablePods("batch", 1)}})
	res := e.tick(t)
	if len(res.Launched()) == 0 {
		t.Fatalf("no launch: %v", res)
	}
	if got, ok := n.active[autoscaler.EventUnplaceable]; !ok || got != 2+len(res.Launched()) {
		t.Errorf("unplaceable alert sent with %d instances (sent: %v), want after the launch: %d", got, ok, 2+len(res.Launched()))
	}
}

// A LastScaleUp in the future (a replica with a fast clock, a hand-edited
// item) is taken as long ago: it blocks no scale-up, even with a cooldown,
// and is alerted once.
func TestFutureLastScaleUpIsLongAgoAndAlerted(t *testing.T) {
	for _, cooldown := range []time.Duration{0, 5 * time.Minute} {
		t.Run(cooldown.String(), func(t *testing.T) {
			e := newEnv(t, 2, func(c *autoscaler.Config) { c.ScaleUpCooldown = cooldown })
			e.joinAll(t)
			if err := e.store.SetState(autoscaler.ClusterState{LastScaleUp: t0.Add(24 * time.Hour), LastScaleDown: t0.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			e.setMetrics(95, 50, 3)
			res := e.tick(t)
			if len(res.Launched()) == 0 {
				t.Errorf("no scale-up: %v (hold %q)", res, res.Hold())
			}
			e.clk.Step(10 * time.Minute)
			e.joinAll(t)
			e.setMetrics(50, 50, 0)
			e.tick(t)
			if got := e.kinds()[autoscaler.EventClockSkew]; got != 1 {
				t.Errorf("%d clock_skew alerts, want 1 (%v)", got, e.notifier.Kinds())
			}
		})
	}
}
