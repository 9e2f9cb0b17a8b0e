package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/sim"
)

func TestDemoPrintsDecisionsAndSummary(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), nil, &out, &errOut, false); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"known event         flash sale 20:00 to 20:45", "a unit is a tenth of a worker's CPU", "unit-minute one unit unserved for a minute",
		"try next:", "-compare ", "-chart day.png", "scripts/fetch-traces.sh",
		"scaled_up", "pending pods", "scaled_down", "summary: built-in day", "fleet cost", "static fleet", "oracle", "unserved demand", "time to capacity"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if errOut.Len() != 0 {
		t.Errorf("stderr not empty without a terminal: %q", errOut.String())
	}
}

// writeTrace writes a small CSV trace of per-minute counts: a quiet hour,
// a surge to 10 times the load for half an hour, and a quiet half hour.
func writeTrace(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("period,count\n")
	for i := range 120 {
		v := 100
		if i >= 60 && i < 90 {
			v = 1000
		}
		fmt.Fprintf(&b, "2026-01-01 %02d:%02d:00,%d\n", i/60, i%60, v)
	}
	path := filepath.Join(t.TempDir(), "trace.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestJSONSummaryOfATrace(t *testing.T) {
	path := writeTrace(t)
	for _, policy := range []string{"threshold", "reactive", "predictive"} {
		var out bytes.Buffer
		args := []string{"-trace", path, "-from", "2026-01-01 00:30:00", "-to", "2026-01-01 02:00", "-policy", policy, "-peak-nodes", "5", "-json"}
		if err := run(context.Background(), args, &out, &bytes.Buffer{}, true); err != nil {
			t.Fatalf("%s: %v", policy, err)
		}
		var got map[string]any
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			t.Fatalf("%s: not one JSON object: %v\n%s", policy, err, out.String())
		}
		for _, k := range []string{"policy", "mode", "cost_usd", "static_cost_usd", "oracle_cost_usd", "savings_pct", "unserved_pod_minutes",
			"unserved_pct", "scale_ups", "scale_downs", "p95_time_to_capacity_s"} {
			if _, ok := got[k]; !ok {
				t.Errorf("%s: JSON lacks %q", policy, k)
			}
		}
		if got["policy"] != policy || got["mode"] != "lambda" {
			t.Errorf("policy/mode = %v/%v", got["policy"], got["mode"])
		}
		// 5 nodes at the peak for the 90 minutes of the window, at the
		// spot price.
		if want := 5 * 1.5 * 0.0125; got["static_cost_usd"].(float64) != want {
			t.Errorf("%s: static cost %v, want %v", policy, got["static_cost_usd"], want)
		}
		if got["scale_ups"].(float64) < 1 {
			t.Errorf("%s: the surge caused no scale-up: %v", policy, got)
		}
		if got["start"] != "2026-01-01T00:30:00Z" || got["end"] != "2026-01-01T02:00:00Z" {
			t.Errorf("%s: window %v to %v", policy, got["start"], got["end"])
		}
	}
}

func TestChartIsAPNG(t *testing.T) {
	png := filepath.Join(t.TempDir(), "out.png")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-trace", writeTrace(t), "-peak-nodes", "5", "-quiet", "-chart", png}, &out, &bytes.Buffer{}, false); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(png)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) || len(b) < 10_000 {
		t.Errorf("%s is not a drawn PNG (%d bytes)", png, len(b))
	}
}

func TestCompareTable(t *testing.T) {
	var out bytes.Buffer
	png := filepath.Join(t.TempDir(), "frontier.png")
	if err := run(context.Background(), []string{"-trace", writeTrace(t), "-peak-nodes", "5", "-compare", "-frontier", png}, &out, &bytes.Buffer{}, false); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"| static | - |", "| oracle | - |", "| threshold | lambda |", "| reactive | lambda |", "| predictive | lambda |", "| predictive | daemon |",
		"Model: a real cluster's lags", "forecast of the lead time's peak demand, lambda mode", "MASE", "| churn |", "| beyond static unit-min |",
		"| reactive | headroom | 0.3 |", "| predictive | scale-down window, minutes | 14 |"} {
		if !strings.Contains(s, want) {
			t.Errorf("table lacks %q:\n%s", want, s)
		}
	}
	b, err := os.ReadFile(png)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) || len(b) < 10_000 {
		t.Errorf("%s is not a drawn PNG (%d bytes)", png, len(b))
	}
}

