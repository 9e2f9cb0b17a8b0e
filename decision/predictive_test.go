package decision

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/node-fleet/node-fleet/autoscaler"
)

var pt0 = time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC)

// hist builds a history of records every step ending one step before
// pt0, the demand of each given by f(its time) in pods of a tenth of a
// worker (recorded in worker units, as the tick records the scheduler's
// Demand).
func hist(span, step time.Duration, f func(time.Time) float64) []autoscaler.Record {
	var out []autoscaler.Record
	for t := pt0.Add(-span); t.Before(pt0); t = t.Add(step) {
		out = append(out, autoscaler.Record{Time: t, CPU: 50, Memory: 50, PendingPods: 0, Nodes: 2,
			Custom: map[string]float64{autoscaler.MetricDemand: f(t) / 10}})
	}
	return out
}

// tenthTemplate is a worker of 2 CPU and 4 GiB; a tenthPod's 200m CPU
// and 400 MiB make a tenth of it (CPU being the larger share).
var (
	tenthTemplate = autoscaler.WorkerTemplate{InstanceType: "t3.medium", Allocatable: autoscaler.Resources{MilliCPU: 2000, Memory: 4 << 30, Pods: 110}}
	tenthPod      = autoscaler.Resources{MilliCPU: 200, Memory: 400 << 20, Pods: 1}
)

// tenthView is the scheduler's view of running pods on the workers and
// pending ones, all tenthPods, built as the sources build it.
func tenthView(running, pending int) *autoscaler.SchedulerView {
	var on autoscaler.Resources
	for range running {
		on = on.Add(tenthPod)
	}
	var pp []autoscaler.PendingPod
	for i := range pending {
		pp = append(pp, autoscaler.PendingPod{Namespace: "shop", Name: fmt.Sprintf("web-%d", i), Requests: tenthPod})
	}
	return autoscaler.NewSchedulerView(tenthTemplate, on, pp)
}

func flat(v float64) func(time.Time) float64 { return func(time.Time) float64 { return v } }

// input is an observation of demand pods (tenthPods), pending of them
// pending.
func input(history []autoscaler.Record, demand float64, ready int, pending float64) autoscaler.PolicyInput {
	return autoscaler.PolicyInput{Now: pt0, ReadyNodes: ready, MinNodes: 2, MaxNodes: 40, History: history,
		Snapshot: autoscaler.Snapshot{Time: pt0, CPU: autoscaler.Value(50, pt0), Memory: autoscaler.Value(50, pt0), PendingPods: autoscaler.Value(pending, pt0),
			Scheduler: tenthView(int(demand-pending), int(pending))}}
}

