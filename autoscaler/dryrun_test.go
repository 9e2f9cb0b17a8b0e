package autoscaler_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/mock/gomock"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
	"github.com/node-fleet/node-fleet/autoscaler/mock"
)

// dryWorld is what a dry-run scenario's mocks and fakes list.
type dryWorld struct {
	ins   []autoscaler.Instance
	nodes []autoscaler.Node
	st    autoscaler.ClusterState
	snap  autoscaler.Snapshot
}

// A dry-running autoscaler observes, plans and records what it would do in
// every scenario of the tick, and calls no mutating method of the fleet or
// the nodes: the mocks' Launch, Terminate, Cordon, Uncordon, Drain and
// DeleteNode are expected zero times. The would-be steps are in the saved
// history, the result says "would ...", every notification is marked, and
// the state's cooldown times and operation are as they were.
func TestDryRunCallsNoMutatingMethod(t *testing.T) {
	tests := []struct {
		name      string
		ready     int
		policy    autoscaler.Policy
		setup     func(*dryWorld, *autoscaler.Config)
		interrupt string // delivered through HandleInterruption
		wantWould []string
		// wantReason is in the result's Reason; wantEvents are the
		// kinds notified by the first tick.
		wantReason string
		wantEvents []autoscaler.EventKind
	}{
		{
			name: "pending pods: would scale up", ready: 3, policy: policy(autoscaler.ScaleUp, 3),
			setup:      func(w *dryWorld, _ *autoscaler.Config) { w.snap = snapshot(50, 5) },
			wantWould:  []string{"launch 3"},
			wantReason: "would scale up 3: test policy",
			wantEvents: []autoscaler.EventKind{autoscaler.EventScaleUp},
		},
		{
			name: "idle: would scale down", ready: 4, policy: policy(autoscaler.ScaleDown, 1),
			setup:      func(w *dryWorld, _ *autoscaler.Config) { w.snap = snapshot(5, 0) },
			wantWould:  []string{"scale-down i-00 node node-i-00"},
			wantReason: "would scale down 1: test policy; would remove node node-i-00",
			wantEvents: []autoscaler.EventKind{autoscaler.EventScaleDown},
		},
		{
			name: "ghost: would terminate it", ready: 3, policy: policy(autoscaler.Hold, 0),
			setup: func(w *dryWorld, _ *autoscaler.Config) {
				w.ins = append(w.ins, autoscaler.Instance{ID: "i-ghost", State: autoscaler.StateRunning, LaunchTime: t0.Add(-time.Hour)})
			},
			wantWould:  []string{"terminate-ghost i-ghost"},
			wantReason: "test policy",
			wantEvents: []autoscaler.EventKind{autoscaler.EventGhost},
		},
		{
			name: "NotReady node: would replace it", ready: 4, policy: policy(autoscaler.Hold, 0),
			setup: func(w *dryWorld, _ *autoscaler.Config) {
				w.nodes[3].Ready, w.nodes[3].ReadyTransition = false, t0.Add(-10*time.Minute)
			},
			wantWould:  []string{"terminate-not-ready i-03 node node-i-03"},
			wantEvents: []autoscaler.EventKind{autoscaler.EventGhost},
		},
		{
			name: "spot interruption: would replace, cordon and drain", ready: 3, policy: policy(autoscaler.Hold, 0),
			interrupt:  "i-01",
			wantWould:  []string{"launch 1", "cordon-interrupted i-01 node node-i-01", "drain-interrupted i-01 node node-i-01"},
			wantReason: "would launch 1 replacement(s) for interrupted spot instances",
			wantEvents: []autoscaler.EventKind{autoscaler.EventInterrupted},
		},
		{
			name: "an operation in flight from a live tick: left alone, reported", ready: 3, policy: policy(autoscaler.ScaleUp, 2),
			setup: func(w *dryWorld, _ *autoscaler.Config) {
				w.st.Operation = &autoscaler.Operation{ID: "op-live", Kind: autoscaler.OpLaunch, Count: 2, Started: t0.Add(-3 * time.Minute)}
				w.st.ScalingInProgress = true
			},
			wantWould:  []string{"recover-launch 2 op op-live"},
			wantReason: "operation op-live in flight left alone by the dry run (a live tick would recover-launch: launch op-live: found 0 of 2 instances)",
		},
		{
			name: "floor: would launch up to MinNodes", ready: 1, policy: policy(autoscaler.Hold, 0),
			wantWould:  []string{"launch 1"},
			wantReason: "would scale up 1:",
			wantEvents: []autoscaler.EventKind{autoscaler.EventScaleUp},
		},
		{
			name: "ceiling: would scale down to MaxNodes", ready: 5, policy: policy(autoscaler.Hold, 0),
			setup:      func(_ *dryWorld, c *autoscaler.Config) { c.MaxNodes = 3 },
			wantWould:  []string{"scale-down i-00 node node-i-00", "scale-down i-01 node node-i-01"},
			wantReason: "would scale down 2:",
			wantEvents: []autoscaler.EventKind{autoscaler.EventScaleDown},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			w := &dryWorld{snap: snapshot(50, 0)}
			w.ins, w.nodes = readyFleet(tc.ready)
			w.st.LastScaleUp, w.st.LastScaleDown = t0.Add(-time.Hour), t0.Add(-50*time.Minute)
			cfg := autoscaler.Config{ClusterID: "dry", Owner: "me", Policy: tc.policy, DryRun: true}
			if tc.setup != nil {
				tc.setup(w, &cfg)
			}
			clk := clocktesting.NewFakeClock(t0)
			store := fake.NewStore(clk)
			if err := store.SetState(w.st); err != nil {
				t.Fatal(err)
			}
			metrics := &fake.Metrics{}
			notifier := &fake.Notifier{}
			ctrl := gomock.NewController(t)
			fleet := mock.NewMockFleetProvider(ctrl)
			nodes := mock.NewMockNodeManager(ctrl)
			fleet.EXPECT().List(gomock.Any()).Return(w.ins, nil).AnyTimes()
			nodes.EXPECT().ListNodes(gomock.Any()).Return(w.nodes, nil).AnyTimes()
			nodes.EXPECT().PinnedData(gomock.Any()).Return(nil, nil).AnyTimes()
			fleet.EXPECT().Launch(gomock.Any(), gomock.Any()).Times(0)
			fleet.EXPECT().Terminate(gomock.Any(), gomock.Any()).Times(0)
			nodes.EXPECT().Cordon(gomock.Any(), gomock.Any()).Times(0)
			nodes.EXPECT().Uncordon(gomock.Any(), gomock.Any()).Times(0)
			nodes.EXPECT().Drain(gomock.Any(), gomock.Any()).Times(0)
			nodes.EXPECT().DeleteNode(gomock.Any(), gomock.Any()).Times(0)
			cfg.Metrics, cfg.Locker, cfg.State, cfg.Fleet, cfg.Nodes = metrics, store, store, fleet, nodes
			cfg.Notifier, cfg.Clock = notifier, clk
			as, err := autoscaler.New(cfg)
			if err != nil {
				t.Fatal(err)
			}

			// Two ticks: the second would do the same again, since the
			// first did nothing.
			var results []autoscaler.Result
			for i := range 2 {
				w.snap.Time = clk.Now()
				for _, m := range []*autoscaler.Metric{&w.snap.CPU, &w.snap.Memory, &w.snap.PendingPods} {
					m.At = clk.Now()
				}
				metrics.Set(w.snap)
				var res autoscaler.Result
				var err error
				if i == 0 && tc.interrupt != "" {
					res, err = as.HandleInterruption(ctx, tc.interrupt, t0)
				} else {
					res, err = as.RunOnce(ctx)
				}
				if err != nil {
					t.Fatalf("tick %d: %v (%v)", i, err, res)
				}
				results = append(results, res)
				clk.Step(2 * time.Minute)
			}

			for i, res := range results {
				if !res.DryRun || res.Outcome != autoscaler.OutcomeHeld || !strings.HasPrefix(res.String(), "dry run: ") {
					t.Errorf("tick %d: dry run %v, outcome %s, string %q; want a held dry-run result", i, res.DryRun, res.Outcome, res.String())
				}
				if !strings.Contains(res.Reason, tc.wantReason) {
					t.Errorf("tick %d: reason %q, want it to contain %q", i, res.Reason, tc.wantReason)
				}
				if len(res.Launched())+len(res.Terminated())+len(res.Ghosts())+len(res.Replaced())+len(res.OrphansDeleted()) > 0 || res.Recovered() != "" {
					t.Errorf("tick %d: the result says something was done: %v", i, res)
				}
			}

			st := store.State()
			var would [][]string
			for _, r := range st.History {
				if !r.DryRun || r.Action != autoscaler.Hold || r.Count != 0 {
					t.Errorf("record %+v: want a dry-run record whose action is hold", r)
				}
				would = append(would, r.Would)
			}
			if diff := cmp.Diff([][]string{tc.wantWould, tc.wantWould}, would); diff != "" {
				t.Errorf("would-be steps in the saved history (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(w.st.Operation, st.Operation); diff != "" {
				t.Errorf("operation in the state (-before +after):\n%s", diff)
			}
			if !st.LastScaleUp.Equal(w.st.LastScaleUp) || !st.LastScaleDown.Equal(w.st.LastScaleDown) {
				t.Errorf("cooldown times moved: last scale-up %s, down %s; want %s, %s", st.LastScaleUp, st.LastScaleDown, w.st.LastScaleUp, w.st.LastScaleDown)
			}
			if len(st.Launched) != 0 {
				t.Errorf("recent launches recorded: %+v", st.Launched)
			}

			kinds := map[autoscaler.EventKind]bool{}
			for _, ev := range results[0].Events {
				kinds[ev.Kind] = true
			}
			for _, k := range tc.wantEvents {
				if !kinds[k] {
					t.Errorf("first tick notified %v, want a %s event", results[0].Events, k)
				}
			}
			for _, ev := range notifier.Events() {
				if !ev.DryRun {
					t.Errorf("notification not marked dry run: %+v", ev)
				}
				if (ev.Kind == autoscaler.EventScaleUp || ev.Kind == autoscaler.EventScaleDown || ev.Kind == autoscaler.EventGhost) && !strings.HasPrefix(ev.Message, "would ") {
					t.Errorf("%s notification %q, want it to say what it would do", ev.Kind, ev.Message)
				}
			}
		})
	}
}

