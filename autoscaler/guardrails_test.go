package autoscaler_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/node-fleet/node-fleet/autoscaler"
)

// The order of the guardrails is written once; this is it.
func TestGuardrailOrder(t *testing.T) {
	want := []string{"repair", "in-flight", "floor", "ceiling", "safety", "pending-pods", "no-progress", "cooldown", "at-min", "paused", "operation", "deadline"}
	if d := cmp.Diff(want, autoscaler.Guardrails()); d != "" {
		t.Errorf("guardrails (-want +got):\n%s", d)
	}
}

// verdictTrail lists a plan's verdicts as "guardrail/code".
func verdictTrail(p autoscaler.Plan) []string {
	var out []string
	for _, v := range p.Verdicts {
		out = append(out, v.Guardrail+"/"+string(v.Code))
	}
	return out
}

// Repair and replacements pass through the same guardrails as the
// policy's decision, in the one order: each verdict names its rail.
func TestRepairAndReplacementsPassThroughTheGuardrailsInOrder(t *testing.T) {
	ghost := autoscaler.Instance{ID: "i-ghost", State: autoscaler.StateRunning, LaunchTime: t0.Add(-time.Hour)}
	interrupt := []autoscaler.Interruption{{InstanceID: "i-00", Notice: t0}}
	tests := []struct {
		name      string
		ready     int
		policy    autoscaler.Policy
		setup     func(*autoscaler.Observation, *autoscaler.Config)
		wantTrail []string
		wantSteps []string
	}{
		{
			name:  "paused holds the repair, the replacement and the decision, after the in-flight count",
			ready: 3, policy: policy(autoscaler.ScaleUp, 2),
			setup: func(o *autoscaler.Observation, c *autoscaler.Config) {
				o.State.Paused = &autoscaler.Pause{By: "ops", At: t0, Reason: "upgrade"}
				o.Instances = append(o.Instances, ghost)
				o.Interruptions = interrupt
			},
			wantTrail: []string{"in-flight/interruption", "paused/paused", "paused/paused", "paused/paused"},
			wantSteps: []string{"cordon-interrupted i-000", "drain-interrupted i-000"},
		},
		{
			name:  "safety mode holds the repair at the repair rail, the scale-down at the safety rail",
			ready: 3, policy: policy(autoscaler.ScaleDown, 1),
			setup: func(o *autoscaler.Observation, c *autoscaler.Config) {
				o.Snapshot.Memory = autoscaler.Missing(autoscaler.ErrNoData)
				o.Instances = append(o.Instances, ghost)
			},
			wantTrail: []string{"repair/safety", "safety/safety"},
		},
		{
			name:  "an operation in flight holds the replacement and the decision, not the repair",
			ready: 3, policy: policy(autoscaler.ScaleUp, 2),
			setup: func(o *autoscaler.Observation, c *autoscaler.Config) {
				o.State.Operation = &autoscaler.Operation{ID: "op-1", Kind: autoscaler.OpScaleDown, NodeName: "node-i-01", InstanceID: "i-01", Phase: autoscaler.PhaseTerminating, Started: t0}
				o.Instances = append(o.Instances, ghost)
				o.Interruptions = interrupt
			},
			wantTrail: []string{"in-flight/interruption", "operation/operation", "operation/operation"},
			wantSteps: []string{"recover-terminate i-010", "terminate-ghost i-ghost0", "cordon-interrupted i-000", "drain-interrupted i-000"},
		},
		{
			name:  "near the deadline the repair, the replacement and the decision all wait",
			ready: 3, policy: policy(autoscaler.Hold, 0),
			setup: func(o *autoscaler.Observation, c *autoscaler.Config) {
				o.DeadlineNear = true
				o.Instances = append(o.Instances, ghost)
				o.Interruptions = interrupt
			},
			wantTrail: []string{"deadline/deadline", "deadline/deadline"},
		},
		{
			name:  "the ceiling fits replacements in the room the repair makes",
			ready: 3, policy: policy(autoscaler.Hold, 0),
			setup: func(o *autoscaler.Observation, c *autoscaler.Config) {
				c.MaxNodes = 3
				o.Instances = append(o.Instances, ghost)
				o.Interruptions = []autoscaler.Interruption{{InstanceID: "i-00", Notice: t0}, {InstanceID: "i-01", Notice: t0}}
			},
			wantSteps: []string{"terminate-ghost i-ghost0", "launch 2", "cordon-interrupted i-000", "drain-interrupted i-000", "cordon-interrupted i-010", "drain-interrupted i-010"},
		},
		{
			name:  "the ceiling cuts replacements to the room left",
			ready: 3, policy: policy(autoscaler.Hold, 0),
			setup: func(o *autoscaler.Observation, c *autoscaler.Config) {
				c.MaxNodes = 3
				o.Instances = append(o.Instances, autoscaler.Instance{ID: "i-new", State: autoscaler.StatePending, LaunchTime: t0})
				o.Interruptions = []autoscaler.Interruption{{InstanceID: "i-00", Notice: t0}, {InstanceID: "i-01", Notice: t0}}
			},
			wantTrail: []string{"ceiling/at-max"},
			wantSteps: []string{"launch 1", "cordon-interrupted i-000", "drain-interrupted i-000", "cordon-interrupted i-010", "drain-interrupted i-010"},
		},
		{
			name:  "repair keeps a NotReady instance that MinNodes needs",
			ready: 2, policy: policy(autoscaler.Hold, 0),
			setup: func(o *autoscaler.Observation, c *autoscaler.Config) {
				o.Nodes[0].Ready, o.Nodes[0].ReadyTransition = false, t0.Add(-30*time.Minute)
			},
			wantTrail: []string{"repair/at-min", "floor/floor"},
			wantSteps: []string{"launch 1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := autoscaler.Config{Policy: tt.policy}
			ins, nodes := readyFleet(tt.ready)
			obs := autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snapshot(50, 0)}
			tt.setup(&obs, &cfg)
			p := planOf(t, cfg, obs)
			if d := cmp.Diff(tt.wantTrail, verdictTrail(p)); d != "" {
				t.Errorf("verdicts (-want +got):\n%s\n%v", d, p.Verdicts)
			}
			if d := cmp.Diff(tt.wantSteps, stepKinds(p)); d != "" {
				t.Errorf("steps (-want +got):\n%s", d)
			}
		})
	}
}

