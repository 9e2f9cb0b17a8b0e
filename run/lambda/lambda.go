// Package lambda is node-fleet as an AWS Lambda function, as a package: the
// stock handler and its wiring, so that a user's own main of a few lines
// runs the function with its own policy (or any part replaced) without
// copying the program. examples/lambda is that main with the stock parts.
//
//	func main() { lambda.Main(config.Options{Policy: myPolicy}) }
//
// Main reads the configuration from the environment (config.Load with
// config.Lambda: the variables of the README's table), reads the cluster's
// kubeconfig from the KUBECONFIG_SECRET secret once, builds the parts once
// (config.Build) and serves invocations. A bad setting stops it at start
// with one message naming every variable at fault. Each invocation is one
// EventBridge event: a "Scheduled Event" runs one tick, with the
// invocation's deadline in its context; an "EC2 Spot Instance Interruption
// Warning" runs a tick that knows of the warning
// (autoscaler.HandleInterruption); anything else is refused.
//
// # Building a function of your own
//
// Build the main package for the provided.al2023 runtime as the stock one
// is built (scripts/lambda-build.sh; `make lambda PKG=./path/to/yours`
// does it for both architectures and zips the result):
//
//	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -tags lambda.norpc -trimpath -ldflags='-s -w' -o bootstrap ./yours
//
// The build tag lambda.norpc leaves out aws-lambda-go's RPC server for the
// retired go1.x runtime, and -ldflags='-s -w' drops the symbol and debug
// tables; together with -trimpath they make the binary about a quarter of
// a plain `go build` (docs/benchmarks.md measures it against the 25 MB
// budget that `make lambda-size` checks).
//
// It lives outside examples/ because a main package cannot be imported,
// and outside internal/ because users' programs need it (the run/
// directory holds what the example programs run).
package lambda

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	awslambda "github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"

	"github.com/node-fleet/node-fleet/config"
	"github.com/node-fleet/node-fleet/internal/awsutil"
	"github.com/node-fleet/node-fleet/notify"
)

// Main runs the function: it sets the handler up from the environment
// with opts (whose Policy or Customize replace the stock parts; AWS,
// Publisher, Owner and Logger are set here when left empty) and serves
// invocations until the runtime ends the process. A setup error is logged
// and exits with status 1, which Lambda reports as an init failure.
func Main(opts config.Options) {
	start := time.Now()
	logger := slog.New(lambdacontext.NewLogHandler())
	h, err := Setup(context.Background(), logger, os.Getenv, opts)
	if err != nil {
		// Lambda reports the init failure with this line in the log.
		logger.Error(err.Error())
		os.Exit(1)
	}
	logger.Info("initialised", "init_ms", float64(time.Since(start).Microseconds())/1000)
	awslambda.Start(h.Handle)
}

// Setup reads the configuration from getenv and builds the handler: the
// parts from config.Build with opts, the CloudWatch publisher, the lock
// owner of this execution environment.
func Setup(ctx context.Context, logger *slog.Logger, getenv func(string) string, opts config.Options) (*Handler, error) {
	cfg, err := config.Load(config.Lambda, getenv, nil, nil)
	if err != nil {
		return nil, err
	}
	if opts.AWS.Region == "" && opts.AWS.Credentials == nil {
		awsCfg, err := awsutil.Load(ctx, awsutil.Options{})
		if err != nil {
			return nil, err
		}
		opts.AWS = awsCfg
	}
	if opts.Logger == nil {
		opts.Logger = logger
	}
	if opts.Publisher == nil {
		pub, err := notify.NewCloudWatch(notify.CloudWatchConfig{
			// The query protocol works with AWS and with emulators alike.
			Client:    cloudwatch.NewFromConfig(opts.AWS, notify.UseQueryProtocol),
			ClusterID: cfg.ClusterID, Logger: logger.With("part", "cloudwatch"),
		})
		if err != nil {
			return nil, err
		}
		opts.Publisher = pub
	}
	// One owner per execution environment: concurrent invocations in
	// other environments are other replicas for the lock.
	if opts.Owner == "" && getenv("AWS_LAMBDA_LOG_STREAM_NAME") != "" {
		opts.Owner = cfg.ClusterID + "-lambda-" + getenv("AWS_LAMBDA_LOG_STREAM_NAME")
	}
	parts, err := config.Build(ctx, cfg, opts)
	if err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	return &Handler{Ticker: parts.Autoscaler, Fleet: parts.Fleet, Logger: logger}, nil
}
