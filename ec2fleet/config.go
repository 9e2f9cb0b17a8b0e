package ec2fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"k8s.io/utils/clock"
)

// Client is the part of the EC2 API the provider uses, with the SDK's exact
// signatures: *ec2.Client satisfies it, and so can a test fake.
type Client interface {
	RunInstances(ctx context.Context, params *ec2.RunInstancesInput, optFns ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error)
	DescribeInstances(ctx context.Context, params *ec2.DescribeInstancesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
	TerminateInstances(ctx context.Context, params *ec2.TerminateInstancesInput, optFns ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error)
	DescribeSubnets(ctx context.Context, params *ec2.DescribeSubnetsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error)
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
	ID   string
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
	// data with the K3s join script, security groups). Required.
	LaunchTemplate LaunchTemplate
	// Subnets are the subnets instances are launched into, normally one
	// per availability zone; their zones are read from EC2 on first use.
	// At least one is required. The launch template must not name
	// network interfaces (their subnet would conflict).
	Subnets []string
	// Strategy chooses the market; default StrategySpotShare.
	Strategy Strategy
	// SpotShare is the fraction of the fleet to keep on spot with
	// StrategySpotShare, in (0, 1]; default 0.7 (the original design's
	// 70% spot). For no spot at all use StrategyOnDemand.
	SpotShare float64
	// InstanceType, when set, overrides the launch template's type.
	InstanceType string
	// AvoidFor is how long a zone and market that failed for capacity is
	// avoided; default 5 minutes.
	AvoidFor time.Duration
	// Name is the Name tag of new instances; default ClusterID+"-worker".
	Name string
	// ExtraTags are added to every instance and its volumes; they may not
	// override the provider's own tags.
	ExtraTags map[string]string
	// Clock reads the time for the avoid windows; default the real clock.
	Clock clock.PassiveClock
	// Logger receives the provider's log; default discards.
	Logger *slog.Logger
}

func (c *Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
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
	seen := map[string]bool{}
	for i, s := range c.Subnets {
		if s == "" {
			bad("Subnets[%d] is empty", i)
		} else if seen[s] {
			bad("Subnets[%d]: %s is listed twice", i, s)
		}
		seen[s] = true
	}
	switch c.Strategy {
	case "":
		c.Strategy = StrategySpotShare
	case StrategySpotShare, StrategySpotFirst, StrategyOnDemand:
	default:
		bad("Strategy %q is unknown (want %q, %q or %q)", c.Strategy, StrategySpotShare, StrategySpotFirst, StrategyOnDemand)
	}
	if c.SpotShare == 0 {
		c.SpotShare = 0.7
	}
	if c.SpotShare < 0 || c.SpotShare > 1 || c.SpotShare != c.SpotShare {
		bad("SpotShare must be in (0, 1], got %v (use StrategyOnDemand for no spot)", c.SpotShare)
	}
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
	if c.LaunchTemplate.Version == "" {
		c.LaunchTemplate.Version = "$Default"
	}
	if c.AvoidFor == 0 {
		c.AvoidFor = 5 * time.Minute
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
	return nil
}
