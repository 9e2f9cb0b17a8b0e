package provision

import (
	"encoding/json"
	"slices"
	"strings"
)

// The tags and names the policies are limited by: those of ec2fleet
// (TagCluster, TagManagedBy, ManagedByValue, TagInterruptionNotice) and of
// notify's CloudWatch namespace, repeated here so that the package needs
// nothing but the standard library; a test checks that they agree.
const (
	tagCluster      = "node-fleet.io/cluster"
	tagManagedBy    = "node-fleet.io/managed-by"
	managedByValue  = "node-fleet"
	tagInterruption = "node-fleet.io/interruption-notice"
	metricNamespace = "NodeFleet"
)

// Statement is one statement of an IAM policy document. Its JSON is IAM's.
type Statement struct {
	Sid       string
	Effect    string
	Action    []string
	Resource  []string
	Condition map[string]map[string]any `json:",omitempty"`
}

// Policy is an IAM policy document.
type Policy struct {
	Version   string
	Statement []Statement
}

// JSON is the document as IAM takes it (compact).
func (p Policy) JSON() string {
	b, err := json.Marshal(p)
	if err != nil {
		// Only strings, slices and maps of them: Marshal cannot fail.
		return "{}"
	}
	return string(b)
}

// NewPolicy returns the document with sts, their empty Effect made Allow.
func NewPolicy(sts []Statement) Policy {
	out := slices.Clone(sts)
	for i := range out {
		if out[i].Effect == "" {
			out[i].Effect = "Allow"
		}
	}
	return Policy{Version: "2012-10-17", Statement: out}
}

// Resources are the ARNs a cluster's policies are limited to. Empty
// optional fields leave their statement out.
type Resources struct {
	// ClusterID is the cluster's id (CLUSTER_ID). Required.
	ClusterID string
	// Table is the DynamoDB table's ARN. Required.
	Table string
	// Topic is the SNS topic's ARN; empty: no Notify statement.
	Topic string
	// KubeconfigSecret is the kubeconfig secret's ARN (Lambda function);
	// empty: no ReadKubeconfig statement.
	KubeconfigSecret string
	// LaunchTemplate is the workers' launch template's ARN. Required.
	LaunchTemplate string
	// Subnets are the workers' subnets' ARNs. Required.
	Subnets []string
	// WorkerSecurityGroup and WorkerRole are the ARNs of the workers'
	// security group and IAM role. Required.
	WorkerSecurityGroup, WorkerRole string
	// InterruptionQueue is the daemon's SQS queue's ARN; empty: no
	// ReadInterruptionQueue statement.
	InterruptionQueue string
	// AMI is the launch template's image; a "resolve:ssm:" parameter adds
	// the statement that lets RunInstances read it.
	AMI string
}

