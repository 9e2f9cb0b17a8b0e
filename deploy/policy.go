package main

import (
	"encoding/json"

	"github.com/node-fleet/node-fleet/provision"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// statement is one statement of an IAM policy document, and policy the
// document: provision's, the operator command's source of the same
// policies for a cluster made by hand.
type (
	statement = provision.Statement
	policy    = provision.Policy
)

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

// lambdaStatements is the autoscaler function's policy
// (provision.LambdaStatements) on this cluster's resources. v holds the
// ARNs of the table, the topic, the kubeconfig secret, the workers' launch
// template, the two private subnets, the workers' security group and the
// workers' role.
func lambdaStatements(s Settings, v []any) []statement {
	return provision.LambdaStatements(resources(s, v))
}

// resources are the ARNs of v (as lambdaStatements reads them) and, when
// v has a ninth, the interruption queue's.
func resources(s Settings, v []any) provision.Resources {
	r := provision.Resources{
		ClusterID: s.ClusterID, AMI: s.AMI,
		Table: v[0].(string), Topic: v[1].(string), KubeconfigSecret: v[2].(string), LaunchTemplate: v[3].(string),
		Subnets:             []string{v[4].(string), v[5].(string)},
		WorkerSecurityGroup: v[6].(string), WorkerRole: v[7].(string),
	}
	if len(v) > 8 {
		r.InterruptionQueue = v[8].(string)
	}
	return r
}
