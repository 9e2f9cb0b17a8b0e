// Package sim measures autoscaling policies: it replays a demand series
// (the built-in day, a measured trace, or your cluster's own history) on a
// simulated cluster that the real autoscaler.Autoscaler scales, on a fake
// clock, so that a day or a month of traffic runs in seconds, and reports
// what the fleet cost, what a static fleet and an oracle would have cost,
// and how much demand it left unserved.
//
// To measure a policy of your own (any autoscaler.Policy), hand it to
// Measure with a Demand (BuiltinDay, Trace.Demand, History.Demand); see
// the example. Run takes the whole Config, for the pool model, the ideal
// model and the callbacks that the simulate command uses.
//
// The model (Model, DefaultModel): the demand drives an HPA-like
// controller that creates pods of a mix of sizes (late: its sync period,
// metric lag and scale-down stabilisation); a scheduler binds them to
// Ready nodes with room and they serve PodStart later; the autoscaler sees
// what a real cluster shows it: Prometheus's CPU as a 5-minute rate of
// 15-second scrapes with noise, and the scheduler's view (pending pods
// with their requests, the worker template) built by
// capacity.NewSchedulerView as metrics.KubeScheduler builds it, never the
// demand itself. Instances boot and join after a lognormal time, a few
// never join (ghosts), spot instances are interrupted, launches find no
// capacity now and then; a scale-down drains the node (its pods are
// unserved until they run elsewhere) and bills it DrainTime more. Billing
// is per second with a 60-second minimum per instance. IdealModel is the
// old model without lags, for comparison. Config.Pools adds capacity
// pools (instance type × zone × market) with independent shortages, drawn
// from as EC2 Fleet's price-capacity-optimized strategy does (Pools).
//
// A demand unit is a PodsPerNode-th (by default a tenth) of a worker's
// free CPU; a unit-minute is one unit needed for one minute, and the
// unserved unit-minutes are the demand no serving pod covered.
package sim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/capacity"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
	clocktesting "k8s.io/utils/clock/testing"
)

// Mode is how often the autoscaler ticks.
type Mode string

// The two ways node-fleet runs.
const (
	// ModeLambda ticks every 2 minutes (EventBridge).
	ModeLambda Mode = "lambda"
	// ModeDaemon ticks every DaemonInterval and at once when a pod
	// becomes pending (the daemon's watch).
	ModeDaemon Mode = "daemon"
)

// DaemonInterval is the daemon's tick interval as shipped (the default of
// TICK_INTERVAL, config.Defaults().Interval; a test checks they agree).
// The ideal model keeps its old 15 seconds.
const DaemonInterval = time.Minute

// MaxModelNodes is the most nodes a step's demand may need (Demand over
// PodsPerNode) in Run; MaxNodes and InitialNodes may be twice that. The
// model keeps every instance and every pod: two minutes of a demand of
// ten thousand nodes took 10 s to simulate on a shared 2-core machine, of
// a million did not end in a minute, of ten million ran out of memory.
const MaxModelNodes = 10000

// DefaultResolution is the model's time step when Config.Resolution is
// zero: a demand's Step must be a multiple of it.
const DefaultResolution = 15 * time.Second

// idealDaemonInterval is the ideal model's daemon tick.
const idealDaemonInterval = 15 * time.Second

// Interval is the tick interval of a mode as shipped: 2 minutes for
// lambda, DaemonInterval for daemon.
func (m Mode) Interval() time.Duration {
	if m == ModeDaemon {
		return DaemonInterval
	}
	return 2 * time.Minute
}

// interval is the tick interval of the mode in the configured model.
func (c *Config) interval() time.Duration {
	if c.Mode == ModeDaemon && c.model.Ideal {
		return idealDaemonInterval
	}
	return c.Mode.Interval()
}

