package fake_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
	clocktesting "k8s.io/utils/clock/testing"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func TestStoreLockAndFencing(t *testing.T) {
	ctx := context.Background()
	clk := clocktesting.NewFakeClock(t0)
	s := fake.NewStore(clk)
	a, err := s.Acquire(ctx, "a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Acquire(ctx, "b", time.Minute); !errors.Is(err, autoscaler.ErrLockHeld) {
		t.Fatalf("contended acquire: %v", err)
	}
	clk.Step(time.Minute)
	b, err := s.Acquire(ctx, "b", time.Minute)
	if err != nil || !b.TookOver || b.PreviousOwner != "a" || b.Token <= a.Token {
		t.Fatalf("takeover: %+v %v", b, err)
	}
	if err := s.Save(ctx, a, autoscaler.ClusterState{NodeCount: 9}); !errors.Is(err, autoscaler.ErrLeaseLost) {
		t.Errorf("stale writer: %v", err)
	}
	if err := s.Release(ctx, a); err != nil {
		t.Errorf("releasing a lost lease: %v", err)
	}
	if s.Holder() != "b" {
		t.Errorf("stale release freed b's lock")
	}
	if err := s.Save(ctx, b, autoscaler.ClusterState{NodeCount: 4}); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Load(ctx); st.NodeCount != 4 || st.Version != b.Token {
		t.Errorf("state %+v", st)
	}
}

func TestFleetLaunchIsIdempotent(t *testing.T) {
	ctx := context.Background()
	clk := clocktesting.NewFakeClock(t0)
	f := fake.NewFleet(clk)
	f.BootDelay = time.Minute
	first, err := f.Launch(ctx, autoscaler.LaunchRequest{OperationID: "op", Count: 2})
	if err != nil || len(first) != 2 || first[0].State != autoscaler.StatePending {
		t.Fatalf("launch: %v %v", first, err)
	}
	again, err := f.Launch(ctx, autoscaler.LaunchRequest{OperationID: "op", Count: 2})
	if err != nil || len(again) != 2 || again[0].ID != first[0].ID {
		t.Fatalf("retry launched again: %v %v", again, err)
	}
	if launched, _ := f.Counts(); launched != 2 {
		t.Errorf("launched %d", launched)
	}
	clk.Step(time.Minute)
	list, _ := f.List(ctx)
	if list[0].State != autoscaler.StateRunning {
		t.Errorf("state after boot delay: %s", list[0].State)
	}
}

// A test of your own code that needs a FleetProvider failing for capacity.
func ExampleFleet() {
	clk := clocktesting.NewFakeClock(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	fleet := fake.NewFleet(clk)
	fleet.SetCapacity(1)
	got, err := fleet.Launch(context.Background(), autoscaler.LaunchRequest{OperationID: "op-1", Count: 3})
	fmt.Println(len(got), errors.Is(err, autoscaler.ErrInsufficientCapacity))
	fmt.Println(fleet.Calls())
	// Output:
	// 1 true
	// [Launch(op-1, 3)]
}

// The core trims the history in place; under ShareHistory the store shares
// the history with the tick, so a tick must never write to the stored copy.
func TestSharedHistoryIsNotWrittenThroughByATick(t *testing.T) {
	s := fake.NewStore(clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	s.ShareHistory = true
	ctx := context.Background()
	l, err := s.Acquire(ctx, "a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	h := make([]autoscaler.Record, 3, 10) // spare capacity, as after trims
	for i := range h {
		h[i].Nodes = i
	}
	if err := s.Save(ctx, l, autoscaler.ClusterState{History: h}); err != nil {
		t.Fatal(err)
	}
	st, _ := s.Load(ctx)
	// What the tick does: append, then trim in place to the limit.
	st.History = append(st.History, autoscaler.Record{Nodes: 3})
	n := copy(st.History, st.History[1:])
	st.History = st.History[:n]
	again, _ := s.Load(ctx)
	for i, r := range again.History {
		if r.Nodes != i {
			t.Fatalf("stored history changed by a tick that did not save: %+v", again.History)
		}
	}
}

func TestFleetPlacer(t *testing.T) {
	ctx := context.Background()
	f := fake.NewFleet(clocktesting.NewFakeClock(t0))
	var asked []int
	f.Placer = func(req autoscaler.LaunchRequest, n int) []fake.Placement {
		asked = append(asked, n)
		if req.OperationID == "short" {
			return []fake.Placement{{Zone: "z1", Market: autoscaler.MarketOnDemand, InstanceType: "c5.large"}}
		}
		out := make([]fake.Placement, n)
		for i := range out {
			out[i] = fake.Placement{Zone: "z2", Market: autoscaler.MarketSpot, InstanceType: "t3a.medium"}
		}
		return out
	}
	got, err := f.Launch(ctx, autoscaler.LaunchRequest{OperationID: "ok", Count: 2})
	if err != nil || len(got) != 2 {
		t.Fatalf("launch: %v, %d instances", err, len(got))
	}
	for _, in := range got {
		if in.Zone != "z2" || in.Market != autoscaler.MarketSpot || in.InstanceType != "t3a.medium" {
			t.Errorf("instance not where the Placer put it: %+v", in)
		}
	}
	// Again: nothing is missing, the Placer is not asked.
	if _, err := f.Launch(ctx, autoscaler.LaunchRequest{OperationID: "ok", Count: 2}); err != nil {
		t.Fatal(err)
	}
	got, err = f.Launch(ctx, autoscaler.LaunchRequest{OperationID: "short", Count: 3})
	if !errors.Is(err, autoscaler.ErrInsufficientCapacity) || len(got) != 1 || got[0].InstanceType != "c5.large" {
		t.Fatalf("a Placer short of capacity: %v, %+v", err, got)
	}
	if fmt.Sprint(asked) != "[2 3]" {
		t.Errorf("Placer asked for %v, want [2 3]", asked)
	}
	lives := f.Lifetimes()
	if len(lives) != 3 || lives[2].InstanceType != "c5.large" || lives[2].Zone != "z1" || lives[2].Market != autoscaler.MarketOnDemand {
		t.Errorf("lifetimes do not carry the pool: %+v", lives)
	}
}

// As in a cluster, what outlives a deleted Node is its PersistentVolumes
// (pinned to its name by their node affinity): its pods' hostPath
// volumes are known only through the pods, which the pod garbage
// collector deletes with the Node, so PinnedData reports only the
// volumes. Live nodes' hostPath data is reported by ListNodes, not here.
func TestPinnedDataIsAVolumeOfADeletedNodeNeverItsPodsHostPath(t *testing.T) {
	nodes := fake.NewNodes(clocktesting.NewFakeClock(t0), nil)
	nodes.Add(autoscaler.Node{Name: "n1", LocalData: []string{
		"PersistentVolume pvc-db-0 (claim shop/data-db-0, local-path)", "hostPath /srv/import of pod a/import-1"}})
	nodes.Add(autoscaler.Node{Name: "n2", LocalData: []string{"hostPath /srv/backup of pod a/backup-1"}})
	if err := nodes.DeleteNode(context.Background(), "n1"); err != nil {
		t.Fatal(err)
	}
	got, err := nodes.PinnedData(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"n1": {"PersistentVolume pvc-db-0 (claim shop/data-db-0, local-path)"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("pinned data %v, want %v", got, want)
	}
}
