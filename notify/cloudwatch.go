package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/schemas"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go/transport/http/protocol/awsquery"
	"github.com/node-fleet/node-fleet/autoscaler"
)

// CloudWatchClient is the part of the CloudWatch API the publisher uses,
// with the SDK's exact signature: *cloudwatch.Client satisfies it.
type CloudWatchClient interface {
	PutMetricData(ctx context.Context, params *cloudwatch.PutMetricDataInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error)
}

var _ CloudWatchClient = (*cloudwatch.Client)(nil)

// Metric names, after the original design.
const (
	// MetricCPU is the workers' average CPU utilisation, percent.
	MetricCPU = "ClusterCPUUtilization"
	// MetricMemory is the workers' average memory utilisation, percent.
	MetricMemory = "ClusterMemoryUtilization"
	// MetricPendingPods is the number of pods waiting for capacity.
	MetricPendingPods = "PendingPodCount"
	// MetricNodeCount is the number of active instances (Ready or
	// booting) counted as capacity.
	MetricNodeCount = "NodeCount"
	// MetricReadyNodes is the number of instances whose node is Ready.
	MetricReadyNodes = "ReadyNodeCount"
	// MetricLaunches is the number of instances launched by the tick.
	MetricLaunches = "EC2LaunchEvents"
	// MetricTerminations is the number of instances terminated by the
	// tick (scale-down, ghosts, NotReady replacements).
	MetricTerminations = "EC2Terminations"
	// MetricDecisions is one data point (value 1) per tick's decision,
	// with the action as the Action dimension.
	MetricDecisions = "ScalingDecisionHistory"
	// MetricFailures is one data point (value 1) per failure, with its
	// kind as the ErrorType dimension.
	MetricFailures = "ScalingFailures"
	// MetricTickDuration is how long the tick took, seconds.
	MetricTickDuration = "TickDuration"
	// MetricDryRunDecisions replaces MetricDecisions for a dry-running
	// autoscaler (Result.DryRun): one data point per tick with the action
	// it would have taken as the Action dimension, so that a dashboard or
	// an alarm on MetricDecisions never counts a decision nobody acted on.
	MetricDryRunDecisions = "DryRunDecisions"
	// MetricWouldLaunch and MetricWouldTerminate are the instances a
	// dry-running tick would have launched and terminated (scale-down,
	// ghosts, NotReady replacements); its MetricLaunches and
	// MetricTerminations are 0, as nothing was.
	MetricWouldLaunch    = "DryRunWouldLaunch"
	MetricWouldTerminate = "DryRunWouldTerminate"
	// MetricForecastNodes and MetricForecastHeadroom are the forecast
	// the tick's policy made (autoscaler.Record's ForecastNodes and
	// ForecastHeadroom; in forecast-only mode the shadow policy's): the
	// highest demand it expects over its lead time and the headroom it
	// adds, in worker units. Only from a tick whose policy forecast.
	MetricForecastNodes    = "ForecastNodes"
	MetricForecastHeadroom = "ForecastHeadroomNodes"
	// MetricShadowDesired is, in forecast-only mode (FORECAST=shadow),
	// the Ready nodes the shadow policy would have wanted
	// (autoscaler.Record.ShadowDesired). Only from such a tick.
	MetricShadowDesired = "ShadowDesiredNodes"
)

// Dimension names.
const (
	DimensionCluster   = "ClusterId"
	DimensionAction    = "Action"
	DimensionErrorType = "ErrorType"
)

// CloudWatchConfig configures a CloudWatch publisher.
type CloudWatchConfig struct {
	// Client puts the metrics (a *cloudwatch.Client). Required.
	Client CloudWatchClient
	// ClusterID is the ClusterId dimension of every metric. Required.
	ClusterID string
	// Namespace is the metrics' namespace; default "NodeFleet". It may not
	// start with "AWS/".
	Namespace string
	// BatchSize is the most data points per PutMetricData call; default
	// 20, at most 1000 (CloudWatch's limit).
	BatchSize int
	// Logger receives the publisher's log; default discards.
	Logger *slog.Logger
}

// CloudWatch is an autoscaler.Publisher that puts each tick's Result as
// CloudWatch metrics.
type CloudWatch struct {
	cfg CloudWatchConfig
}

var _ autoscaler.Publisher = (*CloudWatch)(nil)

