package autoscaler_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// zonedFleet is readyFleet(n) spread round-robin over zones.
func zonedFleet(n int, zones ...string) ([]autoscaler.Instance, []autoscaler.Node) {
	ins, nodes := readyFleet(n)
	for i := range ins {
		ins[i].Zone, nodes[i].Zone = zones[i%len(zones)], zones[i%len(zones)]
	}
	return ins, nodes
}

// zoneNotReady makes every node of zone NotReady since half an hour.
func zoneNotReady(ins []autoscaler.Instance, nodes []autoscaler.Node, zone string) {
	for i := range nodes {
		if ins[i].Zone == zone {
			nodes[i].Ready, nodes[i].ReadyTransition = false, t0.Add(-30*time.Minute)
		}
	}
}

// heldIn reports whether the plan alerts repair_held naming what.
func heldIn(p autoscaler.Plan, what string) bool {
	for _, a := range p.Alerts {
		if a.Kind == autoscaler.EventRepairHeld && strings.Contains(a.Message, what) {
			return true
		}
	}
	return false
}

func terminations(p autoscaler.Plan) []string {
	var out []string
	for _, s := range p.Steps {
		if s.Kind == autoscaler.StepTerminateNotReady || s.Kind == autoscaler.StepTerminateGhost {
			out = append(out, s.InstanceID)
		}
	}
	return out
}

// One zone of three going NotReady is exactly a third of the fleet: an
// outage, not broken machines; nothing is terminated.
func TestOneZoneOfThreeNotReadyIsAnOutage(t *testing.T) {
	ins, nodes := zonedFleet(6, "a", "b", "c")
	for i := range nodes {
		if ins[i].Zone == "c" {
			nodes[i].Ready, nodes[i].ReadyTransition = false, t0.Add(-30*time.Minute)
		}
	}
	p := planOf(t, autoscaler.Config{Policy: policy(autoscaler.Hold, 0)},
		autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snapshot(50, 0)})
	if got := terminations(p); len(got) != 0 {
		t.Errorf("terminated %v during zone c's outage", got)
	}
	if len(p.Alerts) == 0 || p.Alerts[0].Kind != autoscaler.EventRepairHeld {
		t.Errorf("alerts %v, want repair_held", p.Alerts)
	}
}

// A zone whose workers all went NotReady is an outage even when it is a
// small share of the fleet: repair holds there (alerted, naming the
// zone), and goes on in the other zones.
func TestRepairHoldsInAZoneWhoseWorkersAreAllNotReady(t *testing.T) {
	ins, nodes := zonedFleet(12, "a", "b", "c", "d")
	var lone string
	for i := range nodes {
		if ins[i].Zone == "d" {
			nodes[i].Ready, nodes[i].ReadyTransition = false, t0.Add(-30*time.Minute)
		}
	}
	// One broken machine in zone a, whose other workers are Ready.
	nodes[0].Ready, nodes[0].ReadyTransition = false, t0.Add(-30*time.Minute)
	lone = ins[0].ID
	p := planOf(t, autoscaler.Config{Policy: policy(autoscaler.Hold, 0), MassNotReadyShare: 0.5},
		autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snapshot(50, 0)})
	if got := fmt.Sprint(terminations(p)); got != "["+lone+"]" {
		t.Errorf("terminated %s, want only %s (zone a); zone d is in an outage", got, lone)
	}
	if !heldIn(p, "zone d") {
		t.Errorf("alerts %v, want repair_held naming zone d", p.Alerts)
	}
}

// A zone coming back from its outage is still in it: while the first of
// its workers are Ready again (within NotReadyTimeout) the others, which
// went NotReady with them, are not terminated. A worker Ready for longer,
// or new since the outage, does not hold the repair of the zone's broken
// machines.
func TestRepairHoldsInAZoneComingBackFromItsOutage(t *testing.T) {
	tests := []struct {
		name        string
		readySince  time.Duration // before t0, for the zone's Ready worker
		createdAgo  time.Duration
		wantRepairs int
	}{
		{name: "one worker back a minute ago", readySince: time.Minute, createdAgo: time.Hour, wantRepairs: 0},
		{name: "one worker back for longer than NotReadyTimeout", readySince: 10 * time.Minute, createdAgo: time.Hour, wantRepairs: 2},
		{name: "a new worker, not one of the outage's", readySince: time.Minute, createdAgo: 3 * time.Minute, wantRepairs: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ins, nodes := zonedFleet(12, "a", "b", "c", "d")
			back := false
			for i := range nodes {
				if ins[i].Zone != "d" {
					continue
				}
				if !back {
					back = true
					nodes[i].ReadyTransition, nodes[i].Created = t0.Add(-tt.readySince), t0.Add(-tt.createdAgo)
					continue
				}
				nodes[i].Ready, nodes[i].ReadyTransition = false, t0.Add(-30*time.Minute)
			}
			p := planOf(t, autoscaler.Config{Policy: policy(autoscaler.Hold, 0), MassNotReadyShare: 0.5},
				autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snapshot(50, 0)})
			if got := terminations(p); len(got) != tt.wantRepairs {
				t.Errorf("terminated %v, want %d; verdicts %v", got, tt.wantRepairs, p.Verdicts)
			}
		})
	}
}

