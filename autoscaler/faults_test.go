package autoscaler_test

import (
	"testing"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// Found by internal/chaos: a Node that names no instance (the K3s server's
// "k3s://" node, a node that joined without the instance-id label) and
// whose IP is an instance's private IP claimed that instance when it sorted
// before the instance's own labelled node; the labelled node was then
// unmatched. The tick cordoned, drained and deleted the other node and
// terminated the instance whose own node still ran its pods. A node that
// names an instance must win over an address match, in any order.
func TestMatchNodesNamedNodeWinsOverAnAddressMatchInAnyOrder(t *testing.T) {
	in := autoscaler.Instance{ID: "i-0a", PrivateIP: "10.0.0.10", PrivateDNS: "ip-10-0-0-10.internal", State: autoscaler.StateRunning}
	own := autoscaler.Node{Name: "worker-a", InstanceID: "i-0a", InternalIP: "10.0.0.10", Ready: true}
	stale := autoscaler.Node{Name: "a-stale-k3s-node", ProviderID: "k3s://a-stale-k3s-node", InternalIP: "10.0.0.10"}
	for _, nodes := range [][]autoscaler.Node{{stale, own}, {own, stale}} {
		by, unmatched := autoscaler.MatchNodes([]autoscaler.Instance{in}, nodes)
		if got := by["i-0a"].Name; got != "worker-a" {
			t.Errorf("nodes %s, %s: i-0a matched to %q, want its labelled node worker-a", nodes[0].Name, nodes[1].Name, got)
		}
		if len(unmatched) != 1 || unmatched[0].Name != stale.Name {
			t.Errorf("nodes %s, %s: unmatched %v, want only %s", nodes[0].Name, nodes[1].Name, unmatched, stale.Name)
		}
	}
}

// Found by internal/chaos: during a control-plane outage every node goes
// NotReady; repair rightly holds (nothing is terminated), but the NotReady
// instances stop counting against MaxNodes, so the floor and the policy
// launch a second fleet on top of them. When the outage ends the fleet is
// far above MaxNodes, and while metrics are bad (safety mode) the ceiling
// cannot bring it down. Config.MinNodes/MaxNodes promise to bound the
// active instances, Ready or booting.
//
// Fixed: MaxNodes bounds every active instance (ghosts and NotReady ones
// awaiting repair included, interrupted ones not); while they fill it the
// floor cannot launch and says so (EventFloorUnmet).
func TestMassNotReadyDoesNotLaunchPastMaxNodes(t *testing.T) {
	e := newEnv(t, 4, func(c *autoscaler.Config) {
		c.MaxNodes = 4
		c.Policy = policy(autoscaler.ScaleUp, 4)
	})
	e.joinAll(t)
	// The outage: every node NotReady for longer than NotReadyTimeout.
	for _, name := range e.nodes.Names() {
		e.nodes.Update(name, func(n *autoscaler.Node) { n.Ready, n.ReadyTransition = false, e.clk.Now() })
	}
	e.clk.Step(e.cfg.NotReadyTimeout + e.cfg.JoinTimeout + time.Minute)
	e.setMetrics(50, 60, 4)
	res := e.tick(t)
	if len(res.Replaced()) != 0 || len(res.Ghosts()) != 0 {
		t.Fatalf("terminated %v %v during a mass NotReady", res.Replaced(), res.Ghosts())
	}
	if got := e.active(); got > e.cfg.MaxNodes {
		t.Errorf("%d active instances after the tick (4 NotReady, %d launched), MaxNodes %d: %s", got, len(res.Launched()), e.cfg.MaxNodes, res)
	}
	if e.kinds()[autoscaler.EventFloorUnmet] != 1 {
		t.Errorf("no floor_unmet alert while the NotReady instances fill MaxNodes: %v", e.notifier.Kinds())
	}
}

// Found by internal/chaos: without the scheduler's view, the no-progress
// rule takes pending pods whose count did not change since the nodes
// launched for them became Ready for pods no node helps, and then lets a
// scale-down through although they are pending. A count that stayed the
// same is not the same pods (one was placed, another arrived). Fixed:
// without the view, pending pods always block a scale-down.
func TestNoScaleDownWhilePendingPodsWhoseCountHappensToStay(t *testing.T) {
	var act autoscaler.Decision
	e := newEnv(t, 3, func(c *autoscaler.Config) {
		c.ScaleDownCooldown = autoscaler.NoCooldown
		c.Policy = autoscaler.PolicyFunc(func(autoscaler.PolicyInput) autoscaler.Decision { return act })
	})
	e.joinAll(t)
	act = autoscaler.Decision{Action: autoscaler.ScaleUp, Count: 1, Reason: "1 pending pod"}
	e.setMetrics(80, 60, 1)
	if res := e.tick(t); len(res.Launched()) != 1 {
		t.Fatalf("first tick: %s, want +1", res)
	}
	e.clk.Step(5 * time.Minute)
	e.joinAll(t)
	// The node came and took the pod; another pod arrived meanwhile.
	act = autoscaler.Decision{Action: autoscaler.ScaleDown, Count: 1, Reason: "a policy that is wrong"}
	e.setMetrics(80, 60, 1)
	res := e.tick(t)
	if len(res.Terminated()) != 0 {
		t.Errorf("scaled down with 1 pending pod a node would help: %s", res)
	}
}
