package autoscaler_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
)

// droppedScaleDown sets up a scale-down whose termination failed on every
// attempt (an IAM deny): its node is drained and cordoned, and this tick
// drops it.
func droppedScaleDown(t *testing.T, e *env) (node string) {
	t.Helper()
	e.joinAll(t)
	victim := e.fleet.Instances()[0].ID
	node = fake.NodeName(victim)
	e.nodes.Update(node, func(n *autoscaler.Node) { n.Unschedulable = true })
	op := &autoscaler.Operation{ID: "op-down", Kind: autoscaler.OpScaleDown, NodeName: node, InstanceID: victim,
		Phase: autoscaler.PhaseTerminating, Started: t0.Add(-10 * time.Minute), Attempts: 3}
	if err := e.store.SetState(autoscaler.ClusterState{Operation: op}); err != nil {
		t.Fatal(err)
	}
	return node
}

// Dropping a scale-down gives its node back: it is uncordoned.
func TestDroppedScaleDownUncordonsItsNode(t *testing.T) {
	e := newEnv(t, 4, withPolicy(policy(autoscaler.Hold, 0)))
	node := droppedScaleDown(t, e)
	e.tick(t)
	if n, _ := e.nodes.Get(node); n.Unschedulable {
		t.Errorf("node %s left cordoned by the dropped scale-down", node)
	}
	if st := e.store.State(); st.Operation != nil {
		t.Errorf("operation kept: %+v", st.Operation)
	}
	if e.kinds()[autoscaler.EventFailure] == 0 {
		t.Errorf("no alert for the dropped operation: %v", e.notifier.Kinds())
	}
}

// When the node cannot be uncordoned, the operation stays: no further
// scale-down drains another node, every tick tries again (alerted, and
// again every RealertInterval: TestDropThatCannotUncordonIsNotRealertedEveryTick),
// and once the node is given back scaling resumes.
func TestDropThatCannotUncordonHoldsEveryScaleDown(t *testing.T) {
	e := newEnv(t, 4, withPolicy(policy(autoscaler.ScaleDown, 1)))
	node := droppedScaleDown(t, e)
	for range 3 {
		e.nodes.FailNext(fake.Uncordon, errors.New("forbidden: nodes is forbidden"))
		_, err := e.as.RunOnce(context.Background())
		if err == nil {
			t.Errorf("tick without an error though the node could not be uncordoned")
		}
		e.clk.Step(2 * time.Minute)
	}
	if c := e.nodes.CallsTo(fake.Drain); len(c) != 0 {
		t.Errorf("drained %v while node %s waits to be uncordoned", c, node)
	}
	if st := e.store.State(); st.Operation == nil || st.Operation.Phase != autoscaler.PhaseUncordoning {
		t.Errorf("operation %+v, want it kept, uncordoning", st.Operation)
	}
	named := false
	for _, ev := range e.notifier.Events() {
		named = named || (ev.Kind == autoscaler.EventFailure && strings.Contains(ev.Message, "could not be uncordoned yet") && strings.Contains(ev.Message, node))
	}
	if !named {
		t.Errorf("events %v, want a failure alert naming the cordoned node %s", e.notifier.Events(), node)
	}
	e.tick(t) // the uncordon works now
	if n, _ := e.nodes.Get(node); n.Unschedulable {
		t.Errorf("node %s still cordoned", node)
	}
	if st := e.store.State(); st.Operation != nil {
		t.Errorf("operation kept after the uncordon: %+v", st.Operation)
	}
}

