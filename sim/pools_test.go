package sim

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
	"github.com/node-fleet/node-fleet/decision"
)

// testPools is two types in two zones whose pools are never short by
// their process: the tests set the shortages by hand.
func testPools() *Pools {
	return &Pools{Types: []PoolType{{"cheap", 0.04, 0.01}, {"dear", 0.08, 0.03}}, Zones: []string{"a", "b"}}
}

// setShort makes the named pools ("type/zone/market") short until
// further notice and every other pool not short.
func setShort(r *poolRun, short ...string) {
	for _, p := range r.pools {
		key := fmt.Sprintf("%s/%s/%s", r.cfg.Types[p.typ].Name, p.zone, p.market)
		p.short = false
		for _, s := range short {
			if s == key {
				p.short = true
			}
		}
	}
}

func TestPoolPlacement(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	spot, od := autoscaler.MarketSpot, autoscaler.MarketOnDemand
	place := func(typ, zone string, m autoscaler.Market, n int) []fake.Placement {
		var out []fake.Placement
		for range n {
			out = append(out, fake.Placement{Zone: zone, Market: m, InstanceType: typ})
		}
		return out
	}
	for _, tc := range []struct {
		name       string
		short      []string
		want       []fake.Placement
		wantErrors int
	}{
		{"the cheapest spot pool", nil, place("cheap", "a", spot, 3), 0},
		{"a short pool is skipped", []string{"cheap/a/spot"}, place("cheap", "b", spot, 3), 1},
		{"a short type is skipped", []string{"cheap/a/spot", "cheap/b/spot"}, place("dear", "a", spot, 3), 2},
		{"every spot pool short: on-demand",
			[]string{"cheap/a/spot", "cheap/b/spot", "dear/a/spot", "dear/b/spot"}, place("cheap", "a", od, 3), 4},
		{"on-demand short too: the next on-demand pool",
			[]string{"cheap/a/spot", "cheap/b/spot", "dear/a/spot", "dear/b/spot", "cheap/a/on-demand"}, place("cheap", "b", od, 3), 5},
		{"every pool short: nothing",
			[]string{"cheap/a/spot", "cheap/b/spot", "dear/a/spot", "dear/b/spot",
				"cheap/a/on-demand", "cheap/b/on-demand", "dear/a/on-demand", "dear/b/on-demand"}, nil, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newPoolRun(testPools(), 1, t0, func() time.Time { return t0 })
			setShort(r, tc.short...)
			got := r.place(autoscaler.LaunchRequest{OperationID: "op", Count: 3}, 3)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("placements (-want +got):\n%s", diff)
			}
			if r.errors != tc.wantErrors {
				t.Errorf("%d pool errors, want %d (one per short pool tried)", r.errors, tc.wantErrors)
			}
		})
	}
}

func TestFailedPoolIsAvoidedForThreeMinutes(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		after    time.Duration
		wantZone string
	}{
		{0, "b"},
		{time.Minute, "b"},
		{DefaultAvoidFor - time.Second, "b"},
		{DefaultAvoidFor, "a"},
	} {
		t.Run(tc.after.String(), func(t *testing.T) {
			now := t0
			r := newPoolRun(testPools(), 1, t0, func() time.Time { return now })
			setShort(r, "cheap/a/spot")
			r.place(autoscaler.LaunchRequest{OperationID: "first", Count: 1}, 1)
			// The pool has capacity again at once: only the memory of
			// its error keeps the next launch away.
			setShort(r)
			now = t0.Add(tc.after)
			got := r.place(autoscaler.LaunchRequest{OperationID: "second", Count: 1}, 1)
			want := []fake.Placement{{Zone: tc.wantZone, Market: autoscaler.MarketSpot, InstanceType: "cheap"}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s after the error (-want +got):\n%s", tc.after, diff)
			}
		})
	}
}

