package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/node-fleet/node-fleet/internal/sim"
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
// spot) and prints a Markdown table.
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
	fmt.Fprintf(out, "%s, %s to %s, policy %s, %s mode, seed %d\n\n", in.name, in.start.Format("2006-01-02"),
		in.start.Add(time.Duration(len(in.demand))*in.step).Format("2006-01-02"), o.policy, o.mode, o.seed)
	fmt.Fprintln(out, "| shortages | spot pool short | on-demand pool short | fleet | cost | unserved (unit-min) | unserved % | on-demand share | pool capacity errors | instances no pool had | ticks short of capacity | launched (spot / on-demand) |")
	fmt.Fprintln(out, "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, sh := range shortages {
		for _, f := range poolFleets {
			o := o
			o.pools = f.name
			cfg, err := simConfig(o, in, o.policy, sim.Mode(o.mode))
			if err != nil {
				return err
			}
			cfg.Pools.Spot, cfg.Pools.OnDemand = sh.spot, sh.od
			if o.progress {
				cfg.OnProgress = progressBar(errOut, sh.name+" "+f.name)
			}
			rep, err := sim.Run(ctx, cfg)
			if err != nil {
				return fmt.Errorf("%s %s: %w", sh.name, f.name, err)
			}
			fmt.Fprintf(out, "| %s | %s | %s | %s | $%.2f | %.0f | %.3f%% | %.1f%% | %d | %d | %d | %d / %d |\n",
				sh.name, short(sh.spot), short(sh.od), f.about, rep.CostUSD, rep.UnservedPodMinutes, rep.UnservedPct(),
				rep.OnDemandPct, rep.PoolErrors, rep.Unplaced, rep.CapacityFailures, rep.SpotLaunched, rep.OnDemandLaunched)
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
