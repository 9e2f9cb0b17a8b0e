package ec2fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"k8s.io/utils/clock"
)

// Client is the part of the EC2 API the provider uses, with the SDK's exact
// signatures: *ec2.Client satisfies it, and so can a test fake. Instances
// are launched by CreateFleet (type instant); RunInstances is not called.
type Client interface {
	CreateFleet(ctx context.Context, params *ec2.CreateFleetInput, optFns ...func(*ec2.Options)) (*ec2.CreateFleetOutput, error)
	DescribeInstances(ctx context.Context, params *ec2.DescribeInstancesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
	TerminateInstances(ctx context.Context, params *ec2.TerminateInstancesInput, optFns ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error)
	DescribeSubnets(ctx context.Context, params *ec2.DescribeSubnetsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error)
	DescribeInstanceTypes(ctx context.Context, params *ec2.DescribeInstanceTypesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeInstanceTypesOutput, error)
}

var _ Client = (*ec2.Client)(nil)

// Tag keys the provider writes on every instance it launches.
const (
	// TagCluster holds the cluster id. List and Terminate require it
	// together with TagManagedBy: the deploy tags every resource of the
	// cluster (the K3s server included) with TagCluster.
	TagCluster = "node-fleet.io/cluster"
	// TagManagedBy holds ManagedByValue. Only instances node-fleet
	// launched carry it, and only they are the fleet: List and Terminate
	// require it, and so does the deploy's IAM policy.
	TagManagedBy = "node-fleet.io/managed-by"
	// TagOperation holds the OperationID of the launch that created the
	// instance.
	TagOperation = "node-fleet.io/operation-id"
	// TagInterruptionNotice, when present, holds the RFC 3339 time at
	// which the instance was announced to be reclaimed; whoever receives
	// EC2's spot interruption warnings (an EventBridge rule) sets it, and
	// List reports it as Instance.InterruptionNotice.
	TagInterruptionNotice = "node-fleet.io/interruption-notice"
	// ManagedByValue is the value of TagManagedBy.
	ManagedByValue = "node-fleet"
)

// LaunchTemplate names the EC2 launch template instances are launched
// from: by ID or by Name (exactly one), at Version.
type LaunchTemplate struct {
	// ID is the template's id, e.g. "lt-0abc...".
	ID string
	// Name is the template's name.
	Name string
	// Version is a version number, "$Latest" or "$Default" (the default).
	Version string
}

// Strategy says how the provider chooses between spot and on-demand.
type Strategy string

// The market strategies.
const (
	// StrategySpotShare keeps about SpotShare of the fleet on spot; a
	// spot instance that cannot be had is launched on demand.
	StrategySpotShare Strategy = "spot-share"
	// StrategySpotFirst asks for spot for every instance and falls back
	// to on-demand for each one that cannot be had.
	StrategySpotFirst Strategy = "spot-first"
	// StrategyOnDemand launches on-demand instances only.
	StrategyOnDemand Strategy = "on-demand"
)

// Strategies returns the market strategies, the default first.
func Strategies() []Strategy {
	return []Strategy{StrategySpotShare, StrategySpotFirst, StrategyOnDemand}
}

// Defaults of the Config fields whose zero value means a default.
const (
	// DefaultSpotShare is Config.SpotShare's default: the original
	// design's 70% spot.
	DefaultSpotShare = 0.7
	// DefaultAvoidFor is Config.AvoidFor's default, as Karpenter's
	// unavailable-offerings cache.
	DefaultAvoidFor = 3 * time.Minute
	// DefaultSpotAllocationStrategy is Config.SpotAllocationStrategy's
	// default, what AWS recommends for spot: the pools least likely to
	// be interrupted, among the cheaper ones.
	DefaultSpotAllocationStrategy = types.SpotAllocationStrategyPriceCapacityOptimized
	// DefaultOnDemandAllocationStrategy is
	// Config.OnDemandAllocationStrategy's default.
	DefaultOnDemandAllocationStrategy = types.FleetOnDemandAllocationStrategyLowestPrice
	// DefaultLaunchTemplateVersion is LaunchTemplate.Version's default.
	DefaultLaunchTemplateVersion = "$Default"
	// LatestLaunchTemplateVersion, as LaunchTemplate.Version, is the
	// template's newest version.
	LatestLaunchTemplateVersion = "$Latest"
	// MinSpotInstanceTypes is AWS's guidance for spot: at least this many
	// instance types allowed, across every zone. With fewer, Warnings
	// says so.
	MinSpotInstanceTypes = 10
)

// Range is an inclusive range of whole numbers; a zero Max means no upper
// limit.
type Range struct {
	// Min is the least value allowed.
	Min int32
	// Max is the greatest value allowed; 0: no limit.
	Max int32
}

// Requirements select instance types by attributes instead of by name
// (EC2's attribute-based instance type selection, InstanceRequirements):
// EC2 chooses among every current type that matches.
type Requirements struct {
	// VCPUs is the number of vCPUs; Min is required (at least 1).
	VCPUs Range
	// MemoryMiB is the memory in MiB; Min may be 0.
	MemoryMiB Range
}

// Config configures a Provider. New checks it; zero fields take the
// documented defaults.
type Config struct {
	// ClusterID is written to TagCluster on every instance and, with
	// TagManagedBy, selects the instances List and Terminate may see.
	// Required.
	ClusterID string
	// Client talks to EC2 (an *ec2.Client). Required.
	Client Client
	// LaunchTemplate describes the instances (AMI, instance type, user
	// data with the K3s join script, security groups). Required. It
	// must not ask for a market (spot options): the provider chooses.
	LaunchTemplate LaunchTemplate
	// Subnets are the subnets instances are launched into, normally one
	// per availability zone; their zones are read from EC2 on first use.
	// At least one is required. The launch template must not name
	// network interfaces (their subnet would conflict).
	Subnets []string
	// Strategy chooses the market; default StrategySpotShare.
	Strategy Strategy
	// SpotShare is the fraction of the fleet to keep on spot with
	// StrategySpotShare, in (0, 1]; default DefaultSpotShare. For no spot
	// at all use StrategyOnDemand.
	SpotShare float64
	// InstanceTypes are the instance types a launch may use, each in
	// every subnet: a zone's CreateFleet call gets one override per type
	// and subnet of the zone. One type (the original design's
	// INSTANCE_TYPE) is a list of one. Empty: the launch template's type,
	// or Requirements. For spot, AWS advises at least
	// MinSpotInstanceTypes; see Warnings. With
	// types.FleetOnDemandAllocationStrategyPrioritized their order is the
	// on-demand priority (first highest).
	InstanceTypes []string
	// Requirements, when set, let EC2 choose the types by vCPU and
	// memory instead of InstanceTypes (not both).
	Requirements *Requirements
	// SpotAllocationStrategy is how EC2 Fleet chooses spot pools;
	// default DefaultSpotAllocationStrategy (price-capacity-optimized).
	SpotAllocationStrategy types.SpotAllocationStrategy
	// OnDemandAllocationStrategy is how EC2 Fleet chooses on-demand
	// pools; default DefaultOnDemandAllocationStrategy (lowest-price).
	// With prioritized, InstanceTypes' order is the priority (each call
	// is for one zone: the zone is chosen by the provider, not by EC2).
	OnDemandAllocationStrategy types.FleetOnDemandAllocationStrategy
	// AvoidFor is how long a pool (instance type, zone and market) that
	// failed for capacity is avoided; default DefaultAvoidFor.
	AvoidFor time.Duration
	// Pools remembers the unavailable pools between launches; default
	// a new MemoryPools (this process only). Give it one stored with the
	// cluster's state so that a cold start knows them.
	Pools PoolMemory
	// Name is the Name tag of new instances; default ClusterID+"-worker".
	Name string
	// ExtraTags are added to every instance, its volumes and the instant
	// fleet request; they may not override the provider's own tags.
	ExtraTags map[string]string
	// Clock reads the time for the avoid windows; default the real clock.
	Clock clock.PassiveClock
	// Logger receives the provider's log; default discards.
	Logger *slog.Logger
}

func (c *Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	c.checkTarget(bad)
	c.checkMarket(bad)
	c.checkInstanceTypes(bad)
	c.checkAllocation(bad)
	if c.AvoidFor < 0 {
		bad("AvoidFor must not be negative, got %s", c.AvoidFor)
	}
	for k := range c.ExtraTags {
		switch k {
		case TagCluster, TagManagedBy, TagOperation, "Name":
			bad("ExtraTags: %q is the provider's own tag", k)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("ec2fleet config: %w", err)
	}
	c.setDefaults()
	return nil
}

// checkTarget reports to bad what is wrong with where c launches: the
// cluster, the client, the launch template and the subnets.
func (c *Config) checkTarget(bad func(format string, args ...any)) {
	if c.ClusterID == "" {
		bad("ClusterID is required")
	}
	if c.Client == nil {
		bad("Client is required")
	}
	switch lt := c.LaunchTemplate; {
	case lt.ID == "" && lt.Name == "":
		bad("LaunchTemplate: ID or Name is required")
	case lt.ID != "" && lt.Name != "":
		bad("LaunchTemplate: set ID or Name, not both")
	}
	if len(c.Subnets) == 0 {
		bad("Subnets: at least one subnet is required")
	}
	checkList(bad, "Subnets", c.Subnets)
}

// checkMarket reports to bad what is wrong with c's choice between spot
// and on-demand, after setting its defaults.
func (c *Config) checkMarket(bad func(format string, args ...any)) {
	if c.Strategy == "" {
		c.Strategy = Strategies()[0]
	}
	if !slices.Contains(Strategies(), c.Strategy) {
		bad("Strategy %q is unknown (want one of %v)", c.Strategy, Strategies())
	}
	if c.SpotShare == 0 {
		c.SpotShare = DefaultSpotShare
	}
	if c.SpotShare < 0 || c.SpotShare > 1 || c.SpotShare != c.SpotShare {
		bad("SpotShare must be in (0, 1], got %v (use StrategyOnDemand for no spot)", c.SpotShare)
	}
}

// checkInstanceTypes reports to bad what is wrong with c's instance types
// or the requirements that choose them.
func (c *Config) checkInstanceTypes(bad func(format string, args ...any)) {
	if c.Requirements != nil && len(c.InstanceTypes) > 0 {
		bad("Requirements: set Requirements or InstanceTypes, not both")
	}
	checkList(bad, "InstanceTypes", c.InstanceTypes)
	if r := c.Requirements; r != nil {
		if r.VCPUs.Min < 1 || (r.VCPUs.Max != 0 && r.VCPUs.Max < r.VCPUs.Min) {
			bad("Requirements.VCPUs: want Min >= 1 and Max 0 (no limit) or >= Min, got %d..%d", r.VCPUs.Min, r.VCPUs.Max)
		}
		if r.MemoryMiB.Min < 0 || (r.MemoryMiB.Max != 0 && r.MemoryMiB.Max < r.MemoryMiB.Min) {
			bad("Requirements.MemoryMiB: want Min >= 0 and Max 0 (no limit) or >= Min, got %d..%d", r.MemoryMiB.Min, r.MemoryMiB.Max)
		}
		if c.OnDemandAllocationStrategy == types.FleetOnDemandAllocationStrategyPrioritized {
			bad("OnDemandAllocationStrategy: prioritized needs InstanceTypes (EC2 allows only lowest-price with Requirements)")
		}
	}
}

// checkAllocation reports to bad what is wrong with c's allocation
// strategies, after setting their defaults.
func (c *Config) checkAllocation(bad func(format string, args ...any)) {
	if c.SpotAllocationStrategy == "" {
		c.SpotAllocationStrategy = DefaultSpotAllocationStrategy
	}
	if !slices.Contains(c.SpotAllocationStrategy.Values(), c.SpotAllocationStrategy) {
		bad("SpotAllocationStrategy %q is unknown (want one of %v)", c.SpotAllocationStrategy, c.SpotAllocationStrategy.Values())
	}
	if c.OnDemandAllocationStrategy == "" {
		c.OnDemandAllocationStrategy = DefaultOnDemandAllocationStrategy
	}
	if !slices.Contains(c.OnDemandAllocationStrategy.Values(), c.OnDemandAllocationStrategy) {
		bad("OnDemandAllocationStrategy %q is unknown (want one of %v)", c.OnDemandAllocationStrategy, c.OnDemandAllocationStrategy.Values())
	}
}

// checkList reports to bad every empty or repeated item of the list
// named field.
func checkList(bad func(format string, args ...any), field string, items []string) {
	seen := map[string]bool{}
	for i, s := range items {
		if s == "" {
			bad("%s[%d] is empty", field, i)
		} else if seen[s] {
			bad("%s[%d]: %s is listed twice", field, i, s)
		}
		seen[s] = true
	}
}

// setDefaults sets the defaults of a valid c's unset fields.
func (c *Config) setDefaults() {
	if c.LaunchTemplate.Version == "" {
		c.LaunchTemplate.Version = DefaultLaunchTemplateVersion
	}
	if c.AvoidFor == 0 {
		c.AvoidFor = DefaultAvoidFor
	}
	if c.Pools == nil {
		c.Pools = &MemoryPools{}
	}
	if c.Name == "" {
		c.Name = c.ClusterID + "-worker"
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// warnings are the configuration's problems that do not stop it working.
func (c *Config) warnings() []string {
	if c.Strategy == StrategyOnDemand || c.Requirements != nil {
		return nil
	}
	switch n := len(c.InstanceTypes); {
	case n == 0:
		return []string{fmt.Sprintf("ec2fleet: spot may use only the launch template's instance type; AWS advises at least %d types across every zone (set InstanceTypes or Requirements)", MinSpotInstanceTypes)}
	case n < MinSpotInstanceTypes:
		return []string{fmt.Sprintf("ec2fleet: spot may use only %d instance type(s) (%s); AWS advises at least %d across every zone", n, strings.Join(c.InstanceTypes, ", "), MinSpotInstanceTypes)}
	}
	return nil
}
