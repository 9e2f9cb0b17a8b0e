package autoscaler_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/capacity"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
)

// nodeCalls lists the fake nodes' calls of the given methods as
// "Method(args)".
func nodeCalls(e *env, methods ...fake.Method) []string {
	var out []string
	for _, c := range e.nodes.Calls() {
		for _, m := range methods {
			if c.Method == m {
				out = append(out, c.String())
			}
		}
	}
	return out
}

func cordoned(e *env) []string {
	var out []string
	for _, name := range e.nodes.Names() {
		if n, _ := e.nodes.Get(name); n.Unschedulable {
			out = append(out, name)
		}
	}
	return out
}

// A scale-down of several nodes cordons every victim before it drains any:
// no pod evicted from the first lands on the second, to be evicted again.
func TestMultiNodeScaleDownCordonsAllVictimsBeforeDrainingAny(t *testing.T) {
	e := newEnv(t, 5, withPolicy(policy(autoscaler.ScaleDown, 3)))
	e.joinAll(t)
	res := e.tick(t)
	removed := res.Removed()
	if len(removed) != 3 {
		t.Fatalf("removed %v, want 3", removed)
	}
	calls := nodeCalls(e, fake.Cordon, fake.Drain)
	firstDrain := len(calls)
	for i, c := range calls {
		if c == fmt.Sprintf("%s(%s)", fake.Drain, removed[0]) {
			firstDrain = i
			break
		}
	}
	for _, name := range removed {
		want := fmt.Sprintf("%s(%s)", fake.Cordon, name)
		at := -1
		for i, c := range calls {
			if c == want {
				at = i
				break
			}
		}
		if at < 0 || at > firstDrain {
			t.Errorf("%s cordoned at call %d, after the first drain at %d: %v", name, at, firstDrain, calls)
		}
	}
}

// When a scale-down is abandoned, the later victims cordoned ahead are
// given back: a cordoned node is not capacity.
func TestAbandonedScaleDownGivesBackTheVictimsCordonedAhead(t *testing.T) {
	e := newEnv(t, 5, withPolicy(policy(autoscaler.ScaleDown, 3)))
	e.joinAll(t)
	e.nodes.FailNext(fake.Drain, fmt.Errorf("a PodDisruptionBudget: %w", autoscaler.ErrDrainBlocked))
	res := e.tick(t)
	if len(res.Removed()) != 0 {
		t.Errorf("removed %v after the first drain was blocked", res.Removed())
	}
	if c := cordoned(e); len(c) != 0 {
		t.Errorf("still cordoned: %v", c)
	}
}

