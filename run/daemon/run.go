package daemon

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
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

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/config"
	"github.com/node-fleet/node-fleet/internal/awsutil"
	"github.com/node-fleet/node-fleet/interruption"
	"github.com/node-fleet/node-fleet/notify/scrape"
)

// Run runs the daemon on cfg (from config.Load with config.Daemon) until
// SIGTERM or SIGINT, or until ctx ends: it builds the parts with opts
// (config.Build), serves /metrics and /healthz on cfg.Listen, ticks as the
// package doc says, and reads the interruption queue when cfg names one.
// On the signal it waits for the tick in progress and the queue's reader,
// which release the lock, and returns nil. It returns an error when the
// parts cannot be built, the listener cannot be opened, or the HTTP server
// or the pod watch fail (then after the same orderly stop).
//
// opts.Publisher, when set, is called after the daemon's own Prometheus
// publisher (notify/scrape), which /metrics and /healthz read.
func Run(ctx context.Context, cfg config.Config, opts Options) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
		opts.Logger = log
	}
	reg, pub, err := registry()
	if err != nil {
		return err
	}
	if opts.AWS.Region == "" && opts.AWS.Credentials == nil {
		if opts.AWS, err = awsutil.Load(ctx, awsutil.Options{}); err != nil {
			return err
		}
	}
	if opts.Owner == "" {
		opts.Owner = defaultOwner(cfg.ClusterID)
	}
	opts.Publisher = publishers{pub, opts.Publisher}
	parts, err := config.Build(ctx, cfg, opts.Options)
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	defer parts.Prometheus.Close()
	pub.SetLimits(parts.Config.MinNodes, parts.Config.MaxNodes)

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("LISTEN_ADDR %s: %w", cfg.Listen, err)
	}
	srv := &http.Server{Handler: handler(reg, pub, cfg, time.Now()), ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("daemon started", "cluster", cfg.ClusterID, "owner", parts.Autoscaler.Owner(), "listen", ln.Addr().String(), "interval", cfg.Interval)

	failure := loop(ctx, stop, cfg, opts, parts, reg, serveErr)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	log.Info("daemon stopped", "lock", "released")
	return failure
}

// registry returns the daemon's own registry, with the Go runtime's and
// the process's collectors and the autoscaler's publisher on it.
func registry() (*prometheus.Registry, *scrape.Publisher, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, nil, err
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, nil, err
	}
	pub, err := scrape.New(reg)
	if err != nil {
		return nil, nil, err
	}
	return reg, pub, nil
}

// handler serves /metrics from reg and /healthz from pub's last tick.
func handler(reg *prometheus.Registry, pub *scrape.Publisher, cfg config.Config, started time.Time) http.Handler {
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
	return mux
}

// loop ticks, watches the pending pods and reads the interruption queue
// until ctx ends or the HTTP server or the watch fail; it returns once
// the tick in progress and the queue's reader have ended (and so
// released the lock), with the failure if there was one.
func loop(ctx context.Context, stop func(), cfg config.Config, opts Options, parts *config.Parts, reg prometheus.Registerer, serveErr <-chan error) error {
	log := opts.Logger
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
	queueDone, err := readQueue(ctx, cfg, opts, parts, reg, serial, ticks.Trigger)
	if err != nil {
		return err
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
	return failure
}

// readQueue starts the interruption queue's reader when cfg names a
// queue, its alerts sent through the autoscaler's Notifier (held back for
// its RealertInterval) and its metrics on reg; the channel it returns is
// closed once the reader has returned (at once without a queue).
func readQueue(ctx context.Context, cfg config.Config, opts Options, parts *config.Parts, reg prometheus.Registerer, serial *serialTicker, trigger func()) (<-chan struct{}, error) {
	done := make(chan struct{})
	if cfg.InterruptionQueueURL == "" {
		close(done)
		return done, nil
	}
	// The node of a fleet instance warned is evacuated at once, not
	// after the tick in progress (interruption.Config.Nodes); not by a
	// dry run.
	var nodes autoscaler.NodeManager
	if !parts.Config.DryRun {
		nodes = parts.Config.Nodes
	}
	queue, err := interruption.New(interruption.Config{
		Client: sqs.NewFromConfig(opts.AWS), QueueURL: cfg.InterruptionQueueURL,
		Handler: serial, Fleet: parts.Fleet, Logger: opts.Logger.With("part", "interruption-queue"),
		StateChange: func(string, string) { trigger() },
		Notifier:    parts.Config.Notifier, ClusterID: cfg.ClusterID, RealertInterval: parts.Config.RealertInterval, Registerer: reg, Nodes: nodes,
	})
	if err != nil {
		return nil, err
	}
	go func() {
		defer close(done)
		_ = queue.Run(ctx)
	}()
	return done, nil
}

// publishers publishes to each publisher that is not nil, in order, and
// returns their errors joined.
type publishers []autoscaler.Publisher

// Publish implements autoscaler.Publisher.
func (ps publishers) Publish(ctx context.Context, r autoscaler.Result) error {
	var errs []error
	for _, p := range ps {
		if p != nil {
			errs = append(errs, p.Publish(ctx, r))
		}
	}
	return errors.Join(errs...)
}

// defaultOwner names this replica for the lock: the host and the process,
// and a random part, since two containers of one pod (or on the host's
// network) share the hostname and both run as pid 1; with one name each
// would take the other's lease for its own.
func defaultOwner(clusterID string) string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = crand.Read(b[:]) // crypto/rand: never fails on a supported system
	return fmt.Sprintf("%s-daemon-%s-%d-%x", clusterID, host, os.Getpid(), b)
}
