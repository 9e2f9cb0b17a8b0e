package state_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/internal/awsutil"
	"github.com/node-fleet/node-fleet/internal/testenv"
	"github.com/node-fleet/node-fleet/state"
	testingclock "k8s.io/utils/clock/testing"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func suffix(t testing.TB) string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// motoTable creates a fresh table in moto and returns its client and name.
func motoTable(t *testing.T) (*dynamodb.Client, string) {
	t.Helper()
	endpoint := testenv.Lookup(t, "NODEFLEET_MOTO_ENDPOINT", "moto")
	ctx := context.Background()
	cfg, err := awsutil.ForEmulator(ctx, endpoint, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	c := dynamodb.NewFromConfig(cfg)
	name := "node-fleet-state-" + suffix(t)
	if err := state.CreateTable(ctx, c, name, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	return c, name
}

func newStore(t *testing.T, c state.Client, table string, clk *testingclock.FakePassiveClock) *state.Dynamo {
	t.Helper()
	d, err := state.NewDynamo(state.DynamoConfig{Client: c, Table: table, ClusterID: "prod", Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestMotoCreateTableIsIdempotent(t *testing.T) {
	c, name := motoTable(t)
	if err := state.CreateTable(context.Background(), c, name, 10*time.Second); err != nil {
		t.Fatalf("creating an existing table again: %v", err)
	}
	out, err := c.DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: &name})
	if err != nil {
		t.Fatal(err)
	}
	if got := *out.Table.KeySchema[0].AttributeName; got != state.KeyAttribute {
		t.Errorf("partition key %q, want %q", got, state.KeyAttribute)
	}
}

func TestMotoLockLifecycle(t *testing.T) {
	c, table := motoTable(t)
	clk := testingclock.NewFakePassiveClock(t0)
	d := newStore(t, c, table, clk)
	ctx := context.Background()
	ttl := 5 * time.Minute

	// Acquire a free lock.
	a, err := d.Acquire(ctx, "alice", ttl)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(autoscaler.Lease{Owner: "alice", Token: 1, Expires: t0.Add(ttl)}, a); diff != "" {
		t.Errorf("first lease (-want +got):\n%s", diff)
	}
	// Contend: bob is refused while alice's lease runs, even a second
	// before it ends.
	clk.SetTime(t0.Add(ttl - time.Second))
	_, err = d.Acquire(ctx, "bob", ttl)
	if !errors.Is(err, autoscaler.ErrLockHeld) || !strings.Contains(err.Error(), `"alice"`) {
		t.Fatalf("contended Acquire: %v, want ErrLockHeld naming alice", err)
	}
	// Renew as the owner: a new, larger token.
	a2, err := d.Acquire(ctx, "alice", ttl)
	if err != nil {
		t.Fatal(err)
	}
	if a2.Token <= a.Token || a2.TookOver {
		t.Errorf("renewal: %+v after %+v, want a larger token and no takeover", a2, a)
	}
	// Expire, and take over once the clock-skew margin has passed too.
	clk.SetTime(a2.Expires.Add(state.DefaultClockSkew))
	b, err := d.Acquire(ctx, "bob", ttl)
	if err != nil {
		t.Fatalf("Acquire after expiry: %v", err)
	}
	if diff := cmp.Diff(autoscaler.Lease{Owner: "bob", Token: a2.Token + 1, Expires: a2.Expires.Add(state.DefaultClockSkew + ttl), TookOver: true, PreviousOwner: "alice"}, b); diff != "" {
		t.Errorf("takeover lease (-want +got):\n%s", diff)
	}
	// Alice releasing her lost lease changes nothing and is no error.
	if err := d.Release(ctx, a2); err != nil {
		t.Errorf("releasing a lost lease: %v", err)
	}
	if _, err := d.Acquire(ctx, "carol", ttl); !errors.Is(err, autoscaler.ErrLockHeld) {
		t.Fatalf("after alice's stale release, carol got the lock: %v", err)
	}
	// Bob releases; carol gets it at once, with no takeover.
	if err := d.Release(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := d.Release(ctx, b); err != nil {
		t.Errorf("releasing twice: %v", err)
	}
	cl, err := d.Acquire(ctx, "carol", ttl)
	if err != nil {
		t.Fatal(err)
	}
	if cl.TookOver || cl.Token != b.Token+1 {
		t.Errorf("after a release: %+v, want token %d and no takeover", cl, b.Token+1)
	}
}

func TestMotoConcurrentAcquireHasOneWinner(t *testing.T) {
	c, table := motoTable(t)
	d := newStore(t, c, table, testingclock.NewFakePassiveClock(t0))
	var wg sync.WaitGroup
	var mu sync.Mutex
	won, held := 0, 0
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := d.Acquire(context.Background(), "replica-"+string(rune('a'+i)), time.Minute)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.Is(err, autoscaler.ErrLockHeld):
				held++
			default:
				t.Errorf("Acquire: %v", err)
			}
		}()
	}
	wg.Wait()
	if won != 1 || held != 19 {
		t.Errorf("%d acquired and %d were refused, want 1 and 19", won, held)
	}
}

func TestMotoSaveLoadRoundTrip(t *testing.T) {
	c, table := motoTable(t)
	clk := testingclock.NewFakePassiveClock(t0)
	d := newStore(t, c, table, clk)
	ctx := context.Background()
	empty, err := d.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(autoscaler.ClusterState{ClusterID: "prod"}, empty); diff != "" {
		t.Errorf("state of a new cluster (-want +got):\n%s", diff)
	}
	lease, err := d.Acquire(ctx, "alice", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	st := autoscaler.ClusterState{
		ClusterID: "prod", NodeCount: 3, ScalingInProgress: true,
		LastScaleUp: t0.Add(-time.Hour), LastScaleDown: t0.Add(-2 * time.Hour),
		Operation: &autoscaler.Operation{ID: "prod-1-up", Kind: autoscaler.OpLaunch, Count: 2, Started: t0},
		History: []autoscaler.Record{
			{Time: t0.Add(-2 * time.Minute), CPU: 81.5, Memory: math.NaN(), PendingPods: 3, Nodes: 2, Instances: 2, Action: autoscaler.Hold, Safety: true},
			{Time: t0, CPU: 90, Memory: 50, PendingPods: 4, Custom: map[string]float64{"queue": 12, "gone": math.NaN()}, Nodes: 2, Instances: 4, Action: autoscaler.ScaleUp, Count: 2},
		},
	}
	if err := d.Save(ctx, lease, st); err != nil {
		t.Fatal(err)
	}
	got, err := d.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := st
	want.Version = lease.Token
	if diff := cmp.Diff(want, got, cmpopts.EquateNaNs()); diff != "" {
		t.Errorf("loaded state (-want +got):\n%s", diff)
	}
	// Finishing the operation removes it; the lock is untouched by Save.
	st.Operation, st.ScalingInProgress, st.LastScaleDown = nil, false, time.Time{}
	if err := d.Save(ctx, lease, st); err != nil {
		t.Fatal(err)
	}
	got, err = d.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Operation != nil || got.ScalingInProgress || !got.LastScaleDown.IsZero() {
		t.Errorf("after clearing: operation %v, in progress %v, last scale-down %v", got.Operation, got.ScalingInProgress, got.LastScaleDown)
	}
	if _, err := d.Acquire(ctx, "bob", time.Minute); !errors.Is(err, autoscaler.ErrLockHeld) {
		t.Errorf("Save released the lock: bob's Acquire gave %v", err)
	}
}

func TestMotoFencingRejectsStaleWriter(t *testing.T) {
	c, table := motoTable(t)
	clk := testingclock.NewFakePassiveClock(t0)
	d := newStore(t, c, table, clk)
	ctx := context.Background()
	old, err := d.Acquire(ctx, "slow", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// The slow holder runs past its lease; fast takes over and writes.
	clk.SetTime(t0.Add(2 * time.Minute))
	fresh, err := d.Acquire(ctx, "fast", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Save(ctx, fresh, autoscaler.ClusterState{NodeCount: 5}); err != nil {
		t.Fatal(err)
	}
	// The slow holder wakes up and tries to write its older view.
	err = d.Save(ctx, old, autoscaler.ClusterState{NodeCount: 1})
	if !errors.Is(err, autoscaler.ErrLeaseLost) {
		t.Fatalf("stale Save: %v, want ErrLeaseLost", err)
	}
	got, err := d.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.NodeCount != 5 || got.Version != fresh.Token {
		t.Errorf("state after the stale write: node count %d version %d, want 5 and %d", got.NodeCount, got.Version, fresh.Token)
	}
	// A Save before any Acquire (no item, no token) is refused too.
	other, err := state.NewDynamo(state.DynamoConfig{Client: c, Table: table, ClusterID: "never-locked", Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Save(ctx, autoscaler.Lease{Owner: "x", Token: 1}, autoscaler.ClusterState{}); !errors.Is(err, autoscaler.ErrLeaseLost) {
		t.Errorf("Save without a lease: %v, want ErrLeaseLost", err)
	}
}

// A replica whose clock runs ahead of the holder's by less than the
// clock-skew margin sees the holder's lease as expired before it is: it
// must not take it over (nor may an operator's fast laptop release it
// without force); once the margin has passed too, it may.
func TestMotoFastClockCannotStealALiveLease(t *testing.T) {
	c, table := motoTable(t)
	ctx := context.Background()
	ttl := 5 * time.Minute
	holderClock := testingclock.NewFakePassiveClock(t0)
	holder := newStore(t, c, table, holderClock)
	a, err := holder.Acquire(ctx, "alice", ttl)
	if err != nil {
		t.Fatal(err)
	}
	// The real time is a second before alice's expiry; bob's clock runs
	// ahead by the margin less a second, so that it reads expiry plus
	// most of the margin.
	ahead := state.DefaultClockSkew - time.Second
	fastClock := testingclock.NewFakePassiveClock(a.Expires.Add(-time.Second + ahead))
	fast := newStore(t, c, table, fastClock)
	if _, err := fast.Acquire(ctx, "bob", ttl); !errors.Is(err, autoscaler.ErrLockHeld) {
		t.Fatalf("a replica %s ahead took alice's live lease: %v, want ErrLockHeld", ahead, err)
	}
	if ls, err := fast.Lock(ctx); err != nil || !ls.Held {
		t.Errorf("Lock on a clock %s ahead: %+v, %v; want held", ahead, ls, err)
	}
	if _, err := fast.Unlock(ctx, "laptop", false); !errors.Is(err, autoscaler.ErrLockHeld) {
		t.Errorf("Unlock without force on a clock %s ahead: %v, want ErrLockHeld", ahead, err)
	}
	// Past expiry plus the margin by bob's clock, the lease is stale.
	fastClock.SetTime(a.Expires.Add(state.DefaultClockSkew))
	b, err := fast.Acquire(ctx, "bob", ttl)
	if err != nil {
		t.Fatalf("Acquire once the margin has passed: %v", err)
	}
	if !b.TookOver || b.PreviousOwner != "alice" {
		t.Errorf("takeover %+v, want TookOver from alice", b)
	}
}
