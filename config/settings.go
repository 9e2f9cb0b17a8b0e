package config

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/node-fleet/node-fleet/decision"
	"github.com/node-fleet/node-fleet/ec2fleet"
	"github.com/node-fleet/node-fleet/metrics"
	"k8s.io/utils/ptr"
)

// setting is one variable (and daemon flag).
type setting struct {
	// env is the variable's name; the flag is its lower-case, dashed form.
	env string
	// help says what the setting is, what it accepts and its default.
	help string
	// programs read the setting; required lists those that need it.
	programs, required Program
	// parse checks v and stores it in c; its error says what is allowed.
	parse func(c *Config, v string) error
	// show prints the setting's value in c; Usage and the README's table
	// print the default with it (Defaults), so that no default is typed
	// twice. Nil for settings whose default is not a value (required
	// ones, or one that depends on another setting).
	show func(c Config) string
	// boolean settings' daemon flags may be given alone (-dry-run means
	// -dry-run=true).
	boolean bool
}

// flag returns the flag's name: MIN_NODES is -min-nodes.
func (s setting) flag() string { return strings.ReplaceAll(strings.ToLower(s.env), "_", "-") }

const both = Lambda | Daemon

// settings returns every setting, in the order problems are reported.
func settings() []setting {
	return slices.Concat(clusterSettings(), launchSettings(), thresholdSettings(), policySettings(), prometheusSettings(),
		timingSettings(), kubeSettings(), runSettings())
}

// clusterSettings returns the settings for the cluster: its id, where its
// metrics, lock and state are, where notifications go, and its size bounds.
func clusterSettings() []setting {
	return []setting{
		{env: "CLUSTER_ID", programs: both, required: both,
			help: "the cluster's id, in tags, node labels, the lock and notifications: 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
			parse: func(c *Config, v string) error {
				return str(&c.ClusterID, v, labelValue, "want 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit")
			}},
		{env: "PROMETHEUS_URL", programs: both, required: both,
			help:  "the Prometheus server's base URL, e.g. http://10.0.1.10:30090",
			parse: func(c *Config, v string) error { return httpURL(&c.PrometheusURL, v) }},
		{env: "DYNAMODB_TABLE", programs: both, required: both,
			help: "the DynamoDB table holding the lock and the cluster state: 3 to 255 letters, digits, '_', '-' or '.'",
			parse: func(c *Config, v string) error {
				return str(&c.DynamoDBTable, v, tableName, "want 3 to 255 letters, digits, '_', '-' or '.'")
			}},
		{env: "SNS_TOPIC_ARN", programs: both,
			help: "the SNS topic that receives scaling events and failures, arn:aws:sns:REGION:ACCOUNT:NAME",
			show: func(c Config) string { return orNone(c.SNSTopicARN) },
			parse: func(c *Config, v string) error {
				return str(&c.SNSTopicARN, v, snsARN, "want an SNS topic ARN, arn:aws:sns:REGION:ACCOUNT:NAME")
			}},
		{env: "MIN_NODES", programs: both,
			help:  "the least number of workers, 0 to 1000",
			show:  func(c Config) string { return strconv.Itoa(c.MinNodes) },
			parse: func(c *Config, v string) error { return integer(&c.MinNodes, v, 0, 1000) }},
		{env: "MAX_NODES", programs: both,
			help:  "the largest number of workers, 1 to 1000",
			show:  func(c Config) string { return strconv.Itoa(c.MaxNodes) },
			parse: func(c *Config, v string) error { return integer(&c.MaxNodes, v, 1, 1000) }},
	}
}

