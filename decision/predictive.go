package decision

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
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
	// Default 4 minutes (120 s boot, 2-minute ticks).
	Lead time.Duration
	// TrendWindow is how much recent history the trend is fitted to.
	// Default 10 minutes.
	TrendWindow time.Duration
	// SeasonalWeight is the weight (0-1) of the seasonal forecast against
	// the trend when the history covers a day (or a week) plus Lead.
	// Default 0.5; negative disables seasonality.
	SeasonalWeight float64
	// SpikeWindow is how much recent history the rises within a lead
	// time are taken from, and SpikeQuantile which of them (0-1) the
	// capacity must absorb: 0.99 covers all but the largest 1% of the
	// rises seen. Defaults 3 hours and 0.99; a negative quantile turns
	// the spike cover off.
	SpikeWindow   time.Duration
	SpikeQuantile float64
	// Headroom is spare capacity on top of the forecast, as a fraction.
	// Default 0.
	Headroom float64
	// Calendar lists known events.
	Calendar []Event
}

// Predictive is a policy that scales for the demand one lead time ahead,
// so that nodes are Ready when the demand arrives. From the decision
// history (oldest first) and the current snapshot it forecasts the demand
// at now+Lead as a blend of the recent trend and, when the history covers
// a day or a week, the seasonal change seen a day (a week) earlier at the
// same time; it then covers the larger of that forecast and the current
// demand plus the SpikeQuantile of the rises within one lead time seen in
// the last SpikeWindow, and the calendar's known events. It scales up to
// that many nodes and down when fewer suffice.
//
// The demand is in worker units, as the scheduler sees it
// (autoscaler.DemandOf: the requests of the pods on the workers plus the
// placeable pending ones), now from Snapshot.Scheduler and in the past
// from the history (autoscaler.RecordDemand: a MetricSource that sets
// Snapshot.Scheduler passes its snapshot through autoscaler.WithDemand, so
// that the tick records it). The simulator and metrics.KubeScheduler
// build that view with the same autoscaler.NewSchedulerView. Its
// seasonality needs a history that spans a day plus the lead time (at
// 2-minute ticks, HistoryLimit 750), a week for the day of the week
// (5,070 records): see docs/benchmarks.md for what a DynamoDB item holds.
//
// Compose it with a reactive policy, which handles what no forecast saw:
// decision.Max(predictive, reactive).
type Predictive struct {
	cfg PredictiveConfig
}

