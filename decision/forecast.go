package decision

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// DefaultBootAndJoin is the boot-and-join time a capacity forecast must
// cover by default: from a launch request to a Ready node, at its 99th
// percentile. EC2 instances reach SSH in 10-30 s; the K3s agent's start,
// registration and CNI readiness, and the tail (EBS hydration, capacity
// delays), make about 5 minutes at the 99th percentile (the simulator's
// model, sim.DefaultModel, assumes the same).
const DefaultBootAndJoin = 5 * time.Minute

// DefaultLead is the default lead time of the forecaster and the
// predictive policy, in the library, the programs (PREDICTIVE_LEAD) and
// the simulator alike: DefaultBootAndJoin plus one 2-minute tick
// interval (the EventBridge schedule, autoscaler.Config.Interval's
// default), because a node asked for now may be needed just before the
// next tick could ask again.
const DefaultLead = DefaultBootAndJoin + 2*time.Minute

// DefaultTarget is the forecaster's default target under-provisioning
// rate: the share of forecasts whose headroom may fall short of the
// demand one lead ahead. 5% keeps the headroom on firm ground: at 2-minute
// ticks the day of history the autoscaler keeps holds about 700 scored
// forecasts, so the 95th percentile of their errors rests on 35 of them
// beyond it, where a 1% target would rest on 7; and what a forecast
// misses, the reactive policy still answers one boot later.
const DefaultTarget = 0.05

// The periods the forecaster looks for.
const (
	Day  = 24 * time.Hour
	Week = 7 * Day
)

// The forecaster's methods, as Forecast.Method names them.
const (
	MethodNaive    = "naive"
	MethodDamped   = "damped trend"
	MethodSeasonal = "seasonal naive"
	MethodChange   = "seasonal change"
	MethodRatio    = "seasonal ratio"
	MethodRise     = "usual rise"
)

// Fixed parts of the method, chosen before any trace was looked at.
const (
	// damping is the damped trend's factor per minute (Gardner and
	// McKenzie's damped trend; 0.8-0.98 is the usual range).
	damping = 0.9
	// trendWindow is the recent history the trend's slope is fitted to.
	trendWindow = 10 * time.Minute
	// minScored is how many scored forecasts a method needs before its
	// MASE is trusted.
	minScored = 30
	// periodCorrelation is the lowest autocorrelation at a period's lag
	// that detects it, and periodMargin how far above the half period's
	// (for a day) or the day's (for a week) it must be.
	periodCorrelation = 0.3
	periodMargin      = 0.2
	// maxLongSpan is the longest history put on a grid to look for
	// periods in: three weeks find a week, four leave room.
	maxLongSpan = 4 * Week
)

// ForecasterConfig sets the forecaster.
type ForecasterConfig struct {
	// Lead is how far ahead the forecast looks: the demand to cover is
	// the highest in the next Lead. Default DefaultLead.
	Lead time.Duration
	// Target is the under-provisioning rate the headroom aims at, a
	// fraction between 0 and 0.5: the headroom is the 1-Target quantile
	// of the chosen method's recent errors at the lead. Default
	// DefaultTarget.
	Target float64
	// Metric is the recorded metric the forecaster forecasts, a name of
	// autoscaler.Record.Custom: autoscaler.MetricDemand (the default,
	// the scheduler's demand in worker units) or MetricLoad (the
	// workload's load, in its own unit).
	Metric string
}

// MetricLoad is the name of the custom metric (autoscaler.Snapshot.Custom,
// recorded in autoscaler.Record.Custom) that carries the workload's load:
// what its HorizontalPodAutoscalers scale the pods on, such as the
// request rate, in any unit. The predictive policy forecasts it when the
// snapshots carry it (the programs' LOAD_QUERY): the pods' requests are
// the HPAs' answer to it, held up for minutes by their scale-down
// stabilisation, so the load shows a rise or a fall that the pods'
// demand shows later or hides.
const MetricLoad = "load"

