package autoscaler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// A NotReady node that holds node-local data (a local-path volume) is
// never terminated by repair, whatever the state of its pods: repair holds
// and alerts, naming the node and the volume.
func TestRepairNeverTerminatesANodeHoldingLocalData(t *testing.T) {
	ins, nodes := readyFleet(5)
	nodes[1].Ready, nodes[1].ReadyTransition = false, t0.Add(-30*time.Minute)
	nodes[1].LocalData = []string{"PersistentVolume pvc-db-0 (local-path)"}
	p := planOf(t, autoscaler.Config{Policy: policy(autoscaler.Hold, 0)},
		autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snapshot(50, 0)})
	for _, s := range p.Steps {
		if s.InstanceID == ins[1].ID {
			t.Errorf("step %v on the node holding local data", s)
		}
	}
	if len(p.Alerts) != 1 || p.Alerts[0].Kind != autoscaler.EventRepairHeld ||
		!strings.Contains(p.Alerts[0].Message, nodes[1].Name) || !strings.Contains(p.Alerts[0].Message, "pvc-db-0") {
		t.Errorf("alerts %v, want one repair_held naming %s and its volume", p.Alerts, nodes[1].Name)
	}
}

// A NotReady node an operator annotated scale-down-disabled is not
// repaired away either; one without the annotation is.
func TestRepairKeepsANodeAnnotatedScaleDownDisabled(t *testing.T) {
	ins, nodes := readyFleet(7)
	for _, i := range []int{1, 2} {
		nodes[i].Ready, nodes[i].ReadyTransition = false, t0.Add(-30*time.Minute)
	}
	nodes[1].ScaleDownDisabled = true
	p := planOf(t, autoscaler.Config{Policy: policy(autoscaler.Hold, 0)},
		autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snapshot(50, 0)})
	if got := stepKinds(p); len(got) != 1 || got[0] != "terminate-not-ready i-020" {
		t.Errorf("steps %v, want only the unannotated node repaired", got)
	}
	if p.Hold() != "" || len(p.Alerts) != 1 || !strings.Contains(p.Alerts[0].Message, "scale-down-disabled") {
		t.Errorf("alerts %v", p.Alerts)
	}
}

// A scale-down never chooses a node holding node-local data, even when
// it would be the first victim (fewest pods).
func TestScaleDownNeverChoosesANodeHoldingLocalData(t *testing.T) {
	ins, nodes := readyFleet(3)
	nodes[0].LocalData = []string{"hostPath volume data (/var/lib/db)"}
	nodes[1].Pods, nodes[2].Pods = 2, 3
	p := planOf(t, autoscaler.Config{Policy: policy(autoscaler.ScaleDown, 1)},
		autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snapshot(10, 0)})
	if got := stepKinds(p); len(got) != 1 || got[0] != "scale-down i-010" {
		t.Errorf("steps %v, want the node without local data", got)
	}
	// Every node holds data: nothing is removed.
	for i := range nodes {
		nodes[i].LocalData = []string{"local PV"}
	}
	p = planOf(t, autoscaler.Config{Policy: policy(autoscaler.ScaleDown, 1)},
		autoscaler.Observation{Now: t0, Instances: ins, Nodes: nodes, Snapshot: snapshot(10, 0)})
	if len(p.Steps) != 0 || p.Decision.Action != autoscaler.Hold {
		t.Errorf("steps %v decision %v, want nothing removed", stepKinds(p), p.Decision)
	}
}

// The tick's log line says why a scale-down kept a node: its keep verdict
// names the node and its node-local data.
func TestTickLogNamesTheNodeAScaleDownKeptForItsData(t *testing.T) {
	var buf bytes.Buffer
	e := newEnv(t, 3, func(c *autoscaler.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&buf, nil))
		c.Policy = policy(autoscaler.ScaleDown, 1)
	})
	if _, err := e.nodes.ListNodes(context.Background()); err != nil { // the fake's nodes join
		t.Fatal(err)
	}
	kept := e.nodes.Names()[0]
	e.nodes.Update(kept, func(n *autoscaler.Node) { n.LocalData = []string{"PersistentVolume pvc-db-0 (local-path)"} })
	res := e.tick(t)
	if len(res.Removed()) != 1 || slices.Contains(res.Removed(), kept) {
		t.Fatalf("removed %v, want one node other than %s (%s)", res.Removed(), kept, res)
	}
	var line struct {
		Msg      string
		Verdicts []string
	}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("log %q: %v", buf.String(), err)
	}
	want := "keep (keep): node " + kept + " stays: it holds node-local data (PersistentVolume pvc-db-0 (local-path))"
	if line.Msg != "tick" || !slices.Contains(line.Verdicts, want) {
		t.Errorf("tick log %q, want verdicts with %q", buf.String(), want)
	}
}
