package main

import (
	"context"
	"fmt"
	"image/color"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/metrics"
	"github.com/node-fleet/node-fleet/sim"
	"github.com/node-fleet/node-fleet/sim/chart"
)

// loadHistory reads the cluster's history from -history's file or from
// -prometheus over -since (to -until), and writes it to -export when set.
func loadHistory(ctx context.Context, o options, now time.Time) (sim.History, error) {
	var h sim.History
	var err error
	if o.history != "" {
		if h, err = sim.LoadHistory(o.history); err != nil {
			return h, err
		}
	} else {
		pc := metrics.Config{BearerTokenFile: o.promTokenFile,
			TLS: metrics.TLSConfig{CAFile: o.promCAFile, InsecureSkipVerify: o.promInsecure}}
		if o.promUser != "" || o.promPasswordFile != "" {
			pc.BasicAuth = &metrics.BasicAuth{Username: o.promUser, PasswordFile: o.promPasswordFile}
		}
		hc, err := metrics.HTTPClient(pc)
		if err != nil {
			return h, fmt.Errorf("-prometheus's authentication (-prometheus-bearer-token-file, -prometheus-username, -prometheus-password-file, -prometheus-ca-file): %w", err)
		}
		client, err := api.NewClient(api.Config{Address: o.prometheus, Client: hc})
		if err != nil {
			return h, fmt.Errorf("-prometheus: %w", err)
		}
		until := now
		if o.until != "" {
			if until, err = sim.ParseTime(o.until); err != nil {
				return h, fmt.Errorf("-until: %w", err)
			}
		}
		since, err := parseSince(o.since)
		if err != nil {
			return h, err
		}
		if h, err = sim.QueryHistory(ctx, v1.NewAPI(client), until.Add(-since), until, o.step, sim.HistoryQueries{}); err != nil {
			return h, fmt.Errorf("-prometheus %s: %w", o.prometheus, err)
		}
		h.Name = o.prometheus
	}
	if o.export != "" {
		f, err := os.Create(o.export)
		if err != nil {
			return h, fmt.Errorf("-export: %w", err)
		}
		if err := h.WriteCSV(f); err != nil {
			f.Close()
			return h, fmt.Errorf("-export: %w", err)
		}
		if err := f.Close(); err != nil {
			return h, fmt.Errorf("-export: %w", err)
		}
	}
	return h, nil
}

// parseSince reads -since: a Go duration or a number of days ("7d").
func parseSince(s string) (time.Duration, error) {
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n float64
		n, err = strconv.ParseFloat(days, 64)
		d = time.Duration(n * 24 * float64(time.Hour))
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("-since must be a positive duration such as 7d or 36h, got %q", s)
	}
	return d, nil
}

// priceList is the hourly price of an instance type in -market: -prices's
// entries first, then sim.PoolTypes.
func priceList(o options) (func(string) (float64, bool), error) {
	own := map[string]float64{}
	for _, f := range strings.FieldsFunc(o.prices, func(r rune) bool { return r == ',' || r == ' ' }) {
		typ, v, ok := strings.Cut(f, "=")
		p, err := strconv.ParseFloat(v, 64)
		if !ok || typ == "" || err != nil || !(p >= 0) {
			return nil, fmt.Errorf("-prices: %q is not type=USD-per-hour", f)
		}
		own[typ] = p
	}
	return func(typ string) (float64, bool) {
		if p, ok := own[typ]; ok {
			return p, true
		}
		for _, t := range sim.PoolTypes {
			if t.Name == typ {
				if autoscaler.Market(o.market) == autoscaler.MarketOnDemand {
					return t.OnDemandPrice, true
				}
				return t.SpotPrice, true
			}
		}
		return 0, false
	}, nil
}