// NewCloudWatch checks cfg and returns a publisher; it makes no AWS call.
func NewCloudWatch(cfg CloudWatchConfig) (*CloudWatch, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if cfg.Client == nil {
		bad("Client is required")
	}
	if cfg.ClusterID == "" {
		bad("ClusterID is required")
	}
	if strings.HasPrefix(cfg.Namespace, "AWS/") {
		bad("Namespace %q: the AWS/ prefix is reserved for AWS", cfg.Namespace)
	}
	if cfg.BatchSize < 0 || cfg.BatchSize > 1000 {
		bad("BatchSize must be between 1 and 1000 (0 for the default 20), got %d", cfg.BatchSize)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("notify: CloudWatchConfig: %w", err)
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "NodeFleet"
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &CloudWatch{cfg: cfg}, nil
}

// Datums returns the data points for r. A skipped tick (another replica
// held the lock) observed nothing and yields none; a missing metric yields
// no data point (never a zero).
func (c *CloudWatch) Datums(r autoscaler.Result) []types.MetricDatum {
	if r.Outcome == autoscaler.OutcomeSkipped {
		return nil
	}
	cluster := types.Dimension{Name: aws.String(DimensionCluster), Value: aws.String(c.cfg.ClusterID)}
	at := aws.Time(r.Time)
	var out []types.MetricDatum
	add := func(name string, v float64, unit types.StandardUnit, extra ...types.Dimension) {
		out = append(out, types.MetricDatum{
			MetricName: aws.String(name), Value: aws.Float64(v), Unit: unit, Timestamp: at,
			Dimensions: append([]types.Dimension{cluster}, extra...),
		})
	}
	if m := r.Snapshot.CPU; m.OK {
		add(MetricCPU, m.Value, types.StandardUnitPercent)
	}
	if m := r.Snapshot.Memory; m.OK {
		add(MetricMemory, m.Value, types.StandardUnitPercent)
	}
	if m := r.Snapshot.PendingPods; m.OK {
		add(MetricPendingPods, m.Value, types.StandardUnitCount)
	}
	if r.Outcome != autoscaler.OutcomeFailed || r.Instances > 0 || r.ReadyNodes > 0 {
		// A tick that failed before it could observe the fleet does not
		// report a fleet of 0.
		add(MetricNodeCount, float64(r.Instances), types.StandardUnitCount)
		add(MetricReadyNodes, float64(r.ReadyNodes), types.StandardUnitCount)
	}
	add(MetricLaunches, float64(len(r.Launched())), types.StandardUnitCount)
	add(MetricTerminations, float64(len(r.Terminated())+len(r.Ghosts())+len(r.Replaced())), types.StandardUnitCount)
	decisions := MetricDecisions
	if r.DryRun {
		decisions = MetricDryRunDecisions
		launch, terminate := WouldCounts(r)
		add(MetricWouldLaunch, float64(launch), types.StandardUnitCount)
		add(MetricWouldTerminate, float64(terminate), types.StandardUnitCount)
	}
	if r.Decision.Action != "" {
		add(decisions, 1, types.StandardUnitCount,
			types.Dimension{Name: aws.String(DimensionAction), Value: aws.String(string(r.Decision.Action))})
	}
	for _, kind := range FailureTypes(r) {
		add(MetricFailures, 1, types.StandardUnitCount,
			types.Dimension{Name: aws.String(DimensionErrorType), Value: aws.String(kind)})
	}
	add(MetricTickDuration, r.Duration.Seconds(), types.StandardUnitSeconds)
	rec := r.Record()
	// CloudWatch takes no NaN, no infinity and nothing past 2^360 either
	// way (MetricDatum.Value): a policy's forecast it would refuse is no
	// data point.
	finite := func(v float64) bool { return !math.IsNaN(v) && math.Abs(v) <= 0x1p360 }
	if rec.ForecastMethod != "" && finite(rec.ForecastNodes) {
		add(MetricForecastNodes, rec.ForecastNodes, types.StandardUnitCount)
		if finite(rec.ForecastHeadroom) {
			add(MetricForecastHeadroom, rec.ForecastHeadroom, types.StandardUnitCount)
		}
	}
	if n, ok := rec.ShadowDesired(); ok {
		add(MetricShadowDesired, float64(n), types.StandardUnitCount)
	}
	return out
}

// WouldCounts are the instances a dry-running tick's would-be steps
// (Result.Would) launch and terminate: scale-downs, ghosts and NotReady
// replacements count as terminations. Both are 0 outside a dry run.
func WouldCounts(r autoscaler.Result) (launch, terminate int) {
	for _, s := range r.Would() {
		switch s.Kind {
		case autoscaler.StepLaunch:
			launch += s.Count
		case autoscaler.StepScaleDown, autoscaler.StepTerminateGhost, autoscaler.StepTerminateNotReady:
			terminate++
		}
	}
	return launch, terminate
}

// sentinels are the boundary errors a failure is classified by, in order.
var sentinels = []struct {
	err  error
	name string
}{
	{autoscaler.ErrLeaseLost, "LeaseLost"},
	{autoscaler.ErrInsufficientCapacity, "InsufficientCapacity"},
	{autoscaler.ErrDrainBlocked, "DrainBlocked"},
	{autoscaler.ErrNotManaged, "NotManaged"},
	{autoscaler.ErrNotFound, "NotFound"},
	{autoscaler.ErrNoData, "NoData"},
	{context.DeadlineExceeded, "Timeout"},
}

// FailureTypes returns the kinds of failure r reports, one per failure,
// for the ErrorType dimension: InsufficientCapacity (a launch short of
// capacity, even in a tick that otherwise succeeded), DrainBlocked (an
// abandoned scale-down; both read from the steps, so that a repeat held
// back as an alert still counts, else from the events), and for a failed
// tick the boundary error its message carries (LeaseLost, NotManaged,
// NotFound, NoData, Timeout) or Other. The errors of the tick's failed steps (StepOutcome.Err) are
// matched with errors.Is; a failure outside the steps (the state, the
// lock), or a Result without them (built by hand, or decoded), falls back
// to matching the boundary errors' messages in its text.
func FailureTypes(r autoscaler.Result) []string {
	var out []string
	add := func(kind string) {
		if !slices.Contains(out, kind) {
			out = append(out, kind)
		}
	}
	failed := ""
	var stepErrs []error
	// From the steps first: an alert held back as a repeat
	// (RealertInterval) leaves no event, but the shortfall happened.
	for _, o := range r.Steps {
		stepErrs = append(stepErrs, o.Err)
		switch {
		case o.Step.Kind == autoscaler.StepLaunch && o.Shortfall != nil:
			add("InsufficientCapacity")
		case o.Step.Kind == autoscaler.StepScaleDown && (o.Err != nil || o.Shortfall != nil):
			add("DrainBlocked")
		}
	}
	stepErr := errors.Join(stepErrs...)
	for _, ev := range r.Events {
		switch ev.Kind {
		case autoscaler.EventCapacity:
			add("InsufficientCapacity")
		case autoscaler.EventAbandoned:
			add("DrainBlocked")
		case autoscaler.EventFailure:
			failed = ev.Error
		}
	}
	if r.Outcome == autoscaler.OutcomeFailed {
		if failed == "" {
			failed = r.Reason
		}
		kind := "Other"
		for _, s := range sentinels {
			if (stepErr != nil && errors.Is(stepErr, s.err)) || (stepErr == nil && strings.Contains(failed, s.err.Error())) {
				kind = s.name
				break
			}
		}
		add(kind)
	}
	return out
}

// Publish puts r's data points (see Datums) in batches of BatchSize. A
// batch that fails does not stop the others; the errors are joined.
func (c *CloudWatch) Publish(ctx context.Context, r autoscaler.Result) error {
	var errs []error
	for batch := range slices.Chunk(c.Datums(r), c.cfg.BatchSize) {
		_, err := c.cfg.Client.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{
			Namespace:  aws.String(c.cfg.Namespace),
			MetricData: batch,
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("notify: put %d data points to %s: %w", len(batch), c.cfg.Namespace, err))
		}
	}
	return errors.Join(errs...)
}

// UseQueryProtocol is a cloudwatch.NewFromConfig option that makes the
// client speak CloudWatch's AWS query protocol instead of the SDK's default
// Smithy RPC v2 CBOR. AWS accepts both; emulators such as moto understand
// only the query protocol, and answer CBOR requests with 404.
func UseQueryProtocol(o *cloudwatch.Options) {
	o.Protocol = awsquery.New(schemas.GraniteServiceVersion20100801)
}
