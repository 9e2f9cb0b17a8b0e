package capacity_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/node-fleet/node-fleet/autoscaler/capacity"
)

// TestPackPendingKeepsZonalPodsInTheirZones: pods that can run only in
// some zones share a new worker only with pods that can run in one of the
// same zones, and each worker says where it must be launched; the view
// carries that for the launch.
func TestPackPendingKeepsZonalPodsInTheirZones(t *testing.T) {
	tpl := capacity.WorkerTemplate{InstanceType: "t3.medium", Allocatable: capacity.Resources{MilliCPU: 2000, Memory: 4 * gi, Pods: 110}}
	pod := func(name string, zones ...string) capacity.PendingPod {
		return capacity.PendingPod{Namespace: "shop", Name: name, Requests: capacity.Resources{MilliCPU: 100, Memory: 64 * mi, Pods: 1}, Zones: zones}
	}
	pods := []capacity.PendingPod{pod("a", "z1"), pod("b", "z2"), pod("c"), pod("d", "z1", "z2")}
	got := capacity.PackPending(tpl, pods)
	type packing struct {
		Workers [][]string
		Zones   [][]string
	}
	want := packing{Workers: [][]string{{"shop/a", "shop/c", "shop/d"}, {"shop/b"}}, Zones: [][]string{{"z1"}, {"z2"}}}
	if diff := cmp.Diff(want, packing{got.Workers, got.Zones}); diff != "" {
		t.Errorf("packing (-want +got):\n%s", diff)
	}
	v := capacity.NewSchedulerView(tpl, capacity.Resources{}, pods)
	if v.NodesNeeded != 2 || len(v.WorkerZones) != 2 {
		t.Errorf("view: %d workers in zones %v, want 2 in z1 and z2", v.NodesNeeded, v.WorkerZones)
	}
	if v := capacity.NewSchedulerView(tpl, capacity.Resources{}, []capacity.PendingPod{pod("c")}); v.WorkerZones != nil {
		t.Errorf("WorkerZones %v for pods any zone takes, want nil", v.WorkerZones)
	}
}
