package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/decision"
)

// costReport is what report computes; its JSON form is -json's output,
// with snake_case names as status -json's (durations in nanoseconds).
type costReport struct {
	Cluster string    `json:"cluster"`
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	// Records are the ticks in the period; Covered is the time they
	// account for and Uncovered the gaps without ticks (longer than three
	// median intervals: the autoscaler did not run, or the history does
	// not reach back so far).
	Records   int           `json:"records"`
	Covered   time.Duration `json:"covered_ns"`
	Uncovered time.Duration `json:"uncovered_ns"`
	// HistoryStart is the oldest record the history holds.
	HistoryStart time.Time `json:"history_start"`
	// Mix is the instance types and markets each instance is priced as;
	// Hourly is one instance's mean price, OnDemandHourly the same types
	// on demand.
	Mix            []mixRow `json:"mix"`
	Hourly         float64  `json:"hourly"`
	OnDemandHourly float64  `json:"on_demand_hourly"`
	// InstanceHours and PeakInstances are from the history's active
	// instances.
	InstanceHours float64 `json:"instance_hours"`
	PeakInstances int     `json:"peak_instances"`
	// SpotPrices says where the spot prices come from: "table" or "EC2
	// spot price history".
	SpotPrices string `json:"spot_prices"`
	// Cost is the fleet's cost; Static that of PeakInstances on demand
	// for the covered time; Saved the difference, SavedPercent of Static.
	Cost         float64 `json:"cost"`
	Static       float64 `json:"static"`
	Saved        float64 `json:"saved"`
	SavedPercent float64 `json:"saved_percent"`
	// Forecast judges the forecast the history records (the predictive
	// policy's, acting or in forecast-only mode); absent when the period
	// has none.
	Forecast *forecastReport `json:"forecast,omitempty"`
}

type mixRow struct {
	Type   string            `json:"type"`
	Market autoscaler.Market `json:"market"`
	Count  int               `json:"count"`
	Hourly float64           `json:"hourly"`
	// Zones are the zones the fleet's instances of this row are in.
	Zones []string `json:"zones,omitempty"`
}

func reportFlags(fs *flag.FlagSet) func(context.Context, *env) error {
	since := fs.String("since", "24h", "the period's start: a duration before now (24h, 7d) or a time (2026-12-01T00:00:00Z)")
	until := fs.String("until", "", "the period's end (same forms); empty: now")
	chart := fs.String("chart", "", "write a PNG chart of nodes, pending pods and CPU over the period to this file")
	pricesFile := fs.String("prices", "", "a CSV file of prices (type,on_demand,spot in dollars an hour) over the built-in table (see prices.go)")
	typ := fs.String("instance-type", "", "price every instance as this type instead of the fleet's current mix (needed when the fleet is empty)")
	market := fs.String("market", string(autoscaler.MarketOnDemand), "the market of -instance-type: on-demand or spot")
	spotHistory := fs.Bool("spot-history", false, "price spot instances from EC2's spot price history over the period (time-weighted, averaged over the zones they run in) instead of the table")
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	lead := fs.Duration("lead", 0, "the lead time forecasts stored without theirs (older records) are judged at, the others being judged at their own; 0: PREDICTIVE_LEAD, else its default "+decision.DefaultLead.String())
	return func(ctx context.Context, e *env) error {
		from, to, err := reportPeriod(*since, *until, e.now())
		if err != nil {
			return err
		}
		m := autoscaler.Market(*market)
		if m != autoscaler.MarketOnDemand && m != autoscaler.MarketSpot {
			return fmt.Errorf("-market %q: want %s or %s: %w", *market, autoscaler.MarketOnDemand, autoscaler.MarketSpot, errUsage)
		}
		prices, err := loadPrices(*pricesFile)
		if err != nil {
			return err
		}
		st, err := e.store.Load(ctx)
		if err != nil {
			return err
		}
		var mix []mixRow
		if *typ != "" {
			mix = []mixRow{{Type: *typ, Market: m, Count: 1}}
		} else {
			instances, err := listFleet(ctx, e.ec2, e.cluster)
			if err != nil {
				return err
			}
			if mix = fleetMix(instances); len(mix) == 0 {
				return fmt.Errorf("cluster %s has no instances to take the types and markets from: give -instance-type (and -market): %w", e.cluster, errUsage)
			}
		}
		source := "table"
		if *spotHistory {
			source = "EC2 spot price history"
			if err := spotHistoryPrices(ctx, e, mix, prices, from, to); err != nil {
				return err
			}
		}
		rep, err := computeCost(e.cluster, st.History, from, to, mix, prices)
		if err != nil {
			return err
		}
		rep.SpotPrices = source
		at, err := forecastLead(*lead, e.getenv("PREDICTIVE_LEAD"))
		if err != nil {
			return err
		}
		rep.Forecast = computeForecast(st.History, from, to, at, rep.Hourly)
		if *chart != "" {
			if err := writeChart(*chart, fmt.Sprintf("node-fleet %s, %s to %s", e.cluster, from.UTC().Format("2006-01-02 15:04"), to.UTC().Format("2006-01-02 15:04 MST")),
				filterRecords(st.History, from, to, nil, "")); err != nil {
				return err
			}
		}
		if *asJSON {
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(rep)
		}
		rep.write(e.stdout)
		if *chart != "" {
			fmt.Fprintf(e.stdout, "chart: %s\n", *chart)
		}
		return nil
	}
}

