package provision_test

import (
	"fmt"
	"strings"

	"github.com/node-fleet/node-fleet/provision"
)

// The daemon's role policy for a cluster made by hand, and the user data
// of its workers' launch template.
func Example() {
	r := provision.Resources{
		ClusterID:           "prod",
		Table:               "arn:aws:dynamodb:eu-west-1:123456789012:table/node-fleet",
		LaunchTemplate:      "arn:aws:ec2:eu-west-1:123456789012:launch-template/lt-0123456789abcdef0",
		Subnets:             []string{"arn:aws:ec2:eu-west-1:123456789012:subnet/subnet-0a", "arn:aws:ec2:eu-west-1:123456789012:subnet/subnet-0b"},
		WorkerSecurityGroup: "arn:aws:ec2:eu-west-1:123456789012:security-group/sg-0a",
		WorkerRole:          "arn:aws:iam::123456789012:role/k3s-worker",
	}
	p := provision.NewPolicy(provision.DaemonStatements(r))
	fmt.Println(len(p.Statement), "statements, the first:", p.Statement[0].Sid)
	ud := provision.UserData(provision.WorkerJoinScript(), map[string]string{
		provision.VarClusterID: "prod", provision.VarTokenSecret: "k3s-token",
	})
	fmt.Println(strings.Join(strings.Split(ud, "\n")[:3], "\n"))
	// Output:
	// 8 statements, the first: Describe
	// #!/usr/bin/env bash
	// export NODEFLEET_CLUSTER_ID='prod'
	// export NODEFLEET_TOKEN_SECRET='k3s-token'
}
