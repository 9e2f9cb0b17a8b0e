// Package sim is the simulator's cluster model: demand (pods per step) is
// served by the Ready nodes of an in-memory fleet that the real
// autoscaler.Autoscaler scales, on a fake clock, so that a day or a month
// of traffic runs in seconds. It measures what the fleet cost and how much
// demand it left unserved.
package sim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
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
	// Resolution is the model's time step. Default 15 seconds.
	Resolution time.Duration
	// BootMin and BootMax bound the boot-and-join time, drawn uniformly
	// per instance. Default 60 and 120 seconds.
	BootMin, BootMax time.Duration
	// OnDemandPrice and SpotPrice are USD per hour. Defaults are
	// t3.medium's: 0.0416 and 0.0125.
	OnDemandPrice, SpotPrice float64
	// Market is the market instances are launched in. Default spot.
	Market autoscaler.Market
	// Seed makes the boot-time draws repeatable.
	Seed uint64
	// Autoscaler is the base configuration (policy, min/max, cooldowns);
	// the simulator fills in the parts, the clock and ClusterID.
	Autoscaler autoscaler.Config
	// InitialNodes is the fleet at Start. Default MinNodes.
	InitialNodes int
	// OnResult, when set, sees every tick's result.
	OnResult func(autoscaler.Result)
}

// Report is what a simulation measured.
type Report struct {
	Mode  Mode
	Start time.Time
	End   time.Time
	// CostUSD is the fleet's cost: per-second billing, 60 s minimum.
	CostUSD float64
	// DemandPodMinutes is the total demand; UnservedPodMinutes the part
	// of it that found no Ready node.
	DemandPodMinutes   float64
	UnservedPodMinutes float64
	// ScaleUps and ScaleDowns count ticks that changed the fleet;
	// Launched and Terminated count instances.
	ScaleUps, ScaleDowns int
	Launched, Terminated int
	Ticks                int
	// PeakNodes is the most Ready nodes at once; NodeSeconds the
	// integral of instances over time.
	PeakNodes   int
	NodeSeconds float64
	// TimeToCapacity holds, for every surge (a run of steps with pending
	// pods), the time from its first pending pod until none was pending.
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

func (c *Config) defaults() error {
	if len(c.Demand) == 0 {
		return errors.New("sim: Demand is empty")
	}
	if c.Step <= 0 {
		return fmt.Errorf("sim: Step must be positive, got %s", c.Step)
	}
	if !(c.PodsPerNode > 0) {
		return fmt.Errorf("sim: PodsPerNode must be positive, got %v", c.PodsPerNode)
	}
	if c.Mode == "" {
		c.Mode = ModeLambda
	}
	if c.Mode != ModeLambda && c.Mode != ModeDaemon {
		return fmt.Errorf("sim: Mode must be %q or %q, got %q", ModeLambda, ModeDaemon, c.Mode)
	}
	if c.Resolution <= 0 {
		c.Resolution = 15 * time.Second
	}
	if c.BootMin <= 0 && c.BootMax <= 0 {
		c.BootMin, c.BootMax = 60*time.Second, 120*time.Second
	}
	if c.BootMax < c.BootMin {
		return fmt.Errorf("sim: BootMax %s below BootMin %s", c.BootMax, c.BootMin)
	}
	if c.OnDemandPrice == 0 {
		c.OnDemandPrice = 0.0416
	}
	if c.SpotPrice == 0 {
		c.SpotPrice = 0.0125
	}
	if c.Market == "" {
		c.Market = autoscaler.MarketSpot
	}
	return nil
}

// demandAt is the demand at t: the step's value (a step function).
func (c *Config) demandAt(t time.Time) float64 {
	i := int(t.Sub(c.Start) / c.Step)
	if i < 0 {
		i = 0
	}
	if i >= len(c.Demand) {
		i = len(c.Demand) - 1
	}
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
	fleet := fake.NewFleet(clk)
	fleet.Market = cfg.Market
	fleet.Zones = []string{"zone-a", "zone-b"}
	span := cfg.BootMax - cfg.BootMin
	fleet.BootDelayFunc = func() time.Duration {
		if span <= 0 {
			return cfg.BootMin
		}
		return cfg.BootMin + time.Duration(rng.Int64N(int64(span)+1))
	}
	nodes := fake.NewNodes(clk, fleet)
	store := fake.NewStore(clk)
	m := &model{cfg: &cfg, clk: clk, fleet: fleet, nodes: nodes}
	metrics := &fake.Metrics{Func: m.snapshot}

	ac := cfg.Autoscaler
	ac.ClusterID = "sim"
	ac.Owner = "sim"
	ac.Metrics, ac.Locker, ac.State, ac.Fleet, ac.Nodes, ac.Clock = metrics, store, store, fleet, nodes, clk
	if cfg.Mode == ModeDaemon {
		ac.Interval = 15 * time.Second
	}
	as, err := autoscaler.New(ac)
	if err != nil {
		return Report{}, fmt.Errorf("sim: %w", err)
	}
	init := cfg.InitialNodes
	if init == 0 {
		init = ac.MinNodes
	}
	if init > 0 {
		if _, err := fleet.Launch(ctx, autoscaler.LaunchRequest{OperationID: "initial", Count: init}); err != nil {
			return Report{}, fmt.Errorf("sim: initial fleet: %w", err)
		}
	}
	clk.SetTime(cfg.Start)

	rep := Report{Mode: cfg.Mode, Start: cfg.Start}
	end := cfg.Start.Add(time.Duration(len(cfg.Demand)) * cfg.Step)
	rep.End = end
	lastTick := time.Time{}
	var surgeStart time.Time
	res := cfg.Resolution
	for now := cfg.Start; now.Before(end); now = now.Add(res) {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		clk.SetTime(now)
		m.observe(ctx)
		due := lastTick.IsZero() || now.Sub(lastTick) >= ac.Interval
		if cfg.Mode == ModeDaemon && m.pending > 0 && now.Sub(lastTick) >= res {
			due = true
		}
		if due {
			r, err := as.RunOnce(ctx)
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
			if cfg.OnResult != nil {
				cfg.OnResult(r)
			}
			m.observe(ctx)
		}
		// Account this resolution step.
		mins := res.Minutes()
		rep.DemandPodMinutes += m.demand * mins
		rep.UnservedPodMinutes += m.pending * mins
		rep.NodeSeconds += float64(m.instances) * res.Seconds()
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
				ReadyNodes: m.ready, Instances: m.instances, Pending: m.pending})
		}
	}
	if !surgeStart.IsZero() {
		rep.TimeToCapacity = append(rep.TimeToCapacity, end.Sub(surgeStart))
	}
	clk.SetTime(end)
	rep.CostUSD = cost(fleet.Lifetimes(), end, cfg)
	rep.Launched, rep.Terminated = fleet.Counts()
	rep.Launched -= init
	return rep, nil
}

