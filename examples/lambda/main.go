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
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"

	"github.com/node-fleet/node-fleet/config"
	"github.com/node-fleet/node-fleet/internal/awsutil"
	"github.com/node-fleet/node-fleet/notify"
)

func main() {
	start := time.Now()
	logger := slog.New(lambdacontext.NewLogHandler())
	h, err := setup(context.Background(), logger, os.Getenv)
	if err != nil {
		// Lambda reports the init failure with this line in the log.
		logger.Error(err.Error())
		os.Exit(1)
	}
	logger.Info("initialised", "init_ms", float64(time.Since(start).Microseconds())/1000)
	lambda.Start(h.Handle)
}

// setup reads the configuration and builds the handler.
func setup(ctx context.Context, logger *slog.Logger, getenv func(string) string) (*Handler, error) {
	cfg, err := config.Load(config.Lambda, getenv, nil, nil)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsutil.Load(ctx, awsutil.Options{})
	if err != nil {
		return nil, err
	}
	pub, err := notify.NewCloudWatch(notify.CloudWatchConfig{
		// The query protocol works with AWS and with emulators alike.
		Client:    cloudwatch.NewFromConfig(awsCfg, notify.UseQueryProtocol),
		ClusterID: cfg.ClusterID, Logger: logger.With("part", "cloudwatch"),
	})
	if err != nil {
		return nil, err
	}
	// One owner per execution environment: concurrent invocations in
	// other environments are other replicas for the lock.
	owner := cfg.ClusterID + "-lambda-" + getenv("AWS_LAMBDA_LOG_STREAM_NAME")
	if getenv("AWS_LAMBDA_LOG_STREAM_NAME") == "" {
		owner = ""
	}
	parts, err := config.Build(ctx, cfg, config.Options{AWS: awsCfg, Publisher: pub, Owner: owner, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	return &Handler{Ticker: parts.Autoscaler, Logger: logger}, nil
}