// Config describes one simulation.
type Config struct {
	// Start is the time of Demand[0]; Step the time between entries.
	Start time.Time
	Step  time.Duration
	// Demand is what each step needs, in units of a PodsPerNode-th of
	// a worker's free CPU (the trace's "pods", see Trace.Pods): in the
	// real model the pods' CPU requests the HPA wants for the step's
	// load (the load being Model.HPATarget of it), in the ideal model
	// the pods that serve it.
	Demand []float64
	// PodsPerNode is how many demand units a worker holds.
	PodsPerNode float64
	// Model is how the cluster behaves; nil means DefaultModel().
	Model *Model
	model *Model
	// Load, with the real model, has every snapshot carry the workload's
	// load (decision.MetricLoad) as the programs' LOAD_QUERY would give
	// it: the rate the HPA follows, as old as the HPA's metric, in
	// demand units at the HPA's target. Default off, as the programs.
	Load bool
	// Mode picks the tick interval. Default lambda.
	Mode Mode
	// Resolution is the model's time step; it must divide Step. Default
	// DefaultResolution.
	Resolution time.Duration
	// OnDemandPrice and SpotPrice are USD per hour. Defaults are
	// t3.medium's: 0.0416 and 0.0125.
	OnDemandPrice, SpotPrice float64
	// Market is the market instances are launched in. Default spot.
	Market autoscaler.Market
	// Pools, when set, launches from capacity pools (instance type ×
	// zone × market) with their own shortages, spot first with an
	// on-demand fallback, billed at each pool's price (see Pools); Market,
	// SpotPrice and OnDemandPrice then price only the static fleet and
	// the oracle. Nil: every launch is in Market at its price, in two
	// zones, and capacity fails only by Model.LaunchFailureRate (which
	// applies with Pools too).
	Pools *Pools
	pools *Pools
	// Seed makes the random draws (boot times, interruptions, capacity)
	// repeatable.
	Seed uint64
	// Autoscaler is the base configuration (policy, min/max, cooldowns,
	// history limit); the simulator fills in the parts, the clock, the
	// ClusterID and the mode's Interval.
	Autoscaler autoscaler.Config
	// InitialNodes is the fleet at Start. Default MinNodes.
	InitialNodes int
	// OnResult, when set, sees every tick's result.
	OnResult func(autoscaler.Result)
	// OnProgress, when set, is called now and then with the simulated
	// time done and the total.
	OnProgress func(done, total time.Duration)
}

// Report is what a simulation measured.
type Report struct {
	Mode  Mode
	Start time.Time
	End   time.Time
	// CostUSD is the fleet's cost: per-second billing, 60 s minimum.
	CostUSD float64
	// StaticCostUSD is what StaticNodes nodes would have cost;
	// OracleCostUSD what exactly the nodes needed each step would have
	// cost (see oracleCost).
	StaticCostUSD float64
	OracleCostUSD float64
	StaticNodes   int
	// DemandPodMinutes is the total load, in demand units times
	// minutes; UnservedPodMinutes the part of it no serving pod covered
	// (in the real model a pod serves up to its CPU request).
	DemandPodMinutes   float64
	UnservedPodMinutes float64
	// ScaleUps and ScaleDowns count ticks that changed the fleet;
	// Launched and Terminated count instances (the initial fleet is not
	// counted as launched).
	ScaleUps, ScaleDowns int
	// Churn counts the scale-downs followed by a scale-up within
	// ChurnWindow: scale-downs undone minutes later.
	Churn                int
	Launched, Terminated int
	Ticks                int
	// Interruptions counts spot interruption notices; CapacityFailures
	// the ticks whose launch found no capacity; Ghosts the instances
	// that never joined; Drains the nodes drained.
	Interruptions    int
	CapacityFailures int
	Ghosts, Drains   int
	// With Config.Pools: PoolErrors counts the capacity errors of the
	// pools the launches tried (each then avoided for AvoidFor);
	// SpotLaunched and OnDemandLaunched the instances placed in each
	// market (the initial fleet not counted); Unplaced the instances
	// asked for that no pool had. OnDemandPct is the on-demand share of
	// the instance-hours, in percent (0 without Pools unless Market is
	// on-demand).
	PoolErrors                     int
	SpotLaunched, OnDemandLaunched int
	Unplaced                       int
	OnDemandPct                    float64
	// PeakNodes is the most Ready nodes at once; NodeSeconds the
	// integral of active instances over time.
	PeakNodes   int
	NodeSeconds float64
	// TimeToCapacity holds, for every surge (a run of model steps with
	// unserved demand), the time from its first unserved step until
	// none was unserved.
	TimeToCapacity []time.Duration
	// Series, sampled once per Step: demand, capacity (pods) and nodes.
	Series []Sample
}

// Sample is one point of the simulation's time series.
type Sample struct {
	Time       time.Time
	Demand     float64
	Capacity   float64
	ReadyNodes int
	Instances  int
	Pending    float64
}

// ChurnWindow is how soon a scale-up must follow a scale-down for the
// scale-down to count as churn (Report.Churn).
const ChurnWindow = 10 * time.Minute

