package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// registered is one resource the program declared, as the engine saw it.
type registered struct {
	Type, Name string
	Inputs     map[string]any
}

// mocks records every resource and answers with its inputs plus the
// outputs AWS would compute (arn, id, addresses).
type mocks struct {
	mu        sync.Mutex
	resources []registered
}

func (m *mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	m.mu.Lock()
	m.resources = append(m.resources, registered{Type: args.TypeToken, Name: args.Name, Inputs: args.Inputs.Mappable()})
	m.mu.Unlock()
	out := args.Inputs.Copy()
	id := args.Name + "-id"
	switch args.TypeToken {
	case "aws:ec2/launchTemplate:LaunchTemplate":
		id = "lt-0123456789abcdef0"
	case "aws:ec2/instance:Instance":
		out["privateIp"] = resource.NewStringProperty("10.0.1.10")
		out["publicIp"] = resource.NewStringProperty("203.0.113.10")
	case "aws:ec2/subnet:Subnet":
		id = "subnet-" + fmt.Sprintf("%017x", len(args.Name))
	}
	if _, ok := out["name"]; !ok {
		out["name"] = resource.NewStringProperty(args.Name)
	}
	out["arn"] = resource.NewStringProperty("arn:aws:test:::" + args.TypeToken + "/" + args.Name)
	return id, out, nil
}

func (m *mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return resource.PropertyMap{}, nil
}

