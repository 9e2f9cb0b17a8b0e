package config

import (
	"bytes"
	"errors"
	"flag"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/node-fleet/node-fleet/decision"
	"github.com/node-fleet/node-fleet/ec2fleet"
	"k8s.io/utils/ptr"
)

// good is a complete, valid Lambda environment.
func good() map[string]string {
	return map[string]string{
		"CLUSTER_ID":         "shop-prod",
		"PROMETHEUS_URL":     "http://10.0.1.10:30090/",
		"DYNAMODB_TABLE":     "node-fleet-cluster-state",
		"SUBNET_IDS":         "subnet-0123456789abcdef0, subnet-0fedcba9876543210",
		"LAUNCH_TEMPLATE_ID": "lt-0123456789abcdef0",
		"KUBECONFIG_SECRET":  "node-fleet/kubeconfig",
	}
}

func getenv(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

func TestLoadDefaults(t *testing.T) {
	got, err := Load(Lambda, getenv(good()), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Defaults()
	want.ClusterID = "shop-prod"
	want.PrometheusURL = "http://10.0.1.10:30090"
	want.DynamoDBTable = "node-fleet-cluster-state"
	want.Subnets = []string{"subnet-0123456789abcdef0", "subnet-0fedcba9876543210"}
	want.LaunchTemplateID = "lt-0123456789abcdef0"
	want.KubeconfigSecret = "node-fleet/kubeconfig"
	want.NodeSelector = "node-fleet.io/cluster=shop-prod"
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("config (-want +got):\n%s", d)
	}
	if got.MinNodes != 2 || got.MaxNodes != 10 || got.SpotShare != 0.7 || got.Thresholds.CPUHigh != 70 || got.LockTTL != 5*time.Minute {
		t.Errorf("defaults are not the original design's: %+v", got)
	}
}

func TestLoadEverySetting(t *testing.T) {
	env := good()
	delete(env, "LAUNCH_TEMPLATE_ID")
	for k, v := range map[string]string{
		"SNS_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:node-fleet", "MIN_NODES": "0", "MAX_NODES": "20",
		"LAUNCH_TEMPLATE_NAME": "shop-workers", "LAUNCH_TEMPLATE_VERSION": "$Latest", "SPOT_STRATEGY": "spot-first",
		"SPOT_SHARE": "0.5", "INSTANCE_TYPE": "t3.large", "CPU_HIGH_PERCENT": "80", "CPU_LOW_PERCENT": "20",
		"MEMORY_HIGH_PERCENT": "85", "MEMORY_LOW_PERCENT": "40", "PENDING_PODS_THRESHOLD": "3",
		"PENDING_PODS_SOURCE": "api", "PROMETHEUS_NODE_SELECTOR": `instance!~"k3s-server.*"`,
		"SCALE_UP_COOLDOWN": "1m", "SCALE_DOWN_COOLDOWN": "15m", "LOCK_TTL": "6m", "JOIN_TIMEOUT": "8m",
		"DRAIN_TIMEOUT": "2m", "NODE_SELECTOR": "role=worker", "SCRAPE_INTERVAL": "30s", "REALERT_INTERVAL": "4h", "SCALE_DOWN_WINDOW": "15s",
		"POLICY": "predictive", "PENDING_NODES": "needed", "HEADROOM": "0.2", "PREDICTIVE_LEAD": "6m", "FORECAST": "Off",
		"CALENDAR": "flash-sale 2026-12-24T20:00:00Z 1h nodes=8", "LOAD_QUERY": "sum(rate(traefik_service_requests_total[1m]))",
		// Daemon-only settings are not read by the Lambda function.
		"TICK_INTERVAL": "not read", "LISTEN_ADDR": "not read",
	} {
		env[k] = v
	}
	got, err := Load(Lambda, getenv(env), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	th := decision.DefaultThresholdConfig()
	th.CPUHigh, th.CPULow, th.MemoryHigh, th.MemoryLow, th.PendingPodsAbove = 80, ptr.To(20.0), 85, ptr.To(40.0), 3
	th.PendingNodes = decision.PendingByNeed
	sale := time.Date(2026, 12, 24, 20, 0, 0, 0, time.UTC)
	want := Config{
		ClusterID: "shop-prod", PrometheusURL: "http://10.0.1.10:30090", PrometheusNodeSelector: `instance!~"k3s-server.*"`,
		PendingPodsSource: PendingFromAPI, DynamoDBTable: "node-fleet-cluster-state",
		SNSTopicARN: "arn:aws:sns:eu-west-1:123456789012:node-fleet", MinNodes: 0, MaxNodes: 20,
		LaunchTemplateName: "shop-workers", LaunchTemplateVersion: "$Latest",
		Subnets:  []string{"subnet-0123456789abcdef0", "subnet-0fedcba9876543210"},
		Strategy: ec2fleet.StrategySpotFirst, SpotShare: 0.5, InstanceType: "t3.large", Thresholds: th,
		Policy: decision.PolicyPredictive, Headroom: 0.2, Lead: 6 * time.Minute, Forecast: decision.ForecastOff,
		Calendar:        []decision.Event{{Name: "flash-sale", Start: sale, End: sale.Add(time.Hour), Nodes: 8}},
		LoadQuery:       "sum(rate(traefik_service_requests_total[1m]))",
		ScaleUpCooldown: time.Minute, ScaleDownCooldown: 15 * time.Minute, LockTTL: 6 * time.Minute,
		JoinTimeout: 8 * time.Minute, DrainTimeout: 2 * time.Minute, ScrapeInterval: 30 * time.Second, RealertInterval: 4 * time.Hour, ScaleDownWindow: 15 * time.Second,
		KubeconfigSecret: "node-fleet/kubeconfig",
		NodeSelector:     "role=worker", Interval: time.Minute, BatchIdle: time.Second, BatchMax: 10 * time.Second,
		Listen: ":8080", LogLevel: slog.LevelInfo,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("config (-want +got):\n%s", d)
	}
	if _, err := decision.NewThreshold(got.Thresholds); err != nil {
		t.Errorf("thresholds accepted by Load are refused by the policy: %v", err)
	}
}

// A low threshold of 0 reaches the threshold policy as 0 (it never
// scales down on it), not as the default.
func TestLoadLowThresholdOfZero(t *testing.T) {
	env := good()
	env["CPU_LOW_PERCENT"] = "0"
	got, err := Load(Lambda, getenv(env), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := decision.NewThreshold(got.Thresholds)
	if err != nil {
		t.Fatal(err)
	}
	if c := p.Config(); *c.CPULow != 0 || *c.MemoryLow != 50 {
		t.Errorf("CPULow %v, MemoryLow %v; want 0 and the default 50", *c.CPULow, *c.MemoryLow)
	}
}

func TestLoadBadEnvironments(t *testing.T) {
	tests := []struct {
		name string
		set  map[string]string // "" deletes
		want string
	}{
		{"forecast-only with the predictive policy acting", map[string]string{"FORECAST": "shadow", "POLICY": "predictive", "INSTANCE_TYPE": "t3.medium"},
			"configuration: FORECAST=shadow needs another POLICY to act than predictive"},
		{"an instance type listed twice", map[string]string{"INSTANCE_TYPES": "m5.large,m6i.large,m5.large"},
			"configuration: INSTANCE_TYPES: m5.large is listed twice: list each type once"},
		{"scrape interval too long", map[string]string{"SCRAPE_INTERVAL": "10m"},
			`configuration: SCRAPE_INTERVAL="10m": want a duration from 1s to 2m30s, such as 90s`},
		{"missing cluster id", map[string]string{"CLUSTER_ID": ""},
			"configuration: CLUSTER_ID is required: the cluster's id, in tags, node labels, the lock and notifications: 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"},
		{"cluster id with a space", map[string]string{"CLUSTER_ID": "my shop"},
			`configuration: CLUSTER_ID="my shop": want 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`},
		{"missing prometheus", map[string]string{"PROMETHEUS_URL": ""},
			"configuration: PROMETHEUS_URL is required: the Prometheus server's base URL, e.g. http://10.0.1.10:30090"},
		{"prometheus without scheme", map[string]string{"PROMETHEUS_URL": "10.0.1.10:30090"},
			`configuration: PROMETHEUS_URL="10.0.1.10:30090": want an http:// or https:// URL with a host, e.g. http://10.0.1.10:30090`},
		{"missing table", map[string]string{"DYNAMODB_TABLE": ""},
			"configuration: DYNAMODB_TABLE is required: the DynamoDB table holding the lock and the cluster state: 3 to 255 letters, digits, '_', '-' or '.'"},
		{"bad topic", map[string]string{"SNS_TOPIC_ARN": "node-fleet-alerts"},
			`configuration: SNS_TOPIC_ARN="node-fleet-alerts": want an SNS topic ARN, arn:aws:sns:REGION:ACCOUNT:NAME`},
		{"min not a number", map[string]string{"MIN_NODES": "two"},
			`configuration: MIN_NODES="two": want a whole number from 0 to 1000`},
		{"max zero", map[string]string{"MAX_NODES": "0"},
			`configuration: MAX_NODES="0": want a whole number from 1 to 1000`},
		{"min above max", map[string]string{"MIN_NODES": "5", "MAX_NODES": "3"},
			"configuration: MIN_NODES (5) must not exceed MAX_NODES (3)"},
		{"min above default max", map[string]string{"MIN_NODES": "11"},
			"configuration: MIN_NODES (11) must not exceed MAX_NODES (10)"},
		{"no launch template", map[string]string{"LAUNCH_TEMPLATE_ID": ""},
			"configuration: LAUNCH_TEMPLATE_ID or LAUNCH_TEMPLATE_NAME is required: the workers' EC2 launch template"},
		{"two launch templates", map[string]string{"LAUNCH_TEMPLATE_NAME": "workers"},
			"configuration: LAUNCH_TEMPLATE_ID and LAUNCH_TEMPLATE_NAME are both set: set one of them"},
		{"bad launch template id", map[string]string{"LAUNCH_TEMPLATE_ID": "workers"},
			`configuration: LAUNCH_TEMPLATE_ID="workers": want a launch template id, lt- and 17 hexadecimal digits`},
		{"bad version", map[string]string{"LAUNCH_TEMPLATE_VERSION": "latest"},
			`configuration: LAUNCH_TEMPLATE_VERSION="latest": want a version number, $Latest or $Default`},
		{"missing subnets", map[string]string{"SUBNET_IDS": ""},
			"configuration: SUBNET_IDS is required: the workers' subnets, comma-separated subnet ids (one per availability zone)"},
		{"bad subnet", map[string]string{"SUBNET_IDS": "subnet-0123456789abcdef0,10.0.3.0/24"},
			`configuration: SUBNET_IDS="subnet-0123456789abcdef0,10.0.3.0/24": "10.0.3.0/24" is not a subnet id; want comma-separated ids such as subnet-0123456789abcdef0`},
		{"subnet twice", map[string]string{"SUBNET_IDS": "subnet-0123abcd,subnet-0123abcd"},
			`configuration: SUBNET_IDS="subnet-0123abcd,subnet-0123abcd": subnet-0123abcd is listed twice; want each subnet once`},
		{"unknown strategy", map[string]string{"SPOT_STRATEGY": "cheapest"},
			`configuration: SPOT_STRATEGY="cheapest": unknown value; want spot-share, spot-first or on-demand`},
		{"spot share as percent", map[string]string{"SPOT_SHARE": "70"},
			`configuration: SPOT_SHARE="70": want a number above 0 and at most 1, e.g. 0.7 (for no spot set SPOT_STRATEGY=on-demand)`},
		{"spot share zero", map[string]string{"SPOT_SHARE": "0"},
			`configuration: SPOT_SHARE="0": want a number above 0 and at most 1, e.g. 0.7 (for no spot set SPOT_STRATEGY=on-demand)`},
		{"bad instance type", map[string]string{"INSTANCE_TYPE": "medium"},
			`configuration: INSTANCE_TYPE="medium": want an instance type such as t3.medium`},
		{"cpu above 100", map[string]string{"CPU_HIGH_PERCENT": "170"},
			`configuration: CPU_HIGH_PERCENT="170": want a number from 0 to 100`},
		{"cpu NaN", map[string]string{"CPU_LOW_PERCENT": "NaN"},
			`configuration: CPU_LOW_PERCENT="NaN": want a number from 0 to 100`},
		{"cpu low above high", map[string]string{"CPU_LOW_PERCENT": "80"},
			"configuration: CPU_LOW_PERCENT (80) must be below CPU_HIGH_PERCENT (70)"},
		{"memory low equal high", map[string]string{"MEMORY_LOW_PERCENT": "60", "MEMORY_HIGH_PERCENT": "60"},
			"configuration: MEMORY_LOW_PERCENT (60) must be below MEMORY_HIGH_PERCENT (60)"},
		{"pending negative", map[string]string{"PENDING_PODS_THRESHOLD": "-1"},
			`configuration: PENDING_PODS_THRESHOLD="-1": want a whole number from 0 to 100000`},
		{"unknown pending source", map[string]string{"PENDING_PODS_SOURCE": "kube-state-metrics"},
			`configuration: PENDING_PODS_SOURCE="kube-state-metrics": unknown value; want api or prometheus`},
		{"cooldown without unit", map[string]string{"SCALE_DOWN_COOLDOWN": "600"},
			`configuration: SCALE_DOWN_COOLDOWN="600": want a duration from 0s to 24h, such as 90s or 10m`},
		{"one type and a list", map[string]string{"INSTANCE_TYPE": "t3.medium", "INSTANCE_TYPES": "m5.large,m6i.large"},
			"configuration: INSTANCE_TYPE and INSTANCE_TYPES are both set: set one of them"},
		{"bad type in the list", map[string]string{"INSTANCE_TYPES": "m5.large,,huge"},
			`configuration: INSTANCE_TYPES="m5.large,,huge": "": want instance types such as m5.large, comma-separated`},
		{"calendar in pods", map[string]string{"CALENDAR": "sale 2026-12-24T20:00:00Z 1h pods=40", "POLICY": "predictive", "INSTANCE_TYPE": "t3.medium"},
			`configuration: CALENDAR: event "sale" gives pods=40; the programs' policies count demand in nodes (worker units): give nodes=N`},
		{"worker size half given", map[string]string{"WORKER_VCPU": "2"},
			"configuration: WORKER_VCPU and WORKER_MEMORY_MIB go together: set both or neither"},
		{"calendar that the default policy does not read", map[string]string{"CALENDAR": "sale 2026-12-24T20:00:00Z 1h nodes=8"},
			"configuration: CALENDAR is set but POLICY is threshold, which does not read it: only the predictive policy scales ahead of known events (set POLICY=predictive, or remove CALENDAR)"},
		{"calendar that the reactive policy does not read", map[string]string{"CALENDAR": "sale 2026-12-24T20:00:00Z 1h nodes=8", "POLICY": "reactive"},
			"configuration: CALENDAR is set but POLICY is reactive, which does not read it: only the predictive policy scales ahead of known events (set POLICY=predictive, or remove CALENDAR)"},
		{"predictive without a worker size", map[string]string{"CALENDAR": "sale 2026-12-24T20:00:00Z 1h nodes=8", "POLICY": "predictive"},
			"configuration: POLICY=predictive needs the workers' size, INSTANCE_TYPE or INSTANCE_TYPES: it counts demand (and CALENDAR's events) in workers, from the scheduler's view of what one worker holds, and without a worker type there is no such view"},
		{"predictive without the scheduler's view", map[string]string{"POLICY": "predictive", "INSTANCE_TYPE": "t3.medium", "PENDING_PODS_SOURCE": "prometheus"},
			"configuration: POLICY=predictive needs PENDING_PODS_SOURCE=api: it counts demand (and CALENDAR's events) in workers, from the scheduler's view of the pods, which only the Kubernetes API gives"},
		{"unknown policy", map[string]string{"POLICY": "psychic"},
			`configuration: POLICY="psychic": unknown value; want threshold, reactive or predictive`},
		{"headroom above one", map[string]string{"HEADROOM": "1.5"},
			`configuration: HEADROOM="1.5": want a number from 0 to 1, e.g. 0.3`},
		{"calendar with a bad start", map[string]string{"CALENDAR": "ok 2026-12-24T20:00:00Z 1h nodes=2; sale tomorrow 1h nodes=8"},
			`configuration: CALENDAR="ok 2026-12-24T20:00:00Z 1h nodes=2; sale tomorrow 1h nodes=8": calendar entry 2 ("sale tomorrow 1h nodes=8"): field 2 (start) "tomorrow": want an RFC 3339 time such as 2026-12-24T20:00:00Z`},
		{"blank load query", map[string]string{"LOAD_QUERY": " \t "},
			`configuration: LOAD_QUERY=" \t ": want a PromQL query, not blanks`},
		{"a counter as the load", map[string]string{"LOAD_QUERY": "sum(traefik_service_requests_total)"},
			`configuration: LOAD_QUERY="sum(traefik_service_requests_total)": it reads a counter (a _total series) without rate(), irate() or increase(): want a rate the HPAs follow, e.g. sum(rate(traefik_service_requests_total[1m]))`},
		{"lock too short", map[string]string{"LOCK_TTL": "10s"},
			`configuration: LOCK_TTL="10s": want a duration from 1m to 1h, such as 90s or 10m`},
		{"join timeout that churns", map[string]string{"JOIN_TIMEOUT": "1m"},
			`configuration: JOIN_TIMEOUT="1m": want a duration from 3m to 1h, such as 10m`},
		{"drain longer than the lock", map[string]string{"DRAIN_TIMEOUT": "5m"},
			"configuration: DRAIN_TIMEOUT (5m0s) must be shorter than LOCK_TTL (5m0s): a drain runs under the lock"},
		{"missing kubeconfig secret", map[string]string{"KUBECONFIG_SECRET": ""},
			"configuration: KUBECONFIG_SECRET is required: the Secrets Manager secret (name or ARN) whose value is a kubeconfig for the cluster's API server"},
		{"bad node selector", map[string]string{"NODE_SELECTOR": "role in worker"},
			`configuration: NODE_SELECTOR="role in worker": want a label selector such as node-fleet.io/cluster=prod: unable to parse requirement: found 'worker' expected: '('`},
		{"several problems, one message", map[string]string{"MIN_NODES": "x", "MAX_NODES": "y", "CLUSTER_ID": ""},
			`configuration: CLUSTER_ID is required: the cluster's id, in tags, node labels, the lock and notifications: 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit; MIN_NODES="x": want a whole number from 0 to 1000; MAX_NODES="y": want a whole number from 1 to 1000`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := good()
			for k, v := range tt.set {
				if v == "" {
					delete(env, k)
				} else {
					env[k] = v
				}
			}
			_, err := Load(Lambda, getenv(env), nil, nil)
			if err == nil {
				t.Fatal("accepted")
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Errorf("error %T is not a *config.Error", err)
			}
			if err.Error() != tt.want {
				t.Errorf("message\n got: %s\nwant: %s", err, tt.want)
			}
		})
	}
}

func TestLoadDaemonFlagsWinOverEnvironment(t *testing.T) {
	env := good()
	delete(env, "KUBECONFIG_SECRET") // not required by the daemon
	env["MIN_NODES"] = "1"
	env["TICK_INTERVAL"] = "30s"
	got, err := Load(Daemon, getenv(env), []string{"-min-nodes", "3", "-listen-addr=127.0.0.1:9100", "-log-level", "debug", "-kubeconfig", "/etc/kube.conf"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.MinNodes != 3 || got.Interval != 30*time.Second || got.Listen != "127.0.0.1:9100" || got.LogLevel != slog.LevelDebug || got.Kubeconfig != "/etc/kube.conf" {
		t.Errorf("got min %d, interval %s, listen %s, level %s, kubeconfig %q", got.MinNodes, got.Interval, got.Listen, got.LogLevel, got.Kubeconfig)
	}
}

func TestLoadDaemonBadFlags(t *testing.T) {
	env := good()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-min-nodes", "7", "-max-nodes", "4"}, "configuration: -min-nodes (7) must not exceed -max-nodes (4)"},
		{[]string{"-tick-interval", "1s"}, `configuration: -tick-interval="1s": want a duration from 5s to 1h, such as 90s or 10m`},
		{[]string{"-min-nodes", "11"}, "configuration: -min-nodes (11) must not exceed MAX_NODES (10)"},
		{[]string{"-listen-addr", "localhost"}, `configuration: -listen-addr="localhost": want host:port or :port, e.g. :8080`},
		{[]string{"-log-level", "verbose"}, `configuration: -log-level="verbose": unknown value; want debug, info, warn or error`},
		{[]string{"-max-node", "4"}, "configuration: flag provided but not defined: -max-node (-h lists the flags)"},
		{[]string{"tick"}, `configuration: unexpected argument "tick": every setting is a flag (-h lists them)`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := Load(Daemon, getenv(env), tt.args, nil)
			if err == nil || err.Error() != tt.want {
				t.Errorf("message\n got: %v\nwant: %s", err, tt.want)
			}
		})
	}
	delete(env, "CLUSTER_ID")
	_, err := Load(Daemon, getenv(env), nil, nil)
	want := "configuration: CLUSTER_ID (-cluster-id) is required: the cluster's id, in tags, node labels, the lock and notifications: 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
	if err == nil || err.Error() != want {
		t.Errorf("message\n got: %v\nwant: %s", err, want)
	}
}

func TestDaemonHelp(t *testing.T) {
	var out bytes.Buffer
	_, err := Load(Daemon, getenv(nil), []string{"-h"}, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"  -cluster-id, CLUSTER_ID\n", "Required.", "  -tick-interval, TICK_INTERVAL\n", "default 1m"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, out.String())
		}
	}
	if u := Usage(Lambda); strings.Contains(u, "TICK_INTERVAL") || !strings.Contains(u, "KUBECONFIG_SECRET") {
		t.Errorf("Lambda usage lists daemon settings or lacks its own:\n%s", u)
	}
}

