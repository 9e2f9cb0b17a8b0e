package state_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go"
	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
	"github.com/node-fleet/node-fleet/decision"
	"github.com/node-fleet/node-fleet/state"
	testingclock "k8s.io/utils/clock/testing"
)

// timeoutAfterWrite is a DynamoDB client whose next UpdateItem is carried
// out by the real server and then answered with a timeout: a conditional
// write that timed out but succeeded.
type timeoutAfterWrite struct {
	state.Client
	lose     int // how many of the next writes lose their answer
	throttle int // how many of the next calls are throttled instead
	writes   int
}

var errWriteTimeout = errors.New("operation error DynamoDB: UpdateItem, request canceled, context deadline exceeded (injected after the write)")

func (c *timeoutAfterWrite) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if c.throttle > 0 {
		c.throttle--
		return nil, &smithy.GenericAPIError{Code: "ProvisionedThroughputExceededException", Message: "injected"}
	}
	out, err := c.Client.UpdateItem(ctx, in, opts...)
	c.writes++
	if err == nil && c.lose > 0 {
		c.lose--
		return nil, errWriteTimeout
	}
	return out, err
}

func (c *timeoutAfterWrite) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	if c.throttle > 0 {
		c.throttle--
		return nil, &smithy.GenericAPIError{Code: "ProvisionedThroughputExceededException", Message: "injected"}
	}
	return c.Client.GetItem(ctx, in, opts...)
}

// An Acquire whose answer was lost took the lock in DynamoDB: the same
// owner gets it again at once (a newer token), another owner not before
// it expires; the lost lease's token can no longer write.
func TestMotoAcquireTimedOutButSucceeded(t *testing.T) {
	c, table := motoTable(t)
	clk := testingclock.NewFakePassiveClock(t0)
	lossy := &timeoutAfterWrite{Client: c, lose: 1}
	d := newStore(t, lossy, table, clk)
	ctx := context.Background()
	if _, err := d.Acquire(ctx, "a", time.Minute); !errors.Is(err, errWriteTimeout) {
		t.Fatalf("Acquire: %v, want the lost answer", err)
	}
	other := newStore(t, c, table, clk)
	if _, err := other.Acquire(ctx, "b", time.Minute); !errors.Is(err, autoscaler.ErrLockHeld) {
		t.Fatalf("another owner's Acquire after the lost one: %v, want ErrLockHeld (the write happened)", err)
	}
	l, err := d.Acquire(ctx, "a", time.Minute)
	if err != nil {
		t.Fatalf("the same owner's retry: %v", err)
	}
	if err := d.Save(ctx, l, autoscaler.ClusterState{NodeCount: 3}); err != nil {
		t.Fatalf("Save under the retried lease: %v", err)
	}
	if err := d.Release(ctx, l); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Acquire(ctx, "b", time.Minute); err != nil {
		t.Fatalf("another owner after the release: %v", err)
	}
}

// A Save whose answer was lost was written. When it is the launch's
// write-ahead, the tick does not launch (it cannot know the operation is
// recorded); its final save records the tick; the next tick launches the
// floor exactly once.
func TestMotoSaveTimedOutButSucceededThroughATick(t *testing.T) {
	c, table := motoTable(t)
	clk := testingclock.NewFakeClock(t0)
	d := newStore(t, c, table, &clk.FakePassiveClock)
	fl := fake.NewFleet(clk)
	nodes := fake.NewNodes(clk, fl)
	m := &fake.Metrics{}
	m.Set(autoscaler.Snapshot{Time: t0, CPU: autoscaler.Value(50, t0), Memory: autoscaler.Value(50, t0), PendingPods: autoscaler.Value(0, t0)})
	// The tick's writes: Acquire, then the write-ahead of the floor's
	// launch, whose answer is lost.
	losing := &loseNth{timeoutAfterWrite: &timeoutAfterWrite{Client: c}, n: 2}
	lossyStore := newStore(t, losing, table, &clk.FakePassiveClock)
	a, err := autoscaler.New(autoscaler.Config{ClusterID: "prod", Owner: "a", Metrics: m, Policy: decision.Default(),
		Locker: lossyStore, State: lossyStore, Fleet: fl, Nodes: nodes, Clock: clk, MinNodes: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res, err := a.RunOnce(ctx)
	if err == nil {
		t.Fatalf("tick with a lost write-ahead answer: %s, want an error", res)
	}
	if launched, _ := fl.Counts(); launched != 0 {
		t.Fatalf("the write-ahead's answer was lost and the tick launched %d", launched)
	}
	st, err := d.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.History) != 1 {
		t.Errorf("history %d records after the tick, want its record", len(st.History))
	}
	// The next tick recovers or launches: the floor, exactly once.
	clk.Step(2 * time.Minute)
	for range 2 {
		if res, err := a.RunOnce(ctx); err != nil {
			t.Fatalf("next tick: %v (%s)", err, res)
		}
		clk.Step(2 * time.Minute)
	}
	if launched, _ := fl.Counts(); launched != 2 {
		t.Errorf("%d instances launched after recovery, want the floor's 2 exactly", launched)
	}
}

// loseNth loses the answer of the n-th write (1-based).
type loseNth struct {
	*timeoutAfterWrite
	n, seen int
}

func (l *loseNth) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	out, err := l.timeoutAfterWrite.Client.UpdateItem(ctx, in, opts...)
	l.seen++
	if err == nil && l.seen == l.n {
		return nil, errWriteTimeout
	}
	return out, err
}

// DynamoDB throttling after the SDK's retries: the tick does nothing
// (no launch without the lock) and fails; the next one acts.
func TestMotoThrottledLockMeansNoAction(t *testing.T) {
	c, table := motoTable(t)
	clk := testingclock.NewFakeClock(t0)
	thr := &timeoutAfterWrite{Client: c, throttle: 1}
	d := newStore(t, thr, table, &clk.FakePassiveClock)
	fl := fake.NewFleet(clk)
	m := &fake.Metrics{}
	m.Set(autoscaler.Snapshot{Time: t0, CPU: autoscaler.Value(50, t0), Memory: autoscaler.Value(50, t0), PendingPods: autoscaler.Value(0, t0)})
	a, err := autoscaler.New(autoscaler.Config{ClusterID: "prod", Owner: "a", Metrics: m, Policy: decision.Default(),
		Locker: d, State: d, Fleet: fl, Nodes: fake.NewNodes(clk, fl), Clock: clk, MinNodes: 2})
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.RunOnce(context.Background())
	if err == nil || res.Outcome != autoscaler.OutcomeFailed {
		t.Fatalf("throttled Acquire: %s, %v; want a failed tick", res, err)
	}
	if launched, _ := fl.Counts(); launched != 0 {
		t.Fatalf("launched %d without the lock", launched)
	}
	if _, err := a.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if launched, _ := fl.Counts(); launched != 2 {
		t.Errorf("launched %d after throttling ended, want the floor's 2", launched)
	}
}
