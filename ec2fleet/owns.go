package ec2fleet

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/node-fleet/node-fleet/internal/awsutil"
)

// Owns reports whether instanceID is one of this cluster's fleet: an
// instance carrying this cluster's TagCluster and TagManagedBy, in any
// state. It makes one DescribeInstances call by id. An instance EC2 does
// not know (another account's id, or one terminated long ago) is not
// owned: false and no error. Any other failure is returned, and the
// caller must then treat the instance as possibly the fleet's.
//
// It is the cheap check made before anything waits for the lock: the
// EventBridge rules for spot warnings deliver every warning of the
// account and region, most of them for other workloads' instances.
func (p *Provider) Owns(ctx context.Context, instanceID string) (bool, error) {
	if instanceID == "" {
		return false, nil
	}
	out, err := p.cfg.Client.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{instanceID}})
	if err != nil {
		code := awsutil.ErrorCode(err)
		if strings.HasPrefix(code, "InvalidInstanceID.NotFound") || code == "InvalidInstanceID.Malformed" {
			return false, nil
		}
		return false, fmt.Errorf("ec2fleet: describe instance %s: %w", instanceID, err)
	}
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			if c := convert(in); c.ID == instanceID && p.managed(c) {
				return true, nil
			}
		}
	}
	return false, nil
}