// The floor and the ceiling force a decision by its level; a policy
// cannot: a policy's decision claiming the floor's level still waits for
// the cooldown, and its launch is the policy's, whatever its reason says.
func TestOnlyTheGuardrailsForceADecision(t *testing.T) {
	ins, nodes := readyFleet(3)
	claim := autoscaler.PolicyFunc(func(autoscaler.PolicyInput) autoscaler.Decision {
		return autoscaler.Decision{Action: autoscaler.ScaleUp, Count: 1, Level: autoscaler.LevelFloor, Reason: "below MinNodes, says the policy"}
	})
	st := autoscaler.ClusterState{LastScaleUp: t0.Add(-time.Minute)}
	p := planOf(t, autoscaler.Config{Policy: claim, ScaleUpCooldown: 10 * time.Minute},
		autoscaler.Observation{Now: t0, State: st, Instances: ins, Nodes: nodes, Snapshot: snapshot(50, 0)})
	if p.Hold() != autoscaler.HoldCooldown {
		t.Errorf("hold %q, want the cooldown (verdicts %v)", p.Hold(), p.Verdicts)
	}
	p = planOf(t, autoscaler.Config{Policy: claim},
		autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snapshot(50, 0)})
	if len(p.Steps) != 1 || p.Steps[0].Reason.Code != autoscaler.ReasonPolicy {
		t.Errorf("steps %+v, want one launch for the policy", p.Steps)
	}
	// Below the floor the guardrail's own launch is the floor's.
	ins, nodes = readyFleet(1)
	p = planOf(t, autoscaler.Config{Policy: policy(autoscaler.Hold, 0)},
		autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snapshot(50, 0)})
	if len(p.Steps) != 1 || p.Steps[0].Reason.Code != autoscaler.ReasonFloor || p.Decision.Level != autoscaler.LevelFloor {
		t.Errorf("steps %+v decision %v, want the floor's launch", p.Steps, p.Decision)
	}
}

