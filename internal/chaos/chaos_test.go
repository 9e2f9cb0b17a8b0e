package chaos

import (
	"context"
	"flag"
	"fmt"
	"sync"
	"testing"
	"time"
)

var (
	seedFlag = flag.Int64("chaos.seed", 0, "run only this seed (0: the fixed seeds)")
	daysFlag = flag.Float64("chaos.days", 0, "simulated days per seed (0: the default)")
)

// The fixed seeds: 20 seeds of 50 days, 1,000 simulated days in all.
const (
	seeds       = 20
	daysPerSeed = 50
)

// TestInvariantsUnderRandomFaults drives the real tick with random faults
// of every kind for 1,000 simulated days over fixed seeds and checks the
// invariants after every tick. A failure prints the seed and the ticks
// before it; rerun it alone with -chaos.seed=N.
func TestInvariantsUnderRandomFaults(t *testing.T) {
	list := make([]int64, 0, seeds)
	for i := int64(1); i <= seeds; i++ {
		list = append(list, i)
	}
	days := float64(daysPerSeed)
	if testing.Short() {
		days = 5
	}
	if *seedFlag != 0 {
		list = []int64{*seedFlag}
	}
	if *daysFlag != 0 {
		days = *daysFlag
	}
	var (
		mu     sync.Mutex
		total  float64
		ticks  int
		faults = map[string]int{}
	)
	t.Run("seeds", func(t *testing.T) {
		for _, seed := range list {
			t.Run(fmt.Sprint(seed), func(t *testing.T) {
				t.Parallel()
				rep := Run(context.Background(), Options{Seed: seed, Days: days})
				mu.Lock()
				total += rep.SimDays
				ticks += rep.Ticks
				for k, v := range rep.Faults {
					faults[k] += v
				}
				mu.Unlock()
				if err := rep.Err(); err != nil {
					t.Fatalf("%v\nrerun: go test ./internal/chaos -run TestInvariantsUnderRandomFaults -chaos.seed=%d -chaos.days=%g -v", err, seed, days)
				}
				if rep.Ticks == 0 || rep.Launched == 0 || rep.Terminated == 0 {
					t.Fatalf("seed %d: %d ticks, %d launched, %d terminated: the run exercised nothing", seed, rep.Ticks, rep.Launched, rep.Terminated)
				}
				t.Logf("seed %d: %.0f days, %d ticks %v, %d launched, %d terminated, below-min alerted %d, over-max alerted %d, scale-downs with pending pods taken for unhelpable %d, interruptions replaced in the notice %d of %d",
					seed, rep.SimDays, rep.Ticks, rep.Outcomes, rep.Launched, rep.Terminated, rep.BelowMinAlerted, rep.OverMaxAlerted, rep.KnownPendingScaleDown, rep.ReplacedInNotice, rep.InterruptionsDelivered)
			})
		}
	})
	t.Logf("%d seed(s), %.0f simulated days, %d ticks; faults injected: %v", len(list), total, ticks, faults)
	// Every kind of fault must have been tried, or the run proves less
	// than it says.
	for _, kind := range faultKinds {
		if faults[kind] == 0 && len(list) == seeds && !testing.Short() {
			t.Errorf("fault %q was never injected", kind)
		}
	}
}

// TestRunIsDeterministic: a seed replays the same run.
func TestRunIsDeterministic(t *testing.T) {
	a := Run(context.Background(), Options{Seed: 7, Days: 2})
	b := Run(context.Background(), Options{Seed: 7, Days: 2})
	if a.Ticks != b.Ticks || a.Launched != b.Launched || a.Terminated != b.Terminated || len(a.Violations) != len(b.Violations) {
		t.Fatalf("seed 7 twice: %d/%d ticks, %d/%d launched, %d/%d terminated, %d/%d violations",
			a.Ticks, b.Ticks, a.Launched, b.Launched, a.Terminated, b.Terminated, len(a.Violations), len(b.Violations))
	}
	if a.SimDays < 2-float64(time.Hour)/float64(24*time.Hour) {
		t.Fatalf("ran %.2f days, want 2", a.SimDays)
	}
}
