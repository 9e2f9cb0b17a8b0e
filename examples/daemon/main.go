// Command daemon is node-fleet as a long-running process, for running the
// autoscaler inside the cluster (a Deployment with the RBAC of
// deploy/server-init.sh) or beside it.
//
// It reads the same configuration as the Lambda function, from the
// environment and from flags (a flag wins; -h lists them), ticks every
// TICK_INTERVAL (plus up to a tenth at random, so that replicas drift
// apart), and after unschedulable pods (a client-go informer on pending
// pods) in batches: once no other pod has become unschedulable for
// BATCH_IDLE_DURATION (1s), or BATCH_MAX_DURATION (10s) after the first at
// the latest, so that new capacity is asked for seconds after it is
// needed, for a whole rollout at once. With INTERRUPTION_QUEUE_URL it
// long-polls the deploy's interruption queue and handles each spot
// warning for the fleet as the Lambda function does. Replicas share the DynamoDB lock, so that two
// of them never act at once. It serves /metrics (the autoscaler's own
// metrics, on a registry of its own, plus the Go runtime's) and /healthz,
// and on SIGTERM or SIGINT it ends the tick in progress, releases the lock
// and exits 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/node-fleet/node-fleet/config"
	"github.com/node-fleet/node-fleet/internal/awsutil"
	"github.com/node-fleet/node-fleet/interruption"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Getenv, os.Stderr))
}

// run is the daemon; it returns the exit status: 0 after a signal, 1 on a
// failure, 2 for a bad configuration.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	cfg, err := config.Load(config.Daemon, getenv, args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	if err := serve(ctx, cfg, log); err != nil {
		log.Error("daemon failed", "err", err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()

	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return err
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return err
	}
	pub, err := NewPromPublisher(reg)
	if err != nil {
		return err
	}
	awsCfg, err := awsutil.Load(ctx, awsutil.Options{})
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	parts, err := config.Build(ctx, cfg, config.Options{
		AWS: awsCfg, Publisher: pub, Logger: log, Owner: fmt.Sprintf("%s-daemon-%s-%d", cfg.ClusterID, host, os.Getpid()),
	})
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	defer parts.Prometheus.Close()
	pub.SetLimits(parts.Config.MinNodes, parts.Config.MaxNodes)

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("LISTEN_ADDR %s: %w", cfg.Listen, err)
	}
	started := time.Now()
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		// Healthy while ticks keep ending: the last one within three
		// intervals, a slow drain included (or the first is still due).
		limit := 3*cfg.Interval + cfg.LockTTL
		last := pub.LastTick()
		if last.IsZero() && time.Since(started) < limit || !last.IsZero() && time.Since(last) < limit {
			_, _ = fmt.Fprintln(w, "ok")
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = fmt.Fprintf(w, "no tick has ended for %s (last: %s)\n", limit, last.Format(time.RFC3339))
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("daemon started", "cluster", cfg.ClusterID, "owner", parts.Autoscaler.Owner(), "listen", ln.Addr().String(), "interval", cfg.Interval)

	// The batcher, not Autoscaler.Run, decides when to tick: periodically
	// with jitter, and after each batch of unschedulable pods.
	// One tick at a time in this process: the batcher's and the
	// interruption queue's share the lock's owner.
	serial := &serialTicker{a: parts.Autoscaler}
	ticks := newBatcher(clock.RealClock{}, cfg.Interval, cfg.BatchIdle, cfg.BatchMax,
		func(d time.Duration) time.Duration {
			if d <= 0 {
				return 0
			}
			return rand.N(d)
		},
		func(ctx context.Context) {
			res, err := serial.RunOnce(ctx)
			if err != nil {
				log.ErrorContext(ctx, "tick failed", "err", err, "result", res.String())
			}
		})
	// queueDone is closed once the interruption queue's reader has
	// returned (at once without a queue): a spot warning's tick in
	// progress at a signal ends, and releases the lock, before the
	// daemon says so.
	queueDone := make(chan struct{})
	if cfg.InterruptionQueueURL != "" {
		queue, err := interruption.New(interruption.Config{
			Client: sqs.NewFromConfig(awsCfg), QueueURL: cfg.InterruptionQueueURL,
			Handler: serial, Fleet: parts.Fleet, Logger: log.With("part", "interruption-queue"),
			StateChange: func(string, string) { ticks.Trigger() },
		})
		if err != nil {
			return err
		}
		go func() {
			defer close(queueDone)
			_ = queue.Run(ctx)
		}()
	} else {
		close(queueDone)
	}
	watchErr := make(chan error, 1)
	go func() {
		// The watch needs client-go's informers: a clientset of its own
		// on the parts' connection (the parts' client has no watch).
		cs, err := kubernetes.NewForConfig(parts.KubeConfig)
		if err != nil {
			watchErr <- fmt.Errorf("kubernetes client for the watch: %w", err)
			return
		}
		watchErr <- watchUnschedulable(ctx, cs, ticks.Trigger, log)
	}()

	runErr := make(chan error, 1)
	go func() { runErr <- ticks.Run(ctx) }()

	var failure error
	select {
	case <-ctx.Done():
		log.Info("signal received: ending the tick in progress and releasing the lock")
	case err := <-serveErr:
		failure = fmt.Errorf("http server: %w", err)
		stop()
	case err := <-watchErr:
		if err != nil {
			failure = fmt.Errorf("pod watch: %w", err)
		}
		stop()
	}
	// Run returns once the tick in progress has released the lock; so
	// does the queue's reader for a warning's tick.
	<-runErr
	<-queueDone
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	log.Info("daemon stopped", "lock", "released")
	return failure
}
