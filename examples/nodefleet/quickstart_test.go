package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/node-fleet/node-fleet/internal/promtest"
	"github.com/node-fleet/node-fleet/internal/testenv"
)

// quickstartPage is the page the test follows.
const quickstartPage = "../../docs/quickstart.md"

// runMarker marks the shell blocks the test runs.
const runMarker = "<!-- quickstart: run -->"

// quickstartBlocks returns the page's fenced sh blocks marked to be run,
// and its variables (the export lines of its first unmarked sh block).
func quickstartBlocks(page string) (run []string, vars []string) {
	lines := strings.Split(page, "\n")
	for i := 0; i < len(lines); i++ {
		if lines[i] != "```sh" {
			continue
		}
		marked := i > 0 && strings.TrimSpace(lines[i-1]) == runMarker
		var body []string
		for i++; i < len(lines) && lines[i] != "```"; i++ {
			body = append(body, lines[i])
		}
		block := strings.Join(body, "\n")
		switch {
		case marked:
			run = append(run, block)
		case vars == nil && strings.Contains(block, "export "):
			for _, m := range regexp.MustCompile(`(?:export|\s)([A-Z][A-Z0-9_]+)=`).FindAllStringSubmatch(block, -1) {
				vars = append(vars, m[1])
			}
		}
	}
	return run, vars
}

// The page's blocks are found, and none is marked without being a block.
func TestQuickstartPageHasItsBlocks(t *testing.T) {
	b, err := os.ReadFile(quickstartPage)
	if err != nil {
		t.Fatal(err)
	}
	run, vars := quickstartBlocks(string(b))
	markers := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == runMarker {
			markers++
		}
	}
	if len(run) < 5 || markers != len(run) {
		t.Errorf("%d blocks to run, %d markers", len(run), markers)
	}
	for _, v := range []string{"CLUSTER_ID", "MIN_NODES", "MAX_NODES", "SERVER_ROLE"} {
		if !slices.Contains(vars, v) {
			t.Errorf("the variables block lacks %s: %v", v, vars)
		}
	}
}