// UnservedPct is the unserved share of demand, in percent.
func (r Report) UnservedPct() float64 {
	if r.DemandPodMinutes == 0 {
		return 0
	}
	return 100 * r.UnservedPodMinutes / r.DemandPodMinutes
}

// SavingsPct is how much less than the static fleet the fleet cost, in
// percent.
func (r Report) SavingsPct() float64 {
	if r.StaticCostUSD == 0 {
		return 0
	}
	return 100 * (1 - r.CostUSD/r.StaticCostUSD)
}

// useModel sets the model the run uses, a copy of Model (DefaultModel
// when nil), and checks it, with Load; bad reports a problem.
func (c *Config) useModel(bad func(format string, args ...any)) []error {
	m := DefaultModel()
	if c.Model != nil {
		m = *c.Model
		m.Mix = slices.Clone(m.Mix)
	}
	c.model = &m
	if c.Load && m.Ideal {
		bad("Load needs the real model: the ideal model has no HPA whose input the load would be")
	}
	return m.check(c.Resolution)
}

func (c *Config) defaults() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(c.Demand) == 0 {
		bad("Demand is empty")
	}
	for i, d := range c.Demand {
		if math.IsNaN(d) || math.IsInf(d, 0) || d < 0 {
			bad("Demand[%d] is %v; want a non-negative number", i, d)
			break
		}
	}
	if c.Step <= 0 {
		bad("Step must be positive, got %s", c.Step)
	}
	if !(c.PodsPerNode > 0) {
		bad("PodsPerNode must be positive, got %v", c.PodsPerNode)
	}
	if c.PodsPerNode > 0 {
		for i, d := range c.Demand {
			if d/c.PodsPerNode > MaxModelNodes {
				bad("Demand[%d] is %v units, %.0f nodes of PodsPerNode %v; the model holds at most %d (MaxModelNodes)", i, d, math.Ceil(d/c.PodsPerNode), c.PodsPerNode, MaxModelNodes)
				break
			}
		}
	}
	if c.Autoscaler.MaxNodes > 2*MaxModelNodes || c.InitialNodes > 2*MaxModelNodes {
		bad("Autoscaler.MaxNodes %d and InitialNodes %d must not exceed twice MaxModelNodes (%d)", c.Autoscaler.MaxNodes, c.InitialNodes, 2*MaxModelNodes)
	}
	if c.Mode == "" {
		c.Mode = ModeLambda
	}
	if c.Mode != ModeLambda && c.Mode != ModeDaemon {
		bad("Mode must be %q or %q, got %q", ModeLambda, ModeDaemon, c.Mode)
	}
	if c.Resolution <= 0 {
		c.Resolution = DefaultResolution
	}
	if c.Step > 0 && c.Step%c.Resolution != 0 {
		bad("Resolution %s must divide Step %s", c.Resolution, c.Step)
	}
	modelErrs := c.useModel(bad)
	errs = append(errs, modelErrs...)
	if c.OnDemandPrice == 0 {
		c.OnDemandPrice = 0.0416
	}
	if c.SpotPrice == 0 {
		c.SpotPrice = 0.0125
	}
	if c.OnDemandPrice < 0 || c.SpotPrice < 0 {
		bad("OnDemandPrice and SpotPrice must not be negative, got %v and %v", c.OnDemandPrice, c.SpotPrice)
	}
	if c.Market == "" {
		c.Market = autoscaler.MarketSpot
	}
	if c.Market != autoscaler.MarketSpot && c.Market != autoscaler.MarketOnDemand {
		bad("Market must be %q or %q, got %q", autoscaler.MarketSpot, autoscaler.MarketOnDemand, c.Market)
	}
	if c.Pools != nil {
		p := *c.Pools
		p.Types, p.Zones = slices.Clone(p.Types), slices.Clone(p.Zones)
		c.pools = &p
		errs = append(errs, p.check()...)
	}
	if c.InitialNodes < 0 {
		bad("InitialNodes must be 0 or more, got %d", c.InitialNodes)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	return nil
}

// price is the hourly price of the configured market.
func (c *Config) price() float64 {
	if c.Market == autoscaler.MarketSpot {
		return c.SpotPrice
	}
	return c.OnDemandPrice
}

// demandAt is the demand at t: the step's value (a step function).
func (c *Config) demandAt(t time.Time) float64 {
	i := int(t.Sub(c.Start) / c.Step)
	i = min(max(i, 0), len(c.Demand)-1)
	return c.Demand[i]
}

