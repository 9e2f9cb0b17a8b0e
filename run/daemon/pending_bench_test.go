package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/clock"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
	"github.com/node-fleet/node-fleet/decision"
)

// signallingFleet is a fake fleet whose Launch is reported on launched.
type signallingFleet struct {
	*fake.Fleet
	launched chan time.Time
}

func (f *signallingFleet) Launch(ctx context.Context, req autoscaler.LaunchRequest) ([]autoscaler.Instance, error) {
	select {
	case f.launched <- time.Now():
	default:
	}
	return f.Fleet.Launch(ctx, req)
}

// BenchmarkPendingToLaunch measures the daemon's own pending-to-launch
// time: from a pod created unschedulable in the API (client-go's fake
// clientset) through the daemon's watch (the informer and its handler),
// the batcher and one tick of the real autoscaler on the fakes, to the
// Launch call. Each iteration has a fleet of its own, empty, so that the
// pod's pending reading makes the default threshold policy scale up. With
// the daemon's default batching the time is the idle wait (1 s, the pods
// of one rollout in one tick) plus the rest; without batching, the rest
// alone.
//
//	go test ./run/daemon -run '^$' -bench PendingToLaunch -benchtime 20x
func BenchmarkPendingToLaunch(b *testing.B) {
	for _, bc := range []struct {
		name      string
		idle, max time.Duration
	}{
		{"default batching 1s idle", time.Second, 10 * time.Second},
		{"no batching", 0, 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			log := slog.New(slog.DiscardHandler)
			client := kubefake.NewSimpleClientset()
			var mu sync.Mutex
			var current *autoscaler.Autoscaler
			tick := func(ctx context.Context) {
				mu.Lock()
				a := current
				mu.Unlock()
				if a != nil {
					_, _ = a.RunOnce(ctx)
				}
			}
			bt := newBatcher(clock.RealClock{}, time.Hour, bc.idle, bc.max, nil, tick)
			go func() { _ = watchUnschedulable(ctx, client, bt.Trigger, log) }()
			go func() { _ = bt.Run(ctx) }()
			// The batcher's first tick (at once, before any autoscaler is
			// set) is over before the first pod.
			for !bt.idleNow() {
				time.Sleep(time.Millisecond)
			}

			var total time.Duration
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				metrics := &fake.Metrics{}
				fleet := &signallingFleet{Fleet: fake.NewFleet(clock.RealClock{}), launched: make(chan time.Time, 1)}
				store := fake.NewStore(clock.RealClock{})
				a, err := autoscaler.New(autoscaler.Config{ClusterID: "bench", Owner: "daemon", MinNodes: autoscaler.NoMinimum,
					Metrics: metrics, Policy: decision.Default(), Locker: store, State: store, Fleet: fleet, Nodes: fake.NewNodes(clock.RealClock{}, fleet.Fleet)})
				if err != nil {
					b.Fatal(err)
				}
				now := time.Now()
				metrics.Set(autoscaler.Snapshot{Time: now, CPU: autoscaler.Value(50, now), Memory: autoscaler.Value(50, now), PendingPods: autoscaler.Value(1, now)})
				mu.Lock()
				current = a
				mu.Unlock()
				pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: fmt.Sprintf("web-%d", i)},
					Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
						Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable}}}}
				b.StartTimer()
				start := time.Now()
				if _, err := client.CoreV1().Pods("shop").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
					b.Fatal(err)
				}
				select {
				case at := <-fleet.launched:
					total += at.Sub(start)
				case <-time.After(30 * time.Second):
					b.Fatal("no launch 30 s after the pod became unschedulable")
				}
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms-to-launch/op")
		})
	}
}