// replayHistory replays the cluster's history through every shipped
// policy in both modes and prints what the cluster cost beside what each
// would have cost and the demand each would have left unserved.
func replayHistory(ctx context.Context, o options, out, errOut io.Writer) error {
	h, err := loadHistory(ctx, o, time.Now())
	if err != nil {
		return err
	}
	if h.Step%sim.DefaultResolution != 0 {
		return fmt.Errorf("%s: step %s: the replay needs a multiple of %s (the model's time step)", h.Name, h.Step, sim.DefaultResolution)
	}
	m, err := o.clusterModel()
	if err != nil {
		return err
	}
	d, err := h.Demand(m, o.podsPerNode)
	if err != nil {
		return err
	}
	price, err := priceList(o)
	if err != nil {
		return err
	}
	actual, err := h.Cost(price)
	if err != nil {
		return fmt.Errorf("%w: give it with -prices type=USD-per-hour (several separated by commas)", err)
	}
	worker := sim.DefaultModel().Template.InstanceType
	if !m.Ideal {
		worker = m.Template.InstanceType
	}
	wp, ok := price(worker)
	if !ok {
		return fmt.Errorf("no price for the model's worker %s: give it with -prices %s=USD-per-hour", worker, worker)
	}
	in := input{Demand: d}
	peak, peakWorkers := 0.0, 0
	for _, s := range h.Samples {
		peak = max(peak, s.CPU)
		peakWorkers = max(peakWorkers, s.Workers())
	}
	fmt.Fprintf(out, "your cluster: %s, %s to %s (UTC), step %s, %d steps (%d missing, held from the step before)\n",
		h.Name, d.Start.Format("2006-01-02 15:04"), d.End().Format("2006-01-02 15:04"), h.Step, len(h.Samples), h.Gaps)
	fmt.Fprintf(out, "  requests peak at %.2f CPU; workers peak at %d; instance types %s\n", peak, peakWorkers, shares(h.TypeShares()))
	fmt.Fprintf(out, "  replays launch the model's worker, %s at $%g/h (%s); the cluster's workers are priced in the same market (-prices, else sim.PoolTypes)\n\n", worker, wp, o.market)
	fmt.Fprintln(out, "| fleet | mode | cost $ | vs actual % | unserved unit-min | unserved % | peak nodes | scale-ups | scale-downs |")
	fmt.Fprintln(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|")
	fmt.Fprintf(out, "| actual (what ran) | - | %.2f | 0 | - | - | %d | - | - |\n", actual, peakWorkers)
	var panels []chart.Line
	for i, r := range benchRows {
		cfg, err := simConfig(o, in, r.policy, sim.Mode(r.mode))
		if err != nil {
			return err
		}
		cfg.Market = autoscaler.Market(o.market)
		cfg.SpotPrice, cfg.OnDemandPrice = wp, wp
		if n := h.Samples[0].Workers(); n > 0 {
			cfg.InitialNodes = n
		}
		if o.progress {
			cfg.OnProgress = progressBar(errOut, fmt.Sprintf("%d/%d %s %s", i+1, len(benchRows), r.policy, r.mode))
		}
		rep, err := sim.Run(ctx, cfg)
		if err != nil {
			return fmt.Errorf("%s %s: %w", r.policy, r.mode, err)
		}
		vs := 0.0
		if actual > 0 {
			vs = 100 * (rep.CostUSD/actual - 1)
		}
		fmt.Fprintf(out, "| %s | %s | %.2f | %+.1f | %.0f | %.3f | %d | %d | %d |\n", r.policy, r.mode, rep.CostUSD, vs,
			rep.UnservedPodMinutes, rep.UnservedPct(), rep.PeakNodes, rep.ScaleUps, rep.ScaleDowns)
		if r.mode == string(sim.ModeLambda) {
			l := chart.Line{Name: r.policy + " (lambda): Ready nodes", Color: policyColor(r.policy)}
			for _, s := range rep.Series {
				l.Points = append(l.Points, chart.Point{Time: s.Time, Value: float64(s.ReadyNodes)})
			}
			panels = append(panels, l)
		}
	}
	fmt.Fprintf(out, "\na unit is a %s of a %s's free CPU or memory, whichever the requests fill more; unserved is what the replayed pods asked for and no node served\n",
		fraction(o.podsPerNode), worker)
	if o.chart == "" {
		return nil
	}
	dl := chart.Line{Name: "demand (requests)", Color: chart.Red}
	al := chart.Line{Name: "actual workers", Color: chart.Grey}
	for i, u := range d.Units {
		t := d.Start.Add(time.Duration(i) * d.Step)
		dl.Points = append(dl.Points, chart.Point{Time: t, Value: u})
		al.Points = append(al.Points, chart.Point{Time: t, Value: float64(h.Samples[i].Workers())})
	}
	err = chart.WritePNG(o.chart, h.Name+": your cluster against the shipped policies", []chart.Panel{
		{YLabel: "demand units", ZeroBased: true, Lines: []chart.Line{dl}},
		{YLabel: "workers", ZeroBased: true, Lines: append([]chart.Line{al}, panels...)},
	})
	if err != nil {
		return fmt.Errorf("-chart: %w", err)
	}
	fmt.Fprintf(out, "chart: %s\n", o.chart)
	return nil
}

// policyColor is a shipped policy's colour in the charts.
func policyColor(policy string) color.Color {
	switch policy {
	case "threshold":
		return chart.Red
	case "reactive":
		return chart.Blue
	}
	return chart.Green
}

// shares prints instance types with their share of the worker-hours.
func shares(m map[string]float64) string {
	types := make([]string, 0, len(m))
	for t := range m {
		types = append(types, t)
	}
	slices.SortFunc(types, func(a, b string) int {
		if m[a] != m[b] {
			if m[a] > m[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	var out []string
	for _, t := range types {
		out = append(out, fmt.Sprintf("%s %.0f%%", t, 100*m[t]))
	}
	if len(out) == 0 {
		return "(none)"
	}
	return strings.Join(out, ", ")
}