// launchSettings returns the settings for what a scale-up launches and where:
// the launch template, subnets, spot and instance types, a worker's size.
func launchSettings() []setting {
	return []setting{
		{env: "LAUNCH_TEMPLATE_ID", programs: both,
			help: "the workers' launch template by id, lt-...; set this or LAUNCH_TEMPLATE_NAME",
			parse: func(c *Config, v string) error {
				return str(&c.LaunchTemplateID, v, launchTemplateID, "want a launch template id, lt- and 17 hexadecimal digits")
			}},
		{env: "LAUNCH_TEMPLATE_NAME", programs: both,
			help: "the workers' launch template by name; set this or LAUNCH_TEMPLATE_ID",
			parse: func(c *Config, v string) error {
				return str(&c.LaunchTemplateName, v, launchTemplateName, "want 3 to 128 letters, digits and ( ) . / _ -")
			}},
		{env: "LAUNCH_TEMPLATE_VERSION", programs: both,
			help: "the launch template's version: a number, " + ec2fleet.LatestLaunchTemplateVersion + " or " + ec2fleet.DefaultLaunchTemplateVersion,
			show: func(c Config) string { return c.LaunchTemplateVersion },
			parse: func(c *Config, v string) error {
				return str(&c.LaunchTemplateVersion, v, ltVersion,
					"want a version number, "+ec2fleet.LatestLaunchTemplateVersion+" or "+ec2fleet.DefaultLaunchTemplateVersion)
			}},
		{env: "SUBNET_IDS", programs: both, required: both,
			help:  "the workers' subnets, comma-separated subnet ids (one per availability zone)",
			parse: subnets},
		{env: "SPOT_STRATEGY", programs: both,
			help: "how to choose between spot and on-demand: " + orList(strategyNames()),
			show: func(c Config) string { return string(c.Strategy) },
			parse: func(c *Config, v string) error {
				var s string
				if err := oneOf(&s, v, strategyNames()...); err != nil {
					return err
				}
				c.Strategy = ec2fleet.Strategy(s)
				return nil
			}},
		{env: "SPOT_SHARE", programs: both,
			help:  "the share of the fleet on spot with spot-share, above 0 and at most 1",
			show:  func(c Config) string { return num(c.SpotShare) },
			parse: spotShare},
		{env: "INSTANCE_TYPE", programs: both,
			help: "overrides the launch template's instance type, e.g. t3.medium; default the template's",
			parse: func(c *Config, v string) error {
				return str(&c.InstanceType, v, instanceType, "want an instance type such as t3.medium")
			}},
		{env: "INSTANCE_TYPES", programs: both,
			help: "the instance types a launch may use, comma-separated, of one size, the same vCPUs and memory as EC2 DescribeInstanceTypes reports them, checked at start (e.g. m5.large,m5a.large,m6i.large,m7i.large; a list mixing sizes such as c5.large,r5.large, 4 and 16 GiB, is refused: the planner counts workers of one size): spread over the subnets' zones, one EC2 Fleet call per zone over its subnets and every type, spot " + string(ec2fleet.DefaultSpotAllocationStrategy) + " within a zone; AWS advises at least " + strconv.Itoa(ec2fleet.MinSpotInstanceTypes) + " types for spot; instead of INSTANCE_TYPE",
			parse: func(c *Config, v string) error {
				c.InstanceTypes = nil
				for _, t := range strings.Split(v, ",") {
					t = strings.TrimSpace(t)
					if !instanceType.MatchString(t) {
						return fmt.Errorf("%q: want instance types such as m5.large, comma-separated", t)
					}
					c.InstanceTypes = append(c.InstanceTypes, t)
				}
				return nil
			}},
		{env: "WORKER_VCPU", programs: both,
			help:  "a worker's vCPUs, for sizing scale-ups from pods' requests while no worker runs, 1 to 448; default learnt from the Ready workers",
			parse: func(c *Config, v string) error { return integer(&c.WorkerVCPU, v, 1, 448) }},
		{env: "WORKER_MEMORY_MIB", programs: both,
			help: "a worker's memory in MiB, with WORKER_VCPU, 512 to 24576000; default learnt from the Ready workers, else from EC2 DescribeInstanceTypes",
			parse: func(c *Config, v string) error {
				var n int
				err := integer(&n, v, 512, 24576000)
				c.WorkerMemoryMiB = int64(n)
				return err
			}},
	}
}

