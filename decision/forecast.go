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
}

// Forecaster forecasts the highest demand of the next lead time from the
// decision history. It looks for daily and weekly periods in the long
// history (ClusterState.LongHistory, means over 10 minutes), and scores
// its candidate methods on the recent history (ClusterState.History)
// by a rolling out-of-sample back-test at the lead:
//
//   - naive: the demand now;
//   - damped trend: the demand now plus a damped continuation of the
//     slope of the last 10 minutes;
//   - for each period found, seasonal naive (the highest demand in the
//     lead window one period ago) and seasonal change (the demand now
//     plus the rise seen in that window one period ago).
//
// It picks the method with the lowest MASE (mean absolute error over the
// naive method's, on the same forecasts) among those whose gain over the
// naive method is significant (more than two standard errors, counting
// one independent forecast a lead time); a method that does not beat
// naive so is not picked. The headroom is the 1-Target empirical quantile of
// the picked method's errors (split-conformal), so that the forecast
// plus its headroom falls short about Target of the time even as the
// traffic drifts. When naive is picked, the forecaster has nothing to
// add to the demand now: Forecast.Capacity is the demand now.
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
	// MethodSeasonal or MethodChange with Period).
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
	// Headroom is the 1-Target quantile of the picked method's recent
	// errors, in worker units (0 for naive).
	Headroom float64
	// Capacity is the demand to have capacity for: Point plus Headroom,
	// or Now when naive is picked (the forecaster adds nothing).
	Capacity float64
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
	var s series
	for _, r := range records {
		if d := autoscaler.RecordDemand(r); !math.IsNaN(d) {
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
// (for the day) or at a day (for the week, so that a daily pattern alone
// is not taken for a weekly one), over at least a day of pairs: the day
// needs two days of long history, the week eight.
func DetectPeriods(long []autoscaler.Record) []time.Duration {
	return detectPeriods(seriesOf(long))
}

func detectPeriods(s series) []time.Duration {
	if len(s.t) < 3 {
		return nil
	}
	// The step is the most common gap; values go on a regular grid,
	// NaN where a bucket is missing.
	gaps := make([]int64, 0, len(s.t)-1)
	for i := 1; i < len(s.t); i++ {
		gaps = append(gaps, s.t[i]-s.t[i-1])
	}
	slices.Sort(gaps)
	step := gaps[len(gaps)/2]
	if step <= 0 {
		return nil
	}
	n := int((s.t[len(s.t)-1]-s.t[0])/step) + 1
	if n > 4*int(Week/time.Second)/int(step) {
		return nil // an irregular history: not worth guessing
	}
	grid := make([]float64, n)
	for i := range grid {
		grid[i] = math.NaN()
	}
	for i, t := range s.t {
		grid[(t-s.t[0])/step] = s.v[i]
	}
	lag := func(d time.Duration) int { return int(int64(d/time.Second) / step) }
	dayPairs := lag(Day)
	acf := func(d time.Duration) float64 { return correlation(grid, lag(d), dayPairs) }
	var out []time.Duration
	day := acf(Day)
	if day >= periodCorrelation && day-acf(Day/2) >= periodMargin {
		out = append(out, Day)
	}
	if week := acf(Week); week >= periodCorrelation && week-math.Max(day, 0) >= periodMargin/2 {
		out = append(out, Week)
	}
	return out
}

// correlation is the Pearson correlation of the grid with itself k steps
// later, over at least minPairs pairs; NaN with fewer.
func correlation(x []float64, k, minPairs int) float64 {
	if k <= 0 {
		return math.NaN()
	}
	var n, sa, sb, saa, sbb, sab float64
	for i := 0; i+k < len(x); i++ {
		a, b := x[i], x[i+k]
		if math.IsNaN(a) || math.IsNaN(b) {
			continue
		}
		n++
		sa += a
		sb += b
		saa += a * a
		sbb += b * b
		sab += a * b
	}
	if n < float64(max(minPairs, 3)) {
		return math.NaN()
	}
	cov := sab - sa*sb/n
	va, vb := saa-sa*sa/n, sbb-sb*sb/n
	if va <= 1e-12 || vb <= 1e-12 {
		return math.NaN()
	}
	return cov / math.Sqrt(va*vb)
}

// method is one candidate: its name, period and forecast from origin i
// of the recent series (NaN when it cannot forecast there).
type method struct {
	name   string
	period time.Duration
	at     func(i int) float64
}

// Forecast forecasts the highest demand in the next lead time from now,
// given the recent history and the long history (oldest first, as in
// PolicyInput) and the demand now, in worker units.
func (f *Forecaster) Forecast(now time.Time, history, long []autoscaler.Record, current float64) Forecast {
	lead := int64(f.cfg.Lead / time.Second)
	// The recent series, the demand now last.
	rec := seriesOf(history)
	nowS := now.Unix()
	for len(rec.t) > 0 && rec.t[len(rec.t)-1] >= nowS {
		rec.t, rec.v = rec.t[:len(rec.t)-1], rec.v[:len(rec.v)-1]
	}
	rec.t, rec.v = append(rec.t, nowS), append(rec.v, current)
	lg := seriesOf(long)
	fc := Forecast{Now: current, Periods: detectPeriods(lg), Method: MethodNaive, Point: current, MASE: 1, Capacity: current}

	last := len(rec.t) - 1
	methods := []method{{name: MethodDamped, at: func(i int) float64 { return dampedAt(rec, i, lead) }}}
	for _, p := range fc.Periods {
		ps := int64(p / time.Second)
		methods = append(methods,
			method{name: MethodSeasonal, period: p, at: func(i int) float64 { return windowMax(lg, rec.t[i]-ps, lead) }},
			method{name: MethodChange, period: p, at: func(i int) float64 {
				base := windowMax(lg, rec.t[i]-ps, 0)
				return rec.v[i] + math.Max(0, windowMax(lg, rec.t[i]-ps, lead)-base)
			}})
	}

	// The back-test: every recent origin whose lead time has passed,
	// its actual the highest demand observed in (t, t+lead].
	type scored struct {
		actual float64
		origin int
	}
	var origins []scored
	for i := 0; i < last; i++ {
		if rec.t[i]+lead > nowS {
			break
		}
		peak := math.Inf(-1)
		for k := i + 1; k <= last && rec.t[k] <= rec.t[i]+lead; k++ {
			peak = math.Max(peak, rec.v[k])
		}
		if !math.IsInf(peak, -1) {
			origins = append(origins, scored{actual: peak, origin: i})
		}
	}
	naiveAbs := func(o scored) float64 { return math.Abs(rec.v[o.origin] - o.actual) }
	var allNaive float64
	for _, o := range origins {
		allNaive += naiveAbs(o)
	}
	if len(origins) > 0 {
		fc.NaiveMAE = allNaive / float64(len(origins))
	}
	fc.Scored = len(origins)

	best, bestMASE := -1, 1.0
	var bestErrs []float64
	for mi, m := range methods {
		if math.IsNaN(m.at(last)) {
			continue
		}
		var abs, naive, gain, gain2 float64
		errs := make([]float64, 0, len(origins))
		first, lastT := int64(0), int64(0)
		for _, o := range origins {
			v := m.at(o.origin)
			if math.IsNaN(v) {
				continue
			}
			if len(errs) == 0 {
				first = rec.t[o.origin]
			}
			lastT = rec.t[o.origin]
			e := math.Abs(v - o.actual)
			abs += e
			naive += naiveAbs(o)
			g := naiveAbs(o) - e
			gain += g
			gain2 += g * g
			errs = append(errs, o.actual-v)
		}
		if len(errs) < minScored || naive <= 0 {
			continue
		}
		if !beatsNaive(gain, gain2, len(errs), lastT-first, lead) {
			continue
		}
		if mase := abs / naive; mase < bestMASE {
			best, bestMASE, bestErrs = mi, mase, errs
		}
	}
	if best < 0 {
		return fc
	}
	m := methods[best]
	fc.Method, fc.Period, fc.MASE, fc.Scored = m.name, m.period, bestMASE, len(bestErrs)
	fc.Point = math.Max(0, m.at(last))
	fc.Headroom = math.Max(0, conformalQuantile(bestErrs, 1-f.cfg.Target))
	fc.Capacity = fc.Point + fc.Headroom
	return fc
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
