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
