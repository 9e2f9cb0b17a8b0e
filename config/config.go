// Package config reads the configuration shared by node-fleet's programs,
// the Lambda function (examples/lambda, environment variables only) and the
// daemon (examples/daemon, the same variables, each of which a command-line
// flag overrides). The variable names are the original design's
// (PROMETHEUS_URL, DYNAMODB_TABLE, CLUSTER_ID, SNS_TOPIC_ARN, MIN_NODES,
// MAX_NODES) and the ones it lacked (launch template, subnets, spot share,
// thresholds, the secret with the cluster's API credentials...).
//
// Load checks every value at start. When anything is wrong it returns one
// error that lists every problem, each naming its variable (or flag) and
// saying what is allowed, so that a misconfigured function fails on its
// first invocation with a message that says what to fix, rather than
// scaling with a guess.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/decision"
	"github.com/node-fleet/node-fleet/ec2fleet"
	"k8s.io/utils/ptr"
)

// Program says which program reads the configuration: a few settings
// belong to one of them only.
type Program int

// The programs.
const (
	// Lambda reads the environment only.
	Lambda Program = 1 << iota
	// Daemon reads the environment and its command line.
	Daemon
)

// Pending-pods sources (PENDING_PODS_SOURCE).
const (
	// PendingFromAPI counts unschedulable pods through the Kubernetes API
	// (metrics.KubePending): immediate and exact.
	PendingFromAPI = "api"
	// PendingFromPrometheus uses the Prometheus query on
	// kube-state-metrics.
	PendingFromPrometheus = "prometheus"
)

