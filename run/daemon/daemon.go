// Package daemon is node-fleet as a long-running process, as a package: the
// stock daemon and its wiring, so that a user's own main of a few lines
// runs the daemon with its own policy (or any part replaced) without
// copying the program. examples/daemon is that main with the stock parts:
//
//	func main() { daemon.Main(daemon.Options{Options: config.Options{Policy: myPolicy}}) }
//
// Main reads the same configuration as the Lambda function, from the
// environment and from flags (config.Load with config.Daemon: a flag wins;
// -h lists them; -version prints the version), ticks every TICK_INTERVAL
// (plus up to a tenth at random, so that replicas drift apart), and after
// unschedulable pods (a client-go informer on pending pods) in batches:
// once no other pod has become unschedulable for BATCH_IDLE_DURATION
// (1s), or BATCH_MAX_DURATION (10s) after the first at the latest, so
// that new capacity is asked for seconds after it is needed, for a whole
// rollout at once. With INTERRUPTION_QUEUE_URL it long-polls the deploy's
// interruption queue and handles each spot warning for the fleet as the
// Lambda function does, and, so that a warning is not kept waiting past
// its two minutes by a tick draining another node, cordons and drains the
// warned node at once, without the lock (interruption.Config.Nodes says
// when that is safe); a queue that cannot be read is alerted through
// the SNS topic (again every REALERT_INTERVAL while it stays so) and
// shown as node_fleet_interruption_queue_up 0 on /metrics. Replicas share the DynamoDB lock, so that two of
// them never act at once. It serves /metrics (the autoscaler's own
// metrics, notify/scrape, on a registry of its own, plus the Go runtime's)
// and /healthz, and on SIGTERM or SIGINT it ends the tick in progress
// (the interruption queue's too), releases the lock and exits 0.
//
// # Building a daemon of your own
//
// The daemon runs inside the cluster (deploy/helm/node-fleet, or
// deploy/daemon's manifests) or beside it. For a container image build a
// static binary, as deploy/image does for the stock one:
//
//	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -ldflags='-s -w -X main.version=v1.2.3' -o daemon ./yours
//
// CGO_ENABLED=0 makes the binary static (it then runs on an image with
// nothing else in it, no libc, no shell), -trimpath and -ldflags='-s -w'
// leave out the build machine's paths and the symbol and debug tables;
// the -X flag sets a main package variable that the program passes as
// Options.Version.
//
// It lives outside examples/ because a main package cannot be imported,
// and outside internal/ because users' programs need it (the run/
// directory holds what the example programs run).
package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"slices"

	"github.com/node-fleet/node-fleet/config"
)

// Options are the daemon's options: the parts' options of config.Build
// (Policy, Queries or Customize replace the stock parts; AWS, Owner and
// Logger are set by the daemon when left empty) and the program's version.
type Options struct {
	config.Options
	// Version is what -version prints after the program's name; empty:
	// the main module's version from the build information ("(devel)"
	// for a build from a work tree).
	Version string
}

// Main runs the daemon with the process's arguments and environment and
// exits with Command's status; it returns only through os.Exit.
func Main(opts Options) {
	os.Exit(Command(context.Background(), os.Args[1:], os.Getenv, os.Stderr, opts))
}

// Command is the daemon as a command: it reads the configuration from
// args and getenv, logs JSON to stderr, and runs until SIGTERM or SIGINT
// (or ctx ends). It returns the exit status: 0 after a signal, -h or
// -version, 1 on a failure, 2 for a bad configuration (one line on stderr
// naming every setting at fault).
func Command(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, opts Options) int {
	if slices.Contains(args, "-version") || slices.Contains(args, "--version") {
		fmt.Fprintf(stderr, "node-fleet daemon %s %s %s/%s\n", version(opts.Version), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return 0
	}
	cfg, err := config.Load(config.Daemon, getenv, args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	if opts.Logger == nil {
		opts.Logger = log
	}
	if err := Run(ctx, cfg, opts); err != nil {
		opts.Logger.Error("daemon failed", "err", err)
		return 1
	}
	return 0
}

// version is v, else the main module's version from the build
// information, else "(devel)".
func version(v string) string {
	if v != "" {
		return v
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