// A cordoned node takes no pods: it is not capacity for MinNodes (the
// floor launches) nor for the at-min rule (no scale-down below it).
func TestCordonedNodeIsNotCapacityForMinNodes(t *testing.T) {
	ins, nodes := readyFleet(2)
	nodes[1].Unschedulable = true
	p := planOf(t, autoscaler.Config{Policy: policy(autoscaler.Hold, 0)},
		autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snapshot(50, 0)})
	if got := stepKinds(p); len(got) != 1 || got[0] != "launch 1" {
		t.Errorf("steps %v, want the floor's launch for the cordoned node", got)
	}
	ins, nodes = readyFleet(3)
	nodes[2].Unschedulable = true
	p = planOf(t, autoscaler.Config{Policy: policy(autoscaler.ScaleDown, 1)},
		autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snapshot(10, 0)})
	if len(p.Steps) != 0 || p.Hold() != autoscaler.HoldAtMin {
		t.Errorf("steps %v hold %q, want held at MinNodes", stepKinds(p), p.Hold())
	}
}

// A dropped scale-down whose node was deleted meanwhile has nothing left
// to give back: the uncordon's ErrNotFound ends the operation, and the
// next tick scales again.
func TestDropWaitingForADeletedNodeEnds(t *testing.T) {
	e := newEnv(t, 3, withPolicy(policy(autoscaler.ScaleUp, 1)))
	e.joinAll(t)
	op := &autoscaler.Operation{ID: "op-down", Kind: autoscaler.OpScaleDown, NodeName: "node-gone", InstanceID: "i-gone",
		Phase: autoscaler.PhaseUncordoning, Started: t0.Add(-time.Hour), Attempts: 7}
	if err := e.store.SetState(autoscaler.ClusterState{Operation: op}); err != nil {
		t.Fatal(err)
	}
	e.tick(t)
	if st := e.store.State(); st.Operation != nil {
		t.Fatalf("operation kept for a node that is gone: %+v", st.Operation)
	}
	e.clk.Step(2 * time.Minute)
	if res := e.tick(t); res.Outcome != autoscaler.OutcomeScaledUp {
		t.Errorf("outcome %v, want the scale-up once the operation ended", res)
	}
}

// A dropped scale-down whose node cannot be uncordoned holds every
// further scale-down, not the launches: the floor's launch (the cordoned
// node is no capacity) and a scale-up for pending pods go on, and the node
// is still tried every tick until it is given back.
func TestDropThatCannotUncordonStillLaunches(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy autoscaler.Policy
		ready  int
	}{
		{"the floor", policy(autoscaler.Hold, 0), 2},
		{"pending pods", policy(autoscaler.ScaleUp, 2), 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.ready, withPolicy(tc.policy))
			node := droppedScaleDown(t, e)
			// The first tick drops the operation (nothing else starts
			// while it is being finished); the next ones find the node
			// still cordoned.
			for range 2 {
				e.nodes.FailNext(fake.Uncordon, errors.New("forbidden: nodes is forbidden"))
				if _, err := e.as.RunOnce(context.Background()); err == nil {
					t.Errorf("tick without an error though the node could not be uncordoned")
				}
				e.clk.Step(2 * time.Minute)
			}
			if got := e.active(); got <= tc.ready {
				t.Errorf("%d active instances, want a launch beside the cordoned node (had %d)", got, tc.ready)
			}
			if c := e.nodes.CallsTo(fake.Drain); len(c) != 0 {
				t.Errorf("drained %v while node %s waits to be uncordoned", c, node)
			}
			st := e.store.State()
			if st.Operation == nil || st.Operation.Phase != autoscaler.PhaseUncordoning || st.Operation.NodeName != node {
				t.Fatalf("operation %+v, want the dropped scale-down kept, uncordoning %s", st.Operation, node)
			}
			e.tick(t) // the uncordon works now
			if n, _ := e.nodes.Get(node); n.Unschedulable {
				t.Errorf("node %s still cordoned", node)
			}
			if st := e.store.State(); st.Operation != nil {
				t.Errorf("operation kept after the uncordon: %+v", st.Operation)
			}
		})
	}
}

