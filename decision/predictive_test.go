package decision

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/node-fleet/node-fleet/autoscaler"
)

var pt0 = time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC)

// hist builds a history of records every step ending one step before
// pt0, the demand of each given by f(its time).
func hist(span, step time.Duration, f func(time.Time) float64) []autoscaler.Record {
	var out []autoscaler.Record
	for t := pt0.Add(-span); t.Before(pt0); t = t.Add(step) {
		out = append(out, autoscaler.Record{Time: t, CPU: 50, Memory: 50, PendingPods: 0, Nodes: 2,
			Custom: map[string]float64{DefaultDemandMetric: f(t)}})
	}
	return out
}

func flat(v float64) func(time.Time) float64 { return func(time.Time) float64 { return v } }

func input(history []autoscaler.Record, demand float64, ready int, pending float64) autoscaler.PolicyInput {
	return autoscaler.PolicyInput{Now: pt0, ReadyNodes: ready, MinNodes: 2, MaxNodes: 40, History: history,
		Snapshot: autoscaler.Snapshot{Time: pt0, CPU: autoscaler.Value(50, pt0), Memory: autoscaler.Value(50, pt0), PendingPods: autoscaler.Value(pending, pt0),
			Custom: map[string]autoscaler.Metric{DefaultDemandMetric: autoscaler.Value(demand, pt0)}}}
}

func TestPredictive(t *testing.T) {
	lead := 4 * time.Minute
	noSpike := PredictiveConfig{PodsPerNode: 10, Lead: lead, SpikeQuantile: -1}
	// A day ago the demand tripled from 3 minutes after this time of day.
	dayAgo := pt0.Add(-24 * time.Hour)
	seasonal := func(t time.Time) float64 {
		if !t.Before(dayAgo.Add(3*time.Minute)) && t.Before(dayAgo.Add(time.Hour)) {
			return 60
		}
		return 20
	}
	for _, tt := range []struct {
		name    string
		cfg     PredictiveConfig
		history []autoscaler.Record
		demand  float64
		ready   int
		pending float64
		action  autoscaler.Action
		count   int
		reason  string
	}{
		{"flat demand holds", noSpike, hist(time.Hour, 2*time.Minute, flat(50)), 50, 5, 0, autoscaler.Hold, 0, "50 pods need 5 nodes, 5 Ready"},
		// 40, 42, ..., 48 then 50 now: 1 pod a minute, 54 in 4 minutes.
		{"rising trend scales up ahead", noSpike, hist(10*time.Minute, 2*time.Minute, func(t time.Time) float64 { return 50 + pt0.Sub(t).Minutes()*-1 }), 50, 5, 0,
			autoscaler.ScaleUp, 1, "in 4m0s 54 (trend 54)"},
		{"falling trend scales down", noSpike, hist(10*time.Minute, 2*time.Minute, func(t time.Time) float64 { return 50 + pt0.Sub(t).Minutes() }), 50, 7, 0,
			autoscaler.ScaleDown, 2, "in 4m0s 46"},
		{"pending pods block a scale-down", noSpike, hist(10*time.Minute, 2*time.Minute, func(t time.Time) float64 { return 50 + pt0.Sub(t).Minutes() }), 50, 7, 2,
			autoscaler.Hold, 0, ""},
		// Around this time a day ago: 20, 20, 20; around 4 minutes
		// later: 20, 60, 60, so 20 * (140/3)/20 = 46.7, blended half
		// and half with the flat trend: 33.3 pods, 4 nodes.
		{"a day ago it rose", PredictiveConfig{PodsPerNode: 10, Lead: lead, SpikeQuantile: -1, SpikeWindow: time.Hour}, hist(25*time.Hour, 2*time.Minute, seasonal), 20, 2, 0,
			autoscaler.ScaleUp, 2, "a day ago 47"},
		{"seasonality off", PredictiveConfig{PodsPerNode: 10, Lead: lead, SpikeQuantile: -1, SeasonalWeight: -1}, hist(25*time.Hour, 2*time.Minute, seasonal), 20, 2, 0,
			autoscaler.Hold, 0, ""},
		// One rise from 20 to 40 within a lead time in the last 3
		// hours: the quantile of few rises is the largest, 100%.
		{"spike cover", PredictiveConfig{PodsPerNode: 10, Lead: lead}, hist(3*time.Hour, 2*time.Minute, func(t time.Time) float64 {
			if t.Equal(pt0.Add(-time.Hour)) {
				return 40
			}
			return 20
		}), 20, 2, 0, autoscaler.ScaleUp, 2, "spike cover 20"},
		{"old spikes are forgotten", PredictiveConfig{PodsPerNode: 10, Lead: lead, SpikeWindow: 30 * time.Minute}, hist(3*time.Hour, 2*time.Minute, func(t time.Time) float64 {
			if t.Equal(pt0.Add(-time.Hour)) {
				return 40
			}
			return 20
		}), 20, 2, 0, autoscaler.Hold, 0, "spike cover 0"},
		{"a flash sale in the lead time", PredictiveConfig{PodsPerNode: 10, Lead: lead, SpikeQuantile: -1,
			Calendar: []Event{{Name: "flash sale", Start: pt0.Add(3 * time.Minute), End: pt0.Add(time.Hour), Factor: 3}}},
			hist(time.Hour, 2*time.Minute, flat(20)), 20, 2, 0, autoscaler.ScaleUp, 4, "event flash sale: 60 pods"},
		{"a flash sale beyond it", PredictiveConfig{PodsPerNode: 10, Lead: lead, SpikeQuantile: -1,
			Calendar: []Event{{Name: "flash sale", Start: pt0.Add(5 * time.Minute), End: pt0.Add(time.Hour), Factor: 3}}},
			hist(time.Hour, 2*time.Minute, flat(20)), 20, 2, 0, autoscaler.Hold, 0, ""},
		{"during an event its floor holds", PredictiveConfig{PodsPerNode: 10, Lead: lead, SpikeQuantile: -1,
			Calendar: []Event{{Name: "match", Start: pt0.Add(-time.Minute), End: pt0.Add(time.Hour), Pods: 95, Factor: 3}}},
			hist(time.Hour, 2*time.Minute, flat(20)), 20, 12, 0, autoscaler.ScaleDown, 2, "event match: 95 pods need 10 nodes"},
		{"headroom", PredictiveConfig{PodsPerNode: 10, Lead: lead, SpikeQuantile: -1, Headroom: 0.25},
			hist(time.Hour, 2*time.Minute, flat(40)), 40, 4, 0, autoscaler.ScaleUp, 1, "50 pods need 5 nodes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPredictive(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			d := p.Decide(input(tt.history, tt.demand, tt.ready, tt.pending))
			if diff := cmp.Diff([]any{tt.action, tt.count}, []any{d.Action, d.Count}); diff != "" {
				t.Errorf("%s (-want +got):\n%s", d, diff)
			}
			if !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("reason %q lacks %q", d.Reason, tt.reason)
			}
			if d.Action == autoscaler.ScaleUp && d.Level != autoscaler.LevelPredictive {
				t.Errorf("level %q", d.Level)
			}
		})
	}
}

