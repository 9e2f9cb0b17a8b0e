package sim

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
)

// PoolType is an instance type the pool model may launch, with its
// prices in USD per hour (the same in every zone).
type PoolType struct {
	// Name is the instance type ("t3.medium").
	Name string
	// OnDemandPrice and SpotPrice are USD per instance-hour.
	OnDemandPrice, SpotPrice float64
}

// Shortage is a capacity pool's on/off process of shortages: while the
// pool has capacity, shortages begin as a Poisson process of PerDay a
// day; each lasts an exponentially distributed time of mean Mean. A
// pool is short PerDay·Mean/(1+PerDay·Mean) of the time (Mean in days).
type Shortage struct {
	// PerDay is how many shortages begin per day of capacity; 0: never.
	PerDay float64
	// Mean is a shortage's mean length.
	Mean time.Duration
}

// ShortFraction is the long-run share (0-1) of the time a pool is short.
func (s Shortage) ShortFraction() float64 {
	x := s.PerDay * s.Mean.Hours() / 24
	return x / (1 + x)
}

// Pools is the pool model: a launch draws from capacity pools, one per
// instance type × zone × market, each short now and then by its own
// Shortage process, independent of every other pool's. A launch asks for
// spot for every instance (spot first) and takes it as EC2 Fleet's
// price-capacity-optimized strategy does with all-or-nothing pools: the
// lowest-priced spot pool that has capacity, where a pool has either
// room for the whole launch or none; when every spot pool is short it
// falls back to on-demand, lowest price first (EC2 Fleet's lowest-price
// on-demand strategy); when those are short too the launch falls short
// (ErrInsufficientCapacity). Every short pool a launch tries (the pools
// cheaper than the one that served it) answers with a capacity error
// and is avoided by later launches for AvoidFor, as ec2fleet remembers
// failed pools. Instances are billed at their pool's price.
//
// The default shortage rates are assumptions, not measurements (AWS
// publishes no shortage rates per pool); see docs/fleet-diversity.md.
type Pools struct {
	// Types are the instance types allowed, interchangeable (each is one
	// Model.Template worker).
	Types []PoolType
	// Zones are the availability zones (subnets) allowed.
	Zones []string
	// Spot and OnDemand are every pool's shortage process in that market.
	Spot, OnDemand Shortage
	// AvoidFor is how long a pool that answered with a capacity error is
	// avoided; default ec2fleet.DefaultAvoidFor's 3 minutes.
	AvoidFor time.Duration
}

// DefaultAvoidFor is Pools.AvoidFor's default, ec2fleet's (and
// Karpenter's unavailable-offerings cache's) 3 minutes.
const DefaultAvoidFor = 3 * time.Minute

// PoolTypes is the price table of the pool model: ten interchangeable
// x86 types of 2 vCPU and 4 GiB (t2, t3 and t3a medium; c5, c5a, c5d,
// c6i, c6a, c7i and c7a large), cheapest spot first. On-demand prices
// are us-east-1 Linux list prices as we know them (to be checked
// against the AWS price list before quoting); spot prices are an
// assumption of a typical price (spot prices move with supply and differ
// by zone): t3.medium's is the simulator's default SpotPrice.
var PoolTypes = []PoolType{
	{"t3a.medium", 0.0376, 0.0120},
	{"t3.medium", 0.0416, 0.0125},
	{"t2.medium", 0.0464, 0.0139},
	{"c6a.large", 0.0765, 0.0290},
	{"c5a.large", 0.0770, 0.0300},
	{"c6i.large", 0.0850, 0.0320},
	{"c5.large", 0.0850, 0.0330},
	{"c7i.large", 0.08925, 0.0340},
	{"c5d.large", 0.0960, 0.0360},
	{"c7a.large", 0.10264, 0.0380},
}

