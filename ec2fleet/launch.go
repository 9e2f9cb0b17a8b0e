package ec2fleet

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/capacity"
	"github.com/node-fleet/node-fleet/internal/awsutil"
)

// Launch starts instances until req.OperationID has req.Count active ones
// and returns all of the operation's active instances. Instances already
// launched under the operation (found by TagOperation) count, so a retried
// request launches only what is missing.
//
// The missing instances are spread over the availability zones of the
// configured subnets (only those in req.Zones when it is not empty) by
// water-filling: each goes to the zone with the fewest workers, counted
// from req.ZoneCounts (from List when it is nil, and never below the
// operation's own instances in a zone), ties to the zone whose subnet is
// listed first. Each zone's share is asked for in one CreateFleet call of
// type instant with an override for every allowed instance type in each
// of the zone's subnets, less the pools remembered as unavailable; its
// spot and on-demand target capacities follow Config.Strategy. When a
// zone's spot falls short (or the two markets may not use the same pools
// there) a second call asks on-demand in that zone for what is still
// missing. A zone that still falls short hands what it did not launch to
// the other zones, water-filled again, in the same Launch. Pools that
// answer with a capacity error are remembered in Config.Pools for
// Config.AvoidFor, so a zone that refused everything is left out of the
// next launches too. When no pool can launch the rest, Launch returns what
// it has and a *CapacityError (errors.Is
// autoscaler.ErrInsufficientCapacity); so it does, launching nothing, when
// no configured subnet is in req.Zones. Any other EC2 error ends the
// launch and is returned with what was launched so far.
//
// Idempotency is across retries, not concurrent calls: two Launch calls for
// the same operation at the same moment may both launch (the autoscaler
// runs one at a time under the cluster's lock).
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
	l := &launch{p: p, op: req.OperationID, subnets: subnets, perZone: map[string]int{}}
	l.types, err = p.fitting(ctx, req.Fit)
	if err != nil {
		return nil, err
	}
	mineZone := map[string]int{}
	for _, in := range fleet {
		if !in.State.Active() {
			continue
		}
		l.total++
		l.perZone[in.Zone]++
		if in.Market == autoscaler.MarketSpot {
			l.spot++
		}
		if in.OperationID == req.OperationID {
			l.mine = append(l.mine, in)
			mineZone[in.Zone]++
		}
	}
	if req.ZoneCounts != nil {
		// The planner's counts, but the operation's own instances are
		// counted in their zones even when the counts predate them.
		l.perZone = maps.Clone(req.ZoneCounts)
		for z, n := range mineZone {
			l.perZone[z] = max(l.perZone[z], n)
		}
	}
	missing := req.Count - len(l.mine)
	if missing <= 0 {
		return l.mine, nil
	}
	zones := zonesOf(subnets, req.Zones)
	if len(zones) == 0 {
		return l.mine, &CapacityError{Wanted: req.Count, Have: len(l.mine), Zones: req.Zones}
	}
	l.loadPools(ctx)
	p.cfg.Logger.InfoContext(ctx, "launching", "operation", req.OperationID, "have", len(l.mine), "want", req.Count, "zones", zones)

	err = l.spread(ctx, zones, req.Count)
	l.savePools(ctx)
	if err != nil {
		return l.mine, err
	}
	if len(l.mine) < req.Count {
		return l.mine, &CapacityError{Wanted: req.Count, Have: len(l.mine), Failures: l.failures, AvoidedUntil: l.avoid.earliest()}
	}
	return l.mine, nil
}