// A launch that started beside a dropped scale-down and whose tick died
// hands the journal back to the dropped scale-down once it is recovered:
// the node is still given back.
func TestRecoveredLaunchHandsBackTheDroppedScaleDown(t *testing.T) {
	e := newEnv(t, 3, withPolicy(policy(autoscaler.Hold, 0)))
	e.joinAll(t)
	node := fake.NodeName(e.fleet.Instances()[0].ID)
	e.nodes.Update(node, func(n *autoscaler.Node) { n.Unschedulable = true })
	down := &autoscaler.Operation{ID: "op-down", Kind: autoscaler.OpScaleDown, NodeName: node, InstanceID: e.fleet.Instances()[0].ID,
		Phase: autoscaler.PhaseUncordoning, Started: t0.Add(-time.Hour), Attempts: 4}
	up := &autoscaler.Operation{ID: "op-up", Kind: autoscaler.OpLaunch, Count: 1, Started: t0.Add(-2 * time.Minute), Uncordoning: down}
	if err := e.store.SetState(autoscaler.ClusterState{Operation: up}); err != nil {
		t.Fatal(err)
	}
	e.tick(t)
	if st := e.store.State(); st.Operation == nil || st.Operation.ID != down.ID {
		t.Fatalf("operation %+v after the launch's recovery, want the dropped scale-down %s back", st.Operation, down.ID)
	}
	e.clk.Step(2 * time.Minute)
	e.tick(t)
	if n, _ := e.nodes.Get(node); n.Unschedulable {
		t.Errorf("node %s still cordoned", node)
	}
	if st := e.store.State(); st.Operation != nil {
		t.Errorf("operation kept after the uncordon: %+v", st.Operation)
	}
}

// A dropped scale-down whose node stays cordoned (the uncordon keeps
// failing) alerts when it starts holding the scale-downs, and then again
// once every RealertInterval while nothing changes, not every tick: the
// attempt count and the policy's numbers of the moment are no news.
func TestDropThatCannotUncordonIsNotRealertedEveryTick(t *testing.T) {
	pol := &countingDown{}
	e := newEnv(t, 4, withPolicy(pol))
	droppedScaleDown(t, e)
	for range 3 {
		e.setMetrics(10, 20, 0)
		e.nodes.FailNext(fake.Uncordon, errors.New("forbidden: nodes is forbidden"))
		_, _ = e.as.RunOnce(context.Background())
		e.clk.Step(2 * time.Minute)
	}
	before := len(e.notifier.Events())
	if e.kinds()[autoscaler.EventFailure] == 0 {
		t.Fatalf("no alert for the stuck node: %v", e.notifier.Kinds())
	}
	for range 5 {
		e.setMetrics(10, 20, 0)
		e.nodes.FailNext(fake.Uncordon, errors.New("forbidden: nodes is forbidden"))
		if _, err := e.as.RunOnce(context.Background()); err == nil {
			t.Errorf("tick without an error though the node could not be uncordoned")
		}
		e.clk.Step(2 * time.Minute)
	}
	if got := e.notifier.Events()[before:]; len(got) != 0 {
		t.Errorf("%d alerts in 10 minutes of the same stuck node, want none within RealertInterval: %v", len(got), got)
	}
	st := e.store.State()
	if st.Operation == nil || st.Operation.Phase != autoscaler.PhaseUncordoning {
		t.Fatalf("operation %+v, want it kept, uncordoning", st.Operation)
	}
	// Its recovery attempts ended with the drop: trying to give the
	// node back is no further attempt to finish the operation.
	if st.Operation.Attempts > e.cfg.MaxRecoveryAttempts {
		t.Errorf("operation has %d recovery attempts, more than MaxRecoveryAttempts %d", st.Operation.Attempts, e.cfg.MaxRecoveryAttempts)
	}
}

// countingDown asks for one node fewer every tick, its reason giving a
// reading that changes every tick.
type countingDown struct{ n int }

func (p *countingDown) Decide(autoscaler.PolicyInput) autoscaler.Decision {
	p.n++
	return autoscaler.Decision{Action: autoscaler.ScaleDown, Count: 1, Reason: fmt.Sprintf("cpu at %d%%", 10+p.n)}
}
