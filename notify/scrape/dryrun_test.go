package scrape

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// samples are the values of the gauge or counter name, by its labels'
// values joined.
func samples(t *testing.T, reg *prometheus.Registry, name string) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			key := ""
			for _, l := range m.GetLabel() {
				key += l.GetValue()
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

// A dry-running tick is marked in the metrics: node_fleet_dry_run is 1,
// and what it would have launched and terminated is counted apart from
// what was launched and terminated; a live tick after it sets the mark
// back to 0.
func TestPublisherMarksDryRun(t *testing.T) {
	reg := prometheus.NewRegistry()
	p, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	dry := autoscaler.Result{Time: t0, Outcome: autoscaler.OutcomeHeld, DryRun: true,
		Plan: autoscaler.Plan{ReadyNodes: 2, Instances: 2},
		Steps: []autoscaler.StepOutcome{
			{Step: autoscaler.Step{Kind: autoscaler.StepLaunch, Count: 3}, Would: true},
			{Step: autoscaler.Step{Kind: autoscaler.StepTerminateGhost, InstanceID: "i-9"}, Would: true},
		}}
	if err := p.Publish(context.Background(), dry); err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]float64{}
	names := []string{"node_fleet_dry_run", "node_fleet_dry_run_would_launch_total", "node_fleet_dry_run_would_terminate_total",
		"node_fleet_instances_launched_total", "node_fleet_instances_terminated_total"}
	for _, n := range names {
		got[n] = samples(t, reg, n)
	}
	want := map[string]map[string]float64{
		"node_fleet_dry_run":                       {"": 1},
		"node_fleet_dry_run_would_launch_total":    {"": 3},
		"node_fleet_dry_run_would_terminate_total": {"": 1},
		"node_fleet_instances_launched_total":      {"": 0},
		"node_fleet_instances_terminated_total":    {"": 0},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("after a dry-run tick (-want +got):\n%s", d)
	}
	live := autoscaler.Result{Time: t0.Add(time.Minute), Outcome: autoscaler.OutcomeHeld, Plan: autoscaler.Plan{ReadyNodes: 2, Instances: 2}}
	if err := p.Publish(context.Background(), live); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]float64{"": 0}, samples(t, reg, "node_fleet_dry_run")); d != "" {
		t.Errorf("node_fleet_dry_run after a live tick (-want +got):\n%s", d)
	}
}