// Config is the programs' configuration, checked.
type Config struct {
	// ClusterID names the cluster in tags, labels, the lock and
	// notifications (CLUSTER_ID).
	ClusterID string
	// PrometheusURL is the Prometheus server's base URL (PROMETHEUS_URL).
	PrometheusURL string
	// PrometheusNodeSelector is added to the default CPU and memory
	// queries' node_exporter selectors (PROMETHEUS_NODE_SELECTOR).
	PrometheusNodeSelector string
	// PrometheusAuth is the Prometheus connection's credentials and TLS
	// (PROMETHEUS_BEARER_TOKEN_FILE, PROMETHEUS_USERNAME,
	// PROMETHEUS_PASSWORD_FILE, PROMETHEUS_CA_FILE,
	// PROMETHEUS_INSECURE_SKIP_VERIFY, PROMETHEUS_TIMEOUT).
	PrometheusAuth PrometheusAuth
	// PendingPodsSource is PendingFromAPI or PendingFromPrometheus
	// (PENDING_PODS_SOURCE).
	PendingPodsSource string
	// DynamoDBTable holds the lock and the state (DYNAMODB_TABLE).
	DynamoDBTable string
	// SNSTopicARN receives notifications; empty sends none
	// (SNS_TOPIC_ARN).
	SNSTopicARN string

	// MinNodes and MaxNodes bound the worker fleet (MIN_NODES,
	// MAX_NODES).
	MinNodes, MaxNodes int
	// LaunchTemplateID or LaunchTemplateName (exactly one) and
	// LaunchTemplateVersion name the workers' launch template
	// (LAUNCH_TEMPLATE_ID, LAUNCH_TEMPLATE_NAME, LAUNCH_TEMPLATE_VERSION).
	LaunchTemplateID, LaunchTemplateName, LaunchTemplateVersion string
	// Subnets are the workers' subnets (SUBNET_IDS, comma-separated).
	Subnets []string
	// Strategy is the market strategy (SPOT_STRATEGY) and SpotShare the
	// share of spot capacity with ec2fleet.StrategySpotShare (SPOT_SHARE).
	Strategy  ec2fleet.Strategy
	SpotShare float64
	// InstanceType overrides the launch template's type (INSTANCE_TYPE).
	InstanceType string
	// WorkerVCPU and WorkerMemoryMiB are a worker's size (WORKER_VCPU,
	// WORKER_MEMORY_MIB), for the scheduler's view while no worker runs;
	// 0: learnt from the Ready workers.
	WorkerVCPU      int
	WorkerMemoryMiB int64
	// InstanceTypes are the instance types a launch may use
	// (INSTANCE_TYPES), across every subnet; of one size (the same
	// vCPUs and memory: Build checks it with EC2 DescribeInstanceTypes).
	InstanceTypes []string

	// Thresholds configures the threshold policy (CPU_HIGH_PERCENT,
	// CPU_LOW_PERCENT, MEMORY_HIGH_PERCENT, MEMORY_LOW_PERCENT,
	// PENDING_PODS_THRESHOLD).
	Thresholds decision.ThresholdConfig
	// Policy names the shipped policy (POLICY): decision.PolicyThreshold,
	// PolicyReactive or PolicyPredictive.
	Policy string
	// Headroom is the reactive and predictive policies' spare capacity
	// (HEADROOM), a fraction.
	Headroom float64
	// Lead is the predictive policy's lead time (PREDICTIVE_LEAD).
	Lead time.Duration
	// ScaleDownWindow is the shipped policies' scale-down stabilisation
	// (SCALE_DOWN_WINDOW; decision.ShippedConfig.ScaleDownWindow); zero
	// leaves each policy its own default.
	ScaleDownWindow time.Duration
	// Forecast is the forecast mode (FORECAST): decision.ForecastOff, or
	// decision.ForecastShadow to have Policy act and the predictive
	// policy say, in every decision's reason, what it would have done.
	Forecast string
	// LoadQuery is a PromQL query whose single result is the workload's
	// load, such as its request rate (LOAD_QUERY): Build adds it to the
	// Prometheus source's custom queries as decision.MetricLoad, which
	// the predictive policy forecasts. Empty: none, and the pods' demand
	// is forecast instead.
	LoadQuery string
	// Calendar is the predictive policy's known events (CALENDAR); events
	// stored with the cluster's state are added to them at every tick.
	Calendar []decision.Event
	// ScaleUpCooldown, ScaleDownCooldown, LockTTL, JoinTimeout and
	// DrainTimeout are the autoscaler's and the drain's timings
	// (SCALE_UP_COOLDOWN, SCALE_DOWN_COOLDOWN, LOCK_TTL, JOIN_TIMEOUT,
	// DRAIN_TIMEOUT).
	ScaleUpCooldown, ScaleDownCooldown time.Duration
	LockTTL, JoinTimeout, DrainTimeout time.Duration
	// ScrapeInterval is Prometheus' scrape interval of the workers'
	// node_exporter (SCRAPE_INTERVAL): a node Ready for less than two of
	// them is not expected in the CPU average (autoscaler.Config's
	// NewNodeGrace is twice it).
	ScrapeInterval time.Duration
	// RealertInterval is how often an alert about a condition that stays
	// is sent again (REALERT_INTERVAL; autoscaler.Config.RealertInterval).
	RealertInterval time.Duration

	// KubeconfigSecret is the Secrets Manager secret (name or ARN) whose
	// string is a kubeconfig for the cluster's API server
	// (KUBECONFIG_SECRET). Required for the Lambda function; the daemon
	// may use Kubeconfig or its in-cluster service account instead.
	KubeconfigSecret string
	// Kubeconfig is the path of a kubeconfig file (daemon; KUBECONFIG).
	// Empty: KubeconfigSecret, or else the in-cluster service account.
	Kubeconfig string
	// NodeSelector limits the nodes the autoscaler manages (a label
	// selector; NODE_SELECTOR). Default: the nodes carrying
	// autoscaler.LabelCluster=ClusterID, which the join script sets, so
	// that the K3s server is never a candidate.
	NodeSelector string

	// Interval is the daemon's time between ticks (TICK_INTERVAL).
	Interval time.Duration
	// BatchIdle and BatchMax are the daemon's batching of unschedulable
	// pods (BATCH_IDLE_DURATION, BATCH_MAX_DURATION): after the first, it
	// ticks once none has come for BatchIdle, or BatchMax after the
	// first at the latest.
	BatchIdle, BatchMax time.Duration
	// InterruptionQueueURL is the daemon's interruption queue
	// (INTERRUPTION_QUEUE_URL); empty: none.
	InterruptionQueueURL string
	// Listen is the daemon's HTTP address for /metrics and /healthz
	// (LISTEN_ADDR).
	Listen string
	// LogLevel is the daemon's log level (LOG_LEVEL). The Lambda
	// function follows AWS_LAMBDA_LOG_LEVEL, as Lambda's log handler does.
	LogLevel slog.Level

	// DryRun makes the autoscaler plan and record what it would do and
	// do none of it (DRY_RUN, the daemon's -dry-run; see
	// autoscaler.Config.DryRun).
	DryRun bool
}

