package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/google/go-cmp/cmp"
	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/notify"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type fakeSNS struct{ got []*sns.PublishInput }

func (f *fakeSNS) Publish(_ context.Context, in *sns.PublishInput, _ ...func(*sns.Options)) (*sns.PublishOutput, error) {
	f.got = append(f.got, in)
	return &sns.PublishOutput{MessageId: aws.String("m-1")}, nil
}

type fakeCW struct {
	batches [][]string // metric names per call
	failOn  int        // 1-based call that fails; 0 none
}

func (f *fakeCW) PutMetricData(_ context.Context, in *cloudwatch.PutMetricDataInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error) {
	var names []string
	for _, d := range in.MetricData {
		names = append(names, aws.ToString(d.MetricName))
	}
	f.batches = append(f.batches, names)
	if len(f.batches) == f.failOn {
		return nil, errors.New("boom")
	}
	return &cloudwatch.PutMetricDataOutput{}, nil
}

func TestSubject(t *testing.T) {
	up := &autoscaler.Decision{Action: autoscaler.ScaleUp, Count: 2}
	for _, tc := range []struct {
		ev   autoscaler.Event
		want string
	}{
		{autoscaler.Event{Kind: autoscaler.EventScaleUp, ClusterID: "prod", Decision: up, Instances: []string{"i-1", "i-2"}}, "prod: scaled up by 2 nodes"},
		{autoscaler.Event{Kind: autoscaler.EventScaleUp, ClusterID: "prod", Decision: up}, "prod: scaled up by 2 nodes"},
		{autoscaler.Event{Kind: autoscaler.EventScaleDown, ClusterID: "prod", Instances: []string{"i-1"}}, "prod: scaled down by 1 node"},
		{autoscaler.Event{Kind: autoscaler.EventFailure, ClusterID: "prod"}, "prod: autoscaler tick failed"},
		{autoscaler.Event{Kind: autoscaler.EventSafetyMode, ClusterID: "prod"}, "prod: metrics unreliable, safety mode (no scale-down)"},
		{autoscaler.Event{Kind: autoscaler.EventStaleLock, ClusterID: "prod"}, "prod: took over a stale autoscaler lock"},
		{autoscaler.Event{Kind: autoscaler.EventGhost, ClusterID: "prod", Instances: []string{"i-1", "i-2", "i-3"}}, "prod: terminated 3 instances that did not become healthy nodes"},
		{autoscaler.Event{Kind: "custom_kind"}, "custom_kind"},
		{autoscaler.Event{Kind: autoscaler.EventScaleUp, ClusterID: "prod", Decision: up, DryRun: true}, "prod: dry run: would scale up by 2 nodes"},
		{autoscaler.Event{Kind: autoscaler.EventScaleDown, ClusterID: "prod", Instances: []string{"i-1"}, DryRun: true}, "prod: dry run: would scale down by 1 node"},
		{autoscaler.Event{Kind: autoscaler.EventGhost, ClusterID: "prod", Instances: []string{"i-1"}, DryRun: true}, "prod: dry run: would terminate 1 instance that did not become healthy nodes"},
		{autoscaler.Event{Kind: autoscaler.EventSafetyMode, ClusterID: "prod", DryRun: true}, "prod: dry run: metrics unreliable, safety mode (no scale-down)"},
	} {
		if got := notify.Subject(tc.ev); got != tc.want {
			t.Errorf("Subject(%s) = %q, want %q", tc.ev.Kind, got, tc.want)
		}
	}
}

func TestNotifyPublishesReadableSubjectAndJSON(t *testing.T) {
	f := &fakeSNS{}
	n, err := notify.NewSNS(notify.SNSConfig{Client: f, TopicARN: "arn:aws:sns:eu-west-1:123456789012:scaling"})
	if err != nil {
		t.Fatal(err)
	}
	long := autoscaler.Event{Kind: autoscaler.EventScaleUp, ClusterID: "cluster-with-a-name-that-is-long-énough-to-overflow-the-limit-of-one-hundred-characters\nreally", Time: t0,
		Decision: &autoscaler.Decision{Action: autoscaler.ScaleUp, Count: 1, Level: autoscaler.LevelCritical, Reason: "3 pending pods"}, Instances: []string{"i-1"}}
	if err := n.Notify(context.Background(), long); err != nil {
		t.Fatal(err)
	}
	in := f.got[0]
	subj := aws.ToString(in.Subject)
	if len(subj) > 100 || strings.ContainsAny(subj, "\n\r") || !strings.HasPrefix(subj, "[node-fleet] cluster-with") {
		t.Errorf("subject %q is not acceptable to SNS", subj)
	}
	for _, r := range subj {
		if r < 0x20 || r > 0x7e {
			t.Errorf("subject %q has non-ASCII %q", subj, r)
		}
	}
	var m notify.Message
	if err := json.Unmarshal([]byte(aws.ToString(in.Message)), &m); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(notify.NewMessage(long), m); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	if got := aws.ToString(in.MessageAttributes["kind"].StringValue); got != "scale_up" {
		t.Errorf("kind attribute %q", got)
	}
}

