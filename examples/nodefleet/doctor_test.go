package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/node-fleet/node-fleet/internal/promtest"
	"github.com/node-fleet/node-fleet/provision"
)

// site is a cluster's AWS resources in moto, a Prometheus that answers
// every default query, and the real API server: everything doctor checks,
// set up as the quickstart does.
type siteFixture struct {
	*fixture
	subnets   []string // two zones
	oneZone   string   // a third subnet, in the first one's zone
	template  string
	topic     string
	secret    string
	promURL   string
	serverURL string
	env       map[string]string
}

func newSite(t *testing.T) *siteFixture {
	t.Helper()
	promBin, nodeBin := promtest.PrometheusBin(t), promtest.NodeExporterBin(t)
	f := newFixture(t)
	ctx := t.Context()
	s := &siteFixture{fixture: f, serverURL: "https://10.30.0.10:6443"}
	_, subnets := f.network("us-east-1a", "us-east-1b", "us-east-1a")
	s.subnets, s.oneZone = subnets[:2], subnets[2]
	topic, err := sns.NewFromConfig(f.cfg).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(f.cluster)})
	if err != nil {
		t.Fatal(err)
	}
	s.topic = aws.ToString(topic.TopicArn)
	s.secret = "node-fleet/" + f.cluster + "/k3s-token"
	if _, err := secretsmanager.NewFromConfig(f.cfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(s.secret), SecretString: aws.String("K10token")}); err != nil {
		t.Fatal(err)
	}
	s.template = s.createTemplate(f.cluster, provision.UserData(provision.WorkerJoinScript(), map[string]string{
		provision.VarClusterID: f.cluster, provision.VarTokenSecret: s.secret, provision.VarServerURL: s.serverURL}))

	s.promURL = startPrometheus(t, promBin, nodeBin)
	// The autoscaler's ServiceAccount and its rights, as the quickstart
	// applies them (the same objects for every test on this API server).
	if err := applyRBACObjects(ctx, f.kube.Client, io.Discard); err != nil {
		t.Fatal(err)
	}
	s.env = map[string]string{
		"CLUSTER_ID": f.cluster, "DYNAMODB_TABLE": f.table, "AWS_REGION": "us-east-1", "KUBECONFIG": f.kubeconfig,
		"PROMETHEUS_URL": s.promURL, "LAUNCH_TEMPLATE_ID": s.template, "SUBNET_IDS": strings.Join(s.subnets, ","),
		"SNS_TOPIC_ARN": s.topic, "PENDING_PODS_SOURCE": "prometheus", "NODEFLEET_OPERATOR": "alice",
	}
	// Wait until Prometheus has scraped both targets twice (rates).
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, out, errOut := s.run(nil, "doctor")
		if code == 0 || !strings.Contains(out, "[FAIL] prometheus") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus does not answer every query after 60s:\n%s\n%s", out, errOut)
		}
		time.Sleep(time.Second)
	}
	return s
}

// startPrometheus starts a Prometheus that answers every default query:
// it scrapes node_exporter, and a test exporter as kube-state-metrics and
// the API server's metrics. It returns its URL.
func startPrometheus(t *testing.T, promBin, nodeBin string) string {
	node := promtest.StartNodeExporter(t, nodeBin)
	exp := promtest.StartExporter(t)
	exp.SetPods(1, 3)
	// The latency query is a rate: requests keep coming.
	tick := time.NewTicker(500 * time.Millisecond)
	done := make(chan struct{})
	t.Cleanup(func() { tick.Stop(); close(done) })
	go func() {
		for {
			exp.Observe("GET", 0.02, 5)
			select {
			case <-tick.C:
			case <-done:
				return
			}
		}
	}()
	prom := promtest.StartPrometheus(t, promBin, promtest.PrometheusOptions{Targets: []promtest.Target{
		{Job: "node", Addr: node.Addr}, {Job: "kube-state-metrics", Addr: exp.Addr}}})
	// The CPU queries are rates: they answer once node_exporter has been
	// scraped twice. Until then a doctor run would fail them (the
	// quickstart's last block did, once in CI).
	deadline := time.Now().Add(60 * time.Second)
	for !hasSeries(prom.URL, `count(rate(node_cpu_seconds_total{mode="idle"}[5m]))`) {
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus at %s has no rate of node_exporter's CPU after 60s", prom.URL)
		}
		time.Sleep(time.Second)
	}
	return prom.URL
}

// hasSeries reports whether Prometheus at url answers query with at least
// one series.
func hasSeries(url, query string) bool {
	resp, err := http.Get(url + "/api/v1/query?query=" + neturl.QueryEscape(query))
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&body) == nil && len(body.Data.Result) > 0
}

