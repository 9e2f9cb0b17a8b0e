package state_test

import (
	"context"
	"encoding/json"
	"fmt"
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

// itemBytes is the item's size as DynamoDB counts it: every attribute's
// name and value (strings and numbers as their text).
func itemBytes(t *testing.T, c *dynamodb.Client, table, cluster string) int {
	t.Helper()
	out, err := c.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{state.KeyAttribute: &types.AttributeValueMemberS{Value: cluster}},
	})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for name, v := range out.Item {
		n += len(name)
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			n += len(v.Value)
		case *types.AttributeValueMemberN:
			n += len(v.Value)
		default:
			n++
		}
	}
	return n
}

// worstCase is a state with every part at its largest: a thousand-node
// fleet in a reclaim wave (every instance warned and just launched), the
// operation replacing all of them, an operator's long calendar and pause,
// 2,000 unplaceable pods with the longest keys Kubernetes allows, every
// alert mark with the longest kind, and
// both histories full.
func worstCase(now time.Time) autoscaler.ClusterState {
	id := func(i int) string { return fmt.Sprintf("i-%017x", i) }
	st := autoscaler.ClusterState{NodeCount: 1000, LastScaleUp: now, LastScaleDown: now}
	op := &autoscaler.Operation{ID: "op-" + strings.Repeat("f", 32), Kind: autoscaler.OperationKind("launch"), Count: 1000, Started: now, Phase: "requested"}
	for i := range 1000 {
		op.Replacing = append(op.Replacing, id(i))
		st.Interruptions = append(st.Interruptions, autoscaler.Interruption{InstanceID: id(i), Notice: now, ReplacedBy: op.ID})
		st.Launched = append(st.Launched, autoscaler.RecentLaunch{InstanceID: id(5000 + i), At: now})
	}
	st.Operation = op
	for i := range 100 {
		st.Calendar = append(st.Calendar, autoscaler.KnownEvent{Name: fmt.Sprintf("campaign-%03d-%s", i, strings.Repeat("x", 40)), Start: now.Add(time.Duration(i) * time.Hour), End: now.Add(time.Duration(i+1) * time.Hour), Nodes: 8})
	}
	st.Paused = &autoscaler.Pause{By: "operator@example.com", At: now, Reason: strings.Repeat("maintenance ", 80)}
	for i := range 2000 {
		st.Unplaceable = append(st.Unplaceable, fmt.Sprintf("%s/%s-%05d", strings.Repeat("n", 63), strings.Repeat("p", 247), i))
	}
	for i := range autoscaler.MaxAlertMarks {
		st.Alerted = append(st.Alerted, autoscaler.AlertMark{Kind: autoscaler.EventKind(fmt.Sprintf("%02d%s", i, strings.Repeat("k", autoscaler.MaxAlertKindBytes-2))), Subjects: strings.Repeat("f", 16), At: now})
	}
	custom := map[string]float64{"queue_depth": 1234.5678, "request_rate": 98765.4321}
	for i := range 3000 {
		r := autoscaler.Record{Time: now.Add(-time.Duration(3000-i) * 2 * time.Minute), CPU: 55.123456, Memory: 66.654321, PendingPods: 12, Custom: custom, Nodes: 999, Instances: 1000, Action: autoscaler.Hold}
		st.History = append(st.History, r)
		r.Time = now.Add(-time.Duration(3000-i) * 10 * time.Minute)
		r.Samples = 5
		st.LongHistory = append(st.LongHistory, r)
	}
	return st
}

func TestMotoWorstCaseItemStaysUnderTheLimit(t *testing.T) {
	c, table := motoTable(t)
	clk := testingclock.NewFakePassiveClock(t0)
	d := newStore(t, c, table, clk)
	ctx := context.Background()
	lease, err := d.Acquire(ctx, strings.Repeat("owner-", 40), 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// ec2fleet's unavailable pools, as many pools of 40 types in 6 zones
	// in both markets out of capacity at once as one extra attribute can
	// hold (MaxExtraBytes: ec2fleet keeps those avoided longest).
	type pool struct {
		InstanceType string    `json:"instance_type,omitempty"`
		Zone         string    `json:"zone,omitempty"`
		Market       string    `json:"market"`
		Until        time.Time `json:"until"`
		Code         string    `json:"code"`
	}
	var pools []pool
	for i := range 40 {
		for z := range 6 {
			for _, m := range []string{"spot", "on-demand"} {
				next := append(pools, pool{fmt.Sprintf("m%d.large", i), fmt.Sprintf("us-east-1%c", 'a'+z), m, t0, "InsufficientInstanceCapacity"})
				if b, _ := json.Marshal(next); len(b) <= state.MaxExtraBytes {
					pools = next
				}
			}
		}
	}
	if err := d.StageJSON("unavailable_pools", pools); err != nil {
		t.Fatal(err)
	}
	st := worstCase(t0)
	if err := d.Save(ctx, lease, st); err != nil {
		t.Fatalf("save of the worst case: %v", err)
	}
	size := itemBytes(t, c, table, "prod")
	t.Logf("worst-case item: %d bytes (limit %d)", size, state.ItemLimit)
	if size > state.ItemBudget {
		t.Errorf("item of %d bytes, over the budget of %d", size, state.ItemBudget)
	}

	got, err := d.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(got.Unplaceable); n != state.MaxUnplaceable {
		t.Errorf("%d unplaceable keys stored, want %d", n, state.MaxUnplaceable)
	}
	if last, want := got.Unplaceable[len(got.Unplaceable)-1], state.UnplaceableSummary(2000-state.MaxUnplaceable+1); last != want {
		t.Errorf("last unplaceable entry %q, want the summary %q", last, want)
	}
	if got.Unplaceable[0] != st.Unplaceable[0] {
		t.Errorf("first unplaceable key %q, want %q kept whole", got.Unplaceable[0], st.Unplaceable[0])
	}
	for _, part := range []struct {
		name      string
		got, want int
	}{
		{"interruptions", len(got.Interruptions), 1000},
		{"recent launches", len(got.Launched), 1000},
		{"calendar", len(got.Calendar), 100},
		{"alert marks", len(got.Alerted), autoscaler.MaxAlertMarks},
		{"operation's instances", len(got.Operation.Replacing), 1000},
	} {
		if part.got != part.want {
			t.Errorf("%s: %d stored, want all %d (never cut)", part.name, part.got, part.want)
		}
	}
	// The oldest history gave way: the long history (older than every
	// record of the history) lost its oldest records first, and the
	// newest records of both are kept.
	if len(got.History) == 0 || !got.History[len(got.History)-1].Time.Equal(st.History[len(st.History)-1].Time) {
		t.Errorf("the newest history record is lost (%d kept)", len(got.History))
	}
	if len(got.LongHistory) > 0 && !got.LongHistory[len(got.LongHistory)-1].Time.Equal(st.LongHistory[len(st.LongHistory)-1].Time) {
		t.Errorf("the long history lost its newest records, not its oldest")
	}
	t.Logf("kept %d of %d history records, %d of %d long-history records", len(got.History), len(st.History), len(got.LongHistory), len(st.LongHistory))

	// A second Save over this item is not checked here: moto counts an
	// attribute's old value and its new one together while it replaces
	// it (its LimitedSizeDict), which DynamoDB does not.
}