// -forecast scores the forecaster alone on the input's demand, in both
// modes, without simulating: a line each, with the MASE beside naive's
// error and the coverage.
func TestForecastOnlyScoresTheDemandWithoutSimulating(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-forecast"}, &out, &bytes.Buffer{}, false); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"lambda mode (lead 7m0s, on the demand of ", "daemon mode (lead 7m0s, on the demand of ", "every 1m0s", "MASE ", "naive \"as now\"", "capacity covered the peak"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "summary:") || strings.Count(s, "\n") != 2 {
		t.Errorf("want the two forecast lines only:\n%s", s)
	}
}

// The old model without lags stays available for comparison.
func TestIdealModel(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-trace", writeTrace(t), "-peak-nodes", "5", "-quiet", "-model", "ideal"}, &out, &bytes.Buffer{}, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "the ideal model (-model ideal)") {
		t.Errorf("summary does not name the ideal model:\n%s", out.String())
	}
	if err := run(context.Background(), []string{"-model", "perfect"}, &bytes.Buffer{}, &bytes.Buffer{}, false); err == nil || !strings.Contains(err.Error(), "-model must be real or ideal") {
		t.Errorf("-model perfect: %v", err)
	}
}

func TestProgressBarOnlyOnATerminal(t *testing.T) {
	path := writeTrace(t)
	var errOut bytes.Buffer
	if err := run(context.Background(), []string{"-trace", path, "-quiet"}, &bytes.Buffer{}, &errOut, true); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut.String(), "100%") {
		t.Errorf("no progress bar on a terminal: %q", errOut.String())
	}
	errOut.Reset()
	if err := run(context.Background(), []string{"-trace", path, "-quiet"}, &bytes.Buffer{}, &errOut, false); err != nil {
		t.Fatal(err)
	}
	if errOut.Len() != 0 {
		t.Errorf("progress bar without a terminal: %q", errOut.String())
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte("timestamp,value\n2026-01-01 00:00:00,5\n2026-01-01 00:01:00,lots\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := writeTrace(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-mode", "cron"}, `-mode must be lambda or daemon, got "cron"`},
		{[]string{"-policy", "magic"}, `unknown policy "magic"`},
		{[]string{"extra"}, "unexpected arguments"},
		{[]string{"-from", "2026-01-01"}, "-from and -to select a window of a -trace"},
		{[]string{"-trace", filepath.Join(dir, "missing.csv")}, "missing.csv: no such file"},
		{[]string{"-trace", bad}, "bad.csv:3: count \"lots\""},
		{[]string{"-trace", good, "-from", "2027-01-01"}, "no data between 2027-01-01 00:00:00"},
		{[]string{"-trace", good, "-from", "yesterday"}, "-from: timestamp \"yesterday\""},
		{[]string{"-trace", good, "-from", "2026-01-01 01:00", "-to", "2026-01-01 00:30"}, "-to 2026-01-01 00:30 must be after -from"},
		{[]string{"-trace", filepath.Join(dir, "missing.csv")}, "scripts/fetch-traces.sh"},
		{[]string{"-trace", good, "-peak-nodes", "0"}, "-peak-nodes must be at least 1, got 0"},
		{[]string{"-peak-nodes", "0"}, "-peak-nodes works only with -trace"},
		{[]string{"-peak-nodes", "30"}, "-peak-nodes works only with -trace"},
		{[]string{"-max-nodes", "-3"}, "-max-nodes must be 0 (twice the peak's nodes, at least 10) or more, got -3"},
		{[]string{"-pods-per-node", "0"}, "-pods-per-node must be a positive number"},
		{[]string{"-seeds", "3"}, "-seeds works only with -pools compare"},
		{[]string{"-pools", "one-type", "-seeds", "3"}, "-seeds works only with -pools compare"},
		{[]string{"-pools", "compare", "-seeds", "0"}, "-seeds must be at least 1"},
		{[]string{"-frontier", "x.png"}, "-frontier works only with -compare"},
		{[]string{"-spot-shortages", "2"}, "-spot-shortages works only with -pools"},
		{[]string{"-pools", "one-type", "-od-shortages", "-1"}, "-od-shortages must be 0 or more"},
		{[]string{"-compare", "-chart", "x.png"}, "-chart draws one run"},
		{[]string{"-compare", "-policy", "reactive"}, "drop -policy and -mode"},
		{[]string{"-interruptions", "-1"}, "-interruptions must be 0 or more"},
		{[]string{"-launch-failures", "2"}, "-launch-failures must be a probability"},
	} {
		err := run(context.Background(), tt.args, &bytes.Buffer{}, &bytes.Buffer{}, false)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want it to contain %q", tt.args, err, tt.want)
		}
	}
}

