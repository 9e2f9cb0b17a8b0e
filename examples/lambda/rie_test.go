package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/ec2fleet"
	"github.com/node-fleet/node-fleet/internal/awsutil"
	"github.com/node-fleet/node-fleet/internal/kubetest"
	"github.com/node-fleet/node-fleet/internal/promtest"
	"github.com/node-fleet/node-fleet/internal/testenv"
	"github.com/node-fleet/node-fleet/run/lambda"
	"github.com/node-fleet/node-fleet/state"
)

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// rie is the bootstrap binary running under the Runtime Interface Emulator.
type rie struct {
	url string
	out *testenv.SyncBuffer
}

// invoke posts payload and returns the function's answer.
func (r *rie) invoke(t *testing.T, payload []byte) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url+"/2015-03-31/functions/function/invocations", bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("invoke: %v\nemulator output:\n%s", err, r.out)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

var reportRE = regexp.MustCompile(`REPORT RequestId: \S+\t(?:Init Duration: ([0-9.]+) ms\t)?Duration: ([0-9.]+) ms`)

// reports returns the emulator's REPORT lines: init duration (ms, when
// the invocation started the runtime) and duration (ms).
func (r *rie) reports() [][2]string {
	var out [][2]string
	for _, m := range reportRE.FindAllStringSubmatch(r.out.String(), -1) {
		out = append(out, [2]string{m[1], m[2]})
	}
	return out
}

