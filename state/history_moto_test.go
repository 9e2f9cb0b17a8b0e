package state_test

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/state"
)

// itemSize is an item's size as DynamoDB counts it (attribute names plus
// values; numbers and strings by their bytes), for the 400 KB limit.
func itemSize(item map[string]types.AttributeValue) int {
	n := 0
	for k, v := range item {
		n += len(k)
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			n += len(v.Value)
		case *types.AttributeValueMemberN:
			n += len(v.Value)
		case *types.AttributeValueMemberBOOL:
			n++
		}
	}
	return n
}

// At full history, a day of 2-minute ticks and 8 days of 10-minute means
// (the defaults of autoscaler.Config, one retention setting), with a custom
// metric on every record, and an extra attribute at MaxExtraBytes, the
// item stays under DynamoDB's 400 KB and nothing is cut.
func TestMotoItemSizeAtFullHistory(t *testing.T) {
	c, table := motoTable(t)
	clk := testingclock.NewFakePassiveClock(t0)
	d := newStore(t, c, table, clk)
	ctx := context.Background()
	cfg := autoscaler.DefaultConfig()
	rng := rand.New(rand.NewPCG(1, 2))
	rec := func(at time.Time, samples int) autoscaler.Record {
		return autoscaler.Record{Time: at, CPU: 100 * rng.Float64(), Memory: 100 * rng.Float64(), PendingPods: float64(rng.IntN(40)),
			Custom: map[string]float64{"queue_depth": 1000 * rng.Float64()}, Nodes: 2 + rng.IntN(8), Instances: 2 + rng.IntN(9),
			Action: autoscaler.Hold, Samples: samples, Hold: autoscaler.HoldCooldown}
	}
	var st autoscaler.ClusterState
	for i := range cfg.HistoryLimit {
		st.History = append(st.History, rec(t0.Add(time.Duration(i-cfg.HistoryLimit)*cfg.Interval), 0))
	}
	long := int(cfg.LongHistory / cfg.LongHistoryStep)
	for i := range long {
		st.LongHistory = append(st.LongHistory, rec(t0.Add(time.Duration(i-long)*cfg.LongHistoryStep), 5))
	}
	lease, err := d.Acquire(ctx, "alice", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// Another part's attribute at its largest (ec2fleet's pools).
	if err := d.StageJSON("unavailable_pools", strings.Repeat("x", state.MaxExtraBytes-2)); err != nil {
		t.Fatal(err)
	}
	if err := d.Save(ctx, lease, st); err != nil {
		t.Fatal(err)
	}
	out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{state.KeyAttribute: &types.AttributeValueMemberS{Value: "prod"}}})
	if err != nil {
		t.Fatal(err)
	}
	size := itemSize(out.Item)
	t.Logf("item at full history (%d records + %d downsampled): %d bytes", len(st.History), len(st.LongHistory), size)
	if size >= 400_000 {
		t.Errorf("item is %d bytes, over DynamoDB's 400 KB", size)
	}
	got, err := d.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.History) != cfg.HistoryLimit || len(got.LongHistory) != long {
		t.Errorf("loaded %d records and %d downsampled, want %d and %d: the store cut what the autoscaler keeps", len(got.History), len(got.LongHistory), cfg.HistoryLimit, long)
	}
	if got.LongHistory[0].Samples != 5 {
		t.Errorf("downsampled record lost its sample count: %+v", got.LongHistory[0])
	}
}
