//go:build e2ereport

package e2e

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCompare runs the flash sale NODEFLEET_E2E_RUNS times (default 3) in
// each of NODEFLEET_E2E_MODES (default lambda, daemon, daemon+calendar,
// karpenter), each new worker NotReady for NODEFLEET_E2E_BOOT_DELAY after
// it registers (a duration, default 0), and writes the comparison to
// NODEFLEET_E2E_REPORT. It is built only with the tag e2ereport:
// scripts/e2e.sh runs it.
func TestCompare(t *testing.T) {
	out := os.Getenv("NODEFLEET_E2E_REPORT")
	if out == "" {
		t.Fatal("NODEFLEET_E2E_REPORT (the report's path) is required")
	}
	runs := 3
	if v := os.Getenv("NODEFLEET_E2E_RUNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("NODEFLEET_E2E_RUNS=%q: want a whole number above 0", v)
		}
		runs = n
	}
	modes := []Mode{ModeLambda, ModeDaemon, ModeCalendar, ModeKarpenter}
	if v := os.Getenv("NODEFLEET_E2E_MODES"); v != "" {
		modes = nil
		for m := range strings.SplitSeq(v, ",") {
			modes = append(modes, Mode(strings.TrimSpace(m)))
		}
	}
	var ready time.Duration
	if v := os.Getenv("NODEFLEET_E2E_BOOT_DELAY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			t.Fatalf("NODEFLEET_E2E_BOOT_DELAY=%q: want a duration such as 30s", v)
		}
		ready = d
	}
	cmd := "scripts/e2e.sh"
	if v := os.Getenv("NODEFLEET_E2E_COMMAND"); v != "" {
		cmd = v
	}
	start := time.Now()
	results := map[Mode][]*Result{}
	for i := 0; i < runs; i++ {
		for _, m := range modes {
			t.Run(string(m), func(t *testing.T) {
				res := Run(t, Options{Mode: m, ReadyDelay: ready, Logf: t.Logf})
				t.Logf("timeline:\n%s", Format(res.Timeline, res.Zero))
				t.Logf("measures: %+v", res.Measures)
				results[m] = append(results[m], res)
			})
		}
		// Written after every round: the medians of the runs so far.
		if err := os.WriteFile(out, []byte(Report(results, modes, cmd, time.Since(start))), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d of %d rounds)", out, i+1, runs)
	}
}
