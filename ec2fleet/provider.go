package ec2fleet

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/internal/awsutil"
)

// Provider is an autoscaler.FleetProvider on EC2. It is safe for
// concurrent use.
type Provider struct {
	cfg      Config
	warnings []string

	mu      sync.Mutex
	subnets []subnet // resolved lazily, in Config order

	types typeSizes // InstanceTypeSize's answers
}

var _ autoscaler.FleetProvider = (*Provider)(nil)

type subnet struct{ id, zone string }

// New checks cfg and returns a Provider. Every problem with cfg is
// reported, each naming its field. New makes no AWS call; it logs the
// configuration's warnings (see Warnings).
func New(cfg Config) (*Provider, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	p := &Provider{cfg: cfg, warnings: cfg.warnings()}
	for _, w := range p.warnings {
		cfg.Logger.Warn(w)
	}
	return p, nil
}

// Warnings returns what is wrong with the configuration without stopping
// it from working, for the autoscaler to surface (in its result, an
// alert): today, fewer than MinSpotInstanceTypes instance types allowed
// for spot. It returns nil when there is nothing to say.
func (p *Provider) Warnings() []string { return slices.Clone(p.warnings) }

// activeStates are the states List asks for: every state but terminated.
var listedStates = []string{"pending", "running", "shutting-down", "stopping", "stopped"}

// List returns the cluster's instances that are not terminated: those
// whose TagCluster is this cluster's id and whose TagManagedBy is
// ManagedByValue. Other instances carrying the cluster's tag (the K3s
// server, which the deploy tags like every resource of the cluster) are
// not the fleet and are never listed.
func (p *Provider) List(ctx context.Context) ([]autoscaler.Instance, error) {
	return p.describe(ctx, []types.Filter{
		{Name: aws.String("tag:" + TagCluster), Values: []string{p.cfg.ClusterID}},
		{Name: aws.String("tag:" + TagManagedBy), Values: []string{ManagedByValue}},
		{Name: aws.String("instance-state-name"), Values: listedStates},
	})
}

// managed reports whether in is one of this provider's instances: it
// carries both this cluster's TagCluster and TagManagedBy.
func (p *Provider) managed(in autoscaler.Instance) bool {
	return in.Tags[TagCluster] == p.cfg.ClusterID && in.Tags[TagManagedBy] == ManagedByValue
}