func TestPoolsCompareTable(t *testing.T) {
	path := writeTrace(t)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-trace", path, "-peak-nodes", "5", "-pools", "compare"}, &out, &bytes.Buffer{}, false); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, f := range poolFleets {
		if n := strings.Count(s, "| "+f.about+" |"); n != 4 {
			t.Errorf("%s: %d rows, want one per shortage setting (4):\n%s", f.name, n, s)
		}
	}
	var one bytes.Buffer
	if err := run(context.Background(), []string{"-trace", path, "-peak-nodes", "5", "-pools", "diversified-2z", "-quiet"}, &one, &bytes.Buffer{}, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(one.String(), "pools               diversified-2z:") {
		t.Errorf("a -pools run's summary lacks its pools line:\n%s", one.String())
	}
	for _, args := range [][]string{{"-pools", "many"}, {"-pools", "compare", "-compare"}, {"-pools", "one-type", "-spot-shortages", "1", "-spot-shortage-mean", "0s"}} {
		if err := run(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{}, false); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}

// A binary file given as -trace is refused in one line that does not
// echo it.
func TestBinaryTraceIsOneLineError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trace.csv.gz")
	if err := os.WriteFile(path, append([]byte("\x1f\x8b\x08\x00"), bytes.Repeat([]byte{0, 0xff, 7}, 500)...), 0o644); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), []string{"-trace", path}, &bytes.Buffer{}, &bytes.Buffer{}, false)
	if err == nil || !strings.Contains(err.Error(), "binary data; a trace is a text CSV file") || len(err.Error()) > 200 {
		t.Errorf("error %v, want one short line saying the file is not text", err)
	}
}

// -mode's help says what the simulation does: the daemon's ticks, when no
// pod goes pending, are DaemonInterval apart, and the help names it.
func TestModeHelpStatesTheTickIntervals(t *testing.T) {
	var help bytes.Buffer
	if err := run(context.Background(), []string{"-h"}, &bytes.Buffer{}, &help, false); err == nil {
		t.Fatal("-h: no flag.ErrHelp")
	}
	d := sim.Demand{Name: "flat", Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Step: time.Minute, Units: make([]float64, 90)}
	for i := range d.Units {
		d.Units[i] = 20
	}
	for _, mode := range []sim.Mode{sim.ModeLambda, sim.ModeDaemon} {
		var ticks []time.Time
		cfg := sim.Config{Mode: mode, OnResult: func(r autoscaler.Result) { ticks = append(ticks, r.Time) }}
		hold := autoscaler.PolicyFunc(func(autoscaler.PolicyInput) autoscaler.Decision { return autoscaler.HoldBecause("flat") })
		if _, err := sim.Measure(context.Background(), d, hold, cfg); err != nil {
			t.Fatal(err)
		}
		gaps := map[time.Duration]int{}
		for i := 1; i < len(ticks); i++ {
			gaps[ticks[i].Sub(ticks[i-1])]++
		}
		var usual time.Duration
		for g, n := range gaps {
			if n > gaps[usual] {
				usual = g
			}
		}
		if usual != mode.Interval() {
			t.Errorf("%s: ticks mostly %s apart, the model says %s (gaps %v)", mode, usual, mode.Interval(), gaps)
		}
		if want := fmt.Sprintf("%s (a tick every %s", mode, usual); !strings.Contains(help.String(), want) {
			t.Errorf("-mode's help lacks %q:\n%s", want, help.String())
		}
	}
}

// -forecast runs no simulation and replays no history, so the flags that
// only a simulation or a replay reads are refused with it rather than
// ignored: -history would otherwise replay the history instead, in
// minutes, and -chart and -json would write nothing.
func TestForecastOnlyRefusesTheFlagsItWouldIgnore(t *testing.T) {
	for _, args := range [][]string{
		{"-history", filepath.Join(t.TempDir(), "week.csv")},
		{"-prometheus", "http://127.0.0.1:1"},
		{"-chart", "x.png"},
		{"-json"},
		{"-quiet"},
		{"-model", "ideal"},
		{"-seed", "2"},
		{"-interruptions", "0.1"},
		{"-launch-failures", "0.1"},
		{"-max-nodes", "30"},
		{"-market", "on-demand"},
	} {
		err := run(context.Background(), append([]string{"-forecast"}, args...), &bytes.Buffer{}, &bytes.Buffer{}, false)
		if err == nil || !strings.Contains(err.Error(), "-forecast") || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("-forecast %q: error %v, want one naming -forecast and %s", args, err, args[0])
		}
	}
}
