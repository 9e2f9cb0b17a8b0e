package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/node-fleet/node-fleet/sim"
)

// poolFleets are the fleets -pools names: one instance type in two
// zones, and the ten types of sim.PoolTypes in two or three zones.
var poolFleets = []struct {
	name, about string
	pools       func() sim.Pools
}{
	{"one-type", "t3.medium in 2 zones (2 spot pools)", sim.OneTypePools},
	{"diversified-2z", "10 types in 2 zones (20 spot pools)", func() sim.Pools { return sim.DiversifiedPools(2) }},
	{"diversified-3z", "10 types in 3 zones (30 spot pools)", func() sim.Pools { return sim.DiversifiedPools(3) }},
}

// poolNames lists -pools's values.
func poolNames() string {
	var n []string
	for _, f := range poolFleets {
		n = append(n, f.name)
	}
	return strings.Join(append(n, "compare"), ", ")
}

// poolsFor is the pool model -pools names with the shortage flags'
// processes; ok is false for "" (no pool model).
func poolsFor(o options, name string) (sim.Pools, bool, error) {
	if name == "" {
		return sim.Pools{}, false, nil
	}
	for _, f := range poolFleets {
		if f.name == name {
			p := f.pools()
			p.Spot = sim.Shortage{PerDay: o.spotPerDay, Mean: o.spotMean}
			p.OnDemand = sim.Shortage{PerDay: o.odPerDay, Mean: o.odMean}
			return p, true, nil
		}
	}
	return sim.Pools{}, false, fmt.Errorf("-pools must be one of %s, got %q", poolNames(), name)
}

// comparePools runs -policy in -mode with every fleet of poolFleets under
// four shortage settings (none, to show what the price table alone does;
// the shortage flags' processes; a harsher spot market,
// sim.HarshSpotShortage; and that with on-demand as short as default
// spot) and prints a Markdown table; with -seeds n each row is the mean
// of n runs (seeds -seed to -seed+n-1), with the cost's range.
func comparePools(ctx context.Context, o options, in input, out, errOut io.Writer) error {
	flagOD := sim.Shortage{PerDay: o.odPerDay, Mean: o.odMean}
	shortages := []struct {
		name     string
		spot, od sim.Shortage
	}{
		{"none", sim.Shortage{}, sim.Shortage{}},
		{"default", sim.Shortage{PerDay: o.spotPerDay, Mean: o.spotMean}, flagOD},
		{"harsh spot", sim.HarshSpotShortage, flagOD},
		{"harsh spot, short on-demand", sim.HarshSpotShortage, sim.Shortage{PerDay: o.spotPerDay, Mean: o.spotMean}},
	}
	short := func(s sim.Shortage) string {
		if s.PerDay == 0 {
			return "never"
		}
		return fmt.Sprintf("%.3g/day × %s (%.1f%%)", s.PerDay, s.Mean, 100*s.ShortFraction())
	}
	seeds := max(o.seeds, 1)
	fmt.Fprintf(out, "%s, %s to %s, policy %s, %s mode, seeds %d to %d (each row the mean of %d runs)\n\n", in.Name, in.Start.Format("2006-01-02"),
		in.Start.Add(time.Duration(len(in.Units))*in.Step).Format("2006-01-02"), o.policy, o.mode, o.seed, o.seed+uint64(seeds)-1, seeds)
	fmt.Fprintln(out, "| shortages | spot pool short | on-demand pool short | fleet | cost (range) | unserved (unit-min) | unserved % | on-demand share | pool capacity errors | instances no pool had | ticks short of capacity | launched (spot / on-demand) |")
	fmt.Fprintln(out, "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, sh := range shortages {
		for _, f := range poolFleets {
			var sum sim.Report
			lo, hi := math.Inf(1), math.Inf(-1)
			for i := range seeds {
				o := o
				o.pools = f.name
				o.seed += uint64(i)
				cfg, err := simConfig(o, in, o.policy, sim.Mode(o.mode))
				if err != nil {
					return err
				}
				cfg.Pools.Spot, cfg.Pools.OnDemand = sh.spot, sh.od
				if o.progress {
					cfg.OnProgress = progressBar(errOut, fmt.Sprintf("%s %s seed %d", sh.name, f.name, o.seed))
				}
				rep, err := sim.Run(ctx, cfg)
				if err != nil {
					return fmt.Errorf("%s %s seed %d: %w", sh.name, f.name, o.seed, err)
				}
				lo, hi = math.Min(lo, rep.CostUSD), math.Max(hi, rep.CostUSD)
				sum.CostUSD += rep.CostUSD
				sum.UnservedPodMinutes += rep.UnservedPodMinutes
				sum.DemandPodMinutes += rep.DemandPodMinutes
				sum.OnDemandPct += rep.OnDemandPct
				sum.PoolErrors += rep.PoolErrors
				sum.Unplaced += rep.Unplaced
				sum.CapacityFailures += rep.CapacityFailures
				sum.SpotLaunched += rep.SpotLaunched
				sum.OnDemandLaunched += rep.OnDemandLaunched
			}
			n := float64(seeds)
			cost := fmt.Sprintf("$%.2f", sum.CostUSD/n)
			if seeds > 1 {
				cost += fmt.Sprintf(" ($%.2f-%.2f)", lo, hi)
			}
			fmt.Fprintf(out, "| %s | %s | %s | %s | %s | %.0f | %.3f%% | %.1f%% | %.0f | %.0f | %.0f | %.0f / %.0f |\n",
				sh.name, short(sh.spot), short(sh.od), f.about, cost, sum.UnservedPodMinutes/n, sum.UnservedPct(),
				sum.OnDemandPct/n, float64(sum.PoolErrors)/n, float64(sum.Unplaced)/n, float64(sum.CapacityFailures)/n,
				float64(sum.SpotLaunched)/n, float64(sum.OnDemandLaunched)/n)
		}
	}
	fmt.Fprintf(out, "\nshortages: per pool, independent, starts a day × mean length (share of the time short); a pool that failed is avoided for %s\n", sim.DefaultAvoidFor)
	m, err := o.clusterModel()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nmodel: %s\n", m)
	return nil
}