// Forecaster forecasts the highest value of a recorded metric (the
// demand by default, or the load: ForecasterConfig.Metric) in the next
// lead time from the decision history; below, "demand" stands for
// either. It looks for daily and weekly periods in the long
// history (ClusterState.LongHistory, means over 10 minutes), and scores
// its candidate methods on the recent history (ClusterState.History)
// by a rolling out-of-sample back-test at the lead:
//
//   - naive: the demand now;
//   - damped trend: the demand now plus a damped continuation of the
//     slope of the last 10 minutes;
//   - usual rise: the demand now plus the median rise (the lead time's
//     peak less the demand at its start) of the earlier forecasts whose
//     lead time has passed and whose demand had moved the same way (up,
//     down or not at all) over the lead time before them;
//   - for each period found, seasonal naive (the highest demand in the
//     lead window one period ago), seasonal change (the demand now plus
//     the rise seen in that window one period ago) and seasonal ratio
//     (the demand now times that window's highest over its start).
//
// It picks the method with the lowest MASE (mean absolute error over the
// naive method's, on the same forecasts) below 1 among the eligible: the
// damped trend and the usual rise when their gain over naive on the
// recent history is significant (more than two standard errors, counting
// one independent forecast a lead time), the usual rise only when no
// other method is eligible (it knows how much a rise usually is, not
// when it comes); a seasonal method when its gain is significant
// in the same back-test on the long history (one lead ahead, rounded up
// to whole means), whose days give it a fair trial where the recent
// history holds each day's ramps once. The headroom is the 1-Target
// empirical quantile of the picked method's errors (split-conformal), so
// that the forecast plus its headroom falls short about Target of the
// time even as the traffic drifts. When naive is picked, the headroom is
// naive's own: the 1-Target quantile of the lead time's peak less the
// demand at its start (the demand's usual rise in a lead time; 0 with
// fewer than 30 scored forecasts), and Forecast.Capacity is the demand
// now plus it. A point forecast cannot beat naive where the lead time's
// peak usually equals the demand now (the median of its gap is then 0),
// but the peak is never below the demand now more often than above it,
// so naive's capacity needs a headroom as much as any method's.
type Forecaster struct {
	cfg ForecasterConfig
}

// NewForecaster checks cfg, fills in its defaults and returns the
// forecaster. Every problem is reported, naming the field.
func NewForecaster(cfg ForecasterConfig) (*Forecaster, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if cfg.Lead < 0 {
		bad("Lead must be positive, got %s", cfg.Lead)
	}
	if cfg.Lead == 0 {
		cfg.Lead = DefaultLead
	}
	if cfg.Target == 0 {
		cfg.Target = DefaultTarget
	}
	if cfg.Metric == "" {
		cfg.Metric = autoscaler.MetricDemand
	}
	if math.IsNaN(cfg.Target) || cfg.Target <= 0 || cfg.Target > 0.5 {
		bad("Target must be a fraction above 0 and at most 0.5, got %v", cfg.Target)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("forecaster: %w", err)
	}
	return &Forecaster{cfg: cfg}, nil
}

// Config returns the forecaster's configuration, defaults filled in.
func (f *Forecaster) Config() ForecasterConfig { return f.cfg }

