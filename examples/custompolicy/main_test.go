package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/rest"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/config"
	"github.com/node-fleet/node-fleet/run/lambda"
)

func TestQueuePolicy(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	q := QueuePolicy{Metric: "queue_depth", PerNode: 500}
	in := func(depth float64, ok bool, ready int) autoscaler.PolicyInput {
		m := autoscaler.Missing(autoscaler.ErrNoData)
		if ok {
			m = autoscaler.Value(depth, now)
		}
		return autoscaler.PolicyInput{ReadyNodes: ready, Snapshot: autoscaler.Snapshot{Custom: map[string]autoscaler.Metric{"queue_depth": m}}}
	}
	tests := []struct {
		name string
		in   autoscaler.PolicyInput
		want autoscaler.Action
		n    int
	}{
		{"missing holds", in(0, false, 5), autoscaler.Hold, 0},
		{"needs more", in(2600, true, 2), autoscaler.ScaleUp, 4},
		{"fits", in(1000, true, 2), autoscaler.Hold, 0},
		{"one spare is kept", in(500, true, 2), autoscaler.Hold, 0},
		{"too many", in(300, true, 4), autoscaler.ScaleDown, 1},
	}
	for _, tt := range tests {
		d := q.Decide(tt.in)
		if diff := cmp.Diff([]any{tt.want, tt.n}, []any{d.Action, d.Count}); diff != "" {
			t.Errorf("%s: %v (-want +got):\n%s", tt.name, d, diff)
		}
	}
}

func TestRunScalesOnTheQueue(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if !strings.Contains(s, "scaled_up: scaled up 4: queue: queue_depth 2600 needs 6 nodes") {
		t.Errorf("no queue-driven scale-up:\n%s", s)
	}
	if !strings.Contains(s, "scaled_down") {
		t.Errorf("no scale-down once the queue drained:\n%s", s)
	}
}

// The stock Lambda wiring (run/lambda.Setup, config.Build) runs this
// program's policy: the handler's autoscaler decides with it.
func TestPolicyRunsInTheStockLambdaWiring(t *testing.T) {
	env := map[string]string{
		"CLUSTER_ID": "orders", "PROMETHEUS_URL": "http://127.0.0.1:9", "DYNAMODB_TABLE": "node-fleet-state",
		"SUBNET_IDS": "subnet-0123456789abcdef0", "LAUNCH_TEMPLATE_ID": "lt-0123456789abcdef0", "KUBECONFIG_SECRET": "orders/kubeconfig",
	}
	opts := config.Options{Policy: Policy(), Queries: Queries,
		AWS:  aws.Config{Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")},
		Kube: &rest.Config{Host: "https://127.0.0.1:9"}}
	h, err := lambda.Setup(context.Background(), slog.New(slog.DiscardHandler), func(k string) string { return env[k] }, opts)
	if err != nil {
		t.Fatal(err)
	}
	as, ok := h.Ticker.(*autoscaler.Autoscaler)
	if !ok {
		t.Fatalf("ticker %T", h.Ticker)
	}
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	d := as.Config().Policy.Decide(autoscaler.PolicyInput{Now: now, ReadyNodes: 2, Snapshot: autoscaler.Snapshot{Time: now,
		CPU: autoscaler.Value(40, now), Memory: autoscaler.Value(40, now), PendingPods: autoscaler.Value(0, now),
		Custom: map[string]autoscaler.Metric{"queue_depth": autoscaler.Value(2600, now)}}})
	if d.Action != autoscaler.ScaleUp || d.Count != 4 || !strings.Contains(d.Reason, "queue_depth") {
		t.Errorf("the stock handler's policy decided %v, want the queue policy's +4", d)
	}
}