func TestLoadPrometheusConnection(t *testing.T) {
	env := good()
	for k, v := range map[string]string{"PROMETHEUS_BEARER_TOKEN_FILE": "/var/run/secrets/prom/token", "PROMETHEUS_USERNAME": "scaler",
		"PROMETHEUS_PASSWORD_FILE": "/var/run/secrets/prom/password", "PROMETHEUS_CA_FILE": "/etc/ssl/prom-ca.pem",
		"PROMETHEUS_INSECURE_SKIP_VERIFY": "true", "PROMETHEUS_TIMEOUT": "20s"} {
		env[k] = v
	}
	got, err := Load(Lambda, getenv(env), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := PrometheusAuth{BearerTokenFile: "/var/run/secrets/prom/token", Username: "scaler", PasswordFile: "/var/run/secrets/prom/password",
		CAFile: "/etc/ssl/prom-ca.pem", InsecureSkipVerify: true, Timeout: 20 * time.Second}
	if d := cmp.Diff(want, got.PrometheusAuth); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	env["PROMETHEUS_INSECURE_SKIP_VERIFY"] = "yes please"
	if _, err := Load(Lambda, getenv(env), nil, nil); err == nil || !strings.Contains(err.Error(), `PROMETHEUS_INSECURE_SKIP_VERIFY="yes please": want true or false`) {
		t.Errorf("err = %v", err)
	}
}

// DRY_RUN is read by both programs; the daemon's -dry-run may be given
// alone, wins over the variable either way, and refuses what is not a
// boolean as the variable does.
func TestDryRunSetting(t *testing.T) {
	tests := []struct {
		name    string
		prog    Program
		env     string
		args    []string
		want    bool
		wantErr string
	}{
		{name: "default off", prog: Lambda},
		{name: "variable", prog: Lambda, env: "true", want: true},
		{name: "variable false", prog: Lambda, env: "false"},
		{name: "variable not a boolean", prog: Lambda, env: "yes please", wantErr: `configuration: DRY_RUN="yes please": want true or false`},
		{name: "flag alone", prog: Daemon, args: []string{"-dry-run"}, want: true},
		{name: "flag false wins over the variable", prog: Daemon, env: "true", args: []string{"-dry-run=false"}},
		{name: "flag not a boolean", prog: Daemon, args: []string{"-dry-run=maybe"}, wantErr: `configuration: -dry-run="maybe": want true or false`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := good()
			if tt.env != "" {
				env["DRY_RUN"] = tt.env
			}
			got, err := Load(tt.prog, getenv(env), tt.args, nil)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Errorf("err = %v, want %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.DryRun != tt.want {
				t.Errorf("DryRun = %v, want %v", got.DryRun, tt.want)
			}
		})
	}
}