// thresholdSettings are the threshold policy's CPU and memory thresholds.
func thresholdSettings() []setting {
	return []setting{
		{env: "CPU_HIGH_PERCENT", programs: both,
			help:  "average CPU above this scales up, 0 to 100",
			show:  func(c Config) string { return num(c.Thresholds.CPUHigh) },
			parse: func(c *Config, v string) error { return percent(&c.Thresholds.CPUHigh, v) }},
		{env: "CPU_LOW_PERCENT", programs: both,
			help: "average CPU below this (with memory low and nothing pending) scales down, 0 to 100 (0: never); held while the CPU load (average x Ready nodes) plus its usual rise within " +
				fmtDuration(decision.DefaultScaleDownWindow) + " (the 95th percentile of the rises in the history) would be above CPU_HIGH_PERCENT on the nodes left, or the pods' demand plus its usual rise would not fit them",
			show: func(c Config) string {
				return num(ptr.Deref(c.Thresholds.CPULow, *decision.DefaultThresholdConfig().CPULow))
			},
			parse: func(c *Config, v string) error {
				c.Thresholds.CPULow = new(float64)
				return percent(c.Thresholds.CPULow, v)
			}},
		{env: "MEMORY_HIGH_PERCENT", programs: both,
			help:  "average memory above this scales up, 0 to 100",
			show:  func(c Config) string { return num(c.Thresholds.MemoryHigh) },
			parse: func(c *Config, v string) error { return percent(&c.Thresholds.MemoryHigh, v) }},
		{env: "MEMORY_LOW_PERCENT", programs: both,
			help: "average memory below this allows a scale-down, 0 to 100 (0: never)",
			show: func(c Config) string {
				return num(ptr.Deref(c.Thresholds.MemoryLow, *decision.DefaultThresholdConfig().MemoryLow))
			},
			parse: func(c *Config, v string) error {
				c.Thresholds.MemoryLow = new(float64)
				return percent(c.Thresholds.MemoryLow, v)
			}},
	}
}

