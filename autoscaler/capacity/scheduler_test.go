package capacity_test

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/node-fleet/node-fleet/autoscaler/capacity"
)

const gi = 1 << 30
const mi = 1 << 20

func res(milli, mem int64) capacity.Resources {
	return capacity.Resources{MilliCPU: milli, Memory: mem, Pods: 1}
}

func pending(name string, milli, mem int64) capacity.PendingPod {
	return capacity.PendingPod{Namespace: "shop", Name: name, Requests: res(milli, mem)}
}

func apart(p capacity.PendingPod) capacity.PendingPod {
	p.Apart = "shop/app=db"
	return p
}

// TestPackPendingFirstFitDecreasing checks the new-worker count against
// packings computed by hand (each case's comment shows the work).
func TestPackPendingFirstFitDecreasing(t *testing.T) {
	plain := capacity.WorkerTemplate{InstanceType: "m", Allocatable: capacity.Resources{MilliCPU: 2000, Memory: 8 * gi, Pods: 110}}
	unplaceable := pending("typo", 100, mi)
	unplaceable.Unplaceable = "pod shop/typo: nodeSelector disk=sdd matches no new worker"
	tests := []struct {
		name        string
		tpl         capacity.WorkerTemplate
		pods        []capacity.PendingPod
		wantNodes   int
		wantWorkers [][]string
		wantLeft    []string // Unplaceable reasons
	}{
		{
			// Shares of 2 CPU / 8Gi: a .75, e .75 (memory), b .5, c .5,
			// d .25; order a, e (less CPU), b, c, d.
			// W1: a (0.5 CPU, 7Gi left), e (0, 1Gi). W2: b, c (0, 6Gi).
			// d fits neither: W3. 4.5 CPU in all: 3 is the optimum.
			name: "mixed sizes, too large and unplaceable left out",
			tpl:  plain,
			pods: []capacity.PendingPod{pending("d", 500, gi), pending("b", 1000, gi), pending("big", 6000, gi),
				pending("a", 1500, gi), unplaceable, pending("c", 1000, gi), pending("e", 500, 6*gi)},
			wantNodes:   3,
			wantWorkers: [][]string{{"shop/a", "shop/e"}, {"shop/b", "shop/c"}, {"shop/d"}},
			wantLeft: []string{"pod shop/big requests 6 CPU; a new m worker offers 2",
				"pod shop/typo: nodeSelector disk=sdd matches no new worker"},
		},
		{
			// 4 CPU / 4Gi: c1 .75 (CPU) first, then m1..m3 .5 (memory).
			// W1: c1 (1 CPU, 3.5Gi), m1 (0.9, 1.5Gi); m2 opens W2 (3.9,
			// 2Gi), m3 joins it.
			name: "memory decides",
			tpl:  capacity.WorkerTemplate{InstanceType: "r", Allocatable: capacity.Resources{MilliCPU: 4000, Memory: 4 * gi, Pods: 110}},
			pods: []capacity.PendingPod{pending("m1", 100, 2*gi), pending("m2", 100, 2*gi), pending("m3", 100, 2*gi),
				pending("c1", 3000, 512*mi)},
			wantNodes:   2,
			wantWorkers: [][]string{{"shop/c1", "shop/m1"}, {"shop/m2", "shop/m3"}},
		},
		{
			// 2 CPU minus 0.5 for DaemonSets leaves 1.5: two 0.6 pods a
			// worker, so five pods need 3 (without the DaemonSets, three
			// a worker: 2).
			name: "DaemonSet pods take their share of every new worker",
			tpl: capacity.WorkerTemplate{InstanceType: "t3.medium", Allocatable: capacity.Resources{MilliCPU: 2000, Memory: 4 * gi, Pods: 110},
				DaemonSet: capacity.Resources{MilliCPU: 500, Memory: 512 * mi, Pods: 2}},
			pods:        []capacity.PendingPod{pending("p1", 600, mi), pending("p2", 600, mi), pending("p3", 600, mi), pending("p4", 600, mi), pending("p5", 600, mi)},
			wantNodes:   3,
			wantWorkers: [][]string{{"shop/p1", "shop/p2"}, {"shop/p3", "shop/p4"}, {"shop/p5"}},
		},
		{
			// 5 pod slots, 2 taken by DaemonSets: 3 pods a worker.
			name: "pod slots run out first",
			tpl: capacity.WorkerTemplate{InstanceType: "t", Allocatable: capacity.Resources{MilliCPU: 8000, Memory: 32 * gi, Pods: 5},
				DaemonSet: capacity.Resources{Pods: 2}},
			pods: []capacity.PendingPod{pending("a", 10, mi), pending("b", 10, mi), pending("c", 10, mi), pending("d", 10, mi),
				pending("e", 10, mi), pending("f", 10, mi), pending("g", 10, mi)},
			wantNodes:   3,
			wantWorkers: [][]string{{"shop/a", "shop/b", "shop/c"}, {"shop/d", "shop/e", "shop/f"}, {"shop/g"}},
		},
		{
			name: "the example of the issue",
			tpl:  capacity.WorkerTemplate{InstanceType: "t3.medium", Allocatable: capacity.Resources{MilliCPU: 1930, Memory: 3400 * mi, Pods: 17}},
			pods: []capacity.PendingPod{pending("checkout-7", 6000, 8*gi)},
			wantLeft: []string{"pod shop/checkout-7 requests 6 CPU; a new t3.medium worker offers 1.93; " +
				"and it requests 8 GiB of memory; a new t3.medium worker offers 3.32 GiB"},
		},
		{
			// db-0..2 keep apart: one a worker, though two would fit
			// by size; web fills up the first worker with room.
			// Order: db-0, db-1, db-2 (0.5 CPU), web (0.25).
			name: "pods that keep apart go one to a worker",
			tpl:  plain,
			pods: []capacity.PendingPod{apart(pending("db-0", 500, gi)), apart(pending("db-1", 500, gi)), apart(pending("db-2", 500, gi)),
				pending("web", 250, gi)},
			wantNodes:   3,
			wantWorkers: [][]string{{"shop/db-0", "shop/web"}, {"shop/db-1"}, {"shop/db-2"}},
		},
		{name: "nothing pending", tpl: plain},
		{
			name:     "template not known: nothing is placed",
			tpl:      capacity.WorkerTemplate{InstanceType: "x"},
			pods:     []capacity.PendingPod{pending("a", 0, 0)},
			wantLeft: []string{"pod shop/a needs a pod slot; a new x worker has 0 left after its DaemonSet pods"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := capacity.PackPending(tt.tpl, tt.pods)
			var left []string
			for _, p := range got.Left {
				left = append(left, p.Unplaceable)
			}
			type packing struct {
				Nodes   int
				Workers [][]string
				Left    []string
			}
			if diff := cmp.Diff(packing{tt.wantNodes, tt.wantWorkers, tt.wantLeft}, packing{got.Nodes, got.Workers, left}); diff != "" {
				t.Errorf("packing (-want +got):\n%s", diff)
			}
		})
	}
}

