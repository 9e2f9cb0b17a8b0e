// Command simulate runs the autoscaler against in-memory parts on a fake
// clock and reports what the fleet cost and how much demand it left
// unserved. With no flags it replays a built-in day of synthetic
// e-commerce traffic (a diurnal curve and a flash sale at 20:00), printing
// every scaling decision and a summary; it needs no network and no files:
//
//	go run ./examples/simulate
//
// With -trace it replays a measured trace (CSV: a header, then a timestamp
// and a count per step), scaled so that its peak needs -peak-nodes nodes
// (scripts/fetch-traces.sh downloads the shared traces to ../shared/traces):
//
//	go run ./examples/simulate -trace ../shared/traces/wc98_requests_per_minute.csv \
//	    -from 1998-06-10 -to 1998-07-12 -policy predictive -mode lambda -json
//
// -compare runs every policy of the benchmark on the same input and prints
// one table (see docs/benchmarks.md); -chart writes a PNG of demand,
// capacity and nodes over time. -pools launches from capacity pools with
// independent shortages (one type in two zones, or ten types in two or
// three), and -pools compare prints those fleets side by side (see
// docs/fleet-diversity.md).
//
// With -history (a CSV or JSON export) or -prometheus (kube-state-metrics'
// series over -since) it replays your own cluster's pod requests through
// every shipped policy and prints what the cluster cost beside what each
// would have cost and the demand each would have left unserved (see
// docs/simulate-history.md):
//
//	go run ./examples/simulate -prometheus http://prometheus:9090 -since 7d -export week.csv
//
// The command uses only the public package sim; a policy of your own is
// measured there with sim.Measure.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/sim"
	"golang.org/x/term"
)

func main() {
	stderrTTY := term.IsTerminal(int(os.Stderr.Fd()))
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr, stderrTTY); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "simulate:", err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	trace, from, to string
	policy, mode    string
	peakNodes       int
	podsPerNode     float64
	maxNodes        int
	seed            uint64
	interruptions   float64
	launchFailures  float64
	model           string
	frontier        string
	// setInterruptions and setLaunchFailures say whether the flags
	// were given (else the model's rates apply).
	setInterruptions, setLaunchFailures bool
	quiet, asJSON                       bool
	compare                             bool
	forecast                            bool
	load                                bool
	chart                               string
	// pools names the pool model's fleet (-pools); the shortage
	// processes of every pool in each market.
	pools                string
	spotPerDay, odPerDay float64
	spotMean, odMean     time.Duration
	seeds                int
	progress             bool // stderr is a terminal
	// Your own history: a file (-history) or Prometheus (-prometheus
	// over -since to -until at -step), -export to keep it, -prices and
	// -market to price it.
	history, prometheus, since, until string
	// promAuth is -prometheus's authentication and TLS, as the programs'
	// PROMETHEUS_* settings give it.
	promTokenFile, promUser, promPasswordFile, promCAFile string
	promInsecure                                          bool
	step                                                  time.Duration
	export, prices, market                                string
}

// input is the demand to replay; synthetic when it is the built-in day.
type input struct {
	sim.Demand
	synthetic bool
}