// Run simulates cfg and reports what happened.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if err := cfg.defaults(); err != nil {
		return Report{}, err
	}
	r, err := start(ctx, &cfg)
	if err != nil {
		return Report{}, err
	}
	end := cfg.Start.Add(time.Duration(len(cfg.Demand)) * cfg.Step)
	r.rep = Report{Mode: cfg.Mode, Start: cfg.Start, End: end}
	res := cfg.Resolution
	progressEvery := max(1, int(time.Hour/res))
	for step, now := 0, cfg.Start; now.Before(end); step, now = step+1, now.Add(res) {
		if step%progressEvery == 0 {
			if err := ctx.Err(); err != nil {
				return r.rep, err
			}
			if cfg.OnProgress != nil {
				cfg.OnProgress(now.Sub(cfg.Start), end.Sub(cfg.Start))
			}
		}
		if err := r.step(ctx, now); err != nil {
			return r.rep, err
		}
	}
	r.finish(end)
	if cfg.OnProgress != nil {
		cfg.OnProgress(end.Sub(cfg.Start), end.Sub(cfg.Start))
	}
	return r.rep, nil
}

// run is one simulation in progress: the fake cluster, the model of it,
// the autoscaler under test and the report so far.
type run struct {
	cfg   *Config
	clk   *clocktesting.FakeClock
	rng   *rand.Rand
	fleet *fake.Fleet
	nodes *fake.Nodes
	m     *model
	as    *autoscaler.Autoscaler
	// interval is the autoscaler's time between scheduled ticks.
	interval time.Duration
	pools    *poolRun // nil without instance pools
	// initial is the size of the fleet launched before the start.
	initial int
	// pInterrupt is the chance that one spot instance gets a notice in
	// one model step.
	pInterrupt float64

	rep        Report
	lastTick   time.Time
	surgeStart time.Time   // when the current shortage began; zero: none
	downs      []time.Time // scale-downs since the last scale-up
}

// start builds the run's fake cluster and autoscaler, launches the initial
// fleet early enough to be up at Start, and moves the clock to Start.
func start(ctx context.Context, cfg *Config) (*run, error) {
	mdl := cfg.model
	clk := clocktesting.NewFakeClock(cfg.Start.Add(-mdl.BootMax - time.Minute))
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	ff, initialBooted := newFleet(cfg, clk, rng)
	nm := fake.NewNodes(clk, ff)
	st := fake.NewStore(clk)
	st.ShareHistory = true
	r := &run{cfg: cfg, clk: clk, rng: rng, fleet: ff, nodes: nm,
		m:          &model{cfg: cfg, clk: clk, fleet: ff, nodes: nm},
		pInterrupt: -math.Expm1(-mdl.InterruptionRate * cfg.Resolution.Hours())}
	var nodes autoscaler.NodeManager = nm
	if !mdl.Ideal {
		r.m.world = newWorld(cfg, rng)
		nodes = drainingNodes{Nodes: nm, w: r.m.world, now: clk.Now}
	}

	ac := cfg.Autoscaler
	ac.ClusterID = "sim"
	ac.Owner = "sim"
	ac.Metrics, ac.Locker, ac.State, ac.Fleet, ac.Nodes, ac.Clock = &fake.Metrics{Func: r.m.snapshot}, st, st, ff, nodes, clk
	ac.Interval = cfg.interval()
	r.interval = ac.Interval
	var err error
	if r.as, err = autoscaler.New(ac); err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	r.initial = cfg.InitialNodes
	if r.initial == 0 {
		r.initial = max(ac.MinNodes, r.m.initialNeed())
	}
	if r.initial > 0 {
		if _, err := ff.Launch(ctx, autoscaler.LaunchRequest{OperationID: "initial", Count: r.initial}); err != nil {
			return nil, fmt.Errorf("sim: initial fleet: %w", err)
		}
	}
	initialBooted()
	if cfg.pools != nil {
		r.pools = newPoolRun(cfg.pools, cfg.Seed, cfg.Start, clk.Now)
		ff.Placer = r.pools.place
	}
	clk.SetTime(cfg.Start)
	if err := r.m.refresh(ctx); err != nil {
		return nil, err
	}
	if r.m.world != nil {
		r.m.world.warm(cfg.Start)
	}
	return r, nil
}

