package decision

import (
	"math"
	"testing"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// These tests are an outside review's attacks on the load's forecast,
// kept: each made the policy launch nodes the demand did not need, or
// would catch a forecast that reads the future.

// setLoad is in with the load of each record given by load, and the load
// now in the snapshot (none when it is 0).
func setLoad(in autoscaler.PolicyInput, load func(autoscaler.Record) float64, now float64) autoscaler.PolicyInput {
	add := func(rs []autoscaler.Record) []autoscaler.Record {
		out := make([]autoscaler.Record, len(rs))
		for i, r := range rs {
			c := map[string]float64{}
			for k, v := range r.Custom {
				c[k] = v
			}
			c[MetricLoad] = load(r)
			r.Custom = c
			out[i] = r
		}
		return out
	}
	in.History, in.LongHistory = add(in.History), add(in.LongHistory)
	if now > 0 {
		in.Snapshot.Custom = map[string]autoscaler.Metric{MetricLoad: autoscaler.Value(now, in.Now)}
	}
	return in
}

// A load with a part no pod serves (health checks summed in): the line
// has a negative intercept, which must not be clamped to 0 (that lifted
// every forecast by 3.8 nodes and scaled up at night).
func TestALoadWithAPartNoPodServesAddsNoNodes(t *testing.T) {
	p, err := NewPredictive(PredictiveConfig{})
	if err != nil {
		t.Fatal(err)
	}
	load := func(d float64) float64 { return (d-0.2)/0.004 + 1000 }
	now := day0.Add(3*Day + 3*time.Hour)
	in := setLoad(at(now, shop, 2), func(r autoscaler.Record) float64 { return load(r.Demand()) }, load(shop(now)))
	if d := p.Decide(in); d.Action == autoscaler.ScaleUp {
		t.Errorf("03:00, demand %.2f on 2 Ready: %s", shop(now), d)
	}
	var h []autoscaler.Record
	for i := range 100 {
		l := 1000 + float64((i*37)%100)*10 // 1000..1990, not in order
		h = append(h, autoscaler.Record{Time: pt0.Add(time.Duration(i) * time.Minute), Custom: map[string]float64{autoscaler.MetricDemand: -5 + 0.01*l, MetricLoad: l}})
	}
	base, per, doubt, ok := loadFit(h)
	if !ok || math.Abs(base+5) > 1e-6 || math.Abs(per-0.01) > 1e-9 {
		t.Errorf("line %v + %v a unit (ok %v, %q), want -5 + 0.01", base, per, ok, doubt)
	}
}

// A load noisier than the pods (naive on the load) beside a skilled
// demand forecast: the load's point starts no scale-up, even at 2 and
// 60 times the load.
func TestANoisyLoadStartsNoScaleUp(t *testing.T) {
	p, err := NewPredictive(PredictiveConfig{})
	if err != nil {
		t.Fatal(err)
	}
	load := func(r time.Time, d float64) float64 { return (d - 0.2) / 0.004 * (1 + jitter(r.Add(time.Second), 0.4)) }
	now := day0.Add(3*Day + 14*time.Hour)
	for _, mult := range []float64{2, 60} {
		in := setLoad(at(now, shop, 6), func(r autoscaler.Record) float64 { return load(r.Time, r.Demand()) }, mult*load(now, shop(now)))
		if d := p.Decide(in); d.Action == autoscaler.ScaleUp {
			t.Errorf("load x%v, the reactive policy asking for nothing: %s", mult, d)
		}
	}
}

// A calendar event's Factor multiplies the demand's point, never the
// load's: a load in another unit does not grow the event's level.
func TestACalendarFactorIsNotAppliedToTheLoad(t *testing.T) {
	p, err := NewPredictive(PredictiveConfig{Calendar: []Event{{Name: "promo", Start: pt0.Add(5 * time.Minute), End: pt0.Add(time.Hour), Factor: 1.5}}})
	if err != nil {
		t.Fatal(err)
	}
	noisy := hist(12*time.Hour, 2*time.Minute, func(t time.Time) float64 { return 30 + jitter(t, 5) })
	for _, mult := range []float64{1, 60} {
		in := withLoad(input(noisy, 30, 4, 0), 0.5, 0.001, mult*2500)
		if d := p.Decide(in); d.Count > 4 {
			t.Errorf("load x%v: %s", mult, d)
		}
	}
}

// LOAD_QUERY set to a counter (sum(traefik_service_requests_total))
// instead of a rate: left out, never launching.
func TestACounterAsTheLoadLaunchesNothing(t *testing.T) {
	p, err := NewPredictive(PredictiveConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []int{10, 12, 14, 16, 18} {
		now := day0.Add(3*Day + time.Duration(h)*time.Hour)
		counter := func(t time.Time) float64 { return 5e9 + 1000*float64(t.Sub(day0)/time.Second) }
		in := setLoad(at(now, shop, 6), func(r autoscaler.Record) float64 { return counter(r.Time) }, counter(now))
		if fc := p.forecast(in, shop(now)); fc.LoadDoubt == "" || fc.LoadMethod != "" {
			t.Errorf("%02d:00: forecast %+v, want the counter left out", h, fc)
		}
		if d := p.Decide(in); d.Action == autoscaler.ScaleUp {
			t.Errorf("%02d:00: a counter as the load: %s with demand %.2f on 6 Ready", h, d, shop(now))
		}
	}
}

// A load that never moved fits no line, whatever its rounding.
func TestAFlatLoadFitsNoLine(t *testing.T) {
	for _, v := range []float64{3000.1, 0.3, 123.456, 1e6 + 0.1, 7.77} {
		var h []autoscaler.Record
		for i := range 720 {
			h = append(h, autoscaler.Record{Time: pt0.Add(time.Duration(i) * time.Minute), Custom: map[string]float64{autoscaler.MetricDemand: 3 + 0.1*float64(i%7), MetricLoad: v}})
		}
		if base, per, _, ok := loadFit(h); ok {
			t.Errorf("flat load %v: a line %v + %v a unit", v, base, per)
		}
	}
}

// The usual rise reads nothing after its origin: its forecast from each
// origin is the same on the whole series as on the series cut there.
func TestTheUsualRiseUsesNoFuture(t *testing.T) {
	now := day0.Add(8 * Day)
	f := walk(3, now)
	in := at(now, f, 3)
	rec := recentSeries(now, seriesOf(in.History), f(now))
	lead := int64(DefaultLead / time.Second)
	full := riseByTrend(rec, backTest(rec, lead), lead)
	seen := 0
	for i := 0; i < len(rec.t); i += 7 {
		cut := series{t: rec.t[:i+1], v: rec.v[:i+1]}
		got := riseByTrend(cut, backTest(cut, lead), lead)[i]
		if !math.IsNaN(full[i]) {
			seen++
		}
		if !(math.IsNaN(got) && math.IsNaN(full[i])) && got != full[i] {
			t.Fatalf("origin %d: %v on the whole series, %v on the series up to it", i, full[i], got)
		}
	}
	if seen < 50 {
		t.Errorf("only %d origins had a forecast to compare", seen)
	}
}

// The median of an even count is the mean of the middle two.
func TestMedian(t *testing.T) {
	if m := median([]float64{1, 2, 4, 10}); m != 3 {
		t.Errorf("median %v, want 3", m)
	}
	if m := median([]float64{1, 2, 4}); m != 2 {
		t.Errorf("median %v, want 2", m)
	}
}
