package config

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/ec2fleet"
	"github.com/node-fleet/node-fleet/state"
)

// noDynamo fails every call: staging and reading back a staged value make
// none.
type noDynamo struct{}

func (noDynamo) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return nil, errors.New("noDynamo: no call expected")
}

func (noDynamo) UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return nil, errors.New("noDynamo: no call expected")
}

// A capacity crunch over many types, zones and markets refuses more pools
// than one extra attribute holds (state.MaxExtraBytes): the pools that
// stay avoided longest are kept, rather than none.
func TestStoredPoolsKeepWhatFitsWhenTooManyAreRefused(t *testing.T) {
	d, err := state.NewDynamo(state.DynamoConfig{Client: noDynamo{}, Table: "t", ClusterID: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC)
	var pools []ec2fleet.UnavailablePool
	for i := range 20 { // 20 types in 6 zones, both markets: 240 pools
		for z := range 6 {
			for _, m := range []autoscaler.Market{autoscaler.MarketSpot, autoscaler.MarketOnDemand} {
				pools = append(pools, ec2fleet.UnavailablePool{
					Pool:  ec2fleet.Pool{InstanceType: fmt.Sprintf("m%d.large", i), Zone: fmt.Sprintf("us-east-1%c", 'a'+z), Market: m},
					Until: now.Add(time.Duration(len(pools)) * time.Second), Code: "InsufficientInstanceCapacity",
				})
			}
		}
	}
	ctx := context.Background()
	if err := (storedPools{d}).Save(ctx, pools); err != nil {
		t.Fatalf("Save of %d pools: %v", len(pools), err)
	}
	got, err := storedPools{d}.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 {
		t.Fatal("none of the pools is remembered")
	}
	last := pools[len(pools)-1]
	found := false
	for _, u := range got {
		found = found || u.Pool == last.Pool
		if u.Until.Before(pools[len(pools)-len(got)].Until) {
			t.Errorf("kept %+v, which expires before a pool dropped", u)
		}
	}
	if !found {
		t.Errorf("the pool avoided longest (%+v) is not kept", last.Pool)
	}
}