// newFleet returns the run's fake fleet over two zones. Its instances boot
// in BootMin until initialBooted is called (the initial fleet), then in
// the model's boot time.
func newFleet(cfg *Config, clk *clocktesting.FakeClock, rng *rand.Rand) (ff *fake.Fleet, initialBooted func()) {
	mdl := cfg.model
	ff = fake.NewFleet(clk)
	ff.Market = cfg.Market
	ff.Zones = []string{"zone-a", "zone-b"}
	span := mdl.BootMax - mdl.BootMin
	initial := true
	ff.BootDelayFunc = func() time.Duration {
		switch {
		case initial:
			return mdl.BootMin
		case !mdl.Ideal:
			return lognormalBoot(mdl, rng)
		case span <= 0:
			return mdl.BootMin
		}
		return mdl.BootMin + time.Duration(rng.Int64N(int64(span)+1))
	}
	return ff, func() { initial = false }
}

// step moves the run one model step to now: the events, the model, a tick
// when one is due, and the step's accounting.
func (r *run) step(ctx context.Context, now time.Time) error {
	r.clk.SetTime(now)
	if err := r.m.events(ctx, r.rng, r.pInterrupt, &r.rep); err != nil {
		return err
	}
	r.m.advance(now)
	due := r.lastTick.IsZero() || now.Sub(r.lastTick) >= r.interval
	if r.cfg.Mode == ModeDaemon && r.m.trigger() {
		// The daemon is triggered when pods become pending.
		due = true
	}
	if due {
		if err := r.tick(ctx, now); err != nil {
			return err
		}
	}
	r.account(now)
	return nil
}

// tick runs the autoscaler once at now, in a launch outage with the
// model's LaunchFailureRate, counts what it did and refreshes the model.
func (r *run) tick(ctx context.Context, now time.Time) error {
	mdl := r.cfg.model
	outage := mdl.LaunchFailureRate > 0 && r.rng.Float64() < mdl.LaunchFailureRate
	if outage {
		r.fleet.SetCapacity(0)
	}
	if r.m.world != nil {
		r.m.world.annotate(r.nodes)
		r.m.world.newlyPending = false
	}
	res, err := r.as.RunOnce(ctx)
	if outage {
		r.fleet.SetCapacity(-1)
	}
	if err != nil && res.Outcome != autoscaler.OutcomeFailed {
		return fmt.Errorf("sim: tick at %s: %w", now, err)
	}
	r.lastTick = now
	r.count(now, res)
	if r.cfg.OnResult != nil {
		r.cfg.OnResult(res)
	}
	if res.Outcome != autoscaler.OutcomeHeld || len(res.Ghosts())+len(res.Replaced()) > 0 || r.m.world != nil {
		if err := r.m.refresh(ctx); err != nil {
			return err
		}
	}
	r.m.settle(now)
	return nil
}

// count adds a tick's result at now to the report: its scaling, the
// scale-ups that undo a scale-down within ChurnWindow, and the launches
// refused for capacity.
func (r *run) count(now time.Time, res autoscaler.Result) {
	r.rep.Ticks++
	switch res.Outcome {
	case autoscaler.OutcomeScaledUp:
		r.rep.ScaleUps++
		for _, d := range r.downs {
			if now.Sub(d) <= ChurnWindow {
				r.rep.Churn++
			}
		}
		r.downs = r.downs[:0]
	case autoscaler.OutcomeScaledDown:
		r.rep.ScaleDowns++
		r.downs = append(r.downs, now)
	}
	// From the steps, not the events: a repeated shortfall is held back
	// as an alert (RealertInterval) but is a tick without capacity all
	// the same.
	for _, o := range res.Steps {
		if o.Step.Kind == autoscaler.StepLaunch && o.Shortfall != nil {
			r.rep.CapacityFailures++
			break
		}
	}
}

// account adds the model step at now to the report: demand, unserved
// demand, node time, the shortages' lengths and, every Step, a sample.
func (r *run) account(now time.Time) {
	cfg, m, res := r.cfg, r.m, r.cfg.Resolution
	mins := res.Minutes()
	demand, unserved := m.accounted()
	r.rep.DemandPodMinutes += demand * mins
	r.rep.UnservedPodMinutes += unserved * mins
	r.rep.NodeSeconds += float64(len(m.live)) * res.Seconds()
	r.rep.PeakNodes = max(r.rep.PeakNodes, m.ready)
	short := unserved > 1e-9
	if short && r.surgeStart.IsZero() {
		r.surgeStart = now
	}
	if !short && !r.surgeStart.IsZero() {
		r.rep.TimeToCapacity = append(r.rep.TimeToCapacity, now.Sub(r.surgeStart))
		r.surgeStart = time.Time{}
	}
	if now.Sub(cfg.Start)%cfg.Step < res {
		r.rep.Series = append(r.rep.Series, Sample{Time: now, Demand: demand, Capacity: float64(m.ready) * cfg.PodsPerNode,
			ReadyNodes: m.ready, Instances: len(m.live), Pending: m.pendingPods()})
	}
}

