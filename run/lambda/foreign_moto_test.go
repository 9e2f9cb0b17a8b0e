package lambda

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/ec2fleet"
	"github.com/node-fleet/node-fleet/internal/awsutil"
	"github.com/node-fleet/node-fleet/internal/testenv"
)

// countingLocker counts the lock's acquisitions.
type countingLocker struct {
	autoscaler.Locker
	acquired atomic.Int64
}

func (l *countingLocker) Acquire(ctx context.Context, owner string, ttl time.Duration) (autoscaler.Lease, error) {
	l.acquired.Add(1)
	return l.Locker.Acquire(ctx, owner, ttl)
}

// countingEC2 counts DescribeInstances calls.
type countingEC2 struct {
	ec2fleet.Client
	describes atomic.Int64
}

func (c *countingEC2) DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, opts ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	c.describes.Add(1)
	return c.Client.DescribeInstances(ctx, in, opts...)
}

func runInstances(t *testing.T, c *ec2.Client, image string, n int32, tags map[string]string) []string {
	t.Helper()
	in := &ec2.RunInstancesInput{ImageId: aws.String(image), MinCount: aws.Int32(n), MaxCount: aws.Int32(n), InstanceType: types.InstanceTypeT3Micro}
	if len(tags) > 0 {
		spec := types.TagSpecification{ResourceType: types.ResourceTypeInstance}
		for k, v := range tags {
			spec.Tags = append(spec.Tags, types.Tag{Key: aws.String(k), Value: aws.String(v)})
		}
		in.TagSpecifications = []types.TagSpecification{spec}
	}
	out, err := c.RunInstances(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, i := range out.Instances {
		ids = append(ids, aws.ToString(i.InstanceId))
	}
	return ids
}

func TestMotoForeignSpotWarningsTakeNoLock(t *testing.T) {
	endpoint := testenv.Lookup(t, "NODEFLEET_MOTO_ENDPOINT", "moto")
	ctx := context.Background()
	awsCfg, err := awsutil.ForEmulator(ctx, endpoint, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	client := ec2.NewFromConfig(awsCfg)
	imgs, err := client.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"amazon"}})
	if err != nil || len(imgs.Images) == 0 {
		t.Fatalf("describe images: %v", err)
	}
	image := aws.ToString(imgs.Images[0].ImageId)
	cluster := fmt.Sprintf("foreign-%d", time.Now().UnixNano())

	// 199 instances of other workloads, the K3s server (the cluster's tag
	// but not the fleet's) and one id EC2 has never heard of: 200 foreign
	// warnings. And one worker of the fleet.
	foreign := runInstances(t, client, image, 199, map[string]string{"team": "batch"})
	foreign = append(foreign, runInstances(t, client, image, 1, map[string]string{ec2fleet.TagCluster: cluster})...)
	foreign = append(foreign, "i-0123456789abcdef0")
	foreign = foreign[:200]
	worker := runInstances(t, client, image, 1, map[string]string{ec2fleet.TagCluster: cluster, ec2fleet.TagManagedBy: ec2fleet.ManagedByValue})[0]

	counted := &countingEC2{Client: client}
	fleet, err := ec2fleet.New(ec2fleet.Config{
		Client: counted, ClusterID: cluster, LaunchTemplate: ec2fleet.LaunchTemplate{Name: "lt-" + cluster}, Subnets: []string{"subnet-00000000"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var locker *countingLocker
	e := newEnv(t, 2, func(c *autoscaler.Config) {
		locker = &countingLocker{Locker: c.Locker}
		c.Locker = locker
	})
	e.h.Fleet = fleet

	var wg sync.WaitGroup
	errs := make(chan error, len(foreign))
	for _, id := range foreign {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := e.h.Handle(ctx, payload(t, "spot-interruption.json", id))
			switch {
			case err != nil:
				errs <- fmt.Errorf("%s: %w", id, err)
			case resp.Interruption == nil || resp.Interruption.Ignored == "":
				errs <- fmt.Errorf("%s: not ignored: %+v", id, resp)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := locker.acquired.Load(); n != 0 {
		t.Errorf("200 foreign warnings took the lock %d times, want 0", n)
	}
	if n := counted.describes.Load(); n != 200 {
		t.Errorf("%d DescribeInstances calls for 200 foreign warnings, want one each", n)
	}

	// The fleet's own warning still reaches the tick (the fake fleet
	// does not know the id: the tick ignores it, but it takes the lock).
	if _, err := e.h.Handle(ctx, payload(t, "spot-interruption.json", worker)); err != nil {
		t.Fatal(err)
	}
	if n := locker.acquired.Load(); n != 1 {
		t.Errorf("the fleet's own warning took the lock %d times, want 1", n)
	}
}
