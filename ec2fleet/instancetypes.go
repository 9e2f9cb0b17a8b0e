package ec2fleet

import (
	"context"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/internal/awsutil"
)

// typeSizes caches DescribeInstanceTypes' answers: an instance type's size
// does not change.
type typeSizes struct {
	mu    sync.Mutex
	sizes map[string]typeSize
}

type typeSize struct {
	vcpu      int
	memoryMiB int64
}

// InstanceTypeSize returns the instance type's default vCPUs and its
// memory in MiB, as EC2 DescribeInstanceTypes reports them, for the
// scheduler's view's worker template while no worker of the type has
// registered (it implements metrics.InstanceTypes: pass the Provider as
// metrics.KubeSchedulerConfig.InstanceTypes). Each type is asked once for
// the Provider's lifetime; a failed call is not remembered. A type EC2
// does not know (error code InvalidInstanceType, or an empty answer) is an
// error wrapping autoscaler.ErrNotFound.
func (p *Provider) InstanceTypeSize(ctx context.Context, instanceType string) (vcpu int, memoryMiB int64, err error) {
	c := &p.types
	c.mu.Lock()
	s, ok := c.sizes[instanceType]
	c.mu.Unlock()
	if ok {
		return s.vcpu, s.memoryMiB, nil
	}
	out, err := p.cfg.Client.DescribeInstanceTypes(ctx, &ec2.DescribeInstanceTypesInput{
		InstanceTypes: []types.InstanceType{types.InstanceType(instanceType)},
	})
	if code := awsutil.ErrorCode(err); code == "InvalidInstanceType" {
		return 0, 0, fmt.Errorf("instance type %q: %w: %w", instanceType, autoscaler.ErrNotFound, err)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("describe instance type %q: %w", instanceType, err)
	}
	for _, it := range out.InstanceTypes {
		if string(it.InstanceType) != instanceType {
			continue
		}
		if it.VCpuInfo == nil || it.MemoryInfo == nil || aws.ToInt32(it.VCpuInfo.DefaultVCpus) <= 0 || aws.ToInt64(it.MemoryInfo.SizeInMiB) <= 0 {
			return 0, 0, fmt.Errorf("instance type %q: EC2 reports no vCPU count or memory size", instanceType)
		}
		s = typeSize{vcpu: int(aws.ToInt32(it.VCpuInfo.DefaultVCpus)), memoryMiB: aws.ToInt64(it.MemoryInfo.SizeInMiB)}
		c.mu.Lock()
		if c.sizes == nil {
			c.sizes = map[string]typeSize{}
		}
		c.sizes[instanceType] = s
		c.mu.Unlock()
		return s.vcpu, s.memoryMiB, nil
	}
	return 0, 0, fmt.Errorf("instance type %q: %w: DescribeInstanceTypes does not list it", instanceType, autoscaler.ErrNotFound)
}