// Forecast is what the forecaster expects over the next lead time.
type Forecast struct {
	// Now is the demand now, in worker units.
	Now float64
	// Periods lists the periods detected in the long history (Day,
	// Week), none on traffic without them.
	Periods []time.Duration
	// Method is the method picked (MethodNaive, MethodDamped, or
	// MethodSeasonal, MethodChange or MethodRatio with Period).
	Method string
	Period time.Duration
	// Point is the picked method's forecast of the highest demand in the
	// next lead time.
	Point float64
	// MASE is the picked method's mean absolute scaled error at the lead
	// over Scored recent forecasts (1 for naive); NaiveMAE is the naive
	// method's mean absolute error there, in worker units.
	MASE     float64
	NaiveMAE float64
	Scored   int
	// LongMASE is, for a seasonal method, its MASE over the long
	// history (its means, one lead ahead rounded up to a whole mean),
	// where it must beat naive significantly to be picked; 0 for the
	// other methods.
	LongMASE float64
	// Headroom is the 1-Target quantile of the picked method's recent
	// errors, in worker units, at least 0 (naive's too: its usual rise
	// in a lead time; 0 with fewer than 30 scored forecasts).
	Headroom float64
	// Capacity is the demand to have capacity for: Point plus Headroom.
	Capacity float64
	// The load's part, when the predictive policy forecast the load
	// (MetricLoad) too; all zero when it did not (see Predictive).
	// LoadBase and PerLoad are the demand's least-squares line on the
	// load over the history (demand = LoadBase + PerLoad x load, in
	// worker units), LoadMethod the method the load's forecast picked and
	// LoadPoint that forecast in worker units (at most four times the
	// demand now and a node), which only sizes a scale-up the reactive
	// policy asks for. The rest of the forecast is the demand's.
	LoadBase, PerLoad float64
	LoadMethod        string
	LoadPoint         float64
	// LoadDoubt, when not empty, says why the load the snapshot carried
	// was left out at this tick: a line that does not fit it, a counter,
	// or a load now asking for more than four times the demand now and
	// a node (a LOAD_QUERY changed to another unit, not a surge).
	LoadDoubt string
}

// MethodName is Method with its period, if any ("seasonal naive (1d)").
func (fc Forecast) MethodName() string {
	if fc.Period == 0 {
		return fc.Method
	}
	return fmt.Sprintf("%s (%s)", fc.Method, periodName(fc.Period))
}

func periodName(p time.Duration) string {
	switch p {
	case Day:
		return "day"
	case Week:
		return "week"
	}
	return p.String()
}

// series is a demand series: times as Unix seconds, increasing, and
// values, without missing readings.
type series struct {
	t []int64
	v []float64
}

func seriesOf(records []autoscaler.Record) series {
	return seriesBy(records, autoscaler.Record.Demand)
}

// metricOf is a record's reading of the named custom metric; NaN when
// it has none.
func metricOf(name string) func(autoscaler.Record) float64 {
	if name == autoscaler.MetricDemand {
		return autoscaler.Record.Demand
	}
	return func(r autoscaler.Record) float64 {
		if v, ok := r.Custom[name]; ok {
			return v
		}
		return math.NaN()
	}
}

// seriesBy is the series of value over records (NaN: missing), in time
// order.
func seriesBy(records []autoscaler.Record, value func(autoscaler.Record) float64) series {
	var s series
	for _, r := range records {
		if d := value(r); !math.IsNaN(d) {
			s.t = append(s.t, r.Time.Unix())
			s.v = append(s.v, d)
		}
	}
	if !slices.IsSorted(s.t) {
		// A record out of order (a clock stepped back between ticks):
		// sorted by time, so that the grid and the back-test stay in
		// order.
		idx := make([]int, len(s.t))
		for i := range idx {
			idx[i] = i
		}
		slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(s.t[a], s.t[b]) })
		var o series
		for _, i := range idx {
			o.t, o.v = append(o.t, s.t[i]), append(o.v, s.v[i])
		}
		s = o
	}
	return s
}

// DetectPeriods returns the periods (Day, Week) that long (a history of
// means at a regular step, oldest first, as ClusterState.LongHistory)
// shows. A period is detected when the demand's autocorrelation at its
// lag is at least 0.3 and 0.2 above the autocorrelation at half a day
// (for the day) or 0.1 above the one at a day (for the week, so that a
// daily pattern alone is not taken for a weekly one), over at least two
// full periods of pairs: the day needs three days of long history, the
// week three weeks (the autoscaler's default 8 days find no week: one
// week of pairs, one draw of each weekday, is matched by chance by a
// slowly wandering demand).
func DetectPeriods(long []autoscaler.Record) []time.Duration {
	return detectPeriods(seriesOf(long))
}