func run(ctx context.Context, args []string, out, errOut io.Writer, stderrTTY bool) error {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(errOut)
	var o options
	fs.StringVar(&o.trace, "trace", "", "CSV trace to replay (a header, then timestamp,count per step); default: the built-in synthetic day")
	fs.StringVar(&o.from, "from", "", "start of the trace window (2006-01-02 or 2006-01-02 15:04:05, UTC); needs -trace")
	fs.StringVar(&o.to, "to", "", "end of the trace window, exclusive; needs -trace")
	fs.StringVar(&o.policy, "policy", "threshold", "policy: "+strings.Join(sim.PolicyNames(), ", "))
	fs.StringVar(&o.mode, "mode", "lambda", modeHelp())
	fs.IntVar(&o.peakNodes, "peak-nodes", 20, "nodes the trace's peak needs (scales a -trace's counts to pods)")
	fs.Float64Var(&o.podsPerNode, "pods-per-node", 10, "pods one node serves")
	fs.IntVar(&o.maxNodes, "max-nodes", 0, "MaxNodes guardrail; default twice the peak's nodes (at least 10)")
	fs.Uint64Var(&o.seed, "seed", 1, "seed for the random draws (boot times, interruptions, capacity)")
	fs.Float64Var(&o.interruptions, "interruptions", sim.DefaultModel().InterruptionRate, "spot interruption notices per instance-hour (2-minute notice); the ideal model's default is 0")
	fs.Float64Var(&o.launchFailures, "launch-failures", sim.DefaultModel().LaunchFailureRate, "chance (0-1) that a tick finds no launch capacity; the ideal model's default is 0")
	fs.StringVar(&o.model, "model", "real", "the cluster model: real (a real cluster's lags, sim.DefaultModel) or ideal (the old model without lags)")
	fs.StringVar(&o.frontier, "frontier", "", "with -compare: also sweep each shipped policy's main setting (lambda mode) and write the cost-against-unserved chart to this PNG")
	fs.BoolVar(&o.quiet, "quiet", false, "print only the summary")
	fs.BoolVar(&o.asJSON, "json", false, "print the summary as one JSON object (with -compare, an array)")
	fs.BoolVar(&o.compare, "compare", false, "run the benchmark's policies and modes on the input and print one table")
	fs.BoolVar(&o.forecast, "forecast", false, "score only the predictive policy's forecaster on the input's demand at each mode's ticks (MASE beside naive's), without simulating a cluster")
	fs.BoolVar(&o.load, "load", false, "the snapshots carry the workload's load (decision.MetricLoad, as the programs' LOAD_QUERY gives it), which the predictive policy then forecasts; real model only")
	fs.StringVar(&o.chart, "chart", "", "write a PNG chart of demand, capacity and nodes over time to this file")
	fs.StringVar(&o.pools, "pools", "", "launch from capacity pools (instance type x zone x market) with independent shortages, spot first, on-demand fallback: "+poolNames()+" (compare: every fleet under the shortage flags and a harsher spot market, one table); default: no pool model")
	fs.Float64Var(&o.spotPerDay, "spot-shortages", sim.DefaultSpotShortage.PerDay, "with -pools: shortages per day of each spot pool")
	fs.DurationVar(&o.spotMean, "spot-shortage-mean", sim.DefaultSpotShortage.Mean, "with -pools: mean length of a spot pool's shortage")
	fs.Float64Var(&o.odPerDay, "od-shortages", sim.DefaultOnDemandShortage.PerDay, "with -pools: shortages per day of each on-demand pool")
	fs.DurationVar(&o.odMean, "od-shortage-mean", sim.DefaultOnDemandShortage.Mean, "with -pools: mean length of an on-demand pool's shortage")
	fs.IntVar(&o.seeds, "seeds", 1, "with -pools compare: runs per row (seeds -seed, -seed+1, ...), the row their mean")
	fs.StringVar(&o.history, "history", "", "replay your cluster's own history through every shipped policy and print what it cost beside what each would have: a CSV or JSON export (see sim.ParseHistory; -export writes one)")
	fs.StringVar(&o.prometheus, "prometheus", "", "like -history, read from this Prometheus (kube-state-metrics' pod requests and phases, node labels with the instance type; see sim.DefaultHistoryQueries)")
	fs.StringVar(&o.promTokenFile, "prometheus-bearer-token-file", os.Getenv("PROMETHEUS_BEARER_TOKEN_FILE"), "with -prometheus: a file holding a bearer token (default $PROMETHEUS_BEARER_TOKEN_FILE, as the programs)")
	fs.StringVar(&o.promUser, "prometheus-username", os.Getenv("PROMETHEUS_USERNAME"), "with -prometheus: basic auth's user name, with -prometheus-password-file (default $PROMETHEUS_USERNAME)")
	fs.StringVar(&o.promPasswordFile, "prometheus-password-file", os.Getenv("PROMETHEUS_PASSWORD_FILE"), "with -prometheus: a file holding basic auth's password (default $PROMETHEUS_PASSWORD_FILE)")
	fs.StringVar(&o.promCAFile, "prometheus-ca-file", os.Getenv("PROMETHEUS_CA_FILE"), "with -prometheus: a PEM file of the CA that signed the server's certificate (default $PROMETHEUS_CA_FILE)")
	fs.BoolVar(&o.promInsecure, "prometheus-insecure-skip-verify", os.Getenv("PROMETHEUS_INSECURE_SKIP_VERIFY") == "true", "with -prometheus: do not verify the server's certificate, for a lab (default $PROMETHEUS_INSECURE_SKIP_VERIFY)")
	fs.StringVar(&o.since, "since", "7d", "with -prometheus: how far back to read (7d, 36h)")
	fs.StringVar(&o.until, "until", "", "with -prometheus: the end of the window (2006-01-02 15:04:05, UTC); default now")
	fs.DurationVar(&o.step, "step", time.Minute, fmt.Sprintf("with -prometheus: the step of the range queries, a multiple of %s", sim.DefaultResolution))
	fs.StringVar(&o.export, "export", "", "with -history or -prometheus: also write the history read to this CSV file")
	fs.StringVar(&o.prices, "prices", "", "with -history or -prometheus: hourly prices of instance types in -market, type=USD,... (default sim.PoolTypes's)")
	fs.StringVar(&o.market, "market", string(autoscaler.MarketSpot), "the market instances are launched and priced in: spot or on-demand")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	o.setInterruptions, o.setLaunchFailures = set["interruptions"], set["launch-failures"]
	if err := o.check(set); err != nil {
		return err
	}
	o.progress = stderrTTY && !o.asJSON
	if o.history != "" || o.prometheus != "" {
		return replayHistory(ctx, o, out, errOut)
	}
	in, err := loadInput(o)
	if err != nil {
		return err
	}
	if o.pools == "compare" {
		if o.compare {
			return errors.New("-pools compare and -compare are two tables: choose one")
		}
		return comparePools(ctx, o, in, out, errOut)
	}
	if o.forecast {
		return forecastOnly(o, in, out)
	}
	if o.compare {
		return compare(ctx, o, in, out, errOut)
	}
	cfg, err := simConfig(o, in, o.policy, sim.Mode(o.mode))
	if err != nil {
		return err
	}
	if !o.quiet && !o.asJSON {
		cfg.OnResult = func(r autoscaler.Result) {
			if r.Outcome == autoscaler.OutcomeHeld && !r.SafetyMode && len(r.Ghosts()) == 0 {
				return
			}
			fmt.Fprintf(out, "%s  %-11s %s\n", r.Time.Format("01-02 15:04:05"), r.Outcome, r.Reason)
		}
	}
	if o.progress {
		cfg.OnProgress = progressBar(errOut, o.policy+" "+o.mode)
	}
	began := time.Now()
	rep, err := sim.Run(ctx, cfg)
	if err != nil {
		return err
	}
	elapsed := time.Since(began)
	if o.chart != "" {
		if err := writeChart(o.chart, fmt.Sprintf("%s: %s, %s mode", in.Name, o.policy, o.mode), rep); err != nil {
			return err
		}
	}
	s := summarize(o.policy, rep)
	if o.asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	fmt.Fprintf(out, "\nsummary: %s, %s to %s, %s mode, policy %s, %d ticks (simulated in %s)\n",
		in.Name, rep.Start.Format("2006-01-02 15:04"), rep.End.Format("2006-01-02 15:04"), rep.Mode, o.policy, rep.Ticks, elapsed.Round(time.Millisecond))
	fmt.Fprintf(out, "  policy              %s\n", sim.PolicyAbout(o.policy))
	for _, ev := range in.Calendar {
		fmt.Fprintf(out, "  known event         %s %s to %s, x%g the load (only -policy predictive is told)\n", ev.Name, ev.Start.Format("15:04"), ev.End.Format("15:04"), ev.Factor)
	}
	if cfg.Pools != nil {
		fmt.Fprintf(out, "  fleet cost          $%.2f (each instance at its pool's price, sim.PoolTypes), peak %d nodes\n", rep.CostUSD, rep.PeakNodes)
	} else {
		fmt.Fprintf(out, "  fleet cost          $%.2f (%s $%.4f/h per node), peak %d nodes\n", rep.CostUSD, cfg.Market, price(cfg), rep.PeakNodes)
	}
	fmt.Fprintf(out, "  static fleet        $%.2f (%d nodes sized for the peak)\n", rep.StaticCostUSD, rep.StaticNodes)
	fmt.Fprintf(out, "  oracle              $%.2f (exact nodes each step, no boot time); fleet is %.2fx\n", rep.OracleCostUSD, s.OracleRatio)
	fmt.Fprintf(out, "  savings             %.1f%% against the static fleet\n", s.SavingsPct)
	fmt.Fprintf(out, "  unserved demand     %.0f unit-minutes (%.3f%% of %.0f); a unit is a %s of a worker's CPU (-pods-per-node %g), a unit-minute one unit unserved for a minute\n",
		rep.UnservedPodMinutes, rep.UnservedPct(), rep.DemandPodMinutes, fraction(o.podsPerNode), o.podsPerNode)
	fmt.Fprintf(out, "  scale-ups/downs     %d / %d (%d launched, %d terminated)\n", rep.ScaleUps, rep.ScaleDowns, rep.Launched, rep.Terminated)
	fmt.Fprintf(out, "  time to capacity    p50 %s, p95 %s over %d surges\n", sim.Percentile(rep.TimeToCapacity, 50), sim.Percentile(rep.TimeToCapacity, 95), len(rep.TimeToCapacity))
	if cfg.Pools != nil {
		fmt.Fprintf(out, "  pools               %s: %d spot and %d on-demand launched, on-demand %.1f%% of instance-hours, %d pool capacity errors, %d instances no pool had\n",
			o.pools, rep.SpotLaunched, rep.OnDemandLaunched, rep.OnDemandPct, rep.PoolErrors, rep.Unplaced)
	}
	if rep.Interruptions+rep.CapacityFailures+rep.Ghosts > 0 {
		fmt.Fprintf(out, "  disruptions         %d spot interruptions, %d ticks without launch capacity, %d ghosts\n", rep.Interruptions, rep.CapacityFailures, rep.Ghosts)
	}
	fmt.Fprintf(out, "  model               %s\n", cfg.Model)
	if o.chart != "" {
		fmt.Fprintf(out, "  chart               %s\n", o.chart)
	}
	if in.synthetic {
		fmt.Fprint(out, nextSteps)
	}
	return nil
}

