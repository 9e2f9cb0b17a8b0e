package capacity_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/node-fleet/node-fleet/autoscaler/capacity"
)

// TestScaleDownByFitChecksWherePodsMayGo: beyond CPU and memory, the
// simulation keeps a node whose pods the scheduler could not place on the
// others: by ephemeral storage, the zone of a pod's volume, its node
// affinity and taints (the nodes it may run on), anti-affinity among the
// moved pods, and a zone spread with DoNotSchedule.
func TestScaleDownByFitChecksWherePodsMayGo(t *testing.T) {
	alloc := capacity.Resources{MilliCPU: 2000, Memory: 4 * gi, Pods: 110, EphemeralStorage: 20 * gi}
	worker := func(name, zone string, pods ...capacity.MovablePod) capacity.Node {
		return workerOf(alloc, name, zone, pods...)
	}
	pod := func(key string, opts ...func(*capacity.MovablePod)) capacity.MovablePod {
		p := capacity.MovablePod{Key: key, Requests: capacity.Resources{MilliCPU: 100, Memory: 128 * mi, Pods: 1}}
		for _, o := range opts {
			o(&p)
		}
		return p
	}
	zone := func(z string) func(*capacity.MovablePod) { return func(p *capacity.MovablePod) { p.Zone = z } }
	only := func(nodes ...string) func(*capacity.MovablePod) {
		return func(p *capacity.MovablePod) { p.Nodes = append([]string{}, nodes...) }
	}
	apart := func(p *capacity.MovablePod) { p.Apart = "shop/app=db" }
	spread := func(counts map[string]int) func(*capacity.MovablePod) {
		return func(p *capacity.MovablePod) {
			p.Spread = &capacity.ZoneSpread{Group: "shop/app=web", MaxSkew: 1, Counts: counts}
		}
	}
	disk := func(p *capacity.MovablePod) { p.Requests.EphemeralStorage = 30 * gi }
	tests := []struct {
		name  string
		cand  capacity.Node
		other []capacity.Node
		want  capacity.DrainFit
	}{
		{"ephemeral storage larger than any room", worker("v", "a", pod("shop/big", disk)), []capacity.Node{worker("w", "a")},
			capacity.DrainFit{Node: "v", Reason: "pod shop/big (requesting 0.1 CPU and 128 MiB) fits on none of the 1 remaining node(s)"}},
		{"the last worker of its volume's zone", worker("v", "a", pod("shop/db-0", zone("a"))), []capacity.Node{worker("w", "b")},
			capacity.DrainFit{Node: "v", Reason: "it is the last worker of zone a, where the volume of pod shop/db-0 lives"}},
		{"its volume's zone has another worker", worker("v", "a", pod("shop/db-0", zone("a"))), []capacity.Node{worker("w", "b"), worker("x", "a")},
			capacity.DrainFit{Node: "v", Fits: true}},
		{"node affinity and taints allow no remaining node", worker("v", "a", pod("shop/gpu", only("v"))), []capacity.Node{worker("w", "a")},
			capacity.DrainFit{Node: "v", Reason: "pod shop/gpu (requesting 0.1 CPU and 128 MiB) fits on none of the 1 remaining node(s) (kept off some by node affinity, taints or pod anti-affinity)"}},
		{"node affinity allows one", worker("v", "a", pod("shop/gpu", only("v", "x"))), []capacity.Node{worker("w", "a"), worker("x", "b")},
			capacity.DrainFit{Node: "v", Fits: true}},
		{"two pods kept apart, one node left", worker("v", "a", pod("shop/db-0", apart), pod("shop/db-1", apart)), []capacity.Node{worker("w", "a")},
			capacity.DrainFit{Node: "v", Reason: "pod shop/db-1 (requesting 0.1 CPU and 128 MiB) fits on none of the 1 remaining node(s) (kept off some by pod anti-affinity with another moved pod)"}},
		{"two pods kept apart, two nodes left", worker("v", "a", pod("shop/db-0", apart), pod("shop/db-1", apart)), []capacity.Node{worker("w", "a"), worker("x", "a")},
			capacity.DrainFit{Node: "v", Fits: true}},
		{"zone spread would skew by 2", worker("v", "a", pod("shop/web-0", spread(map[string]int{"a": 1, "b": 1}))), []capacity.Node{worker("w", "b")},
			capacity.DrainFit{Node: "v", Reason: "pod shop/web-0 (requesting 0.1 CPU and 128 MiB) fits on none of the 1 remaining node(s) (kept off some by topology spread over zones)"}},
		{"zone spread kept in the same zone", worker("v", "a", pod("shop/web-0", spread(map[string]int{"a": 1, "b": 1}))), []capacity.Node{worker("w", "b"), worker("x", "a")},
			capacity.DrainFit{Node: "v", Fits: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nodes := append([]capacity.Node{tt.cand}, tt.other...)
			_, got := capacity.ScaleDownByFit([]capacity.Node{tt.cand}, nodes, 1)
			if diff := cmp.Diff([]capacity.DrainFit{tt.want}, got); diff != "" {
				t.Errorf("verdicts (-want +got):\n%s", diff)
			}
		})
	}
}

