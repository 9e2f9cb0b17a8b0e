package daemon

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	testingclock "k8s.io/utils/clock/testing"
)

var batchStart = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// batchRig runs a batcher on a fake clock and records when it ticks, as
// offsets from batchStart.
type batchRig struct {
	t     *testing.T
	clk   *testingclock.FakeClock
	b     *batcher
	mu    sync.Mutex
	ticks []time.Duration
	// during, when set, runs inside the tick (which it may lengthen by
	// stepping the clock).
	during func(n int)
}

func newBatchRig(t *testing.T, interval time.Duration, jitter func(time.Duration) time.Duration) *batchRig {
	r := &batchRig{t: t, clk: testingclock.NewFakeClock(batchStart)}
	r.b = newBatcher(r.clk, interval, time.Second, 10*time.Second, jitter, func(context.Context) {
		r.mu.Lock()
		r.ticks = append(r.ticks, r.clk.Since(batchStart))
		n, during := len(r.ticks), r.during
		r.mu.Unlock()
		if during != nil {
			during(n)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
	r.settle()
	return r
}

// settle waits until the batcher waits for its next tick on a timer that
// has not fired.
func (r *batchRig) settle() {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !r.b.idleNow() || !r.clk.HasWaiters() {
		if time.Now().After(deadline) {
			r.t.Fatal("the batcher never settled")
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// advance moves the clock by d in steps of 100ms, letting the batcher act
// after each.
func (r *batchRig) advance(d time.Duration) {
	r.t.Helper()
	for ; d > 0; d -= 100 * time.Millisecond {
		r.clk.Step(100 * time.Millisecond)
		r.settle()
	}
}

func (r *batchRig) trigger() {
	r.t.Helper()
	r.b.Trigger()
	r.settle()
}

func (r *batchRig) got() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.ticks...)
}

func ms(v ...int) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

func TestBatchTicksOnceThePodsStopComingForTheIdleDuration(t *testing.T) {
	r := newBatchRig(t, time.Hour, nil)
	r.trigger()                       // 0s
	r.advance(500 * time.Millisecond) // 0.5s
	r.trigger()                       // 0.5s
	r.advance(700 * time.Millisecond) // 1.2s
	r.trigger()                       // 1.2s: the batch now ends at 2.2s
	r.advance(5 * time.Second)
	if diff := cmp.Diff(ms(0, 2200), r.got()); diff != "" {
		t.Errorf("ticks (-want +got):\n%s", diff)
	}
}

func TestBatchTicksAtTheMaxDurationUnderASteadyTrickle(t *testing.T) {
	r := newBatchRig(t, time.Hour, nil)
	for range 60 { // a pod every 0.5s for 30s
		r.trigger()
		r.advance(500 * time.Millisecond)
	}
	r.advance(3 * time.Second)
	// A tick 10s after each batch's first pod: the pods never stop for
	// the idle second, yet a tick comes every 10s (the pod of 10s comes
	// just after the tick of 10s and opens the next batch).
	if diff := cmp.Diff(ms(0, 10000, 20000, 30000), r.got()); diff != "" {
		t.Errorf("ticks (-want +got):\n%s", diff)
	}
}

func TestNoUnschedulablePodIsDroppedBetweenTicks(t *testing.T) {
	r := newBatchRig(t, time.Hour, nil)
	// One pod every 2s: each is followed by its own tick 1s later (a
	// minimum gap between ticks would drop the later ones until the
	// periodic tick, an hour away here).
	for range 4 {
		r.trigger()
		r.advance(2 * time.Second)
	}
	if diff := cmp.Diff(ms(0, 1000, 3000, 5000, 7000), r.got()); diff != "" {
		t.Errorf("ticks (-want +got):\n%s", diff)
	}
}

func TestAPodThatComesDuringATickCausesExactlyOneMoreTick(t *testing.T) {
	r := newBatchRig(t, time.Hour, nil)
	r.mu.Lock()
	r.during = func(n int) {
		if n == 2 { // the batch's tick takes 3s; a pod comes 1s into it
			r.clk.Step(time.Second)
			r.b.Trigger()
			r.clk.Step(2 * time.Second)
		}
	}
	r.mu.Unlock()
	r.trigger()
	r.advance(20 * time.Second)
	// The tick at 1s ends at 4s; the pod of 2s opened a batch whose idle
	// second is over when the tick ends: one more tick at once, no other.
	if diff := cmp.Diff(ms(0, 1000, 4000), r.got()); diff != "" {
		t.Errorf("ticks (-want +got):\n%s", diff)
	}
}

func TestPeriodicTicksWithoutPods(t *testing.T) {
	r := newBatchRig(t, 5*time.Second, nil)
	r.advance(16 * time.Second)
	if diff := cmp.Diff(ms(0, 5000, 10000, 15000), r.got()); diff != "" {
		t.Errorf("ticks (-want +got):\n%s", diff)
	}
}

func TestReplicasStartedTogetherDoNotTickInPhase(t *testing.T) {
	interval := 5 * time.Second
	jitter := func(seed uint64) func(time.Duration) time.Duration {
		rng := rand.New(rand.NewPCG(seed, seed))
		return func(d time.Duration) time.Duration { return time.Duration(rng.Int64N(int64(d))) }
	}
	a := newBatchRig(t, interval, jitter(1))
	b := newBatchRig(t, interval, jitter(2))
	for range 200 { // 20s on both clocks
		a.advance(100 * time.Millisecond)
		b.advance(100 * time.Millisecond)
	}
	ta, tb := a.got(), b.got()
	if len(ta) < 4 || len(tb) < 4 {
		t.Fatalf("too few ticks in 20s at a 5s interval: %v and %v", ta, tb)
	}
	same := 0
	for i := 1; i < min(len(ta), len(tb)); i++ {
		if ta[i] == tb[i] {
			same++
		}
	}
	if same == min(len(ta), len(tb))-1 {
		t.Errorf("two replicas started together tick in phase: %v and %v", ta, tb)
	}
	for _, ticks := range [][]time.Duration{ta, tb} {
		for i := 1; i < len(ticks); i++ {
			if gap := ticks[i] - ticks[i-1]; gap < interval || gap > interval+interval/10+100*time.Millisecond {
				t.Errorf("periodic ticks %v apart, want %v plus at most a tenth: %v", gap, interval, ticks)
			}
		}
	}
}