func TestNewValidatesConfigs(t *testing.T) {
	if _, err := notify.NewSNS(notify.SNSConfig{}); err == nil || !strings.Contains(err.Error(), "Client") || !strings.Contains(err.Error(), "TopicARN") {
		t.Errorf("NewSNS: %v", err)
	}
	for _, tc := range []struct {
		cfg  notify.CloudWatchConfig
		want []string
	}{
		{notify.CloudWatchConfig{}, []string{"Client", "ClusterID"}},
		{notify.CloudWatchConfig{Client: &fakeCW{}, ClusterID: "c", Namespace: "AWS/EC2"}, []string{"Namespace"}},
		{notify.CloudWatchConfig{Client: &fakeCW{}, ClusterID: "c", BatchSize: 1001}, []string{"BatchSize"}},
	} {
		_, err := notify.NewCloudWatch(tc.cfg)
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("NewCloudWatch(%+v): %v, want it to name %s", tc.cfg, err, w)
			}
		}
	}
}

// point is a datum as the tests compare it.
type point struct {
	Name  string
	Value float64
	Dims  string
}

func points(c *notify.CloudWatch, r autoscaler.Result) []point {
	var out []point
	for _, d := range c.Datums(r) {
		var dims []string
		for _, dim := range d.Dimensions {
			dims = append(dims, aws.ToString(dim.Name)+"="+aws.ToString(dim.Value))
		}
		out = append(out, point{aws.ToString(d.MetricName), aws.ToFloat64(d.Value), strings.Join(dims, ",")})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name+out[i].Dims < out[j].Name+out[j].Dims })
	return out
}

