package ec2fleet

import (
	"context"
	"slices"
)

// Zones returns the availability zones of the configured subnets, sorted,
// each once: where the provider can launch workers. EC2 is asked once
// (DescribeSubnets); the answer is kept. The scheduler's view offers new
// workers in these zones (metrics.KubeSchedulerConfig.FleetZones), also in
// a zone that runs no worker yet.
func (p *Provider) Zones(ctx context.Context) ([]string, error) {
	subnets, err := p.subnetZones(ctx)
	if err != nil {
		return nil, err
	}
	var zones []string
	for _, s := range subnets {
		if !slices.Contains(zones, s.zone) {
			zones = append(zones, s.zone)
		}
	}
	slices.Sort(zones)
	return zones, nil
}