// Switching a dry run off finds the fleet, the cooldowns and the history
// as live ticks left them: the first live tick scales up exactly as an
// autoscaler that never ran dry, not held by a cooldown or by the
// no-progress guardrail after the dry run's would-be scale-ups.
func TestLiveAfterDryRunActsAsIfItNeverRanDry(t *testing.T) {
	run := func(dryTicks int) autoscaler.Result {
		e := newEnv(t, 3, func(c *autoscaler.Config) {
			c.Policy = policy(autoscaler.ScaleUp, 2)
			c.ScaleUpCooldown = 10 * time.Minute
			c.DryRun = true
		})
		e.joinAll(t)
		for range dryTicks {
			e.setMetrics(50, 60, 4)
			if res := e.tick(t); !res.DryRun || !strings.HasPrefix(res.Reason, "would scale up 2") {
				t.Fatalf("dry tick: %v", res)
			}
			e.clk.Step(2 * time.Minute)
		}
		if launched, terminated := e.fleet.Counts(); launched != 3 || terminated != 0 {
			t.Fatalf("after %d dry ticks the fleet launched %d and terminated %d, want the seed's 3 and none", dryTicks, launched, terminated)
		}
		live := e.cfg
		live.DryRun = false
		as, err := autoscaler.New(live)
		if err != nil {
			t.Fatal(err)
		}
		e.setMetrics(50, 60, 4)
		res, err := as.RunOnce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	never, after := run(0), run(4)
	if len(after.Launched()) != 2 || after.DryRun || after.Outcome != autoscaler.OutcomeScaledUp {
		t.Errorf("first live tick after a dry run: %v, want 2 launched", after)
	}
	if len(never.Launched()) != len(after.Launched()) || never.Hold() != after.Hold() {
		t.Errorf("live tick after a dry run %v; without one %v", after, never)
	}
}
