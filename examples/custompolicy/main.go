// Command custompolicy is the stock node-fleet Lambda function with a
// policy of its own, without a copy of the program: its main passes the
// policy (and the PromQL query it reads) to run/lambda.Main, which does
// everything else exactly as examples/lambda does. Build it with
// `make lambda PKG=./examples/custompolicy` (package run/lambda says which
// build flags and tags keep it small) and deploy it as examples/lambda.
//
// The policy, QueuePolicy, scales on a queue depth (the query
// queue_depth, whose reading reaches the policy in Snapshot.Custom);
// composed with the original design's threshold policy by decision.Max,
// which keeps whichever wants more capacity and scales down only when both
// agree, so pending pods and CPU are still handled.
//
// Run outside Lambda (no AWS_LAMBDA_RUNTIME_API), it replays a queue that
// fills up and drains on in-memory parts and prints every decision:
//
//	go run ./examples/custompolicy
package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
	"github.com/node-fleet/node-fleet/config"
	"github.com/node-fleet/node-fleet/decision"
	"github.com/node-fleet/node-fleet/metrics"
	"github.com/node-fleet/node-fleet/run/lambda"
	clocktesting "k8s.io/utils/clock/testing"
)

// QueuePolicy wants one node for every PerNode messages waiting in the
// queue named Metric, counted from the Ready nodes.
type QueuePolicy struct {
	Metric  string
	PerNode float64
}

// Decide implements autoscaler.Policy.
func (q QueuePolicy) Decide(in autoscaler.PolicyInput) autoscaler.Decision {
	m, ok := in.Snapshot.Custom[q.Metric]
	if !ok || !m.OK {
		// Missing is not zero: without the metric, this policy has no
		// opinion, and never votes for a scale-down.
		return autoscaler.HoldBecause("%s missing", q.Metric)
	}
	want := int(math.Ceil(m.Value / q.PerNode))
	switch {
	case want > in.ReadyNodes:
		return autoscaler.Decision{Action: autoscaler.ScaleUp, Count: want - in.ReadyNodes, Level: autoscaler.LevelHighLoad,
			Reason: fmt.Sprintf("%s %.0f needs %d nodes, %d ready", q.Metric, m.Value, want, in.ReadyNodes)}
	case want < in.ReadyNodes-1:
		return autoscaler.Decision{Action: autoscaler.ScaleDown, Count: 1, Level: autoscaler.LevelLowLoad,
			Reason: fmt.Sprintf("%s %.0f needs only %d nodes", q.Metric, m.Value, want)}
	}
	return autoscaler.HoldBecause("%s %.0f fits %d nodes", q.Metric, m.Value, in.ReadyNodes)
}

// Policy is this program's policy: the queue, then the original design's.
func Policy() autoscaler.Policy {
	return decision.Max(
		decision.Named("queue", QueuePolicy{Metric: "queue_depth", PerNode: 500}),
		decision.Named("threshold", decision.Default()),
	)
}

// Queries are the PromQL queries the policy reads.
var Queries = map[string]metrics.Query{"queue_depth": {Expr: `sum(rabbitmq_queue_messages{queue="orders"})`}}

func main() {
	if os.Getenv("AWS_LAMBDA_RUNTIME_API") != "" {
		lambda.Main(config.Options{Policy: Policy(), Queries: Queries})
		return
	}
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "custompolicy:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	clk := clocktesting.NewFakeClock(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
	fleet := fake.NewFleet(clk)
	fleet.BootDelay = 90 * time.Second
	store := fake.NewStore(clk)
	metrics := &fake.Metrics{}

	cfg := autoscaler.DefaultConfig()
	cfg.ClusterID = "orders"
	cfg.Policy = Policy()
	cfg.Metrics, cfg.Locker, cfg.State, cfg.Fleet, cfg.Nodes, cfg.Clock = metrics, store, store, fleet, fake.NewNodes(clk, fleet), clk
	as, err := autoscaler.New(cfg)
	if err != nil {
		return err
	}
	// The queue fills up and drains again; CPU stays moderate while the
	// queue is long (the workers wait on I/O), so CPU alone would not scale.
	for i, depth := range []float64{400, 900, 2600, 2600, 1200, 300, 300, 300, 300, 300, 300, 300} {
		now := clk.Now()
		cpu := 45.0
		if depth < 500 {
			cpu = 20
		}
		metrics.Set(autoscaler.Snapshot{
			Time: now, CPU: autoscaler.Value(cpu, now), Memory: autoscaler.Value(40, now), PendingPods: autoscaler.Value(0, now),
			Custom: map[string]autoscaler.Metric{"queue_depth": autoscaler.Value(depth, now)},
		})
		res, err := as.RunOnce(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "t+%2dm queue=%-5.0f ready=%d booting=%d  %s: %s\n", 2*i, depth, res.ReadyNodes, res.Booting, res.Outcome, res.Reason)
		clk.Step(2 * time.Minute)
	}
	return nil
}