// Every alert a plan raises from its guardrails is one of its verdicts.
func TestPlanAlertsComeFromItsVerdicts(t *testing.T) {
	ins, nodes := readyFleet(6)
	for i := range nodes {
		nodes[i].Ready, nodes[i].ReadyTransition = false, t0.Add(-30*time.Minute)
	}
	p := planOf(t, autoscaler.Config{Policy: policy(autoscaler.Hold, 0)},
		autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snapshot(50, 0)})
	var fromVerdicts []autoscaler.Event
	for _, v := range p.Verdicts {
		if v.Alert != "" {
			fromVerdicts = append(fromVerdicts, autoscaler.Event{Kind: v.Alert, Message: v.Message})
		}
	}
	if len(fromVerdicts) == 0 {
		t.Fatalf("no verdict raises an alert: %v", p.Verdicts)
	}
	if d := cmp.Diff(fromVerdicts, p.Alerts); d != "" {
		t.Errorf("alerts (-verdicts +plan):\n%s", d)
	}
}

// Invalid limits reach the planner only by hand; it then holds
// everything and says why, instead of counting with them.
func TestPlannerHoldsEverythingOnInvalidLimits(t *testing.T) {
	ins, nodes := readyFleet(2)
	lim, err := autoscaler.Config{}.Limits()
	if err != nil {
		t.Fatal(err)
	}
	lim.MinNodes = -1
	p := autoscaler.PlanTick(policy(autoscaler.ScaleDown, 5), lim, autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snapshot(10, 0)})
	if len(p.Steps) != 0 || p.Decision.Action != autoscaler.Hold || !strings.Contains(p.Blind, "MinNodes must not be negative") {
		t.Errorf("plan with MinNodes -1: steps %v decision %v blind %q", stepKinds(p), p.Decision, p.Blind)
	}
}

// NoMinimum is a Config stand-in: the planner gets MinNodes 0 and cuts a
// scale-down at 0 nodes, never at -1.
func TestNoMinimumReachesThePlannerAsZero(t *testing.T) {
	cfg := autoscaler.DefaultConfig()
	cfg.MinNodes, cfg.ScaleDownCooldown = autoscaler.NoMinimum, autoscaler.NoCooldown
	lim, err := cfg.Limits()
	if err != nil || lim.MinNodes != 0 || lim.ScaleDownCooldown != 0 {
		t.Fatalf("limits %+v, %v", lim, err)
	}
	ins, nodes := readyFleet(2)
	p := autoscaler.PlanTick(policy(autoscaler.ScaleDown, 5), lim, autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snapshot(10, 0)})
	var msgs []string
	for _, v := range p.Verdicts {
		msgs = append(msgs, v.Message)
	}
	if !slicesContain(msgs, "cut from -5 to -2 by MinNodes 0") {
		t.Errorf("verdicts %q, want the cut to 0 nodes", msgs)
	}
	if got := len(p.Steps); got != 2 {
		t.Errorf("%d steps %v, want both nodes removed", got, stepKinds(p))
	}
}

