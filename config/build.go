package config

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/clock"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/decision"
	"github.com/node-fleet/node-fleet/drain"
	"github.com/node-fleet/node-fleet/ec2fleet"
	"github.com/node-fleet/node-fleet/kube"
	"github.com/node-fleet/node-fleet/metrics"
	"github.com/node-fleet/node-fleet/notify"
	"github.com/node-fleet/node-fleet/state"
)

// Options are what Build needs beyond the Config: the connections and the
// program's own choices.
type Options struct {
	// AWS is the AWS configuration (region, credentials, endpoint).
	// Required.
	AWS aws.Config
	// Kube, when set, is the API server connection to use; otherwise it
	// comes from Config.Kubeconfig, Config.KubeconfigSecret (read once
	// from Secrets Manager), or the in-cluster service account, in that
	// order.
	Kube *rest.Config
	// Publisher publishes the autoscaler's own metrics (CloudWatch for
	// the Lambda function, Prometheus for the daemon); nil publishes none.
	Publisher autoscaler.Publisher
	// Owner identifies this replica in the lock; default chosen by
	// autoscaler.New.
	Owner string
	// Clock defaults to the real clock.
	Clock clock.WithTicker
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Policy, when set, replaces the policy the configuration names: a
	// program runs its own policy with the stock wiring.
	Policy autoscaler.Policy
	// Queries are PromQL queries of the program's own (a queue depth, a
	// request rate) whose readings reach the policy in Snapshot.Custom
	// under the same names. With Config.LoadQuery (LOAD_QUERY) set, none
	// may be named decision.MetricLoad: Build adds that one.
	Queries map[string]metrics.Query
	// Customize, when set, is called with the autoscaler's configuration
	// after every part is built and before autoscaler.New checks it: it
	// may replace any part (the metric source, the notifier...) or
	// setting.
	Customize func(*autoscaler.Config)
}

// Parts are the wired components. Autoscaler runs the ticks; the others
// are there for what a program does besides ticking (the Lambda function's
// spot-interruption handling, the daemon's watch).
type Parts struct {
	Autoscaler *autoscaler.Autoscaler
	// Config is the configuration Autoscaler was built from, parts
	// included.
	Config autoscaler.Config
	EC2    *ec2.Client
	// Kube is the API server client the parts share (kube.NewForConfig:
	// only the API groups they use, to keep the Lambda function small).
	Kube kube.Interface
	// KubeConfig is its connection, rate limit included, for a program
	// that needs more of the API (the daemon's watch builds a client-go
	// clientset on it).
	KubeConfig *rest.Config
	Store      *state.Dynamo
	Fleet      *ec2fleet.Provider
	Nodes      *drain.Manager
	// Prometheus is the metric source; close it when done.
	Prometheus *metrics.Prometheus
}

// KubeQPS and KubeBurst are the client-side rate limit (requests per
// second, and the burst above it) of the API server client Build makes,
// unless the connection sets its own QPS, Burst or RateLimiter.
// client-go's default, 5 and 10, slowed ticks called back to back from
// about 30 ms to 375 ms; these are kube-controller-manager's defaults.
// docs/benchmarks.md ("The API server's rate limit") says why they are
// safe for the API server.
const (
	KubeQPS   = 20
	KubeBurst = 30
)

