package decision

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// Event is a known surge in a Predictive policy's calendar: a flash sale,
// a match, a launch. While any part of [Start, End) falls within the lead
// time ahead, the capacity target is raised to at least Pods (or Nodes);
// before Start (the surge not yet seen) it is also raised to Factor times
// the point forecast, when Factor is above 1. The policy reads the events
// of its configuration and those of the cluster's state
// (PolicyInput.Calendar).
type Event = autoscaler.KnownEvent

// PredictiveConfig sets the predictive policy.
type PredictiveConfig struct {
	// PodsPerNode converts the calendar events given in pods
	// (Event.Pods) into worker units; events given in Nodes need none.
	// Default 0: an event of the configuration given only in pods is
	// refused, one of the cluster's state is left out (the reason says
	// so).
	PodsPerNode float64
	// Lead is how far ahead capacity must be right: the longest
	// boot-and-join time plus the tick interval (a node asked for now
	// may be needed just before the next tick could ask again).
	// Default DefaultLead (7 minutes).
	Lead time.Duration
	// Target is the forecaster's target under-provisioning rate (see
	// ForecasterConfig.Target). Default DefaultTarget (0.05).
	Target float64
	// Headroom is the spare capacity kept above the demand, now and
	// forecast, as a fraction (the reactive policy's Headroom). Default 0.
	Headroom float64
	// ScaleDownWindow is the scale-down stabilisation: the fleet is
	// shrunk only to the highest number of nodes the demand needed over
	// this window, as the HorizontalPodAutoscaler's scale-down
	// stabilisation does for pods. Default two lead times: the HPA's 5
	// minutes suit pods that start in seconds; a node removed and needed
	// again leaves demand unserved for a boot, so the fleet keeps what a
	// dip shorter than twice that time would need again.
	ScaleDownWindow time.Duration
	// Calendar lists known events.
	Calendar []Event
}

// Predictive is a policy that has capacity Ready for the demand one lead
// time ahead. Its target is the largest of
//
//   - the reactive policy's (the demand now as the scheduler sees it,
//     and the new workers the pending pods need),
//   - the Forecaster's capacity (its forecast of the highest demand in
//     the next lead time plus its headroom); when no forecast method
//     beats the naive one, or only the usual rise does (MethodRise),
//     only for a scale-up the reactive policy asks for, which it sizes
//     for that forecast plus its headroom: it starts none,
//   - the calendar's known events in the next lead time,
//
// with Headroom on top. The forecast and the calendar only ever raise
// capacity: scale-down is the reactive policy's, stabilised (the highest
// need over ScaleDownWindow, read from the history), so that a
// scale-down is not undone minutes later.
//
// When the snapshots carry the workload's load (MetricLoad: what its
// HPAs scale on, such as the request rate), the load is forecast too and
// converted to worker units by the demand's least-squares line on it over
// the history (when the line explains at least half the demand's
// variance): the pods' demand is the HPAs' answer to the load, late by
// their metric and sync and held up by their scale-down stabilisation.
// Its point forecast (the pods the HPAs are about to make) sizes a
// scale-up the reactive policy asks for, and starts none. A load that
// does not fit, or asks now for more than four times the demand and a
// node, is left out, and the reason says so.
//
// The demand is in worker units, as the scheduler sees it
// (autoscaler.Snapshot.Demand: the requests of the pods on the workers plus the
// placeable pending ones), now from Snapshot.Scheduler and in the past
// from the history (autoscaler.Record.Demand: a MetricSource that sets
// Snapshot.Scheduler passes its snapshot through autoscaler.Snapshot.WithDemand, so
// that the tick records it). The forecaster scores its methods on
// PolicyInput.History (the autoscaler's default keeps a day of 2-minute
// ticks) and looks for daily and weekly periods in PolicyInput.LongHistory
// (by default 8 days of 10-minute means: a week and a lead).
type Predictive struct {
	cfg      PredictiveConfig
	fc, load *Forecaster
	reactive *Reactive
}

