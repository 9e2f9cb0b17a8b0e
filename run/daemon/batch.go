package daemon

import (
	"context"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// jitterShare is the share of the tick interval by which each periodic
// tick is delayed at random, so that replicas started together drift
// apart instead of racing for the lock at the same instant every period.
const jitterShare = 0.1

// batcher decides when the daemon ticks: at once when it starts, then
// every interval (plus a random delay of up to a tenth of it), and after
// unschedulable pods, in batches. The first pod of a batch opens it; the
// batch ends, and a tick runs, once no pod has come for idle, or max after
// the first at the latest (the idea of Karpenter's provisioning batcher:
// the pods of one rollout are seen by one tick, yet a steady trickle does
// not postpone the tick for ever). A pod that comes while a tick runs opens
// the next batch, so that it causes exactly one more tick after the one in
// progress; no pod is dropped.
type batcher struct {
	clock     clock.WithTicker
	interval  time.Duration
	idle, max time.Duration
	// jitter returns a random duration in [0, d); nil: no jitter.
	jitter func(d time.Duration) time.Duration
	// tick runs one tick; it returns when the tick has ended.
	tick func(ctx context.Context)

	wake chan struct{}

	mu sync.Mutex
	// first and last are when the open batch's first and last pods
	// came; zero while no batch is open.
	first, last time.Time
	// waiting is true while Run waits for its next tick, woken once a
	// Trigger has come that Run has not yet seen (for tests).
	waiting, woken bool
}

// newBatcher returns a batcher; Trigger may be called before Run.
func newBatcher(clk clock.WithTicker, interval, idle, max time.Duration, jitter func(time.Duration) time.Duration, tick func(context.Context)) *batcher {
	return &batcher{clock: clk, interval: interval, idle: idle, max: max, jitter: jitter, tick: tick, wake: make(chan struct{}, 1)}
}

// Trigger says that a pod has become unschedulable: it opens a batch or
// extends the open one. It never blocks.
func (b *batcher) Trigger() {
	now := b.clock.Now()
	b.mu.Lock()
	if b.first.IsZero() {
		b.first = now
	}
	b.last = now
	b.woken = true
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// period is the time from the end of one tick to the next periodic one.
func (b *batcher) period() time.Duration {
	if b.jitter == nil {
		return b.interval
	}
	return b.interval + b.jitter(time.Duration(float64(b.interval)*jitterShare))
}

// due is when the next tick is due: the periodic one at next, or the open
// batch's end if that is earlier.
func (b *batcher) due(next time.Time) time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.first.IsZero() {
		return next
	}
	end := b.last.Add(b.idle)
	if limit := b.first.Add(b.max); limit.Before(end) {
		end = limit
	}
	if end.Before(next) {
		return end
	}
	return next
}

// Run ticks until ctx is done, then returns ctx's error; the tick in
// progress ends first.
func (b *batcher) Run(ctx context.Context) error {
	next := b.clock.Now()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		now := b.clock.Now()
		due := b.due(next)
		if !now.Before(due) {
			// The tick sees every pod that came before it: the batch
			// closes here, and a pod that comes while it runs opens
			// the next one.
			b.mu.Lock()
			b.first, b.last = time.Time{}, time.Time{}
			b.mu.Unlock()
			b.tick(ctx)
			next = b.clock.Now().Add(b.period())
			continue
		}
		t := b.clock.NewTimer(due.Sub(now))
		b.mu.Lock()
		b.waiting = true
		b.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-t.C():
		case <-b.wake:
		}
		b.mu.Lock()
		b.waiting, b.woken = false, false
		b.mu.Unlock()
		t.Stop()
	}
}

// idleNow reports whether Run waits for its next tick with no trigger left
// to read (for tests that step a fake clock).
func (b *batcher) idleNow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.waiting && !b.woken
}

// serialTicker runs the ticks of one process one at a time: the
// batcher's and the interruption queue's share the lock's owner, and two
// ticks under one owner would both hold the lock.
type serialTicker struct {
	mu sync.Mutex
	a  *autoscaler.Autoscaler
}

// RunOnce runs a tick once no other tick of this process runs.
func (s *serialTicker) RunOnce(ctx context.Context) (autoscaler.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.a.RunOnce(ctx)
}

// HandleInterruption handles a spot warning once no other tick of this
// process runs.
func (s *serialTicker) HandleInterruption(ctx context.Context, instanceID string, notice time.Time) (autoscaler.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.a.HandleInterruption(ctx, instanceID, notice)
}
