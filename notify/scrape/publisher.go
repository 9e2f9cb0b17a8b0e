package scrape

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/notify"
)

// Publisher is an autoscaler.Publisher that keeps the autoscaler's own
// metrics for a Prometheus scrape: ticks by outcome, tick durations, the
// fleet's size, the last readings, safety mode, launches and
// terminations; for the alerting rules of deploy/monitoring also whether
// this replica ran its last tick (node_fleet_active: after a skipped tick
// its gauges are those of the last tick it ran), the fleet's bounds, the guardrail
// that held the last tick, and leases that ran past their expiry or were
// taken over from a holder that let them lapse. A dry-running tick
// (Result.DryRun) is marked: node_fleet_dry_run is 1 and what it would
// have launched and terminated is counted in node_fleet_dry_run_would_*,
// never in the launched and terminated counters. The forecast the last
// tick's policy made (node_fleet_forecast_nodes, by method, and
// node_fleet_forecast_headroom_nodes; in forecast-only mode the shadow
// policy's) and the Ready nodes a forecast-only policy wanted
// (node_fleet_shadow_desired_nodes) have a sample only when the last tick
// had them. It registers on the Registerer it is given, never globally.
type Publisher struct {
	ticks      *prometheus.CounterVec
	duration   prometheus.Histogram
	nodes      *prometheus.GaugeVec
	readings   *prometheus.GaugeVec
	safety     prometheus.Gauge
	launched   prometheus.Counter
	terminated prometheus.Counter
	lastTick   prometheus.Gauge
	active     prometheus.Gauge
	bounds     *prometheus.GaugeVec
	hold       *prometheus.GaugeVec
	overruns   prometheus.Counter
	takeovers  prometheus.Counter
	dryRun     prometheus.Gauge
	wouldUp    prometheus.Counter
	wouldDown  prometheus.Counter
	forecast   *prometheus.GaugeVec
	headroom   *prometheus.GaugeVec
	shadow     *prometheus.GaugeVec

	mu   sync.Mutex
	last time.Time // end of the last tick, skipped or not
}

// New creates the metrics and registers them on reg. A metric that reg
// already has (a second Publisher on one registry) is an error.
func New(reg prometheus.Registerer) (*Publisher, error) {
	p := &Publisher{
		ticks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "node_fleet_ticks_total",
			Help: "Autoscaler ticks by outcome (skipped, held, scaled_up, scaled_down, failed)."}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "node_fleet_tick_duration_seconds",
			Help: "How long ticks took.", Buckets: prometheus.ExponentialBuckets(0.05, 2, 12)}),
		nodes: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "node_fleet_instances",
			Help: "The fleet at the last tick: ready (Ready nodes), booting, active (both)."}, []string{"state"}),
		readings: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "node_fleet_metric",
			Help: "The last readings the autoscaler decided on (cpu and memory in percent, pending_pods); absent while missing."}, []string{"name"}),
		safety: prometheus.NewGauge(prometheus.GaugeOpts{Name: "node_fleet_safety_mode",
			Help: "1 when the last tick ran in safety mode (metrics missing, stale or nonsense)."}),
		launched: prometheus.NewCounter(prometheus.CounterOpts{Name: "node_fleet_instances_launched_total",
			Help: "Instances launched by ticks."}),
		terminated: prometheus.NewCounter(prometheus.CounterOpts{Name: "node_fleet_instances_terminated_total",
			Help: "Instances terminated by ticks (scale-downs, ghosts, NotReady replacements)."}),
		lastTick: prometheus.NewGauge(prometheus.GaugeOpts{Name: "node_fleet_last_tick_timestamp_seconds",
			Help: "When the last tick that was not skipped ended, Unix time."}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{Name: "node_fleet_active",
			Help: "1 when this replica's last tick held the lock and ran, 0 when it was skipped (another replica held the lock)."}),
		bounds: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "node_fleet_nodes_limit",
			Help: "The fleet's configured bounds: MinNodes (bound=min) and MaxNodes (bound=max)."}, []string{"bound"}),
		hold: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "node_fleet_hold",
			Help: "1 for the guardrail code that held the last tick's action (at-max, cooldown, paused...); no sample when none did."}, []string{"code"}),
		overruns: prometheus.NewCounter(prometheus.CounterOpts{Name: "node_fleet_lease_overruns_total",
			Help: "Ticks that ended after their lease had expired (the lock was held past its TTL)."}),
		takeovers: prometheus.NewCounter(prometheus.CounterOpts{Name: "node_fleet_lock_takeovers_total",
			Help: "Leases taken over from a holder that let them expire without releasing them (a tick that died holding the lock)."}),
		dryRun: prometheus.NewGauge(prometheus.GaugeOpts{Name: "node_fleet_dry_run",
			Help: "1 when the last tick ran dry (DRY_RUN): it planned and recorded, and changed nothing."}),
		wouldUp: prometheus.NewCounter(prometheus.CounterOpts{Name: "node_fleet_dry_run_would_launch_total",
			Help: "Instances dry-running ticks would have launched."}),
		wouldDown: prometheus.NewCounter(prometheus.CounterOpts{Name: "node_fleet_dry_run_would_terminate_total",
			Help: "Instances dry-running ticks would have terminated (scale-downs, ghosts, NotReady replacements)."}),
		forecast: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "node_fleet_forecast_nodes",
			Help: "The highest demand, in worker units, the last tick's policy forecast over its lead time (in forecast-only mode the shadow policy's), by the method it picked; no sample when it forecast nothing."}, []string{"method"}),
		headroom: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "node_fleet_forecast_headroom_nodes",
			Help: "The headroom, in worker units, the last tick's forecast added above it; no sample when it forecast nothing."}, nil),
		shadow: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "node_fleet_shadow_desired_nodes",
			Help: "In forecast-only mode (FORECAST=shadow), the Ready nodes the shadow policy would have wanted at the last tick; no sample otherwise."}, nil),
	}
	var errs []error
	for _, c := range []prometheus.Collector{p.ticks, p.duration, p.nodes, p.readings, p.safety, p.launched, p.terminated, p.lastTick,
		p.active, p.bounds, p.hold, p.overruns, p.takeovers, p.dryRun, p.wouldUp, p.wouldDown, p.forecast, p.headroom, p.shadow} {
		errs = append(errs, reg.Register(c))
	}
	// Every outcome from the start, so that rate() sees the first one.
	for _, o := range []autoscaler.Outcome{autoscaler.OutcomeSkipped, autoscaler.OutcomeHeld, autoscaler.OutcomeScaledUp, autoscaler.OutcomeScaledDown, autoscaler.OutcomeFailed} {
		p.ticks.WithLabelValues(string(o))
	}
	return p, errors.Join(errs...)
}