// nextSteps is what the demo suggests after its summary.
const nextSteps = `
try next:
  -compare               every shipped policy in both modes on this day, one table (with the static fleet and the oracle)
  -chart day.png         a chart of demand, capacity and nodes over the day (docs/simulate-day.png is this run's)
  -policy predictive     the policy that is told about the flash sale; -mode daemon ticks every minute and on pending pods
  -trace FILE            a measured trace (scripts/fetch-traces.sh downloads the shared ones to ../shared/traces)
  -history FILE          your own cluster's demand (a CSV or JSON export; -prometheus URL reads it from Prometheus)
`

// fraction names the share of a worker one demand unit is.
func fraction(podsPerNode float64) string {
	switch podsPerNode {
	case 10:
		return "tenth"
	case 1:
		return "whole"
	}
	return fmt.Sprintf("1/%g", podsPerNode)
}

// modeHelp is -mode's help, from the intervals the simulation ticks at.
func modeHelp() string {
	return fmt.Sprintf("how the autoscaler runs: lambda (a tick every %s, EventBridge) or daemon (a tick every %s, TICK_INTERVAL's default, and when a pod becomes pending)",
		sim.ModeLambda.Interval(), sim.ModeDaemon.Interval())
}

// check refuses flag values out of range and flags given without the flag
// they work with (set holds the flags given), each error naming its flag.
func (o options) check(set map[string]bool) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	needs := func(flag, other string, ok bool) {
		if set[flag] && !ok {
			bad("-%s works only with %s", flag, other)
		}
	}
	needs("peak-nodes", "-trace (it scales a trace's counts to pods; the built-in day is in pods already)", o.trace != "")
	needs("seeds", "-pools compare", o.pools == "compare")
	needs("frontier", "-compare", o.compare)
	needs("load", "the real model (-model real): the ideal model has no HPA whose input it would be", o.model == "real" || o.model == "")
	if o.forecast {
		// It simulates no cluster and replays no history: what only a
		// simulation or a replay reads is refused, not ignored.
		for _, f := range []string{"compare", "pools", "policy", "mode", "history", "prometheus", "chart", "json", "quiet", "model", "seed", "interruptions", "launch-failures", "max-nodes", "market", "load"} {
			if set[f] {
				bad("-forecast scores the forecaster alone, in both modes, without simulating: it takes no -%s", f)
			}
		}
	}
	own := o.history != "" || o.prometheus != ""
	for _, f := range []string{"since", "until", "step", "prometheus-bearer-token-file", "prometheus-username", "prometheus-password-file", "prometheus-ca-file", "prometheus-insecure-skip-verify"} {
		needs(f, "-prometheus", o.prometheus != "")
	}
	for _, f := range []string{"export", "prices"} {
		needs(f, "-history or -prometheus", own)
	}
	if o.history != "" && o.prometheus != "" {
		bad("-history and -prometheus are two sources of the same history: choose one")
	}
	if own {
		for _, f := range []string{"trace", "from", "to", "compare", "policy", "mode", "pools", "json", "quiet", "frontier", "load"} {
			if set[f] {
				bad("-%s does not apply to -history or -prometheus (they replay every shipped policy in both modes)", f)
			}
		}
	}
	if o.step <= 0 || o.step%sim.DefaultResolution != 0 {
		bad("-step must be a multiple of %s (the model's time step), got %s", sim.DefaultResolution, o.step)
	}
	if set["history"] && o.history == "" {
		bad("-history needs a file")
	}
	if set["prometheus"] && o.prometheus == "" {
		bad("-prometheus needs a URL")
	}
	if m := autoscaler.Market(o.market); m != autoscaler.MarketSpot && m != autoscaler.MarketOnDemand {
		bad("-market must be %s or %s, got %q", autoscaler.MarketSpot, autoscaler.MarketOnDemand, o.market)
	}
	for _, f := range []string{"spot-shortages", "spot-shortage-mean", "od-shortages", "od-shortage-mean"} {
		needs(f, "-pools", o.pools != "")
	}
	if o.chart != "" && (o.compare || o.pools == "compare") {
		bad("-chart draws one run; -compare and -pools compare run many (-frontier charts -compare)")
	}
	if o.compare && (set["policy"] || set["mode"]) {
		bad("-compare runs every shipped policy in both modes: drop -policy and -mode")
	}
	if o.peakNodes < 1 {
		bad("-peak-nodes must be at least 1, got %d", o.peakNodes)
	}
	if !(o.podsPerNode > 0) || math.IsInf(o.podsPerNode, 0) {
		bad("-pods-per-node must be a positive number, got %v", o.podsPerNode)
	}
	if o.maxNodes < 0 {
		bad("-max-nodes must be 0 (twice the peak's nodes, at least 10) or more, got %d", o.maxNodes)
	}
	if o.seeds < 1 {
		bad("-seeds must be at least 1, got %d", o.seeds)
	}
	if !(o.interruptions >= 0) || math.IsInf(o.interruptions, 0) {
		bad("-interruptions must be 0 or more per instance-hour, got %v", o.interruptions)
	}
	if !(o.launchFailures >= 0 && o.launchFailures <= 1) {
		bad("-launch-failures must be a probability between 0 and 1, got %v", o.launchFailures)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"spot-shortages", o.spotPerDay}, {"od-shortages", o.odPerDay}} {
		if !(f.v >= 0) || math.IsInf(f.v, 0) {
			bad("-%s must be 0 or more a day, got %v", f.name, f.v)
		}
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"spot-shortage-mean", o.spotMean}, {"od-shortage-mean", o.odMean}} {
		if f.v < 0 {
			bad("-%s must not be negative, got %s", f.name, f.v)
		}
	}
	return errors.Join(errs...)
}