func node(name string, alloc, requested capacity.Resources, movable ...capacity.Resources) capacity.Node {
	return capacity.Node{Name: name, Ready: true, Allocatable: alloc, Requested: requested, Movable: movable, Pods: len(movable)}
}

// TestScaleDownByFit simulates removals by hand-checked placements.
func TestScaleDownByFit(t *testing.T) {
	alloc := capacity.Resources{MilliCPU: 2000, Memory: 4 * gi, Pods: 110}
	used := func(milli, mem, pods int64) capacity.Resources {
		return capacity.Resources{MilliCPU: milli, Memory: mem, Pods: pods}
	}
	// Room: a 0.2 CPU / 2Gi, c 1 CPU / 3Gi (d cordoned and e NotReady
	// take nothing).
	a := node("a", alloc, used(1800, 2*gi, 5), res(900, gi), res(900, gi))
	b := node("b", alloc, used(500, gi, 2), res(300, 512*mi), res(200, 512*mi))
	c := node("c", alloc, used(1000, gi, 3), res(1000, gi))
	d := node("d", alloc, used(0, 0, 0))
	d.Unschedulable = true
	e := node("e", alloc, used(0, 0, 0))
	e.Ready = false
	empty := node("empty", alloc, used(100, 0, 1)) // a DaemonSet pod only
	blocked := node("blocked", alloc, used(100, 0, 1), res(100, mi))
	blocked.ScaleDownBlocker = "pod shop/db-0 has node-local storage"
	unknown := node("unknown", capacity.Resources{}, capacity.Resources{})
	unknown.Pods = 2
	heavy := node("heavy", alloc, used(1500, gi, 1), res(1500, 512*mi))
	all := []capacity.Node{a, b, c, d, e, empty, blocked, unknown, heavy}

	// Room on the nodes that take pods: a 0.2 CPU, b 1.5, c 1, empty
	// 1.9, blocked 1.9, heavy 0.5 (memory and slots are plenty); d is
	// cordoned, e NotReady, unknown has no allocatable: they take none.
	tests := []struct {
		name       string
		candidates []capacity.Node
		nodes      []capacity.Node // default all
		limit      int
		want       []capacity.DrainFit
	}{
		{
			// empty has nothing to move. b's pods, larger first: 0.3
			// does not fit a (0.2) but c (1); 0.2 fits a. a and c now
			// hold b's pods, so they stay.
			name:       "each removal uses up the room it moves into",
			candidates: []capacity.Node{empty, blocked, unknown, b, c, a},
			limit:      5,
			want: []capacity.DrainFit{
				{Node: "empty", Fits: true},
				{Node: "blocked", Reason: "pod shop/db-0 has node-local storage"},
				{Node: "unknown", Reason: "the requests of its 2 pod(s) are not known"},
				{Node: "b", Fits: true},
				{Node: "c", Reason: "it takes pods of node b in this scale-down"},
				{Node: "a", Reason: "it takes pods of node b in this scale-down"},
			},
		},
		{
			// heavy's 1.5 CPU pod: not on a (0.2), on b (1.5); then b
			// holds it and stays.
			name:       "a big pod goes where there is room",
			candidates: []capacity.Node{heavy, b},
			limit:      2,
			want: []capacity.DrainFit{
				{Node: "heavy", Fits: true},
				{Node: "b", Reason: "it takes pods of node heavy in this scale-down"},
			},
		},
		{
			// Only a (0.2) and c (1) remain for heavy's 1.5 CPU pod.
			name:       "a pod that fits nowhere keeps its node",
			candidates: []capacity.Node{heavy},
			nodes:      []capacity.Node{a, c, heavy, d, e},
			limit:      1,
			want:       []capacity.DrainFit{{Node: "heavy", Reason: "a pod requesting 1.5 CPU and 512 MiB fits on none of the 2 remaining node(s)"}},
		},
		{
			name:       "the limit stops the loop",
			candidates: []capacity.Node{empty, b, c},
			limit:      1,
			want:       []capacity.DrainFit{{Node: "empty", Fits: true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nodes := all
			if tt.nodes != nil {
				nodes = tt.nodes
			}
			chosen, verdicts := capacity.ScaleDownByFit(tt.candidates, nodes, tt.limit)
			if diff := cmp.Diff(tt.want, verdicts); diff != "" {
				t.Errorf("verdicts (-want +got):\n%s", diff)
			}
			var names, want []string
			for _, n := range chosen {
				names = append(names, n.Name)
			}
			for _, v := range tt.want {
				if v.Fits {
					want = append(want, v.Node)
				}
			}
			if diff := cmp.Diff(want, names); diff != "" {
				t.Errorf("chosen (-want +got):\n%s", diff)
			}
		})
	}
}

// Five pending pods on t3.medium workers whose DaemonSets take 0.2 CPU:
// two new workers, and the pod no worker can hold is named.
func ExamplePackPending() {
	tpl := capacity.WorkerTemplate{
		InstanceType: "t3.medium",
		Allocatable:  capacity.Resources{MilliCPU: 1930, Memory: 3400 << 20, Pods: 17},
		DaemonSet:    capacity.Resources{MilliCPU: 200, Memory: 256 << 20, Pods: 2},
	}
	pod := func(name string, milli, mib int64) capacity.PendingPod {
		return capacity.PendingPod{Namespace: "shop", Name: name, Requests: capacity.Resources{MilliCPU: milli, Memory: mib << 20, Pods: 1}}
	}
	p := capacity.PackPending(tpl, []capacity.PendingPod{
		pod("web-1", 500, 512), pod("web-2", 500, 512), pod("web-3", 500, 512),
		pod("api-1", 1000, 1024), pod("checkout-7", 6000, 1024),
	})
	fmt.Println(p.Nodes, "new workers:", p.Workers)
	for _, l := range p.Left {
		fmt.Println(l.Unplaceable)
	}
	fmt.Printf("demand %.2f workers\n", tpl.Units(capacity.Resources{MilliCPU: 2500, Memory: 2560 << 20}))
	// Output:
	// 2 new workers: [[shop/api-1 shop/web-1] [shop/web-2 shop/web-3]]
	// pod shop/checkout-7 requests 6 CPU; a new t3.medium worker offers 1.73
	// demand 1.45 workers
}

// BenchmarkPackPending packs 2000 pending pods of four sizes onto
// t3.medium workers (a flash sale's worth).
func BenchmarkPackPending(b *testing.B) {
	tpl := capacity.WorkerTemplate{InstanceType: "t3.medium", Allocatable: capacity.Resources{MilliCPU: 1930, Memory: 3584 * mi, Pods: 110}}
	var pods []capacity.PendingPod
	for i := range 2000 {
		pods = append(pods, pending(fmt.Sprintf("p-%d", i), int64(100+250*(i%4)), int64(128+256*(i%3))*mi))
	}
	var n int
	for b.Loop() {
		n = capacity.PackPending(tpl, pods).Nodes
	}
	b.ReportMetric(float64(n), "workers")
}

// BenchmarkScaleDownByFit simulates removing up to 10 of 200 nodes, each
// with 10 pods to move.
func BenchmarkScaleDownByFit(b *testing.B) {
	alloc := capacity.Resources{MilliCPU: 4000, Memory: 16 * gi, Pods: 110}
	var nodes []capacity.Node
	for i := range 200 {
		var movable []capacity.Resources
		for j := range 10 {
			movable = append(movable, res(int64(50+10*j), 128*mi))
		}
		nodes = append(nodes, node(fmt.Sprintf("n-%03d", i), alloc, capacity.Resources{MilliCPU: 1000 + int64(i%20)*100, Memory: 4 * gi, Pods: 10}, movable...))
	}
	var chosen int
	for b.Loop() {
		c, _ := capacity.ScaleDownByFit(nodes, nodes, 10)
		chosen = len(c)
	}
	b.ReportMetric(float64(chosen), "chosen")
}

// TestNewSchedulerView: the view marks the pods too large, packs the
// placeable ones and counts demand from the running and placeable pods
// only, leaving its input as it was.
func TestNewSchedulerView(t *testing.T) {
	tpl := capacity.WorkerTemplate{InstanceType: "m", Allocatable: capacity.Resources{MilliCPU: 2000, Memory: 8 * gi, Pods: 110}}
	typo := pending("typo", 100, mi)
	typo.Unplaceable = "pod shop/typo: nodeSelector"
	preempting := pending("vip", 1000, gi)
	preempting.Nominated = "ip-10-0-1-5"
	in := []capacity.PendingPod{pending("a", 1500, gi), pending("b", 500, gi), pending("big", 3000, gi), typo, preempting}
	v := capacity.NewSchedulerView(tpl, res(1000, 2*gi), in)
	var reasons []string
	for _, p := range v.Pending {
		reasons = append(reasons, p.Unplaceable)
	}
	// a and b fill one worker (2 CPU); vip waits for its nominated node
	// but is demand: (1 + 1.5 + 0.5 + 1) CPU / 2 = 2 against (2 + 1 + 1
	// + 1) Gi / 8 = 0.625.
	type view struct {
		Reasons     []string
		NodesNeeded int
		Demand      float64
		InputBig    string
	}
	want := view{[]string{"", "", "pod shop/big requests 3 CPU; a new m worker offers 2", "pod shop/typo: nodeSelector", ""}, 1, 2, ""}
	if diff := cmp.Diff(want, view{reasons, v.NodesNeeded, v.Demand, in[2].Unplaceable}); diff != "" {
		t.Errorf("view (-want +got):\n%s", diff)
	}
	var placeable, unplaceable []string
	for _, p := range v.Placeable() {
		placeable = append(placeable, p.Name)
	}
	for _, p := range v.Unplaceable() {
		unplaceable = append(unplaceable, p.Name)
	}
	if diff := cmp.Diff([][]string{{"a", "b"}, {"big", "typo"}}, [][]string{placeable, unplaceable}); diff != "" {
		t.Errorf("placeable, unplaceable (-want +got):\n%s", diff)
	}
	for booting, want := range []int{1, 0, 0} {
		if got := v.ToLaunch(booting); got != want {
			t.Errorf("ToLaunch(%d) = %d, want %d", booting, got, want)
		}
	}
}