// policySettings are the shipped policies' choice and settings.
func policySettings() []setting {
	return []setting{
		{env: "POLICY", programs: both,
			help: "the scaling policy: threshold (the original design's), reactive (exactly the nodes the pods need, as cluster-autoscaler; it scales down no lower than the most they needed over " +
				fmtDuration(decision.DefaultScaleDownWindow) + " and their usual rise within it) or predictive (reactive, raised ahead of time to the forecast of the next PREDICTIVE_LEAD and to the CALENDAR; its scale-down stabilised over two PREDICTIVE_LEADs)",
			show: func(c Config) string { return c.Policy },
			parse: func(c *Config, v string) error {
				return oneOf(&c.Policy, strings.ToLower(v), decision.ShippedNames()...)
			}},
		{env: "PENDING_NODES", programs: both,
			help: "how many nodes the threshold policy adds for pending pods: step (the original +2) or needed (the nodes the pending pods' requests need, from the scheduler's view)",
			show: func(c Config) string { return string(c.Thresholds.PendingNodes) },
			parse: func(c *Config, v string) error {
				var r string
				err := oneOf(&r, strings.ToLower(v), string(decision.PendingByStep), string(decision.PendingByNeed))
				c.Thresholds.PendingNodes = decision.PendingRule(r)
				return err
			}},
		{env: "HEADROOM", programs: both,
			help:  "the reactive and predictive policies' spare capacity above the demand, a fraction from 0 to 1 (0.3 keeps 30% more)",
			show:  func(c Config) string { return num(c.Headroom) },
			parse: func(c *Config, v string) error { return fraction(&c.Headroom, v) }},
		{env: "PREDICTIVE_LEAD", programs: both,
			help:  "how far ahead the predictive policy must be right: the longest boot-and-join (a p99 of about 5 minutes) plus a tick interval, a duration from 1m to 2h",
			show:  func(c Config) string { return fmtDuration(c.Lead) },
			parse: func(c *Config, v string) error { return duration(&c.Lead, v, time.Minute, 2*time.Hour) }},
		{env: "SCALE_DOWN_WINDOW", programs: both,
			help: "the scale-down stabilisation of the shipped policies: a scale-down keeps what the demand needed over this window and its usual rise within it (as the HPA's stabilization window), so that it is not undone minutes later; unset: " +
				fmtDuration(decision.DefaultScaleDownWindow) + " for threshold and reactive, two PREDICTIVE_LEADs for predictive; a window shorter than a tick (1s) turns it off (the original design's plain -1), a duration from 1s to 24h",
			show: func(c Config) string {
				if c.ScaleDownWindow == 0 {
					return "each policy's own"
				}
				return fmtDuration(c.ScaleDownWindow)
			},
			parse: func(c *Config, v string) error { return duration(&c.ScaleDownWindow, v, time.Second, 24*time.Hour) }},
		{env: "FORECAST", programs: both,
			help: "forecast-only mode: off, or shadow (POLICY acts; the predictive policy's forecast and the nodes it would have wanted are logged with every decision, recorded in the history, published (ForecastNodes, ShadowDesiredNodes; node_fleet_forecast_nodes, node_fleet_shadow_desired_nodes) and judged by nodefleet report: MASE, peak coverage, cost)",
			show: func(c Config) string { return c.Forecast },
			parse: func(c *Config, v string) error {
				return oneOf(&c.Forecast, strings.ToLower(v), decision.ForecastOff, decision.ForecastShadow)
			}},
		{env: "LOAD_QUERY", programs: both,
			help: "a PromQL query whose single result is the workload's load, what its HPAs scale the pods on, e.g. sum(rate(traefik_service_requests_total[1m])) (the requests served by Traefik, which K3s ships): a rate the HPAs follow, not a counter or a total; read by the predictive policy (and FORECAST=shadow), which forecasts it beside the pods' demand and turns it into workers by the demand's least-squares line on it, once the history holds 30 ticks with both (recorded under every policy, as the custom metric " + decision.MetricLoad + "): the pods it asks for before the HPAs make them size a scale-up the demand asks for; a load the demand does not follow (R² below 0.5, a counter) or one asking for over four times the demand now (a query changed to another unit: the fit is over a day of history) is left out, and the decision says so; unset, the pods' demand is forecast alone",
			show: func(c Config) string { return orNone(c.LoadQuery) },
			parse: func(c *Config, v string) error {
				if strings.TrimSpace(v) == "" {
					return errors.New("want a PromQL query, not blanks")
				}
				if counterWithoutRate(v) {
					return errors.New("it reads a counter (a _total series) without rate(), irate() or increase(): want a rate the HPAs follow, e.g. sum(rate(traefik_service_requests_total[1m]))")
				}
				c.LoadQuery = v
				return nil
			}},
		{env: "CALENDAR", programs: both,
			help: `known events for the predictive policy, as JSON ([{"name":"sale","start":"2026-12-24T20:00:00Z","duration":"1h","nodes":8}]) or compact text ("sale 2026-12-24T20:00:00Z 1h nodes=8; ..."); operators add more to the cluster's state without redeploying`,
			show: func(c Config) string { return orNone(strings.TrimSpace(decision.FormatCalendar(c.Calendar))) },
			parse: func(c *Config, v string) error {
				events, err := decision.ParseCalendar(v)
				c.Calendar = events
				return err
			}},
		{env: "PENDING_PODS_THRESHOLD", programs: both,
			help: "more pending pods than this scales up at once, a whole number 0 or more",
			show: func(c Config) string { return num(c.Thresholds.PendingPodsAbove) },
			parse: func(c *Config, v string) error {
				var n int
				err := integer(&n, v, 0, 100000)
				c.Thresholds.PendingPodsAbove = float64(n)
				return err
			}},
	}
}

