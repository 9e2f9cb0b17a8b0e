package ec2fleet_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/ec2fleet"
)

// A Provider launching K3s workers from a launch template into two zones
// and ten instance types, 70% spot, as a Lambda function or a daemon wires
// it (it needs AWS, so this example is compiled, not run).
func Example() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("eu-west-1"))
	if err != nil {
		log.Print(err)
		return
	}
	fleet, err := ec2fleet.New(ec2fleet.Config{
		ClusterID:      "prod",
		Client:         ec2.NewFromConfig(cfg),
		LaunchTemplate: ec2fleet.LaunchTemplate{Name: "k3s-workers", Version: "$Latest"},
		Subnets:        []string{"subnet-0aaa", "subnet-0bbb"},
		InstanceTypes: []string{"m5.large", "m5a.large", "m6i.large", "m6a.large", "m7i.large",
			"m7a.large", "c6i.xlarge", "c6a.xlarge", "r6i.large", "r6a.large"},
	})
	if err != nil {
		log.Print(err)
		return
	}
	for _, w := range fleet.Warnings() {
		log.Print(w) // fewer than ten types for spot, for instance
	}
	// One CreateFleet call for both instances; retrying with the same
	// OperationID launches only what is missing.
	got, err := fleet.Launch(ctx, autoscaler.LaunchRequest{OperationID: "prod-42-up", Count: 2})
	if errors.Is(err, autoscaler.ErrInsufficientCapacity) {
		log.Printf("launched %d of 2, no capacity left: %v", len(got), err)
	}
	for _, in := range got {
		fmt.Println(in.ID, in.Zone, in.Market)
	}
}

// A CapacityError says what was refused where, and matches
// autoscaler.ErrInsufficientCapacity.
func ExampleCapacityError() {
	var err error = &ec2fleet.CapacityError{
		Wanted: 2, Have: 0,
		Failures: []ec2fleet.LaunchFailure{
			{Subnet: "subnet-0aaa", Zone: "eu-west-1a", Market: autoscaler.MarketSpot, InstanceType: "m5.large", Code: "InsufficientInstanceCapacity"},
			{Subnet: "subnet-0aaa", Zone: "eu-west-1a", Market: autoscaler.MarketOnDemand, Code: "VcpuLimitExceeded"},
		},
		AvoidedUntil: time.Date(2026, 3, 1, 12, 5, 0, 0, time.UTC),
	}
	fmt.Println(errors.Is(err, autoscaler.ErrInsufficientCapacity))
	fmt.Println(err)
	// Output:
	// true
	// ec2fleet: insufficient capacity: have 0 of 2 instances: m5.large eu-west-1a spot (subnet-0aaa): InsufficientInstanceCapacity; eu-west-1a on-demand (subnet-0aaa): VcpuLimitExceeded
}

// A PoolMemory keeps the pools that refused a launch; stored with the
// cluster's state, a cold start of the Lambda function does not ask them
// again. MemoryPools, the default, keeps them in the process.
func ExampleMemoryPools() {
	ctx := context.Background()
	var memory ec2fleet.MemoryPools
	_ = memory.Save(ctx, []ec2fleet.UnavailablePool{{
		Pool:  ec2fleet.Pool{InstanceType: "m5.large", Zone: "eu-west-1a", Market: autoscaler.MarketSpot},
		Until: time.Date(2026, 3, 1, 12, 3, 0, 0, time.UTC), Code: "InsufficientInstanceCapacity",
	}})
	pools, _ := memory.Load(ctx)
	for _, p := range pools {
		fmt.Println(p.InstanceType, p.Zone, p.Market, "avoided until", p.Until.Format(time.Kitchen))
	}
	// Output:
	// m5.large eu-west-1a spot avoided until 12:03PM
}