// reportPeriod is the period -since and -until give, until now when
// -until is empty.
func reportPeriod(since, until string, now time.Time) (from, to time.Time, err error) {
	if from, err = parseTime("since", since, now); err != nil {
		return from, to, err
	}
	if to, err = parseTime("until", until, now); err != nil {
		return from, to, err
	}
	if to.IsZero() {
		to = now
	}
	if from.IsZero() || !to.After(from) {
		return from, to, fmt.Errorf("-since %q -until %q: want a period that ends after it starts: %w", since, until, errUsage)
	}
	return from, to, nil
}

// spotHistoryPrices sets the spot price of each spot row of mix in
// prices from EC2's spot price history over [from, to).
func spotHistoryPrices(ctx context.Context, e *env, mix []mixRow, prices map[string]price, from, to time.Time) error {
	for _, row := range mix {
		if row.Market != autoscaler.MarketSpot {
			continue
		}
		sp, err := spotHistoryPrice(ctx, e.ec2, row.Type, row.Zones, from, to)
		if err != nil {
			return err
		}
		p := prices[row.Type]
		if p.OnDemand == 0 {
			return fmt.Errorf("no on-demand price for instance type %q (the static fleet's): add it with -prices (a CSV file of type,on_demand,spot)", row.Type)
		}
		p.Spot = sp
		prices[row.Type] = p
	}
	return nil
}

// fleetMix counts the active instances by type and market.
func fleetMix(instances []autoscaler.Instance) []mixRow {
	count := map[[2]string]int{}
	zones := map[[2]string]map[string]bool{}
	for _, in := range instances {
		if in.State == autoscaler.StatePending || in.State == autoscaler.StateRunning {
			k := [2]string{in.InstanceType, string(in.Market)}
			count[k]++
			if zones[k] == nil {
				zones[k] = map[string]bool{}
			}
			if in.Zone != "" {
				zones[k][in.Zone] = true
			}
		}
	}
	var out []mixRow
	for k, n := range count {
		out = append(out, mixRow{Type: k[0], Market: autoscaler.Market(k[1]), Count: n, Zones: sortedKeys(zones[k])})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Type != out[j].Type {
			return out[i].Type < out[j].Type
		}
		return out[i].Market < out[j].Market
	})
	return out
}