// Defaults returns the configuration's defaults: the original design's
// (2 to 10 workers, 70% spot, 70%/30% CPU, 10 minutes of scale-down
// cooldown, a 5-minute lock) and the daemon's (a tick a minute, :8080).
func Defaults() Config {
	ac := autoscaler.DefaultConfig()
	return Config{
		PendingPodsSource:     PendingFromAPI,
		MinNodes:              ac.MinNodes,
		MaxNodes:              ac.MaxNodes,
		LaunchTemplateVersion: ec2fleet.DefaultLaunchTemplateVersion,
		Strategy:              ec2fleet.Strategies()[0],
		SpotShare:             ec2fleet.DefaultSpotShare,
		Thresholds:            decision.DefaultThresholdConfig(),
		Policy:                decision.PolicyThreshold,
		Lead:                  decision.DefaultLead,
		Forecast:              decision.ForecastOff,
		ScaleUpCooldown:       ac.ScaleUpCooldown,
		ScaleDownCooldown:     ac.ScaleDownCooldown,
		LockTTL:               ac.LockTTL,
		JoinTimeout:           ac.JoinTimeout,
		DrainTimeout:          3 * time.Minute,
		ScrapeInterval:        ac.NewNodeGrace / 2,
		RealertInterval:       ac.RealertInterval,
		Interval:              time.Minute,
		BatchIdle:             time.Second,
		BatchMax:              10 * time.Second,
		Listen:                ":8080",
		LogLevel:              slog.LevelInfo,
	}
}

// Load reads the configuration of prog from the environment (getenv,
// usually os.Getenv) and, for the daemon, from args (the command line
// without the program name); a flag given on the command line wins over
// its variable. It returns an *Error listing every problem, or, when args
// ask for help (-h, -help), flag.ErrHelp after writing the usage to
// usage (which may be nil).
func Load(prog Program, getenv func(string) string, args []string, usage io.Writer) (Config, error) {
	g := readEnv(prog, getenv)
	if prog == Daemon {
		if err := g.readFlags(args, usage); err != nil {
			return Config{}, err
		}
	}
	cfg := Defaults()
	problems, failed := g.parse(prog, &cfg)
	problems = append(problems, g.conflicts(cfg, failed)...)
	if cfg.NodeSelector == "" {
		cfg.NodeSelector = autoscaler.LabelCluster + "=" + cfg.ClusterID
	}
	if len(problems) > 0 {
		return Config{}, &Error{Problems: problems}
	}
	return cfg, nil
}

// given is what the user set: each setting's value by its variable, and
// where it came from (the variable's or the flag's name).
type given struct {
	values, source map[string]string
}

// readEnv returns the variables of prog's settings that getenv has.
func readEnv(prog Program, getenv func(string) string) given {
	g := given{values: map[string]string{}, source: map[string]string{}}
	for _, s := range settings() {
		if s.programs&prog == 0 {
			continue
		}
		if v := getenv(s.env); v != "" {
			g.values[s.env], g.source[s.env] = v, s.env
		}
	}
	return g
}

