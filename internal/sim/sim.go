// Package sim is the simulator's cluster model: demand (pods per step) is
// served by the Ready nodes of an in-memory fleet that the real
// autoscaler.Autoscaler scales, on a fake clock, so that a day or a month
// of traffic runs in seconds. It measures what the fleet cost, what a
// static fleet and an oracle would have cost, and how much demand it left
// unserved.
//
// The model: every Ready node serves PodsPerNode pods; the demand beyond
// that is pending. Instances take a boot-and-join time drawn uniformly from
// [BootMin, BootMax]. Spot instances get interruption notices at a rate per
// instance-hour and are reclaimed InterruptionNotice later (they serve until
// then; the autoscaler cordons and replaces them). A tick finds no launch
// capacity with probability LaunchFailureRate. Billing is per second with a
// 60-second minimum per instance.
package sim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
	clocktesting "k8s.io/utils/clock/testing"
)

// Mode is how often the autoscaler ticks.
type Mode string

// The two ways node-fleet runs.
const (
	// ModeLambda ticks every 2 minutes (EventBridge).
	ModeLambda Mode = "lambda"
	// ModeDaemon ticks every 15 seconds and at once when pods become
	// pending.
	ModeDaemon Mode = "daemon"
)

// Interval is the tick interval of a mode: 2 minutes for lambda, 15
// seconds for daemon.
func (m Mode) Interval() time.Duration {
	if m == ModeDaemon {
		return 15 * time.Second
	}
	return 2 * time.Minute
}

// DemandMetric is the custom metric the simulator's MetricSource puts in
// every snapshot: the demand in pods (running and pending), which the
// autoscaler records in the history for forecasting policies.
const DemandMetric = "demand_pods"