// createTemplate creates a launch template with userData and returns its id.
func (s *siteFixture) createTemplate(name, userData string) string {
	s.t.Helper()
	data := &types.RequestLaunchTemplateData{ImageId: aws.String(s.image), InstanceType: types.InstanceTypeT3Medium}
	if userData != "" {
		data.UserData = aws.String(base64.StdEncoding.EncodeToString([]byte(userData)))
	}
	lt, err := s.ec2.CreateLaunchTemplate(s.t.Context(), &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String(name + "-" + fmt.Sprint(time.Now().UnixNano())), LaunchTemplateData: data})
	if err != nil {
		s.t.Fatal(err)
	}
	return aws.ToString(lt.LaunchTemplate.LaunchTemplateId)
}

// network creates a VPC with a subnet in each of zones, and returns the
// VPC's id and the subnets' ids.
func (f *fixture) network(zones ...string) (string, []string) {
	f.t.Helper()
	vpc, err := f.ec2.CreateVpc(f.t.Context(), &ec2.CreateVpcInput{CidrBlock: aws.String("10.31.0.0/16")})
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for i, zone := range zones {
		sn, err := f.ec2.CreateSubnet(f.t.Context(), &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, AvailabilityZone: aws.String(zone), CidrBlock: aws.String(fmt.Sprintf("10.31.%d.0/24", i+1))})
		if err != nil {
			f.t.Fatal(err)
		}
		out = append(out, aws.ToString(sn.Subnet.SubnetId))
	}
	return aws.ToString(vpc.Vpc.VpcId), out
}

// run runs the command with the site's environment changed by change.
func (s *siteFixture) run(change map[string]string, args ...string) (int, string, string) {
	s.t.Helper()
	env := map[string]string{}
	for k, v := range s.env {
		env[k] = v
	}
	for k, v := range change {
		env[k] = v
	}
	var out, errOut bytes.Buffer
	a := &app{getenv: func(k string) string { return env[k] }, stdout: &out, stderr: &errOut, now: time.Now,
		aws: func(context.Context, string) (aws.Config, error) { return s.cfg, nil }}
	code := a.run(s.t.Context(), args)
	return code, out.String(), errOut.String()
}

// writeKubeconfig writes a copy of the test cluster's kubeconfig changed
// by edit (its text).
func (s *siteFixture) writeKubeconfig(edit func(string) string) string {
	s.t.Helper()
	b, err := os.ReadFile(s.kubeconfig)
	if err != nil {
		s.t.Fatal(err)
	}
	path := filepath.Join(s.t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte(edit(string(b))), 0o600); err != nil {
		s.t.Fatal(err)
	}
	return path
}

