package autoscaler_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/mock/gomock"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/mock"
)

// phase matches a Save whose state holds an operation in the given phase
// ("" for none).
type phase string

func (p phase) Matches(x any) bool {
	st, ok := x.(autoscaler.ClusterState)
	if !ok {
		return false
	}
	if p == "" {
		return st.Operation == nil
	}
	return st.Operation != nil && st.Operation.Phase == string(p)
}

func (p phase) String() string { return "a state whose operation phase is " + string(p) }

// The executor's order for a scale-down, exactly: the operation written
// ahead (draining), cordon, drain, the fenced write of the terminating
// phase, terminate, delete the Node, the final state without the
// operation, then the release.
func TestScaleDownCallOrder(t *testing.T) {
	ctrl := gomock.NewController(t)
	ctx := context.Background()
	clk := clocktesting.NewFakeClock(t0)
	metrics := mock.NewMockMetricSource(ctrl)
	locker := mock.NewMockLocker(ctrl)
	store := mock.NewMockStateStore(ctrl)
	fleet := mock.NewMockFleetProvider(ctrl)
	nodes := mock.NewMockNodeManager(ctrl)

	ins, nodeList := readyFleet(3)
	lease := autoscaler.Lease{Owner: "me", Token: 7, Expires: t0.Add(5 * time.Minute)}
	victim := nodeList[0].Name
	gomock.InOrder(
		locker.EXPECT().Acquire(gomock.Any(), "me", 5*time.Minute).Return(lease, nil),
		store.EXPECT().Load(gomock.Any()).Return(autoscaler.ClusterState{}, nil),
		metrics.EXPECT().Collect(gomock.Any()).Return(snapshot(10, 0), nil),
		fleet.EXPECT().List(gomock.Any()).Return(ins, nil),
		nodes.EXPECT().ListNodes(gomock.Any()).Return(nodeList, nil),
		nodes.EXPECT().PinnedData(gomock.Any()).Return(nil, nil),
		store.EXPECT().Save(gomock.Any(), lease, phase(autoscaler.PhaseDraining)).Return(nil),
		nodes.EXPECT().Cordon(gomock.Any(), victim).Return(nil),
		nodes.EXPECT().Drain(gomock.Any(), victim).Return(nil),
		store.EXPECT().Save(gomock.Any(), lease, phase(autoscaler.PhaseTerminating)).Return(nil),
		fleet.EXPECT().Terminate(gomock.Any(), []string{ins[0].ID}).Return(nil),
		nodes.EXPECT().DeleteNode(gomock.Any(), victim).Return(nil),
		store.EXPECT().Save(gomock.Any(), lease, phase("")).Return(nil),
		locker.EXPECT().Release(gomock.Any(), lease).Return(nil),
	)
	as, err := autoscaler.New(autoscaler.Config{ClusterID: "shop", Owner: "me", Clock: clk,
		Metrics: metrics, Policy: policy(autoscaler.ScaleDown, 1), Locker: locker, State: store, Fleet: fleet, Nodes: nodes})
	if err != nil {
		t.Fatal(err)
	}
	res, err := as.RunOnce(ctx)
	if err != nil || res.Outcome != autoscaler.OutcomeScaledDown {
		t.Fatalf("result %v, %v", res, err)
	}
}
