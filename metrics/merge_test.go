package metrics

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	testclock "k8s.io/utils/clock/testing"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
)

// source adapts a function to a MetricSource.
type source func(ctx context.Context) (autoscaler.Snapshot, error)

func (f source) Collect(ctx context.Context) (autoscaler.Snapshot, error) { return f(ctx) }

// failing is a source that always fails with err.
func failing(err error) autoscaler.MetricSource {
	return source(func(context.Context) (autoscaler.Snapshot, error) { return autoscaler.Snapshot{}, err })
}

var (
	mt0       = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	errDown   = errors.New("connection refused")
	standard  = autoscaler.Snapshot{Time: mt0, CPU: autoscaler.Value(10, mt0), Memory: autoscaler.Value(20, mt0), PendingPods: autoscaler.Value(0, mt0), CPUNodes: autoscaler.Value(3, mt0)}
	queueOnly = autoscaler.Snapshot{Time: mt0.Add(time.Second), Custom: map[string]autoscaler.Metric{"queue": autoscaler.Value(12, mt0)}}
)

// TestMergeTakesTheFirstPresentReadingCoreFirst: the extras fill what core
// left missing and never replace what it read; CPUNodes goes with the CPU
// reading it belongs to.
func TestMergeTakesTheFirstPresentReadingCoreFirst(t *testing.T) {
	noCPU := standard
	noCPU.CPU, noCPU.CPUNodes = autoscaler.Missing(errDown), autoscaler.Metric{}
	noCPU.Custom = map[string]autoscaler.Metric{"queue": autoscaler.Missing(nil), "rate": autoscaler.Value(5, mt0)}
	other := autoscaler.Snapshot{CPU: autoscaler.Value(70, mt0), CPUNodes: autoscaler.Value(2, mt0), Memory: autoscaler.Value(99, mt0),
		Custom: map[string]autoscaler.Metric{"queue": autoscaler.Value(12, mt0), "rate": autoscaler.Value(50, mt0)}}
	tests := []struct {
		name  string
		core  autoscaler.Snapshot
		extra []autoscaler.Snapshot
		want  autoscaler.Snapshot
	}{
		{name: "custom added to the standard", core: standard, extra: []autoscaler.Snapshot{queueOnly},
			want: autoscaler.Snapshot{Time: mt0, CPU: standard.CPU, Memory: standard.Memory, PendingPods: standard.PendingPods, CPUNodes: standard.CPUNodes,
				Custom: queueOnly.Custom}},
		{name: "an extra fills only what core lacks", core: noCPU, extra: []autoscaler.Snapshot{other},
			want: autoscaler.Snapshot{Time: mt0, CPU: other.CPU, CPUNodes: other.CPUNodes, Memory: standard.Memory, PendingPods: standard.PendingPods,
				Custom: map[string]autoscaler.Metric{"queue": autoscaler.Value(12, mt0), "rate": autoscaler.Value(5, mt0)}}},
		{name: "the earlier extra wins", core: autoscaler.Snapshot{}, extra: []autoscaler.Snapshot{queueOnly, other},
			want: autoscaler.Snapshot{Time: queueOnly.Time, CPU: other.CPU, CPUNodes: other.CPUNodes, Memory: other.Memory,
				Custom: map[string]autoscaler.Metric{"queue": autoscaler.Value(12, mt0), "rate": autoscaler.Value(50, mt0)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var extra []autoscaler.MetricSource
			for _, s := range tt.extra {
				extra = append(extra, &fake.Static{Snapshot: s})
			}
			got, err := Merge(&fake.Static{Snapshot: tt.core}, extra...).Collect(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got, cmpopts.EquateErrors()); d != "" {
				t.Errorf("merged (-want +got):\n%s", d)
			}
		})
	}
}

// TestMergeKeepsWhatIsKnownWhenASourceFails: a failed extra is named in
// Failed (a problem: no scale-down) and the rest is kept; a failed core
// leaves the core readings missing with its error and keeps the extras';
// only when every source fails is there an error.
func TestMergeKeepsWhatIsKnownWhenASourceFails(t *testing.T) {
	ctx := context.Background()
	got, err := Merge(&fake.Static{Snapshot: standard}, failing(errDown)).Collect(ctx)
	if err != nil || !got.CPU.OK || len(got.Failed) != 1 {
		t.Errorf("extra failed: %+v, %v; want the standard readings and one failed source", got, err)
	}
	if probs := got.Problems(mt0, time.Minute); len(probs) != 1 {
		t.Errorf("Problems = %q, want only the failed source", probs)
	}
	got, err = Merge(failing(errDown), &fake.Static{Snapshot: queueOnly}).Collect(ctx)
	if err != nil || got.CPU.OK || !errors.Is(got.CPU.Err, autoscaler.ErrNoData) || !errors.Is(got.CPU.Err, errDown) || !got.Custom["queue"].OK {
		t.Errorf("core failed: %+v, %v; want core missing (ErrNoData and its error) and the queue", got, err)
	}
	if _, err := Merge(failing(errDown), failing(errors.New("timeout"))).Collect(ctx); !errors.Is(err, errDown) {
		t.Errorf("every source failed: error %v, want one wrapping each", err)
	}
}

// shortQueue is a policy that wants to remove a node whenever the queue
// metric is below 20, or missing (a careless policy: missing is not zero).
var shortQueue = autoscaler.PolicyFunc(func(in autoscaler.PolicyInput) autoscaler.Decision {
	if q := in.Snapshot.Custom["queue"]; !q.OK || q.Value < 20 {
		return autoscaler.Decision{Action: autoscaler.ScaleDown, Count: 1, Reason: "short queue", Level: autoscaler.LevelLowLoad}
	}
	return autoscaler.HoldBecause("long queue")
})

// tickOn runs one tick at mt0 with the shortQueue policy.
func tickOn(t *testing.T, src autoscaler.MetricSource) (autoscaler.Result, int) {
	t.Helper()
	return tickAt(t, mt0, src, shortQueue)
}

// TestMergedCustomSourceCanScaleDown: a source that only reads a custom
// metric never scales down alone (safety mode); merged with the standard
// source its policy does; and when it fails, the merged source holds in
// safety mode instead of scaling down.
func TestMergedCustomSourceCanScaleDown(t *testing.T) {
	clk := testclock.NewFakeClock(mt0)
	custom := &fake.Static{Snapshot: queueOnly, Clock: clk}
	core := &fake.Static{Snapshot: standard, Clock: clk}
	if res, n := tickOn(t, custom); !res.SafetyMode || n != 0 {
		t.Errorf("custom alone: safety %v, %d terminated (%s); want safety mode and none", res.SafetyMode, n, res.Reason)
	}
	if res, n := tickOn(t, Merge(core, custom)); res.SafetyMode || res.Outcome != autoscaler.OutcomeScaledDown || n != 1 {
		t.Errorf("merged: safety %v %q, outcome %s, %d terminated; want a scale-down of 1", res.SafetyMode, res.SafetyReasons, res.Outcome, n)
	}
	stale := source(func(context.Context) (autoscaler.Snapshot, error) { return queueOnly, errDown })
	if res, n := tickOn(t, Merge(core, stale)); !res.SafetyMode || n != 0 {
		t.Errorf("custom failed: safety %v, %d terminated; want safety mode and none", res.SafetyMode, n)
	}
}

// TestMergeWithFailedCoreNeverScalesDown: when the core source fails, the
// snapshot names it as failed, so that no scale-down follows even when an
// extra happens to read every core metric (a policy may read a metric
// only core provides).
func TestMergeWithFailedCoreNeverScalesDown(t *testing.T) {
	full := &fake.Static{Snapshot: standard}
	got, err := Merge(failing(errDown), full).Collect(context.Background())
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	if !got.CPU.OK || len(got.Failed) != 1 {
		t.Errorf("core failed: CPU %v, Failed %q; want the extra's CPU and the core named as failed", got.CPU, got.Failed)
	}
	if probs := got.Problems(mt0, time.Minute); len(probs) == 0 {
		t.Errorf("core failed and an extra read every core metric: no problem, a scale-down may follow; want the failed core named")
	}
	clk := testclock.NewFakeClock(mt0)
	if res, n := tickOn(t, Merge(failing(errDown), &fake.Static{Snapshot: standard, Clock: clk})); !res.SafetyMode || n != 0 {
		t.Errorf("core failed: safety %v, %d terminated (%s); want safety mode and none", res.SafetyMode, n, res.Reason)
	}
}

// TestMergeSkipsNilSources: a nil source among the extras (an optional
// source left unset) is no source, not a panic in the tick.
func TestMergeSkipsNilSources(t *testing.T) {
	got, err := Merge(&fake.Static{Snapshot: standard}, nil).Collect(context.Background())
	if err != nil || !got.CPU.OK || len(got.Failed) != 0 {
		t.Errorf("nil extra: %+v, %v; want the core's readings and nothing failed", got, err)
	}
}

// TestMergeKeepsTheFailedSourcesOfItsSources: a source whose snapshot
// already names a failed source (a Merge inside a Merge, a composite
// source of your own) keeps naming it in the merged snapshot, so that the
// failure still holds every scale-down.
func TestMergeKeepsTheFailedSourcesOfItsSources(t *testing.T) {
	ctx := context.Background()
	inner := Merge(&fake.Static{Snapshot: standard}, failing(errDown))
	got, err := Merge(inner, &fake.Static{Snapshot: queueOnly}).Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Failed) != 1 || got.Problems(mt0, time.Minute) == nil {
		t.Errorf("Failed = %q: the inner failed extra was dropped, a scale-down may follow", got.Failed)
	}
	got, err = Merge(&fake.Static{Snapshot: standard}, inner).Collect(ctx)
	if err != nil || len(got.Failed) != 1 {
		t.Errorf("as an extra: Failed = %q, %v; want the inner failed extra", got.Failed, err)
	}
}

// TestMergeDoesNotWaitPastItsContextForASourceThatIgnoresIt: a source of
// your own that ignores ctx and never answers does not hang the tick past
// its deadline: Collect returns when ctx is done, with what the others
// read and the silent source named as failed (no scale-down).
func TestMergeDoesNotWaitPastItsContextForASourceThatIgnoresIt(t *testing.T) {
	stuck := make(chan struct{})
	defer close(stuck)
	deaf := source(func(context.Context) (autoscaler.Snapshot, error) {
		<-stuck
		return queueOnly, nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	done := make(chan struct{})
	var got autoscaler.Snapshot
	var err error
	go func() {
		got, err = Merge(&fake.Static{Snapshot: standard}, deaf).Collect(ctx)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Collect still waiting for a source 5 s after its context ended")
	}
	if err != nil || !got.CPU.OK || len(got.Failed) != 1 || !strings.Contains(got.Failed[0], context.DeadlineExceeded.Error()) {
		t.Errorf("got %+v, %v; want the core's readings and the silent source failed with the deadline", got, err)
	}
}