// NewPredictive checks cfg, fills in its defaults and returns the policy.
// Every problem is reported, naming the field.
func NewPredictive(cfg PredictiveConfig) (*Predictive, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if math.IsNaN(cfg.PodsPerNode) || math.IsInf(cfg.PodsPerNode, 0) || cfg.PodsPerNode < 0 {
		bad("PodsPerNode must be 0 or positive, got %v", cfg.PodsPerNode)
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{{"Lead", &cfg.Lead, 4 * time.Minute}, {"TrendWindow", &cfg.TrendWindow, 10 * time.Minute}, {"SpikeWindow", &cfg.SpikeWindow, 3 * time.Hour}} {
		if *d.v < 0 {
			bad("%s must be positive, got %s", d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if cfg.SeasonalWeight == 0 {
		cfg.SeasonalWeight = 0.5
	}
	if math.IsNaN(cfg.SeasonalWeight) || cfg.SeasonalWeight > 1 {
		bad("SeasonalWeight must be at most 1 (negative disables seasonality), got %v", cfg.SeasonalWeight)
	}
	if cfg.SpikeQuantile == 0 {
		cfg.SpikeQuantile = 0.99
	}
	if math.IsNaN(cfg.SpikeQuantile) || cfg.SpikeQuantile > 1 {
		bad("SpikeQuantile must be at most 1 (negative turns the spike cover off), got %v", cfg.SpikeQuantile)
	}
	if math.IsNaN(cfg.Headroom) || cfg.Headroom < 0 || cfg.Headroom > 10 {
		bad("Headroom must be a fraction between 0 and 10, got %v", cfg.Headroom)
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
	return &Predictive{cfg: cfg}, nil
}

// Config returns the policy's configuration, defaults filled in.
func (p *Predictive) Config() PredictiveConfig { return p.cfg }

// Forecast is what the predictive policy expects.
type Forecast struct {
	// Now is the current demand in worker units; Point the forecast of the
	// demand at now+Lead (trend and seasonality, no margin).
	Now, Point float64
	// Trend and Seasonal are the two forecasts Point blends; Seasonal is
	// NaN when the history does not cover a day plus the lead time.
	Trend, Seasonal float64
	// Season is "week", "day" or "" (none).
	Season string
	// Spike is the rise within one lead time the capacity must absorb,
	// in worker units (the SpikeQuantile of recent rises).
	Spike float64
	// Event names the calendar event that raised the forecast, if any.
	Event string
	// Nodes is the capacity to have Ready, in worker units: the largest
	// of Point, Now+Spike and the event's level, with Headroom.
	Nodes float64
}

// demandOf reads a record's demand in worker units; NaN when it has none.
func (p *Predictive) demandOf(r autoscaler.Record) float64 { return autoscaler.RecordDemand(r) }

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

// Forecast computes the forecast at now from history (oldest first, as in
// PolicyInput.History) and the current demand in worker units.
func (p *Predictive) Forecast(now time.Time, history []autoscaler.Record, current float64) Forecast {
	c := p.cfg
	f := Forecast{Now: current, Seasonal: math.NaN()}

	// Trend: a least-squares line through the demand of the last
	// TrendWindow, current reading included, evaluated at now+Lead.
	var n, sx, sy, sxx, sxy float64
	add := func(t time.Time, d float64) {
		x := t.Sub(now).Minutes()
		n++
		sx += x
		sy += d
		sxx += x * x
		sxy += x * d
	}
	add(now, current)
	for i := len(history) - 1; i >= 0 && now.Sub(history[i].Time) <= c.TrendWindow; i-- {
		if d := p.demandOf(history[i]); !math.IsNaN(d) {
			add(history[i].Time, d)
		}
	}
	f.Trend = current
	if den := n*sxx - sx*sx; n >= 3 && den > 0 {
		// Only the slope is taken from the fit; the line is anchored at
		// the current reading, because a fitted level lags a fresh jump.
		slope := (n*sxy - sx*sy) / den
		f.Trend = math.Max(0, current+slope*c.Lead.Minutes())
	}
	f.Point = f.Trend

	// Seasonality: how the demand changed over the next lead time a
	// week (else a day) ago, applied to the current demand.
	if c.SeasonalWeight > 0 && len(history) > 0 {
		for _, s := range []struct {
			name   string
			period time.Duration
		}{{"week", 7 * 24 * time.Hour}, {"day", 24 * time.Hour}} {
			then := now.Add(-s.period)
			if history[0].Time.After(then.Add(-c.Lead)) {
				continue
			}
			half := max(c.Lead/2, 2*time.Minute)
			base := p.meanAround(history, then, half)
			ahead := p.meanAround(history, then.Add(c.Lead), half)
			if math.IsNaN(base) || math.IsNaN(ahead) || base <= 0 {
				continue
			}
			ratio := min(max(ahead/base, 0.25), 4)
			f.Seasonal, f.Season = current*ratio, s.name
			f.Point = (1-c.SeasonalWeight)*f.Trend + c.SeasonalWeight*f.Seasonal
			break
		}
	}

	// Spike cover: the SpikeQuantile of the rises within one lead time
	// over the last SpikeWindow, as a fraction of the level they started
	// from (at least one node's worth, so that a near-idle start does not
	// make a huge fraction).
	if c.SpikeQuantile > 0 {
		g := p.riseQuantile(now, history)
		f.Spike = g * math.Max(current, 1)
	}
	f.Nodes = math.Max(f.Point, current+f.Spike)

	// Known events in the lead time.
	horizon := now.Add(c.Lead)
	var names []string
	for _, e := range c.Calendar {
		if !e.Start.Before(horizon) || !e.End.After(now) {
			continue
		}
		en, _ := c.eventNodes(e)
		level := math.Max(f.Nodes, en)
		if e.Factor > 1 && now.Before(e.Start) {
			// Once the event has begun its demand is observed; the
			// factor is for the surge not yet seen.
			level = math.Max(level, f.Point*e.Factor)
		}
		if level > f.Nodes {
			f.Nodes = level
			names = append(names, e.Name)
		}
	}
	f.Event = strings.Join(names, ", ")
	f.Nodes *= 1 + c.Headroom
	return f
}

// meanAround is the mean demand of the records within half of t; NaN when
// there are none.
func (p *Predictive) meanAround(history []autoscaler.Record, t time.Time, half time.Duration) float64 {
	lo := sort.Search(len(history), func(i int) bool { return !history[i].Time.Before(t.Add(-half)) })
	sum, n := 0.0, 0
	for i := lo; i < len(history) && !history[i].Time.After(t.Add(half)); i++ {
		if d := p.demandOf(history[i]); !math.IsNaN(d) {
			sum += d
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}

// riseQuantile is the SpikeQuantile of the relative rises within one lead
// time in the last SpikeWindow: for each record, the highest demand in
// the lead time after it, less its own, over max(its own, one node).
// Falls count as 0; rises into calendar events are left out.
func (p *Predictive) riseQuantile(now time.Time, history []autoscaler.Record) float64 {
	c := p.cfg
	lo := sort.Search(len(history), func(i int) bool { return !history[i].Time.Before(now.Add(-c.SpikeWindow)) })
	h := history[lo:]
	if len(h) < 2 {
		return 0
	}
	d := make([]float64, len(h))
	at := make([]int64, len(h)) // record times, as Unix nanoseconds
	for i, r := range h {
		d[i] = p.demandOf(r)
		at[i] = r.Time.UnixNano()
	}
	lead := int64(c.Lead)
	// How many of the largest rises are beyond the quantile: they are
	// dropped, and the next one is the answer.
	k := int(math.Floor((1 - c.SpikeQuantile) * float64(len(h))))
	top := make([]float64, 0, k+1) // the k+1 largest rises, descending
	// Walk backwards keeping, in a deque, the records after i within one
	// lead time whose demand no later one in it exceeds: the front is
	// the highest demand in (t_i, t_i+Lead]. Linear in the records.
	deque := make([]int, 0, len(h))
	for i := len(h) - 1; i >= 0; i-- {
		if j := i + 1; j < len(h) && !math.IsNaN(d[j]) {
			for len(deque) > 0 && d[deque[len(deque)-1]] <= d[j] {
				deque = deque[:len(deque)-1]
			}
			deque = append(deque, j)
		}
		for len(deque) > 0 && at[deque[0]]-at[i] > lead {
			deque = deque[1:]
		}
		if math.IsNaN(d[i]) || len(deque) == 0 || p.inEvent(h[i].Time, h[i].Time.Add(c.Lead)) {
			continue
		}
		peak := d[deque[0]]
		rise := math.Max(0, peak-d[i]) / math.Max(d[i], 1)
		if len(top) < k+1 {
			top = append(top, rise)
		} else if rise > top[len(top)-1] {
			top[len(top)-1] = rise
		} else {
			continue
		}
		for x := len(top) - 1; x > 0 && top[x] > top[x-1]; x-- {
			top[x], top[x-1] = top[x-1], top[x]
		}
	}
	if len(top) == 0 {
		return 0
	}
	if len(top) <= k {
		return top[len(top)-1]
	}
	return top[k]
}

// inEvent reports whether [from, to] meets a calendar event: rises there
// were foreseen, not volatility to cover for hours after.
func (p *Predictive) inEvent(from, to time.Time) bool {
	for _, e := range p.cfg.Calendar {
		if !e.Start.After(to) && e.End.After(from) {
			return true
		}
	}
	return false
}

// Decide implements autoscaler.Policy.
func (p *Predictive) Decide(in autoscaler.PolicyInput) autoscaler.Decision {
	if len(in.Calendar) > 0 {
		// The state's events join the configuration's for this tick.
		q := *p
		q.cfg.Calendar = append(slices.Clip(p.cfg.Calendar), in.Calendar...)
		p = &q
	}
	c := p.cfg
	cur, ok := autoscaler.DemandOf(in.Snapshot)
	if !ok {
		return autoscaler.HoldBecause("predictive: demand unknown (no scheduler view with a worker template; pending=%s)", in.Snapshot.PendingPods)
	}
	var skipped []string
	for _, e := range c.Calendar {
		if _, ok := c.eventNodes(e); !ok {
			skipped = append(skipped, e.Name)
		}
	}
	f := p.Forecast(in.Now, in.History, cur)
	target := nodesFor(f.Nodes)
	why := fmt.Sprintf("demand %.2f nodes, in %s %.2f (trend %.2f", cur, c.Lead, f.Point, f.Trend)
	if f.Season != "" {
		why += fmt.Sprintf(", a %s ago %.2f", f.Season, f.Seasonal)
	}
	why += fmt.Sprintf("), spike cover %.2f", f.Spike)
	if f.Event != "" {
		why += ", event " + f.Event
	}
	if len(skipped) > 0 {
		why += fmt.Sprintf(", events given in pods left out (no PodsPerNode): %s", strings.Join(skipped, ", "))
	}
	why += fmt.Sprintf(": %.2f nodes' worth needs %d nodes, %d Ready", f.Nodes, target, in.ReadyNodes)
	switch {
	case target > in.ReadyNodes:
		return autoscaler.Decision{Action: autoscaler.ScaleUp, Count: target - in.ReadyNodes, Level: autoscaler.LevelPredictive, Reason: why}
	case target < in.ReadyNodes && placeablePending(in.Snapshot.Scheduler) == 0:
		return autoscaler.Decision{Action: autoscaler.ScaleDown, Count: in.ReadyNodes - target, Level: autoscaler.LevelLowLoad, Reason: why}
	}
	return autoscaler.HoldBecause("%s", why)
}
