// Command deploy is the infrastructure of node-fleet's original design as a
// Pulumi program in Go: the VPC and its subnets, the K3s server, the
// workers' launch templates, the DynamoDB table, the autoscaler Lambda
// function with its schedule and spot-interruption rule, the SNS topic,
// the CloudWatch alarms and least-privilege IAM.
//
//	make lambda                      # builds dist/bootstrap-arm64.zip
//	cd deploy
//	pulumi stack init prod
//	pulumi config set aws:region eu-west-1
//	pulumi config set --secret k3sToken "$(openssl rand -hex 32)"
//	pulumi up
//
// Configuration keys (pulumi config set KEY VALUE), all optional but
// k3sToken: clusterId (node-fleet-prod), zones (two zones, comma-separated;
// default REGIONa,REGIONb), vpcCidr (10.0.0.0/16), adminCidrs (comma-separated
// CIDRs allowed to reach 6443 and 30090 besides the VPC; default none),
// serverInstanceType and workerInstanceType (t3.medium), workerInstanceTypes
// (comma-separated; instead of workerInstanceType: the types the autoscaler
// may launch, the launch template then pins none), ami (Amazon Linux
// 2023 from its public SSM parameter), minNodes (2), maxNodes (10),
// spotShare (0.7), lambdaZip (../dist/bootstrap-arm64.zip), lambdaArch
// (arm64), alarmEmail.
//
// It lives in its own Go module so that users of the library do not pull
// in Pulumi.
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

func main() {
	pulumi.Run(func(ctx *pulumi.Context) error {
		s, err := settingsFromConfig(ctx)
		if err != nil {
			return err
		}
		_, err = NewStack(ctx, s)
		return err
	})
}
