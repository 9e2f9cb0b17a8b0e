package ec2fleet

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
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
	cfg Config

	mu      sync.Mutex
	subnets []subnet             // resolved lazily, in Config order
	avoid   map[avoidKey]avoided // capacity failures being avoided
}

var _ autoscaler.FleetProvider = (*Provider)(nil)

type subnet struct{ id, zone string }

type avoidKey struct {
	zone   string
	market autoscaler.Market
}

type avoided struct {
	until time.Time
	code  string
}

// New checks cfg and returns a Provider. Every problem with cfg is
// reported, each naming its field. New makes no AWS call.
func New(cfg Config) (*Provider, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Provider{cfg: cfg, avoid: map[avoidKey]avoided{}}, nil
}

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
			return nil, fmt.Errorf("ec2fleet: subnet %s not found", id)
		}
		out = append(out, subnet{id: id, zone: z})
	}
	p.subnets = out
	return out, nil
}

// Launch starts instances until req.OperationID has req.Count active ones
// and returns all of the operation's active instances. Instances already
// launched under the operation (found by TagOperation) count, so a retried
// request launches only what is missing. When no zone or market can launch
// the rest it returns what it has and a *CapacityError (errors.Is
// autoscaler.ErrInsufficientCapacity). Any other EC2 error ends the launch
// and is returned with what was launched so far. Idempotency is across
// retries, not concurrent calls: two Launch calls for the same operation
// at the same moment may both launch (the autoscaler runs one at a time
// under the cluster's lock).
func (p *Provider) Launch(ctx context.Context, req autoscaler.LaunchRequest) ([]autoscaler.Instance, error) {
	if req.OperationID == "" {
		return nil, errors.New("ec2fleet: launch: LaunchRequest.OperationID is required (it makes the launch idempotent)")
	}
	if req.Count < 0 {
		return nil, fmt.Errorf("ec2fleet: launch: LaunchRequest.Count must not be negative, got %d", req.Count)
	}
	subnets, err := p.subnetZones(ctx)
	if err != nil {
		return nil, err
	}
	fleet, err := p.List(ctx)
	if err != nil {
		return nil, err
	}
	var mine []autoscaler.Instance
	perZone := map[string]int{}
	spot, total := 0, 0
	for _, in := range fleet {
		if !in.State.Active() {
			continue
		}
		total++
		perZone[in.Zone]++
		if in.Market == autoscaler.MarketSpot {
			spot++
		}
		if in.OperationID == req.OperationID {
			mine = append(mine, in)
		}
	}
	missing := req.Count - len(mine)
	if missing <= 0 {
		return mine, nil
	}
	spotWanted := p.spotWanted(total, spot, missing)
	log := p.cfg.Logger.With("operation", req.OperationID)
	log.InfoContext(ctx, "launching", "have", len(mine), "want", req.Count, "spot", spotWanted)

	var failures []LaunchFailure
	for slot := len(mine); slot < req.Count; slot++ {
		market := autoscaler.MarketOnDemand
		if spotWanted > 0 {
			market = autoscaler.MarketSpot
			spotWanted--
		}
		in, err := p.launchOne(ctx, req.OperationID, slot, market, subnets, perZone, &failures)
		if err != nil {
			var ce *CapacityError
			if errors.As(err, &ce) {
				ce.Wanted, ce.Have = req.Count, len(mine)
			}
			return mine, err
		}
		perZone[in.Zone]++
		mine = append(mine, in)
	}
	return mine, nil
}

// spotWanted is how many of missing new instances should be spot.
func (p *Provider) spotWanted(total, spot, missing int) int {
	switch p.cfg.Strategy {
	case StrategyOnDemand:
		return 0
	case StrategySpotFirst:
		return missing
	}
	target := int(math.Round(p.cfg.SpotShare * float64(total+missing)))
	return min(max(target-spot, 0), missing)
}

// launchOne launches one instance for slot of operation op, in the zone
// with the fewest instances that is not avoided for market; spot falls
// back to on-demand when no zone can give spot.
func (p *Provider) launchOne(ctx context.Context, op string, slot int, market autoscaler.Market, subnets []subnet, perZone map[string]int, failures *[]LaunchFailure) (autoscaler.Instance, error) {
	for {
		s, ok := p.pick(subnets, market, perZone)
		if !ok {
			if market == autoscaler.MarketSpot {
				p.cfg.Logger.InfoContext(ctx, "no zone has spot capacity, falling back to on-demand", "operation", op, "slot", slot)
				market = autoscaler.MarketOnDemand
				continue
			}
			return autoscaler.Instance{}, &CapacityError{Failures: *failures, AvoidedUntil: p.earliestRetry()}
		}
		in, err := p.run(ctx, op, slot, s, market)
		if err == nil {
			return in, nil
		}
		sc, code := classify(err)
		if sc == scopeNone {
			return autoscaler.Instance{}, fmt.Errorf("ec2fleet: run instance in %s (%s, %s): %w", s.zone, s.id, market, err)
		}
		msg := err.Error()
		*failures = append(*failures, LaunchFailure{Subnet: s.id, Zone: s.zone, Market: market, Code: code, Message: msg})
		p.markAvoid(s.zone, market, sc, code, subnets)
		p.cfg.Logger.WarnContext(ctx, "capacity error, avoiding", "operation", op, "zone", s.zone, "market", market, "code", code, "for", p.cfg.AvoidFor)
	}
}