func TestPredictiveWeeklySeasonAndEstimatedDemand(t *testing.T) {
	p, err := NewPredictive(PredictiveConfig{PodsPerNode: 10, Lead: 10 * time.Minute, SpikeQuantile: -1, SeasonalWeight: 1})
	if err != nil {
		t.Fatal(err)
	}
	weekAgo := pt0.Add(-7 * 24 * time.Hour)
	// A week of 10-minute records without the demand metric: the demand
	// is estimated from CPU, nodes and pending pods. A week ago it
	// doubled 10 minutes after this time.
	var h []autoscaler.Record
	for t := weekAgo.Add(-time.Hour); t.Before(pt0); t = t.Add(10 * time.Minute) {
		cpu := 50.0
		if !t.Before(weekAgo.Add(10*time.Minute)) && t.Before(weekAgo.Add(time.Hour)) {
			cpu = 100
		}
		h = append(h, autoscaler.Record{Time: t, CPU: cpu, PendingPods: 0, Nodes: 4})
	}
	f := p.Forecast(pt0, h, 20)
	// Within 5 minutes (half the lead) of then: the record at then, 20
	// pods; of 10 minutes later: the record then, 40 pods. Twice now.
	if f.Season != "week" || math.Abs(f.Seasonal-40) > 1e-9 || f.Point != f.Seasonal {
		t.Errorf("forecast %+v, want a weekly seasonal 40", f)
	}
	in := input(h, 0, 2, 0)
	delete(in.Snapshot.Custom, DefaultDemandMetric)
	in.Snapshot.CPU = autoscaler.Value(100, pt0)
	if d := p.Decide(in); d.Action != autoscaler.ScaleUp || !strings.Contains(d.Reason, "(cpu+pending)") {
		t.Errorf("estimated demand: %s", d)
	}
	in.Snapshot.CPU = autoscaler.Missing(nil)
	if d := p.Decide(in); d.Action != autoscaler.Hold || !strings.Contains(d.Reason, "demand unknown") {
		t.Errorf("no demand: %s", d)
	}
}

func TestNewPredictiveErrors(t *testing.T) {
	_, err := NewPredictive(PredictiveConfig{PodsPerNode: 0, Lead: -time.Second, SeasonalWeight: 2, SpikeQuantile: 1.5, Headroom: -1,
		Calendar: []Event{{Name: "backwards", Start: pt0, End: pt0.Add(-time.Hour)}}})
	for _, want := range []string{"PodsPerNode must be positive", "Lead must be positive", "SeasonalWeight must be at most 1",
		"SpikeQuantile must be at most 1", "Headroom must be", `Calendar[0] ("backwards"): End`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
	p, err := NewPredictive(PredictiveConfig{PodsPerNode: 10})
	if err != nil {
		t.Fatal(err)
	}
	c := p.Config()
	if c.Lead != 4*time.Minute || c.TrendWindow != 10*time.Minute || c.SpikeWindow != 3*time.Hour || c.SpikeQuantile != 0.99 || c.SeasonalWeight != 0.5 || c.DemandMetric != DefaultDemandMetric {
		t.Errorf("defaults: %+v", c)
	}
}
