package autoscaler_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/capacity"
)

// A fleet of n instances with Ready nodes, launched an hour before t0.
func readyFleet(n int) ([]autoscaler.Instance, []autoscaler.Node) {
	var ins []autoscaler.Instance
	var nodes []autoscaler.Node
	for i := range n {
		id := fmt.Sprintf("i-%02d", i)
		ins = append(ins, autoscaler.Instance{ID: id, State: autoscaler.StateRunning, Market: autoscaler.MarketSpot,
			LaunchTime: t0.Add(-time.Hour), PrivateIP: fmt.Sprintf("10.0.0.%d", i)})
		nodes = append(nodes, autoscaler.Node{Name: "node-" + id, InstanceID: id, Ready: true, Managed: true,
			ReadyTransition: t0.Add(-time.Hour), Created: t0.Add(-time.Hour)})
	}
	return ins, nodes
}

func snapshot(cpu, pending float64) autoscaler.Snapshot {
	return autoscaler.Snapshot{Time: t0, CPU: autoscaler.Value(cpu, t0), Memory: autoscaler.Value(50, t0), PendingPods: autoscaler.Value(pending, t0)}
}

// stepKinds lists the plan's steps as "kind id/count".
func stepKinds(p autoscaler.Plan) []string {
	var out []string
	for _, s := range p.Steps {
		out = append(out, fmt.Sprintf("%s %s%d", s.Kind, s.InstanceID, s.Count))
	}
	return out
}