func detectPeriods(s series) []time.Duration {
	g, ok := gridOf(s)
	if !ok {
		return nil
	}
	var out []time.Duration
	day := g.acf(Day)
	if day >= periodCorrelation && day-g.acf(Day/2) >= periodMargin {
		out = append(out, Day)
	}
	if week := g.acf(Week); week >= periodCorrelation && week-math.Max(day, 0) >= periodMargin/2 {
		out = append(out, Week)
	}
	return out
}

// grid is a series on a regular grid of step seconds from t0, NaN where
// a bucket is missing.
type grid struct {
	t0, step int64
	v        []float64
}

// gridOf puts s on a regular grid whose step is its most common gap;
// ok false when s is too short or too irregular to be worth it.
func gridOf(s series) (grid, bool) {
	if len(s.t) < 3 {
		return grid{}, false
	}
	gaps := make([]int64, 0, len(s.t)-1)
	for i := 1; i < len(s.t); i++ {
		gaps = append(gaps, s.t[i]-s.t[i-1])
	}
	slices.Sort(gaps)
	step := gaps[len(gaps)/2]
	if step <= 0 {
		return grid{}, false
	}
	n := int((s.t[len(s.t)-1]-s.t[0])/step) + 1
	if n > int(maxLongSpan/time.Second)/int(step) {
		return grid{}, false // an irregular history: not worth guessing
	}
	g := grid{t0: s.t[0], step: step, v: make([]float64, n)}
	for i := range g.v {
		g.v[i] = math.NaN()
	}
	for i, t := range s.t {
		g.v[(t-s.t[0])/step] = s.v[i]
	}
	return g, true
}

// lag is d in grid steps.
func (g grid) lag(d time.Duration) int { return int(int64(d/time.Second) / g.step) }

// acf is the autocorrelation at the lag of d (a day's half: of a day),
// over at least two full periods of pairs: one period of pairs is one
// draw of each pair of times, which a slowly wandering series (an AR(1)
// near 1) matches by chance often enough to be taken for a period.
func (g grid) acf(d time.Duration) float64 {
	return correlation(g.v, g.lag(d), 2*g.lag(max(d, Day)))
}

// correlation is the Pearson correlation of the grid with itself k steps
// later, over at least minPairs pairs; NaN with fewer.
func correlation(x []float64, k, minPairs int) float64 {
	if k <= 0 {
		return math.NaN()
	}
	var m moments
	for i := 0; i+k < len(x); i++ {
		if a, b := x[i], x[i+k]; !math.IsNaN(a) && !math.IsNaN(b) {
			m.add(a, b)
		}
	}
	if m.n < float64(max(minPairs, 3)) {
		return math.NaN()
	}
	cov, va, vb := m.cov()
	if va <= 1e-12 || vb <= 1e-12 {
		return math.NaN()
	}
	return cov / math.Sqrt(va*vb)
}

// moments are the sums of pairs (x, y) a correlation or a least-squares
// line is computed from.
type moments struct{ n, sx, sy, sxx, syy, sxy float64 }

func (m *moments) add(x, y float64) {
	m.n++
	m.sx += x
	m.sy += y
	m.sxx += x * x
	m.syy += y * y
	m.sxy += x * y
}

// cov is the pairs' covariance and the variances of x and y, each times
// the number of pairs.
func (m moments) cov() (cov, vx, vy float64) {
	return m.sxy - m.sx*m.sy/m.n, m.sxx - m.sx*m.sx/m.n, m.syy - m.sy*m.sy/m.n
}

// method is one candidate: its name, period and forecast from origin i
// of the recent series (NaN when it cannot forecast there). A seasonal
// method also forecasts on the long history: long is its forecast of the
// highest of the buckets i+1..i+h from bucket i, p buckets a period.
type method struct {
	name   string
	period time.Duration
	at     func(i int) float64
	long   func(v []float64, i, p, h int) float64
}

// origin is one back-test forecast: from the recent series' origin, the
// highest demand observed in the lead time after it.
type origin struct {
	actual float64
	at     int
}