// Publish implements autoscaler.Publisher. It never fails.
func (p *Publisher) Publish(_ context.Context, r autoscaler.Result) error {
	p.ticks.WithLabelValues(string(r.Outcome)).Inc()
	p.duration.Observe(r.Duration.Seconds())
	end := r.Time.Add(r.Duration)
	p.mu.Lock()
	p.last = end
	p.mu.Unlock()
	if r.Outcome == autoscaler.OutcomeSkipped {
		p.active.Set(0)
		return nil
	}
	p.active.Set(1)
	if r.Lease.TookOver {
		p.takeovers.Inc()
	}
	if !r.Lease.Expires.IsZero() && end.After(r.Lease.Expires) {
		p.overruns.Inc()
	}
	p.hold.Reset()
	if r.Hold() != "" {
		p.hold.WithLabelValues(string(r.Hold())).Set(1)
	}
	p.lastTick.Set(float64(end.UnixNano()) / 1e9)
	p.nodes.WithLabelValues("ready").Set(float64(r.ReadyNodes))
	p.nodes.WithLabelValues("booting").Set(float64(r.Booting))
	p.nodes.WithLabelValues("active").Set(float64(r.Instances))
	for name, m := range map[string]autoscaler.Metric{
		autoscaler.MetricCPU: r.Snapshot.CPU, autoscaler.MetricMemory: r.Snapshot.Memory, autoscaler.MetricPendingPods: r.Snapshot.PendingPods,
	} {
		if m.OK {
			p.readings.WithLabelValues(name).Set(m.Value)
		} else {
			// Missing is not zero: no sample at all.
			p.readings.DeleteLabelValues(name)
		}
	}
	if r.SafetyMode {
		p.safety.Set(1)
	} else {
		p.safety.Set(0)
	}
	p.dryRun.Set(0)
	if r.DryRun {
		p.dryRun.Set(1)
		launch, terminate := notify.WouldCounts(r)
		p.wouldUp.Add(float64(launch))
		p.wouldDown.Add(float64(terminate))
	}
	p.launched.Add(float64(len(r.Launched())))
	p.terminated.Add(float64(len(r.Terminated()) + len(r.Ghosts()) + len(r.Replaced())))
	p.setForecast(r.Record())
	return nil
}

// setForecast keeps rec's forecast and forecast-only decision; missing is
// no sample, never a zero.
func (p *Publisher) setForecast(rec autoscaler.Record) {
	p.forecast.Reset()
	p.headroom.Reset()
	p.shadow.Reset()
	if rec.ForecastMethod != "" && !math.IsNaN(rec.ForecastNodes) && !math.IsInf(rec.ForecastNodes, 0) {
		p.forecast.WithLabelValues(rec.ForecastMethod).Set(rec.ForecastNodes)
		p.headroom.WithLabelValues().Set(rec.ForecastHeadroom)
	}
	if n, ok := rec.ShadowDesired(); ok {
		p.shadow.WithLabelValues().Set(float64(n))
	}
}

// SetLimits publishes the fleet's bounds (autoscaler.Config's MinNodes
// and MaxNodes), for the alert on a fleet held at its ceiling.
func (p *Publisher) SetLimits(minNodes, maxNodes int) {
	p.bounds.WithLabelValues("min").Set(float64(max(minNodes, 0)))
	p.bounds.WithLabelValues("max").Set(float64(maxNodes))
}

// LastTick returns when the last tick ended, whatever its outcome (a
// standby replica's ticks are all skipped, and it is healthy); zero before
// the first.
func (p *Publisher) LastTick() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}