// DefaultSpotShortage and DefaultOnDemandShortage are the pool model's
// assumed shortage processes: a spot pool is short about once a day for
// two hours on average (7.7% of the time), an on-demand pool about once
// a week for an hour (0.6%). HarshSpotShortage is a harder spot market
// for the sensitivity rows: three a day of two hours (20%).
var (
	DefaultSpotShortage     = Shortage{PerDay: 1, Mean: 2 * time.Hour}
	DefaultOnDemandShortage = Shortage{PerDay: 1.0 / 7, Mean: time.Hour}
	HarshSpotShortage       = Shortage{PerDay: 3, Mean: 2 * time.Hour}
)

// OneTypePools is the original design's fleet: t3.medium in two zones
// (two spot pools, two on-demand pools), with the default shortages.
func OneTypePools() Pools {
	i := slices.IndexFunc(PoolTypes, func(t PoolType) bool { return t.Name == "t3.medium" })
	return Pools{Types: []PoolType{PoolTypes[i]}, Zones: []string{"zone-a", "zone-b"},
		Spot: DefaultSpotShortage, OnDemand: DefaultOnDemandShortage}
}

// DiversifiedPools is the fleet of issue 12: every type of PoolTypes in
// zones zones (2 or 3: 20 or 30 spot pools), with the default shortages.
// Its first zones are OneTypePools's, so the pools the two share have the
// same shortages in a run of the same seed.
func DiversifiedPools(zones int) Pools {
	zs := []string{"zone-a", "zone-b", "zone-c", "zone-d", "zone-e", "zone-f"}
	return Pools{Types: slices.Clone(PoolTypes), Zones: zs[:min(max(zones, 1), len(zs))],
		Spot: DefaultSpotShortage, OnDemand: DefaultOnDemandShortage}
}

// check validates p.
func (p *Pools) check() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("Pools."+format, args...)) }
	if len(p.Types) == 0 || len(p.Zones) == 0 {
		bad("Types and Zones must not be empty (%d types, %d zones)", len(p.Types), len(p.Zones))
	}
	seen := map[string]bool{}
	for i, t := range p.Types {
		if t.Name == "" || seen[t.Name] || !(t.OnDemandPrice >= 0) || !(t.SpotPrice >= 0) {
			bad("Types[%d] %q: want a unique name and prices of 0 or more", i, t.Name)
		}
		seen[t.Name] = true
	}
	for _, s := range []struct {
		name string
		s    Shortage
	}{{"Spot", p.Spot}, {"OnDemand", p.OnDemand}} {
		if !(s.s.PerDay >= 0) || math.IsInf(s.s.PerDay, 0) || (s.s.PerDay > 0 && s.s.Mean <= 0) {
			bad("%s: PerDay must be 0 or more and Mean positive when it is not 0, got %v and %s", s.name, s.s.PerDay, s.s.Mean)
		}
	}
	if p.AvoidFor < 0 {
		bad("AvoidFor must not be negative, got %s", p.AvoidFor)
	}
	return errs
}

// pool is one capacity pool's state in a run.
type pool struct {
	typ        int
	zone       string
	market     autoscaler.Market
	proc       Shortage
	rng        *rand.Rand
	short      bool
	flip       time.Time // when short changes next
	avoidUntil time.Time
}

// shortAt reports whether the pool is short at now; now must not go back.
// The process depends on the pool's own random stream only, never on the
// launches.
func (p *pool) shortAt(now time.Time) bool {
	for !now.Before(p.flip) {
		p.short = !p.short
		p.flip = p.flip.Add(p.draw())
	}
	return p.short
}

// draw is how long the pool's current state lasts.
func (p *pool) draw() time.Duration {
	if p.proc.PerDay <= 0 {
		return 1 << 62
	}
	mean := float64(p.proc.Mean)
	if !p.short {
		mean = float64(24*time.Hour) / p.proc.PerDay
	}
	return max(time.Duration(p.rng.ExpFloat64()*mean), time.Nanosecond)
}