// prometheusSettings returns the settings for how Prometheus is reached and
// queried, and where pending pods are counted.
func prometheusSettings() []setting {
	return []setting{
		{env: "PROMETHEUS_BEARER_TOKEN_FILE", programs: both,
			help:  "a file holding a bearer token for Prometheus, read for every query (a mounted secret); default none",
			parse: func(c *Config, v string) error { c.PrometheusAuth.BearerTokenFile = v; return nil }},
		{env: "PROMETHEUS_USERNAME", programs: both,
			help:  "the user name of Prometheus' basic auth, with PROMETHEUS_PASSWORD_FILE; default none",
			parse: func(c *Config, v string) error { c.PrometheusAuth.Username = v; return nil }},
		{env: "PROMETHEUS_PASSWORD_FILE", programs: both,
			help:  "a file holding the password of Prometheus' basic auth, read for every query; default none",
			parse: func(c *Config, v string) error { c.PrometheusAuth.PasswordFile = v; return nil }},
		{env: "PROMETHEUS_CA_FILE", programs: both,
			help:  "a PEM bundle of the CA that signs Prometheus' certificate (https with a private CA); default the system's roots",
			parse: func(c *Config, v string) error { c.PrometheusAuth.CAFile = v; return nil }},
		{env: "PROMETHEUS_INSECURE_SKIP_VERIFY", programs: both,
			help: "true accepts any certificate from Prometheus (labs only: anyone on the path reads the queries); default false",
			parse: func(c *Config, v string) error {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return errors.New("want true or false")
				}
				c.PrometheusAuth.InsecureSkipVerify = b
				return nil
			}},
		{env: "PROMETHEUS_TIMEOUT", programs: both,
			help: "how long one Prometheus query may take, a duration from 1s to 2m; default the metrics package's",
			parse: func(c *Config, v string) error {
				return duration(&c.PrometheusAuth.Timeout, v, time.Second, 2*time.Minute)
			}},
		{env: "PENDING_PODS_SOURCE", programs: both,
			help: "where pending pods are counted: api (the Kubernetes API, unschedulable pods) or prometheus (kube-state-metrics)",
			show: func(c Config) string { return c.PendingPodsSource },
			parse: func(c *Config, v string) error {
				return oneOf(&c.PendingPodsSource, v, PendingFromAPI, PendingFromPrometheus)
			}},
		{env: "PROMETHEUS_NODE_SELECTOR", programs: both,
			help:  "PromQL label matchers added to the CPU and memory queries to leave nodes out, e.g. instance!~\"k3s-server.*\"",
			show:  func(c Config) string { return orNone(c.PrometheusNodeSelector) },
			parse: func(c *Config, v string) error { c.PrometheusNodeSelector = v; return nil }},
	}
}

// timingSettings returns the settings for the cooldowns and the lock's, join's
// and drain's time limits.
func timingSettings() []setting {
	return []setting{
		{env: "SCALE_UP_COOLDOWN", programs: both,
			help:  "the least time between two scale-ups, a duration such as 2m",
			show:  func(c Config) string { return fmtDuration(c.ScaleUpCooldown) },
			parse: func(c *Config, v string) error { return duration(&c.ScaleUpCooldown, v, 0, 24*time.Hour) }},
		{env: "SCALE_DOWN_COOLDOWN", programs: both,
			help:  "the least time after any scaling action before a scale-down, a duration",
			show:  func(c Config) string { return fmtDuration(c.ScaleDownCooldown) },
			parse: func(c *Config, v string) error { return duration(&c.ScaleDownCooldown, v, 0, 24*time.Hour) }},
		{env: "LOCK_TTL", programs: both,
			help:  "the lock's lifetime, longer than the Lambda function's timeout (a tick ends before its lock does), a duration from 1m to 1h",
			show:  func(c Config) string { return fmtDuration(c.LockTTL) },
			parse: func(c *Config, v string) error { return duration(&c.LockTTL, v, time.Minute, time.Hour) }},
		{env: "JOIN_TIMEOUT", programs: both,
			help:  "how long an instance may take to become a Ready node before it is terminated, a duration from 3m to 1h (EC2's boot and K3s's join take 1-3 minutes: shorter terminates instances before they can join, then launches others)",
			show:  func(c Config) string { return fmtDuration(c.JoinTimeout) },
			parse: func(c *Config, v string) error { return duration(&c.JoinTimeout, v, 3*time.Minute, time.Hour) }},
	}
}