// Exactly MassNotReadyShare of the fleet broken, spread over zones so
// that no zone is down, is an outage already: "at least", not "more
// than".
func TestExactlyTheMassShareNotReadyIsAnOutage(t *testing.T) {
	ins, nodes := zonedFleet(6, "a", "b", "c")
	for _, i := range []int{0, 1} { // one in zone a, one in zone b
		nodes[i].Ready, nodes[i].ReadyTransition = false, t0.Add(-30*time.Minute)
	}
	p := planOf(t, autoscaler.Config{Policy: policy(autoscaler.Hold, 0), MinNodes: 1},
		autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snapshot(50, 0)})
	if got := terminations(p); len(got) != 0 {
		t.Errorf("terminated %v with a third of the fleet NotReady", got)
	}
	if p.OutageSince.IsZero() {
		t.Errorf("no outage recorded; verdicts %v", p.Verdicts)
	}
}

// A zone's only worker going NotReady cannot be told from that zone's
// outage: repair holds it (alerted, naming the zone) rather than
// terminate a machine that may come back. Once a worker launched in that
// zone since is Ready there, the zone works and the NotReady one is a
// broken machine: it is repaired.
func TestLoneWorkerOfAZoneNotReadyIsHeldAsTheZonesOutage(t *testing.T) {
	ins, nodes := zonedFleet(7, "a", "a", "a", "b", "b", "b", "c")
	for i := range ins {
		if ins[i].Zone == "c" {
			nodes[i].Ready, nodes[i].ReadyTransition = false, t0.Add(-30*time.Minute)
		}
	}
	lone := ins[6].ID
	p := planOf(t, autoscaler.Config{Policy: policy(autoscaler.Hold, 0)},
		autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snapshot(50, 0)})
	if got := terminations(p); len(got) != 0 {
		t.Errorf("terminated %v, the only worker of zone c", got)
	}
	found := false
	for _, a := range p.Alerts {
		found = found || (a.Kind == autoscaler.EventRepairHeld && strings.Contains(a.Message, "zone c"))
	}
	if !found {
		t.Errorf("alerts %v, want repair_held naming zone c", p.Alerts)
	}

	// A new worker in zone c joined and is Ready: the zone is up.
	more, moreNodes := zonedFleet(8, "a")
	fresh, freshNode := more[7], moreNodes[7]
	fresh.Zone, freshNode.Zone = "c", "c"
	fresh.LaunchTime, freshNode.Created = t0.Add(-10*time.Minute), t0.Add(-8*time.Minute)
	freshNode.ReadyTransition = t0.Add(-7 * time.Minute)
	ins, nodes = append(ins, fresh), append(nodes, freshNode)
	p = planOf(t, autoscaler.Config{Policy: policy(autoscaler.Hold, 0)},
		autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snapshot(50, 0)})
	if got := fmt.Sprint(terminations(p)); got != "["+lone+"]" {
		t.Errorf("terminated %s, want %s repaired once zone c has a Ready worker", got, lone)
	}
}

// A zone's only instance that never joined is no outage of that zone: it
// has no pods or data to come back with, and is terminated as a ghost.
func TestLoneGhostOfAZoneIsTerminated(t *testing.T) {
	ins, nodes := zonedFleet(7, "a", "a", "a", "b", "b", "b", "c")
	ghost := ins[6].ID
	nodes = nodes[:6]
	p := planOf(t, autoscaler.Config{Policy: policy(autoscaler.Hold, 0)},
		autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snapshot(50, 0)})
	if got := fmt.Sprint(terminations(p)); got != "["+ghost+"]" {
		t.Errorf("terminated %s, want the ghost %s", got, ghost)
	}
}

// A worker launched into a zone during its outage (the floor's
// replacement for the NotReady ones goes to the zone with fewest Ready
// workers: that one) and still booting has not shown that the zone works:
// the zone's NotReady workers are still held, not terminated as broken
// machines.
func TestBootingWorkerDoesNotEndItsZonesOutage(t *testing.T) {
	ins, nodes := zonedFleet(12, "a", "b", "c", "d")
	zoneNotReady(ins, nodes, "d")
	ins = append(ins, autoscaler.Instance{ID: "i-new", State: autoscaler.StateRunning, Market: autoscaler.MarketSpot,
		Zone: "d", LaunchTime: t0.Add(-2 * time.Minute), PrivateIP: "10.0.1.1"})
	p := planOf(t, autoscaler.Config{Policy: policy(autoscaler.Hold, 0), MassNotReadyShare: 0.5},
		autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snapshot(50, 0)})
	if got := terminations(p); len(got) != 0 {
		t.Errorf("terminated %v during zone d's outage, a worker booting there; verdicts %v", got, p.Verdicts)
	}
	if !heldIn(p, "zone d") {
		t.Errorf("alerts %v, want repair_held naming zone d", p.Alerts)
	}
}

