package main

import (
	"encoding/json"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// statement is one statement of an IAM policy document.
type statement struct {
	Sid       string
	Effect    string
	Action    []string
	Resource  []string
	Condition map[string]map[string]any `json:",omitempty"`
}

// policy is an IAM policy document.
type policy struct {
	Version   string
	Statement []statement
}

// policyJSON renders the statements that build returns from the resolved
// values of inputs (ARNs known only after creation).
func policyJSON(inputs pulumi.ArrayOutput, build func([]any) []statement) pulumi.StringOutput {
	return inputs.ApplyT(func(v []any) (string, error) {
		sts := build(v)
		for i := range sts {
			if sts[i].Effect == "" {
				sts[i].Effect = "Allow"
			}
		}
		b, err := json.Marshal(policy{Version: "2012-10-17", Statement: sts})
		return string(b), err
	}).(pulumi.StringOutput)
}

// lambdaStatements is the autoscaler function's policy: what ec2fleet,
// state, notify, the CloudWatch publisher and the spot-interruption handler
// call, on this cluster's resources only. v holds the ARNs of the table,
// the topic, the kubeconfig secret, the workers' launch template, the two
// private subnets, the workers' security group and the workers' role.
//
// Unlike the original design's single "Resource": "*" statement, instances
// (and the instant fleet requests that launch them) can be launched only
// from the worker template with this cluster's tag and the managed-by tag, and
// only instances that carry both can be terminated or tagged afterwards:
// the K3s server carries the cluster's tag but not managed-by, so the
// function can never terminate it.
func lambdaStatements(s Settings, v []any) []statement {
	table, topic, kubeconfig, template := v[0].(string), v[1].(string), v[2].(string), v[3].(string)
	subnets := []string{v[4].(string), v[5].(string)}
	workerSG, workerRole := v[6].(string), v[7].(string)
	own := map[string]map[string]any{"StringEquals": {
		"ec2:ResourceTag/" + tagCluster:   s.ClusterID,
		"ec2:ResourceTag/" + tagManagedBy: managedByValue,
	}}
	launch := []string{"ec2:CreateFleet", "ec2:RunInstances"}
	sts := []statement{
		// Describe calls cannot be limited to resources or tags.
		{Sid: "Describe", Action: []string{"ec2:DescribeInstances", "ec2:DescribeInstanceStatus", "ec2:DescribeSubnets", "ec2:DescribeInstanceTypes"}, Resource: []string{"*"}},
		// ec2fleet launches through CreateFleet (type instant), which
		// needs RunInstances on the same resources as well.
		{Sid: "LaunchFromTheWorkerTemplate", Action: launch,
			Resource: append([]string{template, workerSG, "arn:aws:ec2:*::image/*", "arn:aws:ec2:*:*:network-interface/*",
				"arn:aws:ec2:*:*:volume/*", "arn:aws:ec2:*:*:spot-instances-request/*"}, subnets...)},
		// The instances and the instant fleet request carry both tags.
		{Sid: "LaunchOnlyTaggedInstances", Action: launch, Resource: []string{"arn:aws:ec2:*:*:instance/*", "arn:aws:ec2:*:*:fleet/*"},
			Condition: map[string]map[string]any{"StringEquals": {
				"aws:RequestTag/" + tagCluster:   s.ClusterID,
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
		{Sid: "PassTheWorkerRole", Action: []string{"iam:PassRole"}, Resource: []string{workerRole},
			Condition: map[string]map[string]any{"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}},
		// The first spot request of an account creates EC2 Spot's
		// service-linked role, with the caller's permissions.
		{Sid: "SpotServiceLinkedRole", Action: []string{"iam:CreateServiceLinkedRole"},
			Resource:  []string{"arn:aws:iam::*:role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot"},
			Condition: map[string]map[string]any{"StringEquals": {"iam:AWSServiceName": "spot.amazonaws.com"}}},
		{Sid: "LockAndState", Action: []string{"dynamodb:GetItem", "dynamodb:UpdateItem"}, Resource: []string{table}},
		{Sid: "ReadKubeconfig", Action: []string{"secretsmanager:GetSecretValue"}, Resource: []string{kubeconfig}},
		{Sid: "Notify", Action: []string{"sns:Publish"}, Resource: []string{topic}},
		{Sid: "OwnMetrics", Action: []string{"cloudwatch:PutMetricData"}, Resource: []string{"*"},
			Condition: map[string]map[string]any{"StringEquals": {"cloudwatch:namespace": metricNamespace}}},
	}
	if strings.HasPrefix(s.AMI, "resolve:ssm:") {
		// A launch template whose image is an SSM parameter makes
		// RunInstances read it with the caller's permissions.
		param := strings.TrimPrefix(strings.TrimPrefix(s.AMI, "resolve:ssm:"), "/")
		sts = append(sts, statement{Sid: "ResolveImageParameter", Action: []string{"ssm:GetParameters"},
			Resource: []string{"arn:aws:ssm:*::parameter/" + param}})
	}
	return sts
}