// NewPredictive checks cfg, fills in its defaults and returns the policy.
// Every problem is reported, naming the field.
func NewPredictive(cfg PredictiveConfig) (*Predictive, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if math.IsNaN(cfg.PodsPerNode) || math.IsInf(cfg.PodsPerNode, 0) || cfg.PodsPerNode < 0 {
		bad("PodsPerNode must be 0 or positive, got %v", cfg.PodsPerNode)
	}
	fc, err := NewForecaster(ForecasterConfig{Lead: cfg.Lead, Target: cfg.Target})
	var load *Forecaster
	if err != nil {
		errs = append(errs, err)
	} else {
		cfg.Lead, cfg.Target = fc.cfg.Lead, fc.cfg.Target
		load, _ = NewForecaster(ForecasterConfig{Lead: cfg.Lead, Target: cfg.Target, Metric: MetricLoad})
	}
	if cfg.ScaleDownWindow < 0 {
		bad("ScaleDownWindow must be positive, got %s", cfg.ScaleDownWindow)
	}
	if cfg.ScaleDownWindow == 0 {
		cfg.ScaleDownWindow = 2 * cfg.Lead
	}
	re, err := NewReactive(ReactiveConfig{Headroom: cfg.Headroom})
	if err != nil {
		errs = append(errs, err)
	}
	for i, e := range cfg.Calendar {
		if !e.End.After(e.Start) {
			bad("Calendar[%d] (%q): End %s must be after Start %s", i, e.Name, e.End.Format(time.RFC3339), e.Start.Format(time.RFC3339))
		}
		if math.IsNaN(e.Pods) || e.Pods < 0 || math.IsNaN(e.Nodes) || e.Nodes < 0 || math.IsNaN(e.Factor) || e.Factor < 0 {
			bad("Calendar[%d] (%q): Pods, Nodes and Factor must not be negative, got %v, %v and %v", i, e.Name, e.Pods, e.Nodes, e.Factor)
		}
		if e.Pods > 0 && e.Nodes == 0 && cfg.PodsPerNode == 0 {
			bad("Calendar[%d] (%q): given in Pods, it needs PodsPerNode (or give it in Nodes)", i, e.Name)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("predictive policy: %w", err)
	}
	cfg.Calendar = append([]Event(nil), cfg.Calendar...)
	return &Predictive{cfg: cfg, fc: fc, load: load, reactive: re}, nil
}

// Config returns the policy's configuration, defaults filled in.
func (p *Predictive) Config() PredictiveConfig { return p.cfg }

// Forecaster returns the policy's forecaster.
func (p *Predictive) Forecaster() *Forecaster { return p.fc }

// eventNodes is an event's level in worker units; ok false when it is
// given in pods and PodsPerNode is not set.
func (c *PredictiveConfig) eventNodes(e Event) (nodes float64, ok bool) {
	switch {
	case e.Nodes > 0:
		return e.Nodes, true
	case e.Pods > 0 && c.PodsPerNode > 0:
		return e.Pods / c.PodsPerNode, true
	case e.Pods > 0:
		return 0, false
	}
	return 0, true
}

// calendarLevel is the capacity the known events in the next lead time
// ask for, in worker units, and their names: an event's Nodes (or Pods),
// and before it starts (its surge not yet seen) Factor times the
// forecast point.
func (p *Predictive) calendarLevel(now time.Time, point float64) (float64, string) {
	c := p.cfg
	horizon := now.Add(c.Lead)
	level := 0.0
	var names []string
	for _, e := range c.Calendar {
		if !e.Start.Before(horizon) || !e.End.After(now) {
			continue
		}
		en, _ := c.eventNodes(e)
		if e.Factor > 1 && now.Before(e.Start) {
			en = math.Max(en, point*e.Factor)
		}
		if en > 0 {
			level = math.Max(level, en)
			names = append(names, e.Name)
		}
	}
	return level, strings.Join(names, ", ")
}

// stableNeed is the most nodes the recorded demand needed over the
// scale-down window before now.
func (p *Predictive) stableNeed(now time.Time, history []autoscaler.Record) int {
	return mostNeeded(now, history, p.cfg.ScaleDownWindow, p.cfg.Headroom)
}

// Decide implements autoscaler.Policy.
func (p *Predictive) Decide(in autoscaler.PolicyInput) (out autoscaler.Decision) {
	if len(in.Calendar) > 0 {
		// The state's events join the configuration's for this tick.
		q := *p
		q.cfg.Calendar = append(slices.Clip(p.cfg.Calendar), in.Calendar...)
		p = &q
	}
	c := p.cfg
	r := p.reactive.decide(in, false)
	cur, ok := in.Snapshot.Demand()
	if !ok {
		r.Reason = "predictive: " + r.Reason
		return r
	}
	react := in.ReadyNodes
	switch r.Action {
	case autoscaler.ScaleUp:
		react += r.Count
	case autoscaler.ScaleDown:
		react -= r.Count
	}
	var skipped []string
	for _, e := range c.Calendar {
		if _, ok := c.eventNodes(e); !ok {
			skipped = append(skipped, e.Name)
		}
	}
	fc := p.forecast(in, cur)
	defer func() { withForecast(&out, fc, c.Lead) }()
	ahead := nodesFor(fc.Capacity * (1 + c.Headroom))
	lift := ahead
	if (fc.Method == MethodNaive || fc.Method == MethodRise) && react <= in.ReadyNodes {
		// Without a method that beats naive, or with the usual rise
		// (naive plus the rise that usually follows the same trend),
		// the headroom sizes a scale-up the demand asks for, and starts
		// none: on noise the usual rise beats naive at forecasting the
		// lead time's peak, and capacity kept for it all the time would
		// cost a standing headroom.
		lift = 0
	}
	if react > in.ReadyNodes && fc.LoadPoint > 0 {
		// The pods the load asks for, which the HPAs have not made yet,
		// size a scale-up the demand asks for; they start none.
		lift = max(lift, nodesFor(fc.LoadPoint*(1+c.Headroom)))
	}
	point := fc.Point
	if fc.Method == MethodNaive || fc.Method == MethodRise {
		// A Factor raises what the forecast knows of when: the usual
		// rise knows only how much, so the event multiplies the demand
		// now, as for naive.
		point = cur
	}
	level, events := p.calendarLevel(in.Now, point)
	known := nodesFor(level)

	why := p.explain(fc, level, events, skipped) + fmt.Sprintf("; reactive %d, forecast %d, calendar %d nodes, %d Ready", react, ahead, known, in.ReadyNodes)

	up := max(react, lift, known)
	switch {
	case up > in.ReadyNodes:
		d := autoscaler.Decision{Action: autoscaler.ScaleUp, Count: up - in.ReadyNodes, Level: autoscaler.LevelPredictive, Reason: why}
		if react >= up {
			d.Level = r.Level
		}
		return d
	case r.Action == autoscaler.ScaleDown:
		stable := p.stableNeed(in.Now, in.History)
		rise := riseQuantile(in.History, autoscaler.Record.Demand, c.ScaleDownWindow)
		guard := nodesFor((cur + rise) * (1 + c.Headroom))
		target := max(react, stable, lift, known, guard)
		if target < in.ReadyNodes {
			return autoscaler.Decision{Action: autoscaler.ScaleDown, Count: in.ReadyNodes - target, Level: autoscaler.LevelLowLoad,
				Reason: fmt.Sprintf("%s; the most needed over %s %d, with its usual rise (%.2f) %d", why, c.ScaleDownWindow, stable, rise, guard)}
		}
		return autoscaler.HoldBecause("%s; stabilised: the most needed over %s %d, with its usual rise (%.2f) %d", why, c.ScaleDownWindow, stable, rise, guard)
	}
	return autoscaler.HoldBecause("%s", why)
}

// explain is the first part of a decision's reason: the demand, the
// forecast and how it was picked, the periods found, the calendar's
// events and the events left out.
func (p *Predictive) explain(fc Forecast, level float64, events string, skipped []string) string {
	c := p.cfg
	why := fmt.Sprintf("demand %.2f nodes; %s", fc.Now, fc.MethodName())
	switch {
	case fc.Method == MethodNaive && fc.Scored < minScored:
		why += fmt.Sprintf(" (%d scored forecasts, too few to judge: nothing added)", fc.Scored)
	case fc.Method == MethodNaive:
		why += fmt.Sprintf(" (no method beats it over %d forecasts) + its usual rise %.2f, for a scale-up only", fc.Scored, fc.Headroom)
	case fc.Method == MethodRise:
		why += fmt.Sprintf(" (MASE %.2f over %d) in %s %.2f + headroom %.2f, for a scale-up only", fc.MASE, fc.Scored, c.Lead, fc.Point, fc.Headroom)
	default:
		why += fmt.Sprintf(" (MASE %.2f over %d) in %s %.2f + headroom %.2f", fc.MASE, fc.Scored, c.Lead, fc.Point, fc.Headroom)
	}
	if fc.LoadDoubt != "" {
		why += "; " + fc.LoadDoubt
	}
	if fc.LoadMethod != "" {
		why += fmt.Sprintf("; the load's %s asks for %.2f (demand %.3g + %.3g a unit of load), for a scale-up only", fc.LoadMethod, fc.LoadPoint, fc.LoadBase, fc.PerLoad)
	}
	if len(fc.Periods) > 0 {
		var ps []string
		for _, pd := range fc.Periods {
			ps = append(ps, periodName(pd))
		}
		why += ", periods: " + strings.Join(ps, ", ")
	}
	if events != "" {
		why += fmt.Sprintf(", event %s %.2f", events, level)
	}
	if len(skipped) > 0 {
		why += fmt.Sprintf(", events given in pods left out (no PodsPerNode): %s", strings.Join(skipped, ", "))
	}
	return why
}

// forecast is the forecast of the highest demand in the next lead time:
// the demand's own. When the snapshot carries the load (MetricLoad) and
// the history holds minScored ticks with both that fit a line (demand =
// LoadBase + PerLoad x load, R² at least minLoadFit), the load is
// forecast too, converted by that line and bounded by loadDoubt: its
// point is LoadPoint, which Decide uses only to size a scale-up the
// reactive policy asks for (the pods the HPAs are about to make). A load
// that does not fit, or asks now for more than the bound, is left out
// and said (LoadDoubt). The load's forecast never stands for the
// demand's, even where a method beats naive on the load: its skill is on
// the load, and the line's bias (a load the HPAs stop following at their
// maximum replicas) would be taken for more demand.
func (p *Predictive) forecast(in autoscaler.PolicyInput, cur float64) Forecast {
	d := p.fc.Forecast(in.Now, in.History, in.LongHistory, cur)
	m, ok := in.Snapshot.Custom[MetricLoad]
	if !ok || !m.OK || !(m.Value > 0) || math.IsInf(m.Value, 0) {
		return d
	}
	base, per, doubt, ok := loadFit(in.History)
	if !ok {
		d.LoadDoubt = doubt
		return d
	}
	bound := loadDoubt*cur + 1
	if now := base + per*m.Value; now > bound {
		// The load now asks for far more than the pods the HPAs could
		// have made from it: a LOAD_QUERY changed (another unit), not a
		// surge the pods lag. Held to the demand's forecast, and said.
		d.LoadDoubt = fmt.Sprintf("the load now (%.4g) asks for %.2f nodes, more than %g times the demand now and a node: the load left out", m.Value, now, float64(loadDoubt))
		return d
	}
	l := p.load.Forecast(in.Now, in.History, in.LongHistory, m.Value)
	d.LoadBase, d.PerLoad, d.LoadMethod = base, per, l.MethodName()
	d.LoadPoint = math.Min(bound, math.Max(0, base+per*l.Point))
	return d
}

// loadDoubt bounds the demand the load may ask for, as a multiple of
// the demand now (plus a node): the HPA's default scale-up at most
// doubles the pods a sync (15 s), so over its metric's lag and a sync
// the pods lag the load by at most about four times. A load now asking
// for more is not the load the fit was made on (a LOAD_QUERY changed to
// another unit) and is left out; a forecast of the load is cut to it
// (before the policy's Headroom, which a scale-up it sizes adds).
const loadDoubt = 4

// minLoadFit is the least share of the demand's variance over the
// history (R²) the line on the load must explain: below it the load is
// not what the pods follow (a query of the wrong thing, a constant part
// far larger than the rest) and is left out.
const minLoadFit = 0.5

// loadFit is the least-squares line of the demand on the load over the
// history's ticks that recorded both (the load above zero): the demand at
// no load (may be negative: a load with a part the pods do not serve)
// and per unit of load. ok false without a reason when the history holds
// fewer than minScored such ticks; with the reason when the load never
// moved, only ever rose (a counter, not a rate), the line has no
// positive slope or explains less than minLoadFit of the demand's
// variance, or the sums overflowed.
func loadFit(history []autoscaler.Record) (base, per float64, doubt string, ok bool) {
	var m moments
	rising, rose, last := true, false, math.Inf(-1)
	for _, r := range history {
		d, l := r.Demand(), r.Custom[MetricLoad]
		if !(l > 0) || math.IsInf(l, 0) || math.IsNaN(d) || math.IsInf(d, 0) {
			continue
		}
		rising, rose = rising && l >= last, rose || (l > last && m.n > 0)
		last = l
		m.add(l, d)
	}
	if m.n < minScored {
		return 0, 0, "", false
	}
	// The covariance and the variances, each times n².
	vx, vy, cov := m.n*m.sxx-m.sx*m.sx, m.n*m.syy-m.sy*m.sy, m.n*m.sxy-m.sx*m.sy
	switch {
	case vx <= 0:
		return 0, 0, "the load did not move over the history: the load left out", false
	case rising && rose:
		return 0, 0, "the load only ever rose over the history (a counter, not a rate): the load left out", false
	case cov <= 0:
		return 0, 0, "the demand does not rise with the load over the history: the load left out", false
	case vy <= 0 || cov*cov/(vx*vy) < minLoadFit:
		r2 := 0.0
		if vy > 0 {
			r2 = cov * cov / (vx * vy)
		}
		return 0, 0, fmt.Sprintf("the load explains %.2f of the demand's variance over the history (R², less than %g): the load left out", r2, minLoadFit), false
	}
	per = cov / vx
	base = (m.sy - per*m.sx) / m.n
	if math.IsNaN(per) || math.IsInf(per, 0) || math.IsNaN(base) || math.IsInf(base, 0) {
		return 0, 0, "the load's line overflowed (a load of 1e150 or more): the load left out", false
	}
	return base, per, "", true
}

// Forecast is the policy's forecaster's forecast at now (see
// Forecaster.Forecast).
func (p *Predictive) Forecast(now time.Time, history, long []autoscaler.Record, current float64) Forecast {
	return p.fc.Forecast(now, history, long, current)
}
