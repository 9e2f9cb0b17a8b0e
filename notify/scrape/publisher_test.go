package scrape

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/node-fleet/node-fleet/autoscaler"
)

func TestPublisher(t *testing.T) {
	reg := prometheus.NewRegistry()
	p, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 27, 18, 0, 0, 0, time.UTC)
	scaled := autoscaler.Result{Time: t0, Duration: 1500 * time.Millisecond, Outcome: autoscaler.OutcomeScaledUp,
		Plan: autoscaler.Plan{ReadyNodes: 3, Booting: 2, Instances: 5, Decision: autoscaler.Decision{Action: autoscaler.Hold},
			Verdicts: []autoscaler.Verdict{{Code: autoscaler.HoldAtMax, After: autoscaler.Decision{Action: autoscaler.Hold}}}},
		Snapshot: autoscaler.Snapshot{CPU: autoscaler.Value(82.5, t0), Memory: autoscaler.Missing(autoscaler.ErrNoData), PendingPods: autoscaler.Value(4, t0)},
		Steps: []autoscaler.StepOutcome{
			{Step: autoscaler.Step{Kind: autoscaler.StepLaunch, Count: 2}, Done: true, Launched: []autoscaler.Instance{{ID: "i-1"}, {ID: "i-2"}}},
			{Step: autoscaler.Step{Kind: autoscaler.StepTerminateGhost, InstanceID: "i-9"}, Done: true},
		},
		Lease: autoscaler.Lease{Owner: "me", Token: 4, Expires: t0.Add(time.Second), TookOver: true, PreviousOwner: "dead"}}
	p.SetLimits(2, 10)
	for _, r := range []autoscaler.Result{scaled, {Time: t0.Add(time.Minute), Outcome: autoscaler.OutcomeSkipped}} {
		if err := p.Publish(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	value := func(name, label string) (float64, bool) {
		for _, f := range families {
			if f.GetName() != name {
				continue
			}
			for _, m := range f.GetMetric() {
				if label != "" && (len(m.GetLabel()) != 1 || m.GetLabel()[0].GetValue() != label) {
					continue
				}
				switch f.GetType() {
				case dto.MetricType_COUNTER:
					return m.GetCounter().GetValue(), true
				case dto.MetricType_GAUGE:
					return m.GetGauge().GetValue(), true
				case dto.MetricType_HISTOGRAM:
					return float64(m.GetHistogram().GetSampleCount()), true
				}
			}
		}
		return 0, false
	}
	for _, c := range []struct {
		name, label string
		want        float64
	}{
		{"node_fleet_ticks_total", "scaled_up", 1},
		{"node_fleet_ticks_total", "skipped", 1},
		{"node_fleet_ticks_total", "failed", 0},
		{"node_fleet_tick_duration_seconds", "", 2},
		{"node_fleet_instances", "ready", 3},
		{"node_fleet_instances", "active", 5},
		{"node_fleet_metric", "cpu", 82.5},
		{"node_fleet_metric", "pending_pods", 4},
		{"node_fleet_instances_launched_total", "", 2},
		{"node_fleet_instances_terminated_total", "", 1},
		{"node_fleet_safety_mode", "", 0},
		{"node_fleet_last_tick_timestamp_seconds", "", float64(t0.Unix()) + 1.5},
		{"node_fleet_active", "", 0}, // the last tick was skipped
		{"node_fleet_nodes_limit", "min", 2},
		{"node_fleet_nodes_limit", "max", 10},
		{"node_fleet_hold", "at-max", 1},
		{"node_fleet_lease_overruns_total", "", 1}, // ended 0.5s after the lease
		{"node_fleet_lock_takeovers_total", "", 1},
	} {
		if got, ok := value(c.name, c.label); !ok || got != c.want {
			t.Errorf("%s{%s} = %v (present %v), want %v", c.name, c.label, got, ok, c.want)
		}
	}
	// A missing reading has no sample, not a zero.
	if got, ok := value("node_fleet_metric", "memory"); ok {
		t.Errorf("memory is missing but exposed as %v", got)
	}
	if got := p.LastTick(); !got.Equal(t0.Add(time.Minute)) {
		t.Errorf("LastTick = %s, want the skipped tick's end", got)
	}
	if _, err := New(reg); err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Errorf("registering twice: %v", err)
	}
}