// readFlags adds the daemon's flags in args to g, over the variables. It
// returns flag.ErrHelp after writing the usage to usage (which may be
// nil) when args ask for help, and an *Error for flags it cannot parse.
func (g given) readFlags(args []string, usage io.Writer) error {
	fs := flag.NewFlagSet("node-fleet-daemon", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	flags := map[string]*string{}
	for _, s := range settings() {
		switch {
		case s.programs&Daemon == 0:
		case s.boolean:
			v := new(string)
			fs.Var(boolFlag{v}, s.flag(), s.help)
			flags[s.env] = v
		default:
			flags[s.env] = fs.String(s.flag(), "", s.help)
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			if usage != nil {
				_, _ = io.WriteString(usage, Usage(Daemon))
			}
			return err
		}
		return &Error{Problems: []string{err.Error() + " (-h lists the flags)"}}
	}
	if fs.NArg() > 0 {
		return &Error{Problems: []string{fmt.Sprintf("unexpected argument %q: every setting is a flag (-h lists them)", fs.Arg(0))}}
	}
	fs.Visit(func(f *flag.Flag) {
		for _, s := range settings() {
			if s.flag() == f.Name {
				g.values[s.env], g.source[s.env] = *flags[s.env], "-"+f.Name
			}
		}
	})
	return nil
}

// parse parses every setting of prog that g has into cfg. It returns the
// problems, including the required settings g lacks, and which settings
// failed.
func (g given) parse(prog Program, cfg *Config) (problems []string, failed map[string]bool) {
	failed = map[string]bool{}
	for _, s := range settings() {
		if s.programs&prog == 0 {
			continue
		}
		v, ok := g.values[s.env]
		if !ok {
			if s.required&prog != 0 {
				problems = append(problems, fmt.Sprintf("%s is required: %s", nameOf(prog, s), s.help))
			}
			continue
		}
		if err := s.parse(cfg, v); err != nil {
			failed[s.env] = true
			problems = append(problems, fmt.Sprintf("%s=%q: %v", g.source[s.env], v, err))
		}
	}
	return problems, failed
}

// name is how a cross-setting problem names a setting: as the user gave
// it, or by its variable when it has its default.
func (g given) name(env string) string {
	if src, ok := g.source[env]; ok {
		return src
	}
	return env
}

// conflicts returns the problems across settings of cfg, each checked
// only when the settings it reads are fine on their own (not in failed).
func (g given) conflicts(cfg Config, failed map[string]bool) []string {
	var problems []string
	values, name := g.values, g.name
	// Checks across settings, only when each setting is fine on its own.
	fine := func(envs ...string) bool {
		for _, e := range envs {
			if failed[e] {
				return false
			}
		}
		return true
	}
	if cfg.MinNodes > cfg.MaxNodes && fine("MIN_NODES", "MAX_NODES") {
		problems = append(problems, fmt.Sprintf("%s (%d) must not exceed %s (%d)", name("MIN_NODES"), cfg.MinNodes, name("MAX_NODES"), cfg.MaxNodes))
	}
	for _, e := range cfg.Calendar {
		if e.Pods > 0 && e.Nodes == 0 && fine("CALENDAR") {
			problems = append(problems, fmt.Sprintf("%s: event %q gives pods=%g; the programs' policies count demand in nodes (worker units): give nodes=N", name("CALENDAR"), e.Name, e.Pods))
		}
	}
	// Settings that nothing would read are refused: silently ignored,
	// they look like a working configuration.
	if _, set := values["CALENDAR"]; set && cfg.Policy != decision.PolicyPredictive && fine("CALENDAR", "POLICY") {
		problems = append(problems, fmt.Sprintf("%s is set but %s is %s, which does not read it: only the predictive policy scales ahead of known events (set %s=predictive, or remove %s)",
			name("CALENDAR"), name("POLICY"), cfg.Policy, name("POLICY"), name("CALENDAR")))
	}
	if cfg.Policy == decision.PolicyPredictive && cfg.InstanceType == "" && len(cfg.InstanceTypes) == 0 && fine("POLICY", "INSTANCE_TYPE", "INSTANCE_TYPES") {
		problems = append(problems, fmt.Sprintf("%s=predictive needs the workers' size, %s or %s: it counts demand (and %s's events) in workers, from the scheduler's view of what one worker holds, and without a worker type there is no such view",
			name("POLICY"), name("INSTANCE_TYPE"), name("INSTANCE_TYPES"), name("CALENDAR")))
	}
	if cfg.Policy == decision.PolicyPredictive && cfg.PendingPodsSource != PendingFromAPI && fine("POLICY", "PENDING_PODS_SOURCE") {
		problems = append(problems, fmt.Sprintf("%s=predictive needs %s=%s: it counts demand (and %s's events) in workers, from the scheduler's view of the pods, which only the Kubernetes API gives",
			name("POLICY"), name("PENDING_PODS_SOURCE"), PendingFromAPI, name("CALENDAR")))
	}
	if (cfg.WorkerVCPU == 0) != (cfg.WorkerMemoryMiB == 0) && fine("WORKER_VCPU", "WORKER_MEMORY_MIB") {
		problems = append(problems, fmt.Sprintf("%s and %s go together: set both or neither", name("WORKER_VCPU"), name("WORKER_MEMORY_MIB")))
	}
	if err := distinctTypes(cfg.InstanceTypes); err != nil && fine("INSTANCE_TYPES") {
		problems = append(problems, fmt.Sprintf("%s: %v", name("INSTANCE_TYPES"), err))
	}
	if _, one := values["INSTANCE_TYPE"]; one && len(cfg.InstanceTypes) > 0 && fine("INSTANCE_TYPE", "INSTANCE_TYPES") {
		problems = append(problems, fmt.Sprintf("%s and %s are both set: set one of them", name("INSTANCE_TYPE"), name("INSTANCE_TYPES")))
	}
	_, id := values["LAUNCH_TEMPLATE_ID"]
	_, nm := values["LAUNCH_TEMPLATE_NAME"]
	switch {
	case !id && !nm:
		problems = append(problems, fmt.Sprintf("%s or %s is required: the workers' EC2 launch template", name("LAUNCH_TEMPLATE_ID"), name("LAUNCH_TEMPLATE_NAME")))
	case id && nm:
		problems = append(problems, fmt.Sprintf("%s and %s are both set: set one of them", name("LAUNCH_TEMPLATE_ID"), name("LAUNCH_TEMPLATE_NAME")))
	}
	th, dth := cfg.Thresholds, decision.DefaultThresholdConfig()
	if cpuLow := ptr.Deref(th.CPULow, *dth.CPULow); cpuLow >= th.CPUHigh && fine("CPU_LOW_PERCENT", "CPU_HIGH_PERCENT") {
		problems = append(problems, fmt.Sprintf("%s (%g) must be below %s (%g)", name("CPU_LOW_PERCENT"), cpuLow, name("CPU_HIGH_PERCENT"), th.CPUHigh))
	}
	if memLow := ptr.Deref(th.MemoryLow, *dth.MemoryLow); memLow >= th.MemoryHigh && fine("MEMORY_LOW_PERCENT", "MEMORY_HIGH_PERCENT") {
		problems = append(problems, fmt.Sprintf("%s (%g) must be below %s (%g)", name("MEMORY_LOW_PERCENT"), memLow, name("MEMORY_HIGH_PERCENT"), th.MemoryHigh))
	}
	if cfg.Forecast == decision.ForecastShadow && cfg.Policy == decision.PolicyPredictive && fine("FORECAST", "POLICY") {
		problems = append(problems, fmt.Sprintf("%s=%s needs another %s to act than %s", name("FORECAST"), cfg.Forecast, name("POLICY"), cfg.Policy))
	}
	if cfg.DrainTimeout >= cfg.LockTTL && fine("DRAIN_TIMEOUT", "LOCK_TTL") {
		problems = append(problems, fmt.Sprintf("%s (%s) must be shorter than %s (%s): a drain runs under the lock", name("DRAIN_TIMEOUT"), cfg.DrainTimeout, name("LOCK_TTL"), cfg.LockTTL))
	}
	if cfg.BatchIdle > cfg.BatchMax && fine("BATCH_IDLE_DURATION", "BATCH_MAX_DURATION") {
		problems = append(problems, fmt.Sprintf("%s (%s) must not exceed %s (%s): a batch ends at the latest after the longest wait", name("BATCH_IDLE_DURATION"), cfg.BatchIdle, name("BATCH_MAX_DURATION"), cfg.BatchMax))
	}
	return problems
}

// boolFlag is a boolean setting's daemon flag: given alone it is "true";
// its value is checked with the variable's, by the setting's parse.
type boolFlag struct{ v *string }

func (b boolFlag) String() string {
	if b.v == nil {
		return ""
	}
	return *b.v
}

func (b boolFlag) Set(s string) error { *b.v = s; return nil }

func (b boolFlag) IsBoolFlag() bool { return true }

// nameOf is how a problem names a setting the user did not set: its
// variable, and for the daemon its flag too.
func nameOf(prog Program, s setting) string {
	if prog == Daemon {
		return s.env + " (-" + s.flag() + ")"
	}
	return s.env
}

// Error is a configuration that cannot be used. Its message is one line
// per problem when there are several.
type Error struct {
	// Problems are the problems, each naming its variable or flag and
	// saying what is allowed.
	Problems []string
}

// Error returns "configuration: " and the problems, separated by "; ".
func (e *Error) Error() string {
	return "configuration: " + strings.Join(e.Problems, "; ")
}

// Usage returns the list of settings of prog, with their variables,
// flags, what they accept and their defaults.
func Usage(prog Program) string {
	var b strings.Builder
	if prog == Daemon {
		b.WriteString("Usage: daemon [flags]\n\nEvery flag can be given as the environment variable named beside it; the flag wins.\n\n")
	} else {
		b.WriteString("Environment variables:\n\n")
	}
	var list []setting
	for _, s := range settings() {
		if s.programs&prog != 0 {
			list = append(list, s)
		}
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].required&prog != 0 && list[j].required&prog == 0 })
	for _, s := range list {
		if prog == Daemon {
			fmt.Fprintf(&b, "  -%s, %s\n", s.flag(), s.env)
		} else {
			fmt.Fprintf(&b, "  %s\n", s.env)
		}
		req := ""
		if s.required&prog != 0 {
			req = " Required."
		}
		fmt.Fprintf(&b, "\t%s.%s\n", s.describe(), req)
	}
	return b.String()
}

// PrometheusAuth is how the programs reach a Prometheus that wants
// credentials or a private CA.
type PrometheusAuth struct {
	// BearerTokenFile holds a bearer token, read for every query.
	BearerTokenFile string
	// Username and PasswordFile are HTTP basic auth.
	Username, PasswordFile string
	// CAFile is the PEM bundle of a private CA.
	CAFile string
	// InsecureSkipVerify accepts any certificate (labs only).
	InsecureSkipVerify bool
	// Timeout bounds every query; 0 is metrics' default.
	Timeout time.Duration
}
