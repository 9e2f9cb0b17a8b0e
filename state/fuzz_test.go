package state_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
	"github.com/node-fleet/node-fleet/decision"
	"github.com/node-fleet/node-fleet/state"
	clocktesting "k8s.io/utils/clock/testing"
)

// itemDynamo answers GetItem with a fixed item and counts UpdateItem calls
// (the writes).
type itemDynamo struct {
	item    map[string]types.AttributeValue
	updates int
}

func (d *itemDynamo) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return &dynamodb.GetItemOutput{Item: d.item}, nil
}

func (d *itemDynamo) UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	d.updates++
	return &dynamodb.UpdateItemOutput{}, nil
}

// The string attributes of the item, as the store writes them.
var stringAttrs = []string{"operation", "last_scale_up", "last_scale_down", "history", "history_long",
	"interruptions", "paused", "calendar", "unplaceable"}

// FuzzLoadCorruptedItem: an item whose attributes hold any text (a
// corrupted or old-format item) loads, or fails with an error naming the
// attribute; nothing panics; and a tick whose Load failed writes nothing
// (a state that cannot be read is never overwritten).
func FuzzLoadCorruptedItem(f *testing.F) {
	f.Add(uint8(0), `{"ID":"c-1-up","Kind":"launch","Count":2,"Started":"2026-12-01T00:00:00Z"}`, "7")
	f.Add(uint8(0), `{"ID":`, "7")
	f.Add(uint8(1), "yesterday", "x")
	f.Add(uint8(3), `[{"Time":"2026-12-01T00:00:00Z","CPU":null,"Nodes":3}]`, "1.5")
	f.Add(uint8(3), `[{"Time":12}]`, "")
	f.Add(uint8(4), `{"old":"format"}`, "")
	f.Add(uint8(5), `[{"InstanceID":"i-1","Notice":"2026-12-01T00:00:00Z"}]`, "-1")
	f.Add(uint8(6), `{"By":"ops","At":"2026-12-01T00:00:00Z","Reason":"x"}`, "9223372036854775808")
	f.Add(uint8(7), `[{"Name":"sale","Start":"bad"}]`, "")
	f.Add(uint8(8), `"not a list"`, "")
	f.Fuzz(func(t *testing.T, which uint8, value, count string) {
		attr := stringAttrs[int(which)%len(stringAttrs)]
		item := map[string]types.AttributeValue{
			state.KeyAttribute: &types.AttributeValueMemberS{Value: "c"},
			attr:               &types.AttributeValueMemberS{Value: value},
			"node_count":       &types.AttributeValueMemberN{Value: count},
		}
		db := &itemDynamo{item: item}
		store, err := state.NewDynamo(state.DynamoConfig{Client: db, Table: "t", ClusterID: "c"})
		if err != nil {
			t.Fatal(err)
		}
		_, lerr := store.Load(context.Background())
		if lerr != nil && !strings.Contains(lerr.Error(), attr) {
			t.Fatalf("Load of a corrupted %s: %q does not name the attribute", attr, lerr)
		}

		// The tick on that store: the lock from a fake, the state from
		// the corrupted item.
		clk := clocktesting.NewFakeClock(t0)
		locks := fake.NewStore(clk)
		fl := fake.NewFleet(clk)
		m := &fake.Metrics{}
		m.Set(autoscaler.Snapshot{Time: t0, CPU: autoscaler.Value(50, t0), Memory: autoscaler.Value(50, t0), PendingPods: autoscaler.Value(0, t0)})
		a, err := autoscaler.New(autoscaler.Config{ClusterID: "c", Owner: "o", Metrics: m, Policy: decision.Default(),
			Locker: locks, State: store, Fleet: fl, Nodes: fake.NewNodes(clk, fl), Clock: clk})
		if err != nil {
			t.Fatal(err)
		}
		res, terr := a.RunOnce(context.Background())
		if lerr != nil {
			if terr == nil || res.Outcome != autoscaler.OutcomeFailed {
				t.Fatalf("the state could not be loaded (%v) and the tick ended %s, %v", lerr, res.Outcome, terr)
			}
			if db.updates != 0 {
				t.Fatalf("the state could not be loaded (%v) and the tick wrote %d time(s)", lerr, db.updates)
			}
			if l, _ := fl.Counts(); l != 0 {
				t.Fatalf("the state could not be loaded and the tick launched %d", l)
			}
		}
	})
}

// An attribute of the wrong DynamoDB type (an "operation" written as a
// number, a "history" as a list by another tool or an old format) is an
// error naming it, not absent: a tick would otherwise go on and its Save
// overwrite it, forgetting an operation in flight.
func TestLoadWrongTypedAttributeIsAnError(t *testing.T) {
	for _, attr := range []string{"operation", "history", "interruptions"} {
		db := &itemDynamo{item: map[string]types.AttributeValue{
			state.KeyAttribute: &types.AttributeValueMemberS{Value: "c"},
			attr:               &types.AttributeValueMemberN{Value: "1"},
		}}
		store, err := state.NewDynamo(state.DynamoConfig{Client: db, Table: "t", ClusterID: "c"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.Load(context.Background()); err == nil || !strings.Contains(err.Error(), attr) {
			t.Errorf("Load of %s stored as a number: %v, want an error naming %s", attr, err, attr)
		}
	}
}
