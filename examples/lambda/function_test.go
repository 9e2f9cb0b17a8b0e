package main

import (
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/node-fleet/node-fleet/ec2fleet"
	"github.com/node-fleet/node-fleet/internal/awsutil"
	"github.com/node-fleet/node-fleet/internal/kubetest"
	"github.com/node-fleet/node-fleet/internal/promtest"
	"github.com/node-fleet/node-fleet/internal/testenv"
	"github.com/node-fleet/node-fleet/state"
)

// function is the bootstrap binary running under the Runtime Interface
// Emulator against moto, a real Prometheus scraping node_exporter and the
// test kube-apiserver, with the AWS resources deploy/ creates.
type function struct {
	*rie
	out     *testenv.SyncBuffer
	kube    *kubetest.Cluster
	cluster string
	ec2     *ec2.Client
	ddb     *dynamodb.Client
	table   string
	store   *state.Dynamo
}

var bootstrapOnce struct {
	sync.Once
	path string
	err  error
	out  []byte
}

// buildBootstrap builds the function's bootstrap once per test binary, as
// make lambda builds it but without -trimpath, which would recompile every
// dependency instead of reusing the test build's cache.
func buildBootstrap(t *testing.T) string {
	t.Helper()
	b := &bootstrapOnce
	b.Do(func() {
		dir, err := os.MkdirTemp("", "bootstrap-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, "bootstrap")
		build := exec.Command("go", "build", "-tags", "lambda.norpc", "-ldflags=-s -w", "-o", b.path, ".")
		build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOARCH="+goarch())
		b.out, b.err = build.CombinedOutput()
	})
	if b.err != nil {
		t.Fatalf("go build: %v\n%s", b.err, b.out)
	}
	if fi, err := os.Stat(b.path); err == nil {
		t.Logf("bootstrap (stripped, %s/%s): %.1f MB", "linux", goarch(), float64(fi.Size())/1e6)
	}
	return b.path
}

// startFunction sets up the AWS resources and starts the function under
// the emulator with the environment deploy/ sets, plus extra.
func startFunction(t *testing.T, extra map[string]string) *function {
	t.Helper()
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

	dir := t.TempDir()
	bootstrap := buildBootstrap(t)
	// The emulator, with the function's environment as deploy/ sets it.
	api, listen := freePort(t), freePort(t)
	cmd := exec.Command(rieBin, append([]string{"--runtime-interface-emulator-address", listen, "--runtime-api-address", api}, append(runner(t), bootstrap)...)...)
	cmd.Dir = dir
	env := map[string]string{
		"CLUSTER_ID": cluster, "PROMETHEUS_URL": prom.URL, "DYNAMODB_TABLE": table,
		"SNS_TOPIC_ARN": "", "LAUNCH_TEMPLATE_NAME": template,
		"SUBNET_IDS": strings.Join(subnets, ","), "KUBECONFIG_SECRET": secret, "DRAIN_TIMEOUT": "30s",
		"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
		"AWS_LAMBDA_FUNCTION_TIMEOUT": "90", "AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_FUNCTION_NAME": "node-fleet-autoscaler",
	}
	maps.Copy(env, extra)
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

	store, err := state.NewDynamo(state.DynamoConfig{Client: ddb, Table: table, ClusterID: cluster})
	if err != nil {
		t.Fatal(err)
	}
	return &function{rie: r, out: out, kube: kube, cluster: cluster, ec2: ec2c, ddb: ddb, table: table, store: store}
}

// describe returns the cluster's pending and running instances in EC2.
func (f *function) describe(t *testing.T) map[string]ec2types.Instance {
	t.Helper()
	res, err := f.ec2.DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
		{Name: aws.String("tag:" + ec2fleet.TagCluster), Values: []string{f.cluster}},
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

// item returns the cluster's DynamoDB item.
func (f *function) item(t *testing.T) map[string]ddbtypes.AttributeValue {
	t.Helper()
	got, err := f.ddb.GetItem(t.Context(), &dynamodb.GetItemInput{TableName: aws.String(f.table), ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{state.KeyAttribute: &ddbtypes.AttributeValueMemberS{Value: f.cluster}}})
	if err != nil {
		t.Fatal(err)
	}
	return got.Item
}
