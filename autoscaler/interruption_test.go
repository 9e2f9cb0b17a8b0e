package autoscaler_test

import (
	"context"
	"testing"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
)

// A spot replacement at MaxNodes never makes a later tick drain
// a healthy node: the interrupted instance is not capacity.
func TestReplacementAtMaxNodesDrainsNoHealthyNode(t *testing.T) {
	e := newEnv(t, 3, func(c *autoscaler.Config) {
		c.MaxNodes = 3
		c.Policy = policy(autoscaler.Hold, 0)
	})
	e.fleet.BootDelay = 90 * time.Second
	e.joinAll(t)
	victim := e.fleet.Instances()[0].ID
	res, err := e.as.HandleInterruption(context.Background(), victim, t0)
	if err != nil || len(res.Launched()) != 1 {
		t.Fatalf("interruption: %v, %v", res, err)
	}
	e.nodes.ResetCalls()
	for range 4 { // the replacement boots and joins; the victim lingers
		e.clk.Step(time.Minute)
		res := e.tick(t)
		if res.Outcome == autoscaler.OutcomeScaledDown || len(res.Launched()) > 0 {
			t.Fatalf("tick %v", res)
		}
	}
	for _, c := range e.nodes.CallsTo(fake.Drain) {
		if c.Args != fake.NodeName(victim) {
			t.Errorf("drained healthy node: %v", c)
		}
	}
}

// An interrupted spot instance is replaced even when the policy
// also asks for a scale-up inside the scale-up cooldown.
func TestInterruptionReplacedDuringScaleUpCooldown(t *testing.T) {
	e := newEnv(t, 3, func(c *autoscaler.Config) { c.ScaleUpCooldown = 10 * time.Minute })
	e.joinAll(t)
	st := e.store.State()
	st.LastScaleUp = t0.Add(-time.Minute)
	if err := e.store.SetState(st); err != nil {
		t.Fatal(err)
	}
	e.setMetrics(50, 60, 5) // the policy wants +2
	res, err := e.as.HandleInterruption(context.Background(), e.fleet.Instances()[0].ID, t0)
	if err != nil {
		t.Fatal(err)
	}
	if res.Replacements() != 1 || len(res.Launched()) != 1 || res.Hold() != autoscaler.HoldCooldown {
		t.Errorf("result %v (replacements %d, hold %q), want the replacement launched and the policy held by the cooldown", res, res.Replacements(), res.Hold())
	}
}

// A warning delivered twice (EventBridge delivers at least
// once) launches one replacement; and once the replacement is Ready
// before EC2 reclaims the instance, later ticks launch no other.
func TestRedeliveredInterruptionLaunchesOneReplacement(t *testing.T) {
	e := newEnv(t, 3, withPolicy(policy(autoscaler.Hold, 0)))
	e.fleet.BootDelay = 30 * time.Second
	e.joinAll(t)
	e.fleet.ResetCalls() // the seed's launch
	victim := e.fleet.Instances()[0].ID
	for range 2 {
		if _, err := e.as.HandleInterruption(context.Background(), victim, t0); err != nil {
			t.Fatal(err)
		}
	}
	e.clk.Step(time.Minute) // the replacement is Ready, the victim not reclaimed yet
	e.joinAll(t)
	for range 3 {
		e.tick(t)
		e.clk.Step(20 * time.Second)
	}
	if got := len(e.fleet.CallsTo(fake.Launch)); got != 1 {
		t.Errorf("%d launches, want 1", got)
	}
	// The victim is reclaimed: it leaves the state's interruptions.
	e.fleet.Reclaim(victim)
	e.tick(t)
	if st := e.store.State(); len(st.Interruptions) != 0 {
		t.Errorf("interruptions kept after the reclaim: %+v", st.Interruptions)
	}
	if got := len(e.fleet.CallsTo(fake.Launch)); got != 1 {
		t.Errorf("%d launches after the reclaim, want 1", got)
	}
}

// A warning for an instance that is not the fleet's changes nothing.
func TestInterruptionOfAnotherClustersInstanceIsIgnored(t *testing.T) {
	e := newEnv(t, 3, nil)
	e.joinAll(t)
	e.fleet.AddForeign(autoscaler.Instance{ID: "i-theirs", State: autoscaler.StateRunning, Market: autoscaler.MarketSpot, LaunchTime: t0.Add(-time.Hour)})
	res, err := e.as.HandleInterruption(context.Background(), "i-theirs", t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Launched()) != 0 || len(res.Interruptions) != 0 || len(e.nodes.CallsTo(fake.Cordon)) != 0 {
		t.Errorf("acted on another cluster's instance: %v", res)
	}
}