// doctor passes every check on a good setup, and fails each check, with
// its fix, on a setup broken in that one respect.
func TestIntegrationDoctor(t *testing.T) {
	s := newSite(t)
	code, out, errOut := s.run(nil, "doctor", "-server-url", s.serverURL)
	if code != 0 || strings.Contains(out, "FAIL") || !strings.Contains(out, "checks passed") {
		t.Fatalf("doctor on a good setup: exit %d\n%s\n%s", code, out, errOut)
	}
	wantLines(t, "doctor", out,
		`(?m)^\[ok  \] table `+s.table+`: exists, key cluster_id`,
		`(?m)^\[ok  \] launch template .*joins cluster `+s.cluster+` at `+s.serverURL,
		`(?m)^\[ok  \] join token secret `,
		`(?m)^\[ok  \] subnets .*: span 2 zones`,
		`(?m)^\[ok  \] SNS topic .*: exists`,
		`(?m)^\[ok  \] prometheus query cpu: answers`,
		`(?m)^\[ok  \] prometheus query memory: answers`,
		`(?m)^\[ok  \] prometheus query pending_pods: answers`,
		`(?m)^\[ok  \] API server .*: reachable`,
		`(?m)^\[ok  \] API permissions: all \d+ verbs`,
		`(?m)^\[ok  \] service account node-fleet/autoscaler's permissions: all \d+ verbs`)

	ctx := t.Context()
	wrongKey := "node-fleet-" + s.cluster + "-badkey"
	if _, err := dynamodb.NewFromConfig(s.cfg).CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String(wrongKey),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: ddbtypes.KeyTypeHash}},
		BillingMode:          ddbtypes.BillingModePayPerRequest}); err != nil {
		t.Fatal(err)
	}
	emptyProm := promtest.StartPrometheus(t, promtest.PrometheusBin(t), promtest.PrometheusOptions{})
	nobody := s.writeKubeconfig(func(k string) string {
		return strings.Replace(k, "  user:\n", "  user:\n    as: node-fleet-nobody\n", 1)
	})
	for _, tc := range []struct {
		name   string
		env    map[string]string
		args   []string
		fail   string
		fixing string
		// failures is how many checks fail; 0 means 1.
		failures int
	}{
		{"no table", map[string]string{"DYNAMODB_TABLE": s.table + "-missing"}, nil, `table .*-missing: .*ResourceNotFound`, "nodefleet setup creates it", 1},
		{"a table with another key", map[string]string{"DYNAMODB_TABLE": wrongKey}, nil, `table .*: its key is not the single hash key cluster_id`, "new name", 1},
		{"no launch template", map[string]string{"LAUNCH_TEMPLATE_ID": "lt-0123456789abcdef0"}, nil, `launch template \(LAUNCH_TEMPLATE_ID lt-0123456789abcdef0\): `, "user-data.sh", 1},
		{"a template without user data", map[string]string{"LAUNCH_TEMPLATE_ID": s.createTemplate(s.cluster+"-bare", "")}, nil, `launch template .*: has no user data`, "user-data.sh", 1},
		{"a template joining another cluster", map[string]string{"LAUNCH_TEMPLATE_ID": s.createTemplate(s.cluster+"-other", provision.UserData(provision.WorkerJoinScript(),
			map[string]string{provision.VarClusterID: "other", provision.VarTokenSecret: s.secret, provision.VarServerURL: s.serverURL}))}, nil,
			`launch template .*: its user data joins cluster "other", not "` + s.cluster + `"`, "user-data.sh", 1},
		{"a template joining another server", nil, []string{"-server-url", "https://10.99.0.1:6443"}, `launch template .*joins the server "` + s.serverURL + `", not https://10.99.0.1:6443`, "-server-url", 1},
		{"a template without the token secret", map[string]string{"LAUNCH_TEMPLATE_ID": s.createTemplate(s.cluster+"-nosecret", provision.UserData(provision.WorkerJoinScript(),
			map[string]string{provision.VarClusterID: s.cluster, provision.VarTokenSecret: s.secret + "-missing", provision.VarServerURL: s.serverURL}))}, nil,
			`join token secret .*-missing: `, "node-token", 1},
		{"a template finding an untagged server", map[string]string{"LAUNCH_TEMPLATE_ID": s.createTemplate(s.cluster+"-noserver", provision.UserData(provision.WorkerJoinScript(),
			map[string]string{provision.VarClusterID: s.cluster, provision.VarTokenSecret: s.secret}))}, nil,
			`K3s server instance: no running instance tagged`, "-server-url", 1},
		{"subnets in one zone", map[string]string{"SUBNET_IDS": s.subnets[0] + "," + s.oneZone}, nil, `subnets .*: all in one availability zone \(us-east-1a\)`, "another zone", 1},
		{"no such subnet", map[string]string{"SUBNET_IDS": "subnet-0123456789abcdef0"}, nil, `subnets subnet-0123456789abcdef0: `, "SUBNET_IDS", 1},
		{"no SNS topic", map[string]string{"SNS_TOPIC_ARN": s.topic + "-missing"}, nil, `SNS topic .*-missing: `, "create-topic", 1},
		{"Prometheus without the series", map[string]string{"PROMETHEUS_URL": emptyProm.URL}, nil, `prometheus query cpu: .*no data`, "node_exporter", 5},
		{"Prometheus unreachable", map[string]string{"PROMETHEUS_URL": fmt.Sprintf("http://127.0.0.1:%d", promtest.FreePort(t))}, nil, `prometheus http://127.0.0.1:\d+: .*connection refused`, "PROMETHEUS_URL", 0},
		{"API server unreachable", map[string]string{"KUBECONFIG": s.writeKubeconfig(func(k string) string {
			return replaceServer(k, "https://127.0.0.1:1")
		})}, nil, `API server https://127.0.0.1:1: `, "KUBECONFIG", 1},
		{"credentials without the RBAC", map[string]string{"KUBECONFIG": nobody}, nil, `API permissions: \d+ of \d+ verbs denied: .*delete nodes.*create pods/eviction`, "nodefleet setup -apply", 1},
		{"admin credentials, the daemon's service account without the RBAC", nil, []string{"-service-account", s.cluster + "/autoscaler"},
			`service account ` + s.cluster + `/autoscaler's permissions: \d+ of \d+ verbs denied: .*delete nodes`, "rbac.yaml", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := s.run(tc.env, append([]string{"doctor"}, tc.args...)...)
			if code != 1 || !strings.Contains(errOut, "checks failed") {
				t.Errorf("exit %d, stderr %q; want 1 and the count of failed checks", code, errOut)
			}
			wantLines(t, "doctor", out, `(?m)^\[FAIL\] `+tc.fail)
			if !strings.Contains(out, "fix: ") || !strings.Contains(out[strings.Index(out, "[FAIL]"):], tc.fixing) {
				t.Errorf("no fix naming %q after the failure:\n%s", tc.fixing, out)
			}
			if n := strings.Count(out, "[FAIL]"); n != max(tc.failures, 1) {
				t.Errorf("%d failures for one broken thing, want %d:\n%s", n, max(tc.failures, 1), out)
			}
		})
	}
}

