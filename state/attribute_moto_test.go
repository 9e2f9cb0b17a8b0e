package state_test

import (
	"context"
	"errors"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// An extra attribute (ec2fleet's unavailable pools) is written only under
// the store's current lease, survives the state's own saves, and reads back.
func TestMotoExtraAttributeIsFencedAndKept(t *testing.T) {
	c, table := motoTable(t)
	clk := testingclock.NewFakePassiveClock(t0)
	d := newStore(t, c, table, clk)
	ctx := context.Background()
	type pools struct{ Zones []string }
	if err := d.SaveJSON(ctx, "unavailable_pools", pools{Zones: []string{"a"}}); !errors.Is(err, autoscaler.ErrLeaseLost) {
		t.Errorf("save without a lease: %v, want ErrLeaseLost", err)
	}
	lease, err := d.Acquire(ctx, "alice", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SaveJSON(ctx, "unavailable_pools", pools{Zones: []string{"eu-west-1a"}}); err != nil {
		t.Fatal(err)
	}
	if err := d.Save(ctx, lease, autoscaler.ClusterState{NodeCount: 3}); err != nil {
		t.Fatal(err)
	}
	var got pools
	if ok, err := d.LoadJSON(ctx, "unavailable_pools", &got); err != nil || !ok || len(got.Zones) != 1 || got.Zones[0] != "eu-west-1a" {
		t.Errorf("load: %v %v %+v", ok, err, got)
	}
	// Another replica takes the lock after the lease expires: this
	// store's writes are refused.
	clk.SetTime(t0.Add(2 * time.Minute))
	other := newStore(t, c, table, clk)
	if _, err := other.Acquire(ctx, "bob", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := d.SaveJSON(ctx, "unavailable_pools", pools{}); !errors.Is(err, autoscaler.ErrLeaseLost) {
		t.Errorf("save under a lost lease: %v, want ErrLeaseLost", err)
	}
	if ok, err := d.LoadJSON(ctx, "never_written", &got); ok || err != nil {
		t.Errorf("missing attribute: %v %v", ok, err)
	}
	if _, err := d.LoadJSON(ctx, "Bad Name", &got); err == nil {
		t.Error("bad attribute name accepted")
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
		got.Calendar[0].Nodes != 8 || got.Paused == nil || got.Paused.Reason != "upgrade" {
		t.Errorf("loaded %+v", got)
	}
	if err := d.Save(ctx, lease, autoscaler.ClusterState{}); err != nil {
		t.Fatal(err)
	}
	if got, err := d.Load(ctx); err != nil || got.Paused != nil || len(got.Interruptions)+len(got.Unplaceable)+len(got.Calendar) != 0 {
		t.Errorf("after emptying: %+v, %v", got, err)
	}
}
