package autoscaler_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
)

// An instance whose Node object was deleted (kubectl delete node) while
// it still runs is a ghost to the autoscaler, but a PersistentVolume
// pinned to its host name still holds data on its disk: repair holds and
// alerts, naming the instance and the volume, whichever form of the host
// name the volume's node affinity carries.
func TestRepairNeverTerminatesAGhostWhoseHostNameHasPinnedData(t *testing.T) {
	for _, tc := range []struct{ name, pinnedTo string }{
		{"private DNS name", "ip-10-0-1-23.ec2.internal"},
		{"short host name", "ip-10-0-1-23"},
		{"upper-case host name", "IP-10-0-1-23"},
		{"resource-name host name", "i-lost.eu-west-1.compute.internal"},
		{"K3s --with-node-id name", "ip-10-0-1-23-1a2b3c4d"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ins, nodes := readyFleet(5)
			ins = append(ins, autoscaler.Instance{ID: "i-lost", State: autoscaler.StateRunning, Market: autoscaler.MarketSpot,
				LaunchTime: t0.Add(-48 * time.Hour), PrivateIP: "10.0.1.23", PrivateDNS: "ip-10-0-1-23.ec2.internal"})
			pinned := map[string][]string{tc.pinnedTo: {"PersistentVolume pvc-db-0 (claim shop/data-db-0, local-path)"}}
			p := planOf(t, autoscaler.Config{Policy: policy(autoscaler.Hold, 0)},
				autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Pinned: pinned, Snapshot: snapshot(50, 0)})
			if got := terminations(p); len(got) != 0 {
				t.Errorf("terminated %v, though data is pinned to the instance's host name", got)
			}
			if !heldIn(p, "i-lost") || !heldIn(p, "pvc-db-0") {
				t.Errorf("alerts %v, want repair_held naming i-lost and pvc-db-0", p.Alerts)
			}
		})
	}
}

// Data pinned to another host name keeps no ghost: a ghost that never
// held anything is still terminated.
func TestRepairTerminatesAGhostWhenPinnedDataNamesAnotherHost(t *testing.T) {
	ins, nodes := readyFleet(5)
	ins = append(ins, autoscaler.Instance{ID: "i-lost", State: autoscaler.StateRunning, Market: autoscaler.MarketSpot,
		LaunchTime: t0.Add(-time.Hour), PrivateIP: "10.0.1.23", PrivateDNS: "ip-10-0-1-23.ec2.internal"})
	pinned := map[string][]string{"ip-10-0-1-230": {"PersistentVolume pvc-other"}, "node-i-00": {"PersistentVolume pvc-ready"}}
	p := planOf(t, autoscaler.Config{Policy: policy(autoscaler.Hold, 0)},
		autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Pinned: pinned, Snapshot: snapshot(50, 0)})
	if got := fmt.Sprint(terminations(p)); got != "[i-lost]" {
		t.Errorf("terminated %s, want the ghost; verdicts %v", got, p.Verdicts)
	}
}

// A NotReady instance whose volume is pinned to its host name under a
// name other than its current Node's (an agent that registered again
// under another name, its old Node deleted) is kept too.
func TestRepairNeverTerminatesANotReadyInstanceWithDataPinnedToItsHostName(t *testing.T) {
	ins, nodes := readyFleet(5)
	ins[1].PrivateDNS = "ip-10-0-0-1.ec2.internal"
	nodes[1].Ready, nodes[1].ReadyTransition = false, t0.Add(-30*time.Minute)
	pinned := map[string][]string{"ip-10-0-0-1": {"PersistentVolume pvc-db-1"}}
	p := planOf(t, autoscaler.Config{Policy: policy(autoscaler.Hold, 0)},
		autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Pinned: pinned, Snapshot: snapshot(50, 0)})
	if got := terminations(p); len(got) != 0 {
		t.Errorf("terminated %v, though data is pinned to the instance's host name", got)
	}
	if !heldIn(p, ins[1].ID) || !heldIn(p, "pvc-db-1") {
		t.Errorf("alerts %v, want repair_held naming %s and pvc-db-1", p.Alerts, ins[1].ID)
	}
}