func price(cfg sim.Config) float64 {
	if cfg.Market == autoscaler.MarketOnDemand {
		return cfg.OnDemandPrice
	}
	return cfg.SpotPrice
}

// loadInput reads the trace window, or builds the synthetic day.
func loadInput(o options) (input, error) {
	if o.trace == "" {
		if o.from != "" || o.to != "" {
			return input{}, errors.New("-from and -to select a window of a -trace; the built-in day has none")
		}
		return input{Demand: sim.BuiltinDay(), synthetic: true}, nil
	}
	var from, to time.Time
	var err error
	if o.from != "" {
		if from, err = sim.ParseTime(o.from); err != nil {
			return input{}, fmt.Errorf("-from: %w", err)
		}
	}
	if o.to != "" {
		if to, err = sim.ParseTime(o.to); err != nil {
			return input{}, fmt.Errorf("-to: %w", err)
		}
	}
	if !from.IsZero() && !to.IsZero() && !to.After(from) {
		return input{}, fmt.Errorf("-to %s must be after -from %s", o.to, o.from)
	}
	tr, err := sim.LoadTrace(o.trace)
	if errors.Is(err, fs.ErrNotExist) {
		return input{}, fmt.Errorf("%w (the measured traces are not in the repository: scripts/fetch-traces.sh downloads them to ../shared/traces, or to $NODEFLEET_TRACES)", err)
	}
	if err != nil {
		return input{}, err
	}
	w, err := tr.Window(from, to)
	if err != nil {
		return input{}, err
	}
	w.Name = filepath.Base(o.trace)
	d, err := w.Demand(o.peakNodes, o.podsPerNode)
	if err != nil {
		return input{}, fmt.Errorf("-peak-nodes/-pods-per-node: %w", err)
	}
	return input{Demand: d}, nil
}

