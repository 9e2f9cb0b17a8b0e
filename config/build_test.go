package config

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"k8s.io/client-go/rest"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/decision"
	"github.com/node-fleet/node-fleet/metrics"
)

// secrets answers GetSecretValue from a map.
type secrets map[string]string

func (s secrets) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	v, ok := s[aws.ToString(in.SecretId)]
	if !ok {
		return nil, errors.New("ResourceNotFoundException: Secrets Manager can't find the specified secret")
	}
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(v)}, nil
}

const kubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: shop
  cluster:
    server: https://10.0.1.10:6443
    insecure-skip-tls-verify: true
users:
- name: autoscaler
  user:
    token: abc123
contexts:
- name: shop
  context: {cluster: shop, user: autoscaler}
current-context: shop
`

func TestKubeconfigFromSecret(t *testing.T) {
	s := secrets{"shop/kubeconfig": kubeconfig, "empty": "", "garbage": "this is not yaml: [", "no-context": "apiVersion: v1\nkind: Config\n"}
	c, err := KubeconfigFromSecret(context.Background(), s, "shop/kubeconfig")
	if err != nil {
		t.Fatal(err)
	}
	if c.Host != "https://10.0.1.10:6443" || c.BearerToken != "abc123" {
		t.Errorf("config %s / %q", c.Host, c.BearerToken)
	}
	for id, want := range map[string]string{
		"missing":    "read KUBECONFIG_SECRET missing: ResourceNotFoundException",
		"empty":      "KUBECONFIG_SECRET empty is empty: the K3s server writes it when it is up (deploy/server-init.sh)",
		"garbage":    "KUBECONFIG_SECRET garbage does not hold a usable kubeconfig",
		"no-context": "KUBECONFIG_SECRET no-context does not hold a usable kubeconfig",
	} {
		if _, err := KubeconfigFromSecret(context.Background(), s, id); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q...", id, err, want)
		}
	}
}

func TestBuildWiresTheConfiguration(t *testing.T) {
	env := good()
	env["MIN_NODES"], env["MAX_NODES"], env["LOCK_TTL"], env["SNS_TOPIC_ARN"] = "1", "4", "7m", "arn:aws:sns:us-east-1:123456789012:events"
	env["DRY_RUN"] = "true"
	cfg, err := Load(Lambda, getenv(env), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	awsCfg := aws.Config{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}}
	p, err := Build(context.Background(), cfg, Options{AWS: awsCfg, Kube: &rest.Config{Host: "https://10.0.1.10:6443"}, Owner: "lambda-1"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Prometheus.Close()
	ac := p.Config
	if ac.ClusterID != "shop-prod" || ac.MinNodes != 1 || ac.MaxNodes != 4 || ac.LockTTL != cfg.LockTTL || ac.Notifier == nil || p.Autoscaler.Owner() != "lambda-1" || !ac.DryRun {
		t.Errorf("autoscaler config %+v", ac)
	}
	if ac.Locker != autoscaler.Locker(p.Store) || ac.Fleet != autoscaler.FleetProvider(p.Fleet) || ac.Nodes != autoscaler.NodeManager(p.Nodes) {
		t.Error("parts not wired")
	}
	// Pending pods from the API: the Prometheus query is not run.
	if _, ok := p.Prometheus.Queries()[autoscaler.MetricPendingPods]; ok {
		t.Errorf("queries %v include pending pods, counted through the API", p.Prometheus.Queries())
	}
}

// A Config built by hand (not by Load) with both INSTANCE_TYPE and
// INSTANCE_TYPES is refused by Build with an error naming both, as Load
// refuses it: neither list silently wins over the other.
func TestBuildRefusesBothInstanceTypeSettings(t *testing.T) {
	cfg, err := Load(Lambda, getenv(good()), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.InstanceType, cfg.InstanceTypes = "t3.large", []string{"m5.large", "m6i.large"}
	awsCfg := aws.Config{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}}
	p, err := Build(context.Background(), cfg, Options{AWS: awsCfg, Kube: &rest.Config{Host: "https://10.0.1.10:6443"}, Owner: "lambda-1"})
	if err == nil {
		p.Prometheus.Close()
		t.Fatal("Build accepted INSTANCE_TYPE and INSTANCE_TYPES together")
	}
	if !strings.Contains(err.Error(), "INSTANCE_TYPE ") || !strings.Contains(err.Error(), "INSTANCE_TYPES") {
		t.Errorf("err = %v, want it to name INSTANCE_TYPE and INSTANCE_TYPES", err)
	}
}

// The grace for new nodes is two scrape intervals (SCRAPE_INTERVAL), and
// REALERT_INTERVAL reaches the autoscaler; the defaults are the
// autoscaler's own.
func TestBuildDerivesTheNewNodeGraceFromTheScrapeInterval(t *testing.T) {
	for _, tc := range []struct {
		name           string
		set            map[string]string
		grace, realert time.Duration
	}{
		{"defaults", nil, autoscaler.DefaultConfig().NewNodeGrace, autoscaler.DefaultConfig().RealertInterval},
		{"a minute's scrapes", map[string]string{"SCRAPE_INTERVAL": "1m", "REALERT_INTERVAL": "4h"}, 2 * time.Minute, 4 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := good()
			for k, v := range tc.set {
				env[k] = v
			}
			cfg, err := Load(Lambda, getenv(env), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			awsCfg := aws.Config{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}}
			p, err := Build(context.Background(), cfg, Options{AWS: awsCfg, Kube: &rest.Config{Host: "https://10.0.1.10:6443"}})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Prometheus.Close()
			if p.Config.NewNodeGrace != tc.grace || p.Config.RealertInterval != tc.realert {
				t.Errorf("NewNodeGrace %s, RealertInterval %s; want %s, %s", p.Config.NewNodeGrace, p.Config.RealertInterval, tc.grace, tc.realert)
			}
		})
	}
}

// A Config built by hand with an instance type listed twice is refused
// by Build before any call, naming INSTANCE_TYPES, as Load refuses it.
func TestBuildRefusesAnInstanceTypeListedTwice(t *testing.T) {
	cfg, err := Load(Lambda, getenv(good()), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.InstanceTypes = []string{"m5.large", "m6i.large", "m5.large"}
	awsCfg := aws.Config{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}}
	p, err := Build(context.Background(), cfg, Options{AWS: awsCfg, Kube: &rest.Config{Host: "https://10.0.1.10:6443"}})
	if err == nil {
		p.Prometheus.Close()
		t.Fatal("Build accepted m5.large twice")
	}
	if !strings.Contains(err.Error(), "INSTANCE_TYPES") || !strings.Contains(err.Error(), "m5.large is listed twice") {
		t.Errorf("err = %v, want it to name INSTANCE_TYPES and m5.large", err)
	}
}

// buildWith loads env over good() for the Lambda function and builds it
// with queries as Options.Queries.
func buildWith(t *testing.T, set map[string]string, queries map[string]metrics.Query) (*Parts, error) {
	t.Helper()
	env := good()
	maps.Copy(env, set)
	cfg, err := Load(Lambda, getenv(env), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	awsCfg := aws.Config{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}}
	return Build(context.Background(), cfg, Options{AWS: awsCfg, Kube: &rest.Config{Host: "https://10.0.1.10:6443"}, Queries: queries})
}

// LOAD_QUERY becomes the Prometheus source's custom query named
// decision.MetricLoad, next to the program's own queries, which are kept
// and not changed.
func TestBuildAddsTheLoadQuery(t *testing.T) {
	const load = "sum(rate(traefik_service_requests_total[1m]))"
	queries := map[string]metrics.Query{"queue": {Expr: "sum(queue_depth)"}}
	p, err := buildWith(t, map[string]string{"LOAD_QUERY": load}, queries)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Prometheus.Close()
	got := p.Prometheus.Queries()
	if got[decision.MetricLoad] != load || got["queue"] != "sum(queue_depth)" {
		t.Errorf("queries %v, want %s=%q and queue=%q", got, decision.MetricLoad, load, "sum(queue_depth)")
	}
	if len(queries) != 1 {
		t.Errorf("Options.Queries changed: %v", queries)
	}
}

// Without LOAD_QUERY, Build adds no custom query: the program's own
// queries are the only ones.
func TestBuildWithoutTheLoadQuery(t *testing.T) {
	p, err := buildWith(t, nil, map[string]metrics.Query{"queue": {Expr: "sum(queue_depth)"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Prometheus.Close()
	got := p.Prometheus.Queries()
	if _, ok := got[decision.MetricLoad]; ok || got["queue"] != "sum(queue_depth)" {
		t.Errorf("queries %v, want queue and no %s", got, decision.MetricLoad)
	}
}

// LOAD_QUERY and a program's own query of the same name are refused:
// neither silently wins over the other.
func TestBuildRefusesTwoLoadQueries(t *testing.T) {
	p, err := buildWith(t, map[string]string{"LOAD_QUERY": "sum(rate(traefik_service_requests_total[1m]))"},
		map[string]metrics.Query{decision.MetricLoad: {Expr: "sum(rate(http_requests_total[1m]))"}})
	if err == nil {
		p.Prometheus.Close()
		t.Fatal("Build accepted LOAD_QUERY and Options.Queries[\"load\"] together")
	}
	if !strings.Contains(err.Error(), "LOAD_QUERY") || !strings.Contains(err.Error(), `Options.Queries already has a query named "load"`) {
		t.Errorf("err = %v, want it to name LOAD_QUERY and Options.Queries' %q", err, decision.MetricLoad)
	}
}

// A Config built by hand with a blank LoadQuery is refused by Build,
// naming LOAD_QUERY, as Load refuses it.
func TestBuildRefusesABlankLoadQuery(t *testing.T) {
	cfg, err := Load(Lambda, getenv(good()), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.LoadQuery = " \n"
	awsCfg := aws.Config{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}}
	p, err := Build(context.Background(), cfg, Options{AWS: awsCfg, Kube: &rest.Config{Host: "https://10.0.1.10:6443"}})
	if err == nil {
		p.Prometheus.Close()
		t.Fatal("Build accepted a blank LoadQuery")
	}
	if !strings.Contains(err.Error(), "LOAD_QUERY (Config.LoadQuery) is blank") {
		t.Errorf("err = %v, want it to name LOAD_QUERY", err)
	}
}