// Limits names every field out of range, and a Config's defaults are
// applied once: a zero field is its default, a stand-in its zero.
func TestLimitsFromConfig(t *testing.T) {
	lim, err := autoscaler.Config{}.Limits()
	if err != nil || lim.MinNodes != 2 || lim.MaxNodes != 10 || lim.ScaleDownCooldown != 10*time.Minute || lim.MaxRepairsPerTick != 2 {
		t.Errorf("zero config: %+v, %v", lim, err)
	}
	_, err = autoscaler.Config{MinNodes: 5, MaxNodes: 3, MaxRepairsPerTick: -1}.Limits()
	for _, want := range []string{"MinNodes (5) must not exceed MaxNodes (3)", "MaxRepairsPerTick must not be negative"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want it to say %q", err, want)
		}
	}
	if err := (autoscaler.Limits{MaxNodes: 3, MassNotReadyShare: 0.5, JoinTimeout: time.Minute, NotReadyTimeout: time.Minute}).Validate(); err != nil {
		t.Errorf("zero means zero: %v", err)
	}
}

// Limits with a zero join or NotReady timeout are refused: the planner
// would terminate an instance still booting as a ghost, or a node at its
// first missed heartbeat, and holds everything instead.
func TestLimitsRefuseZeroRepairTimeouts(t *testing.T) {
	lim := autoscaler.Limits{MaxNodes: 3, MaxRepairsPerTick: 2, MassNotReadyShare: 0.5, JoinTimeout: 0, NotReadyTimeout: 0}
	for _, want := range []string{"JoinTimeout must be positive", "NotReadyTimeout must be positive"} {
		if err := lim.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want it to say %q", err, want)
		}
	}
	ins, nodes := readyFleet(2)
	ins = append(ins, autoscaler.Instance{ID: "i-new", State: autoscaler.StatePending, LaunchTime: t0.Add(-time.Second)})
	p := autoscaler.PlanTick(policy(autoscaler.Hold, 0), lim, autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snapshot(50, 0)})
	if got := stepKinds(p); len(got) != 0 {
		t.Errorf("steps %v, want nothing (a booting instance is not a ghost)", got)
	}
}

