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

func TestShadowActsAsTheActingPolicyAndSaysWhatThePredictiveWouldDo(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	sale := decision.Event{Name: "sale", Start: now.Add(time.Minute), End: now.Add(time.Hour), Nodes: 9}
	p, err := decision.Shipped(decision.ShippedConfig{Name: decision.PolicyReactive, Forecast: decision.ForecastShadow, Calendar: []decision.Event{sale}})
	if err != nil {
		t.Fatal(err)
	}
	in := autoscaler.PolicyInput{Now: now, ReadyNodes: 3, MinNodes: 2, MaxNodes: 10,
		Snapshot: autoscaler.Snapshot{Time: now, CPU: autoscaler.Value(50, now), Memory: autoscaler.Value(50, now), PendingPods: autoscaler.Value(0, now),
			Scheduler: view(25, 0)}}
	d := p.Decide(in)
	if d.Action != autoscaler.Hold || !strings.Contains(d.Reason, "; forecast-only: scale_up 6 (PREDICTIVE): predictive: ") {
		t.Errorf("shadow: %s, want the reactive hold and the predictive scale-up to 9 in its reason", d)
	}
	for _, c := range []decision.ShippedConfig{{Name: decision.PolicyPredictive, Forecast: decision.ForecastShadow}, {Forecast: "loud"}} {
		if _, err := decision.Shipped(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// The simulator prints each shipped policy's description with its run:
// each says that its scale-down is stabilised.
func TestShippedAboutSaysTheScaleDownIsStabilised(t *testing.T) {
	for _, name := range decision.ShippedNames() {
		if about := decision.ShippedAbout(name); !strings.Contains(about, "stabilised") {
			t.Errorf("%s: %q does not say its scale-down is stabilised", name, about)
		}
	}
}