// Build connects to the cluster's API server and wires the parts: EC2
// fleet, DynamoDB lock and state, Prometheus (and the API's pending pods),
// the threshold policy, the drain manager, the SNS notifier. It reads the
// kubeconfig secret when it has to and, with INSTANCE_TYPES, asks EC2
// DescribeInstanceTypes for the listed types' sizes (refusing a type EC2
// does not know, types of different vCPUs or memory, and, when the sizes
// cannot be had, starting at all); it makes no other call.
func Build(ctx context.Context, cfg Config, opts Options) (*Parts, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	kubeCfg, kc, err := connectKube(ctx, cfg, opts)
	if err != nil {
		return nil, err
	}
	p := &Parts{EC2: ec2.NewFromConfig(opts.AWS), Kube: kc, KubeConfig: kubeCfg}
	policy, notifier, err := p.build(cfg, opts)
	if err != nil {
		return nil, err
	}
	if err := oneSize(ctx, p.Fleet, cfg.InstanceTypes); err != nil {
		p.Prometheus.Close()
		return nil, fmt.Errorf("INSTANCE_TYPES (Config.InstanceTypes): %w", err)
	}
	source, err := metricSource(cfg, opts, p)
	if err != nil {
		return nil, err
	}
	ac := autoscalerConfig(cfg, opts, p, source, policy)
	if notifier != nil {
		ac.Notifier = notifier
	}
	if opts.Customize != nil {
		opts.Customize(&ac)
	}
	p.Autoscaler, err = autoscaler.New(ac)
	if err != nil {
		return nil, err
	}
	p.Config = ac
	return p, nil
}

// connectKube returns the API server connection (opts.Kube, or else the
// one KubeRESTConfig finds), with Build's rate limit unless it sets its own,
// and a client on it.
func connectKube(ctx context.Context, cfg Config, opts Options) (*rest.Config, kube.Interface, error) {
	kubeCfg := opts.Kube
	if kubeCfg == nil {
		var err error
		if kubeCfg, err = KubeRESTConfig(ctx, cfg, opts.AWS); err != nil {
			return nil, nil, err
		}
	}
	if kubeCfg.QPS == 0 && kubeCfg.Burst == 0 && kubeCfg.RateLimiter == nil {
		kubeCfg = rest.CopyConfig(kubeCfg)
		kubeCfg.QPS, kubeCfg.Burst = KubeQPS, KubeBurst
	}
	kc, err := kube.NewForConfig(kubeCfg)
	if err != nil {
		return nil, nil, fmt.Errorf("kubernetes client for %s: %w", kubeCfg.Host, err)
	}
	return kubeCfg, kc, nil
}

// build makes p's state store, fleet, node manager and Prometheus source,
// and the policy and the notifier (nil without an SNS topic). Its error
// joins every part's.
func (p *Parts) build(cfg Config, opts Options) (autoscaler.Policy, autoscaler.Notifier, error) {
	log := opts.Logger
	var errs []error
	var err error
	p.Store, err = state.NewDynamo(state.DynamoConfig{
		Client: dynamodb.NewFromConfig(opts.AWS), Table: cfg.DynamoDBTable, ClusterID: cfg.ClusterID,
		Clock: opts.Clock, Logger: log.With("part", "state"),
	})
	errs = append(errs, err)
	fc, err := fleetConfig(cfg, opts, p)
	errs = append(errs, err)
	p.Fleet, err = ec2fleet.New(fc)
	errs = append(errs, err)
	p.Nodes, err = drain.New(drain.Config{
		Client: p.Kube, NodeSelector: cfg.NodeSelector, Timeout: cfg.DrainTimeout,
		Clock: opts.Clock, Logger: log.With("part", "drain"),
	})
	errs = append(errs, err)
	if pcfg, err := prometheusConfig(cfg, opts); err != nil {
		errs = append(errs, err)
	} else {
		p.Prometheus, err = metrics.NewPrometheus(pcfg)
		errs = append(errs, err)
	}
	var policy autoscaler.Policy = opts.Policy
	if policy == nil {
		th := cfg.Thresholds
		policy, err = decision.Shipped(decision.ShippedConfig{Name: cfg.Policy, Threshold: &th,
			Headroom: cfg.Headroom, Lead: cfg.Lead, ScaleDownWindow: cfg.ScaleDownWindow, Calendar: cfg.Calendar, Forecast: cfg.Forecast})
	}
	errs = append(errs, err)
	var notifier autoscaler.Notifier
	if cfg.SNSTopicARN != "" {
		n, err := notify.NewSNS(notify.SNSConfig{Client: sns.NewFromConfig(opts.AWS), TopicARN: cfg.SNSTopicARN, SubjectPrefix: "[node-fleet " + cfg.ClusterID + "]", Logger: log.With("part", "sns")})
		errs = append(errs, err)
		notifier = n
	}
	return policy, notifier, errors.Join(errs...)
}

