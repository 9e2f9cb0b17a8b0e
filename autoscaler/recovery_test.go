package autoscaler_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
)

// An operation that fails for good (a deleted launch template)
// does not wedge later ticks: repair and decide still run, and it is
// dropped after MaxRecoveryAttempts with an alert.
func TestPermanentRecoveryErrorDoesNotWedgeLaterTicks(t *testing.T) {
	e := newEnv(t, 3, nil)
	e.joinAll(t)
	if err := e.store.SetState(autoscaler.ClusterState{Operation: &autoscaler.Operation{ID: "op-dead", Kind: autoscaler.OpLaunch, Count: 2, Started: t0.Add(-5 * time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	ghost := autoscaler.Instance{ID: "i-ghost", State: autoscaler.StateRunning, LaunchTime: t0.Add(-time.Hour)}
	e.fleet.Add(ghost)
	e.nodes.NeverJoin("i-ghost")
	for range 3 {
		e.fleet.FailNext(fake.Launch, errors.New("InvalidLaunchTemplateId.NotFound: the template was deleted"))
	}
	var results []autoscaler.Result
	for range 4 {
		res, _ := e.as.RunOnce(context.Background())
		results = append(results, res)
		e.clk.Step(2 * time.Minute)
	}
	if len(results[0].Ghosts()) != 1 {
		t.Errorf("first tick did not repair: %v", results[0])
	}
	if st := e.store.State(); st.Operation != nil {
		t.Errorf("operation still recorded after %d ticks: %+v", len(results), st.Operation)
	}
	if e.kinds()[autoscaler.EventFailure] == 0 {
		t.Errorf("no alert for the dropped operation: %v", e.notifier.Kinds())
	}
	if len(e.store.State().History) != 4 {
		t.Errorf("history %d records, want every tick recorded", len(e.store.State().History))
	}
}