func slicesContain(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// A scale-down's result names every node it removed.
func TestScaleDownResultNamesEveryNodeRemoved(t *testing.T) {
	e := newEnv(t, 5, func(c *autoscaler.Config) { c.Policy = policy(autoscaler.Hold, 0); c.MaxNodes = 2 })
	e.joinAll(t)
	res := e.tick(t)
	if res.Outcome != autoscaler.OutcomeScaledDown || len(res.Removed()) != 3 {
		t.Fatalf("result %v, want three nodes removed", res)
	}
	for _, name := range res.Removed() {
		if !strings.Contains(res.Reason, name) || !strings.Contains(res.String(), name) {
			t.Errorf("node %s not named in %q", name, res.String())
		}
	}
	if got, want := fmt.Sprint(len(res.Terminated())), "3"; got != want {
		t.Errorf("terminated %v", res.Terminated())
	}
}

// Below MinNodes, a policy's scale-up larger than the floor's is not held
// whole by a rule the floor does not obey: the floor's share goes, forced.
func TestBelowTheFloorAPolicysLargerScaleUpStillLaunchesTheFloorsShare(t *testing.T) {
	tests := []struct {
		name      string
		ready     int
		state     autoscaler.ClusterState
		pending   float64
		wantSteps []string
		wantLevel autoscaler.Level
	}{
		{
			name: "scale-up cooldown", ready: 1,
			state:     autoscaler.ClusterState{LastScaleUp: t0.Add(-time.Minute)},
			wantSteps: []string{"launch 2"}, wantLevel: autoscaler.LevelFloor,
		},
		{
			name: "no progress on pending pods", ready: 1, pending: 4,
			state: autoscaler.ClusterState{History: []autoscaler.Record{
				{Time: t0.Add(-20 * time.Minute), Action: autoscaler.ScaleUp, Count: 1, PendingPods: 4},
				{Time: t0.Add(-10 * time.Minute), Action: autoscaler.Hold, PendingPods: 4},
			}},
			wantSteps: []string{"launch 2"}, wantLevel: autoscaler.LevelFloor,
		},
		{
			name: "at the floor the cooldown holds it all", ready: 3,
			state: autoscaler.ClusterState{LastScaleUp: t0.Add(-time.Minute)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ins, nodes := readyFleet(tt.ready)
			cfg := autoscaler.Config{Policy: policy(autoscaler.ScaleUp, 5), MinNodes: 3, ScaleUpCooldown: 10 * time.Minute}
			p := planOf(t, cfg, autoscaler.Observation{Now: t0, State: tt.state, Instances: ins, Nodes: nodes, Snapshot: snapshot(90, tt.pending)})
			if d := cmp.Diff(tt.wantSteps, stepKinds(p)); d != "" {
				t.Errorf("steps (-want +got):\n%s\nverdicts %v", d, p.Verdicts)
			}
			if tt.wantLevel != "" && p.Decision.Level != tt.wantLevel {
				t.Errorf("decision %v, want level %s", p.Decision, tt.wantLevel)
			}
		})
	}
}

// Replacements the ceiling does not let through are not counted as
// capacity by the rails before it: the floor still sees the fleet below
// MinNodes (and alerts that it cannot be met), and a scale-down does not
// wait for a replacement that is not launched.
func TestReplacementsTheCeilingCutsAreNotCountedBeforeIt(t *testing.T) {
	tests := []struct {
		name       string
		policy     autoscaler.Policy
		min, max   int
		wantSteps  []string
		wantAlerts []autoscaler.EventKind
	}{
		{
			name: "the floor is unmet and says so", policy: policy(autoscaler.Hold, 0), min: 5, max: 5,
			wantSteps:  []string{"cordon-interrupted i-000", "drain-interrupted i-000"},
			wantAlerts: []autoscaler.EventKind{autoscaler.EventRepairHeld, autoscaler.EventFloorUnmet},
		},
		{
			name: "a scale-down is not held for a replacement that is not launched", policy: policy(autoscaler.ScaleDown, 1), min: 1, max: 5,
			wantSteps:  []string{"cordon-interrupted i-000", "drain-interrupted i-000", "scale-down i-010"},
			wantAlerts: []autoscaler.EventKind{autoscaler.EventRepairHeld},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Six instances fill MaxNodes 5 without the interrupted one,
			// so it is not replaced: i-00 interrupted, i-01..i-03 and
			// i-05 Ready, i-04 NotReady and kept by repair for its
			// node-local data.
			ins, nodes := readyFleet(5)
			nodes[4].Ready, nodes[4].ReadyTransition, nodes[4].LocalData = false, t0.Add(-30*time.Minute), []string{"pv-data"}
			ins = append(ins, autoscaler.Instance{ID: "i-05", State: autoscaler.StateRunning, LaunchTime: t0.Add(-time.Hour)})
			nodes = append(nodes, autoscaler.Node{Name: "node-i-05", InstanceID: "i-05", Ready: true, Managed: true, ReadyTransition: t0.Add(-time.Hour)})
			cfg := autoscaler.Config{Policy: tt.policy, MinNodes: tt.min, MaxNodes: tt.max}
			p := planOf(t, cfg, autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snapshot(10, 0),
				Interruptions: []autoscaler.Interruption{{InstanceID: "i-00", Notice: t0}}})
			if d := cmp.Diff(tt.wantSteps, stepKinds(p)); d != "" {
				t.Errorf("steps (-want +got):\n%s\nverdicts %v", d, p.Verdicts)
			}
			var kinds []autoscaler.EventKind
			for _, a := range p.Alerts {
				kinds = append(kinds, a.Kind)
			}
			if d := cmp.Diff(tt.wantAlerts, kinds); d != "" {
				t.Errorf("alerts (-want +got):\n%s\n%v", d, p.Alerts)
			}
		})
	}
}