// Config describes one simulation.
type Config struct {
	// Start is the time of Demand[0]; Step the time between entries.
	Start time.Time
	Step  time.Duration
	// Demand is the number of pods wanted in each step.
	Demand []float64
	// PodsPerNode is how many pods a node serves at 100% CPU.
	PodsPerNode float64
	// Mode picks the tick interval. Default lambda.
	Mode Mode
	// Resolution is the model's time step; it must divide Step. Default
	// 15 seconds.
	Resolution time.Duration
	// BootMin and BootMax bound the boot-and-join time, drawn uniformly
	// per instance. Default 60 and 120 seconds.
	BootMin, BootMax time.Duration
	// OnDemandPrice and SpotPrice are USD per hour. Defaults are
	// t3.medium's: 0.0416 and 0.0125.
	OnDemandPrice, SpotPrice float64
	// Market is the market instances are launched in. Default spot.
	Market autoscaler.Market
	// InterruptionRate is the chance per spot instance-hour of an
	// interruption notice. Default 0 (none).
	InterruptionRate float64
	// InterruptionNotice is the time from the notice to the reclaim.
	// Default 2 minutes (EC2's spot notice).
	InterruptionNotice time.Duration
	// LaunchFailureRate is the chance that a tick finds no launch
	// capacity at all (EC2's InsufficientInstanceCapacity). Default 0.
	LaunchFailureRate float64
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
	// cost (see OracleCost).
	StaticCostUSD float64
	OracleCostUSD float64
	StaticNodes   int
	// DemandPodMinutes is the total demand; UnservedPodMinutes the part
	// of it that found no Ready node.
	DemandPodMinutes   float64
	UnservedPodMinutes float64
	// ScaleUps and ScaleDowns count ticks that changed the fleet;
	// Launched and Terminated count instances (the initial fleet is not
	// counted as launched).
	ScaleUps, ScaleDowns int
	Launched, Terminated int
	Ticks                int
	// Interruptions counts spot interruption notices; CapacityFailures
	// the ticks whose launch found no capacity.
	Interruptions    int
	CapacityFailures int
	// PeakNodes is the most Ready nodes at once; NodeSeconds the
	// integral of active instances over time.
	PeakNodes   int
	NodeSeconds float64
	// TimeToCapacity holds, for every surge (a run of model steps with
	// pending pods), the time from its first pending pod until none was
	// pending.
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
	if c.Mode == "" {
		c.Mode = ModeLambda
	}
	if c.Mode != ModeLambda && c.Mode != ModeDaemon {
		bad("Mode must be %q or %q, got %q", ModeLambda, ModeDaemon, c.Mode)
	}
	if c.Resolution <= 0 {
		c.Resolution = 15 * time.Second
	}
	if c.Step > 0 && c.Step%c.Resolution != 0 {
		bad("Resolution %s must divide Step %s", c.Resolution, c.Step)
	}
	if c.BootMin <= 0 && c.BootMax <= 0 {
		c.BootMin, c.BootMax = 60*time.Second, 120*time.Second
	}
	if c.BootMax < c.BootMin {
		bad("BootMax %s below BootMin %s", c.BootMax, c.BootMin)
	}
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
	if math.IsNaN(c.InterruptionRate) || c.InterruptionRate < 0 {
		bad("InterruptionRate must be 0 or more per instance-hour, got %v", c.InterruptionRate)
	}
	if c.InterruptionNotice <= 0 {
		c.InterruptionNotice = 2 * time.Minute
	}
	if math.IsNaN(c.LaunchFailureRate) || c.LaunchFailureRate < 0 || c.LaunchFailureRate > 1 {
		bad("LaunchFailureRate must be a probability between 0 and 1, got %v", c.LaunchFailureRate)
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
	// The initial fleet is launched early enough to be up at Start.
	clk := clocktesting.NewFakeClock(cfg.Start.Add(-cfg.BootMax - time.Minute))
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	ff := fake.NewFleet(clk)
	ff.Market = cfg.Market
	ff.Zones = []string{"zone-a", "zone-b"}
	span := cfg.BootMax - cfg.BootMin
	ff.BootDelayFunc = func() time.Duration {
		if span <= 0 {
			return cfg.BootMin
		}
		return cfg.BootMin + time.Duration(rng.Int64N(int64(span)+1))
	}
	nm := fake.NewNodes(clk, ff)
	st := fake.NewStore(clk)
	st.ShareHistory = true
	m := &model{cfg: &cfg, clk: clk, fleet: ff}
	metrics := &fake.Metrics{Func: m.snapshot}

	ac := cfg.Autoscaler
	ac.ClusterID = "sim"
	ac.Owner = "sim"
	ac.Metrics, ac.Locker, ac.State, ac.Fleet, ac.Nodes, ac.Clock = metrics, st, st, ff, nm, clk
	ac.Interval = cfg.Mode.Interval()
	as, err := autoscaler.New(ac)
	if err != nil {
		return Report{}, fmt.Errorf("sim: %w", err)
	}
	init := cfg.InitialNodes
	if init == 0 {
		init = ac.MinNodes
	}
	if init > 0 {
		if _, err := ff.Launch(ctx, autoscaler.LaunchRequest{OperationID: "initial", Count: init}); err != nil {
			return Report{}, fmt.Errorf("sim: initial fleet: %w", err)
		}
	}
	clk.SetTime(cfg.Start)
	if err := m.refresh(ctx); err != nil {
		return Report{}, err
	}

	rep := Report{Mode: cfg.Mode, Start: cfg.Start}
	end := cfg.Start.Add(time.Duration(len(cfg.Demand)) * cfg.Step)
	rep.End = end
	lastTick := time.Time{}
	var surgeStart time.Time
	res := cfg.Resolution
	// The chance that one spot instance gets a notice in one model step.
	pInterrupt := -math.Expm1(-cfg.InterruptionRate * res.Hours())
	progressEvery := max(1, int(time.Hour/res))
	for step, now := 0, cfg.Start; now.Before(end); step, now = step+1, now.Add(res) {
		if step%progressEvery == 0 {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			if cfg.OnProgress != nil {
				cfg.OnProgress(now.Sub(cfg.Start), end.Sub(cfg.Start))
			}
		}
		clk.SetTime(now)
		if err := m.events(ctx, rng, pInterrupt, &rep); err != nil {
			return rep, err
		}
		m.observe()
		due := lastTick.IsZero() || now.Sub(lastTick) >= ac.Interval
		if cfg.Mode == ModeDaemon && m.pending > 0 {
			// The daemon is triggered when pods become pending.
			due = true
		}
		if due {
			outage := cfg.LaunchFailureRate > 0 && rng.Float64() < cfg.LaunchFailureRate
			if outage {
				ff.SetCapacity(0)
			}
			r, err := as.RunOnce(ctx)
			if outage {
				ff.SetCapacity(-1)
			}
			if err != nil && r.Outcome != autoscaler.OutcomeFailed {
				return rep, fmt.Errorf("sim: tick at %s: %w", now, err)
			}
			lastTick = now
			rep.Ticks++
			switch r.Outcome {
			case autoscaler.OutcomeScaledUp:
				rep.ScaleUps++
			case autoscaler.OutcomeScaledDown:
				rep.ScaleDowns++
			}
			for _, ev := range r.Events {
				if ev.Kind == autoscaler.EventCapacity {
					rep.CapacityFailures++
				}
			}
			if cfg.OnResult != nil {
				cfg.OnResult(r)
			}
			if r.Outcome != autoscaler.OutcomeHeld || len(r.Ghosts)+len(r.Replaced) > 0 {
				if err := m.refresh(ctx); err != nil {
					return rep, err
				}
			}
			m.observe()
		}
		// Account this model step.
		mins := res.Minutes()
		rep.DemandPodMinutes += m.demand * mins
		rep.UnservedPodMinutes += m.pending * mins
		rep.NodeSeconds += float64(len(m.live)) * res.Seconds()
		rep.PeakNodes = max(rep.PeakNodes, m.ready)
		if m.pending > 0 && surgeStart.IsZero() {
			surgeStart = now
		}
		if m.pending == 0 && !surgeStart.IsZero() {
			rep.TimeToCapacity = append(rep.TimeToCapacity, now.Sub(surgeStart))
			surgeStart = time.Time{}
		}
		if now.Sub(cfg.Start)%cfg.Step < res {
			rep.Series = append(rep.Series, Sample{Time: now, Demand: m.demand, Capacity: float64(m.ready) * cfg.PodsPerNode,
				ReadyNodes: m.ready, Instances: len(m.live), Pending: m.pending})
		}
	}
	if !surgeStart.IsZero() {
		rep.TimeToCapacity = append(rep.TimeToCapacity, end.Sub(surgeStart))
	}
	clk.SetTime(end)
	rep.CostUSD = cost(ff.Lifetimes(), cfg.Start, end, cfg.price())
	rep.Launched, rep.Terminated = ff.Counts()
	rep.Launched -= init
	rep.StaticNodes = StaticNodes(cfg)
	rep.StaticCostUSD = StaticCost(cfg)
	rep.OracleCostUSD = OracleCost(cfg)
	if cfg.OnProgress != nil {
		cfg.OnProgress(end.Sub(cfg.Start), end.Sub(cfg.Start))
	}
	return rep, nil
}

// model turns the fleet's Ready nodes and the demand into metrics. It
// keeps its own view of the fleet, refreshed after every tick and event,
// because listing the fake fleet costs time in the number of instances
// ever launched.
type model struct {
	cfg   *Config
	clk   *clocktesting.FakeClock
	fleet *fake.Fleet

	live    []liveInstance
	reclaim []liveInstance // interrupted, reclaimed at readyAt

	demand, pending float64
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
	return nil
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
			m.reclaim = append(m.reclaim, liveInstance{id: in.id, readyAt: now.Add(m.cfg.InterruptionNotice)})
		}
	}
	if changed {
		return m.refresh(ctx)
	}
	return nil
}