// model turns the fleet's Ready nodes and the demand into metrics.
type model struct {
	cfg   *Config
	clk   *clocktesting.FakeClock
	fleet *fake.Fleet
	nodes *fake.Nodes

	demand, pending float64
	ready           int
	instances       int
	cpu, mem        float64
}

func (m *model) observe(ctx context.Context) {
	now := m.clk.Now()
	m.demand = m.cfg.demandAt(now)
	ns, _ := m.nodes.ListNodes(ctx)
	live, _ := m.fleet.List(ctx)
	alive := make(map[string]bool, len(live))
	for _, in := range live {
		alive[in.ID] = true
	}
	m.instances = len(live)
	m.ready = 0
	for _, n := range ns {
		if n.Ready && !n.Unschedulable && alive[n.InstanceID] {
			m.ready++
		}
	}
	capacity := float64(m.ready) * m.cfg.PodsPerNode
	served := math.Min(m.demand, capacity)
	m.pending = math.Ceil(m.demand - served)
	if m.pending < 0 {
		m.pending = 0
	}
	if capacity > 0 {
		m.cpu = 100 * served / capacity
	} else {
		m.cpu = 0
	}
	// Memory: a base of system use plus what the pods hold.
	m.mem = 20 + 0.6*m.cpu
}

func (m *model) snapshot(ctx context.Context) (autoscaler.Snapshot, error) {
	now := m.clk.Now()
	m.observe(ctx)
	return autoscaler.Snapshot{
		Time:        now,
		CPU:         autoscaler.Value(m.cpu, now),
		Memory:      autoscaler.Value(m.mem, now),
		PendingPods: autoscaler.Value(m.pending, now),
	}, nil
}

// cost bills every instance per second from launch to termination (or
// end), with a 60-second minimum.
func cost(lives []fake.Lifetime, end time.Time, cfg Config) float64 {
	total := 0.0
	for _, l := range lives {
		stop := l.End
		if stop.IsZero() || stop.After(end) {
			stop = end
		}
		start := l.Start
		if start.Before(cfg.Start) {
			start = cfg.Start
		}
		secs := math.Max(stop.Sub(start).Seconds(), 60)
		price := cfg.OnDemandPrice
		if l.Market == autoscaler.MarketSpot {
			price = cfg.SpotPrice
		}
		total += secs / 3600 * price
	}
	return total
}

// StaticNodes is the size of a static fleet sized for the demand's peak.
func StaticNodes(cfg Config) int {
	peak := 0.0
	for _, d := range cfg.Demand {
		peak = math.Max(peak, d)
	}
	return int(math.Ceil(peak / cfg.PodsPerNode))
}

// StaticCost is what a static fleet sized for the peak costs over the
// simulation, in the same market as the simulated fleet.
func StaticCost(cfg Config) float64 {
	if err := cfg.defaults(); err != nil {
		return 0
	}
	price := cfg.OnDemandPrice
	if cfg.Market == autoscaler.MarketSpot {
		price = cfg.SpotPrice
	}
	hours := (time.Duration(len(cfg.Demand)) * cfg.Step).Hours()
	return float64(StaticNodes(cfg)) * hours * price
}

// Percentile returns the p-th percentile (0-100) of ds by nearest rank;
// 0 when ds is empty.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
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
