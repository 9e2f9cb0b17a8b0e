package fake

import (
	"context"
	"sync"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// Metrics is an in-memory MetricSource that returns the snapshot it was
// last given, or the one Func computes.
type Metrics struct {
	recorder
	mu   sync.Mutex
	snap autoscaler.Snapshot
	// Func, when set, computes each snapshot instead (the simulator's
	// cluster model). It is called without any lock held.
	Func func(ctx context.Context) (autoscaler.Snapshot, error)
}

// Set makes Collect return s from now on.
func (m *Metrics) Set(s autoscaler.Snapshot) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.snap = s
}

// Collect returns an injected error, else Func's snapshot, else the last
// one Set. Method for FailNext: Collect.
func (m *Metrics) Collect(ctx context.Context) (autoscaler.Snapshot, error) {
	if err := m.record(Collect); err != nil {
		return autoscaler.Snapshot{}, err
	}
	if err := ctx.Err(); err != nil {
		return autoscaler.Snapshot{}, err
	}
	if m.Func != nil {
		return m.Func(ctx)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.snap, nil
}

// Notifier records the events it is sent.
type Notifier struct {
	recorder
	mu     sync.Mutex
	events []autoscaler.Event
}

// Notify records ev. Method for FailNext: Notify (the event is
// still recorded as attempted in Calls, not in Events).
func (n *Notifier) Notify(ctx context.Context, ev autoscaler.Event) error {
	if err := n.record(Notify, ev.Kind); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.events = append(n.events, ev)
	return nil
}

// Events returns the events notified so far.
func (n *Notifier) Events() []autoscaler.Event {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]autoscaler.Event(nil), n.events...)
}

// Kinds returns the kinds of the events notified so far, in order.
func (n *Notifier) Kinds() []autoscaler.EventKind {
	var out []autoscaler.EventKind
	for _, e := range n.Events() {
		out = append(out, e.Kind)
	}
	return out
}

// Publisher records the results it is given.
type Publisher struct {
	recorder
	mu      sync.Mutex
	results []autoscaler.Result
}

// Publish records r. Method for FailNext: Publish.
func (p *Publisher) Publish(ctx context.Context, r autoscaler.Result) error {
	if err := p.record(Publish, r.Outcome); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.results = append(p.results, r)
	return nil
}

// Results returns the results published so far.
func (p *Publisher) Results() []autoscaler.Result {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]autoscaler.Result(nil), p.results...)
}