// When the pinned data cannot be listed, no ghost and no NotReady
// instance is terminated (what cannot be checked is not assumed safe),
// with an alert; an orphaned Node object is still deleted.
func TestRepairHoldsGhostsAndNotReadyWhenPinnedDataCannotBeListed(t *testing.T) {
	ins, nodes := readyFleet(6)
	nodes[1].Ready, nodes[1].ReadyTransition = false, t0.Add(-30*time.Minute)
	ins = append(ins, autoscaler.Instance{ID: "i-ghost", State: autoscaler.StateRunning, Market: autoscaler.MarketSpot,
		LaunchTime: t0.Add(-time.Hour), PrivateIP: "10.0.1.1"})
	p := planOf(t, autoscaler.Config{Policy: policy(autoscaler.Hold, 0)},
		autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, PinnedErr: errors.New("persistentvolumes is forbidden"), Snapshot: snapshot(50, 0)})
	if got := terminations(p); len(got) != 0 {
		t.Errorf("terminated %v without knowing where the data is", got)
	}
	if !heldIn(p, "i-ghost") || !heldIn(p, ins[1].ID) || !heldIn(p, "forbidden") {
		t.Errorf("alerts %v, want repair_held naming both instances and the error", p.Alerts)
	}
	var msgs []string
	for _, v := range p.Verdicts {
		msgs = append(msgs, v.String())
	}
	if !strings.Contains(strings.Join(msgs, "\n"), "keep") {
		t.Errorf("verdicts %v, want a keep verdict", msgs)
	}
}

// Through a whole tick, on the fakes: a worker's Node is deleted while
// its instance runs (kubectl delete node) and its local-path volume stays
// pinned to the node's host name; after JoinTimeout the instance, a ghost
// now, is neither terminated nor forgotten: the tick alerts, naming it
// and the volume.
func TestNodeDeletedWhileItsInstanceRunsKeepsTheInstanceHoldingItsData(t *testing.T) {
	e := newEnv(t, 4, nil)
	e.joinAll(t)
	id := e.fleet.Instances()[0].ID
	if !e.nodes.Update(fake.NodeName(id), func(n *autoscaler.Node) {
		n.LocalData = []string{"PersistentVolume pvc-db-0 (claim shop/data-db-0, local-path)"}
	}) {
		t.Fatal("no node for", id)
	}
	if err := e.nodes.DeleteNode(context.Background(), fake.NodeName(id)); err != nil {
		t.Fatal(err)
	}
	e.clk.Step(e.cfg.JoinTimeout + time.Minute)
	e.setMetrics(50, 60, 0)
	e.tick(t)
	if calls := e.fleet.CallsTo(fake.Terminate); len(calls) != 0 {
		t.Errorf("terminate calls %v, though the instance's disk holds a volume", calls)
	}
	var found bool
	for _, ev := range e.notifier.Events() {
		found = found || (ev.Kind == autoscaler.EventRepairHeld && strings.Contains(ev.Message, id) && strings.Contains(ev.Message, "pvc-db-0"))
	}
	if !found {
		t.Errorf("events %v, want repair_held naming %s and pvc-db-0", e.notifier.Events(), id)
	}
}

// A Ready worker whose agent registered under a new name, its old Node
// deleted by hand, still holds the local-path volumes pinned to its old
// host name: scale-down does not take it (with a verdict naming the
// volume), and takes another worker instead.
func TestScaleDownNeverTakesAReadyWorkerWithDataPinnedToAnOldHostName(t *testing.T) {
	ins, nodes := readyFleet(3)
	for i := range ins {
		ins[i].PrivateDNS = fmt.Sprintf("ip-10-0-0-%d.ec2.internal", i)
	}
	pinned := map[string][]string{"ip-10-0-0-0": {"PersistentVolume pvc-db-0 (claim shop/data-db-0, local-path)"}}
	p := planOf(t, autoscaler.Config{Policy: policy(autoscaler.ScaleDown, 2), MinNodes: 1},
		autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Pinned: pinned, Snapshot: snapshot(10, 0)})
	var downs []string
	for _, s := range p.Steps {
		if s.Kind == autoscaler.StepScaleDown {
			downs = append(downs, s.InstanceID)
		}
	}
	if fmt.Sprint(downs) != "[i-01 i-02]" {
		t.Errorf("scale-down takes %v, want [i-01 i-02] (i-00's disk holds pvc-db-0); steps %v", downs, stepKinds(p))
	}
	var named bool
	for _, v := range p.Verdicts {
		named = named || (v.Code == autoscaler.HoldKeep && strings.Contains(v.Message, "pvc-db-0"))
	}
	if !named {
		t.Errorf("verdicts %v, want a keep verdict naming pvc-db-0", p.Verdicts)
	}
}

