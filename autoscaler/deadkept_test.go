package autoscaler_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// deadKept makes node i NotReady since ago and keeps it for its data.
func deadKept(nodes []autoscaler.Node, i int, ago time.Duration) {
	nodes[i].Ready, nodes[i].ReadyTransition = false, t0.Add(-ago)
	nodes[i].LocalData = []string{fmt.Sprintf("PersistentVolume pvc-db-%d (local-path)", i)}
}

// Workers kept for their data whose machines died long ago (NotReady for
// hours, never repaired) are not an outage going on: alone they reach the
// outage share (3 of 9), but they no longer count in it, so a worker that
// breaks now is repaired, while they stay and each is alerted on its own.
func TestWorkersKeptForTheirDataLongDeadDoNotMakeAnOutage(t *testing.T) {
	ins, nodes := zonedFleet(9, "a", "b", "c")
	for _, i := range []int{0, 1, 2} {
		deadKept(nodes, i, 3*time.Hour)
	}
	nodes[3].Ready, nodes[3].ReadyTransition = false, t0.Add(-30*time.Minute)
	p := planOf(t, autoscaler.Config{Policy: policy(autoscaler.Hold, 0)},
		autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snapshot(50, 0)})
	if got := fmt.Sprint(terminations(p)); got != "[i-03]" {
		t.Errorf("terminated %s, want the worker that broke now; verdicts %v", got, p.Verdicts)
	}
	if !p.OutageSince.IsZero() {
		t.Errorf("outage since %s, though only long-dead kept workers and one more are NotReady", p.OutageSince)
	}
	for _, i := range []int{0, 1, 2} {
		if !heldIn(p, ins[i].ID) {
			t.Errorf("no repair_held alert naming %s; alerts %v", ins[i].ID, p.Alerts)
		}
	}
}

// A ghost kept for the data pinned to its host name (its Node deleted
// hours ago) is no outage either: two such ghosts and a worker that
// breaks now are 3 of 8, but the worker is repaired.
func TestGhostsKeptForPinnedDataLongAgoDoNotMakeAnOutage(t *testing.T) {
	ins, nodes := zonedFleet(6, "a", "b", "c")
	pinned := map[string][]string{}
	for i, host := range []string{"ip-10-0-9-1", "ip-10-0-9-2"} {
		id := fmt.Sprintf("i-lost%d", i)
		ins = append(ins, autoscaler.Instance{ID: id, State: autoscaler.StateRunning, Market: autoscaler.MarketSpot,
			Zone: "a", LaunchTime: t0.Add(-48 * time.Hour), PrivateDNS: host + ".ec2.internal"})
		pinned[host] = []string{"PersistentVolume pvc-" + id}
	}
	nodes[1].Ready, nodes[1].ReadyTransition = false, t0.Add(-30*time.Minute)
	p := planOf(t, autoscaler.Config{Policy: policy(autoscaler.Hold, 0)},
		autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Pinned: pinned, Snapshot: snapshot(50, 0)})
	if got := fmt.Sprint(terminations(p)); got != "[i-01]" {
		t.Errorf("terminated %s, want the worker that broke now; verdicts %v", got, p.Verdicts)
	}
	if !heldIn(p, "i-lost0") || !heldIn(p, "pvc-i-lost1") {
		t.Errorf("alerts %v, want each kept ghost alerted", p.Alerts)
	}
}

// Kept workers that went NotReady recently still count: together with
// the others they are the outage share, and repair holds.
func TestWorkersKeptForTheirDataRecentlyNotReadyStillCountTowardAnOutage(t *testing.T) {
	ins, nodes := zonedFleet(9, "a", "b", "c")
	deadKept(nodes, 0, 20*time.Minute)
	deadKept(nodes, 1, 20*time.Minute)
	nodes[3].Ready, nodes[3].ReadyTransition = false, t0.Add(-20*time.Minute)
	p := planOf(t, autoscaler.Config{Policy: policy(autoscaler.Hold, 0)},
		autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snapshot(50, 0)})
	if got := terminations(p); len(got) != 0 || p.OutageSince.IsZero() {
		t.Errorf("terminated %v, outage since %s; want an outage held", got, p.OutageSince)
	}
}

// A zone whose only NotReady workers are long-dead ones kept for their
// data is not in an outage for ever: a ghost launched into it is
// terminated like any lone ghost of a zone, and the kept workers are
// still never terminated.
func TestZoneWhoseOnlyBrokenWorkersAreLongDeadKeptOnesIsNoOutage(t *testing.T) {
	ins, nodes := zonedFleet(12, "a", "b", "c", "d")
	for _, i := range []int{0, 4, 8} {
		deadKept(nodes, i, 3*time.Hour)
	}
	ins = append(ins, autoscaler.Instance{ID: "i-ghost", State: autoscaler.StateRunning, Market: autoscaler.MarketSpot,
		Zone: "a", LaunchTime: t0.Add(-time.Hour), PrivateIP: "10.0.1.1"})
	p := planOf(t, autoscaler.Config{Policy: policy(autoscaler.Hold, 0)},
		autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snapshot(50, 0)})
	if got := fmt.Sprint(terminations(p)); got != "[i-ghost]" {
		t.Errorf("terminated %s, want the ghost only; verdicts %v", got, p.Verdicts)
	}
	if heldIn(p, "zone a") {
		t.Errorf("alerts %v: zone a held as in an outage", p.Alerts)
	}
}

// A ghost kept for its pinned data that also has a spot interruption
// notice is not one of the broken instances the outage share counts, so
// it is not taken off them either: two workers of six going NotReady
// together are still an outage (a third), and neither is terminated.
func TestInterruptedGhostKeptForItsDataDoesNotHideAnOutage(t *testing.T) {
	ins, nodes := zonedFleet(6, "a", "b", "c")
	ins = append(ins, autoscaler.Instance{ID: "i-lost", State: autoscaler.StateRunning, Market: autoscaler.MarketSpot,
		Zone: "a", LaunchTime: t0.Add(-48 * time.Hour), PrivateDNS: "ip-10-0-9-1.ec2.internal"})
	pinned := map[string][]string{"ip-10-0-9-1": {"PersistentVolume pvc-lost"}}
	for _, i := range []int{1, 2} {
		nodes[i].Ready, nodes[i].ReadyTransition = false, t0.Add(-30*time.Minute)
	}
	p := planOf(t, autoscaler.Config{Policy: policy(autoscaler.Hold, 0)},
		autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Pinned: pinned, Snapshot: snapshot(50, 0),
			Interruptions: []autoscaler.Interruption{{InstanceID: "i-lost", Notice: t0.Add(-time.Minute)}}})
	if got := terminations(p); len(got) != 0 {
		t.Errorf("terminated %v in an outage (2 of 6 workers NotReady together); verdicts %v", got, p.Verdicts)
	}
	if p.OutageSince.IsZero() {
		t.Error("no outage, though 2 of 6 workers went NotReady together")
	}
}