// kubeSettings returns the settings for how the Kubernetes API is reached and
// which nodes are managed.
func kubeSettings() []setting {
	return []setting{
		{env: "DRAIN_TIMEOUT", programs: both,
			help:  "how long a drain may wait for evictions, shorter than LOCK_TTL, a duration from 10s to 1h",
			show:  func(c Config) string { return fmtDuration(c.DrainTimeout) },
			parse: func(c *Config, v string) error { return duration(&c.DrainTimeout, v, 10*time.Second, time.Hour) }},
		{env: "SCRAPE_INTERVAL", programs: both,
			help:  "Prometheus' scrape interval of the workers' node_exporter: a node Ready for less than two of these is not expected in the CPU average (no safety-mode alert for it, no scale-down without it), a duration from 1s to " + fmtDuration(maxScrapeInterval) + " (rate() over the queries' " + fmtDuration(metrics.DefaultRateWindow) + " window needs two samples)",
			show:  func(c Config) string { return fmtDuration(c.ScrapeInterval) },
			parse: func(c *Config, v string) error { return duration(&c.ScrapeInterval, v, time.Second, maxScrapeInterval) }},
		{env: "REALERT_INTERVAL", programs: both,
			help:  "how long an alert about a condition that stays (the same kind, about the same pods, instances or failure) is held back before it is sent again; a new or changed condition is sent at once, a duration from 1m to 168h (a week)",
			show:  func(c Config) string { return fmtDuration(c.RealertInterval) },
			parse: func(c *Config, v string) error { return duration(&c.RealertInterval, v, time.Minute, 7*24*time.Hour) }},
		{env: "KUBECONFIG_SECRET", programs: both, required: Lambda,
			help: "the Secrets Manager secret (name or ARN) whose value is a kubeconfig for the cluster's API server",
			parse: func(c *Config, v string) error {
				return str(&c.KubeconfigSecret, v, secretID, "want a secret name or ARN: letters, digits and /_+=.@-:")
			}},
		{env: "KUBECONFIG", programs: Daemon,
			help:  "the path of a kubeconfig file; default KUBECONFIG_SECRET, or else the in-cluster service account",
			parse: func(c *Config, v string) error { c.Kubeconfig = v; return nil }},
		{env: "NODE_SELECTOR", programs: both,
			help:  "a label selector for the nodes the autoscaler manages; default node-fleet.io/cluster=CLUSTER_ID (set by the join script)",
			parse: nodeSelector},
	}
}

// runSettings returns the settings for how the program runs: the daemon's
// ticks, its interruption queue and listener, dry run and logging.
func runSettings() []setting {
	return []setting{
		{env: "TICK_INTERVAL", programs: Daemon,
			help:  "the time between ticks, a duration from 5s to 1h",
			show:  func(c Config) string { return fmtDuration(c.Interval) },
			parse: func(c *Config, v string) error { return duration(&c.Interval, v, 5*time.Second, time.Hour) }},
		{env: "BATCH_IDLE_DURATION", programs: Daemon,
			help:  "after an unschedulable pod, the daemon ticks once no other pod has become unschedulable for this long (pods of one rollout in one tick), a duration from 0s to 1m, at most BATCH_MAX_DURATION",
			show:  func(c Config) string { return fmtDuration(c.BatchIdle) },
			parse: func(c *Config, v string) error { return duration(&c.BatchIdle, v, 0, time.Minute) }},
		{env: "BATCH_MAX_DURATION", programs: Daemon,
			help:  "the longest the daemon waits after the first unschedulable pod of a batch before it ticks, however fast pods keep coming, a duration from 0s to 5m",
			show:  func(c Config) string { return fmtDuration(c.BatchMax) },
			parse: func(c *Config, v string) error { return duration(&c.BatchMax, v, 0, 5*time.Minute) }},
		{env: "INTERRUPTION_QUEUE_URL", programs: Daemon,
			help: "the SQS queue (its URL) that the deploy's EventBridge rules fill with spot interruption warnings, rebalance recommendations and instance state changes; the daemon long-polls it and handles each warning as the Lambda function does; default none (the daemon then learns of a reclaim only when the instance is gone)",
			parse: func(c *Config, v string) error {
				return str(&c.InterruptionQueueURL, v, queueURL, "want an SQS queue URL, https://sqs.REGION.amazonaws.com/ACCOUNT/NAME")
			}},
		{env: "LISTEN_ADDR", programs: Daemon,
			help:  "the HTTP address of /metrics and /healthz, host:port",
			show:  func(c Config) string { return c.Listen },
			parse: listenAddr},
		{env: "DRY_RUN", programs: both, boolean: true,
			help:  "true: every tick observes, plans and records what it would do (in the history, the log, the metrics and the notifications, marked dry run) and launches, terminates, cordons, drains and deletes nothing; an operation a live tick left in flight is left alone; true or false (the daemon's -dry-run alone is true)",
			show:  func(c Config) string { return strconv.FormatBool(c.DryRun) },
			parse: func(c *Config, v string) error { return boolean(&c.DryRun, v) }},
		{env: "LOG_LEVEL", programs: Daemon,
			help: "debug, info, warn or error",
			show: func(c Config) string { return strings.ToLower(c.LogLevel.String()) },
			parse: func(c *Config, v string) error {
				var s string
				if err := oneOf(&s, strings.ToLower(v), "debug", "info", "warn", "error"); err != nil {
					return err
				}
				return c.LogLevel.UnmarshalText([]byte(s))
			}},
	}
}

