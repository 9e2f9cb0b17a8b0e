package fake_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	testclock "k8s.io/utils/clock/testing"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
)

func TestStatic(t *testing.T) {
	then := t0.Add(-time.Hour)
	base := autoscaler.Snapshot{
		Time: then, CPU: autoscaler.Value(80, then), PendingPods: autoscaler.Value(2, then),
		Custom: map[string]autoscaler.Metric{"queue": autoscaler.Value(10, then), "gone": autoscaler.Missing(nil)},
	}
	t.Run("as is", func(t *testing.T) {
		s := &fake.Static{Snapshot: base}
		got, err := s.Collect(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(base, got, cmp.Comparer(func(a, b error) bool { return (a == nil) == (b == nil) })); d != "" {
			t.Errorf("snapshot (-want +got):\n%s", d)
		}
		got.Custom["queue"] = autoscaler.Value(99, t0)
		if again, _ := s.Collect(context.Background()); again.Custom["queue"].Value != 10 {
			t.Error("changing a returned snapshot changed the source")
		}
	})
	t.Run("restamped", func(t *testing.T) {
		clk := testclock.NewFakeClock(t0)
		s := &fake.Static{Snapshot: base, Clock: clk}
		got, err := s.Collect(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !got.Time.Equal(t0) || !got.CPU.At.Equal(t0) || !got.Custom["queue"].At.Equal(t0) {
			t.Errorf("not restamped: %+v", got)
		}
		if got.Memory.OK || got.Custom["gone"].OK || !got.Memory.At.IsZero() {
			t.Errorf("missing readings must stay missing: %+v %+v", got.Memory, got.Custom["gone"])
		}
		if probs := got.Problems(t0, time.Minute); len(probs) != 1 {
			t.Errorf("Problems = %q, want only memory", probs)
		}
	})
	t.Run("context done", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := (&fake.Static{Snapshot: base}).Collect(ctx); err == nil {
			t.Error("Collect with a cancelled ctx succeeded")
		}
	})
}
