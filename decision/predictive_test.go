package decision

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/capacity"
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
	tenthTemplate = capacity.WorkerTemplate{InstanceType: "t3.medium", Allocatable: capacity.Resources{MilliCPU: 2000, Memory: 4 << 30, Pods: 110}}
	tenthPod      = capacity.Resources{MilliCPU: 200, Memory: 400 << 20, Pods: 1}
)

// tenthView is the scheduler's view of running pods on the workers and
// pending ones, all tenthPods, built as the sources build it.
func tenthView(running, pending int) *capacity.SchedulerView {
	var on capacity.Resources
	for range running {
		on = on.Add(tenthPod)
	}
	var pp []capacity.PendingPod
	for i := range pending {
		pp = append(pp, capacity.PendingPod{Namespace: "shop", Name: fmt.Sprintf("web-%d", i), Requests: tenthPod})
	}
	return capacity.NewSchedulerView(tenthTemplate, on, pp)
}

func flat(v float64) func(time.Time) float64 { return func(time.Time) float64 { return v } }

// input is an observation of demand pods (tenthPods), pending of them
// pending.
func input(history []autoscaler.Record, demand float64, ready int, pending float64) autoscaler.PolicyInput {
	return autoscaler.PolicyInput{Now: pt0, ReadyNodes: ready, MinNodes: 2, MaxNodes: 40, History: history,
		Snapshot: autoscaler.Snapshot{Time: pt0, CPU: autoscaler.Value(50, pt0), Memory: autoscaler.Value(50, pt0), PendingPods: autoscaler.Value(pending, pt0),
			Scheduler: tenthView(int(demand-pending), int(pending))}}
}

func TestPredictiveOnADailyShopWithAFlashSaleTheCalendarDoesNotKnow(t *testing.T) {
	day3 := day0.Add(3 * Day)
	sale := func(t time.Time) float64 {
		if !t.Before(day3.Add(14*time.Hour)) && t.Before(day3.Add(15*time.Hour)) {
			return shop(t) + 4
		}
		return shop(t)
	}
	p, err := NewPredictive(PredictiveConfig{})
	if err != nil {
		t.Fatal(err)
	}
	re, err := NewReactive(ReactiveConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name     string
		at       time.Duration // into the third day
		ready    int
		action   autoscaler.Action
		atLeast  int // nodes after the decision
		atMost   int
		level    autoscaler.Level
		reactive autoscaler.Action
	}{
		// The reactive policy sees 1 node's worth and holds; yesterday
		// the shop opened at 09:00, so capacity is raised before it.
		{"pre-scaled before the opening", 8*time.Hour + 55*time.Minute, 1, autoscaler.ScaleUp, 2, 4, autoscaler.LevelPredictive, autoscaler.Hold},
		// An ordinary afternoon: the day's level (4.8 nodes' worth) and
		// the headroom of the forecast's errors, no more.
		{"the afternoon before the sale", 13*time.Hour + 50*time.Minute, 5, "", 5, 6, "", autoscaler.Hold},
		// The sale nobody announced: 8.8 nodes' worth at once, reacted
		// to in full.
		{"the sale reacted to", 14 * time.Hour, 5, autoscaler.ScaleUp, 9, 11, "", autoscaler.ScaleUp},
	} {
		t.Run(tt.name, func(t *testing.T) {
			now := day3.Add(tt.at)
			in := at(now, sale, tt.ready)
			d := p.Decide(in)
			after := tt.ready
			switch d.Action {
			case autoscaler.ScaleUp:
				after += d.Count
			case autoscaler.ScaleDown:
				after -= d.Count
			}
			if (tt.action != "" && d.Action != tt.action) || after < tt.atLeast || after > tt.atMost {
				t.Errorf("%s: %d nodes after it, want %s to %d-%d", d, after, tt.action, tt.atLeast, tt.atMost)
			}
			if tt.level != "" && d.Level != tt.level {
				t.Errorf("level %s, want %s", d.Level, tt.level)
			}
			if r := re.Decide(in); r.Action != tt.reactive {
				t.Errorf("the reactive policy decided %s, want %s", r, tt.reactive)
			}
			if !strings.Contains(d.Reason, "periods: day") {
				t.Errorf("reason %q does not name the daily period", d.Reason)
			}
		})
	}
}