// Forecast forecasts the highest demand in the next lead time from now,
// given the recent history and the long history (oldest first, as in
// PolicyInput) and the demand now, in worker units.
func (f *Forecaster) Forecast(now time.Time, history, long []autoscaler.Record, current float64) Forecast {
	lead := int64(f.cfg.Lead / time.Second)
	value := metricOf(f.cfg.Metric)
	rec := recentSeries(now, seriesBy(history, value), current)
	lg := longSeries(now, seriesBy(long, value))
	fc := Forecast{Now: current, Periods: detectPeriods(lg), Method: MethodNaive, Point: current, MASE: 1, Capacity: current}

	origins := backTest(rec, lead)
	rise := riseByTrend(rec, origins, lead)
	methods := append([]method{
		{name: MethodDamped, at: func(i int) float64 { return dampedAt(rec, i, lead) }},
		{name: MethodRise, at: func(i int) float64 { return rise[i] }},
	}, seasonalMethods(rec, lg, fc.Periods, lead)...)
	fc.NaiveMAE, fc.Scored = naiveMAE(rec, origins), len(origins)

	best, ok := pickMethod(rec, lg, methods, origins, lead)
	if !ok {
		if len(origins) >= minScored {
			// Naive's own headroom: the lead time's peak is at least
			// the demand now more often than not, and its usual rise is
			// what the demand now leaves uncovered.
			fc.Headroom = math.Max(0, conformalQuantile(naiveErrors(rec, origins), 1-f.cfg.Target))
			fc.Capacity = current + fc.Headroom
		}
		return fc
	}
	m := best.m
	fc.Method, fc.Period, fc.MASE, fc.LongMASE, fc.Scored = m.name, m.period, best.mase, best.longMASE, len(best.errs)
	fc.Point = math.Max(0, m.at(len(rec.t)-1))
	fc.Headroom = math.Max(0, conformalQuantile(best.errs, 1-f.cfg.Target))
	fc.Capacity = fc.Point + fc.Headroom
	return fc
}

// recentSeries is the recent history's demand series up to now, the
// demand now last (a record at or after now gives way to it).
func recentSeries(now time.Time, rec series, current float64) series {
	nowS := now.Unix()
	for len(rec.t) > 0 && rec.t[len(rec.t)-1] >= nowS {
		rec.t, rec.v = rec.t[:len(rec.t)-1], rec.v[:len(rec.v)-1]
	}
	rec.t, rec.v = append(rec.t, nowS), append(rec.v, current)
	return rec
}

// longSeries is the long history's demand series within the longest
// span its grid takes before now: a stray bucket from a clock that was
// ahead or far behind would otherwise stretch the grid past it, and no
// period would be looked for.
func longSeries(now time.Time, s series) series {
	from, to := now.Add(-maxLongSpan).Unix(), now.Unix()
	var out series
	for i, t := range s.t {
		if t >= from && t <= to {
			out.t, out.v = append(out.t, t), append(out.v, s.v[i])
		}
	}
	return out
}

// naiveMAE is the naive method's mean absolute error at the origins; 0
// without any.
func naiveMAE(rec series, origins []origin) float64 {
	if len(origins) == 0 {
		return 0
	}
	var sum float64
	for _, o := range origins {
		sum += math.Abs(rec.v[o.at] - o.actual)
	}
	return sum / float64(len(origins))
}

// naiveErrors are the naive method's errors at the origins: the lead
// time's peak less the demand at its start.
func naiveErrors(rec series, origins []origin) []float64 {
	out := make([]float64, len(origins))
	for k, o := range origins {
		out[k] = o.actual - rec.v[o.at]
	}
	return out
}

// picked is the method the back-test picked: its MASE on the recent
// history, on the long history (seasonal methods only, else 0) and its
// errors on the recent history.
type picked struct {
	m        method
	mase     float64
	longMASE float64
	errs     []float64
}