// The precedence of the tick, on the planner alone: no fakes, no clock.
func TestPlannerPrecedence(t *testing.T) {
	type obsFn func(*autoscaler.Observation, *autoscaler.Config)
	tests := []struct {
		name      string
		ready     int
		policy    autoscaler.Policy
		setup     obsFn
		wantSteps []string
		wantHold  autoscaler.HoldCode
	}{
		{
			name:  "interruption and scale-up cooldown together: the replacement goes, the policy's scale-up waits",
			ready: 3, policy: policy(autoscaler.ScaleUp, 2),
			setup: func(o *autoscaler.Observation, c *autoscaler.Config) {
				c.ScaleUpCooldown = 10 * time.Minute
				o.State.LastScaleUp = t0.Add(-time.Minute)
				o.Interruptions = []autoscaler.Interruption{{InstanceID: "i-00", Notice: t0}}
			},
			wantSteps: []string{"launch 1", "cordon-interrupted i-000", "drain-interrupted i-000"},
			wantHold:  autoscaler.HoldCooldown,
		},
		{
			name:  "floor and ceiling together, below: MinNodes = MaxNodes = 3 with 2",
			ready: 2, policy: policy(autoscaler.ScaleDown, 1),
			setup:     func(o *autoscaler.Observation, c *autoscaler.Config) { c.MinNodes, c.MaxNodes = 3, 3 },
			wantSteps: []string{"launch 1"},
		},
		{
			name:  "floor and ceiling together, above: MinNodes = MaxNodes = 3 with 4",
			ready: 4, policy: policy(autoscaler.ScaleUp, 1),
			setup:     func(o *autoscaler.Observation, c *autoscaler.Config) { c.MinNodes, c.MaxNodes = 3, 3 },
			wantSteps: []string{"scale-down i-000"},
		},
		{
			name:  "the ceiling does not wait for the scale-down cooldown",
			ready: 5, policy: policy(autoscaler.Hold, 0),
			setup: func(o *autoscaler.Observation, c *autoscaler.Config) {
				c.MaxNodes = 4
				o.State.LastScaleUp = t0.Add(-time.Minute)
			},
			wantSteps: []string{"scale-down i-000"},
		},
		{
			name:  "safety and repair together: no ghost is terminated, no scale-down",
			ready: 3, policy: policy(autoscaler.ScaleDown, 1),
			setup: func(o *autoscaler.Observation, c *autoscaler.Config) {
				o.Snapshot.CPU = autoscaler.Missing(autoscaler.ErrNoData)
				o.Instances = append(o.Instances, autoscaler.Instance{ID: "i-ghost", State: autoscaler.StateRunning, LaunchTime: t0.Add(-time.Hour)})
			},
			wantHold: autoscaler.HoldSafety,
		},
		{
			name:  "safety mode still scales up to the floor",
			ready: 1, policy: policy(autoscaler.Hold, 0),
			setup: func(o *autoscaler.Observation, c *autoscaler.Config) {
				o.Snapshot.CPU = autoscaler.Missing(autoscaler.ErrNoData)
			},
			wantSteps: []string{"launch 1"},
		},
		{
			name:  "an earlier operation is finished first; the policy waits",
			ready: 3, policy: policy(autoscaler.ScaleUp, 2),
			setup: func(o *autoscaler.Observation, c *autoscaler.Config) {
				o.State.Operation = &autoscaler.Operation{ID: "op-1", Kind: autoscaler.OpLaunch, Count: 1, Started: t0.Add(-3 * time.Minute)}
			},
			wantSteps: []string{"recover-launch 1"},
			wantHold:  autoscaler.HoldOperation,
		},
		{
			name:  "near the deadline nothing starts, not even the floor",
			ready: 1, policy: policy(autoscaler.ScaleUp, 2),
			setup:    func(o *autoscaler.Observation, c *autoscaler.Config) { o.DeadlineNear = true },
			wantHold: autoscaler.HoldDeadline,
		},
		{
			name:  "paused: nothing new, not even the floor or a ghost's repair; the interrupted node is still drained",
			ready: 1, policy: policy(autoscaler.ScaleUp, 2),
			setup: func(o *autoscaler.Observation, c *autoscaler.Config) {
				o.State.Paused = &autoscaler.Pause{By: "ops@shop", At: t0.Add(-time.Hour), Reason: "kernel upgrade"}
				o.Instances = append(o.Instances, autoscaler.Instance{ID: "i-ghost", State: autoscaler.StateRunning, LaunchTime: t0.Add(-time.Hour)})
				o.Interruptions = []autoscaler.Interruption{{InstanceID: "i-00", Notice: t0}}
			},
			wantSteps: []string{"cordon-interrupted i-000", "drain-interrupted i-000"},
			wantHold:  autoscaler.HoldPaused,
		},
		{
			name:  "booting instances cover a scale-up",
			ready: 3, policy: policy(autoscaler.ScaleUp, 2),
			setup: func(o *autoscaler.Observation, c *autoscaler.Config) {
				for i := range 2 {
					o.Instances = append(o.Instances, autoscaler.Instance{ID: fmt.Sprintf("i-new%d", i), State: autoscaler.StatePending, LaunchTime: t0})
				}
			},
			wantHold: autoscaler.HoldBooting,
		},
		{
			name:  "pending pods block a policy's scale-down",
			ready: 4, policy: policy(autoscaler.ScaleDown, 1),
			setup: func(o *autoscaler.Observation, c *autoscaler.Config) {
				o.Snapshot.PendingPods = autoscaler.Value(3, t0)
			},
			wantHold: autoscaler.HoldPendingPods,
		},
		{
			name:  "a scale-down never goes below MinNodes",
			ready: 2, policy: policy(autoscaler.ScaleDown, 1),
			wantHold: autoscaler.HoldAtMin,
		},
		{
			name:  "at MaxNodes without the interrupted instance its replacement still goes",
			ready: 3, policy: policy(autoscaler.Hold, 0),
			setup: func(o *autoscaler.Observation, c *autoscaler.Config) {
				c.MaxNodes = 3
				o.Interruptions = []autoscaler.Interruption{{InstanceID: "i-01", Notice: t0}}
			},
			wantSteps: []string{"launch 1", "cordon-interrupted i-010", "drain-interrupted i-010"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := autoscaler.Config{Policy: tt.policy}
			ins, nodes := readyFleet(tt.ready)
			obs := autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snapshot(50, 0)}
			if tt.setup != nil {
				tt.setup(&obs, &cfg)
			}
			p := planOf(t, cfg, obs)
			if d := cmp.Diff(tt.wantSteps, stepKinds(p)); d != "" {
				t.Errorf("steps (-want +got):\n%s\nverdicts: %v", d, p.Verdicts)
			}
			if got := p.Hold(); got != tt.wantHold {
				t.Errorf("hold %q, want %q (decision %v, verdicts %v)", got, tt.wantHold, p.Decision, p.Verdicts)
			}
		})
	}
}

