package ec2fleet_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"github.com/node-fleet/node-fleet/ec2fleet"
)

// fakeEC2 is an in-memory EC2 for the error paths moto cannot produce. It
// records every RunInstances call, and runErr may refuse one.
type fakeEC2 struct {
	mu        sync.Mutex
	zoneOf    map[string]string // subnet -> zone
	instances []types.Instance
	runs      []runCall
	// runErr, when set, decides whether a RunInstances call fails.
	runErr func(c runCall) error
	// describeErr, when set, is returned by DescribeInstances.
	describeErr error
}

var _ ec2fleet.Client = (*fakeEC2)(nil)

// runCall is one RunInstances call as the tests compare it.
type runCall struct {
	Zone, Market, Token string
}

func newFakeEC2() *fakeEC2 {
	return &fakeEC2{zoneOf: map[string]string{"subnet-a": "eu-west-1a", "subnet-b": "eu-west-1b", "subnet-c": "eu-west-1c"}}
}

func (f *fakeEC2) RunInstances(_ context.Context, in *ec2.RunInstancesInput, _ ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := runCall{Zone: f.zoneOf[aws.ToString(in.SubnetId)], Market: "on-demand", Token: aws.ToString(in.ClientToken)}
	if in.InstanceMarketOptions != nil {
		c.Market = "spot"
	}
	f.runs = append(f.runs, c)
	if f.runErr != nil {
		if err := f.runErr(c); err != nil {
			return nil, err
		}
	}
	inst := types.Instance{
		InstanceId:   aws.String(fmt.Sprintf("i-%04d", len(f.instances)+1)),
		InstanceType: types.InstanceTypeT3Medium,
		Placement:    &types.Placement{AvailabilityZone: aws.String(c.Zone)},
		State:        &types.InstanceState{Name: types.InstanceStateNamePending},
	}
	if c.Market == "spot" {
		inst.InstanceLifecycle = types.InstanceLifecycleTypeSpot
	}
	for _, ts := range in.TagSpecifications {
		if ts.ResourceType == types.ResourceTypeInstance {
			inst.Tags = ts.Tags
		}
	}
	f.instances = append(f.instances, inst)
	return &ec2.RunInstancesOutput{Instances: []types.Instance{inst}}, nil
}

func (f *fakeEC2) DescribeInstances(_ context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.describeErr != nil {
		return nil, f.describeErr
	}
	for _, flt := range in.Filters {
		if len(flt.Values) > 200 {
			return nil, &smithy.GenericAPIError{Code: "InvalidParameterValue", Message: "too many filter values"}
		}
	}
	var out []types.Instance
	for _, inst := range f.instances {
		if matches(inst, in.Filters) {
			out = append(out, inst)
		}
	}
	return &ec2.DescribeInstancesOutput{Reservations: []types.Reservation{{Instances: out}}}, nil
}

func matches(inst types.Instance, filters []types.Filter) bool {
	for _, flt := range filters {
		name := aws.ToString(flt.Name)
		var v string
		switch {
		case name == "instance-id":
			v = aws.ToString(inst.InstanceId)
		case name == "instance-state-name":
			v = string(inst.State.Name)
		case strings.HasPrefix(name, "tag:"):
			for _, t := range inst.Tags {
				if aws.ToString(t.Key) == strings.TrimPrefix(name, "tag:") {
					v = aws.ToString(t.Value)
				}
			}
		default:
			panic("fakeEC2: unsupported filter " + name)
		}
		if !slices.Contains(flt.Values, v) {
			return false
		}
	}
	return true
}

func (f *fakeEC2) TerminateInstances(_ context.Context, in *ec2.TerminateInstancesInput, _ ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.instances {
		if slices.Contains(in.InstanceIds, aws.ToString(f.instances[i].InstanceId)) {
			f.instances[i].State = &types.InstanceState{Name: types.InstanceStateNameTerminated}
		}
	}
	return &ec2.TerminateInstancesOutput{}, nil
}

func (f *fakeEC2) DescribeSubnets(_ context.Context, in *ec2.DescribeSubnetsInput, _ ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error) {
	var out []types.Subnet
	for _, id := range in.SubnetIds {
		if z, ok := f.zoneOf[id]; ok {
			out = append(out, types.Subnet{SubnetId: aws.String(id), AvailabilityZone: aws.String(z)})
		}
	}
	return &ec2.DescribeSubnetsOutput{Subnets: out}, nil
}

// calls returns the recorded RunInstances calls without their tokens.
func (f *fakeEC2) calls() []runCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]runCall, len(f.runs))
	for i, c := range f.runs {
		out[i] = runCall{Zone: c.Zone, Market: c.Market}
	}
	return out
}
