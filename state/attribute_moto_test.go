package state_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/state"
)

// An extra attribute (ec2fleet's unavailable pools) is written only by a
// Save, under the lease that Save is given: staged, it reads back in this
// process and nowhere else; saved, every process reads it; staged under a
// lease that was lost, it is dropped with the refused Save.
func TestMotoExtraAttributeIsWrittenOnlyBySaveUnderItsLease(t *testing.T) {
	c, table := motoTable(t)
	clk := testingclock.NewFakePassiveClock(t0)
	d := newStore(t, c, table, clk)
	ctx := context.Background()
	type pools struct{ Zones []string }
	load := func(s *state.Dynamo) pools {
		t.Helper()
		var got pools
		if _, err := s.LoadJSON(ctx, "unavailable_pools", &got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if err := d.StageJSON("unavailable_pools", pools{Zones: []string{"eu-west-1a"}}); err != nil {
		t.Fatal(err)
	}
	if got := load(d); len(got.Zones) != 1 {
		t.Errorf("staged value not read back: %+v", got)
	}
	if got := load(newStore(t, c, table, clk)); got.Zones != nil {
		t.Errorf("another process reads %+v before any Save", got)
	}
	// A Save without a lease writes nothing and drops the staged value.
	if err := d.Save(ctx, autoscaler.Lease{Owner: "nobody"}, autoscaler.ClusterState{}); !errors.Is(err, autoscaler.ErrLeaseLost) {
		t.Errorf("save without a lease: %v, want ErrLeaseLost", err)
	}
	if got := load(d); got.Zones != nil {
		t.Errorf("after a refused Save the store still reads %+v", got)
	}

	lease, err := d.Acquire(ctx, "alice", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.StageJSON("unavailable_pools", pools{Zones: []string{"eu-west-1b"}}); err != nil {
		t.Fatal(err)
	}
	if err := d.Save(ctx, lease, autoscaler.ClusterState{NodeCount: 3}); err != nil {
		t.Fatal(err)
	}
	other := newStore(t, c, table, clk)
	if got := load(other); len(got.Zones) != 1 || got.Zones[0] != "eu-west-1b" {
		t.Errorf("another process reads %+v after the Save, want eu-west-1b", got)
	}
	// The state's own saves keep it.
	if err := d.Save(ctx, lease, autoscaler.ClusterState{NodeCount: 4}); err != nil {
		t.Fatal(err)
	}
	if got := load(other); len(got.Zones) != 1 {
		t.Errorf("a second Save lost the extra attribute: %+v", got)
	}

	// Another replica takes the lock after the lease expires: what this
	// store stages under the old lease is never written.
	clk.SetTime(t0.Add(2 * time.Minute))
	if _, err := other.Acquire(ctx, "bob", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := d.StageJSON("unavailable_pools", pools{}); err != nil {
		t.Fatal(err)
	}
	if err := d.Save(ctx, lease, autoscaler.ClusterState{}); !errors.Is(err, autoscaler.ErrLeaseLost) {
		t.Errorf("save under a lost lease: %v, want ErrLeaseLost", err)
	}
	if got := load(other); len(got.Zones) != 1 || got.Zones[0] != "eu-west-1b" {
		t.Errorf("after the lost lease's Save: %+v, want eu-west-1b kept", got)
	}
	var got pools
	if ok, err := d.LoadJSON(ctx, "never_written", &got); ok || err != nil {
		t.Errorf("missing attribute: %v %v", ok, err)
	}
	if _, err := d.LoadJSON(ctx, "Bad Name", &got); err == nil {
		t.Error("bad attribute name accepted")
	}
	if err := d.StageJSON("Bad Name", got); err == nil {
		t.Error("bad attribute name staged")
	}
	if err := d.StageJSON("big", strings.Repeat("x", state.MaxExtraBytes)); err == nil {
		t.Error("an extra attribute over MaxExtraBytes staged")
	}
}

// Every field the state keeps as JSON survives a save and a load, and an
// emptied field is removed.
func TestMotoJSONFieldsRoundTrip(t *testing.T) {
	c, table := motoTable(t)
	d := newStore(t, c, table, testingclock.NewFakePassiveClock(t0))
	ctx := context.Background()
	lease, err := d.Acquire(ctx, "alice", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	st := autoscaler.ClusterState{
		Interruptions: []autoscaler.Interruption{{InstanceID: "i-1", Notice: t0, ReplacedBy: "prod-3-up"}},
		Unplaceable:   []string{"shop/checkout-7"},
		Calendar:      []autoscaler.KnownEvent{{Name: "sale", Start: t0, End: t0.Add(time.Hour), Nodes: 8}},
		Paused:        &autoscaler.Pause{By: "ops", At: t0, Reason: "upgrade"},
		Alerted:       []autoscaler.AlertMark{{Kind: autoscaler.EventFailure, Subjects: "0123456789abcdef", At: t0}},
	}
	if err := d.Save(ctx, lease, st); err != nil {
		t.Fatal(err)
	}
	got, err := d.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got.ClusterID, got.Version = "", 0
	if !got.Interruptions[0].Notice.Equal(t0) || got.Interruptions[0].ReplacedBy != "prod-3-up" || got.Unplaceable[0] != "shop/checkout-7" ||
		got.Calendar[0].Nodes != 8 || got.Paused == nil || got.Paused.Reason != "upgrade" ||
		len(got.Alerted) != 1 || got.Alerted[0].Subjects != "0123456789abcdef" || !got.Alerted[0].At.Equal(t0) {
		t.Errorf("loaded %+v", got)
	}
	if err := d.Save(ctx, lease, autoscaler.ClusterState{}); err != nil {
		t.Fatal(err)
	}
	if got, err := d.Load(ctx); err != nil || got.Paused != nil || len(got.Interruptions)+len(got.Unplaceable)+len(got.Calendar)+len(got.Alerted) != 0 {
		t.Errorf("after emptying: %+v, %v", got, err)
	}
}

// A Save that fails for another reason than a lost lease (throttling)
// keeps what was staged for a retry of that Save, but not past the tick:
// once this store acquires a new lease, another replica may have written
// the attribute since, and the old staged value is neither read back nor
// written over the newer one.
func TestMotoStagedValueOfAnEarlierLeaseIsNotWrittenUnderALaterOne(t *testing.T) {
	c, table := motoTable(t)
	clk := testingclock.NewFakePassiveClock(t0)
	flaky := &timeoutAfterWrite{Client: c}
	a, b := newStore(t, flaky, table, clk), newStore(t, c, table, clk)
	ctx := context.Background()
	type pools struct{ Zones []string }
	load := func(s *state.Dynamo) []string {
		t.Helper()
		var got pools
		if _, err := s.LoadJSON(ctx, "unavailable_pools", &got); err != nil {
			t.Fatal(err)
		}
		return got.Zones
	}
	// Replica a's tick learns zone a and its Save is throttled.
	la, err := a.Acquire(ctx, "a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.StageJSON("unavailable_pools", pools{Zones: []string{"old"}}); err != nil {
		t.Fatal(err)
	}
	flaky.throttle = 1
	if err := a.Save(ctx, la, autoscaler.ClusterState{}); err == nil || errors.Is(err, autoscaler.ErrLeaseLost) {
		t.Fatalf("throttled Save: %v, want a failure that is not ErrLeaseLost", err)
	}
	if err := a.Release(ctx, la); err != nil {
		t.Fatal(err)
	}
	// Replica b's tick learns something newer and saves it.
	lb, err := b.Acquire(ctx, "b", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.StageJSON("unavailable_pools", pools{Zones: []string{"new"}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Save(ctx, lb, autoscaler.ClusterState{}); err != nil {
		t.Fatal(err)
	}
	if err := b.Release(ctx, lb); err != nil {
		t.Fatal(err)
	}
	// Replica a's next tick.
	la2, err := a.Acquire(ctx, "a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got := load(a); len(got) != 1 || got[0] != "new" {
		t.Errorf("replica a's next tick reads %v, want the stored [new]", got)
	}
	if err := a.Save(ctx, la2, autoscaler.ClusterState{}); err != nil {
		t.Fatal(err)
	}
	if got := load(b); len(got) != 1 || got[0] != "new" {
		t.Errorf("after replica a's next Save the item holds %v, want [new]", got)
	}
}