// pickMethod picks, among the methods that can forecast now, the one
// with the lowest MASE below 1 over at least minScored recent forecasts
// that is eligible: a seasonal method when it beats naive significantly
// on the long history lg, another when it does on the recent history.
// The usual rise, naive's kin, is picked only when no other method is
// eligible: it knows the size of the coming rise, not its time, and a
// method that knows when (the day's opening, a trend) must not lose to
// it. ok false when none is: naive stands.
func pickMethod(rec, lg series, methods []method, origins []origin, lead int64) (best picked, ok bool) {
	var rise []method
	for _, m := range methods {
		if m.name == MethodRise {
			rise = append(rise, m)
		}
	}
	others := slices.DeleteFunc(slices.Clone(methods), func(m method) bool { return m.name == MethodRise })
	if best, ok = pickAmong(rec, lg, others, origins, lead); ok {
		return best, true
	}
	return pickAmong(rec, lg, rise, origins, lead)
}

// pickAmong is pickMethod over methods, all alike.
func pickAmong(rec, lg series, methods []method, origins []origin, lead int64) (best picked, ok bool) {
	lgrid, gridOK := gridOf(lg)
	last := len(rec.t) - 1
	best.mase = 1
	for _, m := range methods {
		if math.IsNaN(m.at(last)) {
			continue
		}
		mase, errs, significant := scoreMethod(rec, m, origins, lead)
		if len(errs) < minScored || mase >= best.mase {
			continue
		}
		longMASE := 0.0
		if m.long != nil {
			// A seasonal method is judged on the long history, where
			// the days it has seen give it a fair trial; on the recent
			// history it need only not lose to naive.
			var longOK bool
			if !gridOK {
				continue
			}
			if longMASE, longOK = longScore(lgrid, m, lead); !longOK {
				continue
			}
		} else if !significant {
			continue
		}
		best, ok = picked{m: m, mase: mase, longMASE: longMASE, errs: errs}, true
	}
	return best, ok
}

// seasonalMethods are the seasonal candidates for each period: seasonal
// naive (the highest demand in the lead window one period ago), seasonal
// change (the demand now plus the rise seen in that window one period
// ago) and seasonal ratio (the demand now scaled by that window's highest
// over its start one period ago: the day's shape at today's level).
func seasonalMethods(rec, lg series, periods []time.Duration, lead int64) []method {
	var out []method
	for _, p := range periods {
		ps := int64(p / time.Second)
		window := func(i int) (base, high float64) {
			return windowMax(lg, rec.t[i]-ps, 0), windowMax(lg, rec.t[i]-ps, lead)
		}
		out = append(out,
			method{name: MethodSeasonal, period: p,
				at: func(i int) float64 { _, high := window(i); return high },
				long: func(v []float64, i, p, h int) float64 {
					return rangeMax(v, i+1-p, i+h-p)
				}},
			method{name: MethodChange, period: p,
				at: func(i int) float64 { base, high := window(i); return rec.v[i] + math.Max(0, high-base) },
				long: func(v []float64, i, p, h int) float64 {
					return v[i] + math.Max(0, rangeMax(v, i+1-p, i+h-p)-v[i-p])
				}},
			method{name: MethodRatio, period: p,
				at: func(i int) float64 { base, high := window(i); return rec.v[i] * ratio(high, base) },
				long: func(v []float64, i, p, h int) float64 {
					return v[i] * ratio(rangeMax(v, i+1-p, i+h-p), v[i-p])
				}})
	}
	return out
}

// ratio is high over base, at least 1 (the forecast is of the lead
// time's highest demand, which is at least the demand now); NaN without
// a positive base.
func ratio(high, base float64) float64 {
	if !(base > 0) || math.IsNaN(high) {
		return math.NaN()
	}
	return math.Max(1, high/base)
}

// rangeMax is the highest of v[from..to] (NaN if any is missing or the
// range leaves v).
func rangeMax(v []float64, from, to int) float64 {
	if from < 0 || to >= len(v) || from > to {
		return math.NaN()
	}
	out := math.Inf(-1)
	for _, x := range v[from : to+1] {
		if math.IsNaN(x) {
			return math.NaN()
		}
		out = math.Max(out, x)
	}
	return out
}