// A control-plane outage makes every node NotReady at once; the
// planner terminates nothing and alerts.
func TestPlannerMassNotReadyTerminatesNothing(t *testing.T) {
	ins, nodes := readyFleet(6)
	for i := range nodes {
		nodes[i].Ready, nodes[i].ReadyTransition = false, t0.Add(-30*time.Minute)
	}
	p := planOf(t, autoscaler.Config{Policy: policy(autoscaler.Hold, 0)},
		autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snapshot(50, 0)})
	for _, s := range p.Steps {
		if s.Kind == autoscaler.StepTerminateNotReady || s.Kind == autoscaler.StepScaleDown || s.Kind == autoscaler.StepTerminateGhost {
			t.Errorf("step %v during a mass NotReady", s)
		}
	}
	if len(p.Alerts) != 1 || p.Alerts[0].Kind != autoscaler.EventRepairHeld {
		t.Errorf("alerts %v, want one repair_held", p.Alerts)
	}
}

// Repair is bounded per tick, and a NotReady instance is not
// terminated when that would leave fewer than MinNodes.
func TestPlannerRepairIsBounded(t *testing.T) {
	ins, nodes := readyFleet(10)
	for i := range 3 {
		ins = append(ins, autoscaler.Instance{ID: fmt.Sprintf("i-ghost%d", i), State: autoscaler.StateRunning, LaunchTime: t0.Add(-time.Hour)})
	}
	p := planOf(t, autoscaler.Config{Policy: policy(autoscaler.Hold, 0)},
		autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snapshot(50, 0)})
	if d := cmp.Diff([]string{"terminate-ghost i-ghost00", "terminate-ghost i-ghost10"}, stepKinds(p)); d != "" {
		t.Errorf("steps (-want +got):\n%s", d)
	}

	ins, nodes = readyFleet(2)
	nodes[0].Ready, nodes[0].ReadyTransition = false, t0.Add(-30*time.Minute)
	p = planOf(t, autoscaler.Config{Policy: policy(autoscaler.Hold, 0)},
		autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snapshot(50, 0)})
	// One of two NotReady is half the fleet, but a single instance is
	// not an outage; MinNodes 2 keeps it until its replacement is up.
	if d := cmp.Diff([]string{"launch 1"}, stepKinds(p)); d != "" {
		t.Errorf("steps (-want +got):\n%s", d)
	}
}

// The node of a dead instance whose IP was reused
// does not claim the new instance, which is matched by its own node.
func TestPlannerNodeOfADeadInstanceClaimsNothing(t *testing.T) {
	ins, nodes := readyFleet(2)
	nodes = append(nodes, autoscaler.Node{Name: "node-dead", InstanceID: "i-dead", InternalIP: ins[1].PrivateIP, Ready: false, Managed: true,
		Cluster: "prod", ReadyTransition: t0.Add(-time.Hour)})
	p := planOf(t, autoscaler.Config{ClusterID: "prod", Policy: policy(autoscaler.Hold, 0)},
		autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snapshot(50, 0)})
	if p.ReadyNodes != 2 {
		t.Errorf("ready nodes %d, want 2", p.ReadyNodes)
	}
	if d := cmp.Diff([]string{"delete-orphan 0"}, stepKinds(p)); d != "" {
		t.Errorf("steps (-want +got):\n%s", d)
	}
}