func TestPredictiveScaleDownIsStabilised(t *testing.T) {
	p, err := NewPredictive(PredictiveConfig{})
	if err != nil {
		t.Fatal(err)
	}
	// Hours at 5 nodes' worth, then 2 since the drop.
	dropped := func(drop time.Time) trace {
		return func(t time.Time) float64 {
			if t.Before(drop) {
				return 5
			}
			return 2
		}
	}
	for _, tt := range []struct {
		name   string
		since  time.Duration
		action autoscaler.Action
		count  int
		reason string
	}{
		{"a drop 6 minutes ago is held", 6 * time.Minute, autoscaler.Hold, 0, "stabilised: the most needed over 14m0s 5"},
		{"a drop two lead times ago is followed", 15 * time.Minute, autoscaler.ScaleDown, 3, "the most needed over 14m0s 2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := dropped(pt0.Add(-tt.since))
			in := input(ticks(pt0, 3*time.Hour, 2*time.Minute, f), 20, 5, 0)
			d := p.Decide(in)
			if diff := cmp.Diff([]any{tt.action, tt.count}, []any{d.Action, d.Count}); diff != "" {
				t.Errorf("%s (-want +got):\n%s", d, diff)
			}
			if !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("reason %q lacks %q", d.Reason, tt.reason)
			}
		})
	}
}

func TestPredictiveCalendar(t *testing.T) {
	flat20 := hist(time.Hour, 2*time.Minute, flat(20))
	for _, tt := range []struct {
		name   string
		cfg    PredictiveConfig
		state  []Event
		ready  int
		action autoscaler.Action
		count  int
		reason string
	}{
		{"a flash sale in the lead time", PredictiveConfig{Calendar: []Event{{Name: "flash sale", Start: pt0.Add(3 * time.Minute), End: pt0.Add(time.Hour), Factor: 3}}},
			nil, 2, autoscaler.ScaleUp, 4, "event flash sale 6.00"},
		{"a flash sale beyond it", PredictiveConfig{Calendar: []Event{{Name: "flash sale", Start: pt0.Add(8 * time.Minute), End: pt0.Add(time.Hour), Factor: 3}}},
			nil, 2, autoscaler.Hold, 0, "calendar 0 nodes"},
		{"during an event its floor holds", PredictiveConfig{PodsPerNode: 10, Calendar: []Event{{Name: "match", Start: pt0.Add(-time.Minute), End: pt0.Add(time.Hour), Pods: 95, Factor: 3}}},
			nil, 12, autoscaler.ScaleDown, 2, "event match 9.50"},
		{"the state's events count", PredictiveConfig{}, []Event{{Name: "launch", Start: pt0.Add(time.Minute), End: pt0.Add(time.Hour), Nodes: 7}},
			2, autoscaler.ScaleUp, 5, "event launch 7.00"},
		{"the state's events in pods are left out without PodsPerNode", PredictiveConfig{}, []Event{{Name: "launch", Start: pt0.Add(time.Minute), End: pt0.Add(time.Hour), Pods: 70}},
			2, autoscaler.Hold, 0, "events given in pods left out (no PodsPerNode): launch"},
		{"headroom", PredictiveConfig{Headroom: 0.5}, nil, 2, autoscaler.ScaleUp, 1, "reactive 3"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPredictive(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			in := input(flat20, 20, tt.ready, 0)
			in.Calendar = tt.state
			d := p.Decide(in)
			if diff := cmp.Diff([]any{tt.action, tt.count}, []any{d.Action, d.Count}); diff != "" {
				t.Errorf("%s (-want +got):\n%s", d, diff)
			}
			if !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("reason %q lacks %q", d.Reason, tt.reason)
			}
		})
	}
}

