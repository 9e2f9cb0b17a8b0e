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
	p, err := decision.Shipped(decision.ShippedConfig{Name: decision.PolicyReactive, Forecast: decision.ForecastShadow, Lead: 15 * time.Minute, Calendar: []decision.Event{sale}})
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
	// The predictive decision also travels as a field, with its
	// forecast and the lead it is for, for the tick to record: the
	// acting reactive policy forecast nothing.
	if d.ForecastMethod != "" {
		t.Errorf("the acting reactive decision carries a forecast: %+v", d)
	}
	demand, _ := in.Snapshot.Demand()
	want := autoscaler.Decision{Action: autoscaler.ScaleUp, Count: 6, Level: autoscaler.LevelPredictive, ForecastMethod: decision.MethodNaive, ForecastNodes: demand, ForecastLead: 15 * time.Minute}
	if s := d.Shadow; s == nil {
		t.Errorf("no forecast-only decision in %+v", d)
	} else if s.Reason = ""; *s != want {
		t.Errorf("forecast-only decision %+v, want %+v", *s, want)
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

// The predictive policy's decision, whatever it is, says what it
// forecast: the method, the forecast and the headroom of its forecaster,
// and the lead it forecast for, so that the history always holds what it
// expected and when.
func TestPredictiveDecisionCarriesItsForecast(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	var history []autoscaler.Record
	for i := range 120 {
		at := now.Add(-time.Duration(120-i) * 2 * time.Minute)
		history = append(history, autoscaler.Record{Time: at, CPU: 50, Memory: 50, PendingPods: 0, Nodes: 3,
			Custom: map[string]float64{autoscaler.MetricDemand: 1 + float64(i)/40}})
	}
	p, err := decision.NewPredictive(decision.PredictiveConfig{Lead: 15 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		ready   int
		pending int
		want    autoscaler.Action
	}{
		{"scale-up", 1, 5, autoscaler.ScaleUp},
		{"hold", 4, 0, autoscaler.Hold},
		{"scale-down", 20, 0, autoscaler.ScaleDown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := autoscaler.PolicyInput{Now: now, ReadyNodes: tc.ready, MinNodes: 0, MaxNodes: 40, History: history,
				Snapshot: autoscaler.Snapshot{Time: now, CPU: autoscaler.Value(50, now), Memory: autoscaler.Value(50, now), PendingPods: autoscaler.Value(float64(tc.pending), now),
					Scheduler: view(30, tc.pending)}}
			demand, _ := in.Snapshot.Demand()
			fc := p.Forecast(now, history, nil, demand)
			d := p.Decide(in)
			if d.Action != tc.want {
				t.Errorf("decided %s, want %s", d, tc.want)
			}
			if d.ForecastMethod != fc.MethodName() || d.ForecastNodes != fc.Point || d.ForecastHeadroom != fc.Headroom {
				t.Errorf("decision %s carries forecast %q %v + %v, want the forecaster's %q %v + %v",
					d.Action, d.ForecastMethod, d.ForecastNodes, d.ForecastHeadroom, fc.MethodName(), fc.Point, fc.Headroom)
			}
			if d.ForecastMethod == "" {
				t.Errorf("decision %s carries no forecast", d)
			}
			if d.ForecastLead != 15*time.Minute {
				t.Errorf("decision %s carries the lead %s, want the policy's 15m0s", d, d.ForecastLead)
			}
		})
	}
}

// What the forecast-only policy would have done is kept within the
// fleet's bounds, as the guardrails would have kept it had it acted: the
// nodes it would have had (and so the cost the report gives it) never
// go past MaxNodes nor below MinNodes, and a count that is not positive
// is a hold. Its forecast is kept whatever the bounds.
func TestShadowsDecisionIsKeptWithinTheFleetsBounds(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	acting := autoscaler.PolicyFunc(func(autoscaler.PolicyInput) autoscaler.Decision { return autoscaler.HoldBecause("acting") })
	for _, tc := range []struct {
		name       string
		ready      int
		wanted     autoscaler.Decision
		wantAction autoscaler.Action
		wantCount  int
	}{
		{"a scale-up past MaxNodes is cut to it", 3, autoscaler.Decision{Action: autoscaler.ScaleUp, Count: 17}, autoscaler.ScaleUp, 2},
		{"a scale-up within the bounds is kept", 3, autoscaler.Decision{Action: autoscaler.ScaleUp, Count: 2}, autoscaler.ScaleUp, 2},
		{"at MaxNodes a scale-up is a hold", 5, autoscaler.Decision{Action: autoscaler.ScaleUp, Count: 1}, autoscaler.Hold, 0},
		{"a scale-down below MinNodes stops at it", 4, autoscaler.Decision{Action: autoscaler.ScaleDown, Count: 4}, autoscaler.ScaleDown, 2},
		{"at MinNodes a scale-down is a hold", 2, autoscaler.Decision{Action: autoscaler.ScaleDown, Count: 2}, autoscaler.Hold, 0},
		{"below MinNodes a hold rises to it", 1, autoscaler.Decision{Action: autoscaler.Hold}, autoscaler.ScaleUp, 1},
		{"a negative count is a hold", 3, autoscaler.Decision{Action: autoscaler.ScaleUp, Count: -2}, autoscaler.Hold, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.wanted
			w.Reason, w.ForecastMethod, w.ForecastNodes = "shadow", decision.MethodDamped, 42
			p := decision.Shadow(acting, autoscaler.PolicyFunc(func(autoscaler.PolicyInput) autoscaler.Decision { return w }))
			d := p.Decide(autoscaler.PolicyInput{Now: now, ReadyNodes: tc.ready, MinNodes: 2, MaxNodes: 5})
			if d.Action != autoscaler.Hold || d.Shadow == nil {
				t.Fatalf("decision %+v, want the acting hold with a forecast-only decision", d)
			}
			if s := *d.Shadow; s.Action != tc.wantAction || s.Count != tc.wantCount || s.ForecastMethod != decision.MethodDamped || s.ForecastNodes != 42 {
				t.Errorf("forecast-only decision %s %d (forecast %q %v), want %s %d with the forecast", s.Action, s.Count, s.ForecastMethod, s.ForecastNodes, tc.wantAction, tc.wantCount)
			}
		})
	}

	// The shipped predictive policy, raised by a calendar event of 9
	// nodes, in a fleet of at most 5.
	sale := decision.Event{Name: "sale", Start: now.Add(time.Minute), End: now.Add(time.Hour), Nodes: 9}
	p, err := decision.Shipped(decision.ShippedConfig{Name: decision.PolicyReactive, Forecast: decision.ForecastShadow, Lead: 15 * time.Minute, Calendar: []decision.Event{sale}})
	if err != nil {
		t.Fatal(err)
	}
	d := p.Decide(autoscaler.PolicyInput{Now: now, ReadyNodes: 3, MinNodes: 2, MaxNodes: 5,
		Snapshot: autoscaler.Snapshot{Time: now, CPU: autoscaler.Value(50, now), Memory: autoscaler.Value(50, now), PendingPods: autoscaler.Value(0, now),
			Scheduler: view(25, 0)}})
	if s := d.Shadow; s == nil || s.Action != autoscaler.ScaleUp || s.Count != 2 {
		t.Errorf("forecast-only decision %+v, want a scale-up of 2 to MaxNodes", s)
	}
}