// poolRun is the pool model in one run: the fake fleet's Placer.
type poolRun struct {
	cfg   *Pools
	now   func() time.Time
	pools []*pool
	spot  []*pool // by spot price, then type and zone order
	od    []*pool // by on-demand price
	// What the launches met: pool capacity errors, instances placed per
	// market, instances asked for that no pool had.
	errors, spotPlaced, odPlaced, unplaced int
}

// newPoolRun starts every pool's process at start, in its stationary
// state, from a random stream of its own (seed and the pool's name), so
// that a pool has the same shortages in every run of the same seed
// whatever the other pools are.
func newPoolRun(cfg *Pools, seed uint64, start time.Time, now func() time.Time) *poolRun {
	r := &poolRun{cfg: cfg, now: now}
	for ti, t := range cfg.Types {
		for _, z := range cfg.Zones {
			for _, mkt := range []autoscaler.Market{autoscaler.MarketSpot, autoscaler.MarketOnDemand} {
				h := fnv.New64a()
				fmt.Fprintf(h, "%s/%s/%s", t.Name, z, mkt)
				k := h.Sum64()
				p := &pool{typ: ti, zone: z, market: mkt, proc: cfg.Spot, rng: rand.New(rand.NewPCG(seed^k, k))}
				if mkt == autoscaler.MarketOnDemand {
					p.proc = cfg.OnDemand
				}
				p.short = p.proc.PerDay > 0 && p.rng.Float64() < p.proc.ShortFraction()
				// Exponential lengths are memoryless: the rest of the
				// current state is a fresh draw.
				p.flip = start.Add(p.draw())
				r.pools = append(r.pools, p)
				if mkt == autoscaler.MarketSpot {
					r.spot = append(r.spot, p)
				} else {
					r.od = append(r.od, p)
				}
			}
		}
	}
	price := func(p *pool) float64 {
		if p.market == autoscaler.MarketSpot {
			return cfg.Types[p.typ].SpotPrice
		}
		return cfg.Types[p.typ].OnDemandPrice
	}
	byPrice := func(a, b *pool) int { return cmp.Compare(price(a), price(b)) }
	slices.SortStableFunc(r.spot, byPrice)
	slices.SortStableFunc(r.od, byPrice)
	return r
}

// avoidFor is the configured AvoidFor or its default.
func (r *poolRun) avoidFor() time.Duration {
	if r.cfg.AvoidFor > 0 {
		return r.cfg.AvoidFor
	}
	return DefaultAvoidFor
}

// place is the fake fleet's Placer: n instances from the cheapest spot
// pool with capacity, else the cheapest on-demand pool with capacity;
// every short pool tried on the way is avoided for AvoidFor.
func (r *poolRun) place(_ autoscaler.LaunchRequest, n int) []fake.Placement {
	now := r.now()
	for _, order := range [][]*pool{r.spot, r.od} {
		for _, p := range order {
			if now.Before(p.avoidUntil) {
				continue
			}
			if p.shortAt(now) {
				r.errors++
				p.avoidUntil = now.Add(r.avoidFor())
				continue
			}
			out := make([]fake.Placement, n)
			for i := range out {
				out[i] = fake.Placement{Zone: p.zone, Market: p.market, InstanceType: r.cfg.Types[p.typ].Name}
			}
			if p.market == autoscaler.MarketSpot {
				r.spotPlaced += n
			} else {
				r.odPlaced += n
			}
			return out
		}
	}
	r.unplaced += n
	return nil
}

// price is the hourly price of an instance of the run: its pool's, or
// fallback for an instance of a type the pools do not list (the initial
// fleet, launched before the pools apply).
func (r *poolRun) price(l fake.Lifetime, fallback float64) float64 {
	for _, t := range r.cfg.Types {
		if t.Name == l.InstanceType {
			if l.Market == autoscaler.MarketOnDemand {
				return t.OnDemandPrice
			}
			return t.SpotPrice
		}
	}
	return fallback
}