func TestShortageProcessKeepsItsRate(t *testing.T) {
	// A pool's share of short time comes out near the process's
	// stationary share, and does not depend on the other pools.
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := Shortage{PerDay: 4, Mean: 3 * time.Hour}
	one := &Pools{Types: []PoolType{{"x", 1, 1}}, Zones: []string{"a"}, Spot: s, OnDemand: s}
	more := &Pools{Types: []PoolType{{"w", 1, 1}, {"x", 1, 1}}, Zones: []string{"a", "b"}, Spot: s, OnDemand: s}
	r1 := newPoolRun(one, 7, t0, nil)
	r2 := newPoolRun(more, 7, t0, nil)
	find := func(r *poolRun) *pool {
		for _, p := range r.pools {
			if r.cfg.Types[p.typ].Name == "x" && p.zone == "a" && p.market == autoscaler.MarketSpot {
				return p
			}
		}
		t.Fatal("no pool x/a/spot")
		return nil
	}
	p1, p2 := find(r1), find(r2)
	short, n := 0, 0
	for now := t0; now.Before(t0.Add(2000 * 24 * time.Hour)); now = now.Add(5 * time.Minute) {
		a, b := p1.shortAt(now), p2.shortAt(now)
		if a != b {
			t.Fatalf("at %s the same pool is short %v in one run and %v in the other", now, a, b)
		}
		if a {
			short++
		}
		n++
	}
	got, want := float64(short)/float64(n), s.ShortFraction()
	if got < want*0.9 || got > want*1.1 {
		t.Errorf("short %.3f of the time, want about %.3f", got, want)
	}
}

func TestDiversifiedFleetNeverLeavesMoreUnserved(t *testing.T) {
	// Hard shortages in both markets, so that one type in two zones
	// runs out of every pool now and then; the diversified fleet holds
	// the same two pools with the same shortages, and twenty more.
	hard := Shortage{PerDay: 24, Mean: 2 * time.Hour} // short 2/3 of the time
	start, demand := SyntheticDay(time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC))
	run := func(p Pools, seed uint64) Report {
		t.Helper()
		p.Spot, p.OnDemand = hard, hard
		ac := autoscaler.DefaultConfig()
		ac.Policy = decision.Default()
		ac.MaxNodes = 40
		// Only the pools are random: no interruptions (they hit spot
		// instances only, so the two fleets would draw them
		// differently), ghosts, noise or spread of boot times, so that
		// the runs differ by the pools alone.
		m := DefaultModel()
		m.LaunchFailureRate, m.InterruptionRate, m.GhostShare, m.Noise = 0, 0, 0, 0
		m.BootP99 = m.BootMedian
		rep, err := Run(context.Background(), Config{Start: start, Step: time.Minute, Demand: demand, PodsPerNode: 10,
			Autoscaler: ac, Model: &m, Pools: &p, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	bit := 0
	for _, seed := range []uint64{1, 2, 3} {
		one, div := run(OneTypePools(), seed), run(DiversifiedPools(2), seed)
		if one.Unplaced > 0 {
			bit++
		}
		if div.UnservedPodMinutes > one.UnservedPodMinutes {
			t.Errorf("seed %d: diversified left %.1f unit-minutes unserved, one type %.1f", seed, div.UnservedPodMinutes, one.UnservedPodMinutes)
		}
		if div.Unplaced > one.Unplaced || div.OnDemandPct > one.OnDemandPct {
			t.Errorf("seed %d: diversified %d unplaced, %.1f%% on-demand; one type %d, %.1f%%", seed, div.Unplaced, div.OnDemandPct, one.Unplaced, one.OnDemandPct)
		}
		t.Logf("seed %d: unserved %.1f against %.1f unit-minutes, unplaced %d against %d, on-demand %.1f%% against %.1f%% (diversified against one type)",
			seed, div.UnservedPodMinutes, one.UnservedPodMinutes, div.Unplaced, one.Unplaced, div.OnDemandPct, one.OnDemandPct)
	}
	if bit == 0 {
		t.Fatal("one type never ran out of pools: the test shows nothing")
	}
}

func TestPoolsConfigErrors(t *testing.T) {
	start, demand := SyntheticDay(time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC))
	for _, p := range []Pools{
		{},
		{Types: []PoolType{{"x", 1, 1}, {"x", 1, 1}}, Zones: []string{"a"}},
		{Types: []PoolType{{"x", 1, 1}}, Zones: []string{"a"}, Spot: Shortage{PerDay: 1}},
	} {
		ac := autoscaler.DefaultConfig()
		ac.Policy = decision.Default()
		if _, err := Run(context.Background(), Config{Start: start, Step: time.Minute, Demand: demand, PodsPerNode: 10, Autoscaler: ac, Pools: &p}); err == nil {
			t.Errorf("Pools %+v: no error", p)
		}
	}
}
