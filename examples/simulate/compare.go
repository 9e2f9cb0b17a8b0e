package main

import (
	"context"
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/decision"
	"github.com/node-fleet/node-fleet/sim"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// benchRows are the benchmark's rows after the static fleet and the
// oracle: the shipped policies at their defaults, in both modes.
var benchRows = []struct{ policy, mode string }{
	{decision.PolicyThreshold, "lambda"},
	{decision.PolicyReactive, "lambda"},
	{decision.PolicyPredictive, "lambda"},
	{decision.PolicyThreshold, "daemon"},
	{decision.PolicyReactive, "daemon"},
	{decision.PolicyPredictive, "daemon"},
}

// observed is the demand the predictive policy saw, tick by tick.
type observed struct {
	times []time.Time
	vals  []float64
	loadT []time.Time
	loadV []float64
}

// record returns an OnResult that keeps the scheduler's Demand and the
// load (decision.MetricLoad) of every tick that had them.
func (o *observed) record() func(autoscaler.Result) {
	return func(r autoscaler.Result) {
		if d, ok := r.Snapshot.Demand(); ok {
			o.times = append(o.times, r.Time)
			o.vals = append(o.vals, d)
		}
		if l, ok := r.Snapshot.Custom[decision.MetricLoad]; ok && l.OK {
			o.loadT = append(o.loadT, r.Time)
			o.loadV = append(o.loadV, l.Value)
		}
	}
}

// compare runs the benchmark's rows on in and prints one table (or a JSON
// array), then the predictive policy's forecast error against the naive
// forecast, and with -frontier the sweep and its chart.
func compare(ctx context.Context, o options, in input, out, errOut io.Writer) error {
	var rows []summary
	seen := map[string]*observed{}
	for i, r := range benchRows {
		cfg, err := simConfig(o, in, r.policy, sim.Mode(r.mode))
		if err != nil {
			return err
		}
		if o.progress {
			cfg.OnProgress = progressBar(errOut, fmt.Sprintf("%d/%d %s %s", i+1, len(benchRows), r.policy, r.mode))
		}
		if r.policy == decision.PolicyPredictive {
			seen[r.mode] = &observed{}
			cfg.OnResult = seen[r.mode].record()
		}
		rep, err := sim.Run(ctx, cfg)
		if err != nil {
			return fmt.Errorf("%s %s: %w", r.policy, r.mode, err)
		}
		s := summarize(r.policy, rep)
		if i == 0 {
			st, err := staticRun(ctx, cfg, rep)
			if err != nil {
				return err
			}
			// The oracle: the exact nodes each step, no boot time, no
			// lag, pods packed to 100%: a bound, not simulated.
			rows = append(rows, st,
				summary{Policy: "oracle", Mode: "-", Start: s.Start, End: s.End, CostUSD: rep.OracleCostUSD,
					StaticCostUSD: rep.StaticCostUSD, StaticNodes: rep.StaticNodes, OracleCostUSD: rep.OracleCostUSD,
					OracleRatio: 1, SavingsPct: 100 * (1 - rep.OracleCostUSD/rep.StaticCostUSD), DemandPodMinutes: rep.DemandPodMinutes})
		}
		rows = append(rows, s)
	}
	var sweep []sweepPoint
	if o.frontier != "" {
		var err error
		if sweep, err = frontier(ctx, o, in, errOut); err != nil {
			return err
		}
		if err := writeFrontier(o.frontier, in.Name, sweep); err != nil {
			return err
		}
	}
	if o.asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	cfg, err := simConfig(o, in, decision.PolicyThreshold, sim.ModeLambda)
	if err != nil {
		return err
	}
	ac := cfg.Autoscaler
	fmt.Fprintf(out, "%s, %s to %s (UTC), step %s; the peak needs %d nodes of %g demand units (seed %d).\n\n",
		in.Name, in.Start.Format("2006-01-02 15:04"), in.Start.Add(time.Duration(len(in.Units))*in.Step).Format("2006-01-02 15:04"),
		in.Step, rows[0].StaticNodes, o.podsPerNode, o.seed)
	fmt.Fprintf(out, "Model: %s. %s instances at $%g/h (on-demand $%g/h), per-second billing with a 60 s minimum. "+
		"Autoscaler: MinNodes %d, MaxNodes %d, scale-down cooldown %s, join timeout %s, HistoryLimit %d, LongHistory %s of %s means. "+
		"Policies as shipped (decision.Shipped, the programs' defaults)%s.\n\n",
		cfg.Model, cfg.Market, cfg.SpotPrice, cfg.OnDemandPrice,
		ac.MinNodes, ac.MaxNodes, ac.ScaleDownCooldown, ac.JoinTimeout, ac.HistoryLimit, ac.LongHistory, ac.LongHistoryStep, loadNote(o))
	// Unserved demand beyond the static fleet's: what the fleet's size
	// left, apart from the workload's own lags, which no node autoscaler
	// removes; and cost and that unserved demand against the reactive
	// policy's in the same mode.
	static := rows[0].UnservedPodMinutes
	reactive := map[string]summary{}
	for _, s := range rows {
		if s.Policy == decision.PolicyReactive {
			reactive[s.Mode] = s
		}
	}
	fmt.Fprintln(out, "| policy | mode | cost $ | cost/oracle | savings % | unserved unit-min | unserved % | beyond static unit-min | cost/reactive | beyond/reactive | scale-ups | scale-downs | churn | interruptions | ghosts | surges | p50 ttc s | p95 ttc s |")
	fmt.Fprintln(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, s := range rows {
		// Without a surge there is no time to capacity to report.
		p50, p95 := "-", "-"
		if s.Surges > 0 {
			p50, p95 = fmt.Sprintf("%.0f", s.P50TimeToCapacityS), fmt.Sprintf("%.0f", s.P95TimeToCapacityS)
		}
		beyond := max(0, s.UnservedPodMinutes-static)
		costR, beyondR := "-", "-"
		if r, ok := reactive[s.Mode]; ok {
			costR = fmt.Sprintf("%.2f", s.CostUSD/r.CostUSD)
			if rb := max(0, r.UnservedPodMinutes-static); rb > 0 {
				beyondR = fmt.Sprintf("%.2f", beyond/rb)
			}
		}
		fmt.Fprintf(out, "| %s | %s | %.2f | %.2f | %.1f | %.0f | %.3f | %.0f | %s | %s | %d | %d | %d | %d | %d | %d | %s | %s |\n",
			s.Policy, s.Mode, s.CostUSD, s.OracleRatio, s.SavingsPct,
			s.UnservedPodMinutes, s.UnservedPct, beyond, costR, beyondR, s.ScaleUps, s.ScaleDowns, s.Churn, s.Interruptions, s.Ghosts, s.Surges, p50, p95)
	}
	fmt.Fprintln(out)
	for _, mode := range []sim.Mode{sim.ModeLambda, sim.ModeDaemon} {
		p, err := decision.NewPredictive(decision.PredictiveConfig{Calendar: in.Calendar})
		if err != nil {
			return err
		}
		ob := seen[string(mode)]
		limit := sim.HistoryLimit(decision.PolicyPredictive, mode)
		if len(ob.loadT) > 0 {
			// What the policy forecasts when the load is recorded.
			f, err := decision.NewForecaster(decision.ForecasterConfig{Lead: p.Config().Lead, Target: p.Config().Target, Metric: decision.MetricLoad})
			if err != nil {
				return err
			}
			sc, err := sim.ScoreSeries(f, ob.loadT, ob.loadV, limit)
			if err != nil {
				return err
			}
			printScore(out, mode, p.Config().Lead, "load", fmt.Sprintf("the load the policy observed at its %d ticks", len(ob.loadT)), sc)
		}
		sc, err := sim.ScoreSeries(p.Forecaster(), ob.times, ob.vals, limit)
		if err != nil {
			return err
		}
		printScore(out, mode, p.Config().Lead, "demand", fmt.Sprintf("the demand the policy observed at its %d ticks", len(ob.times)), sc)
	}
	if len(sweep) > 0 {
		fmt.Fprintf(out, "\nFrontier (lambda mode, each shipped policy over its main setting; chart %s):\n\n", o.frontier)
		fmt.Fprintln(out, "| policy | setting | value | cost $ | cost/oracle | unserved % |")
		fmt.Fprintln(out, "|---|---|---:|---:|---:|---:|")
		for _, p := range sweep {
			fmt.Fprintf(out, "| %s | %s | %g | %.2f | %.2f | %.3f |\n", p.policy, p.setting, p.value, p.s.CostUSD, p.s.OracleRatio, p.s.UnservedPct)
		}
	}
	return nil
}

// staticRun simulates the static fleet: the nodes the peak needs, up
// before the start, never scaled (a policy that holds, MinNodes the
// fleet), under the same model as the policies, so that its unserved
// demand is the floor the workload's own lags (the HPA, pod starts,
// interruptions) leave whatever the fleet.
func staticRun(ctx context.Context, base sim.Config, policyRep sim.Report) (summary, error) {
	cfg := base
	cfg.OnProgress, cfg.OnResult = nil, nil
	n := policyRep.StaticNodes
	cfg.InitialNodes = n
	cfg.Autoscaler.MinNodes, cfg.Autoscaler.MaxNodes = n, max(n, cfg.Autoscaler.MaxNodes)
	cfg.Autoscaler.Policy = autoscaler.PolicyFunc(func(autoscaler.PolicyInput) autoscaler.Decision {
		return autoscaler.HoldBecause("static fleet")
	})
	rep, err := sim.Run(ctx, cfg)
	if err != nil {
		return summary{}, fmt.Errorf("static: %w", err)
	}
	s := summarize("static", rep)
	// Against the policies' oracle (MinNodes as theirs), not one with
	// the static fleet's floor.
	s.Mode, s.OracleCostUSD, s.OracleRatio = "-", policyRep.OracleCostUSD, rep.CostUSD/policyRep.OracleCostUSD
	return s, nil
}

// sweepPoint is one run of the frontier.
type sweepPoint struct {
	policy, setting string
	value           float64
	s               summary
}

// frontier runs each shipped policy in lambda mode over its main setting.
func frontier(ctx context.Context, o options, in input, errOut io.Writer) ([]sweepPoint, error) {
	var out []sweepPoint
	for _, policy := range decision.ShippedNames() {
		name, values := sim.MainSetting(policy)
		for _, v := range values {
			cfg, err := simConfigWith(o, in, sim.PolicySpec{Name: policy, Calendar: in.Calendar, Setting: &v}, sim.ModeLambda)
			if err != nil {
				return nil, err
			}
			if o.progress {
				cfg.OnProgress = progressBar(errOut, fmt.Sprintf("frontier %s %g", policy, v))
			}
			rep, err := sim.Run(ctx, cfg)
			if err != nil {
				return nil, fmt.Errorf("frontier %s %g: %w", policy, v, err)
			}
			out = append(out, sweepPoint{policy: policy, setting: name, value: v, s: summarize(policy, rep)})
		}
	}
	return out, nil
}

// writeFrontier draws cost (as a multiple of the oracle) against the
// unserved share, one line per policy through its settings.
func writeFrontier(path, trace string, pts []sweepPoint) error {
	p := plot.New()
	p.Title.Text = trace + ": cost against unserved demand (lambda mode, the real model)"
	p.X.Label.Text = "unserved demand, %"
	p.Y.Label.Text = "cost / oracle"
	p.X.Min, p.Y.Min = 0, 1
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	colors := map[string]color.Color{
		decision.PolicyThreshold:  color.RGBA{R: 200, G: 40, B: 40, A: 255},
		decision.PolicyReactive:   color.RGBA{R: 30, G: 90, B: 200, A: 255},
		decision.PolicyPredictive: color.RGBA{R: 20, G: 140, B: 60, A: 255},
	}
	for _, policy := range decision.ShippedNames() {
		var xys plotter.XYs
		var labels []string
		for _, pt := range pts {
			if pt.policy == policy {
				xys = append(xys, plotter.XY{X: pt.s.UnservedPct, Y: pt.s.OracleRatio})
				labels = append(labels, fmt.Sprintf("%g", pt.value))
			}
		}
		if len(xys) == 0 {
			continue
		}
		l, s, err := plotter.NewLinePoints(xys)
		if err != nil {
			return fmt.Errorf("-frontier: %w", err)
		}
		l.Color, s.Color = colors[policy], colors[policy]
		l.Width = vg.Points(1)
		p.Add(l, s)
		name, _ := sim.MainSetting(policy)
		p.Legend.Add(policy+" ("+name+")", l, s)
		lb, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
		if err != nil {
			return fmt.Errorf("-frontier: %w", err)
		}
		p.Add(lb)
	}
	w, err := p.WriterTo(24*vg.Centimeter, 15*vg.Centimeter, "png")
	if err != nil {
		return fmt.Errorf("-frontier: %w", err)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("-frontier: %w", err)
	}
	if _, err := w.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("-frontier: write %s: %w", path, err)
	}
	return f.Close()
}

// loadNote says, with -load, that the snapshots carry the load.
func loadNote(o options) string {
	if !o.load {
		return ""
	}
	return "; the snapshots carry the workload's load (-load, as LOAD_QUERY gives it: the HPA's input, as old as its metric), which only the predictive policy reads"
}

// printScore prints a forecast score's line: on what, its MASE beside
// the naive forecast's error, its coverage and the methods picked.
func printScore(out io.Writer, mode sim.Mode, lead time.Duration, what, on string, sc sim.ForecastScore) {
	picked := make([]string, 0, len(sc.Picked))
	for m, n := range sc.Picked {
		picked = append(picked, fmt.Sprintf("%s %.1f%%", m, 100*float64(n)/float64(max(sc.Forecasts, 1))))
	}
	sort.Strings(picked)
	unit := "nodes"
	if what == "load" {
		unit = "load units"
	}
	fmt.Fprintf(out, "forecast of the lead time's peak %s, %s mode (lead %s, on %s, %d forecasts): MASE %.3f (MAE %.3f %s, naive \"as now\" %.3f); MAPE %.1f%% (naive %.1f%%); capacity covered the peak %.1f%% of the time (naive %.1f%%); the peak was the value now at %.1f%% of forecasts, below it at %.1f%%; methods picked: %s\n",
		what, mode, lead, on, sc.Forecasts, sc.MASE, sc.MAE, unit, sc.NaiveMAE, sc.MAPE, sc.NaiveMAPE, 100*sc.Covered, 100*sc.NaiveCovered, 100*sc.AtNow, 100*sc.BelowNow, strings.Join(picked, ", "))
}

// forecastOnly scores the predictive policy's forecaster on the input's
// demand itself (in worker units), sampled at each mode's tick interval,
// without simulating a cluster: the quick check of a forecaster change
// (seconds where -compare takes many minutes). Its MASE is on the trace's
// demand, not on what a policy observed through the cluster's lags.
func forecastOnly(o options, in input, out io.Writer) error {
	units := make([]float64, len(in.Units))
	for i, u := range in.Units {
		units[i] = u / o.podsPerNode
	}
	for _, mode := range []sim.Mode{sim.ModeLambda, sim.ModeDaemon} {
		p, err := decision.NewPredictive(decision.PredictiveConfig{Calendar: in.Calendar})
		if err != nil {
			return err
		}
		sc, err := sim.ScoreForecast(p.Forecaster(), in.Start, in.Step, units, mode.Interval(), sim.HistoryLimit(decision.PolicyPredictive, mode))
		if err != nil {
			return err
		}
		printScore(out, mode, p.Config().Lead, "demand", fmt.Sprintf("the demand of %s every %s", in.Name, mode.Interval()), sc)
	}
	return nil
}
