package state_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go"
	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/state"
)

// failingDynamo answers every call with err, and counts the calls.
type failingDynamo struct {
	err   error
	calls int
}

func (f *failingDynamo) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	f.calls++
	return nil, f.err
}

func (f *failingDynamo) UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	f.calls++
	return nil, f.err
}

func TestNewDynamoValidatesConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  state.DynamoConfig
		want []string
	}{
		{"valid", state.DynamoConfig{Client: &failingDynamo{}, Table: "t", ClusterID: "c"}, nil},
		{"empty", state.DynamoConfig{}, []string{"Client", "Table", "ClusterID"}},
		{"negative history", state.DynamoConfig{Client: &failingDynamo{}, Table: "t", ClusterID: "c", HistoryLimit: -1}, []string{"HistoryLimit"}},
		{"history too big for an item", state.DynamoConfig{Client: &failingDynamo{}, Table: "t", ClusterID: "c", MaxHistoryBytes: 500_000}, []string{"MaxHistoryBytes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := state.NewDynamo(tc.cfg)
			if (err != nil) != (tc.want != nil) {
				t.Fatalf("NewDynamo: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
		})
	}
}

// Throttling (after the SDK's retries) is an error of its own: not a held
// lock (the tick would be skipped silently) and not a lost lease.
func TestThrottlingIsNotLockHeldOrLeaseLost(t *testing.T) {
	f := &failingDynamo{err: &smithy.GenericAPIError{Code: "ProvisionedThroughputExceededException", Message: "slow down"}}
	d, err := state.NewDynamo(state.DynamoConfig{Client: f, Table: "t", ClusterID: "c"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, err = d.Acquire(ctx, "me", time.Minute)
	if err == nil || errors.Is(err, autoscaler.ErrLockHeld) {
		t.Errorf("Acquire: %v", err)
	}
	err = d.Save(ctx, autoscaler.Lease{Owner: "me", Token: 1}, autoscaler.ClusterState{})
	if err == nil || errors.Is(err, autoscaler.ErrLeaseLost) {
		t.Errorf("Save: %v", err)
	}
	if err := d.Release(ctx, autoscaler.Lease{Owner: "me", Token: 1}); err == nil {
		t.Errorf("Release hid a throttling error")
	}
	if _, err := d.Load(ctx); err == nil {
		t.Errorf("Load hid a throttling error")
	}
	if f.calls != 4 {
		t.Errorf("%d calls, want 4: no retry loop of our own", f.calls)
	}
	for _, bad := range []struct {
		owner string
		ttl   time.Duration
	}{{"", time.Minute}, {"me", 0}} {
		if _, err := d.Acquire(ctx, bad.owner, bad.ttl); err == nil {
			t.Errorf("Acquire(%q, %s) accepted", bad.owner, bad.ttl)
		}
	}
}
