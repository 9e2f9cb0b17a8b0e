package mock_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/mock/gomock"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/mock"
)

// printReporter is a gomock.TestReporter for examples, which have no
// *testing.T: a missing or unexpected call is printed, so that it shows
// in the output and fails the example.
type printReporter struct{}

func (printReporter) Errorf(format string, args ...any) { fmt.Printf("gomock: "+format+"\n", args...) }
func (printReporter) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("gomock: "+format, args...))
}

// A scale-up tick with every part mocked: the exact calls are the point.
// The launch's operation is written to the state before Launch is called
// (a tick that dies half-way leaves it for the next one to finish), the
// state without the operation is written after it, and the lock is
// released last. Any call not expected here fails the example.
func Example() {
	ctrl := gomock.NewController(printReporter{})
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	ctx := context.Background()

	metrics := mock.NewMockMetricSource(ctrl)
	policy := mock.NewMockPolicy(ctrl)
	locker := mock.NewMockLocker(ctrl)
	store := mock.NewMockStateStore(ctrl)
	fleet := mock.NewMockFleetProvider(ctrl)
	nodes := mock.NewMockNodeManager(ctrl)

	// Two workers, both Ready.
	var instances []autoscaler.Instance
	var ready []autoscaler.Node
	for i, id := range []string{"i-0aaa", "i-0bbb"} {
		instances = append(instances, autoscaler.Instance{ID: id, State: autoscaler.StateRunning,
			Market: autoscaler.MarketOnDemand, LaunchTime: now.Add(-time.Hour)})
		ready = append(ready, autoscaler.Node{Name: fmt.Sprintf("worker-%d", i), InstanceID: id, Ready: true,
			ReadyTransition: now.Add(-50 * time.Minute), Managed: true})
	}
	lease := autoscaler.Lease{Owner: "shop-example", Token: 7, Expires: now.Add(5 * time.Minute)}
	withOperation := gomock.Cond(func(st autoscaler.ClusterState) bool {
		return st.Operation != nil && st.Operation.Kind == autoscaler.OpLaunch && st.Operation.Count == 1
	})
	withoutOperation := gomock.Cond(func(st autoscaler.ClusterState) bool { return st.Operation == nil })

	acquire := locker.EXPECT().Acquire(gomock.Any(), "shop-example", 5*time.Minute).Return(lease, nil)
	load := store.EXPECT().Load(gomock.Any()).Return(autoscaler.ClusterState{}, nil).After(acquire.Call)
	// What the tick observes, in any order once the state is loaded.
	collect := metrics.EXPECT().Collect(gomock.Any()).Return(autoscaler.Snapshot{
		Time: now, CPU: autoscaler.Value(91, now), Memory: autoscaler.Value(60, now),
		PendingPods: autoscaler.Value(3, now), APILatency: autoscaler.Value(0.2, now),
	}, nil).After(load)
	list := fleet.EXPECT().List(gomock.Any()).Return(instances, nil).After(load)
	listNodes := nodes.EXPECT().ListNodes(gomock.Any()).Return(ready, nil).After(load)
	pinned := nodes.EXPECT().PinnedData(gomock.Any()).Return(nil, nil).After(load)
	decide := policy.EXPECT().Decide(gomock.Any()).DoAndReturn(func(in autoscaler.PolicyInput) autoscaler.Decision {
		fmt.Println("policy sees", in.ReadyNodes, "ready nodes and", in.Snapshot.PendingPods.Value, "pending pods")
		return autoscaler.Decision{Action: autoscaler.ScaleUp, Count: 1, Reason: "3 pending pods", Level: autoscaler.LevelCritical}
	}).After(collect).After(list).After(listNodes).After(pinned)
	// Then strictly in this order.
	gomock.InOrder(
		decide,
		store.EXPECT().Save(gomock.Any(), lease, withOperation).Return(nil),
		fleet.EXPECT().Launch(gomock.Any(), autoscaler.LaunchRequest{OperationID: "shop-7-up", Count: 1}).
			Return([]autoscaler.Instance{{ID: "i-0ccc", State: autoscaler.StatePending, LaunchTime: now}}, nil),
		store.EXPECT().Save(gomock.Any(), lease, withoutOperation).Return(nil),
		locker.EXPECT().Release(gomock.Any(), lease).Return(nil),
	)

	cfg := autoscaler.DefaultConfig()
	cfg.ClusterID, cfg.Owner = "shop", "shop-example"
	cfg.Metrics, cfg.Policy, cfg.Locker, cfg.State, cfg.Fleet, cfg.Nodes = metrics, policy, locker, store, fleet, nodes
	cfg.Clock = clocktesting.NewFakeClock(now)
	as, err := autoscaler.New(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := as.RunOnce(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctrl.Finish() // reports any expected call that did not happen
	fmt.Println(res.Outcome, len(res.Launched()))
	// Output:
	// policy sees 2 ready nodes and 3 pending pods
	// scaled_up 1
}

// Another replica holds the lock: the tick is skipped, and the mocks prove
// that nothing else was touched (no state read, no fleet listed).
func Example_lockHeld() {
	ctrl := gomock.NewController(printReporter{})
	locker := mock.NewMockLocker(ctrl)
	locker.EXPECT().Acquire(gomock.Any(), gomock.Any(), gomock.Any()).
		Return(autoscaler.Lease{}, fmt.Errorf("cluster shop: %w", autoscaler.ErrLockHeld))

	cfg := autoscaler.DefaultConfig()
	cfg.ClusterID = "shop"
	cfg.Locker = locker
	cfg.Metrics = mock.NewMockMetricSource(ctrl)
	cfg.Policy = mock.NewMockPolicy(ctrl)
	cfg.State = mock.NewMockStateStore(ctrl)
	cfg.Fleet = mock.NewMockFleetProvider(ctrl)
	cfg.Nodes = mock.NewMockNodeManager(ctrl)
	as, err := autoscaler.New(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := as.RunOnce(context.Background())
	ctrl.Finish()
	fmt.Println(res.Outcome, errors.Is(err, autoscaler.ErrLockHeld), err == nil)
	// Output:
	// skipped false true
}