// describe pages through DescribeInstances with filters.
func (p *Provider) describe(ctx context.Context, filters []types.Filter) ([]autoscaler.Instance, error) {
	var out []autoscaler.Instance
	pages := ec2.NewDescribeInstancesPaginator(p.cfg.Client, &ec2.DescribeInstancesInput{Filters: filters})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("ec2fleet: describe instances: %w", err)
		}
		for _, r := range page.Reservations {
			for _, in := range r.Instances {
				out = append(out, convert(in))
			}
		}
	}
	slices.SortFunc(out, func(a, b autoscaler.Instance) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// convert maps an EC2 instance onto autoscaler.Instance.
func convert(in types.Instance) autoscaler.Instance {
	out := autoscaler.Instance{
		ID:           aws.ToString(in.InstanceId),
		InstanceType: string(in.InstanceType),
		LaunchTime:   aws.ToTime(in.LaunchTime),
		PrivateIP:    aws.ToString(in.PrivateIpAddress),
		PrivateDNS:   aws.ToString(in.PrivateDnsName),
		Market:       autoscaler.MarketOnDemand,
	}
	if in.InstanceLifecycle == types.InstanceLifecycleTypeSpot {
		out.Market = autoscaler.MarketSpot
	}
	if in.Placement != nil {
		out.Zone = aws.ToString(in.Placement.AvailabilityZone)
	}
	if in.State != nil {
		out.State = autoscaler.InstanceState(in.State.Name)
	}
	if len(in.Tags) > 0 {
		out.Tags = make(map[string]string, len(in.Tags))
		for _, t := range in.Tags {
			out.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
		out.OperationID = out.Tags[TagOperation]
		if v := out.Tags[TagInterruptionNotice]; v != "" {
			if t, err := time.Parse(time.RFC3339, v); err == nil {
				out.InterruptionNotice = t
			}
		}
	}
	return out
}

// subnetZones returns the configured subnets with their zones, asking EC2
// once.
func (p *Provider) subnetZones(ctx context.Context) ([]subnet, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.subnets != nil {
		return p.subnets, nil
	}
	zoneOf := map[string]string{}
	pages := ec2.NewDescribeSubnetsPaginator(p.cfg.Client, &ec2.DescribeSubnetsInput{SubnetIds: p.cfg.Subnets})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			if strings.HasPrefix(awsutil.ErrorCode(err), "InvalidSubnetID.") {
				return nil, fmt.Errorf("ec2fleet: Config.Subnets (%s) names a subnet EC2 does not know here (deleted, a typo, or in another region): %w",
					strings.Join(p.cfg.Subnets, ","), err)
			}
			return nil, fmt.Errorf("ec2fleet: describe subnets %s: %w", strings.Join(p.cfg.Subnets, ","), err)
		}
		for _, s := range page.Subnets {
			zoneOf[aws.ToString(s.SubnetId)] = aws.ToString(s.AvailabilityZone)
		}
	}
	var out []subnet
	for _, id := range p.cfg.Subnets {
		z, ok := zoneOf[id]
		if !ok || z == "" {
			return nil, fmt.Errorf("ec2fleet: Config.Subnets: subnet %s not found", id)
		}
		out = append(out, subnet{id: id, zone: z})
	}
	p.subnets = out
	return out, nil
}

// Terminate terminates the given instances that carry both this cluster's
// TagCluster and TagManagedBy. Instances already gone (unknown or
// terminated) are skipped. Instances lacking either tag (another
// cluster's, or the cluster's own K3s server, which carries the cluster
// tag but not TagManagedBy) are never terminated: Terminate returns an
// error wrapping autoscaler.ErrNotManaged naming them, after terminating
// the others.
func (p *Provider) Terminate(ctx context.Context, ids []string) error {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	ids = slices.DeleteFunc(ids, func(s string) bool { return s == "" })
	if len(ids) == 0 {
		return nil
	}
	// Look the ids up by filter (an unknown id in InstanceIds would fail
	// the whole call), at most 200 values per filter as EC2 allows.
	var found []autoscaler.Instance
	for chunk := range slices.Chunk(ids, 200) {
		part, err := p.describe(ctx, []types.Filter{{Name: aws.String("instance-id"), Values: chunk}})
		if err != nil {
			return err
		}
		found = append(found, part...)
	}
	var doomed, foreign []string
	for _, in := range found {
		if !p.managed(in) {
			foreign = append(foreign, in.ID)
			continue
		}
		if in.State != autoscaler.StateTerminated && in.State != autoscaler.StateShuttingDown {
			doomed = append(doomed, in.ID)
		}
	}
	var errs []error
	for chunk := range slices.Chunk(doomed, 1000) {
		_, err := p.cfg.Client.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: chunk})
		if err != nil && !strings.HasPrefix(awsutil.ErrorCode(err), "InvalidInstanceID.NotFound") {
			errs = append(errs, fmt.Errorf("ec2fleet: terminate %s: %w", strings.Join(chunk, ","), err))
			continue
		}
		p.cfg.Logger.InfoContext(ctx, "terminated", "instances", chunk)
	}
	if len(foreign) > 0 {
		errs = append(errs, fmt.Errorf("ec2fleet: refusing to terminate %s (not tagged both %s=%s and %s=%s): %w",
			strings.Join(foreign, ","), TagCluster, p.cfg.ClusterID, TagManagedBy, ManagedByValue, autoscaler.ErrNotManaged))
	}
	return errors.Join(errs...)
}