// pick chooses the subnet whose zone has the fewest instances among those
// not avoided for market; ties go to the subnet listed first.
func (p *Provider) pick(subnets []subnet, market autoscaler.Market, perZone map[string]int) (subnet, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.cfg.Clock.Now()
	best, found := subnet{}, false
	for _, s := range subnets {
		if a, ok := p.avoid[avoidKey{s.zone, market}]; ok {
			if now.Before(a.until) {
				continue
			}
			delete(p.avoid, avoidKey{s.zone, market})
		}
		if !found || perZone[s.zone] < perZone[best.zone] {
			best, found = s, true
		}
	}
	return best, found
}

func (p *Provider) markAvoid(zone string, market autoscaler.Market, sc scope, code string, subnets []subnet) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := avoided{until: p.cfg.Clock.Now().Add(p.cfg.AvoidFor), code: code}
	switch sc {
	case scopeZoneMarket:
		p.avoid[avoidKey{zone, market}] = a
	case scopeZone:
		p.avoid[avoidKey{zone, autoscaler.MarketSpot}] = a
		p.avoid[avoidKey{zone, autoscaler.MarketOnDemand}] = a
	case scopeMarket:
		for _, s := range subnets {
			p.avoid[avoidKey{s.zone, market}] = a
		}
	}
}

func (p *Provider) earliestRetry() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	var t time.Time
	for _, a := range p.avoid {
		if t.IsZero() || a.until.Before(t) {
			t = a.until
		}
	}
	return t
}

// clientToken is the idempotency token of one RunInstances call: the same
// operation, slot, subnet and market always give the same token (at most 64
// ASCII characters, as EC2 requires).
func clientToken(op string, slot int, subnetID string, market autoscaler.Market) string {
	h := sha256.Sum256([]byte(op + "\x00" + strconv.Itoa(slot) + "\x00" + subnetID + "\x00" + string(market)))
	return "nf-" + hex.EncodeToString(h[:16])
}

// tags returns the tags of an instance launched for op.
func (p *Provider) tags(op string) []types.Tag {
	m := map[string]string{
		TagCluster:   p.cfg.ClusterID,
		TagManagedBy: ManagedByValue,
		TagOperation: op,
		"Name":       p.cfg.Name,
	}
	for k, v := range p.cfg.ExtraTags {
		m[k] = v
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]types.Tag, 0, len(m))
	for _, k := range keys {
		out = append(out, types.Tag{Key: aws.String(k), Value: aws.String(m[k])})
	}
	return out
}

// run makes one RunInstances call for one instance.
func (p *Provider) run(ctx context.Context, op string, slot int, s subnet, market autoscaler.Market) (autoscaler.Instance, error) {
	lt := &types.LaunchTemplateSpecification{Version: aws.String(p.cfg.LaunchTemplate.Version)}
	if p.cfg.LaunchTemplate.ID != "" {
		lt.LaunchTemplateId = aws.String(p.cfg.LaunchTemplate.ID)
	} else {
		lt.LaunchTemplateName = aws.String(p.cfg.LaunchTemplate.Name)
	}
	tags := p.tags(op)
	in := &ec2.RunInstancesInput{
		MinCount:       aws.Int32(1),
		MaxCount:       aws.Int32(1),
		LaunchTemplate: lt,
		SubnetId:       aws.String(s.id),
		ClientToken:    aws.String(clientToken(op, slot, s.id, market)),
		TagSpecifications: []types.TagSpecification{
			{ResourceType: types.ResourceTypeInstance, Tags: tags},
			{ResourceType: types.ResourceTypeVolume, Tags: tags},
		},
	}
	if p.cfg.InstanceType != "" {
		in.InstanceType = types.InstanceType(p.cfg.InstanceType)
	}
	if market == autoscaler.MarketSpot {
		in.InstanceMarketOptions = &types.InstanceMarketOptionsRequest{
			MarketType: types.MarketTypeSpot,
			SpotOptions: &types.SpotMarketOptions{
				SpotInstanceType:             types.SpotInstanceTypeOneTime,
				InstanceInterruptionBehavior: types.InstanceInterruptionBehaviorTerminate,
			},
		}
	}
	out, err := p.cfg.Client.RunInstances(ctx, in)
	if err != nil {
		return autoscaler.Instance{}, err
	}
	if len(out.Instances) == 0 {
		return autoscaler.Instance{}, fmt.Errorf("ec2fleet: RunInstances in %s returned no instance", s.id)
	}
	got := convert(out.Instances[0])
	// The response may omit tags and placement; fill in what was asked.
	if got.Tags == nil {
		got.Tags = map[string]string{}
	}
	for _, t := range tags {
		if _, ok := got.Tags[aws.ToString(t.Key)]; !ok {
			got.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
	}
	got.OperationID = op
	if got.Zone == "" {
		got.Zone = s.zone
	}
	if got.State == "" {
		got.State = autoscaler.StatePending
	}
	return got, nil
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