// simConfig builds the simulation of one policy in one mode: the
// autoscaler's defaults, except MaxNodes (room above the peak) and, for
// the predictive policy in lambda mode, the history limit.
func simConfig(o options, in input, policy string, mode sim.Mode) (sim.Config, error) {
	if mode != sim.ModeLambda && mode != sim.ModeDaemon {
		return sim.Config{}, fmt.Errorf("-mode must be lambda or daemon, got %q", mode)
	}
	return simConfigWith(o, in, sim.PolicySpec{Name: policy, Calendar: in.Calendar}, mode)
}

// model is the cluster model the flags select.
func (o options) clusterModel() (sim.Model, error) {
	var m sim.Model
	switch o.model {
	case "real", "":
		m = sim.DefaultModel()
	case "ideal":
		m = sim.IdealModel()
	default:
		return m, fmt.Errorf("-model must be real or ideal, got %q", o.model)
	}
	if o.setInterruptions {
		m.InterruptionRate = o.interruptions
	}
	if o.setLaunchFailures {
		m.LaunchFailureRate = o.launchFailures
	}
	return m, nil
}

// simConfigWith builds the simulation of the policy spec in one mode.
func simConfigWith(o options, in input, spec sim.PolicySpec, mode sim.Mode) (sim.Config, error) {
	policy := spec.Name
	p, err := sim.NewPolicy(spec)
	if err != nil {
		return sim.Config{}, fmt.Errorf("-policy: %w", err)
	}
	m, err := o.clusterModel()
	if err != nil {
		return sim.Config{}, err
	}
	ac := autoscaler.DefaultConfig()
	ac.Policy = p
	ac.HistoryLimit = sim.HistoryLimit(policy, mode)
	ac.MaxNodes = sim.DefaultMaxNodes(in.Peak(), o.podsPerNode)
	if o.maxNodes > 0 {
		ac.MaxNodes = o.maxNodes
	}
	cfg := sim.Config{
		Start: in.Start, Step: in.Step, Demand: in.Units, PodsPerNode: o.podsPerNode,
		Mode: mode, Seed: o.seed, Autoscaler: ac, Model: &m, Load: o.load,
		// The defaults, stated here so that reports can print them.
		OnDemandPrice: 0.0416, SpotPrice: 0.0125, Market: autoscaler.Market(o.market),
	}
	pools, ok, err := poolsFor(o, o.pools)
	if err != nil {
		return sim.Config{}, err
	}
	if ok {
		cfg.Pools = &pools
	}
	return cfg, nil
}