// fleetConfig returns the EC2 fleet's configuration, its unavailable
// pools kept in p.Store. It refuses both INSTANCE_TYPE and INSTANCE_TYPES.
func fleetConfig(cfg Config, opts Options, p *Parts) (ec2fleet.Config, error) {
	fc := ec2fleet.Config{
		ClusterID: cfg.ClusterID, Client: p.EC2,
		LaunchTemplate: ec2fleet.LaunchTemplate{ID: cfg.LaunchTemplateID, Name: cfg.LaunchTemplateName, Version: cfg.LaunchTemplateVersion},
		Subnets:        cfg.Subnets, Strategy: cfg.Strategy, SpotShare: cfg.SpotShare,
		InstanceTypes: cfg.InstanceTypes, Clock: opts.Clock, Logger: opts.Logger.With("part", "ec2fleet"),
	}
	var err error
	switch {
	case cfg.InstanceType != "" && len(cfg.InstanceTypes) > 0:
		// Load refuses it; a Config built by hand must not have one list
		// silently win.
		err = errors.New("INSTANCE_TYPE (Config.InstanceType) and INSTANCE_TYPES (Config.InstanceTypes) are both set: set one of them")
	case distinctTypes(cfg.InstanceTypes) != nil:
		err = fmt.Errorf("INSTANCE_TYPES (Config.InstanceTypes): %w", distinctTypes(cfg.InstanceTypes))
	case cfg.InstanceType != "": // INSTANCE_TYPE: a list of one
		fc.InstanceTypes = []string{cfg.InstanceType}
	}
	if p.Store != nil {
		// Pools that refused a launch are remembered with the cluster's
		// state: a cold start does not ask them again.
		fc.Pools = storedPools{p.Store}
	}
	return fc, err
}

// prometheusConfig returns the Prometheus source's configuration: its
// address and credentials, the custom queries (opts.Queries and
// LOAD_QUERY's), and pending pods left to the API when they are counted
// there. It refuses a blank LOAD_QUERY and one that opts.Queries already
// names.
func prometheusConfig(cfg Config, opts Options) (metrics.Config, error) {
	custom, err := customQueries(cfg, opts)
	if err != nil {
		return metrics.Config{}, err
	}
	pa := cfg.PrometheusAuth
	pcfg := metrics.Config{URL: cfg.PrometheusURL, NodeSelector: cfg.PrometheusNodeSelector, Custom: custom, Clock: opts.Clock, Logger: opts.Logger.With("part", "prometheus"),
		BearerTokenFile: pa.BearerTokenFile, QueryTimeout: pa.Timeout,
		TLS: metrics.TLSConfig{CAFile: pa.CAFile, InsecureSkipVerify: pa.InsecureSkipVerify}}
	if pa.Username != "" || pa.PasswordFile != "" {
		pcfg.BasicAuth = &metrics.BasicAuth{Username: pa.Username, PasswordFile: pa.PasswordFile}
	}
	if cfg.PendingPodsSource == PendingFromAPI {
		pcfg.PendingPods.Disabled = true
	}
	return pcfg, nil
}

// customQueries returns opts.Queries with LOAD_QUERY's query added as
// decision.MetricLoad, in a new map (opts.Queries is not changed); without
// LOAD_QUERY, opts.Queries itself.
func customQueries(cfg Config, opts Options) (map[string]metrics.Query, error) {
	if cfg.LoadQuery == "" {
		return opts.Queries, nil
	}
	if strings.TrimSpace(cfg.LoadQuery) == "" {
		// Load refuses it; a Config built by hand must not send a blank
		// query.
		return nil, errors.New("LOAD_QUERY (Config.LoadQuery) is blank: set a PromQL query or leave it empty")
	}
	if _, clash := opts.Queries[decision.MetricLoad]; clash {
		return nil, fmt.Errorf("LOAD_QUERY (Config.LoadQuery) is set and Options.Queries already has a query named %q, the name LOAD_QUERY's query is read under: set one of them", decision.MetricLoad)
	}
	custom := make(map[string]metrics.Query, len(opts.Queries)+1)
	maps.Copy(custom, opts.Queries)
	custom[decision.MetricLoad] = metrics.Query{Expr: cfg.LoadQuery}
	return custom, nil
}

