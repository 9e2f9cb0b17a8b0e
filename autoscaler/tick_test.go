package autoscaler_test

import (
	"context"
	"testing"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
)

// deadlineFleet records the deadline of the context List is called with.
type deadlineFleet struct {
	autoscaler.FleetProvider
	deadline time.Time
}

func (d *deadlineFleet) List(ctx context.Context) ([]autoscaler.Instance, error) {
	d.deadline, _ = ctx.Deadline()
	return d.FleetProvider.List(ctx)
}

// A tick never outlives its lease, whatever deadline its caller
// gives it (a Lambda timeout longer than LOCK_TTL).
func TestTickEndsBeforeItsLease(t *testing.T) {
	df := &deadlineFleet{}
	e := newEnv(t, 2, func(c *autoscaler.Config) {
		df.FleetProvider = c.Fleet
		c.Fleet = df
		c.LockTTL = time.Minute
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	before := time.Now()
	if _, err := e.as.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if df.deadline.IsZero() || df.deadline.After(before.Add(time.Minute)) {
		t.Errorf("tick deadline %s, want within the 1-minute lease from %s", df.deadline, before)
	}
}

// laggingFleet hides instances launched less than lag ago from List, as
// EC2's eventually consistent DescribeInstances can.
type laggingFleet struct {
	*fake.Fleet
	clk interface{ Now() time.Time }
	lag time.Duration
}

func (l laggingFleet) List(ctx context.Context) ([]autoscaler.Instance, error) {
	all, err := l.Fleet.List(ctx)
	var out []autoscaler.Instance
	for _, in := range all {
		if l.clk.Now().Sub(in.LaunchTime) >= l.lag {
			out = append(out, in)
		}
	}
	return out, err
}

// A List that does not show a just-launched instance yet does not make
// the next tick launch it again (found by the chaos run).
func TestListLagDoesNotLaunchTwice(t *testing.T) {
	var lf laggingFleet
	e := newEnv(t, 3, func(c *autoscaler.Config) {
		lf = laggingFleet{Fleet: c.Fleet.(*fake.Fleet), clk: c.Clock, lag: 90 * time.Second}
		c.Fleet = lf
	})
	e.fleet.BootDelay = 3 * time.Minute
	e.joinAll(t)
	e.fleet.ResetCalls()
	e.setMetrics(50, 60, 4)
	if res := e.tick(t); len(res.Launched()) != 2 {
		t.Fatalf("first tick: %v", res)
	}
	e.clk.Step(30 * time.Second) // the two are not listed yet
	e.setMetrics(50, 60, 4)
	res := e.tick(t)
	if len(res.Launched()) != 0 || res.Booting != 2 {
		t.Errorf("second tick %v (booting %d), want the unlisted launches counted as booting", res, res.Booting)
	}
	if got := len(e.fleet.CallsTo(fake.Launch)); got != 1 {
		t.Errorf("%d launches, want 1", got)
	}
	e.clk.Step(2 * time.Minute) // listed now: dropped from the state's list
	e.tick(t)
	if st := e.store.State(); len(st.Launched) != 0 {
		t.Errorf("recent launches kept once listed: %+v", st.Launched)
	}
}