// computeCost prices the history's records in [from, to). Each record
// stands for the time until the next one, at most three median intervals
// (longer gaps are Uncovered); the last for one median interval, within
// the period.
func computeCost(cluster string, hist []autoscaler.Record, from, to time.Time, mix []mixRow, prices map[string]price) (costReport, error) {
	rep := costReport{Cluster: cluster, From: from.UTC(), To: to.UTC(), Mix: mix}
	if len(hist) > 0 {
		rep.HistoryStart = hist[0].Time.UTC()
	}
	n := 0
	for i := range mix {
		h, err := hourly(prices, mix[i].Type, mix[i].Market)
		if err != nil {
			return rep, err
		}
		od, _ := hourly(prices, mix[i].Type, autoscaler.MarketOnDemand)
		mix[i].Hourly = h
		rep.Hourly += h * float64(mix[i].Count)
		rep.OnDemandHourly += od * float64(mix[i].Count)
		n += mix[i].Count
	}
	rep.Hourly /= float64(n)
	rep.OnDemandHourly /= float64(n)

	recs := filterRecords(hist, from, to, nil, "")
	rep.Records = len(recs)
	if len(recs) == 0 {
		return rep, fmt.Errorf("the history has no record from %s to %s (it holds %d, the oldest at %s)", from.UTC().Format(time.RFC3339),
			to.UTC().Format(time.RFC3339), len(hist), rep.HistoryStart.Format(time.RFC3339))
	}
	spans, uncovered := recordSpans(recs, to)
	var instSeconds float64
	for i, r := range recs {
		rep.Covered += spans[i]
		instSeconds += float64(r.Instances) * spans[i].Seconds()
		rep.PeakInstances = max(rep.PeakInstances, r.Instances)
	}
	rep.Uncovered = uncovered + recs[0].Time.Sub(from)
	rep.InstanceHours = instSeconds / 3600
	rep.Cost = rep.InstanceHours * rep.Hourly
	rep.Static = float64(rep.PeakInstances) * rep.Covered.Hours() * rep.OnDemandHourly
	rep.Saved = rep.Static - rep.Cost
	if rep.Static > 0 {
		rep.SavedPercent = 100 * rep.Saved / rep.Static
	}
	return rep, nil
}

// recordSpans is the time each of recs (in time order) stands for: until
// the next one, at most three median intervals (the rest is uncovered:
// the autoscaler did not run), the last one median interval; none past
// to.
func recordSpans(recs []autoscaler.Record, to time.Time) (spans []time.Duration, uncovered time.Duration) {
	var gaps []time.Duration
	for i := 1; i < len(recs); i++ {
		gaps = append(gaps, recs[i].Time.Sub(recs[i-1].Time))
	}
	step := 2 * time.Minute
	if len(gaps) > 0 {
		sorted := append([]time.Duration(nil), gaps...)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
		step = sorted[len(sorted)/2]
	}
	spans = make([]time.Duration, len(recs))
	for i, r := range recs {
		d := step
		if i < len(gaps) {
			d = gaps[i]
		}
		if end := r.Time.Add(d); end.After(to) {
			d = to.Sub(r.Time)
		}
		if d > 3*step {
			uncovered += d - 3*step
			d = 3 * step
		}
		spans[i] = d
	}
	return spans, uncovered
}

func (r costReport) write(w0 io.Writer) {
	w := tabwriter.NewWriter(w0, 0, 4, 2, ' ', 0)
	defer w.Flush()
	fmt.Fprintf(w, "cluster:\t%s\n", r.Cluster)
	fmt.Fprintf(w, "period:\t%s to %s (%s)\n", r.From.Format(time.RFC3339), r.To.Format(time.RFC3339), roundHuman(r.To.Sub(r.From)))
	fmt.Fprintf(w, "history:\t%d ticks covering %s", r.Records, roundHuman(r.Covered))
	if r.Uncovered > 0 {
		fmt.Fprintf(w, "; %s of the period has no ticks (the history starts %s)", roundHuman(r.Uncovered), r.HistoryStart.Format(time.RFC3339))
	}
	fmt.Fprintln(w)
	for _, m := range r.Mix {
		fmt.Fprintf(w, "priced as:\t%d × %s %s at $%.4f/h\n", m.Count, m.Type, m.Market, m.Hourly)
	}
	fmt.Fprintf(w, "spot prices:\tfrom the %s\n", r.SpotPrices)
	fmt.Fprintf(w, "instance-hours:\t%.1f (peak %d instances)\n", r.InstanceHours, r.PeakInstances)
	fmt.Fprintf(w, "cost:\t$%.2f\n", r.Cost)
	fmt.Fprintf(w, "static fleet:\t$%.2f (%d on-demand instances for %s)\n", r.Static, r.PeakInstances, roundHuman(r.Covered))
	fmt.Fprintf(w, "saved:\t$%.2f (%.1f%%)\n", r.Saved, r.SavedPercent)
	if math.IsNaN(r.Cost) {
		fmt.Fprintln(w, "warning:\tthe cost is not a number; check the price table")
	}
	if r.Forecast != nil {
		r.Forecast.write(w)
	}
}
