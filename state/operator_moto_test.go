package state_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/state"
)

// Unlock refuses a valid lease, releases it when forced, records who did
// it, and fences the holder out: its Save is refused and its Release is a
// no-op. An expired lease needs no force.
func TestMotoUnlock(t *testing.T) {
	c, table := motoTable(t)
	clk := testingclock.NewFakePassiveClock(t0)
	d := newStore(t, c, table, clk)
	ctx := context.Background()

	if _, err := d.Unlock(ctx, "ops", false); !errors.Is(err, state.ErrNotLocked) {
		t.Fatalf("unlocking a free lock: %v, want ErrNotLocked", err)
	}
	lease, err := d.Acquire(ctx, "daemon-a", 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := d.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := state.LockStatus{Owner: "daemon-a", Expires: t0.Add(5 * time.Minute), Token: lease.Token, Held: true}
	if diff := cmp.Diff(want, ls); diff != "" {
		t.Errorf("lock status (-want +got):\n%s", diff)
	}
	_, err = d.Unlock(ctx, "ops", false)
	if !errors.Is(err, autoscaler.ErrLockHeld) || !strings.Contains(err.Error(), `"daemon-a"`) || !strings.Contains(err.Error(), "2026-03-01T12:05:00Z") {
		t.Fatalf("unlocking a valid lease without force: %v, want ErrLockHeld naming the holder and the expiry", err)
	}
	u, err := d.Unlock(ctx, "ops", true)
	if err != nil {
		t.Fatal(err)
	}
	wantU := state.Unlock{By: "ops", At: t0, Owner: "daemon-a", Token: lease.Token, Expires: t0.Add(5 * time.Minute), Forced: true}
	if diff := cmp.Diff(wantU, u); diff != "" {
		t.Errorf("unlock (-want +got):\n%s", diff)
	}
	ls, err = d.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ls.Owner != "" || ls.Held || ls.LastUnlock == nil || *ls.LastUnlock != wantU {
		t.Errorf("after a forced unlock: %+v, want a free lock that records %+v", ls, wantU)
	}
	if err := d.Save(ctx, lease, autoscaler.ClusterState{NodeCount: 9}); !errors.Is(err, autoscaler.ErrLeaseLost) {
		t.Errorf("the unlocked holder's Save: %v, want ErrLeaseLost", err)
	}
	if err := d.Release(ctx, lease); err != nil {
		t.Errorf("the unlocked holder's Release: %v", err)
	}

	// An expired lease is released without force.
	l2, err := d.Acquire(ctx, "daemon-b", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if l2.Token <= lease.Token+1 {
		t.Errorf("token after unlock and acquire %d, want more than %d (unlock advances it)", l2.Token, lease.Token+1)
	}
	clk.SetTime(t0.Add(2 * time.Minute))
	u, err = d.Unlock(ctx, "ops2", false)
	if err != nil {
		t.Fatalf("unlocking an expired lease: %v", err)
	}
	if u.Forced || u.Owner != "daemon-b" || u.By != "ops2" {
		t.Errorf("unlock of an expired lease: %+v", u)
	}
}

// Update changes the state under the lock, keeps the rest, and refuses
// while another owner holds the lock; history records keep their hold code.
func TestMotoUpdatePauseAndHistoryHold(t *testing.T) {
	c, table := motoTable(t)
	clk := testingclock.NewFakePassiveClock(t0)
	d := newStore(t, c, table, clk)
	ctx := context.Background()
	lease, err := d.Acquire(ctx, "tick", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	hist := []autoscaler.Record{{Time: t0, CPU: 10, Memory: math.NaN(), PendingPods: 0, Nodes: 3, Instances: 3, Action: autoscaler.Hold, Hold: autoscaler.HoldCooldown}}
	if err := d.Save(ctx, lease, autoscaler.ClusterState{NodeCount: 3, History: hist}); err != nil {
		t.Fatal(err)
	}
	pause := &autoscaler.Pause{By: "alice", At: t0, Reason: "kernel upgrade"}
	set := func(st *autoscaler.ClusterState) error { st.Paused = pause; return nil }
	if err := d.Update(ctx, "nodefleet-alice", time.Minute, set); !errors.Is(err, autoscaler.ErrLockHeld) {
		t.Fatalf("Update while a tick holds the lock: %v, want ErrLockHeld", err)
	}
	if err := d.Release(ctx, lease); err != nil {
		t.Fatal(err)
	}
	if err := d.Update(ctx, "nodefleet-alice", time.Minute, set); err != nil {
		t.Fatal(err)
	}
	got, err := d.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(pause, got.Paused); diff != "" {
		t.Errorf("pause (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(hist, got.History, cmpopts.EquateNaNs()); diff != "" {
		t.Errorf("history kept by Update (-want +got):\n%s", diff)
	}
	if got.NodeCount != 3 {
		t.Errorf("node count %d after Update, want 3", got.NodeCount)
	}
	ls, err := d.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ls.Owner != "" {
		t.Errorf("Update left the lock held by %q", ls.Owner)
	}
	boom := errors.New("boom")
	if err := d.Update(ctx, "nodefleet-alice", time.Minute, func(*autoscaler.ClusterState) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("Update with a failing change: %v", err)
	}
}

// A lease that expired less than ClockSkew ago is still held (for a
// holder whose clock is behind), and the refusals say so: expired, when,
// and the margin; not "valid until" a time that has passed.
func TestMotoLeaseInTheSkewMarginIsRefusedAsExpiredWithinTheMargin(t *testing.T) {
	c, table := motoTable(t)
	clk := testingclock.NewFakePassiveClock(t0)
	d := newStore(t, c, table, clk)
	ctx := context.Background()
	lease, err := d.Acquire(ctx, "daemon-a", 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	clk.SetTime(lease.Expires.Add(10 * time.Second))
	_, uerr := d.Unlock(ctx, "ops", false)
	_, aerr := d.Acquire(ctx, "daemon-b", 5*time.Minute)
	for what, err := range map[string]error{"Unlock": uerr, "Acquire": aerr} {
		if !errors.Is(err, autoscaler.ErrLockHeld) {
			t.Errorf("%s 10s after the lease's expiry: %v, want ErrLockHeld", what, err)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "valid until") || !strings.Contains(msg, "expired at 2026-03-01T12:05:00Z, 10s ago") || !strings.Contains(msg, "30s") {
			t.Errorf("%s: %q, want it to say the lease expired at 12:05:00, 10s ago, within the 30s margin", what, msg)
		}
	}
}