// finish completes the report at end: the shortage still open, the cost
// and its on-demand share, launches and terminations, and the baselines.
func (r *run) finish(end time.Time) {
	cfg, rep := r.cfg, &r.rep
	if !r.surgeStart.IsZero() {
		rep.TimeToCapacity = append(rep.TimeToCapacity, end.Sub(r.surgeStart))
	}
	r.clk.SetTime(end)
	var drained map[string]time.Time
	if w := r.m.world; w != nil {
		drained = w.drained
		rep.Ghosts, rep.Drains = len(w.ghost), len(drained)
	}
	priceOf := func(fake.Lifetime) float64 { return cfg.price() }
	if pools := r.pools; pools != nil {
		priceOf = func(l fake.Lifetime) float64 { return pools.price(l, cfg.price()) }
		rep.PoolErrors, rep.SpotLaunched, rep.OnDemandLaunched, rep.Unplaced = pools.errors, pools.spotPlaced, pools.odPlaced, pools.unplaced
	}
	var odSecs, allSecs float64
	rep.CostUSD = costBy(r.fleet.Lifetimes(), cfg.Start, end, priceOf, drained, cfg.model.DrainTime, func(l fake.Lifetime, secs float64) {
		allSecs += secs
		if l.Market == autoscaler.MarketOnDemand {
			odSecs += secs
		}
	})
	if allSecs > 0 {
		rep.OnDemandPct = 100 * odSecs / allSecs
	}
	rep.Launched, rep.Terminated = r.fleet.Counts()
	rep.Launched -= r.initial
	rep.StaticNodes = staticNodes(*cfg)
	rep.StaticCostUSD = staticCost(*cfg)
	rep.OracleCostUSD = oracleCost(*cfg)
}

// model turns the fleet and the demand into what the autoscaler observes:
// in the ideal model directly (Ready nodes serve PodsPerNode units each),
// in the real one through the world. It keeps its own view of the fleet,
// refreshed after every tick and event, because listing the fake fleet
// costs time in the number of instances ever launched.
type model struct {
	cfg   *Config
	clk   *clocktesting.FakeClock
	fleet *fake.Fleet
	nodes *fake.Nodes
	world *world // nil in the ideal model

	live    []liveInstance
	reclaim []liveInstance // interrupted, reclaimed at readyAt

	demand, pending float64
	served          float64
	ready           int
	cpu, mem        float64
}

// liveInstance is an active instance and when its node is Ready (for the
// reclaim list: when it is reclaimed).
type liveInstance struct {
	id      string
	spot    bool
	readyAt time.Time
	noticed bool
}

// refresh re-reads the fleet.
func (m *model) refresh(ctx context.Context) error {
	ins, err := m.fleet.List(ctx)
	if err != nil {
		return fmt.Errorf("sim: list fleet: %w", err)
	}
	m.live = m.live[:0]
	for _, in := range ins {
		if !in.State.Active() {
			continue
		}
		m.live = append(m.live, liveInstance{id: in.ID, spot: in.Market == autoscaler.MarketSpot,
			readyAt: m.fleet.RunningSince(in.ID), noticed: !in.InterruptionNotice.IsZero()})
	}
	if m.world != nil {
		m.world.sync(ins, m.fleet, m.nodes)
	}
	return nil
}

// initialNeed is the nodes the pods of the first step need (real model),
// so that the run starts in a steady state; 0 in the ideal model.
func (m *model) initialNeed() int {
	if m.cfg.model.Ideal {
		return 0
	}
	w := newWorld(m.cfg, rand.New(rand.NewPCG(1, 2)))
	w.warmPods(m.cfg.Start)
	var pp []capacity.PendingPod
	for _, p := range w.pending {
		pp = append(pp, capacity.PendingPod{Name: strconv.Itoa(p.seq), Requests: w.m.Mix[p.kind].Requests})
	}
	return capacity.PackPending(w.m.Template, pp).Nodes
}

