package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/ec2fleet"
)

// listFleet lists the cluster's instances as ec2fleet.Provider.List does
// (both TagCluster and TagManagedBy, not yet terminated). It does not use a
// Provider, which needs the launch settings the operator has no use for.
func listFleet(ctx context.Context, client *ec2.Client, cluster string) ([]autoscaler.Instance, error) {
	filters := []types.Filter{
		{Name: aws.String("tag:" + ec2fleet.TagCluster), Values: []string{cluster}},
		{Name: aws.String("tag:" + ec2fleet.TagManagedBy), Values: []string{ec2fleet.ManagedByValue}},
		{Name: aws.String("instance-state-name"), Values: []string{"pending", "running", "stopping", "stopped", "shutting-down"}},
	}
	var out []autoscaler.Instance
	pages := ec2.NewDescribeInstancesPaginator(client, &ec2.DescribeInstancesInput{Filters: filters})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list the fleet's instances in EC2: %w", err)
		}
		for _, r := range page.Reservations {
			for _, in := range r.Instances {
				i := autoscaler.Instance{
					ID: aws.ToString(in.InstanceId), InstanceType: string(in.InstanceType),
					LaunchTime: aws.ToTime(in.LaunchTime), PrivateIP: aws.ToString(in.PrivateIpAddress),
					PrivateDNS: aws.ToString(in.PrivateDnsName), Market: autoscaler.MarketOnDemand,
				}
				if in.InstanceLifecycle == types.InstanceLifecycleTypeSpot {
					i.Market = autoscaler.MarketSpot
				}
				if in.Placement != nil {
					i.Zone = aws.ToString(in.Placement.AvailabilityZone)
				}
				if in.State != nil {
					i.State = autoscaler.InstanceState(in.State.Name)
				}
				i.Tags = map[string]string{}
				for _, t := range in.Tags {
					i.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
				}
				i.OperationID = i.Tags[ec2fleet.TagOperation]
				if v := i.Tags[ec2fleet.TagInterruptionNotice]; v != "" {
					if t, err := time.Parse(time.RFC3339, v); err == nil {
						i.InterruptionNotice = t
					}
				}
				out = append(out, i)
			}
		}
	}
	slices.SortFunc(out, func(a, b autoscaler.Instance) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}
