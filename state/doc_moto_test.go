package state_test

import (
	"context"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"
	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/state"
	testingclock "k8s.io/utils/clock/testing"
)

// namesClient records every attribute name the store's writes use.
type namesClient struct {
	state.Client
	mu    sync.Mutex
	names map[string]bool
}

func (c *namesClient) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.mu.Lock()
	for _, n := range in.ExpressionAttributeNames {
		c.names[n] = true
	}
	c.mu.Unlock()
	return c.Client.UpdateItem(ctx, in, opts...)
}

// docTable returns the attribute names of doc.go's table of the item.
func docTable(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		line, ok := strings.CutPrefix(line, "//\t")
		if !ok {
			continue
		}
		if f := strings.Fields(line); len(f) >= 2 && (f[1] == "S" || f[1] == "N" || f[1] == "BOOL") {
			out = append(out, f[0])
		}
	}
	return out
}

// Every attribute the store writes (set or removed, by the lock, the
// state, an operator's unlock or an extra attribute) is in doc.go's table,
// and the table names no attribute the store never writes.
func TestMotoEveryAttributeTheStoreWritesIsDocumented(t *testing.T) {
	c, table := motoTable(t)
	rec := &namesClient{Client: c, names: map[string]bool{}}
	clk := testingclock.NewFakePassiveClock(t0)
	d := newStore(t, rec, table, clk)
	ctx := context.Background()
	lease, err := d.Acquire(ctx, "tick-1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	rec0 := autoscaler.Record{Time: t0, CPU: 50, Memory: math.NaN(), Nodes: 2, Instances: 2, Action: autoscaler.Hold}
	full := autoscaler.ClusterState{
		NodeCount: 2, LastScaleUp: t0, LastScaleDown: t0,
		Operation:     &autoscaler.Operation{ID: "op", Kind: autoscaler.OpLaunch, Count: 1, Started: t0},
		Interruptions: []autoscaler.Interruption{{InstanceID: "i-1", Notice: t0}},
		Paused:        &autoscaler.Pause{By: "alice", At: t0},
		OutageSince:   t0,
		Launched:      []autoscaler.RecentLaunch{{InstanceID: "i-2", At: t0}},
		Unplaceable:   []string{"default/big"},
		Calendar:      []autoscaler.KnownEvent{{Name: "sale", Start: t0, End: t0.Add(time.Hour), Nodes: 4}},
		History:       []autoscaler.Record{rec0},
		LongHistory:   []autoscaler.Record{rec0},
	}
	if err := d.StageJSON("unavailable_pools", []string{"a pool"}); err != nil {
		t.Fatal(err)
	}
	if err := d.Save(ctx, lease, full); err != nil {
		t.Fatal(err)
	}
	if err := d.Save(ctx, lease, autoscaler.ClusterState{}); err != nil { // removes what is absent
		t.Fatal(err)
	}
	if err := d.Release(ctx, lease); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Acquire(ctx, "tick-2", time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Unlock(ctx, "bob", true); err != nil {
		t.Fatal(err)
	}
	out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{state.KeyAttribute: &types.AttributeValueMemberS{Value: "prod"}}})
	if err != nil {
		t.Fatal(err)
	}
	written := map[string]bool{}
	for n := range rec.names {
		written[n] = true
	}
	for n := range out.Item {
		written[n] = true
	}
	var got []string
	for n := range written {
		if strings.HasPrefix(n, "x_") {
			n = "x_<name>"
		}
		if !slices.Contains(got, n) {
			got = append(got, n)
		}
	}
	slices.Sort(got)
	want := docTable(t)
	slices.Sort(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("doc.go's attribute table (-) against the attributes the store writes (+):\n%s", diff)
	}
}