// advance moves the model to now, before a tick may run.
func (m *model) advance(now time.Time) {
	if w := m.world; w != nil {
		if now.Sub(m.cfg.Start)%w.m.HPASync == 0 {
			w.hpa(now)
		}
		w.schedule(now)
		w.serve(now)
	}
	m.observe()
}

// settle brings the model in line after a tick at now (nodes cordoned,
// drained, launched).
func (m *model) settle(now time.Time) {
	if w := m.world; w != nil {
		w.schedule(now)
		w.serve(now)
	}
	m.observe()
}

// trigger reports whether the daemon's watch would tick now.
func (m *model) trigger() bool {
	if m.world != nil {
		return m.world.newlyPending && len(m.world.pending) > 0
	}
	return m.pending > 0
}

// accounted is the step's demand and unserved part, in units.
func (m *model) accounted() (demand, unserved float64) {
	if m.world != nil {
		return m.world.demand, m.world.unserved
	}
	return m.demand, m.pending
}

// pendingPods is the number of pods waiting for a node.
func (m *model) pendingPods() float64 {
	if m.world != nil {
		return float64(len(m.world.pending))
	}
	return m.pending
}

// events delivers spot interruption notices and reclaims.
func (m *model) events(ctx context.Context, rng *rand.Rand, p float64, rep *Report) error {
	now := m.clk.Now()
	changed := false
	keep := m.reclaim[:0]
	for _, r := range m.reclaim {
		if now.Before(r.readyAt) {
			keep = append(keep, r)
			continue
		}
		m.fleet.Reclaim(r.id)
		changed = true
	}
	m.reclaim = keep
	if p > 0 {
		for i := range m.live {
			in := &m.live[i]
			if !in.spot || in.noticed || now.Before(in.readyAt) || rng.Float64() >= p {
				continue
			}
			if err := m.fleet.Interrupt(in.id); err != nil {
				return fmt.Errorf("sim: interrupt %s: %w", in.id, err)
			}
			in.noticed = true
			rep.Interruptions++
			m.reclaim = append(m.reclaim, liveInstance{id: in.id, readyAt: now.Add(m.cfg.model.InterruptionNotice)})
		}
	}
	if changed {
		return m.refresh(ctx)
	}
	return nil
}

// observe computes the ideal model's state at the clock's time (and the
// Ready count in either model). Nodes with an interruption notice still
// serve until they are reclaimed.
func (m *model) observe() {
	now := m.clk.Now()
	m.demand = m.cfg.demandAt(now)
	m.ready = 0
	for _, in := range m.live {
		if !now.Before(in.readyAt) && (m.world == nil || !m.world.ghost[in.id]) {
			m.ready++
		}
	}
	if m.world != nil {
		return
	}
	capacity := float64(m.ready) * m.cfg.PodsPerNode
	served := math.Min(m.demand, capacity)
	m.pending = math.Max(0, math.Ceil(m.demand-served))
	m.cpu = 0
	if capacity > 0 {
		m.cpu = 100 * served / capacity
	}
	// Memory: a base of system use plus what the pods hold.
	m.mem = 20 + 0.6*m.cpu
	m.served = served
}

// idealPod is the ideal model's pod: a PodsPerNode-th of idealTemplate.
var idealPod = capacity.Resources{MilliCPU: 100, Memory: 100 << 20, Pods: 1}

// idealTemplate is the ideal model's worker for PodsPerNode pods.
func (m *model) idealTemplate() capacity.WorkerTemplate {
	n := m.cfg.PodsPerNode
	return capacity.WorkerTemplate{InstanceType: "ideal", Source: "the ideal model",
		Allocatable: capacity.Resources{MilliCPU: int64(math.Round(n * 100)), Memory: int64(math.Round(n * (100 << 20))), Pods: 1 << 20}}
}

func (m *model) snapshot(ctx context.Context) (autoscaler.Snapshot, error) {
	now := m.clk.Now()
	if m.world != nil {
		return m.world.snapshot(now), nil
	}
	m.observe()
	// The scheduler's view of the ideal model: the served demand runs,
	// the rest is pending, every pod a PodsPerNode-th of a worker.
	tpl := m.idealTemplate()
	running := capacity.Resources{MilliCPU: int64(math.Round(m.served * 100)), Memory: int64(math.Round(m.served * (100 << 20)))}
	pending := make([]capacity.PendingPod, int(m.pending))
	for i := range pending {
		pending[i] = capacity.PendingPod{Namespace: "sim", Name: "pod-" + strconv.Itoa(i), Requests: idealPod}
	}
	return autoscaler.Snapshot{
			Time:        now,
			CPU:         autoscaler.Value(m.cpu, now),
			Memory:      autoscaler.Value(m.mem, now),
			PendingPods: autoscaler.Value(m.pending, now),
			Scheduler:   capacity.NewSchedulerView(tpl, running, pending),
		}.WithDemand(),

		nil
}