// A tick that died during a multi-node scale-down leaves its journal; the
// recovery gives back the later victims it had cordoned ahead.
func TestRecoveryGivesBackTheVictimsCordonedAhead(t *testing.T) {
	e := newEnv(t, 4, withPolicy(policy(autoscaler.Hold, 0)))
	e.joinAll(t)
	names := e.nodes.Names()
	for _, n := range names[:3] {
		if err := e.nodes.Cordon(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	op := autoscaler.Operation{ID: "op-down", Kind: autoscaler.OpScaleDown, NodeName: names[0], Phase: autoscaler.PhaseDraining,
		Started: t0.Add(-2 * time.Minute), Cordoned: names[1:3]}
	if err := e.store.SetState(autoscaler.ClusterState{Operation: &op, ScalingInProgress: true}); err != nil {
		t.Fatal(err)
	}
	e.tick(t)
	if diff := cmp.Diff([]string(nil), cordoned(e)); diff != "" {
		t.Errorf("cordoned after the recovery (-want +got):\n%s", diff)
	}
	if st := e.store.State(); st.Operation != nil {
		t.Errorf("operation left: %+v", st.Operation)
	}
}

// A stored spot interruption of an instance that was never reclaimed
// expires InterruptionExpiry after its notice: the instance counts as
// capacity again, its node is given back, and that is alerted once.
func TestInterruptionOfAnInstanceNeverReclaimedExpires(t *testing.T) {
	e := newEnv(t, 3, withPolicy(policy(autoscaler.Hold, 0)))
	e.joinAll(t)
	name := e.nodes.Names()[0]
	n, _ := e.nodes.Get(name)
	if err := e.nodes.Cordon(context.Background(), name); err != nil {
		t.Fatal(err)
	}
	st := autoscaler.ClusterState{Interruptions: []autoscaler.Interruption{{InstanceID: n.InstanceID, Notice: t0.Add(-time.Minute), ReplacedBy: "op-r"}}}
	if err := e.store.SetState(st); err != nil {
		t.Fatal(err)
	}
	if res := e.tick(t); res.ReadyNodes != 2 || len(e.store.State().Interruptions) != 1 {
		t.Fatalf("a minute after the notice: %d Ready, interruptions %v", res.ReadyNodes, e.store.State().Interruptions)
	}
	e.clk.Step(autoscaler.InterruptionExpiry)
	res := e.tick(t)
	if res.ReadyNodes != 3 || len(e.store.State().Interruptions) != 0 {
		t.Errorf("after the expiry: %d Ready, interruptions %v", res.ReadyNodes, e.store.State().Interruptions)
	}
	if c := cordoned(e); len(c) != 0 {
		t.Errorf("still cordoned: %v", c)
	}
	e.clk.Step(2 * time.Minute)
	e.tick(t)
	if got := e.kinds()[autoscaler.EventInterrupted]; got != 1 {
		t.Errorf("%d spot_interruption alerts, want 1 (%v)", got, e.notifier.Kinds())
	}
}

// requestsSeen records the LaunchRequests a fake fleet is given.
type requestsSeen struct {
	*fake.Fleet
	reqs []autoscaler.LaunchRequest
}

func (r *requestsSeen) Launch(ctx context.Context, req autoscaler.LaunchRequest) ([]autoscaler.Instance, error) {
	r.reqs = append(r.reqs, req)
	return r.Fleet.Launch(ctx, req)
}

// A launch cut short by a crash is completed with what its instances must
// offer (Fit) and where (Zones), as the launch asked.
func TestRecoveredLaunchKeepsItsFit(t *testing.T) {
	var seen *requestsSeen
	e := newEnv(t, 3, func(c *autoscaler.Config) {
		seen = &requestsSeen{Fleet: c.Fleet.(*fake.Fleet)}
		c.Fleet, c.Policy = seen, policy(autoscaler.Hold, 0)
	})
	e.joinAll(t)
	fit := capacity.Resources{MilliCPU: 3500, Memory: 6 << 30, Pods: 2}
	op := autoscaler.Operation{ID: "op-up", Kind: autoscaler.OpLaunch, Count: 2, Started: t0.Add(-time.Minute), Fit: fit, Zones: []string{"zone-b"}}
	if err := e.store.SetState(autoscaler.ClusterState{Operation: &op, ScalingInProgress: true}); err != nil {
		t.Fatal(err)
	}
	e.tick(t)
	if len(seen.reqs) != 1 {
		t.Fatalf("%d launch requests, want the recovery's", len(seen.reqs))
	}
	got := seen.reqs[0]
	if diff := cmp.Diff(struct {
		Fit   capacity.Resources
		Zones []string
	}{fit, []string{"zone-b"}}, struct {
		Fit   capacity.Resources
		Zones []string
	}{got.Fit, got.Zones}); diff != "" {
		t.Errorf("recovery's request (-want +got):\n%s", diff)
	}
}

// A later victim whose own removal cannot even be written ahead is given
// back too.
func TestVictimCordonedAheadIsGivenBackWhenItsWriteAheadFails(t *testing.T) {
	e := newEnv(t, 5, withPolicy(policy(autoscaler.ScaleDown, 2)))
	e.joinAll(t)
	// The first removal's write-ahead and terminating phase succeed; the
	// second's write-ahead fails.
	e.store.FailNext(fake.Save, nil)
	e.store.FailNext(fake.Save, nil)
	e.store.FailNext(fake.Save, errors.New("throttled"))
	res, _ := e.as.RunOnce(context.Background())
	if len(res.Removed()) != 1 {
		t.Fatalf("removed %v, want the first victim only", res.Removed())
	}
	if c := cordoned(e); len(c) != 0 {
		t.Errorf("still cordoned: %v", c)
	}
}
