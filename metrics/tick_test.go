package metrics

import (
	"context"
	"testing"
	"time"

	testclock "k8s.io/utils/clock/testing"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
)

// tickWith runs one tick of an Autoscaler whose metrics come from src, on
// a fleet of three Ready nodes, with a policy that always wants to remove
// one node. It returns the result and the number of instances terminated.
func tickWith(t *testing.T, src autoscaler.MetricSource) (autoscaler.Result, int) {
	t.Helper()
	return tickAt(t, time.Now(), src, autoscaler.PolicyFunc(func(in autoscaler.PolicyInput) autoscaler.Decision {
		return autoscaler.Decision{Action: autoscaler.ScaleDown, Count: 1, Reason: "always", Level: autoscaler.LevelLowLoad}
	}))
}

// tickAt runs one tick at now of an Autoscaler whose metrics come from
// src and whose policy is policy, on a fleet of three Ready nodes, with
// MinNodes 1. It returns the result and the number of instances
// terminated.
func tickAt(t *testing.T, now time.Time, src autoscaler.MetricSource, policy autoscaler.Policy) (autoscaler.Result, int) {
	t.Helper()
	ctx := context.Background()
	clk := testclock.NewFakeClock(now)
	fleet := fake.NewFleet(clk)
	if _, err := fleet.Launch(ctx, autoscaler.LaunchRequest{OperationID: "seed", Count: 3}); err != nil {
		t.Fatal(err)
	}
	store := fake.NewStore(clk)
	cfg := autoscaler.DefaultConfig()
	cfg.ClusterID = "metrics-test"
	cfg.Metrics = src
	cfg.Policy = policy
	cfg.Locker, cfg.State, cfg.Fleet, cfg.Nodes = store, store, fleet, fake.NewNodes(clk, fleet)
	cfg.Clock = clk
	cfg.MinNodes = 1
	a, err := autoscaler.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.RunOnce(ctx)
	if err != nil {
		t.Fatalf("tick: %v", err)
	}
	_, terminated := fleet.Counts()
	return res, terminated
}

// requireSafetyHold checks that a tick with src held in safety mode
// although its policy wanted a scale-down.
func requireSafetyHold(t *testing.T, src autoscaler.MetricSource) {
	t.Helper()
	res, terminated := tickWith(t, src)
	t.Logf("tick: %s; safety reasons %q", res.Decision, res.SafetyReasons)
	if !res.SafetyMode || res.Decision.Action != autoscaler.Hold || res.Outcome != autoscaler.OutcomeHeld || terminated != 0 {
		t.Errorf("tick: safety %v, decision %s, outcome %s, %d terminated; want safety mode and a hold",
			res.SafetyMode, res.Decision, res.Outcome, terminated)
	}
}

func TestTickScalesDownOnHealthyMetrics(t *testing.T) {
	// The control for the safety-mode tests: the same tick with every
	// metric present does scale down, so a hold there is safety mode's.
	now := time.Now()
	src := &fake.Static{Snapshot: autoscaler.Snapshot{CPU: autoscaler.Value(10, now), Memory: autoscaler.Value(10, now),
		PendingPods: autoscaler.Value(0, now)}}
	res, terminated := tickWith(t, src)
	if res.SafetyMode || res.Outcome != autoscaler.OutcomeScaledDown || terminated != 1 {
		t.Errorf("tick: safety %v, outcome %s (%s), %d terminated; want a scale-down of 1", res.SafetyMode, res.Outcome, res.Reason, terminated)
	}
}

func TestTickHoldsWhenPrometheusUnreachable(t *testing.T) {
	p, err := NewPrometheus(Config{URL: "http://127.0.0.1:1", QueryTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	requireSafetyHold(t, p)
}
