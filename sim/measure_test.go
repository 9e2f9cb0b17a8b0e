package sim

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/node-fleet/node-fleet/autoscaler"
)

func hold() autoscaler.Policy {
	return autoscaler.PolicyFunc(func(autoscaler.PolicyInput) autoscaler.Decision { return autoscaler.HoldBecause("hold") })
}

func TestMeasureRefusesWhatItCannotRun(t *testing.T) {
	day := BuiltinDay()
	for _, tt := range []struct {
		name   string
		d      Demand
		policy autoscaler.Policy
		want   string
	}{
		{"no policy", day, nil, "needs a policy"},
		{"empty demand names its source", Demand{Name: "my.csv", Start: day.Start, Step: time.Minute}, hold(), "my.csv: sim: Demand is empty"},
		{"more than the model holds", Demand{Start: day.Start, Step: time.Minute, Units: []float64{10, 1e8}}, hold(),
			"sim: Demand[1] is 1e+08 units, 10000000 nodes of PodsPerNode 10; the model holds at most 10000 (MaxModelNodes)"},
	} {
		_, err := Measure(context.Background(), tt.d, tt.policy, Config{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
}

// A zero Config is the default setup: ten units a node, and MaxNodes
// twice the peak's nodes, so a holding policy is billed its initial fleet.
func TestMeasureFillsTheDefaults(t *testing.T) {
	d := Demand{Name: "flat", Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Step: time.Minute, Units: make([]float64, 60)}
	for i := range d.Units {
		d.Units[i] = 35
	}
	m := IdealModel()
	rep, err := Measure(context.Background(), d, hold(), Config{Model: &m})
	if err != nil {
		t.Fatal(err)
	}
	got := []any{rep.StaticNodes, DefaultMaxNodes(d.Peak(), DefaultPodsPerNode), rep.Ticks}
	if diff := cmp.Diff([]any{4, 10, 30}, got); diff != "" {
		t.Errorf("static nodes, max nodes, ticks (-want +got):\n%s", diff)
	}
	if got, want := DefaultMaxNodes(120, 10), 24; got != want {
		t.Errorf("DefaultMaxNodes(120, 10) = %d, want %d", got, want)
	}
}

// Measure's default MaxNodes is what the policy is told: twice the peak's
// nodes, at least 10, and never below the MinNodes the caller set.
func TestMeasureDefaultMaxNodesIsTwiceThePeaksNodesAndAtLeastMinNodes(t *testing.T) {
	flat := func(units float64) Demand {
		d := Demand{Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Step: time.Minute, Units: make([]float64, 10)}
		for i := range d.Units {
			d.Units[i] = units
		}
		return d
	}
	for _, tt := range []struct {
		name     string
		d        Demand
		minNodes int
		want     int
	}{
		{"small peak", flat(35), 0, 10},
		{"large peak", flat(120), 0, 24},
		{"MinNodes above the default", flat(35), 15, 15},
	} {
		var told []int
		policy := autoscaler.PolicyFunc(func(in autoscaler.PolicyInput) autoscaler.Decision {
			told = append(told, in.MaxNodes)
			return autoscaler.HoldBecause("hold")
		})
		m := IdealModel()
		_, err := Measure(context.Background(), tt.d, policy, Config{Model: &m, Autoscaler: autoscaler.Config{MinNodes: tt.minNodes}})
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if len(told) == 0 || told[0] != tt.want {
			t.Errorf("%s: the policy was told MaxNodes %v, want %d", tt.name, told, tt.want)
		}
	}
}