// The floor's replacements for the workers of a zone in its outage are
// not all sent into that zone: its NotReady workers and ghosts but one
// count as the zone's workers in the launch's ZoneCounts, as they are
// expected back, so the water-filling sends the zone one replacement (its
// Ready node would show the zone works) and the others to the other
// zones (left out, the zone would count none and take them all, to join
// nowhere and pile up as ghosts the outage holds). A zone whose only
// worker is NotReady still counts none: its replacement goes there.
func TestReplacementsForAZonesOutageGoToTheOtherZones(t *testing.T) {
	ins, nodes := zonedFleet(12, "a", "b", "c", "d")
	zoneNotReady(ins, nodes, "d")
	ins = append(ins, autoscaler.Instance{ID: "i-ghost", State: autoscaler.StateRunning, Market: autoscaler.MarketSpot,
		Zone: "d", LaunchTime: t0.Add(-time.Hour), PrivateIP: "10.0.1.1"})
	p := planOf(t, autoscaler.Config{Policy: policy(autoscaler.Hold, 0), MinNodes: 12, MaxNodes: 20, MassNotReadyShare: 0.5},
		autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snapshot(50, 0)})
	var launch *autoscaler.Step
	for i, s := range p.Steps {
		if s.Kind == autoscaler.StepLaunch {
			launch = &p.Steps[i]
		}
	}
	if launch == nil {
		t.Fatalf("steps %v, want the floor's launch", stepKinds(p))
	}
	if diff := cmp.Diff(map[string]int{"a": 3, "b": 3, "c": 3, "d": 3}, launch.ZoneCounts); diff != "" {
		t.Errorf("zone counts (-want +got):\n%s", diff)
	}
	if got := terminations(p); len(got) != 0 {
		t.Errorf("terminated %v during zone d's outage", got)
	}
	// Zone d's only worker NotReady: d counts none.
	ins, nodes = zonedFleet(4, "a", "b", "c", "d")
	zoneNotReady(ins, nodes, "d")
	p = planOf(t, autoscaler.Config{Policy: policy(autoscaler.Hold, 0), MinNodes: 4, MaxNodes: 8},
		autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snapshot(50, 0)})
	if len(p.Steps) != 1 || p.Steps[0].Kind != autoscaler.StepLaunch {
		t.Fatalf("steps %v, want the floor's launch only", stepKinds(p))
	}
	if diff := cmp.Diff(map[string]int{"a": 1, "b": 1, "c": 1}, p.Steps[0].ZoneCounts); diff != "" {
		t.Errorf("zone counts with d's lone worker NotReady (-want +got):\n%s", diff)
	}
}

// A node kept for its node-local data that stays NotReady (its machine is
// dead; the operator has to move the data) does not keep an outage on for
// ever: once every other node is Ready again the outage ends, and repair
// goes on for the machines that break later (a launch that never joins).
func TestNodeKeptForItsDataDoesNotProlongAnOutage(t *testing.T) {
	ins, nodes := zonedFleet(6, "a", "b", "c")
	nodes[0].Ready, nodes[0].ReadyTransition = false, t0.Add(-2*time.Hour)
	nodes[0].LocalData = []string{"PersistentVolume pvc-db (claim shop/data-db-0, a hostPath volume)"}
	ins = append(ins, autoscaler.Instance{ID: "i-ghost", State: autoscaler.StateRunning, Market: autoscaler.MarketSpot,
		Zone: "b", LaunchTime: t0.Add(-time.Hour), PrivateIP: "10.0.1.1"})
	st := autoscaler.ClusterState{OutageSince: t0.Add(-90 * time.Minute)}
	p := planOf(t, autoscaler.Config{Policy: policy(autoscaler.Hold, 0)},
		autoscaler.Observation{Now: t0, State: st, Instances: ins, Nodes: nodes, Snapshot: snapshot(50, 0)})
	if !p.OutageSince.IsZero() {
		t.Errorf("outage since %s, though only a node kept for its data is NotReady", p.OutageSince)
	}
	if got := fmt.Sprint(terminations(p)); got != "[i-ghost]" {
		t.Errorf("terminated %s, want the ghost only; verdicts %v", got, p.Verdicts)
	}
}