// backTest lists every recent origin whose lead time has passed, with
// the highest demand observed in (t, t+lead].
func backTest(rec series, lead int64) []origin {
	last := len(rec.t) - 1
	var out []origin
	for i := 0; i < last; i++ {
		if rec.t[i]+lead > rec.t[last] {
			break
		}
		peak := math.Inf(-1)
		for k := i + 1; k <= last && rec.t[k] <= rec.t[i]+lead; k++ {
			peak = math.Max(peak, rec.v[k])
		}
		if !math.IsInf(peak, -1) {
			out = append(out, origin{actual: peak, at: i})
		}
	}
	return out
}

// scoreMethod back-tests m at the origins: its MASE, its errors (actual
// less forecast) and whether its gain over naive is significant.
func scoreMethod(rec series, m method, origins []origin, lead int64) (mase float64, errs []float64, significant bool) {
	var abs, naive, gain, gain2 float64
	first, lastT := int64(0), int64(0)
	for _, o := range origins {
		v := m.at(o.at)
		if math.IsNaN(v) {
			continue
		}
		if len(errs) == 0 {
			first = rec.t[o.at]
		}
		lastT = rec.t[o.at]
		e, ne := math.Abs(v-o.actual), math.Abs(rec.v[o.at]-o.actual)
		abs += e
		naive += ne
		gain += ne - e
		gain2 += (ne - e) * (ne - e)
		errs = append(errs, o.actual-v)
	}
	if naive <= 0 {
		return math.Inf(1), errs, false
	}
	return abs / naive, errs, beatsNaive(gain, gain2, len(errs), lastT-first, lead)
}

// longScore back-tests a seasonal method on the long history's grid, one
// lead ahead rounded up to whole buckets, against naive (the bucket now):
// its MASE there, and ok when it has at least minScored forecasts and
// beats naive significantly.
func longScore(g grid, m method, lead int64) (mase float64, ok bool) {
	p := g.lag(m.period)
	h := int(max(1, (lead+g.step-1)/g.step))
	var abs, naive, gain, gain2 float64
	n, first, lastI := 0, -1, 0
	for i := p; i+h < len(g.v); i++ {
		actual := rangeMax(g.v, i+1, i+h)
		v := m.long(g.v, i, p, h)
		if math.IsNaN(actual) || math.IsNaN(v) || math.IsNaN(g.v[i]) {
			continue
		}
		if first < 0 {
			first = i
		}
		lastI = i
		e, ne := math.Abs(v-actual), math.Abs(g.v[i]-actual)
		abs += e
		naive += ne
		gain += ne - e
		gain2 += (ne - e) * (ne - e)
		n++
	}
	if n < minScored || naive <= 0 {
		return 0, false
	}
	span := int64(lastI-first) * g.step
	return abs / naive, beatsNaive(gain, gain2, n, span, int64(h)*g.step)
}

// beatsNaive reports whether a method's gain over the naive method (the
// sum of the naive absolute errors less its own, gain, and of the
// squares, gain2, over n forecasts spanning span seconds) is
// significant: its mean is more than two standard errors above zero
// (about 97.5% one-sided, as in the Diebold-Mariano test). Forecasts
// whose lead times overlap are not independent, so the standard error
// counts one forecast a lead time (at least one).
func beatsNaive(gain, gain2 float64, n int, span, lead int64) bool {
	if n < 2 || gain <= 0 {
		return false
	}
	mean := gain / float64(n)
	variance := math.Max(0, (gain2-gain*mean)/float64(n-1))
	eff := float64(n)
	if lead > 0 && span > 0 {
		eff = math.Min(eff, math.Max(1, float64(span)/float64(lead)))
	}
	return mean > 2*math.Sqrt(variance/eff)
}