func (m *mocks) of(typ string) []registered {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []registered
	for _, r := range m.resources {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (m *mocks) one(t *testing.T, typ, name string) registered {
	t.Helper()
	for _, r := range m.of(typ) {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no %s named %s", typ, name)
	return registered{}
}

func testSettings() Settings {
	return Settings{
		ClusterID: "shop", Region: "eu-west-1", Zones: []string{"eu-west-1a", "eu-west-1b"}, VpcCIDR: "10.0.0.0/16",
		AdminCIDRs: []string{"198.51.100.0/24"}, ServerInstanceType: "t3.medium", WorkerInstanceType: "t3.medium",
		AMI:      "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
		MinNodes: 2, MaxNodes: 10, SpotShare: 0.7, K3sToken: pulumi.ToSecret(pulumi.String("k3s-secret-token")).(pulumi.StringOutput),
		LambdaZip: "../dist/bootstrap-arm64.zip", LambdaArch: "arm64",
	}
}

// deploy runs the program on the mocks and returns what it declared.
func deploy(t *testing.T, s Settings) *mocks {
	t.Helper()
	m := &mocks{}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		_, err := NewStack(ctx, s)
		return err
	}, pulumi.WithMocks("node-fleet", "test", m))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func str(v any) string { s, _ := v.(string); return s }

func TestNetwork(t *testing.T) {
	m := deploy(t, testSettings())
	vpcs := m.of("aws:ec2/vpc:Vpc")
	if len(vpcs) != 1 || vpcs[0].Inputs["cidrBlock"] != "10.0.0.0/16" {
		t.Fatalf("VPCs: %+v", vpcs)
	}
	type subnet struct {
		CIDR, Zone string
		Public     bool
	}
	var got []subnet
	for _, s := range m.of("aws:ec2/subnet:Subnet") {
		got = append(got, subnet{str(s.Inputs["cidrBlock"]), str(s.Inputs["availabilityZone"]), s.Inputs["mapPublicIpOnLaunch"] == true})
	}
	sort.Slice(got, func(i, j int) bool { return got[i].CIDR < got[j].CIDR })
	want := []subnet{{"10.0.1.0/24", "eu-west-1a", true}, {"10.0.2.0/24", "eu-west-1b", true}, {"10.0.3.0/24", "eu-west-1a", false}, {"10.0.4.0/24", "eu-west-1b", false}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("subnets (-want +got):\n%s", d)
	}
	if n := len(m.of("aws:ec2/natGateway:NatGateway")); n != 1 {
		t.Errorf("%d NAT gateways, want 1", n)
	}
	private := m.one(t, "aws:ec2/routeTable:RouteTable", "shop-private")
	routes := private.Inputs["routes"].([]any)
	if len(routes) != 1 || routes[0].(map[string]any)["natGatewayId"] != "shop-nat-id" {
		t.Errorf("private route table does not route through the NAT gateway: %v", routes)
	}
	if n := len(m.of("aws:ec2/routeTableAssociation:RouteTableAssociation")); n != 4 {
		t.Errorf("%d route table associations, want 4", n)
	}
}

func TestOnlyK3sAPIAndPrometheusOpenBeyondTheCluster(t *testing.T) {
	m := deploy(t, testSettings())
	open := map[string][]string{}
	for _, sg := range m.of("aws:ec2/securityGroup:SecurityGroup") {
		ingress, _ := sg.Inputs["ingress"].([]any)
		for _, in := range ingress {
			rule := in.(map[string]any)
			from, to := rule["fromPort"].(float64), rule["toPort"].(float64)
			for _, c := range rule["cidrBlocks"].([]any) {
				open[sg.Name] = append(open[sg.Name], fmt.Sprintf("%s %v-%v from %s", rule["protocol"], from, to, c))
			}
		}
	}
	want := map[string][]string{"shop-server": {
		"tcp 6443-6443 from 10.0.0.0/16", "tcp 6443-6443 from 198.51.100.0/24",
		"tcp 30090-30090 from 10.0.0.0/16", "tcp 30090-30090 from 198.51.100.0/24",
	}}
	if d := cmp.Diff(want, open); d != "" {
		t.Errorf("ingress open to address ranges (-want +got):\n%s", d)
	}
	// Everything else is between the cluster's own groups.
	rules := m.of("aws:ec2/securityGroupRule:SecurityGroupRule")
	if len(rules) == 0 {
		t.Fatal("no rules between the cluster's groups")
	}
	for _, r := range rules {
		if r.Inputs["sourceSecurityGroupId"] == nil || r.Inputs["cidrBlocks"] != nil {
			t.Errorf("rule %s is not limited to a cluster security group: %v", r.Name, r.Inputs)
		}
	}
}

func TestWorkerLaunchTemplates(t *testing.T) {
	m := deploy(t, testSettings())
	lts := m.of("aws:ec2/launchTemplate:LaunchTemplate")
	if len(lts) != 2 {
		t.Fatalf("%d launch templates, want on-demand and spot", len(lts))
	}
	for _, lt := range lts {
		spot := lt.Inputs["instanceMarketOptions"] != nil
		if (lt.Name == "shop-worker-spot") != spot {
			t.Errorf("%s: spot market options %v", lt.Name, lt.Inputs["instanceMarketOptions"])
		}
		if md := lt.Inputs["metadataOptions"].(map[string]any); md["httpTokens"] != "required" {
			t.Errorf("%s: IMDSv2 not required: %v", lt.Name, md)
		}
		raw, err := base64.StdEncoding.DecodeString(str(lt.Inputs["userData"]))
		if err != nil {
			t.Fatalf("%s: user data is not base64: %v", lt.Name, err)
		}
		ud := string(raw)
		for _, want := range []string{
			"#!/usr/bin/env bash\nexport NODEFLEET_CLUSTER_ID='shop'\n",
			"export NODEFLEET_SERVER_URL='https://10.0.1.10:6443'\n",
			"export NODEFLEET_TOKEN_SECRET='shop/k3s-token'\n",
			"--node-label node-fleet.io/instance-id=$INSTANCE_ID --node-label node-fleet.io/cluster=$CLUSTER_ID",
		} {
			if !strings.Contains(ud, want) {
				t.Errorf("%s: user data lacks %q", lt.Name, want)
			}
		}
		if strings.Count(ud, "#!") != 1 {
			t.Errorf("%s: user data has %d shebangs", lt.Name, strings.Count(ud, "#!"))
		}
		tags := lt.Inputs["tagSpecifications"].([]any)
		inst := tags[0].(map[string]any)
		if inst["resourceType"] != "instance" || inst["tags"].(map[string]any)[tagCluster] != "shop" {
			t.Errorf("%s: instances not tagged with the cluster: %v", lt.Name, inst)
		}
	}
	server := m.one(t, "aws:ec2/instance:Instance", "shop-server")
	if server.Inputs["tags"].(map[string]any)[tagRole] != roleServer {
		t.Errorf("server not tagged %s=%s, which the join script looks for", tagRole, roleServer)
	}
}

func TestFunctionScheduleAndSpotRule(t *testing.T) {
	m := deploy(t, testSettings())
	fn := m.one(t, "aws:lambda/function:Function", "shop-autoscaler")
	for k, want := range map[string]any{"runtime": "provided.al2023", "handler": "bootstrap", "timeout": 240.0} {
		if fn.Inputs[k] != want {
			t.Errorf("function %s = %v, want %v", k, fn.Inputs[k], want)
		}
	}
	if a := fn.Inputs["architectures"].([]any); len(a) != 1 || a[0] != "arm64" {
		t.Errorf("architectures %v", a)
	}
	env := fn.Inputs["environment"].(map[string]any)["variables"].(map[string]any)
	// What examples/lambda requires (config), and the original
	// design's names.
	for _, k := range []string{"CLUSTER_ID", "PROMETHEUS_URL", "DYNAMODB_TABLE", "SUBNET_IDS", "KUBECONFIG_SECRET", "LAUNCH_TEMPLATE_ID", "SNS_TOPIC_ARN", "MIN_NODES", "MAX_NODES"} {
		if str(env[k]) == "" {
			t.Errorf("function environment lacks %s: %v", k, env)
		}
	}
	if env["PROMETHEUS_URL"] != "http://10.0.1.10:30090" || env["LAUNCH_TEMPLATE_ID"] != "lt-0123456789abcdef0" {
		t.Errorf("environment %v", env)
	}
	// The server's CPU is not averaged into the workers' (issue 10, 11).
	if got := env["PROMETHEUS_NODE_SELECTOR"]; got != `instance!~"10.0.1.10:.*"` {
		t.Errorf("PROMETHEUS_NODE_SELECTOR %v, want the server's node_exporter left out", got)
	}
	// The function's timeout is shorter than the lock it holds.
	if ttl, err := time.ParseDuration(str(env["LOCK_TTL"])); err != nil || ttl <= 240*time.Second {
		t.Errorf("LOCK_TTL %v is not longer than the function's 240 s timeout (%v)", env["LOCK_TTL"], err)
	}
	if subnets := strings.Split(str(env["SUBNET_IDS"]), ","); len(subnets) != 2 || !strings.HasPrefix(subnets[0], "subnet-") {
		t.Errorf("SUBNET_IDS %q", env["SUBNET_IDS"])
	}
	rules := map[string]registered{}
	for _, r := range m.of("aws:cloudwatch/eventRule:EventRule") {
		rules[r.Name] = r
	}
	if rules["shop-tick"].Inputs["scheduleExpression"] != "rate(2 minutes)" {
		t.Errorf("schedule %v", rules["shop-tick"].Inputs)
	}
	var pattern struct {
		Source     []string `json:"source"`
		DetailType []string `json:"detail-type"`
	}
	if err := json.Unmarshal([]byte(str(rules["shop-spot-interruption"].Inputs["eventPattern"])), &pattern); err != nil ||
		!slices.Equal(pattern.Source, []string{"aws.ec2"}) || !slices.Equal(pattern.DetailType, []string{"EC2 Spot Instance Interruption Warning"}) {
		t.Errorf("spot pattern %v (%v)", rules["shop-spot-interruption"].Inputs["eventPattern"], err)
	}
	var targets []registered
	for _, tg := range m.of("aws:cloudwatch/eventTarget:EventTarget") {
		if strings.Contains(str(tg.Inputs["arn"]), "lambda/function") {
			targets = append(targets, tg)
		}
	}
	perms := m.of("aws:lambda/permission:Permission")
	if len(targets) != 2 || len(perms) != 2 {
		t.Errorf("%d targets and %d permissions, want 2 and 2", len(targets), len(perms))
	}
	for _, p := range perms {
		if p.Inputs["principal"] != "events.amazonaws.com" || !strings.Contains(str(p.Inputs["sourceArn"]), "eventRule") {
			t.Errorf("permission %s: %v", p.Name, p.Inputs)
		}
	}
	table := m.one(t, "aws:dynamodb/table:Table", "shop-state")
	if table.Inputs["hashKey"] != "cluster_id" || table.Inputs["billingMode"] != "PAY_PER_REQUEST" {
		t.Errorf("table %v", table.Inputs)
	}
}

func TestLambdaPolicyIsLeastPrivilege(t *testing.T) {
	m := deploy(t, testSettings())
	var doc policy
	if err := json.Unmarshal([]byte(str(m.one(t, "aws:iam/rolePolicy:RolePolicy", "shop-autoscaler").Inputs["policy"])), &doc); err != nil {
		t.Fatal(err)
	}
	byAction := map[string][]statement{}
	for _, st := range doc.Statement {
		if st.Effect != "Allow" {
			t.Errorf("statement %s: effect %s", st.Sid, st.Effect)
		}
		for _, a := range st.Action {
			byAction[a] = append(byAction[a], st)
		}
		if slices.Contains(st.Resource, "*") && st.Sid != "Describe" && st.Sid != "OwnMetrics" {
			t.Errorf("statement %s allows %v on every resource", st.Sid, st.Action)
		}
	}
	// Terminate only what carries the cluster's tag.
	term := byAction["ec2:TerminateInstances"]
	if len(term) != 1 || term[0].Condition["StringEquals"]["ec2:ResourceTag/node-fleet.io/cluster"] != "shop" {
		t.Errorf("TerminateInstances is not conditioned on the cluster tag: %+v", term)
	}
	// Tags: at launch, or on the cluster's own instances (only the
	// interruption notice).
	for _, st := range byAction["ec2:CreateTags"] {
		c := st.Condition
		atLaunch := fmt.Sprint(c["StringEquals"]["ec2:CreateAction"]) == "[CreateFleet RunInstances]"
		own := c["StringEquals"]["ec2:ResourceTag/node-fleet.io/cluster"] == "shop" &&
			fmt.Sprint(c["ForAllValues:StringEquals"]["aws:TagKeys"]) == "["+tagInterruption+"]"
		if !atLaunch && !own {
			t.Errorf("CreateTags statement %s is not conditioned: %+v", st.Sid, c)
		}
	}
	// Instances (and the instant fleets that launch them) can only be
	// launched with the cluster's and the managed-by tag.
	for _, action := range []string{"ec2:RunInstances", "ec2:CreateFleet"} {
		var launchesInstances bool
		for _, st := range byAction[action] {
			for _, r := range st.Resource {
				if strings.Contains(r, ":instance/") || strings.Contains(r, ":fleet/") {
					launchesInstances = true
					if st.Condition["StringEquals"]["aws:RequestTag/node-fleet.io/cluster"] != "shop" ||
						st.Condition["StringEquals"]["aws:RequestTag/node-fleet.io/managed-by"] != "node-fleet" {
						t.Errorf("%s on %s without the tag conditions: %+v", action, r, st)
					}
				}
			}
		}
		if !launchesInstances {
			t.Errorf("the function cannot %s", action)
		}
	}
	for _, a := range []string{"dynamodb:UpdateItem", "secretsmanager:GetSecretValue", "sns:Publish", "iam:PassRole", "cloudwatch:PutMetricData", "iam:CreateServiceLinkedRole"} {
		if len(byAction[a]) == 0 {
			t.Errorf("the function may not %s", a)
		}
	}
	if st := byAction["iam:CreateServiceLinkedRole"]; len(st) == 1 && st[0].Condition["StringEquals"]["iam:AWSServiceName"] != "spot.amazonaws.com" {
		t.Errorf("CreateServiceLinkedRole not limited to EC2 Spot's role: %+v", st)
	}
	if st := byAction["cloudwatch:PutMetricData"]; len(st) == 1 && st[0].Condition["StringEquals"]["cloudwatch:namespace"] != metricNamespace {
		t.Errorf("PutMetricData not limited to the %s namespace: %+v", metricNamespace, st)
	}
}

func TestAlarms(t *testing.T) {
	m := deploy(t, testSettings())
	type alarm struct {
		Metric     string
		Threshold  float64
		Period     float64
		Periods    float64
		Comparison string
	}
	got := map[string]alarm{}
	for _, a := range m.of("aws:cloudwatch/metricAlarm:MetricAlarm") {
		got[a.Name] = alarm{str(a.Inputs["metricName"]), a.Inputs["threshold"].(float64), a.Inputs["period"].(float64),
			a.Inputs["evaluationPeriods"].(float64), str(a.Inputs["comparisonOperator"])}
		if acts := a.Inputs["alarmActions"].([]any); len(acts) != 1 || !strings.Contains(str(acts[0]), "sns/topic") {
			t.Errorf("%s does not notify the topic: %v", a.Name, acts)
		}
	}
	want := map[string]alarm{
		// Three consecutive failed invocations (one per 2-minute tick).
		"shop-lambda-errors": {"Errors", 1, 120, 3, "GreaterThanOrEqualToThreshold"},
		// Above 90% for 5 minutes.
		"shop-cpu-overload": {"ClusterCPUUtilization", 90, 60, 5, "GreaterThanThreshold"},
		// At the maximum for 10 minutes.
		"shop-at-max": {"NodeCount", 10, 120, 5, "GreaterThanOrEqualToThreshold"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("alarms (-want +got):\n%s", d)
	}
}

func TestSettingsCheck(t *testing.T) {
	s := testSettings()
	s.Zones = []string{"eu-west-1a"}
	s.AdminCIDRs = []string{"0.0.0.0/0"}
	s.MinNodes, s.MaxNodes = 4, 3
	s.LambdaArch = "amd64"
	err := s.check()
	want := "deploy configuration: zones: want two availability zones (or aws:region set), got [\"eu-west-1a\"]; " +
		"adminCidrs: 0.0.0.0/0 would open the K3s API and Prometheus to the world; name your networks; " +
		"minNodes/maxNodes: want 0 <= minNodes <= maxNodes and maxNodes >= 1, got 4 and 3; " +
		"lambdaArch: want arm64 or x86_64, got \"amd64\""
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
	if err := testSettings().check(); err != nil {
		t.Errorf("good settings refused: %v", err)
	}
}

func TestDaemonInterruptionQueueFedByTheEC2Rules(t *testing.T) {
	m := deploy(t, testSettings())
	q := m.one(t, "aws:sqs/queue:Queue", "shop-interruptions")
	if q.Inputs["messageRetentionSeconds"] != 300.0 || q.Inputs["sqsManagedSseEnabled"] != true {
		t.Errorf("queue %v", q.Inputs)
	}
	// Longer than the daemon's two minutes of handling one warning.
	if v, _ := q.Inputs["visibilityTimeoutSeconds"].(float64); v <= 120 {
		t.Errorf("visibility timeout %v s, want more than the 120 s a warning may take", q.Inputs["visibilityTimeoutSeconds"])
	}
	queueArn := "arn:aws:test:::aws:sqs/queue:Queue/shop-interruptions"
	rules := map[string]registered{}
	for _, r := range m.of("aws:cloudwatch/eventRule:EventRule") {
		rules[r.Name] = r
	}
	var ruleArns []string
	for name, detailType := range map[string]string{
		"shop-daemon-spot-interruption": "EC2 Spot Instance Interruption Warning",
		"shop-daemon-rebalance":         "EC2 Instance Rebalance Recommendation",
		"shop-daemon-state-change":      "EC2 Instance State-change Notification",
	} {
		var pattern struct {
			Source     []string `json:"source"`
			DetailType []string `json:"detail-type"`
			Detail     struct {
				State []string `json:"state"`
			} `json:"detail"`
		}
		if err := json.Unmarshal([]byte(str(rules[name].Inputs["eventPattern"])), &pattern); err != nil ||
			!slices.Equal(pattern.Source, []string{"aws.ec2"}) || !slices.Equal(pattern.DetailType, []string{detailType}) {
			t.Errorf("rule %s pattern %v (%v)", name, rules[name].Inputs["eventPattern"], err)
		}
		// Only the states in which an instance leaves the fleet: the
		// account's other instances start and run all day.
		if wantStates := []string{"stopping", "stopped", "shutting-down", "terminated"}; name == "shop-daemon-state-change" && !slices.Equal(pattern.Detail.State, wantStates) {
			t.Errorf("rule %s passes the states %v, want %v", name, pattern.Detail.State, wantStates)
		}
		target := m.one(t, "aws:cloudwatch/eventTarget:EventTarget", name)
		if target.Inputs["arn"] != queueArn {
			t.Errorf("rule %s sends to %v, want the queue", name, target.Inputs["arn"])
		}
		ruleArns = append(ruleArns, "arn:aws:test:::aws:cloudwatch/eventRule:EventRule/"+name)
	}
	// The Lambda function keeps its own rule.
	if _, ok := rules["shop-spot-interruption"]; !ok {
		t.Error("the Lambda function's spot rule is gone")
	}

	var qp struct {
		Statement []struct {
			Principal map[string]string
			Action    string
			Resource  string
			Condition map[string]map[string][]string
		}
	}
	if err := json.Unmarshal([]byte(str(m.one(t, "aws:sqs/queuePolicy:QueuePolicy", "shop-interruptions").Inputs["policy"])), &qp); err != nil {
		t.Fatal(err)
	}
	if len(qp.Statement) != 1 {
		t.Fatalf("queue policy %+v", qp)
	}
	qs := qp.Statement[0]
	got := slices.Clone(qs.Condition["ArnEquals"]["aws:SourceArn"])
	slices.Sort(got)
	slices.Sort(ruleArns)
	if qs.Principal["Service"] != "events.amazonaws.com" || qs.Action != "sqs:SendMessage" || qs.Resource != queueArn || !slices.Equal(got, ruleArns) {
		t.Errorf("queue policy lets more than the three rules send: %+v", qs)
	}

	var doc policy
	if err := json.Unmarshal([]byte(str(m.one(t, "aws:iam/policy:Policy", "shop-daemon").Inputs["policy"])), &doc); err != nil {
		t.Fatal(err)
	}
	byAction := map[string][]statement{}
	for _, st := range doc.Statement {
		for _, a := range st.Action {
			byAction[a] = append(byAction[a], st)
		}
		if slices.Contains(st.Resource, "*") && st.Sid != "Describe" {
			t.Errorf("daemon statement %s allows %v on every resource", st.Sid, st.Action)
		}
	}
	for _, a := range []string{"sqs:ReceiveMessage", "sqs:DeleteMessage"} {
		if st := byAction[a]; len(st) != 1 || !slices.Equal(st[0].Resource, []string{queueArn}) {
			t.Errorf("%s: %+v, want the queue only", a, st)
		}
	}
	for _, a := range []string{"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "cloudwatch:PutMetricData", "secretsmanager:GetSecretValue", "ec2:CreateTags"} {
		for _, st := range byAction[a] {
			if a != "ec2:CreateTags" || st.Sid != "TagAtLaunch" {
				t.Errorf("the daemon may %s (%s), which it never calls", a, st.Sid)
			}
		}
	}
	for _, a := range []string{"ec2:CreateFleet", "ec2:TerminateInstances", "dynamodb:UpdateItem", "sns:Publish"} {
		if len(byAction[a]) == 0 {
			t.Errorf("the daemon may not %s", a)
		}
	}
}