var (
	labelValue         = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$`)
	tableName          = regexp.MustCompile(`^[A-Za-z0-9_.-]{3,255}$`)
	snsARN             = regexp.MustCompile(`^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$`)
	launchTemplateID   = regexp.MustCompile(`^lt-[0-9a-f]{17}$`)
	launchTemplateName = regexp.MustCompile(`^[A-Za-z0-9()./_-]{3,128}$`)
	ltVersion          = regexp.MustCompile(`^([1-9][0-9]*|` + regexp.QuoteMeta(ec2fleet.LatestLaunchTemplateVersion) + `|` + regexp.QuoteMeta(ec2fleet.DefaultLaunchTemplateVersion) + `)$`)
	subnetID           = regexp.MustCompile(`^subnet-[0-9a-f]{8}([0-9a-f]{9})?$`)
	instanceType       = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9-]+$`)
	queueURL           = regexp.MustCompile(`^https?://[A-Za-z0-9.:-]+/[0-9]{12}/[A-Za-z0-9_-]{1,80}(\.fifo)?$`)
	secretID           = regexp.MustCompile(`^[A-Za-z0-9/_+=.@:-]+$`)
)

func str(dst *string, v string, re *regexp.Regexp, want string) error {
	if !re.MatchString(v) {
		return errors.New(want)
	}
	*dst = v
	return nil
}

func boolean(dst *bool, v string) error {
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		return errors.New("want true or false")
	}
	*dst = b
	return nil
}

func integer(dst *int, v string, lo, hi int) error {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < lo || n > hi {
		return fmt.Errorf("want a whole number from %d to %d", lo, hi)
	}
	*dst = n
	return nil
}

func percent(dst *float64, v string) error {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > 100 {
		return errors.New("want a number from 0 to 100")
	}
	*dst = f
	return nil
}

func spotShare(c *Config, v string) error {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(f) || f <= 0 || f > 1 {
		return fmt.Errorf("want a number above 0 and at most 1, e.g. %v (for no spot set SPOT_STRATEGY=%s)", ec2fleet.DefaultSpotShare, ec2fleet.StrategyOnDemand)
	}
	c.SpotShare = f
	return nil
}

func fraction(dst *float64, v string) error {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > 1 {
		return errors.New("want a number from 0 to 1, e.g. 0.3")
	}
	*dst = f
	return nil
}

func duration(dst *time.Duration, v string, lo, hi time.Duration) error {
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil || d < lo || d > hi {
		return fmt.Errorf("want a duration from %s to %s, such as %s", fmtDuration(lo), fmtDuration(hi), durationExamples(lo, hi))
	}
	*dst = d
	return nil
}