// A scale-down removes only a node whose pods fit on the other nodes, as
// cluster-autoscaler simulates it; when none fits it holds with no-room.
func TestPlannerScaleDownByWhatFits(t *testing.T) {
	res := func(milli int64) capacity.Resources {
		return capacity.Resources{MilliCPU: milli, Memory: 1 << 30, Pods: 1}
	}
	alloc := capacity.Resources{MilliCPU: 2000, Memory: 8 << 30, Pods: 110}
	plan := func(movable ...[]int64) autoscaler.Plan {
		ins, nodes := readyFleet(len(movable))
		for i, pods := range movable {
			nodes[i].Allocatable, nodes[i].Pods = alloc, len(pods)
			for _, m := range pods {
				nodes[i].Requested = nodes[i].Requested.Add(res(m))
				nodes[i].Movable = append(nodes[i].Movable, res(m))
			}
		}
		return planOf(t, autoscaler.Config{Policy: policy(autoscaler.ScaleDown, 1)},
			autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snapshot(10, 0)})
	}
	// Each node is three quarters full: no node's pods fit elsewhere.
	p := plan([]int64{1500}, []int64{1500}, []int64{1500})
	if len(p.Steps) != 0 || p.Hold() != autoscaler.HoldNoRoom {
		t.Errorf("full nodes: steps %v, hold %q", stepKinds(p), p.Hold())
	}
	// The first two nodes' large pods fit nowhere else; the third's two
	// small pods fit on the first two: the third goes, though the victim
	// order (fewer pods first) put it last.
	p = plan([]int64{1500}, []int64{1500}, []int64{400, 400})
	if d := cmp.Diff([]string{"scale-down i-020"}, stepKinds(p)); d != "" {
		t.Errorf("steps (-want +got):\n%s\nverdicts %v", d, p.Verdicts)
	}
	if len(p.Verdicts) != 2 || p.Verdicts[0].Code != autoscaler.HoldNoRoom {
		t.Errorf("verdicts %v, want the two full nodes kept with no-room", p.Verdicts)
	}
}

// A launch for pending pods says what one new worker must offer: the
// largest placeable pod's requests plus the DaemonSet pods'.
func TestPlannerLaunchCarriesWhatAWorkerMustFit(t *testing.T) {
	ins, nodes := readyFleet(2)
	snap := snapshot(50, 3)
	snap.Scheduler = &capacity.SchedulerView{NodesNeeded: 2,
		Template: capacity.WorkerTemplate{DaemonSet: capacity.Resources{MilliCPU: 100, Memory: 64 << 20, Pods: 1}},
		Pending: []capacity.PendingPod{
			{Name: "a", Requests: capacity.Resources{MilliCPU: 500, Memory: 2 << 30, Pods: 1}},
			{Name: "b", Requests: capacity.Resources{MilliCPU: 1500, Memory: 1 << 30, Pods: 1}},
			{Name: "huge", Requests: capacity.Resources{MilliCPU: 6000, Pods: 1}, Unplaceable: "too large"},
		}}
	p := planOf(t, autoscaler.Config{Policy: policy(autoscaler.ScaleUp, 2)},
		autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snap})
	want := capacity.Resources{MilliCPU: 1600, Memory: 2<<30 + 64<<20, Pods: 2}
	if len(p.Steps) != 1 || p.Steps[0].Kind != autoscaler.StepLaunch || p.Steps[0].Fit != want {
		t.Errorf("steps %+v, want one launch that must fit %v", p.Steps, want)
	}
}

// A tick that cannot see the fleet or the nodes keeps what the state
// remembers (an outage in progress, recent launches, alerted pods).
func TestPlannerBlindKeepsTheStatesMemory(t *testing.T) {
	st := autoscaler.ClusterState{OutageSince: t0.Add(-time.Hour), Unplaceable: []string{"shop/x"},
		Launched: []autoscaler.RecentLaunch{{InstanceID: "i-new", At: t0.Add(-time.Minute)}}}
	p := planOf(t, autoscaler.Config{Policy: policy(autoscaler.ScaleUp, 1)},
		autoscaler.Observation{Now: t0, State: st, NodesErr: errors.New("connection refused"), Snapshot: snapshot(50, 0)})
	if p.Blind == "" || len(p.Steps) != 0 || !p.OutageSince.Equal(st.OutageSince) || len(p.UnplaceableKeys) != 1 || len(p.RecentLaunches) != 1 {
		t.Errorf("plan %+v", p)
	}
	// Blind and without metrics: safety mode is still reported.
	snap := snapshot(50, 0)
	snap.CPU = autoscaler.Missing(autoscaler.ErrNoData)
	p = planOf(t, autoscaler.Config{Policy: policy(autoscaler.ScaleUp, 1)},
		autoscaler.Observation{Now: t0, State: st, NodesErr: errors.New("connection refused"), Snapshot: snap})
	if p.Blind == "" || !p.SafetyMode {
		t.Errorf("blind plan without metrics: blind %q safety %v", p.Blind, p.SafetyMode)
	}
}