func TestDaemonBatchingSettings(t *testing.T) {
	for _, tc := range []struct {
		name      string
		env       map[string]string
		args      []string
		idle, max time.Duration
		problem   string
	}{
		{name: "defaults", idle: time.Second, max: 10 * time.Second},
		{name: "from the environment", env: map[string]string{"BATCH_IDLE_DURATION": "500ms", "BATCH_MAX_DURATION": "5s"}, idle: 500 * time.Millisecond, max: 5 * time.Second},
		{name: "a flag wins", env: map[string]string{"BATCH_IDLE_DURATION": "500ms"}, args: []string{"-batch-idle-duration=2s", "-batch-max-duration=30s"}, idle: 2 * time.Second, max: 30 * time.Second},
		{name: "no batching", args: []string{"-batch-idle-duration=0s", "-batch-max-duration=0s"}},
		{name: "idle longer than max", args: []string{"-batch-idle-duration=20s"}, problem: "-batch-idle-duration (20s) must not exceed BATCH_MAX_DURATION (10s)"},
		{name: "max too long", env: map[string]string{"BATCH_MAX_DURATION": "1h"}, problem: `BATCH_MAX_DURATION="1h": want a duration from 0s to 5m`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := good()
			for k, v := range tc.env {
				env[k] = v
			}
			got, err := Load(Daemon, getenv(env), tc.args, nil)
			if tc.problem != "" {
				if err == nil || !strings.Contains(err.Error(), tc.problem) {
					t.Fatalf("error %v, want one containing %q", err, tc.problem)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.BatchIdle != tc.idle || got.BatchMax != tc.max {
				t.Errorf("batching %s idle, %s max; want %s, %s", got.BatchIdle, got.BatchMax, tc.idle, tc.max)
			}
		})
	}
}

// The shipped policies' scale-down is stabilised by default: the settings
// that promise a scale-down say when it is held.
func TestSettingsSayTheScaleDownIsStabilised(t *testing.T) {
	want := map[string]string{
		"CPU_LOW_PERCENT": "usual rise within 14m",
		"POLICY":          "most they needed over 14m and their usual rise",
	}
	for _, line := range strings.Split(Markdown(), "\n") {
		for env, phrase := range want {
			if strings.HasPrefix(line, "| `"+env+"`") {
				if !strings.Contains(line, phrase) {
					t.Errorf("%s does not say %q: %s", env, phrase, line)
				}
				delete(want, env)
			}
		}
	}
	if len(want) > 0 {
		t.Errorf("not in the settings table: %v", want)
	}
}

// LOAD_QUERY's counter check: a raw _total series without a rate is
// refused; a rate of it, a recording rule holding the word, and a
// function with a space before its parenthesis pass.
func TestCounterWithoutRate(t *testing.T) {
	for q, want := range map[string]bool{
		"sum(traefik_service_requests_total)":                                           true,
		"sum(x_total) - sum(x_total offset 1m)":                                         true,
		"sum(rate(traefik_service_requests_total[1m]))":                                 false,
		"sum(rate (x_total[1m]))":                                                       false,
		"sum by (x) (increase(x_total[5m]))":                                            false,
		"job:requests_total:rate5m":                                                     false,
		"sum(node_namespace_pod_container:container_cpu_usage_seconds_total:sum_irate)": false,
		"sum(nginx_ingress_controller_requests_per_second)":                             false,
	} {
		if got := counterWithoutRate(q); got != want {
			t.Errorf("%q: counter without a rate %v, want %v", q, got, want)
		}
	}
}
