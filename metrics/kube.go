package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/utils/clock"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/capacity"
	"github.com/node-fleet/node-fleet/kube"
)

// DefaultKubeTimeout bounds one count of KubePending.
const DefaultKubeTimeout = 10 * time.Second

// KubePendingConfig configures a KubePending source.
type KubePendingConfig struct {
	// Client talks to the cluster's API server: kube.NewForConfig on a
	// connection, or kube/clientset.New on a client-go clientset.
	// Required.
	Client kube.Interface
	// Namespace limits the count to one namespace; empty counts all.
	Namespace string
	// Timeout bounds one count (every page of the list). Default
	// DefaultKubeTimeout.
	Timeout time.Duration
	// PageSize is the number of pods asked for per list call. Default
	// DefaultPageSize.
	PageSize int64
	// Clock reads the time; defaults to the real clock.
	Clock clock.PassiveClock
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// KubePending counts the pods the scheduler could not place, through the
// Kubernetes API: pods in phase Pending whose PodScheduled condition is
// False with reason Unschedulable, and that are not being deleted. As a
// MetricSource it reports only PendingPods (every other metric is missing);
// combine it with another source through OverridePending. See the package
// documentation for when to prefer it to a Prometheus query.
type KubePending struct {
	cfg KubePendingConfig
}

// NewKubePending checks cfg and returns a KubePending source.
func NewKubePending(cfg KubePendingConfig) (*KubePending, error) {
	var errs []error
	// Messages start with the setting's name, capital letter included.
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	kubeSettings(cfg.Client, &cfg.Timeout, &cfg.PageSize, bad)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("metrics.KubePending config: %w", err)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &KubePending{cfg: cfg}, nil
}

// DefaultPageSize is the number of objects the Kubernetes sources ask for
// per list call.
const DefaultPageSize = 500

// kubeSettings checks the settings the Kubernetes sources share and fills
// in their defaults.
func kubeSettings(client kube.Interface, timeout *time.Duration, pageSize *int64, bad func(string, ...any)) {
	if client == nil {
		bad("Client is required")
	}
	if *timeout == 0 {
		*timeout = DefaultKubeTimeout
	} else if *timeout < 0 {
		bad("Timeout must be positive, got %s", *timeout)
	}
	if *pageSize == 0 {
		*pageSize = DefaultPageSize
	} else if *pageSize < 0 {
		bad("PageSize must be positive, got %d", *pageSize)
	}
}

// Unschedulable reports whether pod is waiting for capacity: phase
// Pending, PodScheduled False with reason Unschedulable, not being deleted.
func Unschedulable(pod *corev1.Pod) bool {
	if pod.Status.Phase != corev1.PodPending || pod.DeletionTimestamp != nil {
		return false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled {
			return c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable
		}
	}
	return false
}

// Count returns the number of unschedulable pods. It lists the pending
// pods page by page (the phase is filtered by the server) and checks each.
func (k *KubePending) Count(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, k.cfg.Timeout)
	defer cancel()
	opts := metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("status.phase", string(corev1.PodPending)).String(),
		Limit:         k.cfg.PageSize,
	}
	n := 0
	for {
		list, err := k.cfg.Client.ListPods(ctx, k.cfg.Namespace, opts)
		if err != nil {
			return 0, fmt.Errorf("list pending pods: %w", err)
		}
		for i := range list.Items {
			if Unschedulable(&list.Items[i]) {
				n++
			}
		}
		if list.Continue == "" {
			return n, nil
		}
		opts.Continue = list.Continue
	}
}

// Collect returns a snapshot with PendingPods counted through the API and
// every other metric missing. When the count fails, it returns the error
// (wrapping autoscaler.ErrNoData) and PendingPods missing.
func (k *KubePending) Collect(ctx context.Context) (autoscaler.Snapshot, error) {
	now := k.cfg.Clock.Now()
	other := autoscaler.Missing(fmt.Errorf("not measured by KubePending: %w", autoscaler.ErrNoData))
	snap := autoscaler.Snapshot{Time: now, CPU: other, Memory: other, APILatency: other}
	m := k.pending(ctx, now)
	snap.PendingPods = m
	if !m.OK {
		return snap, m.Err
	}
	return snap, nil
}

func (k *KubePending) pendingView(ctx context.Context, now time.Time) (autoscaler.Metric, *capacity.SchedulerView) {
	return k.pending(ctx, now), nil
}

func (k *KubePending) clockNow() time.Time { return k.cfg.Clock.Now() }

func (k *KubePending) pending(ctx context.Context, now time.Time) autoscaler.Metric {
	n, err := k.Count(ctx)
	if err != nil {
		k.cfg.Logger.DebugContext(ctx, "pending pods missing", "err", err)
		return autoscaler.Missing(fmt.Errorf("%s: %w: %w", autoscaler.MetricPendingPods, autoscaler.ErrNoData, err))
	}
	return autoscaler.Value(float64(n), now)
}

// OverridePending returns a MetricSource that collects from src and from
// pending concurrently and returns src's snapshot with PendingPods replaced
// by pending's count. When the API cannot be read, PendingPods is missing
// (src's own reading is not used: it counts something else). When src
// fails, its metrics are missing and the count still arrives, so that the
// autoscaler can scale up on pending pods while the metrics are down; the
// combined source returns an error only when both fail.
func OverridePending(src autoscaler.MetricSource, pending *KubePending) autoscaler.MetricSource {
	return &override{src: src, pending: pending}
}

// pendingSource is what an override takes PendingPods (and the
// scheduler's view, when it has one) from.
type pendingSource interface {
	pendingView(ctx context.Context, now time.Time) (autoscaler.Metric, *capacity.SchedulerView)
	clockNow() time.Time
}

type override struct {
	src     autoscaler.MetricSource
	pending pendingSource
}

func (o *override) Collect(ctx context.Context) (autoscaler.Snapshot, error) {
	var (
		wg   sync.WaitGroup
		snap autoscaler.Snapshot
		err  error
		m    autoscaler.Metric
		view *capacity.SchedulerView
	)
	now := o.pending.clockNow()
	wg.Add(1)
	go func() {
		defer wg.Done()
		snap, err = o.src.Collect(ctx)
	}()
	m, view = o.pending.pendingView(ctx, now)
	wg.Wait()
	if err != nil {
		miss := autoscaler.Missing(fmt.Errorf("metric source failed: %w: %w", autoscaler.ErrNoData, err))
		snap = autoscaler.Snapshot{Time: now, CPU: miss, Memory: miss, APILatency: miss}
	}
	snap.PendingPods, snap.Scheduler = m, view
	// The view's Demand also goes among the custom metrics, so that the
	// tick records it in the history for the forecasting policies.
	snap = snap.WithDemand()
	if err != nil && !m.OK {
		return snap, errors.Join(err, m.Err)
	}
	return snap, nil
}
