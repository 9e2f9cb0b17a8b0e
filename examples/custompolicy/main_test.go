package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/node-fleet/node-fleet/autoscaler"
)

func TestQueuePolicy(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	q := QueuePolicy{Metric: "queue_depth", PerNode: 500}
	in := func(depth float64, ok bool, ready int) autoscaler.PolicyInput {
		m := autoscaler.Missing(autoscaler.ErrNoData)
		if ok {
			m = autoscaler.Value(depth, now)
		}
		return autoscaler.PolicyInput{ReadyNodes: ready, Snapshot: autoscaler.Snapshot{Custom: map[string]autoscaler.Metric{"queue_depth": m}}}
	}
	tests := []struct {
		name string
		in   autoscaler.PolicyInput
		want autoscaler.Action
		n    int
	}{
		{"missing holds", in(0, false, 5), autoscaler.Hold, 0},
		{"needs more", in(2600, true, 2), autoscaler.ScaleUp, 4},
		{"fits", in(1000, true, 2), autoscaler.Hold, 0},
		{"one spare is kept", in(500, true, 2), autoscaler.Hold, 0},
		{"too many", in(300, true, 4), autoscaler.ScaleDown, 1},
	}
	for _, tt := range tests {
		d := q.Decide(tt.in)
		if diff := cmp.Diff([]any{tt.want, tt.n}, []any{d.Action, d.Count}); diff != "" {
			t.Errorf("%s: %v (-want +got):\n%s", tt.name, d, diff)
		}
	}
}

func TestRunScalesOnTheQueue(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if !strings.Contains(s, "scaled_up: scaled up 4: queue: queue_depth 2600 needs 6 nodes") {
		t.Errorf("no queue-driven scale-up:\n%s", s)
	}
	if !strings.Contains(s, "scaled_down") {
		t.Errorf("no scale-down once the queue drained:\n%s", s)
	}
}