// LambdaStatements is the autoscaler function's policy: what ec2fleet,
// state, notify, the CloudWatch publisher and the spot-interruption handler
// call, on this cluster's resources only.
//
// Unlike a single "Resource": "*" statement, instances (and the instant
// fleet requests that launch them) can be launched only from the worker
// template with this cluster's tag and the managed-by tag, and only
// instances that carry both can be terminated or tagged afterwards: the
// K3s server carries the cluster's tag but not managed-by, so the function
// can never terminate it.
func LambdaStatements(r Resources) []Statement {
	own := map[string]map[string]any{"StringEquals": {
		"ec2:ResourceTag/" + tagCluster:   r.ClusterID,
		"ec2:ResourceTag/" + tagManagedBy: managedByValue,
	}}
	launch := []string{"ec2:CreateFleet", "ec2:RunInstances"}
	sts := []Statement{
		// Describe calls cannot be limited to resources or tags.
		{Sid: "Describe", Action: []string{"ec2:DescribeInstances", "ec2:DescribeInstanceStatus", "ec2:DescribeSubnets", "ec2:DescribeInstanceTypes"}, Resource: []string{"*"}},
		// ec2fleet launches through CreateFleet (type instant), which
		// needs RunInstances on the same resources as well.
		{Sid: "LaunchFromTheWorkerTemplate", Action: launch,
			Resource: append([]string{r.LaunchTemplate, r.WorkerSecurityGroup, "arn:aws:ec2:*::image/*", "arn:aws:ec2:*:*:network-interface/*",
				"arn:aws:ec2:*:*:volume/*", "arn:aws:ec2:*:*:spot-instances-request/*"}, r.Subnets...)},
		// The instances and the instant fleet request carry both tags.
		{Sid: "LaunchOnlyTaggedInstances", Action: launch, Resource: []string{"arn:aws:ec2:*:*:instance/*", "arn:aws:ec2:*:*:fleet/*"},
			Condition: map[string]map[string]any{"StringEquals": {
				"aws:RequestTag/" + tagCluster:   r.ClusterID,
				"aws:RequestTag/" + tagManagedBy: managedByValue,
			}}},
		{Sid: "TagAtLaunch", Action: []string{"ec2:CreateTags"},
			Resource: []string{"arn:aws:ec2:*:*:instance/*", "arn:aws:ec2:*:*:volume/*", "arn:aws:ec2:*:*:network-interface/*",
				"arn:aws:ec2:*:*:spot-instances-request/*", "arn:aws:ec2:*:*:fleet/*"},
			Condition: map[string]map[string]any{"StringEquals": {"ec2:CreateAction": []string{"CreateFleet", "RunInstances"}}}},
		{Sid: "MarkOwnInstancesInterrupted", Action: []string{"ec2:CreateTags"}, Resource: []string{"arn:aws:ec2:*:*:instance/*"},
			Condition: map[string]map[string]any{
				"StringEquals":              own["StringEquals"],
				"ForAllValues:StringEquals": {"aws:TagKeys": []string{tagInterruption}},
			}},
		{Sid: "TerminateOwnInstances", Action: []string{"ec2:TerminateInstances"}, Resource: []string{"arn:aws:ec2:*:*:instance/*"}, Condition: own},
		{Sid: "PassTheWorkerRole", Action: []string{"iam:PassRole"}, Resource: []string{r.WorkerRole},
			Condition: map[string]map[string]any{"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}},
		// The first spot request of an account creates EC2 Spot's
		// service-linked role, with the caller's permissions.
		{Sid: "SpotServiceLinkedRole", Action: []string{"iam:CreateServiceLinkedRole"},
			Resource:  []string{"arn:aws:iam::*:role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot"},
			Condition: map[string]map[string]any{"StringEquals": {"iam:AWSServiceName": "spot.amazonaws.com"}}},
		{Sid: "LockAndState", Action: []string{"dynamodb:GetItem", "dynamodb:UpdateItem"}, Resource: []string{r.Table}},
		{Sid: "ReadKubeconfig", Action: []string{"secretsmanager:GetSecretValue"}, Resource: []string{r.KubeconfigSecret}},
		{Sid: "Notify", Action: []string{"sns:Publish"}, Resource: []string{r.Topic}},
		{Sid: "OwnMetrics", Action: []string{"cloudwatch:PutMetricData"}, Resource: []string{"*"},
			Condition: map[string]map[string]any{"StringEquals": {"cloudwatch:namespace": metricNamespace}}},
	}
	sts = slices.DeleteFunc(sts, func(st Statement) bool {
		return (st.Sid == "ReadKubeconfig" && r.KubeconfigSecret == "") || (st.Sid == "Notify" && r.Topic == "")
	})
	if strings.HasPrefix(r.AMI, "resolve:ssm:") {
		// A launch template whose image is an SSM parameter makes
		// RunInstances read it with the caller's permissions.
		param := strings.TrimPrefix(strings.TrimPrefix(r.AMI, "resolve:ssm:"), "/")
		sts = append(sts, Statement{Sid: "ResolveImageParameter", Action: []string{"ssm:GetParameters"},
			Resource: []string{"arn:aws:ssm:*::parameter/" + param}})
	}
	return sts
}

// DaemonStatements is the daemon's policy: the Lambda function's
// statements without CloudWatch metrics (the daemon serves Prometheus'
// /metrics), the kubeconfig secret (it uses its service account) and the
// interruption tag (nothing writes it), plus reading and deleting the
// messages of its interruption queue when it has one.
func DaemonStatements(r Resources) []Statement {
	sts := slices.DeleteFunc(LambdaStatements(r), func(st Statement) bool {
		return st.Sid == "OwnMetrics" || st.Sid == "ReadKubeconfig" || st.Sid == "MarkOwnInstancesInterrupted"
	})
	if r.InterruptionQueue != "" {
		sts = append(sts, Statement{Sid: "ReadInterruptionQueue",
			Action:   []string{"sqs:ReceiveMessage", "sqs:DeleteMessage"},
			Resource: []string{r.InterruptionQueue}})
	}
	return sts
}

// WorkerStatements is the workers' role policy: the join script reads the
// K3s token from its secret (tokenSecret, an ARN) and finds the K3s
// server among the instances.
func WorkerStatements(tokenSecret string) []Statement {
	return []Statement{
		{Sid: "ReadK3sToken", Action: []string{"secretsmanager:GetSecretValue"}, Resource: []string{tokenSecret}},
		// Describe calls cannot be limited to resources.
		{Sid: "FindServer", Action: []string{"ec2:DescribeInstances"}, Resource: []string{"*"}},
	}
}
