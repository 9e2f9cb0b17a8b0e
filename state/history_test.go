package state

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/node-fleet/node-fleet/autoscaler"
)

func TestHistoryBounds(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var h []autoscaler.Record
	for i := range 100 {
		h = append(h, autoscaler.Record{Time: t0.Add(time.Duration(i) * time.Minute), CPU: float64(i), Memory: math.NaN(), PendingPods: 1, Action: autoscaler.Hold})
	}
	one, err := encodeHistory(h[50:51], 10, 1000)
	if err != nil {
		t.Fatal(err)
	}
	per := len(one) - 2 // bytes of one record (the newest records all encode to this length)
	for _, tc := range []struct {
		name         string
		limit, bytes int
		wantFirst    int // index in h of the oldest record kept
	}{
		{"count limit", 10, 1 << 20, 90},
		{"byte limit", 1000, 1 + 5*(per+1), 95},
		{"both, bytes tighter", 10, 1 + 3*(per+1), 97},
		{"no room", 10, 1, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := encodeHistory(h, tc.limit, tc.bytes)
			if err != nil {
				t.Fatal(err)
			}
			if len(s) > max(tc.bytes, 2) {
				t.Errorf("encoded %d bytes, limit %d", len(s), tc.bytes)
			}
			got, err := decodeHistory(s)
			if err != nil {
				t.Fatal(err)
			}
			want := h[tc.wantFirst:]
			if len(want) == 0 {
				want = nil
			}
			if diff := cmp.Diff(want, got, cmpopts.EquateNaNs()); diff != "" {
				t.Errorf("kept records (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHistoryKeepsMissingReadingsMissing(t *testing.T) {
	in := []autoscaler.Record{{CPU: math.NaN(), Memory: math.Inf(1), PendingPods: 0, Custom: map[string]float64{"q": math.NaN(), "r": 0}}}
	s, err := encodeHistory(in, 10, 1000)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeHistory(s)
	if err != nil {
		t.Fatal(err)
	}
	// A zero reading stays zero; a missing one (NaN, and Inf, which JSON
	// cannot carry) comes back missing, never as 0.
	r := got[0]
	if !math.IsNaN(r.CPU) || !math.IsNaN(r.Memory) || r.PendingPods != 0 || !math.IsNaN(r.Custom["q"]) || r.Custom["r"] != 0 {
		t.Errorf("decoded %+v", r)
	}
}

// A dry-run tick's record keeps its mark and its would-be steps through
// the store, so that `nodefleet history` can show them.
func TestHistoryKeepsDryRunRecords(t *testing.T) {
	in := []autoscaler.Record{
		{Time: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), CPU: 10, Memory: 20, PendingPods: 3, Action: autoscaler.Hold,
			DryRun: true, Would: []string{"launch 3", "terminate-ghost i-0abc"}},
		{Time: time.Date(2026, 3, 1, 0, 2, 0, 0, time.UTC), CPU: 10, Memory: 20, PendingPods: 0, Action: autoscaler.ScaleUp, Count: 1},
	}
	s, err := encodeHistory(in, 10, 10000)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeHistory(s)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, got); diff != "" {
		t.Errorf("decoded history (-want +got):\n%s", diff)
	}
}