// observe computes the metrics at the clock's time. Nodes with an
// interruption notice still serve until they are reclaimed.
func (m *model) observe() {
	now := m.clk.Now()
	m.demand = m.cfg.demandAt(now)
	m.ready = 0
	for _, in := range m.live {
		if !now.Before(in.readyAt) {
			m.ready++
		}
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
}

func (m *model) snapshot(ctx context.Context) (autoscaler.Snapshot, error) {
	now := m.clk.Now()
	m.observe()
	return autoscaler.Snapshot{
		Time:        now,
		CPU:         autoscaler.Value(m.cpu, now),
		Memory:      autoscaler.Value(m.mem, now),
		PendingPods: autoscaler.Value(m.pending, now),
		Custom:      map[string]autoscaler.Metric{DemandMetric: autoscaler.Value(m.demand, now)},
	}, nil
}

// cost bills every instance per second from launch (or start) to
// termination (or end), with a 60-second minimum, at price per hour.
func cost(lives []fake.Lifetime, start, end time.Time, price float64) float64 {
	secs := 0.0
	for _, l := range lives {
		stop := l.End
		if stop.IsZero() || stop.After(end) {
			stop = end
		}
		from := l.Start
		if from.Before(start) {
			from = start
		}
		secs += math.Max(stop.Sub(from).Seconds(), 60)
	}
	return secs / 3600 * price
}

// StaticNodes is the size of a static fleet sized for the demand's peak,
// never below MinNodes.
func StaticNodes(cfg Config) int {
	peak := 0.0
	for _, d := range cfg.Demand {
		peak = math.Max(peak, d)
	}
	return max(cfg.Autoscaler.MinNodes, int(math.Ceil(peak/cfg.PodsPerNode)))
}

// StaticCost is what a static fleet sized for the peak costs over the
// simulation, in the same market as the simulated fleet; 0 when cfg is
// invalid.
func StaticCost(cfg Config) float64 {
	if err := cfg.defaults(); err != nil {
		return 0
	}
	hours := (time.Duration(len(cfg.Demand)) * cfg.Step).Hours()
	return float64(StaticNodes(cfg)) * hours * cfg.price()
}

// OracleCost is the lower bound: in every step exactly the nodes the
// demand needs when pods pack nodes to 100% (ceil(demand/PodsPerNode)),
// never fewer than MinNodes, with no boot time, in the same market as the
// simulated fleet; 0 when cfg is invalid. Steps are at least a minute
// long, so the 60-second billing minimum never applies.
func OracleCost(cfg Config) float64 {
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
