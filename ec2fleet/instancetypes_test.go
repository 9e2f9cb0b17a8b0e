package ec2fleet_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/capacity"
	"github.com/node-fleet/node-fleet/ec2fleet"
	"github.com/node-fleet/node-fleet/metrics"
)

// The Provider is what config.Build passes as the scheduler view's
// InstanceTypes.
var _ metrics.InstanceTypes = (*ec2fleet.Provider)(nil)

// countingTypes counts the DescribeInstanceTypes calls that reach moto.
type countingTypes struct {
	ec2fleet.Client
	mu    sync.Mutex
	calls int
}

func (c *countingTypes) DescribeInstanceTypes(ctx context.Context, in *ec2.DescribeInstanceTypesInput, opts ...func(*ec2.Options)) (*ec2.DescribeInstanceTypesOutput, error) {
	c.mu.Lock()
	c.calls++
	c.mu.Unlock()
	return c.Client.DescribeInstanceTypes(ctx, in, opts...)
}

// InstanceTypeSize answers from EC2's DescribeInstanceTypes (moto's
// catalogue, which is AWS's), asks once per type, and says not found for a
// type EC2 does not know, asking again next time.
func TestMotoInstanceTypeSize(t *testing.T) {
	e := newMotoEnv(t)
	counter := &countingTypes{Client: e.client}
	p := e.provider(t, counter, nil)
	ctx := t.Context()
	for _, tc := range []struct {
		typ  string
		vcpu int
		mem  int64
	}{{"t3.medium", 2, 4096}, {"m5.large", 2, 8192}, {"c5.xlarge", 4, 8192}} {
		for range 2 {
			vcpu, mem, err := p.InstanceTypeSize(ctx, tc.typ)
			if err != nil || vcpu != tc.vcpu || mem != tc.mem {
				t.Errorf("InstanceTypeSize(%s) = %d vCPU, %d MiB, %v; want %d, %d", tc.typ, vcpu, mem, err, tc.vcpu, tc.mem)
			}
		}
	}
	if counter.calls != 3 {
		t.Errorf("%d DescribeInstanceTypes calls for 3 types asked twice each, want 3 (cached)", counter.calls)
	}
	for range 2 {
		if _, _, err := p.InstanceTypeSize(ctx, "t3.gigantic"); !errors.Is(err, autoscaler.ErrNotFound) {
			t.Errorf("InstanceTypeSize of an unknown type: %v, want ErrNotFound", err)
		}
	}
	if counter.calls != 5 {
		t.Errorf("%d DescribeInstanceTypes calls, want 5: an unknown type is asked again", counter.calls)
	}
}

// A launch for pods that need more than the smaller types offer uses only
// the types that fit (sizes from DescribeInstanceTypes, less the kubelet's
// reservation); when none fits it launches nothing and says so.
func TestMotoLaunchUsesOnlyTypesThatFitThePods(t *testing.T) {
	e := newMotoEnv(t)
	rec := e.recorder()
	p := e.provider(t, rec, func(c *ec2fleet.Config) { c.InstanceTypes = []string{"t3.medium", "m5.large", "c5.xlarge"} })
	ctx := t.Context()
	// 3 CPU: only c5.xlarge (4 vCPU) offers it; 6 GiB: m5.large and c5.xlarge.
	got, err := p.Launch(ctx, autoscaler.LaunchRequest{OperationID: "fit-cpu", Count: 1, Fit: capacity.Resources{MilliCPU: 3000, Memory: 1 << 30}})
	if err != nil || len(got) != 1 {
		t.Fatalf("launch: %v, %v", got, err)
	}
	for _, pool := range rec.pools(0) {
		if !strings.HasPrefix(pool, "c5.xlarge@") {
			t.Errorf("pool %s offered for a 3-CPU pod", pool)
		}
	}
	if _, err := p.Launch(ctx, autoscaler.LaunchRequest{OperationID: "fit-mem", Count: 1, Fit: capacity.Resources{MilliCPU: 500, Memory: 6 << 30}}); err != nil {
		t.Fatal(err)
	}
	for _, pool := range rec.pools(1) {
		if strings.HasPrefix(pool, "t3.medium@") {
			t.Errorf("pool %s offered for a 6 GiB pod", pool)
		}
	}
	calls := rec.calls()
	_, err = p.Launch(ctx, autoscaler.LaunchRequest{OperationID: "fit-none", Count: 1, Fit: capacity.Resources{MilliCPU: 8000}})
	if !errors.Is(err, autoscaler.ErrInsufficientCapacity) || !strings.Contains(err.Error(), "none of the instance types") {
		t.Errorf("launch for an 8-CPU pod: %v, want no type fits", err)
	}
	if rec.calls() != calls {
		t.Errorf("CreateFleet called for pods no type fits")
	}
}