// replaceServer points every cluster of a kubeconfig at server.
func replaceServer(kubeconfig, server string) string {
	var out []string
	for _, line := range strings.Split(kubeconfig, "\n") {
		if i := strings.Index(line, "server: "); i >= 0 {
			line = line[:i] + "server: " + server
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

// setup creates the table (and finds it on a second run), writes the
// policies limited to the cluster's resources, the RBAC and the user data
// with the cluster's values, and applies the RBAC.
func TestIntegrationSetup(t *testing.T) {
	s := newSite(t)
	table := s.table + "-new"
	dir := t.TempDir()
	env := map[string]string{"DYNAMODB_TABLE": table}
	args := []string{"setup", "-out", dir, "-worker-role", "arn:aws:iam::123456789012:role/k3s-worker", "-server-url", s.serverURL, "-apply"}
	code, out, errOut := s.run(env, args...)
	if code != 0 || !strings.Contains(errOut, "table "+table+": created") || !strings.Contains(errOut, "applied clusterrole/node-fleet-autoscaler") {
		t.Fatalf("setup: exit %d\n%s\n%s", code, out, errOut)
	}
	code, _, errOut = s.run(env, args...)
	if code != 0 || !strings.Contains(errOut, "table "+table+": exists") {
		t.Fatalf("setup again: exit %d\n%s", code, errOut)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	daemon := read("daemon-policy.json")
	for _, want := range []string{"launch-template/" + s.template, "subnet/" + s.subnets[0], "subnet/" + s.subnets[1], ":table/" + table,
		`"ec2:ResourceTag/node-fleet.io/cluster":"` + s.cluster + `"`, s.topic, "role/k3s-worker"} {
		if !strings.Contains(daemon, want) {
			t.Errorf("daemon-policy.json lacks %s:\n%s", want, daemon)
		}
	}
	if !strings.Contains(read("lambda-policy.json"), "cloudwatch:PutMetricData") || strings.Contains(daemon, "cloudwatch:PutMetricData") {
		t.Error("the Lambda function's policy and the daemon's are not told apart")
	}
	if read("rbac.yaml") != provision.RBAC() {
		t.Error("rbac.yaml is not the RBAC manifest")
	}
	vars := provision.UserDataVars(read("user-data.sh"))
	if vars[provision.VarClusterID] != s.cluster || vars[provision.VarServerURL] != s.serverURL || vars[provision.VarTokenSecret] != s.secret {
		t.Errorf("user-data.sh exports %v", vars)
	}
	if _, err := s.kube.Client.RbacV1().ClusterRoles().Get(t.Context(), "node-fleet-autoscaler", metav1.GetOptions{}); err != nil {
		t.Errorf("setup -apply: %v", err)
	}
	// Without -out, everything goes to stdout; without -worker-role a note.
	code, out, errOut = s.run(nil, "setup")
	if code != 0 || strings.Count(out, "# ---- ") != 5 || !strings.Contains(errOut, "note: iam:PassRole names the placeholder role") {
		t.Errorf("setup to stdout: exit %d\n%s\n%s", code, out, errOut)
	}
}

// tick on a table that does not exist names the table and its setting, as
// the state's subcommands do.
func TestIntegrationTickNamesAMissingTable(t *testing.T) {
	s := newSite(t)
	missing := s.table + "-missing"
	code, out, errOut := s.run(map[string]string{"DYNAMODB_TABLE": missing}, "tick", "-dry-run")
	if code != 1 || !strings.Contains(errOut, `the DynamoDB table "`+missing+`" (-table, DYNAMODB_TABLE) does not exist`) {
		t.Errorf("tick on a missing table: exit %d\n%s\n%s", code, out, errOut)
	}
}
