package scrape

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// The forecast of the last tick's policy (in forecast-only mode the
// shadow's) and the nodes a forecast-only policy wanted are gauges with a
// sample only while the last tick had them: a tick without a forecast
// leaves no stale one, and a skipped tick changes nothing.
func TestPublisherKeepsTheLastForecastAndForecastOnlyDecision(t *testing.T) {
	reg := prometheus.NewRegistry()
	p, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	shadowTick := autoscaler.Result{Time: t0, Outcome: autoscaler.OutcomeHeld, Plan: autoscaler.Plan{ReadyNodes: 3, Instances: 3,
		Proposed: autoscaler.Decision{Action: autoscaler.Hold, Shadow: &autoscaler.Decision{Action: autoscaler.ScaleDown, Count: 1,
			ForecastMethod: "seasonal naive (day)", ForecastNodes: 1.75, ForecastHeadroom: 0.25}}}}
	plain := autoscaler.Result{Time: t0.Add(2 * time.Minute), Outcome: autoscaler.OutcomeHeld, Plan: autoscaler.Plan{ReadyNodes: 3, Instances: 3}}
	type want struct{ forecast, headroom, shadow map[string]float64 }
	gauges := func() want {
		return want{samples(t, reg, "node_fleet_forecast_nodes"), samples(t, reg, "node_fleet_forecast_headroom_nodes"), samples(t, reg, "node_fleet_shadow_desired_nodes")}
	}
	none := want{map[string]float64{}, map[string]float64{}, map[string]float64{}}
	for _, step := range []struct {
		name string
		r    autoscaler.Result
		want want
	}{
		{"forecast-only tick", shadowTick, want{map[string]float64{"seasonal naive (day)": 1.75}, map[string]float64{"": 0.25}, map[string]float64{"": 2}}},
		{"skipped tick", autoscaler.Result{Time: t0.Add(time.Minute), Outcome: autoscaler.OutcomeSkipped},
			want{map[string]float64{"seasonal naive (day)": 1.75}, map[string]float64{"": 0.25}, map[string]float64{"": 2}}},
		{"tick without a forecast", plain, none},
	} {
		if err := p.Publish(t.Context(), step.r); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(step.want, gauges(), cmp.AllowUnexported(want{})); diff != "" {
			t.Errorf("after the %s (-want +got):\n%s", step.name, diff)
		}
	}
}