func TestPredictive(t *testing.T) {
	lead := 4 * time.Minute
	noSpike := PredictiveConfig{Lead: lead, SpikeQuantile: -1}
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
		{"flat demand holds", noSpike, hist(time.Hour, 2*time.Minute, flat(50)), 50, 5, 0, autoscaler.Hold, 0, "5.00 nodes' worth needs 5 nodes, 5 Ready"},
		// 40, 42, ..., 48 then 50 now: 1 pod a minute, 54 in 4 minutes.
		{"rising trend scales up ahead", noSpike, hist(10*time.Minute, 2*time.Minute, func(t time.Time) float64 { return 50 + pt0.Sub(t).Minutes()*-1 }), 50, 5, 0,
			autoscaler.ScaleUp, 1, "in 4m0s 5.40 (trend 5.40)"},
		{"falling trend scales down", noSpike, hist(10*time.Minute, 2*time.Minute, func(t time.Time) float64 { return 50 + pt0.Sub(t).Minutes() }), 50, 7, 0,
			autoscaler.ScaleDown, 2, "in 4m0s 4.60"},
		{"pending pods block a scale-down", noSpike, hist(10*time.Minute, 2*time.Minute, func(t time.Time) float64 { return 50 + pt0.Sub(t).Minutes() }), 50, 7, 2,
			autoscaler.Hold, 0, ""},
		// Around this time a day ago: 20, 20, 20; around 4 minutes
		// later: 20, 60, 60, so 20 * (140/3)/20 = 46.7, blended half
		// and half with the flat trend: 33.3 pods (3.33 nodes), 4 nodes.
		{"a day ago it rose", PredictiveConfig{Lead: lead, SpikeQuantile: -1, SpikeWindow: time.Hour}, hist(25*time.Hour, 2*time.Minute, seasonal), 20, 2, 0,
			autoscaler.ScaleUp, 2, "a day ago 4.67"},
		{"seasonality off", PredictiveConfig{Lead: lead, SpikeQuantile: -1, SeasonalWeight: -1}, hist(25*time.Hour, 2*time.Minute, seasonal), 20, 2, 0,
			autoscaler.Hold, 0, ""},
		// One rise from 20 to 40 within a lead time in the last 3
		// hours: the quantile of few rises is the largest, 100%.
		{"spike cover", PredictiveConfig{Lead: lead}, hist(3*time.Hour, 2*time.Minute, func(t time.Time) float64 {
			if t.Equal(pt0.Add(-time.Hour)) {
				return 40
			}
			return 20
		}), 20, 2, 0, autoscaler.ScaleUp, 2, "spike cover 2.00"},
		{"old spikes are forgotten", PredictiveConfig{Lead: lead, SpikeWindow: 30 * time.Minute}, hist(3*time.Hour, 2*time.Minute, func(t time.Time) float64 {
			if t.Equal(pt0.Add(-time.Hour)) {
				return 40
			}
			return 20
		}), 20, 2, 0, autoscaler.Hold, 0, "spike cover 0.00"},
		{"a flash sale in the lead time", PredictiveConfig{Lead: lead, SpikeQuantile: -1,
			Calendar: []Event{{Name: "flash sale", Start: pt0.Add(3 * time.Minute), End: pt0.Add(time.Hour), Factor: 3}}},
			hist(time.Hour, 2*time.Minute, flat(20)), 20, 2, 0, autoscaler.ScaleUp, 4, "event flash sale: 6.00 nodes' worth"},
		{"a flash sale beyond it", PredictiveConfig{Lead: lead, SpikeQuantile: -1,
			Calendar: []Event{{Name: "flash sale", Start: pt0.Add(5 * time.Minute), End: pt0.Add(time.Hour), Factor: 3}}},
			hist(time.Hour, 2*time.Minute, flat(20)), 20, 2, 0, autoscaler.Hold, 0, ""},
		{"during an event its floor holds", PredictiveConfig{PodsPerNode: 10, Lead: lead, SpikeQuantile: -1,
			Calendar: []Event{{Name: "match", Start: pt0.Add(-time.Minute), End: pt0.Add(time.Hour), Pods: 95, Factor: 3}}},
			hist(time.Hour, 2*time.Minute, flat(20)), 20, 12, 0, autoscaler.ScaleDown, 2, "event match: 9.50 nodes' worth needs 10 nodes"},
		{"headroom", PredictiveConfig{Lead: lead, SpikeQuantile: -1, Headroom: 0.25},
			hist(time.Hour, 2*time.Minute, flat(40)), 40, 4, 0, autoscaler.ScaleUp, 1, "5.00 nodes' worth needs 5 nodes"},
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

func TestPredictiveWeeklySeasonAndNoDemand(t *testing.T) {
	p, err := NewPredictive(PredictiveConfig{Lead: 10 * time.Minute, SpikeQuantile: -1, SeasonalWeight: 1})
	if err != nil {
		t.Fatal(err)
	}
	weekAgo := pt0.Add(-7 * 24 * time.Hour)
	// A week of 10-minute records; a week ago the demand doubled 10
	// minutes after this time. Records of ticks without the scheduler's
	// view (no demand recorded) are skipped, not read as zero.
	var h []autoscaler.Record
	for t := weekAgo.Add(-time.Hour); t.Before(pt0); t = t.Add(10 * time.Minute) {
		d := 2.0
		if !t.Before(weekAgo.Add(10*time.Minute)) && t.Before(weekAgo.Add(time.Hour)) {
			d = 4
		}
		r := autoscaler.Record{Time: t, CPU: 50, PendingPods: 0, Nodes: 4, Custom: map[string]float64{autoscaler.MetricDemand: d}}
		if t.Before(weekAgo.Add(-30 * time.Minute)) {
			r.Custom = nil
		}
		h = append(h, r)
	}
	f := p.Forecast(pt0, h, 2)
	// Within 5 minutes (half the lead) of then: the record at then, 2
	// nodes; of 10 minutes later: the record then, 4. Twice now.
	if f.Season != "week" || math.Abs(f.Seasonal-4) > 1e-9 || f.Point != f.Seasonal {
		t.Errorf("forecast %+v, want a weekly seasonal 4", f)
	}
	in := input(h, 20, 2, 0)
	if d := p.Decide(in); d.Action != autoscaler.ScaleUp || d.Count != 2 {
		t.Errorf("weekly season: %s", d)
	}
	// Without the scheduler's view the policy does not guess from CPU.
	in.Snapshot.Scheduler = nil
	in.Snapshot.CPU = autoscaler.Value(100, pt0)
	if d := p.Decide(in); d.Action != autoscaler.Hold || !strings.Contains(d.Reason, "demand unknown") {
		t.Errorf("no demand: %s", d)
	}
	// Nor with a view whose template is unknown.
	in.Snapshot.Scheduler = &autoscaler.SchedulerView{Demand: 3}
	if d := p.Decide(in); d.Action != autoscaler.Hold || !strings.Contains(d.Reason, "demand unknown") {
		t.Errorf("unknown template: %s", d)
	}
}

func TestNewPredictiveErrors(t *testing.T) {
	_, err := NewPredictive(PredictiveConfig{PodsPerNode: -1, Lead: -time.Second, SeasonalWeight: 2, SpikeQuantile: 1.5, Headroom: -1,
		Calendar: []Event{{Name: "backwards", Start: pt0, End: pt0.Add(-time.Hour)}}})
	for _, want := range []string{"PodsPerNode must be 0 or positive", "Lead must be positive", "SeasonalWeight must be at most 1",
		"SpikeQuantile must be at most 1", "Headroom must be", `Calendar[0] ("backwards"): End`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
	_, err = NewPredictive(PredictiveConfig{Calendar: []Event{{Name: "sale", Start: pt0, End: pt0.Add(time.Hour), Pods: 40}}})
	if err == nil || !strings.Contains(err.Error(), `Calendar[0] ("sale"): given in Pods, it needs PodsPerNode`) {
		t.Errorf("an event in pods without PodsPerNode: %v", err)
	}
	p, err := NewPredictive(PredictiveConfig{})
	if err != nil {
		t.Fatal(err)
	}
	c := p.Config()
	if c.Lead != 4*time.Minute || c.TrendWindow != 10*time.Minute || c.SpikeWindow != 3*time.Hour || c.SpikeQuantile != 0.99 || c.SeasonalWeight != 0.5 {
		t.Errorf("defaults: %+v", c)
	}
}

// A pending pod no new worker would take (too large) does not keep the
// fleet up: only pods a node would help block the scale-down.
func TestPredictiveScaleDownDespiteAnUnplaceablePod(t *testing.T) {
	p, err := NewPredictive(PredictiveConfig{Lead: 4 * time.Minute, SpikeQuantile: -1})
	if err != nil {
		t.Fatal(err)
	}
	in := input(hist(10*time.Minute, 2*time.Minute, flat(20)), 20, 5, 0)
	huge := autoscaler.PendingPod{Namespace: "shop", Name: "huge", Requests: autoscaler.Resources{MilliCPU: 6000, Pods: 1}}
	in.Snapshot.Scheduler = autoscaler.NewSchedulerView(tenthTemplate, autoscaler.Resources{MilliCPU: 4000, Memory: 20 * 400 << 20}, []autoscaler.PendingPod{huge})
	in.Snapshot.PendingPods = autoscaler.Value(1, pt0)
	if d := p.Decide(in); d.Action != autoscaler.ScaleDown || d.Count != 3 {
		t.Errorf("with only an unplaceable pod pending: %s, want scale_down 3", d)
	}
	in.Snapshot.Scheduler = tenthView(19, 1)
	if d := p.Decide(in); d.Action == autoscaler.ScaleDown {
		t.Errorf("with a placeable pod pending: %s", d)
	}
}