// distinctTypes refuses an instance type listed twice: what can be known
// of INSTANCE_TYPES offline (the syntax is checked as it is read). That
// the types are of one size (the same vCPUs and memory) is checked by
// Build against EC2 DescribeInstanceTypes: a type's name does not say
// its size (c5.large has 4 GiB, r5.large 16 GiB; t3.medium and c5.large
// are both 2 vCPUs and 4 GiB).
func distinctTypes(types []string) error {
	seen := make(map[string]bool, len(types))
	for _, t := range types {
		if seen[t] {
			return fmt.Errorf("%s is listed twice: list each type once", t)
		}
		seen[t] = true
	}
	return nil
}

// maxScrapeInterval is SCRAPE_INTERVAL's largest value: half the rate()
// window of the default queries, so that every window holds two samples
// of a node (with fewer, rate() has no value and the CPU average is
// missing at some ticks).
const maxScrapeInterval = metrics.DefaultRateWindow / 2

// durationExamples are "90s or 10m", those of them from lo to hi, or
// the middle of the range when neither is in it.
func durationExamples(lo, hi time.Duration) string {
	var in []string
	for _, ex := range []struct {
		d    time.Duration
		text string
	}{{90 * time.Second, "90s"}, {10 * time.Minute, "10m"}} {
		if ex.d >= lo && ex.d <= hi {
			in = append(in, ex.text)
		}
	}
	if len(in) == 0 {
		return fmtDuration(lo + (hi-lo)/2)
	}
	return strings.Join(in, " or ")
}

// fmtDuration prints 1h and 30s rather than 1h0m0s and 30s.
func fmtDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}

// strategyNames are ec2fleet's market strategies as SPOT_STRATEGY spells
// them.
func strategyNames() []string {
	var out []string
	for _, s := range ec2fleet.Strategies() {
		out = append(out, string(s))
	}
	return out
}

// orList is "a, b or c".
func orList(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

func oneOf(dst *string, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			*dst = v
			return nil
		}
	}
	last := len(allowed) - 1
	return fmt.Errorf("unknown value; want %s or %s", strings.Join(allowed[:last], ", "), allowed[last])
}

func httpURL(dst *string, v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("want an http:// or https:// URL with a host, e.g. http://10.0.1.10:30090")
	}
	*dst = strings.TrimSuffix(v, "/")
	return nil
}

func subnets(c *Config, v string) error {
	var out []string
	seen := map[string]bool{}
	for s := range strings.SplitSeq(v, ",") {
		s = strings.TrimSpace(s)
		if !subnetID.MatchString(s) {
			return fmt.Errorf("%q is not a subnet id; want comma-separated ids such as subnet-0123456789abcdef0", s)
		}
		if seen[s] {
			return fmt.Errorf("%s is listed twice; want each subnet once", s)
		}
		seen[s] = true
		out = append(out, s)
	}
	c.Subnets = out
	return nil
}

func nodeSelector(c *Config, v string) error {
	if _, err := labels.Parse(v); err != nil {
		return fmt.Errorf("want a label selector such as node-fleet.io/cluster=prod: %v", err)
	}
	c.NodeSelector = v
	return nil
}

func listenAddr(c *Config, v string) error {
	i := strings.LastIndex(v, ":")
	if i < 0 {
		return errors.New("want host:port or :port, e.g. :8080")
	}
	if p, err := strconv.Atoi(v[i+1:]); err != nil || p < 0 || p > 65535 {
		return errors.New("want host:port or :port with a port from 0 to 65535, e.g. :8080")
	}
	c.Listen = v
	return nil
}

// counterWithoutRate reports whether a PromQL query reads a counter (a
// series whose name ends in _total, not a recording rule that merely
// holds the word, such as job:requests_total:rate5m) without taking its
// rate with rate, irate, increase or deriv: a load that only ever rises,
// which the predictive policy would otherwise fit until a reset. A
// check of the text, not a parse: it errs towards letting a query pass.
func counterWithoutRate(q string) bool {
	return counterName.MatchString(q) && !rateCall.MatchString(q)
}

var (
	counterName = regexp.MustCompile(`[A-Za-z0-9_]_total($|[^A-Za-z0-9_:])`)
	rateCall    = regexp.MustCompile(`\b(rate|irate|increase|deriv)\s*\(`)
)