// summary is the JSON form of a run.
type summary struct {
	Policy             string  `json:"policy"`
	Mode               string  `json:"mode"`
	Start              string  `json:"start"`
	End                string  `json:"end"`
	CostUSD            float64 `json:"cost_usd"`
	StaticCostUSD      float64 `json:"static_cost_usd"`
	StaticNodes        int     `json:"static_nodes"`
	OracleCostUSD      float64 `json:"oracle_cost_usd"`
	OracleRatio        float64 `json:"oracle_ratio"`
	SavingsPct         float64 `json:"savings_pct"`
	DemandPodMinutes   float64 `json:"demand_pod_minutes"`
	UnservedPodMinutes float64 `json:"unserved_pod_minutes"`
	UnservedPct        float64 `json:"unserved_pct"`
	ScaleUps           int     `json:"scale_ups"`
	ScaleDowns         int     `json:"scale_downs"`
	Churn              int     `json:"churn"`
	Launched           int     `json:"launched"`
	Terminated         int     `json:"terminated"`
	PeakNodes          int     `json:"peak_nodes"`
	Ticks              int     `json:"ticks"`
	Surges             int     `json:"surges"`
	P50TimeToCapacityS float64 `json:"p50_time_to_capacity_s"`
	P95TimeToCapacityS float64 `json:"p95_time_to_capacity_s"`
	Interruptions      int     `json:"interruptions"`
	CapacityFailures   int     `json:"capacity_failures"`
	Ghosts             int     `json:"ghosts"`
	Drains             int     `json:"drains"`
}

