package config

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/google/go-cmp/cmp"
	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/ec2fleet"
	"github.com/node-fleet/node-fleet/internal/awsutil"
	"github.com/node-fleet/node-fleet/internal/testenv"
	"github.com/node-fleet/node-fleet/state"
)

// The unavailable pools a launch learns are written with the cluster's
// state by the tick's Save, under the lease Save is given, never on their
// own: before that Save only this process reads them; under a lost lease
// they are never written.
func TestMotoStoredPoolsAreWrittenByTheStatesSaveUnderItsLease(t *testing.T) {
	endpoint := testenv.Lookup(t, "NODEFLEET_MOTO_ENDPOINT", "moto")
	ctx := t.Context()
	awsCfg, err := awsutil.ForEmulator(ctx, endpoint, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	c, table := dynamodb.NewFromConfig(awsCfg), "pools-"+hex.EncodeToString(b[:])
	if err := state.CreateTable(ctx, c, table, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	store := func() *state.Dynamo {
		d, err := state.NewDynamo(state.DynamoConfig{Client: c, Table: table, ClusterID: "prod"})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	tick, other := store(), store()
	lease, err := tick.Acquire(ctx, "tick", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	pools := []ec2fleet.UnavailablePool{{Pool: ec2fleet.Pool{InstanceType: "m5.large", Zone: "eu-west-1a", Market: autoscaler.MarketSpot}, Until: until, Code: "InsufficientInstanceCapacity"}}
	if err := (storedPools{tick}).Save(ctx, pools); err != nil {
		t.Fatal(err)
	}
	load := func(d *state.Dynamo) []ec2fleet.UnavailablePool {
		t.Helper()
		got, err := storedPools{d}.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if diff := cmp.Diff(pools, load(tick)); diff != "" {
		t.Errorf("this process's Load before the Save (-want +got):\n%s", diff)
	}
	if got := load(other); got != nil {
		t.Errorf("another process read %+v before the state's Save", got)
	}
	if err := tick.Save(ctx, lease, autoscaler.ClusterState{NodeCount: 1}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(pools, load(other)); diff != "" {
		t.Errorf("another process's Load after the Save (-want +got):\n%s", diff)
	}
	// A stale tick: its pools go with its refused Save.
	if _, err := other.Unlock(ctx, "operator", true); err != nil {
		t.Fatal(err)
	}
	if err := (storedPools{tick}).Save(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := tick.Save(ctx, lease, autoscaler.ClusterState{}); !errors.Is(err, autoscaler.ErrLeaseLost) {
		t.Fatalf("Save under the lost lease: %v", err)
	}
	if diff := cmp.Diff(pools, load(other)); diff != "" {
		t.Errorf("pools after the stale tick's refused Save (-want +got):\n%s", diff)
	}
}
