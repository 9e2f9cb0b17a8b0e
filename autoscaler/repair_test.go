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
)

// Every node NotReady at once (a control-plane or network fault)
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

// No repair in safety mode.
func TestNoGhostTerminatedInSafetyMode(t *testing.T) {
	e := newEnv(t, 3, nil)
	e.joinAll(t)
	ghost := autoscaler.Instance{ID: "i-ghost", State: autoscaler.StateRunning, LaunchTime: t0.Add(-time.Hour)}
	e.fleet.Add(ghost)
	e.nodes.NeverJoin("i-ghost")
	e.setMetrics(math.NaN(), 60, 0)
	res := e.tick(t)
	if !res.SafetyMode || len(res.Ghosts()) != 0 || len(e.fleet.CallsTo(fake.Terminate)) != 0 {
		t.Errorf("safety mode %v, ghosts %v, terminate calls %v", res.SafetyMode, res.Ghosts(), e.fleet.CallsTo(fake.Terminate))
	}
}

// One ghost that cannot be terminated (termination
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
	if len(res.Launched()) != 2 || res.Outcome != autoscaler.OutcomeScaledUp {
		t.Errorf("result %v, want +2 for the pending pods", res)
	}
	if len(res.Ghosts()) != 0 {
		t.Errorf("ghosts %v reported terminated though the call failed", res.Ghosts())
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
	if len(res.Launched()) != 0 {
		t.Errorf("launched %d though the ghost's termination failed", len(res.Launched()))
	}
}

// The Node of an instance launched lately, which List does not show yet
// (EC2 is eventually consistent), is that instance's: it is not deleted
// as an orphan while NotReady during its join. A node naming an instance
// the fleet has not launched lately still is.
func TestNodeOfALaunchNotListedYetIsNoOrphan(t *testing.T) {
	tests := []struct {
		name     string
		launched []autoscaler.RecentLaunch
		want     []string
	}{
		{name: "launched two minutes ago", launched: []autoscaler.RecentLaunch{{InstanceID: "i-new", At: t0.Add(-2 * time.Minute)}}},
		{name: "not launched lately", want: []string{"delete-orphan 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ins, nodes := readyFleet(3)
			nodes = append(nodes, autoscaler.Node{Name: "node-i-new", InstanceID: "i-new", Managed: true, Cluster: "shop",
				ReadyTransition: t0.Add(-20 * time.Second), Created: t0.Add(-20 * time.Second)})
			p := planOf(t, autoscaler.Config{ClusterID: "shop", Policy: policy(autoscaler.Hold, 0)},
				autoscaler.Observation{Now: t0, State: autoscaler.ClusterState{Launched: tt.launched}, Instances: ins, Nodes: nodes, Snapshot: snapshot(50, 0)})
			if d := cmp.Diff(tt.want, stepKinds(p)); d != "" {
				t.Errorf("steps (-want +got):\n%s", d)
			}
		})
	}
}
