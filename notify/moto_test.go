package notify_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"
	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/internal/awsutil"
	"github.com/node-fleet/node-fleet/internal/testenv"
	"github.com/node-fleet/node-fleet/notify"
)

func motoConfig(t *testing.T) aws.Config {
	t.Helper()
	endpoint := testenv.Lookup(t, "NODEFLEET_MOTO_ENDPOINT", "moto")
	cfg, err := awsutil.ForEmulator(context.Background(), endpoint, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func suffix(t *testing.T) string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

func TestMotoSNSReachesSubscribedQueue(t *testing.T) {
	cfg := motoConfig(t)
	ctx := context.Background()
	snsc, sqsc := sns.NewFromConfig(cfg), sqs.NewFromConfig(cfg)
	name := "scaling-" + suffix(t)
	topic, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	q, err := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	qa, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := snsc.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(qa.Attributes["QueueArn"])}); err != nil {
		t.Fatal(err)
	}
	n, err := notify.NewSNS(notify.SNSConfig{Client: snsc, TopicARN: aws.ToString(topic.TopicArn)})
	if err != nil {
		t.Fatal(err)
	}
	ev := autoscaler.Event{Kind: autoscaler.EventScaleDown, Time: t0, ClusterID: "prod", Message: "scaled down 1: LOW_LOAD",
		Decision: &autoscaler.Decision{Action: autoscaler.ScaleDown, Count: 1, Level: autoscaler.LevelLowLoad}, Instances: []string{"i-0abc"}}
	if err := n.Notify(ctx, ev); err != nil {
		t.Fatal(err)
	}
	out, err := sqsc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 {
		t.Fatalf("queue received %d messages, want 1", len(out.Messages))
	}
	// SNS wraps the notification in its envelope.
	var envelope struct {
		Subject, Message, TopicArn string
	}
	if err := json.Unmarshal([]byte(aws.ToString(out.Messages[0].Body)), &envelope); err != nil {
		t.Fatalf("envelope: %v", err)
	}
	if envelope.Subject != "[node-fleet] prod: scaled down by 1 node" || envelope.TopicArn != aws.ToString(topic.TopicArn) {
		t.Errorf("subject %q topic %q", envelope.Subject, envelope.TopicArn)
	}
	var m notify.Message
	if err := json.Unmarshal([]byte(envelope.Message), &m); err != nil {
		t.Fatalf("body: %v", err)
	}
	if diff := cmp.Diff(notify.NewMessage(ev), m); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

func TestMotoCloudWatchDataPointsReadBack(t *testing.T) {
	cfg := motoConfig(t)
	ctx := context.Background()
	// moto does not understand the SDK's default CBOR protocol.
	cw := cloudwatch.NewFromConfig(cfg, notify.UseQueryProtocol)
	ns := "NodeFleetTest/" + suffix(t)
	p, err := notify.NewCloudWatch(notify.CloudWatchConfig{Client: cw, ClusterID: "prod", Namespace: ns, BatchSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Minute)
	results := []autoscaler.Result{
		{Time: now.Add(-2 * time.Minute), Outcome: autoscaler.OutcomeScaledUp, Plan: autoscaler.Plan{Decision: autoscaler.Decision{Action: autoscaler.ScaleUp, Count: 2}, Instances: 4, ReadyNodes: 2},
			Snapshot: autoscaler.Snapshot{CPU: autoscaler.Value(85, now), PendingPods: autoscaler.Value(4, now)},
			Steps:    []autoscaler.StepOutcome{{Step: autoscaler.Step{Kind: autoscaler.StepLaunch, Count: 2}, Done: true, Launched: []autoscaler.Instance{{ID: "i-1"}, {ID: "i-2"}}}}},
		{Time: now.Add(-time.Minute), Outcome: autoscaler.OutcomeHeld, Plan: autoscaler.Plan{Decision: autoscaler.Decision{Action: autoscaler.Hold}, Instances: 4, ReadyNodes: 4},
			Snapshot: autoscaler.Snapshot{CPU: autoscaler.Value(55, now), PendingPods: autoscaler.Value(0, now)}},
		{Time: now, Outcome: autoscaler.OutcomeHeld, Plan: autoscaler.Plan{Decision: autoscaler.Decision{Action: autoscaler.Hold}, Instances: 4, ReadyNodes: 4},
			Snapshot: autoscaler.Snapshot{CPU: autoscaler.Value(45, now), PendingPods: autoscaler.Value(0, now)}},
	}
	for _, r := range results {
		if err := p.Publish(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	sum := func(metric string, dims ...cwtypes.Dimension) (float64, int) {
		t.Helper()
		dims = append([]cwtypes.Dimension{{Name: aws.String("ClusterId"), Value: aws.String("prod")}}, dims...)
		out, err := cw.GetMetricStatistics(ctx, &cloudwatch.GetMetricStatisticsInput{
			Namespace: aws.String(ns), MetricName: aws.String(metric), Dimensions: dims,
			StartTime: aws.Time(now.Add(-10 * time.Minute)), EndTime: aws.Time(now.Add(10 * time.Minute)),
			Period: aws.Int32(3600), Statistics: []cwtypes.Statistic{cwtypes.StatisticSum, cwtypes.StatisticSampleCount},
		})
		if err != nil {
			t.Fatal(err)
		}
		var s, n float64
		for _, dp := range out.Datapoints {
			s += aws.ToFloat64(dp.Sum)
			n += aws.ToFloat64(dp.SampleCount)
		}
		return s, int(n)
	}
	type stat struct {
		Sum   float64
		Count int
	}
	got := map[string]stat{}
	for _, m := range []string{"ClusterCPUUtilization", "PendingPodCount", "EC2LaunchEvents", "NodeCount"} {
		s, n := sum(m)
		got[m] = stat{s, n}
	}
	for _, a := range []string{"hold", "scale_up", "scale_down"} {
		s, n := sum("ScalingDecisionHistory", cwtypes.Dimension{Name: aws.String("Action"), Value: aws.String(a)})
		got["ScalingDecisionHistory/"+a] = stat{s, n}
	}
	want := map[string]stat{
		"ClusterCPUUtilization":             {185, 3},
		"PendingPodCount":                   {4, 3},
		"EC2LaunchEvents":                   {2, 3},
		"NodeCount":                         {12, 3},
		"ScalingDecisionHistory/hold":       {2, 2},
		"ScalingDecisionHistory/scale_up":   {1, 1},
		"ScalingDecisionHistory/scale_down": {0, 0},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("statistics read back (-want +got):\n%s", diff)
	}
}
