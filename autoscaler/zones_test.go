package autoscaler_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/capacity"
)

// A launch says where: the zones every placeable pending pod that needs
// one can run in, and the fleet's workers per zone for the provider to
// spread over.
func TestLaunchCarriesZonesAndTheFleetsZoneCounts(t *testing.T) {
	pod := func(name string, zones ...string) capacity.PendingPod {
		return capacity.PendingPod{Namespace: "shop", Name: name, Requests: capacity.Resources{MilliCPU: 500, Memory: 1 << 30, Pods: 1}, Zones: zones}
	}
	tests := []struct {
		name      string
		pods      []capacity.PendingPod
		wantZones []string
	}{
		{"no pod needs a zone: anywhere", []capacity.PendingPod{pod("a"), pod("b")}, nil},
		{"pods needing zones agree: their zone", []capacity.PendingPod{pod("a", "b", "a"), pod("b", "b"), pod("c")}, []string{"b"}},
		{"pods needing zones disagree: anywhere", []capacity.PendingPod{pod("a", "a"), pod("b", "b")}, nil},
		{"an unplaceable pod's zone does not count", []capacity.PendingPod{pod("a", "a"), {Name: "huge", Zones: []string{"c"}, Unplaceable: "too large"}}, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ins, nodes := zonedFleet(3, "a", "a", "b")
			snap := snapshot(50, float64(len(tt.pods)))
			snap.Scheduler = &capacity.SchedulerView{NodesNeeded: 1, Pending: tt.pods}
			p := planOf(t, autoscaler.Config{Policy: policy(autoscaler.ScaleUp, 1)},
				autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snap})
			if len(p.Steps) != 1 || p.Steps[0].Kind != autoscaler.StepLaunch {
				t.Fatalf("steps %v, want one launch", stepKinds(p))
			}
			if d := cmp.Diff(tt.wantZones, p.Steps[0].Zones); d != "" {
				t.Errorf("zones (-want +got):\n%s", d)
			}
			if d := cmp.Diff(map[string]int{"a": 2, "b": 1}, p.Steps[0].ZoneCounts); d != "" {
				t.Errorf("zone counts (-want +got):\n%s", d)
			}
		})
	}
}

// requestFleet records the LaunchRequests it is given.
type requestFleet struct {
	autoscaler.FleetProvider
	requests []autoscaler.LaunchRequest
}

func (r *requestFleet) Launch(ctx context.Context, req autoscaler.LaunchRequest) ([]autoscaler.Instance, error) {
	r.requests = append(r.requests, req)
	return r.FleetProvider.Launch(ctx, req)
}

// The executor passes the launch step's zones to the FleetProvider.
func TestExecutorPassesWhereToTheProvider(t *testing.T) {
	rf := &requestFleet{}
	e := newEnv(t, 2, func(c *autoscaler.Config) {
		rf.FleetProvider = c.Fleet
		c.Fleet = rf
	})
	e.joinAll(t)
	now := e.clk.Now()
	e.metrics.Set(autoscaler.Snapshot{Time: now, CPU: autoscaler.Value(50, now), Memory: autoscaler.Value(50, now), PendingPods: autoscaler.Value(1, now),
		Scheduler: &capacity.SchedulerView{NodesNeeded: 1, Pending: []capacity.PendingPod{
			{Namespace: "shop", Name: "db-0", Requests: capacity.Resources{MilliCPU: 500, Pods: 1}, Zones: []string{"zone-b"}}}}})
	e.tick(t)
	if len(rf.requests) != 1 {
		t.Fatalf("%d launch requests, want 1", len(rf.requests))
	}
	req := rf.requests[0]
	if d := cmp.Diff([]string{"zone-b"}, req.Zones); d != "" {
		t.Errorf("zones (-want +got):\n%s", d)
	}
	if d := cmp.Diff(map[string]int{"zone-a": 1, "zone-b": 1}, req.ZoneCounts); d != "" {
		t.Errorf("zone counts (-want +got):\n%s", d)
	}
}

// A scale-down keeps the zones balanced counting every worker of a zone,
// also those it must keep (node-local data, scale-down-disabled): with
// zone a at three workers, two of them kept, and zone b at two, the
// victim is a's removable one (2 and 2), not one of b's (3 and 1).
func TestScaleDownBalancesZonesCountingTheWorkersItKeeps(t *testing.T) {
	ins, nodes := readyFleet(5)
	zones := []string{"a", "a", "a", "b", "b"}
	for i := range ins {
		ins[i].Zone, nodes[i].Zone = zones[i], zones[i]
	}
	nodes[0].LocalData = []string{"PersistentVolume pvc-db (claim shop/data-db-0, a hostPath volume)"}
	nodes[1].ScaleDownDisabled = true
	p := planOf(t, autoscaler.Config{Policy: policy(autoscaler.ScaleDown, 1)},
		autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snapshot(10, 0)})
	var victims []string
	for _, s := range p.Steps {
		if s.Kind == autoscaler.StepScaleDown {
			victims = append(victims, s.InstanceID)
		}
	}
	if diff := cmp.Diff([]string{ins[2].ID}, victims); diff != "" {
		t.Errorf("victims (-want +got):\n%s\nverdicts %v", diff, p.Verdicts)
	}
}

// An agent that registered again under a new name leaves its old Node,
// NotReady, naming the same instance; the local-path volumes pinned to
// the old name are still on that instance's disk. The instance is not
// removed by scale-down, and the old Node, which alone says where that
// data is, is not deleted as an orphan.
func TestStaleNodeOfAnInstanceKeepsItsLocalData(t *testing.T) {
	ins, nodes := readyFleet(3)
	for i := range nodes {
		nodes[i].Cluster = "prod"
	}
	stale := autoscaler.Node{Name: "old-" + ins[0].ID, InstanceID: ins[0].ID, Cluster: "prod", Managed: true,
		Created: t0.Add(-2 * time.Hour), ReadyTransition: t0.Add(-time.Hour),
		LocalData: []string{"PersistentVolume pvc-db (claim shop/data-db-0, a hostPath volume)"}}
	nodes[0].Created = t0.Add(-30 * time.Minute)
	nodes = append(nodes, stale)
	p := planOf(t, autoscaler.Config{ClusterID: "prod", Policy: policy(autoscaler.ScaleDown, 2), MinNodes: 1},
		autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snapshot(10, 0)})
	for _, s := range p.Steps {
		if (s.Kind == autoscaler.StepScaleDown && s.InstanceID == ins[0].ID) || (s.Kind == autoscaler.StepDeleteOrphan && s.NodeName == stale.Name) {
			t.Errorf("step %s %s %s, though the instance holds the stale node's local data; steps %v", s.Kind, s.InstanceID, s.NodeName, stepKinds(p))
		}
	}
}
