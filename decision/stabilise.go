package decision

import (
	"math"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// DefaultScaleDownWindow is the reactive and threshold policies' default
// scale-down stabilisation window: the time over which a removed node
// must not be needed. Two lead times (14 minutes), the predictive
// policy's default too, one rule for every shipped policy: a node removed
// and needed again leaves demand unserved for a boot, so the fleet keeps
// what a dip shorter than twice that time would need again. Longer than
// cluster-autoscaler's default --scale-down-unneeded-time (a node
// unneeded for 10 minutes) and the HorizontalPodAutoscaler's scale-down
// stabilisation (5 minutes, for pods that start in seconds: a node takes
// minutes); with 10 minutes, 5.9-7.2% of the threshold and reactive
// policies' scale-downs on a bursty trace were followed by a scale-up
// within 10 minutes (docs/benchmarks.md).
const DefaultScaleDownWindow = 2 * DefaultLead

// riseQuantile is how much a series of the history may rise within span:
// the 1-DefaultTarget quantile, in the split-conformal way, of the rise
// after each record with span of history after it (the highest value
// within span after it less its own, 0 when it only fell). value reads a
// record (NaN when missing). It reads the history since its clock last
// stepped back (sinceClockStep). 0 with fewer than minScored such
// records: without a history to learn from, nothing is kept back.
func riseQuantile(history []autoscaler.Record, value func(autoscaler.Record) float64, span time.Duration) float64 {
	s := seriesBy(sinceClockStep(history), value)
	sp := int64(span / time.Second)
	var rises []float64
	for i := range s.t {
		if s.t[len(s.t)-1] < s.t[i]+sp {
			break // the rest have less than span after them
		}
		high := s.v[i]
		for k := i + 1; k < len(s.t) && s.t[k] <= s.t[i]+sp; k++ {
			high = math.Max(high, s.v[k])
		}
		rises = append(rises, high-s.v[i])
	}
	if len(rises) < minScored {
		return 0
	}
	return math.Max(0, conformalQuantile(rises, 1-DefaultTarget))
}

// sinceClockStep is the history since its clock last stepped back by
// more than clockSlack: the newest records whose times do not fall by
// more than that from one to the next. The records before such a step
// were stamped by a clock that ran ahead; in time order they would
// interleave with the ones since, and every record since would seem to
// rise (or fall) to an older one stamped later. A smaller step (ticks
// from two runners whose clocks differ by a little) is read in time
// order.
func sinceClockStep(history []autoscaler.Record) []autoscaler.Record {
	k := len(history) - 1
	for k > 0 && history[k-1].Time.Sub(history[k].Time) <= clockSlack {
		k--
	}
	return history[max(k, 0):]
}

// clockSlack is the largest step back of the history's clock that
// sinceClockStep reads past.
const clockSlack = time.Minute

// mostNeeded is the most nodes the recorded demand needed (with
// headroom) over window before now; 0 when none is recorded. It reads
// the history since its clock last stepped back (sinceClockStep).
func mostNeeded(now time.Time, history []autoscaler.Record, window time.Duration, headroom float64) int {
	history = sinceClockStep(history)
	need := 0
	from := now.Add(-window)
	for i := len(history) - 1; i >= 0 && !history[i].Time.Before(from); i-- {
		if d := history[i].Demand(); !math.IsNaN(d) {
			need = max(need, nodesFor(d*(1+headroom)))
		}
	}
	return need
}

// cpuLoad is a record's CPU load in nodes' worth: its average CPU
// utilisation times its Ready nodes; NaN when either is missing, or the
// reading is nonsense (outside 0-105%, as autoscaler.Snapshot.Problems
// judges it: a tick in safety mode records it as read), which is no load
// to learn a rise from.
func cpuLoad(r autoscaler.Record) float64 {
	if math.IsNaN(r.CPU) || r.CPU < 0 || r.CPU > 105 || r.Nodes <= 0 {
		return math.NaN()
	}
	return r.CPU / 100 * float64(r.Nodes)
}
