package config

import (
	"context"
	"errors"
	"fmt"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/metrics"
)

// oneSize checks that the instance types are of one size, by their sizes
// from sizes (EC2 DescribeInstanceTypes: *ec2fleet.Provider): the planner
// counts workers, sized from one type, so types of different vCPUs or
// memory would make "one more worker" a different amount of capacity from
// launch to launch. The name does not tell the size: c5.large (2 vCPUs,
// 4 GiB) and r5.large (2 vCPUs, 16 GiB) differ, t3.medium and c5.large
// do not. It refuses a type EC2 does not know, naming it; when a size
// cannot be had (a failed call, no permission) it refuses too, rather
// than guess. Every listed type is asked, a list of one too (the Provider
// caches the answers, which the launches' fit reads again). Build calls
// it for INSTANCE_TYPES.
func oneSize(ctx context.Context, sizes metrics.InstanceTypes, types []string) error {
	type size struct {
		vcpu int
		mib  int64
	}
	var first size
	for i, t := range types {
		vcpu, mib, err := sizes.InstanceTypeSize(ctx, t)
		switch {
		case errors.Is(err, autoscaler.ErrNotFound):
			return fmt.Errorf("%s is not an instance type EC2 offers in this region: %w", t, err)
		case err != nil:
			return fmt.Errorf("cannot check that the types are of one size (EC2 DescribeInstanceTypes; the role needs ec2:DescribeInstanceTypes): %w", err)
		}
		if i == 0 {
			first = size{vcpu, mib}
			continue
		}
		if (size{vcpu, mib}) != first {
			return fmt.Errorf("%s (%d vCPUs, %d MiB) and %s (%d vCPUs, %d MiB) are of different sizes: list types of one size, the same vCPUs and memory (such as m5.large,m5a.large,m6i.large,m7i.large), or run one fleet per size",
				types[0], first.vcpu, first.mib, t, vcpu, mib)
		}
	}
	return nil
}
