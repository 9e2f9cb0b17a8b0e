package main

import (
	"encoding/json"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/secretsmanager"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// ssmManagedInstancePolicy is AWS's managed policy that lets the SSM agent
// (preinstalled on Amazon Linux 2023) register the instance with Systems
// Manager, so that its owner reaches it with `aws ssm start-session`
// instead of SSH: no key pair, no inbound port.
const ssmManagedInstancePolicy = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"

// ownerAccess keeps the admin kubeconfig for the stack's owner: no role of
// the stack is granted to read it, and its resource policy denies the
// reading to the function's, the workers' and the server's roles even if
// someone grants it to them later. Whoever may read any secret of the
// account (the owner who ran `pulumi up`) reads it.
func (st *Stack) ownerAccess(ctx *pulumi.Context, name namer) error {
	doc := pulumi.All(st.LambdaRole.Arn, st.workerRole.Arn, st.ServerRole.Arn).ApplyT(func(v []any) (string, error) {
		b, err := json.Marshal(map[string]any{
			"Version": "2012-10-17",
			"Statement": []any{map[string]any{
				"Sid": "OnlyTheOwnerReadsTheAdminKubeconfig", "Effect": "Deny", "Principal": "*",
				"Action": "secretsmanager:GetSecretValue", "Resource": "*",
				"Condition": map[string]any{"ArnEquals": map[string]any{"aws:PrincipalArn": v}},
			}},
		})
		return string(b), err
	}).(pulumi.StringOutput)
	_, err := secretsmanager.NewSecretPolicy(ctx, name("admin-kubeconfig"), &secretsmanager.SecretPolicyArgs{
		SecretArn: st.AdminKubeconfigSecret.Arn, Policy: doc,
	})
	return err
}

// export declares the stack's outputs (see Stack.Outputs).
func (st *Stack) export(ctx *pulumi.Context) {
	ids := func(subnets []*ec2.Subnet) pulumi.StringArray {
		var out pulumi.StringArray
		for _, s := range subnets {
			out = append(out, s.ID().ToStringOutput())
		}
		return out
	}
	for k, v := range map[string]pulumi.Input{
		"vpcId":                      st.Vpc.ID(),
		"publicSubnetIds":            ids(st.PublicSubnets),
		"privateSubnetIds":           ids(st.PrivateSubnets),
		"serverInstanceId":           st.Server.ID(),
		"serverPublicIp":             st.Server.PublicIp,
		"serverPrivateIp":            st.Server.PrivateIp,
		"serverUrl":                  pulumi.Sprintf("https://%s:%d", st.Server.PrivateIp, portK3sAPI),
		"prometheusUrl":              pulumi.Sprintf("http://%s:%d", st.Server.PrivateIp, portPrometheus),
		"workerLaunchTemplateId":     st.WorkerOnDemand.ID(),
		"workerSpotLaunchTemplateId": st.WorkerSpot.ID(),
		"workerSecurityGroupId":      st.WorkerSG.ID(),
		"tableName":                  st.Table.Name,
		"topicArn":                   st.Topic.Arn,
		"functionName":               st.Function.Name,
		"kubeconfigSecret":           st.KubeconfigSecret.Name,
		"adminKubeconfigSecret":      st.AdminKubeconfigSecret.Name,
		"interruptionQueueUrl":       st.InterruptionQueue.Url,
		"daemonPolicyArn":            st.DaemonPolicy.Arn,
	} {
		st.Outputs[k] = v
	}
	for k, v := range st.Outputs {
		ctx.Export(k, v)
	}
}
