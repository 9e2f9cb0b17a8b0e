package sim

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
	"k8s.io/utils/clock"
)

// nodes is the simulator's NodeManager: every active instance of the fleet
// becomes a Ready node when it starts running; a node whose instance is
// gone (terminated, reclaimed) turns NotReady until it is deleted.
//
// It behaves as fake.Nodes does with a fleet attached, but costs time in
// the number of live instances: fake.Nodes lists every instance ever
// launched, terminated ones included, and sorts them on every call, which
// made a month in daemon mode take half a minute.
type nodes struct {
	clock clock.PassiveClock
	fleet *fleet
	known map[string]*autoscaler.Node
	gone  map[string]bool // deleted nodes never come back
}

func newNodes(clk clock.PassiveClock, fl *fleet) *nodes {
	return &nodes{clock: clk, fleet: fl, known: map[string]*autoscaler.Node{}, gone: map[string]bool{}}
}

func (n *nodes) sync(ctx context.Context) error {
	now := n.clock.Now()
	ins, err := n.fleet.List(ctx)
	if err != nil {
		return err
	}
	alive := make(map[string]bool, len(ins))
	for _, in := range ins {
		name := fake.NodeName(in.ID)
		alive[name] = true
		if _, ok := n.known[name]; ok || n.gone[name] {
			continue
		}
		if in.State != autoscaler.StateRunning {
			continue
		}
		at := n.fleet.RunningSince(in.ID)
		n.known[name] = &autoscaler.Node{
			Name: name, ProviderID: "aws:///" + in.Zone + "/" + in.ID, InstanceID: in.ID,
			InternalIP: in.PrivateIP, Hostname: in.PrivateDNS, Ready: true,
			ReadyTransition: at, Created: at, Managed: true,
		}
	}
	for name, node := range n.known {
		if !alive[name] && node.Ready {
			node.Ready, node.ReadyTransition = false, now
		}
	}
	return nil
}

// ListNodes implements autoscaler.NodeManager.
func (n *nodes) ListNodes(ctx context.Context) ([]autoscaler.Node, error) {
	if err := n.sync(ctx); err != nil {
		return nil, fmt.Errorf("sim nodes: %w", err)
	}
	out := make([]autoscaler.Node, 0, len(n.known))
	for _, node := range n.known {
		out = append(out, *node)
	}
	slices.SortFunc(out, func(a, b autoscaler.Node) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (n *nodes) setCordon(name string, v bool) error {
	node, ok := n.known[name]
	if !ok {
		return fmt.Errorf("sim nodes: %s: %w", name, autoscaler.ErrNotFound)
	}
	node.Unschedulable = v
	return nil
}

// Cordon implements autoscaler.NodeManager; ErrNotFound for an unknown node.
func (n *nodes) Cordon(ctx context.Context, name string) error { return n.setCordon(name, true) }

// Uncordon implements autoscaler.NodeManager; ErrNotFound for an unknown node.
func (n *nodes) Uncordon(ctx context.Context, name string) error { return n.setCordon(name, false) }

// Drain empties a cordoned node at once: the model moves its pods.
func (n *nodes) Drain(ctx context.Context, name string) error {
	node, ok := n.known[name]
	if !ok {
		return fmt.Errorf("sim nodes: drain %s: %w", name, autoscaler.ErrNotFound)
	}
	if !node.Unschedulable {
		return fmt.Errorf("sim nodes: drain of %s, which is not cordoned", name)
	}
	node.Pods = 0
	return nil
}

// DeleteNode implements autoscaler.NodeManager; a deleted node never returns.
func (n *nodes) DeleteNode(ctx context.Context, name string) error {
	delete(n.known, name)
	n.gone[name] = true
	return nil
}