// After an outage, repair holds until every node is Ready again, even when
// the NotReady share fell under the mass threshold because some of the
// outage's instances went away.
func TestPlannerOutageHoldsRepairUntilEveryNodeIsReady(t *testing.T) {
	ins, nodes := readyFleet(3)
	nodes[0].Ready, nodes[0].ReadyTransition = false, t0.Add(-30*time.Minute)
	st := autoscaler.ClusterState{OutageSince: t0.Add(-30 * time.Minute)}
	p := planOf(t, autoscaler.Config{Policy: policy(autoscaler.Hold, 0)},
		autoscaler.Observation{Now: t0, State: st, Instances: ins, Nodes: nodes, Snapshot: snapshot(50, 0)})
	for _, s := range p.Steps {
		if s.Kind == autoscaler.StepTerminateNotReady {
			t.Errorf("repaired %s during an outage", s.InstanceID)
		}
	}
	if !p.OutageSince.Equal(st.OutageSince) {
		t.Errorf("outage since %s, want kept", p.OutageSince)
	}
	// Every node Ready again: the outage is over.
	nodes[0].Ready = true
	p = planOf(t, autoscaler.Config{Policy: policy(autoscaler.Hold, 0)},
		autoscaler.Observation{Now: t0, State: st, Instances: ins, Nodes: nodes, Snapshot: snapshot(50, 0)})
	if !p.OutageSince.IsZero() {
		t.Errorf("outage since %s after every node is Ready", p.OutageSince)
	}
}

// node_exporter down on some nodes: the CPU average is of the others, so
// the tick enters safety mode (no scale-down on it).
func TestPlannerSafetyWhenCPUAveragesFewerNodesThanReady(t *testing.T) {
	ins, nodes := readyFleet(3)
	snap := snapshot(10, 0)
	snap.CPUNodes = autoscaler.Value(1, t0)
	p := planOf(t, autoscaler.Config{Policy: policy(autoscaler.ScaleDown, 1)},
		autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snap})
	if !p.SafetyMode || p.Hold() != autoscaler.HoldSafety || len(p.Steps) != 0 {
		t.Errorf("safety %v %v, hold %q, steps %v", p.SafetyMode, p.SafetyReasons, p.Hold(), stepKinds(p))
	}
	snap.CPUNodes = autoscaler.Value(3, t0)
	if p := planOf(t, autoscaler.Config{Policy: policy(autoscaler.ScaleDown, 1)},
		autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snap}); p.SafetyMode {
		t.Errorf("safety mode with every node counted: %v", p.SafetyReasons)
	}
}

// planOf plans obs with cfg's policy and cfg's limits (defaults applied).
func planOf(t *testing.T, cfg autoscaler.Config, obs autoscaler.Observation) autoscaler.Plan {
	t.Helper()
	lim, err := cfg.Limits()
	if err != nil {
		t.Fatal(err)
	}
	return autoscaler.PlanTick(cfg.Policy, lim, obs)
}

// A metric source that carries only custom metrics never allows a
// scale-down: the core readings it lacks put the tick in safety mode
// (the MetricSource contract).
func TestCustomOnlySnapshotNeverScalesDown(t *testing.T) {
	ins, nodes := readyFleet(4)
	snap := autoscaler.Snapshot{Time: t0, Custom: map[string]autoscaler.Metric{"queue_depth": autoscaler.Value(0, t0)}}
	snap.CPU, snap.Memory, snap.PendingPods = autoscaler.Missing(autoscaler.ErrNoData), autoscaler.Missing(autoscaler.ErrNoData), autoscaler.Missing(autoscaler.ErrNoData)
	p := planOf(t, autoscaler.Config{Policy: policy(autoscaler.ScaleDown, 1)},
		autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snap})
	if !p.SafetyMode || p.Hold() != autoscaler.HoldSafety || len(p.Steps) != 0 {
		t.Errorf("safety %v, hold %q, steps %v: want the scale-down held in safety mode", p.SafetyMode, p.Hold(), stepKinds(p))
	}
	// A scale-up on the same snapshot goes.
	p = planOf(t, autoscaler.Config{Policy: policy(autoscaler.ScaleUp, 1)},
		autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snap})
	if got := stepKinds(p); len(got) != 1 || got[0] != "launch 1" {
		t.Errorf("steps %v, want the scale-up", got)
	}
}

