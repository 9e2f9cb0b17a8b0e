package daemon_test

import (
	"context"
	"fmt"
	"os"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/config"
	"github.com/node-fleet/node-fleet/run/daemon"
)

// A daemon with a policy of its own is the stock daemon given the policy:
// its main is daemon.Main(opts). Command is the same with the arguments,
// environment and output passed in; here the configuration is incomplete,
// so it exits 2 with one line naming every setting at fault.
func ExampleCommand() {
	opts := daemon.Options{Options: config.Options{
		Policy: autoscaler.PolicyFunc(func(autoscaler.PolicyInput) autoscaler.Decision {
			return autoscaler.Decision{Action: autoscaler.Hold, Reason: "my own policy"}
		}),
	}}
	env := map[string]string{"CLUSTER_ID": "shop", "PROMETHEUS_URL": "http://prometheus:9090", "DYNAMODB_TABLE": "node-fleet"}
	code := daemon.Command(context.Background(), nil, func(k string) string { return env[k] }, os.Stdout, opts)
	fmt.Println("exit status", code)
	// Output:
	// configuration: SUBNET_IDS (-subnet-ids) is required: the workers' subnets, comma-separated subnet ids (one per availability zone); LAUNCH_TEMPLATE_ID or LAUNCH_TEMPLATE_NAME is required: the workers' EC2 launch template
	// exit status 2
}