// TestBootstrapUnderTheRuntimeInterfaceEmulator builds the function's
// bootstrap binary and runs it under the AWS Lambda Runtime Interface
// Emulator, against moto (EC2, DynamoDB, Secrets Manager, SNS, CloudWatch),
// a real Prometheus scraping node_exporter, and the test kube-apiserver.
// A scheduled event launches the first worker (MIN_NODES 1); a spot
// interruption warning for it marks it, cordons its node and launches
// its replacement; an unrelated event is refused.
func TestBootstrapUnderTheRuntimeInterfaceEmulator(t *testing.T) {
	rieBin := testenv.Lookup(t, "NODEFLEET_RIE_BIN", "the AWS Lambda Runtime Interface Emulator")
	endpoint := testenv.Lookup(t, "NODEFLEET_MOTO_ENDPOINT", "moto")
	kube := kubetest.Connect(t)
	kubeconfigPath := testenv.Lookup(t, kubetest.EnvKubeconfig, "a kube-apiserver")
	promBin, exporterBin := promtest.PrometheusBin(t), promtest.NodeExporterBin(t)
	ctx := t.Context()

	// Prometheus scraping a node_exporter, as on the cluster.
	exporter := promtest.StartNodeExporter(t, exporterBin)
	prom := promtest.StartPrometheus(t, promBin, promtest.PrometheusOptions{Targets: []promtest.Target{{Job: "node", Addr: exporter.Addr}}})

	// AWS resources in moto: the network, the launch template, the
	// table, the topic, the kubeconfig secret.
	awsCfg, err := awsutil.ForEmulator(ctx, endpoint, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	cluster := kubetest.Name("rie")
	ec2c := ec2.NewFromConfig(awsCfg)
	imgs, err := ec2c.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"amazon"}})
	if err != nil || len(imgs.Images) == 0 {
		t.Fatalf("describe images: %v", err)
	}
	vpc, err := ec2c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.30.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	var subnets []string
	for i, z := range []string{"us-east-1a", "us-east-1b"} {
		s, err := ec2c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, AvailabilityZone: aws.String(z), CidrBlock: aws.String(fmt.Sprintf("10.30.%d.0/24", i+1))})
		if err != nil {
			t.Fatal(err)
		}
		subnets = append(subnets, aws.ToString(s.Subnet.SubnetId))
	}
	template := "workers-" + cluster
	if _, err := ec2c.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String(template),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: imgs.Images[0].ImageId, InstanceType: ec2types.InstanceTypeT3Medium}}); err != nil {
		t.Fatal(err)
	}
	table := cluster + "-state"
	ddb := dynamodb.NewFromConfig(awsCfg)
	if err := state.CreateTable(ctx, ddb, table, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := os.ReadFile(kubeconfigPath)
	if err != nil {
		t.Fatal(err)
	}
	secret := cluster + "/kubeconfig"
	if _, err := secretsmanager.NewFromConfig(awsCfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(secret), SecretString: aws.String(string(kubeconfig))}); err != nil {
		t.Fatal(err)
	}

	// The bootstrap binary, built as make lambda builds it but without
	// -trimpath, which would recompile every dependency instead of
	// reusing the test build's cache.
	dir := t.TempDir()
	bootstrap := filepath.Join(dir, "bootstrap")
	build := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-ldflags=-s -w", "-o", bootstrap, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if fi, err := os.Stat(bootstrap); err == nil {
		t.Logf("bootstrap (stripped, %s/%s): %.1f MB", "linux", goarch(), float64(fi.Size())/1e6)
	}

	// The emulator, with the function's environment as deploy/ sets it.
	api, listen := freePort(t), freePort(t)
	cmd := exec.Command(rieBin, "--runtime-interface-emulator-address", listen, "--runtime-api-address", api, bootstrap)
	cmd.Dir = dir
	env := map[string]string{
		"CLUSTER_ID": cluster, "PROMETHEUS_URL": prom.URL, "DYNAMODB_TABLE": table,
		"SNS_TOPIC_ARN": "", "MIN_NODES": "1", "MAX_NODES": "1", "LAUNCH_TEMPLATE_NAME": template,
		"SUBNET_IDS": strings.Join(subnets, ","), "KUBECONFIG_SECRET": secret, "DRAIN_TIMEOUT": "30s",
		"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
		"AWS_LAMBDA_FUNCTION_TIMEOUT": "90", "AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_FUNCTION_NAME": "node-fleet-autoscaler",
	}
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	for k, v := range env {
		if v != "" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	out := &testenv.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("emulator and function output:\n%s", out)
		}
	})
	r := &rie{url: "http://" + listen, out: out}
	promtest.WaitFor(t, 30*time.Second, "the emulator to listen", func(context.Context) bool {
		c, err := net.Dial("tcp", listen)
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	describe := func() map[string]ec2types.Instance {
		t.Helper()
		res, err := ec2c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
			{Name: aws.String("tag:" + ec2fleet.TagCluster), Values: []string{cluster}},
			{Name: aws.String("instance-state-name"), Values: []string{"pending", "running"}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]ec2types.Instance{}
		for _, rv := range res.Reservations {
			for _, in := range rv.Instances {
				m[aws.ToString(in.InstanceId)] = in
			}
		}
		return m
	}
	item := func() map[string]ddbtypes.AttributeValue {
		t.Helper()
		got, err := ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
			Key: map[string]ddbtypes.AttributeValue{state.KeyAttribute: &ddbtypes.AttributeValueMemberS{Value: cluster}}})
		if err != nil {
			t.Fatal(err)
		}
		return got.Item
	}
	store, err := state.NewDynamo(state.DynamoConfig{Client: ddb, Table: table, ClusterID: cluster})
	if err != nil {
		t.Fatal(err)
	}

	// 1. The schedule: below MIN_NODES, the tick launches a worker.
	var tick lambda.Response
	body := r.invoke(t, payload(t, "scheduled-event.json", ""))
	if err := json.Unmarshal(body, &tick); err != nil || tick.Event != "tick" || tick.Outcome != autoscaler.OutcomeScaledUp {
		t.Fatalf("tick answered %s (%v)", body, err)
	}
	first := describe()
	if len(first) != 1 {
		t.Fatalf("%d instances in EC2 after the tick, want 1", len(first))
	}
	var worker string
	for id := range first {
		worker = id
	}
	st, err := store.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.History) != 1 || st.History[0].Action != autoscaler.ScaleUp || st.NodeCount != 1 || st.LastScaleUp.IsZero() {
		t.Errorf("DynamoDB state after the tick: %+v", st)
	}
	if _, held := item()["lock_owner"]; held {
		t.Error("the lock is still held after the tick")
	}
	// A second tick, warm: the worker is booting and counts.
	body = r.invoke(t, payload(t, "scheduled-event.json", ""))
	if err := json.Unmarshal(body, &tick); err != nil || tick.Outcome != autoscaler.OutcomeHeld || len(describe()) != 1 {
		t.Fatalf("second tick answered %s (%v)", body, err)
	}

	// 2. The worker joined (its node carries the join script's labels);
	// then its spot interruption warning arrives.
	node := kube.AddNode(t, kubetest.NodeOptions{Labels: map[string]string{autoscaler.LabelInstanceID: worker, autoscaler.LabelCluster: cluster}})
	var spot lambda.Response
	body = r.invoke(t, payload(t, "spot-interruption.json", worker))
	if err := json.Unmarshal(body, &spot); err != nil || spot.Interruption == nil {
		t.Fatalf("spot warning answered %s (%v)", body, err)
	}
	if in := spot.Interruption; in.Node != node.Name || !in.Drained || len(in.Replacements) != 1 {
		t.Errorf("interruption handling %+v", in)
	}
	after := describe()
	if len(after) != 2 {
		t.Errorf("%d instances in EC2 after the warning, want the interrupted one and its replacement", len(after))
	}
	// Replaced at once, so not marked for the next tick to replace again.
	for _, tag := range after[worker].Tags {
		if aws.ToString(tag.Key) == ec2fleet.TagInterruptionNotice {
			t.Errorf("instance %s replaced and also marked %s", worker, ec2fleet.TagInterruptionNotice)
		}
	}
	var replacementOp string
	for id, in := range after {
		for _, tag := range in.Tags {
			if id != worker && aws.ToString(tag.Key) == ec2fleet.TagOperation {
				replacementOp = aws.ToString(tag.Value)
			}
		}
	}
	if !strings.HasPrefix(replacementOp, cluster+"-") || !strings.HasSuffix(replacementOp, "-up") {
		t.Errorf("replacement launched under operation %q, want the tick's launch operation %s-<token>-up", replacementOp, cluster)
	}
	n, err := kube.Client.CoreV1().Nodes().Get(ctx, node.Name, metav1.GetOptions{})
	if err != nil || !n.Spec.Unschedulable {
		t.Errorf("node %s not cordoned (%v)", node.Name, err)
	}
	if st, err := store.Load(ctx); err != nil || st.Operation != nil || !st.LastScaleUp.After(time.Time{}) {
		t.Errorf("DynamoDB state after the warning: %+v (%v)", st, err)
	}
	if _, held := item()["lock_owner"]; held {
		t.Error("the lock is still held after the warning")
	}

	// 3. Anything else is refused.
	body = r.invoke(t, []byte(`{"source":"aws.s3","detail-type":"Object Created","detail":{}}`))
	if !strings.Contains(string(body), "unsupported event") {
		t.Errorf("an S3 event answered %s", body)
	}

	// The emulator writes an invocation's REPORT after answering it.
	promtest.WaitFor(t, 10*time.Second, "four REPORT lines", func(context.Context) bool { return len(r.reports()) == 4 })
	reps := r.reports()
	if reps[0][0] == "" {
		t.Fatalf("emulator reports %v; output:\n%s", reps, out)
	}
	rapidInit := regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`).FindStringSubmatch(out.String())
	if rapidInit == nil {
		rapidInit = []string{"", "?"}
	}
	// The emulator's Init Duration covers only its own start of the
	// runtime; the function's own init (configuration, AWS config, the
	// kubeconfig secret, the parts) is in the first invocation's
	// duration, and the function logs it.
	initMS := regexp.MustCompile(`"message":"initialised","init_ms":([0-9.]+)`).FindStringSubmatch(out.String())
	if initMS == nil {
		t.Fatalf("the function did not log its init; output:\n%s", out)
	}
	t.Logf("emulator: INIT REPORT %s ms (REPORT's Init Duration %s ms; the function's own init %s ms); first tick (cold) %s ms; warm tick %s ms; spot interruption %s ms; rejected event %s ms",
		rapidInit[1], reps[0][0], initMS[1], reps[0][1], reps[1][1], reps[2][1], reps[3][1])
}

func goarch() string {
	if v := os.Getenv("GOARCH"); v != "" {
		return v
	}
	out, err := exec.Command("go", "env", "GOARCH").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}

// payload reads one of run/lambda's testdata events, with INSTANCE_ID
// replaced.
func payload(t *testing.T, name, instanceID string) json.RawMessage {
	t.Helper()
	b, err := os.ReadFile("../../run/lambda/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return json.RawMessage(strings.ReplaceAll(string(b), "INSTANCE_ID", instanceID))
}
