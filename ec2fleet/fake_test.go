package ec2fleet_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
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
// records every CreateFleet call, and poolErr may refuse a pool. It fills
// each market's target from the overrides in the order given, skipping
// refused pools with an error entry each, as EC2 answers an instant fleet.
type fakeEC2 struct {
	mu        sync.Mutex
	zoneOf    map[string]string // subnet -> zone
	instances []types.Instance
	fleets    []*ec2.CreateFleetInput
	// poolErr, when set, returns the error code with which a pool
	// refuses an instance ("" to launch it).
	poolErr func(p fakePool) string
	// callErr, when set, fails a whole CreateFleet call.
	callErr func(in *ec2.CreateFleetInput) error
	// describeErr, when set, is returned by DescribeInstances.
	describeErr error
	// hide, when set, hides the instances it matches from
	// DescribeInstances (EC2's eventual consistency).
	hide func(types.Instance) bool
	// lose, when set, may replace the answer to the nth CreateFleet call
	// (from 1) by an error: the answer was lost, the instances exist.
	lose func(n int) error
	// replay, when set, is CreateFleet's answer, launching nothing: what
	// EC2 answers a token it has seen before.
	replay []types.CreateFleetInstance
	// idempotent, when set, answers a ClientToken as EC2 does: a token
	// seen before with the same request gets the earlier answer and
	// launches nothing; with another request, IdempotentParameterMismatch.
	idempotent bool
	tokens     map[string]fakeAnswer
}

// fakeAnswer is the request and answer of a token, for idempotent.
type fakeAnswer struct {
	in  *ec2.CreateFleetInput
	out *ec2.CreateFleetOutput
}

var _ ec2fleet.Client = (*fakeEC2)(nil)

// fakePool is one pool as the fake sees it.
type fakePool struct {
	Type, Zone, Market string
}

func newFakeEC2() *fakeEC2 {
	return &fakeEC2{zoneOf: map[string]string{"subnet-a": "eu-west-1a", "subnet-a2": "eu-west-1a", "subnet-b": "eu-west-1b", "subnet-c": "eu-west-1c"}}
}

func (f *fakeEC2) CreateFleet(_ context.Context, in *ec2.CreateFleetInput, _ ...func(*ec2.Options)) (*ec2.CreateFleetOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fleets = append(f.fleets, in)
	if f.callErr != nil {
		if err := f.callErr(in); err != nil {
			return nil, err
		}
	}
	if f.replay != nil {
		return &ec2.CreateFleetOutput{FleetId: aws.String("fleet-old"), Instances: f.replay}, nil
	}
	token := aws.ToString(in.ClientToken)
	if f.idempotent {
		if prev, ok := f.tokens[token]; ok {
			if !reflect.DeepEqual(prev.in, in) {
				return nil, &smithy.GenericAPIError{Code: "IdempotentParameterMismatch", Message: "token " + token + " was used with other parameters"}
			}
			return prev.out, nil
		}
	}
	var tags []types.Tag
	for _, ts := range in.TagSpecifications {
		if ts.ResourceType == types.ResourceTypeInstance {
			tags = ts.Tags
		}
	}
	out := &ec2.CreateFleetOutput{FleetId: aws.String(fmt.Sprintf("fleet-%d", len(f.fleets)))}
	tc := in.TargetCapacitySpecification
	for _, m := range []struct {
		market string
		n      int32
	}{{"spot", aws.ToInt32(tc.SpotTargetCapacity)}, {"on-demand", aws.ToInt32(tc.OnDemandTargetCapacity)}} {
		refused := map[int]bool{}
		for range m.n {
			for i, o := range in.LaunchTemplateConfigs[0].Overrides {
				if refused[i] {
					continue
				}
				typ := string(o.InstanceType)
				if typ == "" {
					typ = "t3.medium" // the template's
				}
				pool := fakePool{Type: typ, Zone: f.zoneOf[aws.ToString(o.SubnetId)], Market: m.market}
				lo := &types.LaunchTemplateAndOverridesResponse{Overrides: &types.FleetLaunchTemplateOverrides{
					SubnetId: o.SubnetId, InstanceType: types.InstanceType(typ)}}
				if f.poolErr != nil {
					if code := f.poolErr(pool); code != "" {
						refused[i] = true
						out.Errors = append(out.Errors, types.CreateFleetError{ErrorCode: aws.String(code), ErrorMessage: aws.String(code + " (test)"),
							Lifecycle: types.InstanceLifecycle(m.market), LaunchTemplateAndOverrides: lo})
						continue
					}
				}
				inst := types.Instance{
					InstanceId:   aws.String(fmt.Sprintf("i-%04d", len(f.instances)+1)),
					InstanceType: types.InstanceType(typ),
					Placement:    &types.Placement{AvailabilityZone: aws.String(pool.Zone)},
					State:        &types.InstanceState{Name: types.InstanceStateNamePending},
					Tags:         tags,
				}
				if m.market == "spot" {
					inst.InstanceLifecycle = types.InstanceLifecycleTypeSpot
				}
				f.instances = append(f.instances, inst)
				out.Instances = append(out.Instances, types.CreateFleetInstance{InstanceIds: []string{*inst.InstanceId},
					InstanceType: types.InstanceType(typ), Lifecycle: types.InstanceLifecycle(m.market), LaunchTemplateAndOverrides: lo})
				break
			}
		}
	}
	if f.idempotent {
		if f.tokens == nil {
			f.tokens = map[string]fakeAnswer{}
		}
		f.tokens[token] = fakeAnswer{in: in, out: out}
	}
	if f.lose != nil {
		if err := f.lose(len(f.fleets)); err != nil {
			return nil, err
		}
	}
	return out, nil
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
		if f.hide != nil && f.hide(inst) {
			continue
		}
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

// fleetCall is one CreateFleet call as the tests compare it: the
// capacities asked for and the pools offered ("t3.large@eu-west-1a").
type fleetCall struct {
	Spot, OnDemand int32
	Pools          []string
}

// calls returns the recorded CreateFleet calls.
func (f *fakeEC2) calls() []fleetCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]fleetCall, len(f.fleets))
	for i, in := range f.fleets {
		c := fleetCall{Spot: aws.ToInt32(in.TargetCapacitySpecification.SpotTargetCapacity), OnDemand: aws.ToInt32(in.TargetCapacitySpecification.OnDemandTargetCapacity)}
		for _, o := range in.LaunchTemplateConfigs[0].Overrides {
			c.Pools = append(c.Pools, cmp.Or(string(o.InstanceType), "-")+"@"+f.zoneOf[aws.ToString(o.SubnetId)])
		}
		out[i] = c
	}
	return out
}

// DescribeInstanceTypes is not faked: InstanceTypeSize is tested on moto.
func (f *fakeEC2) DescribeInstanceTypes(context.Context, *ec2.DescribeInstanceTypesInput, ...func(*ec2.Options)) (*ec2.DescribeInstanceTypesOutput, error) {
	return nil, errors.New("fakeEC2: DescribeInstanceTypes is not faked; see instancetypes_test.go (moto)")
}

// loseCall returns a fakeEC2.lose that loses the answer to the nth
// CreateFleet call with err.
func loseCall(nth int, err error) func(n int) error {
	return func(n int) error {
		if n == nth {
			return err
		}
		return nil
	}
}
