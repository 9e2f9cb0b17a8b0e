// Command simulate runs the autoscaler against in-memory parts on a fake
// clock through a day of synthetic e-commerce traffic (a diurnal curve and a
// flash sale at 20:00), printing every scaling decision and a summary. It
// needs no network and no files:
//
//	go run ./examples/simulate
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/decision"
	"github.com/node-fleet/node-fleet/internal/sim"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "simulate:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(out)
	mode := fs.String("mode", "lambda", "how the autoscaler runs: lambda (tick every 2 minutes) or daemon (every 15 seconds and when pods go pending)")
	podsPerNode := fs.Float64("pods-per-node", 10, "pods one node serves")
	seed := fs.Uint64("seed", 1, "seed for the boot-time draws")
	quiet := fs.Bool("quiet", false, "print only the summary")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	start, demand := sim.SyntheticDay(time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC))
	ac := autoscaler.DefaultConfig()
	ac.Policy = decision.Default()
	cfg := sim.Config{
		Start: start, Step: time.Minute, Demand: demand, PodsPerNode: *podsPerNode,
		Mode: sim.Mode(*mode), Seed: *seed, Autoscaler: ac,
		OnResult: func(r autoscaler.Result) {
			if *quiet || (r.Outcome == autoscaler.OutcomeHeld && !r.SafetyMode && len(r.Ghosts) == 0) {
				return
			}
			fmt.Fprintf(out, "%s  %-11s %s\n", r.Time.Format("15:04:05"), r.Outcome, r.Reason)
		},
	}
	began := time.Now()
	rep, err := sim.Run(ctx, cfg)
	if err != nil {
		return err
	}
	static := sim.StaticCost(cfg)
	fmt.Fprintf(out, "\nsummary: %s to %s, %s mode, policy %q, %d ticks (simulated in %s)\n",
		rep.Start.Format("2006-01-02 15:04"), rep.End.Format("2006-01-02 15:04"), rep.Mode, "threshold (original design)", rep.Ticks, time.Since(began).Round(time.Millisecond))
	fmt.Fprintf(out, "  fleet cost          $%.2f (spot $%.4f/h), peak %d nodes\n", rep.CostUSD, 0.0125, rep.PeakNodes)
	fmt.Fprintf(out, "  static fleet        $%.2f (%d nodes sized for the peak)\n", static, sim.StaticNodes(cfg))
	if static > 0 {
		fmt.Fprintf(out, "  savings             %.1f%%\n", 100*(1-rep.CostUSD/static))
	}
	fmt.Fprintf(out, "  unserved demand     %.0f pod-minutes (%.2f%% of %.0f)\n", rep.UnservedPodMinutes, rep.UnservedPct(), rep.DemandPodMinutes)
	fmt.Fprintf(out, "  scale-ups/downs     %d / %d (%d launched, %d terminated)\n", rep.ScaleUps, rep.ScaleDowns, rep.Launched, rep.Terminated)
	fmt.Fprintf(out, "  time to capacity    p50 %s, p95 %s over %d surges\n", sim.Percentile(rep.TimeToCapacity, 50), sim.Percentile(rep.TimeToCapacity, 95), len(rep.TimeToCapacity))
	return nil
}
