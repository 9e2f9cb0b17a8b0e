package decision_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/decision"
)

func TestShippedBuildsEveryName(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	in := autoscaler.PolicyInput{Now: now, ReadyNodes: 3, MinNodes: 2, MaxNodes: 10,
		Snapshot: autoscaler.Snapshot{Time: now, CPU: autoscaler.Value(50, now), Memory: autoscaler.Value(50, now), PendingPods: autoscaler.Value(12, now),
			Scheduler: view(20, 12)}}
	for _, name := range decision.ShippedNames() {
		p, err := decision.Shipped(decision.ShippedConfig{Name: name})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if d := p.Decide(in); d.Action != autoscaler.ScaleUp {
			t.Errorf("%s with 12 pending pods decided %v", name, d)
		}
		if decision.ShippedAbout(name) == "" {
			t.Errorf("%s has no description", name)
		}
	}
	_, err := decision.Shipped(decision.ShippedConfig{Name: "psychic"})
	if err == nil || !strings.Contains(err.Error(), `unknown policy "psychic"; want one of threshold, reactive, predictive`) {
		t.Errorf("err = %v", err)
	}
}

// The shipped policies by the names the programs' POLICY gives them.
func ExampleShipped() {
	p, err := decision.Shipped(decision.ShippedConfig{Name: decision.PolicyThreshold})
	if err != nil {
		fmt.Println(err)
		return
	}
	now := time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC)
	d := p.Decide(autoscaler.PolicyInput{Now: now, ReadyNodes: 3, MinNodes: 2, MaxNodes: 10,
		Snapshot: autoscaler.Snapshot{Time: now, CPU: autoscaler.Value(50, now), Memory: autoscaler.Value(40, now), PendingPods: autoscaler.Value(5, now)}})
	fmt.Println(d.Action, d.Count)
	// Output: scale_up 2
}