// docs/quickstart.md, followed verbatim against moto, the API server and
// Prometheus: from an account with nothing of node-fleet to a dry run that
// launches nothing, then a live tick that launches the worker.
func TestIntegrationQuickstart(t *testing.T) {
	endpoint := testenv.Lookup(t, "NODEFLEET_MOTO_ENDPOINT", "moto")
	promBin, nodeBin := promtest.PrometheusBin(t), promtest.NodeExporterBin(t)
	var tools []string
	for _, tool := range []string{"aws", "kubectl", "bash", "base64", "go"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			if testenv.Required() {
				t.Fatalf("%s is not installed", tool)
			}
			t.Skipf("%s is not installed", tool)
		}
		tools = append(tools, filepath.Dir(p))
	}
	page, err := os.ReadFile(quickstartPage)
	if err != nil {
		t.Fatal(err)
	}
	blocks, documented := quickstartBlocks(string(page))

	// The existing cluster: its network, the server's security group,
	// image and role, Prometheus and the API server.
	f := newFixture(t)
	ctx := t.Context()
	vpc, subnets := f.network("us-east-1a", "us-east-1b")
	sg, err := f.ec2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(f.cluster + "-workers"), Description: aws.String("workers"), VpcId: aws.String(vpc)})
	if err != nil {
		t.Fatal(err)
	}
	serverRole := f.cluster + "-server"
	awsEnv := []string{"PATH=" + strings.Join(tools, ":") + ":/usr/bin:/bin", "HOME=" + t.TempDir(), "AWS_REGION=us-east-1", "AWS_DEFAULT_REGION=us-east-1",
		"AWS_ENDPOINT_URL=" + endpoint, "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing"}
	role := exec.CommandContext(ctx, "aws", "iam", "create-role", "--role-name", serverRole, "--assume-role-policy-document",
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)
	role.Env = awsEnv
	if out, err := role.CombinedOutput(); err != nil {
		t.Fatalf("aws iam create-role: %v\n%s", err, out)
	}
	bin := t.TempDir()
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(bin, "nodefleet"), ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	vars := map[string]string{
		"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "CLUSTER_ID": f.cluster, "DYNAMODB_TABLE": f.table + "-qs",
		"LAUNCH_TEMPLATE_NAME": f.cluster + "-workers", "SUBNET_IDS": strings.Join(subnets, ","),
		"PROMETHEUS_URL": startPrometheus(t, promBin, nodeBin), "KUBECONFIG": f.kubeconfig,
		"MIN_NODES": "1", "MAX_NODES": "3", "K3S_URL": "https://10.31.1.10:6443", "K3S_TOKEN": "K10quickstart::server:secret",
		"WORKER_AMI": f.image, "WORKER_SG": aws.ToString(sg.GroupId), "SERVER_ROLE": serverRole,
	}
	for k := range vars {
		if !slices.Contains(documented, k) {
			t.Errorf("the test sets %s, which the page's variables block does not document", k)
		}
	}
	for _, k := range documented {
		if _, ok := vars[k]; !ok {
			t.Errorf("the page's variables block sets %s, which the test does not: the page's commands would run with a setting the test never tried", k)
		}
	}
	env := []string{"PATH=" + bin + ":" + strings.Join(tools, ":") + ":/usr/bin:/bin", "HOME=" + t.TempDir(),
		"AWS_ENDPOINT_URL=" + endpoint, "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing",
		"NODEFLEET_OPERATOR=quickstart", "GOFLAGS=" + os.Getenv("GOFLAGS")}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	// Prometheus needs two scrapes before the rates answer.
	time.Sleep(3 * time.Second)

	// One shell for the whole page, as a reader's: variables a block sets
	// (WORKER_ROLE_ARN) reach the later ones.
	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	for i, block := range blocks {
		fmt.Fprintf(&script, "echo '### block %d'\n%s\n", i+1, block)
	}
	dir := t.TempDir()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, "bash", "-c", script.String())
	cmd.Dir, cmd.Env = dir, env
	raw, err := cmd.CombinedOutput()
	log := string(raw)
	if err != nil {
		t.Fatalf("%s failed at its last block below: %v\n%s", quickstartPage, err, log)
	}
	t.Log(log)

	// The dry run would have launched workers and launched none (status
	// after it shows an empty fleet); the live tick launched them.
	for _, want := range []string{`(?m)^\[ok  \] launch template .*joins cluster ` + f.cluster, `(?m)^all \d+ checks passed$`,
		`(?m)^\s+would: launch \d+`, `(?m)^fleet \(0 instances\):$`, `(?m)^tick \(live\): scaled_up`} {
		if !regexp.MustCompile(want).MatchString(log) {
			t.Errorf("the transcript lacks %s", want)
		}
	}
	would := regexp.MustCompile(`(?m)^tick \(dry run\): held: would scale up (\d+)`).FindStringSubmatch(log)
	if would == nil {
		t.Fatal("the dry run says no scale-up")
	}
	out, err := f.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{
		{Name: aws.String("tag:node-fleet.io/cluster"), Values: []string{f.cluster}},
		{Name: aws.String("instance-state-name"), Values: []string{"pending", "running"}}}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range out.Reservations {
		n += len(r.Instances)
		for _, in := range r.Instances {
			id := aws.ToString(in.InstanceId)
			t.Cleanup(func() {
				_, _ = f.ec2.TerminateInstances(context.Background(), &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
			})
		}
	}
	if fmt.Sprint(n) != would[1] {
		t.Errorf("%d instances of the cluster after the live tick, want the %s the dry run would have launched", n, would[1])
	}
	status, err := os.ReadFile(filepath.Join(dir, "status.json"))
	if err != nil || !strings.Contains(string(status), `"last_decisions"`) {
		t.Errorf("status.json: %v\n%s", err, status)
	}
}
