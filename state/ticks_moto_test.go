package state_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/google/go-cmp/cmp"
	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
	"github.com/node-fleet/node-fleet/ec2fleet"
	"github.com/node-fleet/node-fleet/internal/awsutil"
	"github.com/node-fleet/node-fleet/internal/testenv"
	"github.com/node-fleet/node-fleet/state"
	"k8s.io/utils/clock"
)

// TestMotoConcurrentTicksScaleOnce runs 20 autoscalers (as 20 Lambda
// invocations would be: each with its own clients) at the same moment
// against one DynamoDB table and one EC2 account, all seeing pending pods.
// Exactly one of them may scale up; the others are skipped by the lock or,
// coming later, see the launched instances booting and hold. A second wave
// of 20 then finds the instances booting and scales no more.
func TestMotoConcurrentTicksScaleOnce(t *testing.T) {
	endpoint := testenv.Lookup(t, "NODEFLEET_MOTO_ENDPOINT", "moto")
	ctx := context.Background()
	cfg, err := awsutil.ForEmulator(ctx, endpoint, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	cluster := "ticks-" + suffix(t)
	table := "node-fleet-" + cluster
	if err := state.CreateTable(ctx, dynamodb.NewFromConfig(cfg), table, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	subnets, templateID := ec2Setup(t, ec2.NewFromConfig(cfg))

	clk := clock.RealClock{}
	now := clk.Now()
	policy := autoscaler.PolicyFunc(func(in autoscaler.PolicyInput) autoscaler.Decision {
		if in.Snapshot.PendingPods.OK && in.Snapshot.PendingPods.Value > 0 {
			return autoscaler.Decision{Action: autoscaler.ScaleUp, Count: 2, Level: autoscaler.LevelCritical, Reason: "pending pods"}
		}
		return autoscaler.HoldBecause("no pending pods")
	})
	newAutoscaler := func(i int) *autoscaler.Autoscaler {
		// Each replica has its own clients, as separate processes would.
		store, err := state.NewDynamo(state.DynamoConfig{Client: dynamodb.NewFromConfig(cfg), Table: table, ClusterID: cluster, Clock: clk})
		if err != nil {
			t.Fatal(err)
		}
		fleet, err := ec2fleet.New(ec2fleet.Config{ClusterID: cluster, Client: ec2.NewFromConfig(cfg),
			LaunchTemplate: ec2fleet.LaunchTemplate{ID: templateID}, Subnets: subnets, Clock: clk})
		if err != nil {
			t.Fatal(err)
		}
		metrics := &fake.Metrics{}
		metrics.Set(autoscaler.Snapshot{Time: now, CPU: autoscaler.Value(90, now), Memory: autoscaler.Value(60, now), PendingPods: autoscaler.Value(6, now)})
		c := autoscaler.DefaultConfig()
		c.ClusterID, c.Owner = cluster, fmt.Sprintf("replica-%02d", i)
		c.MinNodes, c.MaxNodes = autoscaler.NoMinimum, 10
		c.Metrics, c.Policy, c.Locker, c.State, c.Fleet, c.Nodes = metrics, policy, store, store, fleet, fake.NewNodes(clk, nil)
		c.Clock = clk
		a, err := autoscaler.New(c)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	const replicas = 20
	as := make([]*autoscaler.Autoscaler, replicas)
	for i := range as {
		as[i] = newAutoscaler(i)
	}
	tokens := map[int64]string{}
	wave := func() map[autoscaler.Outcome]int {
		results := make([]autoscaler.Result, replicas)
		errs := make([]error, replicas)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, a := range as {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[i], errs[i] = a.RunOnce(ctx)
			}()
		}
		begin := time.Now()
		close(start)
		wg.Wait()
		outcomes := map[autoscaler.Outcome]int{}
		for i, r := range results {
			if errs[i] != nil {
				t.Errorf("replica %d: %v", i, errs[i])
			}
			outcomes[r.Outcome]++
			if r.Outcome != autoscaler.OutcomeSkipped {
				if other, dup := tokens[r.Lease.Token]; dup {
					t.Errorf("token %d granted to %s and %s", r.Lease.Token, other, r.Lease.Owner)
				}
				tokens[r.Lease.Token] = r.Lease.Owner
			}
		}
		t.Logf("%d concurrent ticks took %s: %v", replicas, time.Since(begin).Round(time.Millisecond), outcomes)
		return outcomes
	}
	// The first wave: one of them scales up.
	outcomes := wave()
	if outcomes[autoscaler.OutcomeScaledUp] != 1 || outcomes[autoscaler.OutcomeScaledUp]+outcomes[autoscaler.OutcomeHeld]+outcomes[autoscaler.OutcomeSkipped] != replicas {
		t.Errorf("first wave %v: want exactly one scaled_up, the rest held or skipped", outcomes)
	}
	// A second wave, still seeing the same pending pods: the instances
	// are booting, so whoever gets the lock holds.
	second := wave()
	if second[autoscaler.OutcomeHeld] < 1 || second[autoscaler.OutcomeHeld]+second[autoscaler.OutcomeSkipped] != replicas {
		t.Errorf("second wave %v: want at least one held and no action", second)
	}
	held := outcomes[autoscaler.OutcomeHeld] + second[autoscaler.OutcomeHeld]

	// EC2 holds exactly the one launch's instances.
	lister, err := ec2fleet.New(ec2fleet.Config{ClusterID: cluster, Client: ec2.NewFromConfig(cfg), LaunchTemplate: ec2fleet.LaunchTemplate{ID: templateID}, Subnets: subnets})
	if err != nil {
		t.Fatal(err)
	}
	instances, err := lister.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]int{}
	for _, in := range instances {
		ops[in.OperationID]++
	}
	if len(instances) != 2 || len(ops) != 1 {
		t.Errorf("EC2 has %d instances from operations %v, want 2 from one operation", len(instances), ops)
	}
	// The state records one scale-up, no operation left open, and the
	// lock free.
	store, err := state.NewDynamo(state.DynamoConfig{Client: dynamodb.NewFromConfig(cfg), Table: table, ClusterID: cluster})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	actions := map[autoscaler.Action]int{}
	for _, r := range st.History {
		actions[r.Action] += max(r.Count, 1)
	}
	wantActions := map[autoscaler.Action]int{autoscaler.ScaleUp: 2}
	if held > 0 {
		wantActions[autoscaler.Hold] = held
	}
	if diff := cmp.Diff(wantActions, actions); diff != "" {
		t.Errorf("history actions (-want +got):\n%s", diff)
	}
	if st.Operation != nil || st.ScalingInProgress || st.NodeCount != 2 {
		t.Errorf("state after the ticks: operation %v, in progress %v, node count %d", st.Operation, st.ScalingInProgress, st.NodeCount)
	}
	if _, err := store.Acquire(ctx, "checker", time.Minute); err != nil {
		t.Errorf("the lock was left held: %v", err)
	}
}

// ec2Setup makes a VPC with subnets in two zones and a launch template.
func ec2Setup(t *testing.T, c *ec2.Client) (subnets []string, templateID string) {
	t.Helper()
	ctx := context.Background()
	imgs, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"amazon"}})
	if err != nil || len(imgs.Images) == 0 {
		t.Fatalf("describe images: %v", err)
	}
	vpc, err := c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.30.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	for i, z := range []string{"us-east-1a", "us-east-1b"} {
		s, err := c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, AvailabilityZone: aws.String(z), CidrBlock: aws.String(fmt.Sprintf("10.30.%d.0/24", i+1))})
		if err != nil {
			t.Fatal(err)
		}
		subnets = append(subnets, aws.ToString(s.Subnet.SubnetId))
	}
	lt, err := c.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String("lt-" + suffix(t)),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: imgs.Images[0].ImageId, InstanceType: ec2types.InstanceTypeT3Small},
	})
	if err != nil {
		t.Fatal(err)
	}
	return subnets, aws.ToString(lt.LaunchTemplate.LaunchTemplateId)
}