// metricSource returns p.Prometheus, with the pending pods from the API
// when they are counted there: the scheduler's view when the workers'
// type is known, else a plain count.
func metricSource(cfg Config, opts Options, p *Parts) (autoscaler.MetricSource, error) {
	log := opts.Logger
	workerType := cfg.InstanceType
	if workerType == "" && len(cfg.InstanceTypes) > 0 {
		workerType = cfg.InstanceTypes[0]
	}
	switch {
	case cfg.PendingPodsSource == PendingFromAPI && workerType != "":
		// The scheduler's view: pending pods with their requests, what a
		// new worker offers, how many workers they need.
		k, err := metrics.NewKubeScheduler(metrics.KubeSchedulerConfig{Client: p.Kube, InstanceType: workerType, ClusterID: cfg.ClusterID,
			Workers: cfg.NodeSelector, VCPU: cfg.WorkerVCPU, MemoryMiB: cfg.WorkerMemoryMiB, InstanceTypes: p.Fleet, FleetZones: p.Fleet,
			Clock: opts.Clock, Logger: log.With("part", "scheduler-view")})
		if err != nil {
			return nil, err
		}
		return metrics.OverrideScheduler(p.Prometheus, k), nil
	case cfg.PendingPodsSource == PendingFromAPI:
		log.Warn("INSTANCE_TYPE and INSTANCE_TYPES are unset: pending pods are counted without their requests (no scheduler's view); set one to size scale-ups from the pods")
		pending, err := metrics.NewKubePending(metrics.KubePendingConfig{Client: p.Kube, Clock: opts.Clock, Logger: log.With("part", "pending")})
		if err != nil {
			return nil, err
		}
		return metrics.OverridePending(p.Prometheus, pending), nil
	}
	return p.Prometheus, nil
}

// autoscalerConfig returns the autoscaler's configuration from cfg and
// the parts, the programs' zeros (MIN_NODES=0, SCALE_DOWN_COOLDOWN=0)
// turned into the library's explicit none.
func autoscalerConfig(cfg Config, opts Options, p *Parts, source autoscaler.MetricSource, policy autoscaler.Policy) autoscaler.Config {
	ac := autoscaler.DefaultConfig()
	ac.ClusterID, ac.Owner = cfg.ClusterID, opts.Owner
	ac.Metrics, ac.Policy, ac.Locker, ac.State, ac.Fleet, ac.Nodes = source, policy, p.Store, p.Store, p.Fleet, p.Nodes
	ac.Publisher = opts.Publisher
	ac.Clock, ac.Logger = opts.Clock, opts.Logger
	ac.MinNodes, ac.MaxNodes = cfg.MinNodes, cfg.MaxNodes
	if cfg.MinNodes == 0 {
		// MIN_NODES=0 is asked for; the library's 0 is its default.
		ac.MinNodes = autoscaler.NoMinimum
	}
	ac.ScaleUpCooldown, ac.ScaleDownCooldown = cfg.ScaleUpCooldown, cfg.ScaleDownCooldown
	if cfg.ScaleDownCooldown == 0 {
		ac.ScaleDownCooldown = autoscaler.NoCooldown
	}
	ac.LockTTL, ac.JoinTimeout = cfg.LockTTL, cfg.JoinTimeout
	// Two scrapes: rate() needs two samples of a new node.
	ac.NewNodeGrace, ac.RealertInterval = 2*cfg.ScrapeInterval, cfg.RealertInterval
	ac.DryRun = cfg.DryRun
	if cfg.Interval > 0 {
		ac.Interval = cfg.Interval
	}
	return ac
}