// Nodes Ready for less than NewNodeGrace (two scrape intervals) are not in
// the CPU average yet, and that is no node_exporter down: no safety mode
// after a scale-up; an older node missing from it still is.
func TestNewNodeMissingFromCPUAverageIsNoSafetyMode(t *testing.T) {
	ins, nodes := readyFleet(4)
	for i := range nodes[2:] {
		nodes[2+i].ReadyTransition = t0.Add(-20 * time.Second)
	}
	snap := snapshot(50, 0)
	snap.CPUNodes = autoscaler.Value(2, t0)
	cfg := autoscaler.Config{Policy: policy(autoscaler.Hold, 0)}
	if p := planOf(t, cfg, autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snap}); p.SafetyMode {
		t.Errorf("safety mode for nodes Ready 20 s ago: %v", p.SafetyReasons)
	}
	// No alert, but no scale-down either on an average that leaves the
	// new nodes out (the chaos run's invariant).
	down := autoscaler.Config{Policy: policy(autoscaler.ScaleDown, 1)}
	if p := planOf(t, down, autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snap}); p.Decision.Action == autoscaler.ScaleDown || p.Hold() != autoscaler.HoldSafety {
		t.Errorf("scale-down on a CPU average without the nodes Ready 20 s ago: %s (hold %q)", p.Decision, p.Hold())
	}
	nodes[3].ReadyTransition = t0.Add(-time.Minute)
	if p := planOf(t, cfg, autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snap}); !p.SafetyMode {
		t.Errorf("no safety mode with a node Ready a minute ago missing from the CPU average")
	}
}

// With the scheduler's view, a pod still pending after a worker launched
// for it became Ready with room for it is one the view misjudges: it is
// marked unplaceable, named in an alert, and drives no further launch.
func TestPodPendingAfterItsNewWorkerIsReadyDrivesNoLaunch(t *testing.T) {
	ins, nodes := readyFleet(3)
	ins[2].LaunchTime = t0.Add(-10 * time.Minute)
	nodes[2].ReadyTransition = t0.Add(-8 * time.Minute)
	for i := range nodes {
		nodes[i].Allocatable = capacity.Resources{MilliCPU: 2000, Memory: 4 << 30, Pods: 110}
		nodes[i].Requested = capacity.Resources{MilliCPU: 1900, Memory: 1 << 30, Pods: 10}
	}
	nodes[2].Requested = capacity.Resources{MilliCPU: 200, Memory: 1 << 30, Pods: 3}
	pod := capacity.PendingPod{Namespace: "shop", Name: "spread-3", Requests: capacity.Resources{MilliCPU: 500, Memory: 1 << 30, Pods: 1}}
	upForView := autoscaler.PolicyFunc(func(in autoscaler.PolicyInput) autoscaler.Decision {
		if n := in.Snapshot.Scheduler.ToLaunch(in.Booting); n > 0 {
			return autoscaler.Decision{Action: autoscaler.ScaleUp, Count: n, Reason: "pending pods"}
		}
		return autoscaler.Decision{Action: autoscaler.Hold, Reason: "nothing pending"}
	})
	plan := func(since time.Time) autoscaler.Plan {
		pod.PendingSince = since
		snap := snapshot(50, 1)
		snap.Scheduler = &capacity.SchedulerView{Pending: []capacity.PendingPod{pod}, NodesNeeded: 1, Demand: 2}
		return planOf(t, autoscaler.Config{Policy: upForView}, autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snap})
	}
	// Pending only since after the newest worker was launched: the view
	// is trusted, a worker is launched.
	if p := plan(t0.Add(-5 * time.Minute)); len(p.Unplaceable) != 0 || len(stepKinds(p)) != 1 {
		t.Errorf("pod pending since after the launch: unplaceable %v, steps %v", p.Unplaceable, stepKinds(p))
	}
	p := plan(t0.Add(-20 * time.Minute))
	if len(p.Steps) != 0 || len(p.Unplaceable) != 1 || p.Unplaceable[0].Key() != "shop/spread-3" {
		t.Errorf("steps %v, unplaceable %v: want no launch and the pod marked", stepKinds(p), p.Unplaceable)
	}
	if len(p.Alerts) != 1 || p.Alerts[0].Kind != autoscaler.EventUnplaceable || !strings.Contains(p.Alerts[0].Message, "shop/spread-3") {
		t.Errorf("alerts %v", p.Alerts)
	}
}
