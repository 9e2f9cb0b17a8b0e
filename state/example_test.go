package state_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/state"
)

// One Dynamo is both the autoscaler's Locker and its StateStore. This is
// what a tick does with it (it needs DynamoDB, so this example is
// compiled, not run).
func Example() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Print(err)
		return
	}
	client := dynamodb.NewFromConfig(cfg)
	if err := state.CreateTable(ctx, client, "node-fleet-state", 0); err != nil {
		log.Print(err)
		return
	}
	store, err := state.NewDynamo(state.DynamoConfig{Client: client, Table: "node-fleet-state", ClusterID: "prod"})
	if err != nil {
		log.Print(err)
		return
	}
	lease, err := store.Acquire(ctx, "lambda-1", 5*time.Minute)
	if errors.Is(err, autoscaler.ErrLockHeld) {
		return // another replica is ticking
	}
	if err != nil {
		log.Print(err)
		return
	}
	defer store.Release(ctx, lease)
	st, err := store.Load(ctx)
	if err != nil {
		log.Print(err)
		return
	}
	st.NodeCount++
	if err := store.Save(ctx, lease, st); errors.Is(err, autoscaler.ErrLeaseLost) {
		log.Print("ran past the lease; a newer tick owns the state")
	}
}

// NewDynamo reports every missing or wrong field at once.
func ExampleNewDynamo() {
	_, err := state.NewDynamo(state.DynamoConfig{ClusterID: "prod", HistoryLimit: -1})
	fmt.Println(err)
	// Output:
	// state: DynamoConfig: Client is required
	// Table is required
	// HistoryLimit must be 0 or more, got -1
}

// An operator releases a lock left by a tick that died: refused while the
// lease is valid unless forced, and recorded (this needs DynamoDB, so it
// is compiled, not run).
func ExampleDynamo_Unlock() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Print(err)
		return
	}
	store, err := state.NewDynamo(state.DynamoConfig{Client: dynamodb.NewFromConfig(cfg), Table: "node-fleet-state", ClusterID: "prod"})
	if err != nil {
		log.Print(err)
		return
	}
	lock, err := store.Lock(ctx)
	if err != nil {
		log.Print(err)
		return
	}
	fmt.Println("held by", lock.Owner, "until", lock.Expires, "valid:", lock.Held)
	u, err := store.Unlock(ctx, "alice", false)
	switch {
	case errors.Is(err, state.ErrNotLocked):
		fmt.Println("nothing to release")
	case errors.Is(err, autoscaler.ErrLockHeld):
		fmt.Println("still valid; a tick may be running:", err)
	case err == nil:
		fmt.Println("released", u.Owner+"'s lease, token", u.Token)
	}
}