// cost bills every instance per second from launch (or start) to
// termination (or end), with a 60-second minimum, at price per hour; an
// instance drained (drained: instance id to drain time) is billed drain
// more, to the drain's end.
func cost(lives []fake.Lifetime, start, end time.Time, price float64, drained map[string]time.Time, drain time.Duration) float64 {
	return costBy(lives, start, end, func(fake.Lifetime) float64 { return price }, drained, drain, nil)
}

// costBy is cost with each instance at its own hourly price; seen, when
// set, gets every instance's billed seconds.
func costBy(lives []fake.Lifetime, start, end time.Time, price func(fake.Lifetime) float64, drained map[string]time.Time, drain time.Duration, seen func(fake.Lifetime, float64)) float64 {
	usd := 0.0
	for _, l := range lives {
		stop := l.End
		if at, ok := drained[l.ID]; ok && !stop.IsZero() {
			stop = maxTime(stop, at.Add(drain))
		}
		if stop.IsZero() || stop.After(end) {
			stop = end
		}
		from := l.Start
		if from.Before(start) {
			from = start
		}
		secs := math.Max(stop.Sub(from).Seconds(), 60)
		usd += secs / 3600 * price(l)
		if seen != nil {
			seen(l, secs)
		}
	}
	return usd
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// staticNodes is the size of a static fleet sized for the demand's peak,
// never below MinNodes.
func staticNodes(cfg Config) int {
	peak := 0.0
	for _, d := range cfg.Demand {
		peak = math.Max(peak, d)
	}
	return max(cfg.Autoscaler.MinNodes, int(math.Ceil(peak/cfg.PodsPerNode)))
}

// staticCost is what a static fleet sized for the peak costs over the
// simulation, in the same market as the simulated fleet; 0 when cfg is
// invalid.
func staticCost(cfg Config) float64 {
	if err := cfg.defaults(); err != nil {
		return 0
	}
	hours := (time.Duration(len(cfg.Demand)) * cfg.Step).Hours()
	return float64(staticNodes(cfg)) * hours * cfg.price()
}

// oracleCost is the lower bound: in every step exactly the nodes the
// demand needs when pods pack nodes to 100% (ceil(demand/PodsPerNode)),
// never fewer than MinNodes, with no boot time, in the same market as the
// simulated fleet; 0 when cfg is invalid. Steps are at least a minute
// long, so the 60-second billing minimum never applies.
func oracleCost(cfg Config) float64 {
	if err := cfg.defaults(); err != nil {
		return 0
	}
	nodeSteps := 0
	for _, d := range cfg.Demand {
		nodeSteps += max(cfg.Autoscaler.MinNodes, int(math.Ceil(d/cfg.PodsPerNode)))
	}
	return float64(nodeSteps) * cfg.Step.Hours() * cfg.price()
}

// Percentile returns the p-th percentile (0-100) of ds by nearest rank;
// 0 when ds is empty.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = min(max(rank, 1), len(s))
	return s[rank-1]
}

// SyntheticDay returns a built-in day of e-commerce demand in pods per
// minute, starting at midnight UTC of day: a night low, a lunchtime and an
// evening peak, and a flash sale at 20:00 that triples the evening load
// within a minute and lasts 45 minutes.
func SyntheticDay(day time.Time) (start time.Time, demand []float64) {
	start = time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC)
	demand = make([]float64, 24*60)
	for i := range demand {
		h := float64(i) / 60
		// Two daytime bumps over a night floor.
		lunch := math.Exp(-math.Pow((h-13)/2.5, 2))
		evening := math.Exp(-math.Pow((h-21)/2, 2))
		d := 8 + 14*lunch + 18*evening
		// A little deterministic wobble, as real traffic has.
		d += 1.5 * math.Sin(float64(i)/7)
		if i >= 20*60 && i < 20*60+45 {
			d = 3*d + 10
		}
		demand[i] = math.Round(d)
	}
	return start, demand
}