// zonesOf returns the zones of subnets, in the order the subnets are
// listed, restricted to allowed when it is not empty.
func zonesOf(subnets []subnet, allowed []string) []string {
	var out []string
	for _, s := range subnets {
		if (len(allowed) == 0 || slices.Contains(allowed, s.zone)) && !slices.Contains(out, s.zone) {
			out = append(out, s.zone)
		}
	}
	return out
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

// launch is one Launch call's working state.
type launch struct {
	p        *Provider
	op       string
	subnets  []subnet
	perZone  map[string]int        // the fleet's workers per zone
	total    int                   // the cluster's active instances
	spot     int                   // of which spot
	types    []string              // the instance types this launch may use
	mine     []autoscaler.Instance // the operation's instances
	avoid    avoided               // unavailable pools, not expired
	learnt   bool                  // avoid has entries to save
	failures []LaunchFailure
}

// spread launches the missing instances over zones: water-filled shares,
// one zone at a time; a zone that falls short is not asked again, and
// what it did not launch is water-filled over the others.
func (l *launch) spread(ctx context.Context, zones []string, want int) error {
	short := map[string]bool{}
	for {
		missing := want - len(l.mine)
		if missing <= 0 {
			return nil
		}
		open := slices.DeleteFunc(slices.Clone(zones), func(z string) bool { return short[z] || !l.usable(z) })
		if len(open) == 0 {
			return nil
		}
		spotN := l.p.spotWanted(l.total, l.spot, missing)
		type share struct{ spot, od int }
		shares := map[string]*share{}
		var order []string
		for i, z := range waterfill(missing, open, l.perZone) {
			if shares[z] == nil {
				shares[z] = &share{}
				order = append(order, z)
			}
			if i < spotN {
				shares[z].spot++
			} else {
				shares[z].od++
			}
		}
		for _, z := range order {
			s := shares[z]
			before := len(l.mine)
			l.p.cfg.Logger.InfoContext(ctx, "launching in zone", "operation", l.op, "zone", z, "spot", s.spot, "on-demand", s.od)
			if err := l.run(ctx, z, s.spot, s.od); err != nil {
				return err
			}
			if got := len(l.mine) - before; got < s.spot+s.od {
				short[z] = true
				l.p.cfg.Logger.WarnContext(ctx, "zone fell short, handing the rest to the other zones", "operation", l.op, "zone", z,
					"asked", s.spot+s.od, "launched", got)
			}
		}
	}
}

// waterfill returns the zone of each of n new instances, in order: each
// to the zone of zones with the fewest in counts (counting the ones before
// it), ties to the zone listed first.
func waterfill(n int, zones []string, counts map[string]int) []string {
	c := make(map[string]int, len(zones))
	for _, z := range zones {
		c[z] = counts[z]
	}
	out := make([]string, 0, n)
	for range n {
		best := zones[0]
		for _, z := range zones[1:] {
			if c[z] < c[best] {
				best = z
			}
		}
		c[best]++
		out = append(out, best)
	}
	return out
}

// usable reports whether zone has a pool left in a market the launch may
// use.
func (l *launch) usable(zone string) bool {
	if len(l.overrides(autoscaler.MarketOnDemand, zone)) > 0 {
		return true
	}
	return l.p.cfg.Strategy != StrategyOnDemand && len(l.overrides(autoscaler.MarketSpot, zone)) > 0
}

// run asks for spotN spot and odN on-demand instances in zone: spot first
// (with the on-demand part in the same call when both markets may use the
// same pools), then on-demand for whatever is still missing.
func (l *launch) run(ctx context.Context, zone string, spotN, odN int) error {
	want := len(l.mine) + spotN + odN
	if spotN > 0 {
		ovs := l.overrides(autoscaler.MarketSpot, zone)
		if len(ovs) == 0 {
			l.p.cfg.Logger.InfoContext(ctx, "every spot pool of the zone is avoided, asking for on-demand instead", "operation", l.op, "zone", zone, "spot", spotN)
		} else {
			withOD := 0
			if odN > 0 && slices.EqualFunc(ovs, l.overrides(autoscaler.MarketOnDemand, zone), override.equal) {
				withOD = odN
			}
			if err := l.create(ctx, zone, "1", spotN, withOD, ovs); err != nil {
				return err
			}
		}
	}
	if rest := want - len(l.mine); rest > 0 {
		ovs := l.overrides(autoscaler.MarketOnDemand, zone)
		if len(ovs) == 0 {
			return nil
		}
		if spotN > 0 && rest > odN {
			l.p.cfg.Logger.InfoContext(ctx, "spot fell short, falling back to on-demand", "operation", l.op, "zone", zone, "short", rest)
		}
		return l.create(ctx, zone, "2", 0, rest, ovs)
	}
	return nil
}

// override is one pool set of a CreateFleet call: a subnet and an
// instance type (empty: the launch template's type, or Requirements less
// exclude).
type override struct {
	subnet       subnet
	instanceType string
	exclude      []string
}

func (o override) equal(p override) bool {
	return o.subnet == p.subnet && o.instanceType == p.instanceType && slices.Equal(o.exclude, p.exclude)
}

// overrides returns the pools market may use in zone: every allowed type
// in every subnet of the zone, types in the configured order and, within
// a type, the subnets in the configured order, less the unavailable pools.
func (l *launch) overrides(market autoscaler.Market, zone string) []override {
	subnets := slices.DeleteFunc(slices.Clone(l.subnets), func(s subnet) bool { return s.zone != zone })
	var out []override
	if l.p.cfg.Requirements != nil {
		for _, s := range subnets {
			if l.avoid.covers(Pool{Zone: s.zone, Market: market}) {
				continue
			}
			var ex []string
			for _, u := range l.avoid {
				if u.InstanceType != "" && u.Market == market && (u.Zone == "" || u.Zone == s.zone) && !slices.Contains(ex, u.InstanceType) {
					ex = append(ex, u.InstanceType)
				}
			}
			slices.Sort(ex)
			out = append(out, override{subnet: s, exclude: ex})
		}
		return out
	}
	instanceTypes := l.types
	if len(instanceTypes) == 0 {
		instanceTypes = []string{""}
	}
	for _, t := range instanceTypes {
		for _, s := range subnets {
			if !l.avoid.covers(Pool{InstanceType: t, Zone: s.zone, Market: market}) {
				out = append(out, override{subnet: s, instanceType: t})
			}
		}
	}
	return out
}

// clientToken is the idempotency token of one CreateFleet call: the
// operation, how many instances it had in the zone the call is for when
// the call was made, that zone, the call's phase in the zone (1: spot or
// mixed, 2: on-demand) and the AvoidFor window of the clock the call falls
// in. A retry that cannot see yet (EC2's eventual consistency) the
// instances an earlier call launched in a zone has as many in that zone
// as that call had, so it asks the zone with the same token and EC2
// answers with the instances it launched then, whichever of the other
// zones' instances the retry sees and in whatever order it asks the
// zones. (A count over every zone would not do: a retry that sees a later
// zone's instances but not an earlier one's would ask the earlier zone
// with a new token and launch its share again.) The token does not depend
// on the subnets, types or markets chosen, so a retry that chooses other
// pools or counts in a zone cannot pass for a new request (EC2 answers a
// reused token with other parameters with IdempotentParameterMismatch,
// which Launch returns without launching). Within one Launch no two calls
// share a token: a zone is asked again only after it launched its whole
// share (more instances had there).
//
// The window is there because EC2 answers a reused token with the first
// answer, also when that answer launched nothing: an attempt that found no
// capacity anywhere must not be answered so again once the unavailable
// pools have expired. The cost is that a retry straddling a window's end
// (normally seconds after a lost answer, in a window of AvoidFor, 3 minutes
// by default) gets a new token; the provider's own idempotency, finding
// the operation's instances by tag first, still holds then.
//
// At most 64 ASCII characters, as EC2 requires.
func clientToken(op string, have int, zone, phase string, window int64) string {
	h := sha256.Sum256([]byte(op + "\x00" + strconv.Itoa(have) + "\x00" + zone + "\x00" + phase + "\x00" + strconv.FormatInt(window, 10)))
	return "nf-" + hex.EncodeToString(h[:16])
}

// tags returns the tags of an instance launched for op, sorted by key.
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

// fleetInput is the CreateFleet request for spotN spot and odN on-demand
// instances over ovs.
func (p *Provider) fleetInput(op, token string, spotN, odN int, ovs []override) *ec2.CreateFleetInput {
	lt := &types.FleetLaunchTemplateSpecificationRequest{Version: aws.String(p.cfg.LaunchTemplate.Version)}
	if p.cfg.LaunchTemplate.ID != "" {
		lt.LaunchTemplateId = aws.String(p.cfg.LaunchTemplate.ID)
	} else {
		lt.LaunchTemplateName = aws.String(p.cfg.LaunchTemplate.Name)
	}
	prioritized := (odN > 0 && p.cfg.OnDemandAllocationStrategy == types.FleetOnDemandAllocationStrategyPrioritized) ||
		(spotN > 0 && p.cfg.SpotAllocationStrategy == types.SpotAllocationStrategyCapacityOptimizedPrioritized)
	reqOvs := make([]types.FleetLaunchTemplateOverridesRequest, len(ovs))
	for i, o := range ovs {
		r := types.FleetLaunchTemplateOverridesRequest{SubnetId: aws.String(o.subnet.id), InstanceType: types.InstanceType(o.instanceType)}
		if req := p.cfg.Requirements; req != nil {
			r.InstanceRequirements = &types.InstanceRequirementsRequest{
				VCpuCount:             &types.VCpuCountRangeRequest{Min: aws.Int32(req.VCPUs.Min), Max: nonZero(req.VCPUs.Max)},
				MemoryMiB:             &types.MemoryMiBRequest{Min: aws.Int32(req.MemoryMiB.Min), Max: nonZero(req.MemoryMiB.Max)},
				ExcludedInstanceTypes: o.exclude,
			}
		}
		if prioritized {
			r.Priority = aws.Float64(float64(i))
		}
		reqOvs[i] = r
	}
	target := &types.TargetCapacitySpecificationRequest{
		TotalTargetCapacity:       aws.Int32(int32(spotN + odN)),
		DefaultTargetCapacityType: types.DefaultTargetCapacityTypeOnDemand,
	}
	in := &ec2.CreateFleetInput{
		Type:        types.FleetTypeInstant,
		ClientToken: aws.String(token),
		LaunchTemplateConfigs: []types.FleetLaunchTemplateConfigRequest{
			{LaunchTemplateSpecification: lt, Overrides: reqOvs},
		},
		TargetCapacitySpecification: target,
		TagSpecifications: []types.TagSpecification{
			{ResourceType: types.ResourceTypeInstance, Tags: p.tags(op)},
			{ResourceType: types.ResourceTypeVolume, Tags: p.tags(op)},
			{ResourceType: types.ResourceTypeFleet, Tags: p.tags(op)},
		},
	}
	if spotN > 0 {
		target.SpotTargetCapacity = aws.Int32(int32(spotN))
		target.DefaultTargetCapacityType = types.DefaultTargetCapacityTypeSpot
		in.SpotOptions = &types.SpotOptionsRequest{
			AllocationStrategy:           p.cfg.SpotAllocationStrategy,
			InstanceInterruptionBehavior: types.SpotInstanceInterruptionBehaviorTerminate,
		}
	}
	if odN > 0 {
		target.OnDemandTargetCapacity = aws.Int32(int32(odN))
		in.OnDemandOptions = &types.OnDemandOptionsRequest{AllocationStrategy: p.cfg.OnDemandAllocationStrategy}
	}
	return in
}

func nonZero(v int32) *int32 {
	if v == 0 {
		return nil
	}
	return aws.Int32(v)
}

// create makes one CreateFleet call and adds what it launched to l.mine
// and what it refused for capacity to l.avoid and l.failures. It returns
// an error only for what is no capacity error.
func (l *launch) create(ctx context.Context, zone, phase string, spotN, odN int, ovs []override) error {
	p := l.p
	have := 0
	for _, in := range l.mine {
		if in.Zone == zone {
			have++
		}
	}
	token := clientToken(l.op, have, zone, phase, p.cfg.Clock.Now().UnixNano()/int64(p.cfg.AvoidFor))
	out, err := p.cfg.Client.CreateFleet(ctx, p.fleetInput(l.op, token, spotN, odN, ovs))
	markets := marketsOf(spotN, odN)
	if err != nil {
		return l.callFailed(ctx, err, spotN, odN, ovs, markets)
	}
	other := l.poolErrors(ctx, out.Errors, ovs, markets)
	launched, gone := l.adopt(ctx, out.Instances, token)
	if len(gone) > 0 {
		other = append(other, fmt.Errorf("the answer named instances no longer running (%s): an earlier request with token %s launched them, and this operation cannot launch again", strings.Join(gone, ","), token))
		return fmt.Errorf("ec2fleet: create fleet for operation %s: %w", l.op, errors.Join(other...))
	}
	if len(other) > 0 && len(launched) < spotN+odN {
		return fmt.Errorf("ec2fleet: create fleet (%d spot, %d on-demand) for operation %s launched %d: %w", spotN, odN, l.op, len(launched), errors.Join(other...))
	}
	return nil
}

// marketsOf returns the markets a call for spotN spot and odN on-demand
// instances asks for, spot first.
func marketsOf(spotN, odN int) []autoscaler.Market {
	var markets []autoscaler.Market
	if spotN > 0 {
		markets = append(markets, autoscaler.MarketSpot)
	}
	if odN > 0 {
		markets = append(markets, autoscaler.MarketOnDemand)
	}
	return markets
}

// callFailed handles a CreateFleet call that failed with err: a refusal
// for capacity marks every pool and market it asked for (ovs, markets)
// unavailable and is no error; a token EC2 has seen for another request,
// and any other failure, is one.
func (l *launch) callFailed(ctx context.Context, err error, spotN, odN int, ovs []override, markets []autoscaler.Market) error {
	code := awsutil.ErrorCode(err)
	if code == "IdempotentParameterMismatch" {
		return fmt.Errorf("ec2fleet: create fleet for operation %s: an earlier request with the same token asked for other pools or counts, and its instances may not be visible yet; not launching again: %w", l.op, err)
	}
	if sc, _ := classify(err); sc != scopeNone {
		// The whole call refused: every pool it asked for.
		for _, o := range ovs {
			for _, m := range markets {
				l.refused(ctx, sc, o.subnet, o.instanceType, m, code, err.Error())
			}
		}
		return nil
	}
	return fmt.Errorf("ec2fleet: create fleet (%d spot, %d on-demand) for operation %s: %w", spotN, odN, l.op, err)
}

// poolErrors marks unavailable the pools an answer's capacity errors name
// (every pool ovs and market the call asked for when an error names none)
// and returns its other errors.
func (l *launch) poolErrors(ctx context.Context, errs []types.CreateFleetError, ovs []override, markets []autoscaler.Market) (other []error) {
	for _, e := range errs {
		code, msg := aws.ToString(e.ErrorCode), aws.ToString(e.ErrorMessage)
		sc := capacityCodes[code]
		if sc == scopeNone {
			other = append(other, fmt.Errorf("%s: %s", code, msg))
			continue
		}
		asked := markets // no market named: every market of the call
		switch e.Lifecycle {
		case types.InstanceLifecycleSpot:
			asked = []autoscaler.Market{autoscaler.MarketSpot}
		case types.InstanceLifecycleOnDemand:
			asked = []autoscaler.Market{autoscaler.MarketOnDemand}
		}
		subnetID, zone, typ := poolOf(e.LaunchTemplateAndOverrides)
		targets := ovs // no pool named: every pool of the call
		if subnetID != "" || zone != "" {
			targets = []override{{subnet: l.subnetOf(subnetID, zone), instanceType: typ}}
		}
		for _, o := range targets {
			for _, m := range asked {
				l.refused(ctx, sc, o.subnet, o.instanceType, m, code, msg)
			}
		}
	}
	return other
}

// adopt adds the instances of an answer to the call with token to the
// operation's and counts them; it returns those it added, and the ids of
// those no longer running.
func (l *launch) adopt(ctx context.Context, fis []types.CreateFleetInstance, token string) (launched []autoscaler.Instance, gone []string) {
	launched = l.launched(ctx, fis)
	// EC2 answers a token it has seen with the earlier request's
	// instances; those already gone (a replayed operation whose instances
	// were terminated) are not capacity, and asking again with the same
	// token would give them again.
	// An answer to a reused token may also name instances this Launch
	// already has (listed, or answered before): each counts once.
	launched = slices.DeleteFunc(launched, func(in autoscaler.Instance) bool {
		if slices.ContainsFunc(l.mine, func(m autoscaler.Instance) bool { return m.ID == in.ID }) {
			l.p.cfg.Logger.InfoContext(ctx, "the answer names an instance the operation already has", "operation", l.op, "instance", in.ID, "token", token)
			return true
		}
		if in.State.Active() {
			return false
		}
		gone = append(gone, in.ID)
		return true
	})
	for _, in := range launched {
		l.perZone[in.Zone]++
		l.total++
		if in.Market == autoscaler.MarketSpot {
			l.spot++
		}
	}
	l.mine = append(l.mine, launched...)
	return launched, gone
}

// poolOf returns the subnet, zone and type an answer's entry names.
func poolOf(lo *types.LaunchTemplateAndOverridesResponse) (subnetID, zone, instanceType string) {
	if lo == nil || lo.Overrides == nil {
		return "", "", ""
	}
	o := lo.Overrides
	return aws.ToString(o.SubnetId), aws.ToString(o.AvailabilityZone), string(o.InstanceType)
}

// subnetOf finds the configured subnet by id, else by zone.
func (l *launch) subnetOf(id, zone string) subnet {
	for _, s := range l.subnets {
		if (id != "" && s.id == id) || (id == "" && s.zone == zone) {
			return s
		}
	}
	return subnet{id: id, zone: zone}
}

// refused records a capacity error of scope sc for the pool (s, typ,
// market).
func (l *launch) refused(ctx context.Context, sc scope, s subnet, typ string, market autoscaler.Market, code, msg string) {
	p := l.p
	l.failures = append(l.failures, LaunchFailure{Subnet: s.id, Zone: s.zone, Market: market, InstanceType: typ, Code: code, Message: msg})
	q := Pool{InstanceType: typ, Zone: s.zone, Market: market}
	if len(p.cfg.InstanceTypes) == 0 && p.cfg.Requirements == nil {
		q.InstanceType = "" // the launch template's only type
	}
	until := p.cfg.Clock.Now().Add(p.cfg.AvoidFor)
	for _, u := range sc.unavailable(q) {
		l.avoid = l.avoid.add(UnavailablePool{Pool: u, Until: until, Code: code})
	}
	l.learnt = true
	p.cfg.Logger.WarnContext(ctx, "capacity error, avoiding the pool", "operation", l.op, "zone", s.zone, "type", typ,
		"market", market, "code", code, "for", p.cfg.AvoidFor)
}

// launched turns CreateFleet's instances into autoscaler.Instances,
// described by EC2 where it already knows them (CreateFleet's answer has
// no addresses nor tags).
func (l *launch) launched(ctx context.Context, fis []types.CreateFleetInstance) []autoscaler.Instance {
	p := l.p
	var out []autoscaler.Instance
	var ids []string
	for _, fi := range fis {
		subnetID, zone, _ := poolOf(fi.LaunchTemplateAndOverrides)
		subnetID = cmp.Or(aws.ToString(fi.SubnetId), subnetID)
		zone = cmp.Or(aws.ToString(fi.AvailabilityZone), zone)
		if zone == "" && subnetID != "" {
			zone = l.subnetOf(subnetID, "").zone
		}
		market := autoscaler.MarketOnDemand
		if fi.Lifecycle == types.InstanceLifecycleSpot {
			market = autoscaler.MarketSpot
		}
		for _, id := range fi.InstanceIds {
			ids = append(ids, id)
			out = append(out, autoscaler.Instance{ID: id, InstanceType: string(fi.InstanceType), Zone: zone, Market: market, State: autoscaler.StatePending})
		}
	}
	// Fill in addresses, launch time and zone; an instance EC2 does not
	// list yet (eventual consistency) keeps what CreateFleet said.
	known := map[string]autoscaler.Instance{}
	for chunk := range slices.Chunk(ids, 200) {
		got, err := p.describe(ctx, []types.Filter{{Name: aws.String("instance-id"), Values: chunk}})
		if err != nil {
			p.cfg.Logger.WarnContext(ctx, "describing the new instances failed; returning what CreateFleet said", "operation", l.op, "err", err)
			break
		}
		for _, in := range got {
			known[in.ID] = in
		}
	}
	tags := p.tags(l.op)
	for i, in := range out {
		if d, ok := known[in.ID]; ok {
			d.Market = in.Market // CreateFleet's lifecycle is what was launched
			d.Zone = cmp.Or(d.Zone, in.Zone)
			d.InstanceType = cmp.Or(d.InstanceType, in.InstanceType)
			in = d
		}
		if in.Tags == nil {
			in.Tags = map[string]string{}
		}
		for _, t := range tags {
			if _, ok := in.Tags[aws.ToString(t.Key)]; !ok {
				in.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
			}
		}
		in.OperationID = l.op
		out[i] = in
	}
	return out
}

// loadPools reads the unavailable pools; a memory that cannot be read is
// logged and the launch goes on without it.
func (l *launch) loadPools(ctx context.Context) {
	p := l.p
	got, err := p.cfg.Pools.Load(ctx)
	if err != nil {
		p.cfg.Logger.WarnContext(ctx, "cannot load the unavailable pools; launching without them", "err", err)
	}
	l.avoid = avoided(got).live(p.cfg.Clock.Now())
}

// savePools saves the unavailable pools when the launch learnt of new
// ones; a failure is logged (the instances launched matter more).
func (l *launch) savePools(ctx context.Context) {
	if !l.learnt {
		return
	}
	p := l.p
	live := l.avoid.live(p.cfg.Clock.Now())
	slices.SortFunc(live, func(a, b UnavailablePool) int {
		return cmp.Or(cmp.Compare(a.Market, b.Market), cmp.Compare(a.Zone, b.Zone), cmp.Compare(a.InstanceType, b.InstanceType))
	})
	if err := p.cfg.Pools.Save(ctx, live); err != nil {
		p.cfg.Logger.WarnContext(ctx, "cannot save the unavailable pools", "err", err)
	}
}

// fitting returns the allowed instance types that offer fit (a new
// worker's allocatable, estimated with capacity.K3sReservation from the
// type's size, at least fit): the pending pod that asked for the launch
// must fit on what EC2 gives. Without a fit, with one type or with
// Requirements every allowed type goes; a type whose size cannot be looked
// up stays (launching it is the better error). When no type fits, the
// launch is refused with an error wrapping ErrInsufficientCapacity that
// names the fit.
func (p *Provider) fitting(ctx context.Context, fit capacity.Resources) ([]string, error) {
	all := p.cfg.InstanceTypes
	if fit.IsZero() || len(all) < 2 {
		return all, nil
	}
	var out []string
	for _, t := range all {
		vcpu, mem, err := p.InstanceTypeSize(ctx, t)
		if err != nil {
			p.cfg.Logger.WarnContext(ctx, "instance type size unknown, not checked against the pods", "type", t, "err", err)
			out = append(out, t)
			continue
		}
		offer := capacity.Resources{MilliCPU: int64(vcpu) * 1000, Memory: mem << 20}.Sub(capacity.K3sReservation(vcpu, mem))
		if fit.MilliCPU <= offer.MilliCPU && fit.Memory <= offer.Memory {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("ec2fleet: none of the instance types %v offers %s, what the pending pods need on one worker: %w",
			all, fit, autoscaler.ErrInsufficientCapacity)
	}
	return out, nil
}
