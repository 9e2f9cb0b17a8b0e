// Command lambda is node-fleet as an AWS Lambda function (runtime
// provided.al2023, binary bootstrap, amd64 or arm64: make lambda builds
// both zips into dist/).
//
// At start it reads its configuration from the environment (the names are
// the original design's: PROMETHEUS_URL, DYNAMODB_TABLE, CLUSTER_ID,
// SNS_TOPIC_ARN, MIN_NODES, MAX_NODES, and the rest listed by
// config's Usage), reads the cluster's kubeconfig from the
// KUBECONFIG_SECRET secret once, and builds the parts once. A bad setting
// stops it at start with one message naming every variable at fault.
//
// Each invocation is one EventBridge event:
//
//   - "Scheduled Event" (every 2 minutes): one autoscaler tick, with the
//     invocation's deadline in its context, so that the tick starts no
//     action it cannot finish;
//   - "EC2 Spot Instance Interruption Warning": a tick that knows of the
//     warning (autoscaler.HandleInterruption: the same lock, journal and
//     planner as every tick): the warning is recorded in the state (a
//     redelivered warning changes nothing), the instance stops counting
//     as capacity, its replacement is launched and its node cordoned and
//     drained in what is left of the two minutes; a warning for an
//     instance that is not the fleet's is ignored;
//   - anything else is rejected with an error saying what is handled.
//
// Logs go through aws-lambda-go's slog handler (lambdacontext), which
// follows the function's log format (JSON or text) and level and adds the
// request id; the autoscaler's own metrics go to CloudWatch (namespace
// NodeFleet).
package main

import (
	"github.com/node-fleet/node-fleet/config"
	"github.com/node-fleet/node-fleet/run/lambda"
)

func main() {
	// The stock wiring; a program of its own passes its policy (or any
	// part) in the options: see examples/custompolicy.
	lambda.Main(config.Options{})
}