func summarize(policy string, rep sim.Report) summary {
	s := summary{
		Policy: policy, Mode: string(rep.Mode), Start: rep.Start.Format(time.RFC3339), End: rep.End.Format(time.RFC3339),
		CostUSD: rep.CostUSD, StaticCostUSD: rep.StaticCostUSD, StaticNodes: rep.StaticNodes, OracleCostUSD: rep.OracleCostUSD,
		SavingsPct: rep.SavingsPct(), DemandPodMinutes: rep.DemandPodMinutes, UnservedPodMinutes: rep.UnservedPodMinutes,
		UnservedPct: rep.UnservedPct(), ScaleUps: rep.ScaleUps, ScaleDowns: rep.ScaleDowns, Churn: rep.Churn, Launched: rep.Launched,
		Terminated: rep.Terminated, PeakNodes: rep.PeakNodes, Ticks: rep.Ticks, Surges: len(rep.TimeToCapacity),
		P50TimeToCapacityS: sim.Percentile(rep.TimeToCapacity, 50).Seconds(),
		P95TimeToCapacityS: sim.Percentile(rep.TimeToCapacity, 95).Seconds(),
		Interruptions:      rep.Interruptions, CapacityFailures: rep.CapacityFailures,
		Ghosts: rep.Ghosts, Drains: rep.Drains,
	}
	if rep.OracleCostUSD > 0 {
		s.OracleRatio = rep.CostUSD / rep.OracleCostUSD
	}
	return s
}

// progressBar draws a one-line bar on w, redrawn in place.
func progressBar(w io.Writer, label string) func(done, total time.Duration) {
	last := -1
	return func(done, total time.Duration) {
		if total <= 0 {
			return
		}
		pct := int(100 * done / total)
		if pct == last {
			return
		}
		last = pct
		const width = 30
		n := width * pct / 100
		fmt.Fprintf(w, "\r%-24s [%s%s] %3d%%", label, strings.Repeat("#", n), strings.Repeat(".", width-n), pct)
		if pct >= 100 {
			fmt.Fprint(w, "\r\033[K")
		}
	}
}