// dampedAt is the damped trend's forecast of the highest demand in the
// lead after origin i: the demand there plus the least-squares slope of
// the last trendWindow, damped per minute; NaN with fewer than three
// points in the window.
func dampedAt(s series, i int, lead int64) float64 {
	from := s.t[i] - int64(trendWindow/time.Second)
	var n, sx, sy, sxx, sxy float64
	for k := i; k >= 0 && s.t[k] >= from; k-- {
		x := float64(s.t[k]-s.t[i]) / 60
		n++
		sx += x
		sy += s.v[k]
		sxx += x * x
		sxy += x * s.v[k]
	}
	den := n*sxx - sx*sx
	if n < 3 || den <= 0 {
		return math.NaN()
	}
	slope := (n*sxy - sx*sy) / den // per minute
	h := float64(lead) / 60
	// The sum of damping^k for k = 1..h: how many minutes of slope the
	// damped trend adds over the lead.
	reach := damping * (1 - math.Pow(damping, h)) / (1 - damping)
	return math.Max(s.v[i], s.v[i]+slope*reach)
}

// riseByTrend is the usual-rise method's forecast from every origin of
// the recent series: the value there plus the median rise (the lead
// time's peak less the value at its start) of the earlier origins whose
// lead time had passed by then and whose value had moved the same way
// (up, down or not at all) over the lead time before them as this
// origin's. A rise that follows a rise differs from one after a fall
// (a surge goes on, a dip recovers); where the two are alike the median
// rises are equal and the method is naive plus a constant. NaN where
// fewer than minScored earlier origins share its trend.
func riseByTrend(rec series, origins []origin, lead int64) []float64 {
	out := make([]float64, len(rec.t))
	trend := make([]int, len(rec.t))
	back := 0
	for i := range rec.t {
		out[i] = math.NaN()
		for back+1 < i && rec.t[back+1] <= rec.t[i]-lead {
			back++
		}
		switch d := rec.v[i] - rec.v[back]; {
		case rec.t[back] > rec.t[i]-lead:
			trend[i] = -1 // no value a lead time before
		case d > 1e-9:
			trend[i] = 1
		case d < -1e-9:
			trend[i] = 2
		}
	}
	var known [3][]float64 // sorted rises by trend
	k := 0
	for i := range rec.t {
		for k < len(origins) && rec.t[origins[k].at]+lead <= rec.t[i] {
			o := origins[k]
			if tr := trend[o.at]; tr >= 0 {
				r := o.actual - rec.v[o.at]
				at, _ := slices.BinarySearch(known[tr], r)
				known[tr] = slices.Insert(known[tr], at, r)
			}
			k++
		}
		if tr := trend[i]; tr >= 0 && len(known[tr]) >= minScored {
			out[i] = rec.v[i] + median(known[tr])
		}
	}
	return out
}

// median is the median of sorted values.
func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// windowMax is the highest value of the long series' buckets that meet
// [from, from+span] (a bucket at t covers up to the next bucket's time);
// NaN when none does.
func windowMax(s series, from, span int64) float64 {
	// The last bucket that starts at or before from covers from.
	i := sort.Search(len(s.t), func(i int) bool { return s.t[i] > from }) - 1
	if i < 0 {
		return math.NaN() // the long history starts after from
	}
	if from-s.t[i] > int64(time.Hour/time.Second) {
		// The bucket before a gap of an hour or more (the long history
		// ends there, or had no demand through a safety mode) does not
		// stand for from: only the buckets after it, if any, count.
		i++
	}
	out := math.Inf(-1)
	for k := i; k < len(s.t) && s.t[k] <= from+span; k++ {
		out = math.Max(out, s.v[k])
	}
	if math.IsInf(out, -1) {
		return math.NaN()
	}
	return out
}

// conformalQuantile is the q quantile of errs in the split-conformal
// way: the ceil((n+1)q)-th smallest, the largest when that is beyond n.
func conformalQuantile(errs []float64, q float64) float64 {
	if len(errs) == 0 {
		return 0
	}
	s := slices.Clone(errs)
	slices.Sort(s)
	k := int(math.Ceil(float64(len(s)+1)*q)) - 1
	return s[min(max(k, 0), len(s)-1)]
}