// SecretsClient is the part of the Secrets Manager API Build uses.
type SecretsClient interface {
	GetSecretValue(ctx context.Context, params *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// KubeRESTConfig finds the API server connection as Build does: the
// kubeconfig file cfg.Kubeconfig, else the kubeconfig secret
// cfg.KubeconfigSecret (read from Secrets Manager), else the in-cluster
// service account. It sets no rate limit.
func KubeRESTConfig(ctx context.Context, cfg Config, awsCfg aws.Config) (*rest.Config, error) {
	switch {
	case cfg.Kubeconfig != "":
		c, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("KUBECONFIG %s: %w", cfg.Kubeconfig, err)
		}
		return c, nil
	case cfg.KubeconfigSecret != "":
		return KubeconfigFromSecret(ctx, secretsmanager.NewFromConfig(awsCfg), cfg.KubeconfigSecret)
	}
	c, err := rest.InClusterConfig()
	if err != nil {
		return nil, fmt.Errorf("no KUBECONFIG or KUBECONFIG_SECRET, and not in a cluster: %w", err)
	}
	return c, nil
}

// KubeconfigFromSecret reads a kubeconfig from the Secrets Manager secret
// id (its string value) and returns its current context's connection.
func KubeconfigFromSecret(ctx context.Context, client SecretsClient, id string) (*rest.Config, error) {
	out, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		return nil, fmt.Errorf("read KUBECONFIG_SECRET %s: %w", id, err)
	}
	if out.SecretString == nil || *out.SecretString == "" {
		return nil, fmt.Errorf("KUBECONFIG_SECRET %s is empty: the K3s server writes it when it is up (deploy/server-init.sh)", id)
	}
	c, err := clientcmd.RESTConfigFromKubeConfig([]byte(*out.SecretString))
	if err != nil {
		return nil, fmt.Errorf("KUBECONFIG_SECRET %s does not hold a usable kubeconfig: %w", id, err)
	}
	return c, nil
}

// storedPools keeps ec2fleet's unavailable pools in the cluster's DynamoDB
// item (attribute x_unavailable_pools). Save only stages them: the tick's
// next Save of the state writes them, fenced by the lease it is given
// (Launch, which learns the pools, holds no lease of its own).
type storedPools struct{ d *state.Dynamo }

// Load implements ec2fleet.PoolMemory.
func (s storedPools) Load(ctx context.Context) ([]ec2fleet.UnavailablePool, error) {
	var pools []ec2fleet.UnavailablePool
	_, err := s.d.LoadJSON(ctx, "unavailable_pools", &pools)
	return pools, err
}

// Save implements ec2fleet.PoolMemory: the pools are written with the
// state, by the tick's next StateStore.Save. When they are more than one
// extra attribute holds (state.MaxExtraBytes: about 110 pools, fewer than
// 10 types in 6 zones in both markets), those avoided longest are kept:
// a pool dropped is only asked again.
func (s storedPools) Save(_ context.Context, pools []ec2fleet.UnavailablePool) error {
	return s.d.StageJSON("unavailable_pools", fitPools(pools, state.MaxExtraBytes))
}

// fitPools returns the pools whose JSON fits in limit bytes: all of them,
// else those avoided longest, in their order.
func fitPools(pools []ec2fleet.UnavailablePool, limit int) []ec2fleet.UnavailablePool {
	fits := func(n int) bool { // do the n avoided longest fit?
		b, err := json.Marshal(longest(pools, n))
		return err != nil || len(b) <= limit // an encoding error is StageJSON's to report
	}
	if fits(len(pools)) {
		return pools
	}
	n := sort.Search(len(pools), func(n int) bool { return !fits(n + 1) })
	return longest(pools, n)
}

// longest returns the n pools avoided longest, in their order in pools.
func longest(pools []ec2fleet.UnavailablePool, n int) []ec2fleet.UnavailablePool {
	if n >= len(pools) {
		return pools
	}
	idx := make([]int, len(pools))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return pools[b].Until.Compare(pools[a].Until) })
	idx = idx[:n]
	slices.Sort(idx)
	out := make([]ec2fleet.UnavailablePool, 0, n)
	for _, i := range idx {
		out = append(out, pools[i])
	}
	return out
}