// When the pinned data cannot be listed, scale-down takes no worker: a
// volume pinned to a former host name of any of them is not known.
func TestScaleDownHoldsWhenPinnedDataCannotBeListed(t *testing.T) {
	ins, nodes := readyFleet(3)
	p := planOf(t, autoscaler.Config{Policy: policy(autoscaler.ScaleDown, 1), MinNodes: 1},
		autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, PinnedErr: errors.New("persistentvolumes is forbidden"), Snapshot: snapshot(10, 0)})
	for _, s := range p.Steps {
		if s.Kind == autoscaler.StepScaleDown {
			t.Errorf("scale-down takes %s without knowing where the data is; steps %v", s.InstanceID, stepKinds(p))
		}
	}
}

// A scale-down whose node was drained but whose instance is not
// terminated yet (the termination failed, or the tick ended) is finished
// by a later tick; a pod that tolerates the cordon may have been bound
// there meanwhile, with a local-path volume. The recovery does not
// terminate an instance whose node now holds data (or has data pinned to
// its host name): it gives the node back, alerting with the volume.
func TestRecoveryNeverTerminatesAScaleDownVictimThatNowHoldsData(t *testing.T) {
	for _, tc := range []struct {
		name   string
		data   []string
		pinned map[string][]string
	}{
		{"its node's data", []string{"PersistentVolume pvc-new (claim shop/data-db-0, local-path)"}, nil},
		{"pinned to its host name", nil, map[string][]string{"ip-10-0-0-0": {"PersistentVolume pvc-new (claim shop/data-db-0, local-path)"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ins, nodes := readyFleet(3)
			ins[0].PrivateDNS = "ip-10-0-0-0.ec2.internal"
			nodes[0].Unschedulable, nodes[0].LocalData = true, tc.data
			op := &autoscaler.Operation{ID: "op-1", Kind: autoscaler.OpScaleDown, NodeName: nodes[0].Name, InstanceID: ins[0].ID,
				Phase: autoscaler.PhaseTerminating, Started: t0.Add(-2 * time.Minute)}
			p := planOf(t, autoscaler.Config{Policy: policy(autoscaler.Hold, 0), MinNodes: 1},
				autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Pinned: tc.pinned, Snapshot: snapshot(10, 0),
					State: autoscaler.ClusterState{Operation: op}})
			for _, s := range p.Steps {
				if s.Kind == autoscaler.StepRecoverTerminate {
					t.Fatalf("recovery terminates %s, whose node now holds pvc-new; steps %v", s.InstanceID, stepKinds(p))
				}
			}
			if got := fmt.Sprint(stepKinds(p)); !strings.Contains(got, "recover-uncordon i-00") {
				t.Errorf("steps %s, want the node given back (recover-uncordon i-00)", got)
			}
			var named bool
			for _, a := range p.Alerts {
				named = named || strings.Contains(a.Message, "pvc-new")
			}
			if !named {
				t.Errorf("alerts %v, want one naming pvc-new", p.Alerts)
			}
		})
	}
}

// A volume pinned by its host-name affinity to the node's name, where
// the node's host name label is another (a provisioner that wrote the
// node's name): ListNodes, matching the label, does not count it on the
// node, so scale-down must not pass over it as the node's own.
func TestScaleDownNeverTakesAWorkerWithDataPinnedToItsNameWhenItsHostNameDiffers(t *testing.T) {
	ins, nodes := readyFleet(3)
	for i := range ins {
		ins[i].PrivateDNS = fmt.Sprintf("ip-10-0-0-%d.ec2.internal", i)
		nodes[i].Hostname = ins[i].PrivateDNS
	}
	pinned := map[string][]string{nodes[0].Name: {"PersistentVolume pvc-db-0 (claim shop/data-db-0, local-path)"}}
	p := planOf(t, autoscaler.Config{Policy: policy(autoscaler.ScaleDown, 2), MinNodes: 1},
		autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Pinned: pinned, Snapshot: snapshot(10, 0)})
	for _, s := range p.Steps {
		if s.Kind == autoscaler.StepScaleDown && s.InstanceID == ins[0].ID {
			t.Errorf("scale-down takes %s, whose disk holds pvc-db-0; steps %v", s.InstanceID, stepKinds(p))
		}
	}
}