// TestScaleDownByFitNeverRemovesTheLastWorkerOfAVolumesZone: two workers
// of zone a each run a pod whose EBS volume lives in zone a; a scale-down
// by two may remove one of them, never both, however much room zone b has.
func TestScaleDownByFitNeverRemovesTheLastWorkerOfAVolumesZone(t *testing.T) {
	alloc := capacity.Resources{MilliCPU: 4000, Memory: 16 * gi, Pods: 110}
	worker := func(name, zone string, pods ...capacity.MovablePod) capacity.Node {
		return workerOf(alloc, name, zone, pods...)
	}
	vol := func(key string) capacity.MovablePod {
		return capacity.MovablePod{Key: key, Zone: "a", Requests: capacity.Resources{MilliCPU: 100, Memory: gi, Pods: 1}}
	}
	a1, a2 := worker("a1", "a", vol("db/pg-0")), worker("a2", "a", vol("db/pg-1"))
	b1, b2 := worker("b1", "b"), worker("b2", "b")
	chosen, verdicts := capacity.ScaleDownByFit([]capacity.Node{a1, a2}, []capacity.Node{a1, a2, b1, b2}, 2)
	if len(chosen) != 1 || chosen[0].Name != "a1" {
		t.Errorf("chosen %v, want a1 alone", chosen)
	}
	want := []capacity.DrainFit{
		{Node: "a1", Fits: true},
		{Node: "a2", Reason: "it takes pods of node a1 in this scale-down"},
	}
	if diff := cmp.Diff(want, verdicts); diff != "" {
		t.Errorf("verdicts (-want +got):\n%s", diff)
	}
	// Without a1's move in the way, a2 is refused for its zone.
	_, verdicts = capacity.ScaleDownByFit([]capacity.Node{a2}, []capacity.Node{a2, b1, b2}, 1)
	if diff := cmp.Diff([]capacity.DrainFit{{Node: "a2", Reason: "it is the last worker of zone a, where the volume of pod db/pg-1 lives"}}, verdicts); diff != "" {
		t.Errorf("verdicts (-want +got):\n%s", diff)
	}
}

// workerOf is a Ready node of zone with allocatable alloc running pods,
// each of which a drain would move.
func workerOf(alloc capacity.Resources, name, zone string, pods ...capacity.MovablePod) capacity.Node {
	n := capacity.Node{Name: name, Zone: zone, Ready: true, Allocatable: alloc, Pods: len(pods), MovablePods: pods}
	for _, p := range pods {
		n.Movable = append(n.Movable, p.Requests)
		n.Requested = n.Requested.Add(p.Requests)
	}
	return n
}
