package metrics

import (
	"context"
	"errors"
	"fmt"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// Merge returns a MetricSource whose snapshot is core's completed by the
// extra sources: the standard source (Prometheus, with the Kubernetes
// API's view) as core, and a source of your own, such as one that reads
// only a queue's depth into Snapshot.Custom, as an extra. A custom source
// alone can never scale down (its snapshot lacks the core readings, see
// autoscaler.MetricSource); merged with the standard one it can.
//
// Every source is collected at once, each with ctx; a source that has not
// answered when ctx is done counts as failed (a source of your own that
// ignores ctx cannot hold the tick past its deadline). Then, metric by
// metric, the first present reading wins, in the order core, extra[0],
// extra[1], ...: an extra never replaces a reading of core, it only fills
// what core (or an earlier extra) left missing. This holds for CPU
// (CPUNodes going with it, from the same source), Memory, PendingPods,
// APILatency, each name of Custom, and the scheduler's view (the first
// non-nil). A metric present nowhere stays missing, with the first
// source's error. Time is core's, else the first extra's that answered.
//
// Errors, which never turn into a scale-down:
//
//   - An extra that fails contributes nothing, and its error is named in
//     Snapshot.Failed: the snapshot is then not trusted for a scale-down
//     (Snapshot.Problems, safety mode), since a policy may be reading a
//     metric of that source that is now simply absent. Scale-up on what
//     the other sources read goes on.
//   - When core fails, its readings are missing (their Err wraps
//     autoscaler.ErrNoData and core's error), it is named in
//     Snapshot.Failed too, and the extras' readings are kept: safety mode,
//     with the extras' evidence for a scale-up, even when an extra reads
//     every core metric. A nil core is a core that fails.
//   - A source whose snapshot names failed sources itself
//     (Snapshot.Failed, such as a Merge given to Merge) passes them on.
//   - Only when every source fails does Collect return an error (all of
//     them, joined), as the MetricSource contract asks.
//
// A nil extra is left out.
func Merge(core autoscaler.MetricSource, extra ...autoscaler.MetricSource) autoscaler.MetricSource {
	m := &merged{sources: []autoscaler.MetricSource{core}}
	for _, x := range extra {
		if x != nil {
			m.sources = append(m.sources, x)
		}
	}
	return m
}

// errNoCore is the failure of a nil core source.
var errNoCore = errors.New("no core metric source (nil)")

// merged is the MetricSource Merge returns.
type merged struct {
	sources []autoscaler.MetricSource // core first
}

// collected is one source's answer.
type collected struct {
	snap autoscaler.Snapshot
	err  error
}

// Collect collects every source concurrently and merges their snapshots
// as Merge says. It waits for no source past ctx: one that has not
// answered when ctx is done counts as failed with ctx's error.
func (m *merged) Collect(ctx context.Context) (autoscaler.Snapshot, error) {
	got := m.collect(ctx)
	var errs []error
	for _, c := range got {
		if c.err != nil {
			errs = append(errs, c.err)
		}
	}
	if len(errs) == len(got) {
		return autoscaler.Snapshot{}, fmt.Errorf("every metric source failed: %w", errors.Join(errs...))
	}
	return mergeSnapshots(got), nil
}

// collect asks every source at once and returns their answers in the
// sources' order, until ctx is done.
func (m *merged) collect(ctx context.Context) []collected {
	got := make([]collected, len(m.sources))
	type answer struct {
		i int
		c collected
	}
	// Buffered: a source that answers after ctx is done does not block.
	answers := make(chan answer, len(m.sources))
	waiting := map[int]bool{}
	for i, src := range m.sources {
		if src == nil {
			got[i] = collected{err: errNoCore}
			continue
		}
		waiting[i] = true
		go func() {
			s, err := src.Collect(ctx)
			answers <- answer{i, collected{s, err}}
		}()
	}
	for len(waiting) > 0 {
		select {
		case a := <-answers:
			got[a.i] = a.c
			delete(waiting, a.i)
		case <-ctx.Done():
			for i := range waiting {
				got[i] = collected{err: fmt.Errorf("no answer: %w", ctx.Err())}
			}
			return got
		}
	}
	return got
}

// mergeSnapshots merges the answers, core first, as Merge says; at least
// one of them has no error.
func mergeSnapshots(got []collected) autoscaler.Snapshot {
	var ok []autoscaler.Snapshot
	var out autoscaler.Snapshot
	for i, c := range got {
		switch {
		case c.err == nil:
			ok = append(ok, c.snap)
		case i == 0:
			core := autoscaler.Missing(fmt.Errorf("%w: the core metric source failed: %w", autoscaler.ErrNoData, c.err))
			ok = append(ok, autoscaler.Snapshot{CPU: core, Memory: core, PendingPods: core, APILatency: core})
			out.Failed = append(out.Failed, fmt.Sprintf("core metric source: %v", c.err))
		default:
			out.Failed = append(out.Failed, fmt.Sprintf("extra metric source %d: %v", i, c.err))
		}
	}
	for _, s := range ok {
		// A source's own failed sources (a Merge inside a Merge) stay
		// failed: they hold every scale-down as well.
		out.Failed = append(out.Failed, s.Failed...)
		if out.Time.IsZero() {
			out.Time = s.Time
		}
		if first(&out.CPU, s.CPU) {
			out.CPUNodes = s.CPUNodes
		}
		first(&out.Memory, s.Memory)
		first(&out.PendingPods, s.PendingPods)
		first(&out.APILatency, s.APILatency)
		if out.Scheduler == nil {
			out.Scheduler = s.Scheduler
		}
		for name, m := range s.Custom {
			if out.Custom == nil {
				out.Custom = map[string]autoscaler.Metric{}
			}
			have, seen := out.Custom[name]
			if !seen || (!have.OK && m.OK) {
				out.Custom[name] = m
			}
		}
	}
	return out
}

// first puts m into *dst when *dst has no reading yet and m has one, or
// when *dst is still the zero Metric (so that the first source's error is
// kept for a metric present nowhere). It reports whether m was taken.
func first(dst *autoscaler.Metric, m autoscaler.Metric) bool {
	if dst.OK || (dst.Err != nil && !m.OK) {
		return false
	}
	*dst = m
	return true
}