func TestPredictiveWithoutDemandAnswersAsTheReactivePolicy(t *testing.T) {
	p, err := NewPredictive(PredictiveConfig{})
	if err != nil {
		t.Fatal(err)
	}
	in := input(hist(time.Hour, 2*time.Minute, flat(20)), 20, 2, 0)
	in.Snapshot.Scheduler = nil
	in.Snapshot.CPU = autoscaler.Value(100, pt0)
	if d := p.Decide(in); d.Action != autoscaler.Hold || !strings.Contains(d.Reason, "predictive: reactive: demand unknown") {
		t.Errorf("no demand: %s", d)
	}
	in.Snapshot.Scheduler = &capacity.SchedulerView{Demand: 3}
	if d := p.Decide(in); d.Action != autoscaler.Hold || !strings.Contains(d.Reason, "demand unknown") {
		t.Errorf("unknown template: %s", d)
	}
}

func TestNewPredictiveErrors(t *testing.T) {
	_, err := NewPredictive(PredictiveConfig{PodsPerNode: -1, Lead: -time.Second, Target: 0.9, Headroom: -1, ScaleDownWindow: -time.Minute,
		Calendar: []Event{{Name: "backwards", Start: pt0, End: pt0.Add(-time.Hour)}}})
	for _, want := range []string{"PodsPerNode must be 0 or positive", "Lead must be positive", "Target must be a fraction",
		"ScaleDownWindow must be positive", "Headroom must be", `Calendar[0] ("backwards"): End`} {
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
	if diff := cmp.Diff(PredictiveConfig{Lead: DefaultLead, Target: DefaultTarget, ScaleDownWindow: 2 * DefaultLead}, p.Config()); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

// A pending pod no new worker would take (too large) does not keep the
// fleet up: only pods a node would help block the scale-down.
func TestPredictiveScaleDownDespiteAnUnplaceablePod(t *testing.T) {
	p, err := NewPredictive(PredictiveConfig{})
	if err != nil {
		t.Fatal(err)
	}
	in := input(hist(10*time.Minute, 2*time.Minute, flat(20)), 20, 5, 0)
	huge := capacity.PendingPod{Namespace: "shop", Name: "huge", Requests: capacity.Resources{MilliCPU: 6000, Pods: 1}}
	in.Snapshot.Scheduler = capacity.NewSchedulerView(tenthTemplate, capacity.Resources{MilliCPU: 4000, Memory: 20 * 400 << 20}, []capacity.PendingPod{huge})
	in.Snapshot.PendingPods = autoscaler.Value(1, pt0)
	if d := p.Decide(in); d.Action != autoscaler.ScaleDown || d.Count != 3 {
		t.Errorf("with only an unplaceable pod pending: %s, want scale_down 3", d)
	}
	in.Snapshot.Scheduler = tenthView(19, 1)
	if d := p.Decide(in); d.Action == autoscaler.ScaleDown {
		t.Errorf("with a placeable pod pending: %s", d)
	}
}

// withLoad is in with the load (MetricLoad) of every record and of the
// snapshot: the demand is base plus per a unit of load; the load now is
// loadNow (0: none in the snapshot).
func withLoad(in autoscaler.PolicyInput, base, per, loadNow float64) autoscaler.PolicyInput {
	return setLoad(in, func(r autoscaler.Record) float64 { return (r.Demand() - base) / per }, loadNow)
}

// With the load in the snapshots, the policy forecasts it too, in worker
// units by the demand's fit to it: a load that has risen before the pods
// did raises the forecast to the pods it asks for.
func TestPredictiveForecastsTheLoadWhenTheSnapshotsCarryIt(t *testing.T) {
	p, err := NewPredictive(PredictiveConfig{})
	if err != nil {
		t.Fatal(err)
	}
	// 12 hours of 2.5 to 3.5 nodes' worth, without a pattern, each
	// node's worth 1000 requests a second over a base of half a node
	// (pods at their minimum replicas); now the load is 4000 while the
	// pods are still 3 nodes' worth: 4.5 nodes' worth is coming.
	noisy := hist(12*time.Hour, 2*time.Minute, func(t time.Time) float64 { return 30 + jitter(t, 5) })
	base := input(noisy, 30, 3, 0)
	want := p.fc.Forecast(base.Now, base.History, base.LongHistory, 3)
	in := withLoad(base, 0.5, 0.001, 4000)
	fc := p.forecast(in, 3)
	if math.Abs(fc.LoadBase-0.5) > 1e-6 || math.Abs(fc.PerLoad-0.001) > 1e-9 || fc.LoadMethod == "" || fc.LoadPoint < 4.5-1e-9 || fc.LoadDoubt != "" {
		t.Errorf("forecast %+v, want the load's line (0.5 + 0.001 a unit) and its point at least 4.5 nodes", fc)
	}
	if fc.Point != want.Point || fc.Capacity != want.Capacity {
		t.Errorf("on a load without a pattern: forecast %+v, want the demand's forecast to stand (%+v), the load's point beside it", fc, want)
	}
	// The load's point starts no scale-up (the reactive policy holds at
	// 3 Ready), and sizes the one the reactive policy asks for (at 2
	// Ready: 3 nodes), to the pods the load asks for (5 nodes).
	if d := p.Decide(in); d.Action == autoscaler.ScaleUp {
		t.Errorf("decision %s: the load's point started a scale-up", d)
	}
	in2 := in
	in2.ReadyNodes = 2
	if d := p.Decide(in2); d.Action != autoscaler.ScaleUp || d.Count != nodesFor(fc.LoadPoint)-2 || !strings.Contains(d.Reason, "the load's usual rise asks for") {
		t.Errorf("decision %s, want a scale-up to the %d nodes the load's point asks for, its reason naming it", d, nodesFor(fc.LoadPoint))
	}
	// Without the load, or without enough of it recorded, or with a
	// reading that is not one: the demand's forecast alone.
	short := withLoad(base, 0.5, 0.001, 4000)
	for i := range short.History[:len(short.History)-minScored+1] {
		delete(short.History[i].Custom, MetricLoad)
	}
	missing := withLoad(base, 0.5, 0.001, 0)
	missing.Snapshot.Custom = map[string]autoscaler.Metric{MetricLoad: autoscaler.Missing(fmt.Errorf("no such series"))}
	for name, in := range map[string]autoscaler.PolicyInput{
		"no load in the snapshot":               withLoad(base, 0.5, 0.001, 0),
		"a missing reading":                     missing,
		"fewer than 30 ticks recorded the load": short,
		"no load anywhere":                      base,
	} {
		if got := p.forecast(in, 3); !cmp.Equal(got, want) {
			t.Errorf("%s: forecast %+v, want the demand's alone %+v", name, got, want)
		}
	}
	// A load that is not what the pods follow is left out, and said: one
	// that never moved, a counter, one the demand falls with, one that
	// explains little of the demand, and a LOAD_QUERY changed to another
	// unit (per minute, where the history is per second).
	doubtful := map[string]autoscaler.PolicyInput{"another unit now": withLoad(base, 0.5, 0.001, 60*3000)}
	set := func(name string, f func(i int, r autoscaler.Record) float64) {
		in := withLoad(base, 0.5, 0.001, 4000)
		for i, r := range in.History {
			in.History[i].Custom[MetricLoad] = f(i, r)
		}
		doubtful[name] = in
	}
	set("never moved", func(int, autoscaler.Record) float64 { return 3000 })
	set("a counter", func(i int, _ autoscaler.Record) float64 { return 1e6 + float64(i)*500 })
	set("falls as the demand rises", func(_ int, r autoscaler.Record) float64 { return 10000 - 1000*r.Demand() })
	set("explains little", func(i int, r autoscaler.Record) float64 {
		return 1000*r.Demand() + 3000*jitter(pt0.Add(time.Duration(i)*time.Hour), 1)
	})
	for name, in := range doubtful {
		got := p.forecast(in, 3)
		if got.LoadDoubt == "" || !strings.Contains(got.LoadDoubt, "the load left out") {
			t.Errorf("%s: forecast %+v, want the load left out and said", name, got)
		}
		got.LoadDoubt = ""
		if !cmp.Equal(got, want) {
			t.Errorf("%s: forecast %+v, want the demand's alone %+v", name, got, want)
		}
		for _, ready := range []int{2, 3} {
			in.ReadyNodes = ready
			if d := p.Decide(in); !strings.Contains(d.Reason, "the load left out") || (d.Action == autoscaler.ScaleUp && ready+d.Count > nodesFor(want.Capacity)) {
				t.Errorf("%s, %d Ready: decision %s, want the load left out and said, and no more than the demand's %d nodes", name, ready, d, nodesFor(want.Capacity))
			}
		}
	}
}

// The daily shop, its load recorded beside its demand and rising 15
// minutes before the pods do: a daily method beats naive on the load and
// asks for more than the demand's forecast before the opening, but the
// load's forecast starts nothing (its skill is on the load, its line on
// the demand may be biased): the policy decides as it does on the demand
// alone, and its reason names the load's forecast.
func TestPredictiveOnTheLoadOfADailyShopStartsNothingTheDemandDoesNot(t *testing.T) {
	p, err := NewPredictive(PredictiveConfig{})
	if err != nil {
		t.Fatal(err)
	}
	now := day0.Add(3*Day + 8*time.Hour + 50*time.Minute)
	alone := p.Decide(at(now, shop, 1))
	in := at(now, shop, 1)
	ahead := func(t time.Time) float64 { return (shop(t.Add(15*time.Minute)) - 0.2) / 0.004 }
	for _, rs := range [][]autoscaler.Record{in.History, in.LongHistory} {
		for i, r := range rs {
			rs[i].Custom = map[string]float64{autoscaler.MetricDemand: r.Demand(), MetricLoad: ahead(r.Time)}
		}
	}
	in.Snapshot.Custom = map[string]autoscaler.Metric{MetricLoad: autoscaler.Value(ahead(now), now)}
	fc := p.forecast(in, in.Snapshot.Scheduler.Demand)
	if !strings.Contains(fc.LoadMethod, "(day)") || fc.LoadPoint <= fc.Capacity {
		t.Fatalf("forecast %+v, want a daily method on the load asking for more than the demand's capacity", fc)
	}
	d := p.Decide(in)
	if d.Action != alone.Action || d.Count != alone.Count || d.ForecastNodes != alone.ForecastNodes || !strings.Contains(d.Reason, "the load's seasonal") {
		t.Errorf("decision %s, want the demand's alone (%s), its reason naming the load's daily forecast", d, alone)
	}
}

// The load's point is cut to four times the demand now and a node, and a
// counter is left out even where the demand rose with it (a ramp).
func TestTheLoadsPointIsBoundedAndACounterLeftOut(t *testing.T) {
	p, err := NewPredictive(PredictiveConfig{})
	if err != nil {
		t.Fatal(err)
	}
	noisy := hist(12*time.Hour, 2*time.Minute, func(t time.Time) float64 { return 30 + jitter(t, 5) })
	base := input(noisy, 30, 3, 0)
	// The load now asks for 12.99 nodes (0.5 + 0.001 x 12490), within the
	// bound of 13; its forecast (plus the usual rise) asks for more.
	fc := p.forecast(withLoad(base, 0.5, 0.001, 12490), 3)
	if fc.LoadDoubt != "" || fc.LoadPoint != 13 {
		t.Errorf("forecast %+v, want the load's point cut to 13 (4 x 3 + 1)", fc)
	}
	// A counter over a day whose demand ramps with it: the line fits it,
	// and it is left out all the same.
	ramp := hist(12*time.Hour, 2*time.Minute, func(t time.Time) float64 { return 20 + 20*t.Sub(pt0.Add(-12*time.Hour)).Hours()/12 + jitter(t, 1) })
	in := setLoad(input(ramp, 40, 4, 0), func(r autoscaler.Record) float64 {
		return 1e6 + 10*float64(r.Time.Sub(pt0.Add(-12*time.Hour))/time.Second)
	}, 1e6+10*12*3600)
	if fc := p.forecast(in, 4); !strings.Contains(fc.LoadDoubt, "a counter") || fc.LoadPoint != 0 {
		t.Errorf("forecast %+v, want the counter left out", fc)
	}
}
