package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/node-fleet/node-fleet/decision"
	"github.com/node-fleet/node-fleet/internal/sim"
)

// benchRows are the benchmark's rows after the static fleet: policy and
// mode.
var benchRows = []struct{ policy, mode string }{
	{"threshold", "lambda"},
	{"reactive", "lambda"},
	{"reactive30", "lambda"},
	{"predictive", "lambda"},
	{"predictive", "daemon"},
}

// compare runs the benchmark's rows on in and prints one table (or a JSON
// array), then the predictive policy's forecast error.
func compare(ctx context.Context, o options, in input, out, errOut io.Writer) error {
	var rows []summary
	var static summary
	for i, r := range benchRows {
		cfg, err := simConfig(o, in, r.policy, sim.Mode(r.mode))
		if err != nil {
			return err
		}
		if o.progress {
			cfg.OnProgress = progressBar(errOut, fmt.Sprintf("%d/%d %s %s", i+1, len(benchRows), r.policy, r.mode))
		}
		rep, err := sim.Run(ctx, cfg)
		if err != nil {
			return fmt.Errorf("%s %s: %w", r.policy, r.mode, err)
		}
		s := summarize(r.policy, rep)
		if i == 0 {
			// The static fleet: sized for the peak, never short (it
			// is up before the trace starts), billed for every second.
			static = summary{Policy: "static", Mode: "-", Start: s.Start, End: s.End, CostUSD: rep.StaticCostUSD,
				StaticCostUSD: rep.StaticCostUSD, StaticNodes: rep.StaticNodes, OracleCostUSD: rep.OracleCostUSD,
				OracleRatio: rep.StaticCostUSD / rep.OracleCostUSD, DemandPodMinutes: rep.DemandPodMinutes, PeakNodes: rep.StaticNodes}
			rows = append(rows, static)
		}
		rows = append(rows, s)
	}
	if o.asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	cfg, err := simConfig(o, in, "threshold", sim.ModeLambda)
	if err != nil {
		return err
	}
	ac := cfg.Autoscaler
	fmt.Fprintf(out, "%s, %s to %s (UTC), step %s; the peak needs %d nodes of %g pods.\n",
		in.name, in.start.Format("2006-01-02 15:04"), in.start.Add(time.Duration(len(in.demand))*in.step).Format("2006-01-02 15:04"),
		in.step, static.StaticNodes, o.podsPerNode)
	fmt.Fprintf(out, "Model: boot-and-join %s-%s (uniform, seed %d), %s instances at $%g/h (on-demand $%g/h), per-second billing with a 60 s minimum, "+
		"%g spot interruptions per instance-hour, %g launch-failure chance per tick; lambda ticks every %s, daemon every %s and on pending pods. "+
		"Autoscaler: MinNodes %d, MaxNodes %d, scale-down cooldown %s, HistoryLimit %d (predictive in lambda mode %d).\n\n",
		cfg.BootMin, cfg.BootMax, o.seed, cfg.Market, cfg.SpotPrice, cfg.OnDemandPrice, o.interruptions, o.launchFailures,
		sim.ModeLambda.Interval(), sim.ModeDaemon.Interval(), ac.MinNodes, ac.MaxNodes, ac.ScaleDownCooldown, ac.HistoryLimit, sim.HistoryLimit("predictive", sim.ModeLambda))
	fmt.Fprintln(out, "| policy | mode | cost $ | static $ | oracle $ | cost/oracle | savings % | unserved pod-min | unserved % | scale-ups | scale-downs | surges | p50 ttc s | p95 ttc s |")
	fmt.Fprintln(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, s := range rows {
		// Without a surge there is no time to capacity to report.
		p50, p95 := "-", "-"
		if s.Surges > 0 {
			p50, p95 = fmt.Sprintf("%.0f", s.P50TimeToCapacityS), fmt.Sprintf("%.0f", s.P95TimeToCapacityS)
		}
		fmt.Fprintf(out, "| %s | %s | %.2f | %.2f | %.2f | %.2f | %.1f | %.0f | %.3f | %d | %d | %d | %s | %s |\n",
			s.Policy, s.Mode, s.CostUSD, s.StaticCostUSD, s.OracleCostUSD, s.OracleRatio, s.SavingsPct,
			s.UnservedPodMinutes, s.UnservedPct, s.ScaleUps, s.ScaleDowns, s.Surges, p50, p95)
	}
	fmt.Fprintln(out)
	for _, mode := range []sim.Mode{sim.ModeLambda, sim.ModeDaemon} {
		spec := sim.PolicySpec{Name: "predictive", PodsPerNode: o.podsPerNode, Mode: mode, Calendar: in.calendar}
		p, err := decision.NewPredictive(decision.PredictiveConfig{PodsPerNode: o.podsPerNode, Lead: spec.Lead(), Calendar: in.calendar})
		if err != nil {
			return err
		}
		sc, err := sim.ScoreForecast(p, in.start, in.step, in.demand, mode.Interval(), sim.HistoryLimit("predictive", mode))
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "forecast error, %s mode (lead %s, every %s): MAPE %.1f%% (naive \"as now\" %.1f%%) over %d forecasts; capacity target covered the lead time's peak %.1f%% of the time\n",
			mode, spec.Lead(), mode.Interval(), sc.MAPE, sc.NaiveMAPE, sc.Forecasts, 100*sc.Covered)
	}
	return nil
}
