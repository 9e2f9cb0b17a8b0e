package decision

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/node-fleet/node-fleet/autoscaler"
)

// A demand trace in worker units, by time.
type trace func(time.Time) float64

// ticks is the history the tick records: the demand every step over
// span, ending one step before now.
func ticks(now time.Time, span, step time.Duration, f trace) []autoscaler.Record {
	var out []autoscaler.Record
	for t := now.Add(-span); t.Before(now); t = t.Add(step) {
		out = append(out, autoscaler.Record{Time: t, CPU: 50, Memory: 50, PendingPods: 0, Nodes: 2,
			Custom: map[string]float64{autoscaler.MetricDemand: f(t)}})
	}
	return out
}

// means is the long history the tick keeps: means over step of the
// demand sampled every sample, over span before now (the last bucket
// holds what has been seen of it).
func means(now time.Time, span, step, sample time.Duration, f trace) []autoscaler.Record {
	var out []autoscaler.Record
	for b := now.Add(-span).Truncate(step); b.Before(now); b = b.Add(step) {
		sum, n := 0.0, 0
		for t := b; t.Before(b.Add(step)) && t.Before(now); t = t.Add(sample) {
			sum += f(t)
			n++
		}
		out = append(out, autoscaler.Record{Time: b, CPU: math.NaN(), Memory: math.NaN(), PendingPods: math.NaN(), Samples: n,
			Custom: map[string]float64{autoscaler.MetricDemand: sum / float64(n)}})
	}
	return out
}

// jitter is a deterministic small wobble of a time's demand, up to
// +-amp.
func jitter(t time.Time, amp float64) float64 {
	r := rand.New(rand.NewPCG(uint64(t.Unix()), 7))
	return amp * (2*r.Float64() - 1)
}

// shop is a day of a shop's demand in worker units: 0.8 nodes' worth at
// night, a steep opening at 09:00 (to 4.8 within 20 minutes), a close
// from 20:00, with a little jitter.
func shop(t time.Time) float64 {
	h := float64(t.Hour()) + float64(t.Minute())/60
	level := 0.8
	switch {
	case h >= 9 && h < 9+1.0/3:
		level = 0.8 + 4*(h-9)*3
	case h >= 9+1.0/3 && h < 20:
		level = 4.8
	case h >= 20 && h < 21:
		level = 4.8 - 4*(h-20)
	}
	return level + jitter(t, 0.1)
}

// noise is demand without any pattern: 3 nodes' worth plus independent
// noise of up to one node.
func noise(t time.Time) float64 { return 3 + jitter(t, 1) }

// at is the observation of demand worker units at now with ready nodes,
// the histories the autoscaler's defaults keep (a day of 2-minute ticks,
// 8 days of 10-minute means).
func at(now time.Time, f trace, ready int) autoscaler.PolicyInput {
	ac := autoscaler.DefaultConfig()
	units := f(now)
	pods := int(math.Round(units * 10))
	return autoscaler.PolicyInput{Now: now, ReadyNodes: ready, MinNodes: 2, MaxNodes: 40,
		History:     ticks(now, time.Duration(ac.HistoryLimit)*ac.Interval, ac.Interval, f),
		LongHistory: means(now, ac.LongHistory, ac.LongHistoryStep, ac.Interval, f),
		Snapshot: autoscaler.Snapshot{Time: now, CPU: autoscaler.Value(50, now), Memory: autoscaler.Value(50, now), PendingPods: autoscaler.Value(0, now),
			Scheduler: tenthView(pods, 0)}}
}

var day0 = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

// weekdays is the shop, closed at weekends.
func weekdays(t time.Time) float64 {
	if wd := t.Weekday(); wd == time.Saturday || wd == time.Sunday {
		return 0.8 + jitter(t, 0.1)
	}
	return shop(t)
}

