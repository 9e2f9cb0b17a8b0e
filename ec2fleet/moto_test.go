package ec2fleet_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/node-fleet/node-fleet/internal/awsutil"
	"github.com/node-fleet/node-fleet/internal/testenv"
)

// motoEnv is a VPC with two subnets in two zones and a launch template, in
// moto, named uniquely so that tests running at the same time (also from
// other packages) against the same moto do not see each other.
type motoEnv struct {
	client       *ec2.Client
	cluster      string
	subnets      []string
	zones        []string
	templateID   string
	templateName string
	image        string
}

func randSuffix(t testing.TB) string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

func newMotoEnv(t *testing.T) *motoEnv {
	t.Helper()
	endpoint := testenv.Lookup(t, "NODEFLEET_MOTO_ENDPOINT", "moto")
	ctx := context.Background()
	cfg, err := awsutil.ForEmulator(ctx, endpoint, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	c := ec2.NewFromConfig(cfg)
	e := &motoEnv{client: c, cluster: "test-" + randSuffix(t), zones: []string{"us-east-1a", "us-east-1b"}}
	imgs, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"amazon"}})
	if err != nil || len(imgs.Images) == 0 {
		t.Fatalf("describe images: %v (%d images)", err, len(imgs.Images))
	}
	e.image = aws.ToString(imgs.Images[0].ImageId)
	vpc, err := c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.20.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	for i, z := range e.zones {
		s, err := c.CreateSubnet(ctx, &ec2.CreateSubnetInput{
			VpcId: vpc.Vpc.VpcId, AvailabilityZone: aws.String(z),
			CidrBlock: aws.String([]string{"10.20.1.0/24", "10.20.2.0/24"}[i]),
		})
		if err != nil {
			t.Fatal(err)
		}
		e.subnets = append(e.subnets, aws.ToString(s.Subnet.SubnetId))
	}
	e.templateName = "lt-" + e.cluster
	lt, err := c.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String(e.templateName),
		LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: aws.String(e.image), InstanceType: types.InstanceTypeT3Medium},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.templateID = aws.ToString(lt.LaunchTemplate.LaunchTemplateId)
	return e
}

// describeCluster returns what EC2 itself says about the cluster's
// instances, bypassing the provider.
func (e *motoEnv) describeCluster(t *testing.T) []types.Instance {
	t.Helper()
	out, err := e.client.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{
		Filters: []types.Filter{{Name: aws.String("tag:node-fleet.io/cluster"), Values: []string{e.cluster}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var ins []types.Instance
	for _, r := range out.Reservations {
		ins = append(ins, r.Instances...)
	}
	slices.SortFunc(ins, func(a, b types.Instance) int {
		if aws.ToString(a.InstanceId) < aws.ToString(b.InstanceId) {
			return -1
		}
		return 1
	})
	return ins
}

// recorder wraps a Client, counts RunInstances calls and can inject
// errors before or after the real call.
type recorder struct {
	ec2ClientAPI
	mu   sync.Mutex
	runs []*ec2.RunInstancesInput
	// before, when set, may refuse a call before it reaches EC2.
	before func(in *ec2.RunInstancesInput) error
	// after, when set, may replace a successful answer by an error (the
	// answer was lost: the instance exists all the same).
	after func(n int) error
}

type ec2ClientAPI interface {
	RunInstances(context.Context, *ec2.RunInstancesInput, ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error)
	DescribeInstances(context.Context, *ec2.DescribeInstancesInput, ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
	TerminateInstances(context.Context, *ec2.TerminateInstancesInput, ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error)
	DescribeSubnets(context.Context, *ec2.DescribeSubnetsInput, ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error)
}

func (r *recorder) RunInstances(ctx context.Context, in *ec2.RunInstancesInput, opts ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error) {
	r.mu.Lock()
	r.runs = append(r.runs, in)
	n := len(r.runs)
	before, after := r.before, r.after
	r.mu.Unlock()
	if before != nil {
		if err := before(in); err != nil {
			return nil, err
		}
	}
	out, err := r.ec2ClientAPI.RunInstances(ctx, in, opts...)
	if err == nil && after != nil {
		if aerr := after(n); aerr != nil {
			return nil, aerr
		}
	}
	return out, err
}

func (r *recorder) calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.runs)
}