func TestDatums(t *testing.T) {
	c, err := notify.NewCloudWatch(notify.CloudWatchConfig{Client: &fakeCW{}, ClusterID: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	const cl = "ClusterId=prod"
	for _, tc := range []struct {
		name string
		r    autoscaler.Result
		want []point
	}{
		{"skipped tick publishes nothing", autoscaler.Result{Outcome: autoscaler.OutcomeSkipped}, nil},
		{"scale-up with all metrics", autoscaler.Result{
			Time: t0, Outcome: autoscaler.OutcomeScaledUp, Duration: 1500 * time.Millisecond,
			Snapshot: autoscaler.Snapshot{CPU: autoscaler.Value(82, t0), Memory: autoscaler.Value(40, t0), PendingPods: autoscaler.Value(3, t0)},
			Plan:     autoscaler.Plan{Decision: autoscaler.Decision{Action: autoscaler.ScaleUp, Count: 2}, ReadyNodes: 2, Instances: 2},
			Steps:    []autoscaler.StepOutcome{{Step: autoscaler.Step{Kind: autoscaler.StepLaunch, Count: 2}, Done: true, Launched: []autoscaler.Instance{{ID: "i-1"}, {ID: "i-2"}}}},
		}, []point{
			{"ClusterCPUUtilization", 82, cl}, {"ClusterMemoryUtilization", 40, cl},
			{"EC2LaunchEvents", 2, cl}, {"EC2Terminations", 0, cl},
			{"NodeCount", 2, cl}, {"PendingPodCount", 3, cl}, {"ReadyNodeCount", 2, cl},
			{"ScalingDecisionHistory", 1, cl + ",Action=scale_up"}, {"TickDuration", 1.5, cl},
		}},
		{"missing CPU is not zero; ghosts count as terminations", autoscaler.Result{
			Time: t0, Outcome: autoscaler.OutcomeHeld,
			Snapshot: autoscaler.Snapshot{CPU: autoscaler.Missing(nil), Memory: autoscaler.Missing(nil), PendingPods: autoscaler.Value(0, t0)},
			Plan:     autoscaler.Plan{Decision: autoscaler.Decision{Action: autoscaler.Hold}, ReadyNodes: 3, Instances: 3},
			Steps:    []autoscaler.StepOutcome{{Step: autoscaler.Step{Kind: autoscaler.StepTerminateGhost, InstanceID: "i-9"}, Done: true}},
		}, []point{
			{"EC2LaunchEvents", 0, cl}, {"EC2Terminations", 1, cl},
			{"NodeCount", 3, cl}, {"PendingPodCount", 0, cl}, {"ReadyNodeCount", 3, cl},
			{"ScalingDecisionHistory", 1, cl + ",Action=hold"}, {"TickDuration", 0, cl},
		}},
		{"failed tick: lease lost, no fleet observed", autoscaler.Result{
			Time: t0, Outcome: autoscaler.OutcomeFailed, Reason: "save state",
			Events: []autoscaler.Event{{Kind: autoscaler.EventFailure, Error: "save state: " + autoscaler.ErrLeaseLost.Error()}},
		}, []point{
			{"EC2LaunchEvents", 0, cl}, {"EC2Terminations", 0, cl},
			{"ScalingFailures", 1, cl + ",ErrorType=LeaseLost"}, {"TickDuration", 0, cl},
		}},
		{"dry run: decisions and would-be counts apart, nothing launched", autoscaler.Result{
			Time: t0, Outcome: autoscaler.OutcomeHeld, DryRun: true,
			Plan: autoscaler.Plan{Decision: autoscaler.Decision{Action: autoscaler.ScaleUp, Count: 3}, Instances: 2, ReadyNodes: 2},
			Steps: []autoscaler.StepOutcome{
				{Step: autoscaler.Step{Kind: autoscaler.StepLaunch, Count: 3}, Would: true},
				{Step: autoscaler.Step{Kind: autoscaler.StepTerminateGhost, InstanceID: "i-9"}, Would: true},
			},
		}, []point{
			{"DryRunDecisions", 1, cl + ",Action=scale_up"}, {"DryRunWouldLaunch", 3, cl}, {"DryRunWouldTerminate", 1, cl},
			{"EC2LaunchEvents", 0, cl}, {"EC2Terminations", 0, cl},
			{"NodeCount", 2, cl}, {"ReadyNodeCount", 2, cl}, {"TickDuration", 0, cl},
		}},
		{"capacity short in a held tick", autoscaler.Result{
			Time: t0, Outcome: autoscaler.OutcomeHeld, Plan: autoscaler.Plan{Decision: autoscaler.Decision{Action: autoscaler.ScaleUp, Count: 1}, Instances: 2, ReadyNodes: 2},
			Events: []autoscaler.Event{{Kind: autoscaler.EventCapacity}},
		}, []point{
			{"EC2LaunchEvents", 0, cl}, {"EC2Terminations", 0, cl},
			{"NodeCount", 2, cl}, {"ReadyNodeCount", 2, cl},
			{"ScalingDecisionHistory", 1, cl + ",Action=scale_up"},
			{"ScalingFailures", 1, cl + ",ErrorType=InsufficientCapacity"}, {"TickDuration", 0, cl},
		}},
		{"forecast-only: the shadow's forecast and the nodes it wanted", autoscaler.Result{
			Time: t0, Outcome: autoscaler.OutcomeHeld, Plan: autoscaler.Plan{
				Proposed: autoscaler.Decision{Action: autoscaler.Hold, Shadow: &autoscaler.Decision{Action: autoscaler.ScaleUp, Count: 2,
					ForecastMethod: "damped trend", ForecastNodes: 3.5, ForecastHeadroom: 0.5}},
				Decision: autoscaler.Decision{Action: autoscaler.Hold}, Instances: 2, ReadyNodes: 2},
		}, []point{
			{"EC2LaunchEvents", 0, cl}, {"EC2Terminations", 0, cl},
			{"ForecastHeadroomNodes", 0.5, cl}, {"ForecastNodes", 3.5, cl},
			{"NodeCount", 2, cl}, {"ReadyNodeCount", 2, cl},
			{"ScalingDecisionHistory", 1, cl + ",Action=hold"}, {"ShadowDesiredNodes", 4, cl}, {"TickDuration", 0, cl},
		}},
		{"a policy's headroom not a number: no data point CloudWatch would refuse", autoscaler.Result{
			Time: t0, Outcome: autoscaler.OutcomeHeld, Plan: autoscaler.Plan{
				Proposed: autoscaler.Decision{Action: autoscaler.Hold, ForecastMethod: "mine", ForecastNodes: 1.25, ForecastHeadroom: math.Inf(1)},
				Decision: autoscaler.Decision{Action: autoscaler.Hold}, Instances: 2, ReadyNodes: 2},
		}, []point{
			{"EC2LaunchEvents", 0, cl}, {"EC2Terminations", 0, cl},
			{"ForecastNodes", 1.25, cl},
			{"NodeCount", 2, cl}, {"ReadyNodeCount", 2, cl},
			{"ScalingDecisionHistory", 1, cl + ",Action=hold"}, {"TickDuration", 0, cl},
		}},
		{"a policy's forecast past CloudWatch's range (2^360): no data point", autoscaler.Result{
			Time: t0, Outcome: autoscaler.OutcomeHeld, Plan: autoscaler.Plan{
				Proposed: autoscaler.Decision{Action: autoscaler.Hold, ForecastMethod: "mine", ForecastNodes: 1e200, ForecastHeadroom: 1},
				Decision: autoscaler.Decision{Action: autoscaler.Hold}, Instances: 2, ReadyNodes: 2},
		}, []point{
			{"EC2LaunchEvents", 0, cl}, {"EC2Terminations", 0, cl},
			{"NodeCount", 2, cl}, {"ReadyNodeCount", 2, cl},
			{"ScalingDecisionHistory", 1, cl + ",Action=hold"}, {"TickDuration", 0, cl},
		}},
		{"the acting predictive policy's forecast, no forecast-only decision", autoscaler.Result{
			Time: t0, Outcome: autoscaler.OutcomeHeld, Plan: autoscaler.Plan{
				Proposed: autoscaler.Decision{Action: autoscaler.Hold, ForecastMethod: "naive", ForecastNodes: 1.25},
				Decision: autoscaler.Decision{Action: autoscaler.Hold}, Instances: 2, ReadyNodes: 2},
		}, []point{
			{"EC2LaunchEvents", 0, cl}, {"EC2Terminations", 0, cl},
			{"ForecastHeadroomNodes", 0, cl}, {"ForecastNodes", 1.25, cl},
			{"NodeCount", 2, cl}, {"ReadyNodeCount", 2, cl},
			{"ScalingDecisionHistory", 1, cl + ",Action=hold"}, {"TickDuration", 0, cl},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, points(c, tc.r)); diff != "" {
				t.Errorf("data points (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFailureTypes(t *testing.T) {
	for _, tc := range []struct {
		err  string
		want []string
	}{
		{"launch 2 instance(s): " + autoscaler.ErrInsufficientCapacity.Error(), []string{"InsufficientCapacity"}},
		{"terminate i-1: " + autoscaler.ErrNotManaged.Error(), []string{"NotManaged"}},
		{"list nodes: " + context.DeadlineExceeded.Error(), []string{"Timeout"}},
		{"load state: AccessDenied", []string{"Other"}},
	} {
		r := autoscaler.Result{Outcome: autoscaler.OutcomeFailed, Events: []autoscaler.Event{{Kind: autoscaler.EventFailure, Error: tc.err}}}
		if diff := cmp.Diff(tc.want, notify.FailureTypes(r)); diff != "" {
			t.Errorf("FailureTypes(%q) (-want +got):\n%s", tc.err, diff)
		}
	}
}

func TestFailureTypesUseTheStepsErrors(t *testing.T) {
	// The error's text says nothing recognisable; errors.Is still finds
	// the boundary error it wraps.
	wrapped := fmt.Errorf("save state: conditional check: %w", autoscaler.ErrLeaseLost)
	r := autoscaler.Result{Outcome: autoscaler.OutcomeFailed, Reason: "could not save",
		Steps: []autoscaler.StepOutcome{{Step: autoscaler.Step{Kind: autoscaler.StepLaunch}, Err: wrapped}}}
	if diff := cmp.Diff([]string{"LeaseLost"}, notify.FailureTypes(r)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	r.Steps[0].Err = errors.New("access denied")
	r.Reason = "mentions " + autoscaler.ErrNotFound.Error() + " only in passing"
	if diff := cmp.Diff([]string{"Other"}, notify.FailureTypes(r)); diff != "" {
		t.Errorf("an error that wraps nothing known (-want +got):\n%s", diff)
	}
}

func TestPublishBatches(t *testing.T) {
	f := &fakeCW{failOn: 2}
	c, err := notify.NewCloudWatch(notify.CloudWatchConfig{Client: f, ClusterID: "prod", BatchSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	r := autoscaler.Result{Time: t0, Outcome: autoscaler.OutcomeHeld, Plan: autoscaler.Plan{Decision: autoscaler.Decision{Action: autoscaler.Hold}},
		Snapshot: autoscaler.Snapshot{CPU: autoscaler.Value(10, t0), Memory: autoscaler.Value(10, t0), PendingPods: autoscaler.Value(0, t0)}}
	n := len(c.Datums(r))
	err = c.Publish(context.Background(), r)
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("Publish: %v, want the failed batch's error", err)
	}
	var sizes []int
	total := 0
	for _, b := range f.batches {
		sizes = append(sizes, len(b))
		total += len(b)
	}
	want := []int{3, 3, 3}
	if n != 9 || total != n {
		t.Fatalf("%d data points, %d sent", n, total)
	}
	if diff := cmp.Diff(want, sizes); diff != "" {
		t.Errorf("batch sizes (-want +got):\n%s", diff)
	}
}

func ExampleSubject() {
	ev := autoscaler.Event{
		Kind: autoscaler.EventScaleUp, ClusterID: "prod", Time: t0,
		Decision:  &autoscaler.Decision{Action: autoscaler.ScaleUp, Count: 2, Level: autoscaler.LevelCritical, Reason: "5 pending pods"},
		Instances: []string{"i-0a", "i-0b"},
	}
	fmt.Println(notify.Subject(ev))
	body, _ := json.Marshal(notify.NewMessage(ev))
	fmt.Println(string(body))
	// Output:
	// prod: scaled up by 2 nodes
	// {"kind":"scale_up","time":"2026-03-01T12:00:00Z","cluster_id":"prod","message":"","decision":{"action":"scale_up","count":2,"level":"CRITICAL","reason":"5 pending pods"},"instances":["i-0a","i-0b"]}
}

// A dry-running autoscaler's notification says so in its subject, its
// body and a message attribute that subscription filters can match.
func TestNotifyMarksDryRun(t *testing.T) {
	f := &fakeSNS{}
	n, err := notify.NewSNS(notify.SNSConfig{Client: f, TopicARN: "arn:aws:sns:eu-west-1:123456789012:scaling"})
	if err != nil {
		t.Fatal(err)
	}
	ev := autoscaler.Event{Kind: autoscaler.EventScaleUp, ClusterID: "prod", Time: t0, DryRun: true, Message: "would scale up 3: 5 pending pods",
		Decision: &autoscaler.Decision{Action: autoscaler.ScaleUp, Count: 3, Reason: "5 pending pods"}}
	if err := n.Notify(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	in := f.got[0]
	if got, want := aws.ToString(in.Subject), "[node-fleet] prod: dry run: would scale up by 3 nodes"; got != want {
		t.Errorf("subject %q, want %q", got, want)
	}
	var m notify.Message
	if err := json.Unmarshal([]byte(aws.ToString(in.Message)), &m); err != nil {
		t.Fatal(err)
	}
	if !m.DryRun || m.Message != ev.Message {
		t.Errorf("body %+v, want dry_run and the would-be message", m)
	}
	if got := aws.ToString(in.MessageAttributes["dry_run"].StringValue); got != "true" {
		t.Errorf("dry_run attribute %q", got)
	}
}

// A repeated capacity shortfall or abandoned scale-down is held back as
// an alert (RealertInterval: the tick's Result then has no event of its
// kind), but it still happened at this tick: the metric counts it from
// the steps.
func TestFailureTypesCountARepeatHeldBackAsAnAlert(t *testing.T) {
	r := autoscaler.Result{Outcome: autoscaler.OutcomeHeld, Steps: []autoscaler.StepOutcome{
		{Step: autoscaler.Step{Kind: autoscaler.StepLaunch, Count: 3}, Shortfall: fmt.Errorf("launched 0 of 3: %w", autoscaler.ErrInsufficientCapacity)},
		{Step: autoscaler.Step{Kind: autoscaler.StepScaleDown, InstanceID: "i-1"}, Shortfall: fmt.Errorf("evictions refused: %w", autoscaler.ErrDrainBlocked)},
	}}
	if diff := cmp.Diff([]string{"InsufficientCapacity", "DrainBlocked"}, notify.FailureTypes(r)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