func TestForecasterDetectsTheDailyPeriodAndNoneInNoise(t *testing.T) {
	now := day0.Add(8*Day + 8*time.Hour)
	ac := autoscaler.DefaultConfig()
	for _, tt := range []struct {
		name string
		f    trace
		span time.Duration
		want []time.Duration
	}{
		{"a shop's days", shop, ac.LongHistory, []time.Duration{Day}},
		{"noise", noise, ac.LongHistory, nil},
		{"a shop's day and a half: too short to tell", shop, 36 * time.Hour, nil},
		{"a shop closed at weekends, over three weeks", weekdays, 3*Week + Day, []time.Duration{Day, Week}},
		// One week of pairs at the week's lag is one draw of each
		// weekday: too few to tell a week from chance.
		{"a shop closed at weekends, over the default 8 days", weekdays, ac.LongHistory, []time.Duration{Day}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := DetectPeriods(means(now, tt.span, ac.LongHistoryStep, ac.Interval, tt.f))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("periods (-want +got):\n%s", diff)
			}
		})
	}
}

// On noise the forecaster finds no period and falls back to naive; what
// it adds is naive's own headroom, the 1-Target quantile of the lead
// time's peak over the demand at its start (the demand's usual rise),
// never more than the noise's range. The predictive policy scales up when
// and only when the reactive policy does, sized for that rise.
func TestForecasterOnNoiseFallsBackToNaiveAndAddsItsUsualRise(t *testing.T) {
	fc, err := NewForecaster(ForecasterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPredictive(PredictiveConfig{})
	if err != nil {
		t.Fatal(err)
	}
	re, err := NewReactive(ReactiveConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		now := day0.Add(8*Day + time.Duration(i)*2*time.Hour)
		in := at(now, noise, 3)
		f := fc.Forecast(now, in.History, in.LongHistory, noise(now))
		rise := naiveRise(in.History, noise(now), now)
		// Naive, or its kin the usual rise (naive plus the median rise
		// after the same trend: on noise the lead time's peak is above
		// the demand now more often than not, and more so after a
		// fall), which the policy treats alike.
		kin := f.Method == MethodNaive || f.Method == MethodRise
		if !kin || len(f.Periods) != 0 || math.Abs(f.Point-f.Now) > 2 || math.Abs(f.Capacity-(f.Point+f.Headroom)) > 1e-9 || f.Headroom > 2 {
			t.Errorf("%s: forecast %+v, want naive or the usual rise, no period, within the noise's range (2)", now, f)
		}
		if f.Method == MethodNaive && (f.Point != f.Now || math.Abs(f.Headroom-rise) > 1e-9) {
			t.Errorf("%s: forecast %+v, want naive plus its usual rise %.3f", now, f, rise)
		}
		// With 40 ticks of history no trend has the 30 rises the usual
		// rise needs, and naive stands with its own headroom.
		short := in.History[len(in.History)-40:]
		g := fc.Forecast(now, short, nil, noise(now))
		if r := naiveRise(short, noise(now), now); g.Method != MethodNaive || g.Point != g.Now || math.Abs(g.Headroom-r) > 1e-9 || g.Headroom <= 0 || g.Capacity != g.Now+g.Headroom {
			t.Errorf("%s: on 40 ticks, forecast %+v, want naive plus its usual rise %.3f", now, g, r)
		}
		if f.Scored < minScored || f.NaiveMAE <= 0 {
			t.Errorf("%s: scored %d forecasts, naive MAE %v", now, f.Scored, f.NaiveMAE)
		}
		got, want := p.Decide(in), re.Decide(in)
		switch {
		case got.Action != want.Action:
			t.Errorf("%s: predictive %s, reactive %s", now, got, want)
		case got.Action == autoscaler.ScaleUp && in.ReadyNodes+got.Count != max(in.ReadyNodes+want.Count, nodesFor(got.ForecastNodes+got.ForecastHeadroom)):
			// Sized for the policy's own forecast, of the demand the
			// scheduler's view gives (in whole pods).
			t.Errorf("%s: predictive %s, want the reactive %s sized for capacity %.2f", now, got, want, got.ForecastNodes+got.ForecastHeadroom)
		case got.Action != autoscaler.ScaleUp && got.Count != want.Count:
			t.Errorf("%s: predictive %s, reactive %s", now, got, want)
		}
	}
}

// naiveRise is the 95% quantile, in the split-conformal way, of the
// highest demand in the 7 minutes after each record of history (the
// demand now, cur, last) less the record's own: computed apart from the
// forecaster's back-test.
func naiveRise(history []autoscaler.Record, cur float64, now time.Time) float64 {
	type pt struct {
		t time.Time
		v float64
	}
	var s []pt
	for _, r := range history {
		s = append(s, pt{r.Time, r.Demand()})
	}
	s = append(s, pt{now, cur})
	var rises []float64
	for i, a := range s {
		if a.t.Add(DefaultLead).After(now) {
			break
		}
		high := math.Inf(-1)
		for _, b := range s[i+1:] {
			if b.t.After(a.t.Add(DefaultLead)) {
				break
			}
			high = math.Max(high, b.v)
		}
		rises = append(rises, high-a.v)
	}
	slices.Sort(rises)
	k := int(math.Ceil(float64(len(rises)+1)*0.95)) - 1
	return math.Max(0, rises[min(k, len(rises)-1)])
}

// The autoscaler's default histories (HistoryLimit records at Interval,
// LongHistory of LongHistoryStep means) and the default lead are enough
// for the forecaster to see a day, and to score its methods on it.
func TestTheShippedDefaultsSeeADay(t *testing.T) {
	ac := autoscaler.DefaultConfig()
	if ac.LongHistory < Week+DefaultLead {
		t.Fatalf("LongHistory %s cannot hold a week and a lead", ac.LongHistory)
	}
	fc, err := NewForecaster(ForecasterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	// 10 minutes before opening, three days in: the history holds
	// yesterday's opening and two more in the long history.
	now := day0.Add(3*Day + 8*time.Hour + 50*time.Minute)
	in := at(now, shop, 2)
	f := fc.Forecast(now, in.History, in.LongHistory, shop(now))
	if !strings.Contains(f.MethodName(), "(day)") || f.MASE >= 1 || f.Scored < minScored {
		t.Errorf("forecast %+v (%s), want a daily seasonal method with a MASE below 1", f, f.MethodName())
	}
	if diff := cmp.Diff([]time.Duration{Day}, f.Periods); diff != "" {
		t.Errorf("periods (-want +got):\n%s", diff)
	}
}

func TestForecasterHeadroomIsTheQuantileOfItsErrors(t *testing.T) {
	errs := make([]float64, 99)
	for i := range errs {
		errs[i] = float64(i + 1) // 1..99
	}
	for _, tt := range []struct {
		q    float64
		want float64
	}{{0.95, 95}, {0.5, 50}, {0.999, 99}} {
		if got := conformalQuantile(errs, tt.q); got != tt.want {
			t.Errorf("quantile %v = %v, want %v", tt.q, got, tt.want)
		}
	}
}

func TestNewForecasterErrorsAndDefaults(t *testing.T) {
	_, err := NewForecaster(ForecasterConfig{Lead: -time.Minute, Target: 0.7})
	for _, want := range []string{"Lead must be positive", "Target must be a fraction above 0 and at most 0.5, got 0.7"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
	fc, err := NewForecaster(ForecasterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ForecasterConfig{Lead: 7 * time.Minute, Target: 0.05, Metric: autoscaler.MetricDemand}, fc.Config()); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

func TestAMethodMustBeatNaiveSignificantly(t *testing.T) {
	// gains of n forecasts at 2-minute ticks, a 7-minute lead.
	sums := func(gains ...float64) (sum, sq float64) {
		for _, g := range gains {
			sum += g
			sq += g * g
		}
		return sum, sq
	}
	steady := make([]float64, 100)
	mixed := make([]float64, 100)
	for i := range steady {
		steady[i] = 0.1 + 0.01*float64(i%3)
		mixed[i] = 1
		if i%2 == 0 {
			mixed[i] = -0.9 // a gain of 0.05 on average, give or take 0.95
		}
	}
	for _, tt := range []struct {
		name  string
		gains []float64
		want  bool
	}{
		{"a steady gain", steady, true},
		{"a small mean gain in large swings", mixed, false},
		{"no gain", make([]float64, 100), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, sq := sums(tt.gains...)
			if got := beatsNaive(s, sq, len(tt.gains), int64(len(tt.gains))*120, 420); got != tt.want {
				t.Errorf("beatsNaive = %v, want %v", got, tt.want)
			}
		})
	}
}

// A long history with a record out of order (the clock of one tick
// stepped back a bucket) is read in time order: the daily period is
// still found, and nothing panics.
func TestForecasterReadsAHistoryOutOfOrderInTimeOrder(t *testing.T) {
	ac := autoscaler.DefaultConfig()
	now := day0.Add(8*Day + 8*time.Hour)
	long := means(now, ac.LongHistory, ac.LongHistoryStep, ac.Interval, shop)
	back := long[len(long)-3]
	long = append(long, back)
	if diff := cmp.Diff([]time.Duration{Day}, DetectPeriods(long)); diff != "" {
		t.Errorf("periods (-want +got):\n%s", diff)
	}
	fc, err := NewForecaster(ForecasterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	hist := ticks(now, 6*time.Hour, ac.Interval, shop)
	hist[len(hist)-2], hist[len(hist)-1] = hist[len(hist)-1], hist[len(hist)-2]
	if f := fc.Forecast(now, hist, long, shop(now)); f.Scored < minScored {
		t.Errorf("forecast %+v: want its methods scored", f)
	}
}

// walk is a random walk of demand at the autoscaler's tick interval
// (steps of 0.2 nodes' worth, at least half a node), seeded: no method
// forecasts it better than naive but by chance.
func walk(seed uint64, now time.Time) trace {
	ac := autoscaler.DefaultConfig()
	r := rand.New(rand.NewPCG(seed, 5))
	start := now.Add(-ac.LongHistory - time.Hour).Truncate(ac.Interval)
	vals := map[int64]float64{}
	x := 5.0
	for t := start; !t.After(now.Add(time.Hour)); t = t.Add(ac.Interval) {
		x = math.Max(0.5, x+0.2*r.NormFloat64())
		vals[t.Unix()] = x
	}
	return func(t time.Time) float64 { return vals[t.Truncate(ac.Interval).Unix()] }
}

// On random walks a method's gain over naive is chance: without the
// significance rule the damped trend was picked on 12 of these 40. The
// usual rise is no chance: the highest of a random walk over the lead
// time is above where it starts more often than not, by a median rise
// that naive leaves out.
func TestForecasterOnRandomWalksPicksNoMethodByChance(t *testing.T) {
	fc, err := NewForecaster(ForecasterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	now := day0.Add(8*Day + 8*time.Hour)
	for seed := range uint64(40) {
		f := walk(seed, now)
		in := at(now, f, 3)
		if got := fc.Forecast(now, in.History, in.LongHistory, f(now)); got.Method != MethodNaive && got.Method != MethodRise {
			t.Errorf("seed %d: picked %s (MASE %.3f over %d), want naive or the usual rise", seed, got.MethodName(), got.MASE, got.Scored)
		}
	}
}

// The forecast plus its headroom covers the highest demand of the next
// lead time about 1-Target of the time, at least 90% for the default 5%:
// over a day of the shop's, at every tick (without the headroom, 25%),
// and over a day of noise, where nothing but naive's kin the usual rise
// beats naive and the headroom is theirs (the demand now alone, about a
// third).
func TestForecasterHeadroomCoversTheLeadTimesPeakAtAboutTheTarget(t *testing.T) {
	fc, err := NewForecaster(ForecasterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ac := autoscaler.DefaultConfig()
	for _, tt := range []struct {
		name     string
		f        trace
		from, to time.Time
		step     time.Duration
		naive    bool
	}{
		{"a shop's day", shop, day0.Add(3*Day + 6*time.Hour), day0.Add(3*Day + 22*time.Hour), ac.Interval, false},
		{"a day of noise", noise, day0.Add(8 * Day), day0.Add(9 * Day), 5 * ac.Interval, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			covered, n := 0, 0
			for now := tt.from; now.Before(tt.to); now = now.Add(tt.step) {
				in := at(now, tt.f, 3)
				f := fc.Forecast(now, in.History, in.LongHistory, tt.f(now))
				peak := math.Inf(-1)
				for t := now.Add(ac.Interval); !t.After(now.Add(DefaultLead)); t = t.Add(ac.Interval) {
					peak = math.Max(peak, tt.f(t))
				}
				n++
				if f.Capacity >= peak && (!tt.naive || f.Method == MethodNaive || f.Method == MethodRise) {
					covered++
				}
			}
			if share := float64(covered) / float64(n); share < 1-2*DefaultTarget {
				t.Errorf("covered %d of %d lead times' peaks (%.1f%%), want at least %.0f%%", covered, n, 100*share, 100*(1-2*DefaultTarget))
			}
		})
	}
}

// A long history with hours missing (a safety mode without the
// scheduler's view records no demand) gives the seasonal forecast no
// value for the missing time: the bucket before the gap, hours older,
// does not stand for it.
func TestSeasonalForecastTakesNoBucketFromBeforeAGap(t *testing.T) {
	ac := autoscaler.DefaultConfig()
	now := day0.Add(4*Day + 8*time.Hour)
	long := means(now, 3*Day, ac.LongHistoryStep, ac.Interval, shop)
	// Yesterday from 12:00 to 06:00 today is missing: the last bucket
	// before the gap is yesterday's busy 11:50.
	gapFrom, gapTo := now.Add(-Day+4*time.Hour), now.Add(-2*time.Hour)
	var kept []autoscaler.Record
	for _, r := range long {
		if r.Time.Before(gapFrom) || !r.Time.Before(gapTo) {
			kept = append(kept, r)
		}
	}
	s := seriesOf(kept)
	// Yesterday's 20:00 (one day before 20:00 today) lies in the gap.
	from := now.Add(12*time.Hour - Day).Unix()
	if got := windowMax(s, from, int64(DefaultLead/time.Second)); !math.IsNaN(got) {
		t.Errorf("seasonal value in the gap %v, want none (NaN)", got)
	}
	// A time covered by the history still has its value.
	if got, want := windowMax(s, now.Add(-Day).Unix(), 0), shop(now.Add(-Day)); math.Abs(got-want) > 0.2 {
		t.Errorf("seasonal value before the gap %v, want about %v", got, want)
	}
}

// On a steady ramp the damped trend is picked, and its MASE is its error
// over the naive method's at the lead: the lead time's peak (the tick 6
// minutes on, at 2-minute ticks and a 7-minute lead) is 6 minutes of
// slope above the demand now, the damped trend adds 0.9+0.9²+...+0.9⁷
// minutes of it, and the headroom (its constant error) makes up the rest.
// The usual rise, exact here (every rise is the same), is not picked: it
// stands only where no method that knows when a rise comes is eligible.
func TestForecasterMASEIsTheErrorOverNaivesAtTheLead(t *testing.T) {
	fc, err := NewForecaster(ForecasterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	const slope = 0.01 // nodes a minute
	start := day0
	ramp := func(t time.Time) float64 { return 1 + slope*t.Sub(start).Minutes() }
	now := start.Add(6 * time.Hour)
	history := ticks(now, 6*time.Hour, 2*time.Minute, ramp)
	f := fc.Forecast(now, history, nil, ramp(now))
	reach := 0.0
	for k := 1; k <= 7; k++ {
		reach += math.Pow(0.9, float64(k))
	}
	want := Forecast{Now: ramp(now), Method: MethodDamped, Point: ramp(now) + slope*reach,
		MASE: (6 - reach) / 6, NaiveMAE: 6 * slope, Scored: f.Scored, Headroom: slope * (6 - reach), Capacity: ramp(now) + 6*slope}
	if diff := cmp.Diff(want, f, cmpopts.EquateApprox(0, 1e-9), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("forecast (-want +got):\n%s", diff)
	}
	rec := recentSeries(now, seriesOf(history), ramp(now))
	lead := int64(DefaultLead / time.Second)
	if rise := riseByTrend(rec, backTest(rec, lead), lead); math.Abs(rise[len(rise)-1]-(ramp(now)+6*slope)) > 1e-9 {
		t.Errorf("usual rise %v, want exactly %v", rise[len(rise)-1], ramp(now)+6*slope)
	}
	if f.Scored < minScored {
		t.Errorf("scored %d forecasts, want at least %d", f.Scored, minScored)
	}
}

// ar is a slowly wandering demand without a period: an AR(1) with
// coefficient 0.99 at the long history's 10-minute step, seeded.
func ar(seed uint64, from, to time.Time) []autoscaler.Record {
	ac := autoscaler.DefaultConfig()
	r := rand.New(rand.NewPCG(seed, 11))
	var out []autoscaler.Record
	x := 0.0
	for t := from; t.Before(to); t = t.Add(ac.LongHistoryStep) {
		x = 0.99*x + 0.1*r.NormFloat64()
		out = append(out, autoscaler.Record{Time: t, Samples: 5, Custom: map[string]float64{autoscaler.MetricDemand: 5 + x}})
	}
	return out
}

// A slowly wandering demand is not taken for a weekly pattern: with one
// week of pairs at the week's lag, 7 of these 30 series were.
func TestForecasterFindsNoWeekInAWanderingDemand(t *testing.T) {
	ac := autoscaler.DefaultConfig()
	now := day0.Add(30 * Day)
	for _, span := range []time.Duration{ac.LongHistory, 3*Week + Day} {
		weeks := 0
		for seed := range uint64(30) {
			if slices.Contains(DetectPeriods(ar(seed, now.Add(-span), now)), Week) {
				weeks++
			}
		}
		if weeks > 1 {
			t.Errorf("over %s: a week found in %d of 30 series, want at most 1", span, weeks)
		}
	}
}

// A stray record in the long history (one bucket from a clock that was a
// month ahead, or a year behind) leaves the forecaster's view of the days
// in between as it was: it still sees the day.
func TestForecasterSeesTheDayDespiteAStrayLongHistoryRecord(t *testing.T) {
	fc, err := NewForecaster(ForecasterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	now := day0.Add(3*Day + 8*time.Hour + 50*time.Minute)
	in := at(now, shop, 2)
	stray := func(at time.Time) autoscaler.Record {
		return autoscaler.Record{Time: at, CPU: math.NaN(), Memory: math.NaN(), PendingPods: math.NaN(), Samples: 1,
			Custom: map[string]float64{autoscaler.MetricDemand: 1}}
	}
	for _, tt := range []struct {
		name string
		long []autoscaler.Record
	}{
		{"a month ahead, last", append(slices.Clone(in.LongHistory), stray(now.Add(30*Day)))},
		{"a year behind, first", append([]autoscaler.Record{stray(now.Add(-365 * Day))}, in.LongHistory...)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := fc.Forecast(now, in.History, tt.long, shop(now))
			if diff := cmp.Diff([]time.Duration{Day}, f.Periods); diff != "" || !strings.Contains(f.MethodName(), "(day)") {
				t.Errorf("forecast %s, periods (-want +got):\n%s", f.MethodName(), diff)
			}
		})
	}
}

// Without enough sound history (none, one record, every demand missing,
// a long history alone, a long history with days missing) the
// forecaster either falls back to naive, adding nothing without enough
// scored forecasts and naive's usual rise with them, or, where the long
// history still shows the day, forecasts from it; it never fails.
func TestForecasterOnShortOrMissingHistories(t *testing.T) {
	fc, err := NewForecaster(ForecasterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	now := day0.Add(8*Day + 8*time.Hour + 50*time.Minute)
	in := at(now, shop, 2)
	missing := func(rs []autoscaler.Record) []autoscaler.Record {
		out := slices.Clone(rs)
		for i := range out {
			out[i].Custom = map[string]float64{autoscaler.MetricDemand: math.NaN()}
		}
		return out
	}
	// Days 3 to 5 before now missing: four days of pairs are left.
	var gappy []autoscaler.Record
	for _, r := range in.LongHistory {
		if age := now.Sub(r.Time); age < 3*Day || age > 5*Day {
			gappy = append(gappy, r)
		}
	}
	for _, tt := range []struct {
		name          string
		history, long []autoscaler.Record
		naive         bool
	}{
		{"nothing", nil, nil, true},
		{"one record each", in.History[len(in.History)-1:], in.LongHistory[len(in.LongHistory)-1:], true},
		{"every demand missing", missing(in.History), missing(in.LongHistory), true},
		{"a long history alone: nothing to score on", nil, in.LongHistory, true},
		{"a recent history alone: no period", in.History, nil, true},
		{"a long history with days missing", in.History, gappy, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cur := shop(now)
			f := fc.Forecast(now, tt.history, tt.long, cur)
			kin := f.Method == MethodNaive || (f.Method == MethodRise && f.Scored >= minScored)
			if tt.naive && (!kin || math.Abs(f.Capacity-(f.Point+f.Headroom)) > 1e-9 || (f.Method == MethodNaive && (f.Point != cur || (f.Scored < minScored) != (f.Headroom == 0)))) {
				t.Errorf("forecast %+v, want naive adding its usual rise only with enough scored forecasts, or the usual rise", f)
			}
			if !tt.naive && !strings.Contains(f.MethodName(), "(day)") {
				t.Errorf("forecast %s (periods %v, %+v), want a daily seasonal method", f.MethodName(), f.Periods, f)
			}
		})
	}
}
