package decision

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/node-fleet/node-fleet/autoscaler"
)

// sawtooth is, in tenthPods, 20 (two workers' worth) for 30 minutes of
// every 40 and 38 for the other 10, counted from three hours before pt0:
// at pt0 it has been low for 20 minutes, and it usually rises by 1.8
// workers' worth within 10 minutes of a low.
func sawtooth(t time.Time) float64 {
	if int(t.Sub(pt0.Add(-3*time.Hour)).Minutes())%40 >= 30 {
		return 38
	}
	return 20
}

func TestCapacityPoliciesStabiliseTheirScaleDown(t *testing.T) {
	re, err := NewReactive(ReactiveConfig{})
	if err != nil {
		t.Fatal(err)
	}
	pr, err := NewPredictive(PredictiveConfig{})
	if err != nil {
		t.Fatal(err)
	}
	// 5 workers' worth until 6 minutes ago, 2 since.
	dropped := func(t time.Time) float64 {
		if t.Before(pt0.Add(-6 * time.Minute)) {
			return 50
		}
		return 20
	}
	for _, tt := range []struct {
		name   string
		policy autoscaler.Policy
		f      func(time.Time) float64
		action autoscaler.Action
		count  int
		reason string
	}{
		{"reactive, steady demand: down to what it needs", re, flat(20), autoscaler.ScaleDown, 3, "with its usual rise (0.00) 2"},
		{"reactive, a drop 6 minutes ago: held", re, dropped, autoscaler.Hold, 0, "the most needed over 14m0s 5"},
		{"reactive, a demand that usually rises: room kept for the rise", re, sawtooth, autoscaler.ScaleDown, 1, "with its usual rise (1.80) 4"},
		{"predictive, a demand that usually rises: room kept for the rise", pr, sawtooth, autoscaler.ScaleDown, 1, "with its usual rise (1.80) 4"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.policy.Decide(input(hist(3*time.Hour, 2*time.Minute, tt.f), 20, 5, 0))
			if diff := cmp.Diff([]any{tt.action, tt.count}, []any{d.Action, d.Count}); diff != "" {
				t.Errorf("%s (-want +got):\n%s", d, diff)
			}
			if !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("reason %q lacks %q", d.Reason, tt.reason)
			}
		})
	}
}

// The threshold policy's -1 below 30% CPU stands, unless the CPU load's
// usual rise within the window would take the nodes left above CPUHigh.
func TestThresholdScaleDownIsHeldWhenTheUsualRiseWouldCrossCPUHigh(t *testing.T) {
	load := func(cpu func(time.Time) float64) []autoscaler.Record {
		var out []autoscaler.Record
		for at := pt0.Add(-3 * time.Hour); at.Before(pt0); at = at.Add(2 * time.Minute) {
			out = append(out, autoscaler.Record{Time: at, CPU: cpu(at), Memory: 20, PendingPods: 0, Nodes: 3})
		}
		return out
	}
	for _, tt := range []struct {
		name   string
		cpu    func(time.Time) float64
		action autoscaler.Action
	}{
		// 20% of 3 nodes is 40% of 2.
		{"a steady 20%", flat(20), autoscaler.ScaleDown},
		// 20% that rises to 60% for 10 minutes of every 40: 0.6+1.2
		// nodes' worth on 2 nodes is 90%.
		{"20% that usually rises to 60%", func(t time.Time) float64 { return 3*sawtooth(t) - 40 }, autoscaler.Hold},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := autoscaler.PolicyInput{Now: pt0, ReadyNodes: 3, MinNodes: 2, MaxNodes: 40, History: load(tt.cpu),
				Snapshot: autoscaler.Snapshot{Time: pt0, CPU: autoscaler.Value(20, pt0), Memory: autoscaler.Value(20, pt0), PendingPods: autoscaler.Value(0, pt0)}}
			d := Default().Decide(in)
			if d.Action != tt.action || (d.Action == autoscaler.ScaleDown && d.Count != 1) {
				t.Errorf("%s, want %s (1 node down)", d, tt.action)
			}
		})
	}
}

// A nonsense CPU reading (outside 0-105%, which puts the tick in safety
// mode) is no load: the rises it seems to show do not hold the
// threshold policy's scale-down once the readings are sound again.
func TestThresholdScaleDownIsNotHeldByNonsenseCPUReadings(t *testing.T) {
	var history []autoscaler.Record
	for at := pt0.Add(-3 * time.Hour); at.Before(pt0); at = at.Add(2 * time.Minute) {
		r := autoscaler.Record{Time: at, CPU: 20, Memory: 20, PendingPods: 0, Nodes: 3}
		if int(at.Sub(pt0).Minutes())%20 == 0 {
			// A glitching exporter: 5000% every 20 minutes.
			r.CPU, r.Safety = 5000, true
		}
		history = append(history, r)
	}
	in := autoscaler.PolicyInput{Now: pt0, ReadyNodes: 3, MinNodes: 2, MaxNodes: 40, History: history,
		Snapshot: autoscaler.Snapshot{Time: pt0, CPU: autoscaler.Value(20, pt0), Memory: autoscaler.Value(20, pt0), PendingPods: autoscaler.Value(0, pt0)}}
	if d := Default().Decide(in); d.Action != autoscaler.ScaleDown || d.Count != 1 {
		t.Errorf("%s, want 1 node down (20%% of 3 nodes is 30%% of 2)", d)
	}
}

// A scale-down window shorter than a tick (a second, say) holds nothing:
// the threshold policy is then the original design's, its -1 below
// CPULow unconditional, and the reactive policy removes what the demand
// now does not need.
func TestAScaleDownWindowShorterThanATickHoldsNothing(t *testing.T) {
	th := DefaultThresholdConfig()
	th.ScaleDownWindow = time.Second
	threshold, err := NewThreshold(th)
	if err != nil {
		t.Fatal(err)
	}
	var load []autoscaler.Record
	for at := pt0.Add(-3 * time.Hour); at.Before(pt0); at = at.Add(2 * time.Minute) {
		load = append(load, autoscaler.Record{Time: at, CPU: 3*sawtooth(at) - 40, Memory: 20, PendingPods: 0, Nodes: 3})
	}
	in := autoscaler.PolicyInput{Now: pt0, ReadyNodes: 3, MinNodes: 2, MaxNodes: 40, History: load,
		Snapshot: autoscaler.Snapshot{Time: pt0, CPU: autoscaler.Value(20, pt0), Memory: autoscaler.Value(20, pt0), PendingPods: autoscaler.Value(0, pt0)}}
	if d := threshold.Decide(in); d.Action != autoscaler.ScaleDown || d.Count != 1 {
		t.Errorf("threshold: %s, want 1 node down", d)
	}
	re, err := NewReactive(ReactiveConfig{ScaleDownWindow: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if d := re.Decide(input(hist(3*time.Hour, 2*time.Minute, sawtooth), 20, 5, 0)); d.Action != autoscaler.ScaleDown || d.Count != 3 {
		t.Errorf("reactive: %s, want 3 nodes down (to the 2 the demand needs)", d)
	}
}

// A clock that ran two hours ahead and was set right: the records it
// stamped interleave, in time, with the ones since. The demand was 5
// workers' worth before and has been a steady 2 since, so there is no
// rise to keep room for: read in time order, every record since would
// seem to rise by 3 within the window (to an older record stamped
// later), holding the scale-down for as long as they stay in the
// history.
func TestReactiveScaleDownAfterTheClockWasSetBack(t *testing.T) {
	re, err := NewReactive(ReactiveConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ahead := hist(3*time.Hour, 2*time.Minute, flat(50))
	for i := range ahead {
		// Stamped 2 hours ahead, up to the step back 2.5 hours ago.
		ahead[i].Time = ahead[i].Time.Add(-150*time.Minute + 2*time.Hour)
	}
	since := hist(150*time.Minute, 2*time.Minute, flat(20))
	d := re.Decide(input(append(ahead, since...), 20, 5, 0))
	if d.Action != autoscaler.ScaleDown || d.Count != 3 {
		t.Errorf("%s, want 3 nodes down (to the 2 the demand has needed for 2.5 hours)", d)
	}
}

// A record stamped a little before the one ahead of it (two runners'
// clocks differing by seconds) is no step back: the history before it
// still shows the demand's usual rise.
func TestStabilisationReadsPastASmallClockDifference(t *testing.T) {
	re, err := NewReactive(ReactiveConfig{})
	if err != nil {
		t.Fatal(err)
	}
	h := hist(3*time.Hour, 2*time.Minute, sawtooth)
	// The tick 20 minutes ago ran on a clock 2.5 minutes behind.
	h[len(h)-10].Time = h[len(h)-11].Time.Add(-30 * time.Second)
	d := re.Decide(input(h, 20, 5, 0))
	if d.Action != autoscaler.ScaleDown || d.Count != 1 || !strings.Contains(d.Reason, "with its usual rise (1.80) 4") {
		t.Errorf("%s, want 1 node down, room kept for the usual rise", d)
	}
}

// ShippedConfig.ScaleDownWindow is every shipped policy's stabilisation:
// a scale-down the default window holds goes ahead with a window shorter
// than a tick, for the threshold and the reactive policy alike.
func TestShippedScaleDownWindowReachesThePolicy(t *testing.T) {
	// 5 workers' worth until 6 minutes ago, 2 since; CPU 60% until then,
	// 20% since (3 nodes).
	dropped := func(at time.Time, hi, lo float64) float64 {
		if at.Before(pt0.Add(-6 * time.Minute)) {
			return hi
		}
		return lo
	}
	var thHist []autoscaler.Record
	for at := pt0.Add(-3 * time.Hour); at.Before(pt0); at = at.Add(2 * time.Minute) {
		cpu := 3*sawtooth(at) - 40
		thHist = append(thHist, autoscaler.Record{Time: at, CPU: cpu, Memory: 20, PendingPods: 0, Nodes: 3})
	}
	thIn := autoscaler.PolicyInput{Now: pt0, ReadyNodes: 3, MinNodes: 2, MaxNodes: 40, History: thHist,
		Snapshot: autoscaler.Snapshot{Time: pt0, CPU: autoscaler.Value(20, pt0), Memory: autoscaler.Value(20, pt0), PendingPods: autoscaler.Value(0, pt0)}}
	reIn := input(hist(3*time.Hour, 2*time.Minute, func(at time.Time) float64 { return dropped(at, 50, 20) }), 20, 5, 0)
	for _, tt := range []struct {
		name   string
		in     autoscaler.PolicyInput
		window time.Duration
		want   autoscaler.Action
	}{
		{"threshold, default window: held", thIn, 0, autoscaler.Hold},
		{"threshold, 1s window: down", thIn, time.Second, autoscaler.ScaleDown},
		{"reactive, default window: held", reIn, 0, autoscaler.Hold},
		{"reactive, 1s window: down", reIn, time.Second, autoscaler.ScaleDown},
	} {
		t.Run(tt.name, func(t *testing.T) {
			name := PolicyThreshold
			if strings.HasPrefix(tt.name, "reactive") {
				name = PolicyReactive
			}
			p, err := Shipped(ShippedConfig{Name: name, ScaleDownWindow: tt.window})
			if err != nil {
				t.Fatal(err)
			}
			if d := p.Decide(tt.in); d.Action != tt.want {
				t.Errorf("%s, want %s", d, tt.want)
			}
		})
	}
}

// Every shipped policy stabilises its scale-down over the same default,
// two lead times: a drop 12 minutes ago (a 10-minute window would have
// let it go) holds the threshold, reactive and predictive policies'
// scale-down alike.
func TestEveryShippedPolicyStabilisesOverTwoLeadTimes(t *testing.T) {
	if DefaultScaleDownWindow != 2*DefaultLead {
		t.Errorf("DefaultScaleDownWindow %s, want two lead times (%s)", DefaultScaleDownWindow, 2*DefaultLead)
	}
	in := input(hist(3*time.Hour, 2*time.Minute, func(at time.Time) float64 {
		if at.Before(pt0.Add(-12 * time.Minute)) {
			return 50
		}
		return 20
	}), 20, 5, 0)
	for _, name := range []string{PolicyReactive, PolicyPredictive} {
		p, err := Shipped(ShippedConfig{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		if d := p.Decide(in); d.Action != autoscaler.Hold || !strings.Contains(d.Reason, "the most needed over 14m0s 5") {
			t.Errorf("%s: %s, want held by the most needed over 14m0s", name, d)
		}
	}
	th, err := NewThreshold(ThresholdConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if got := th.Config().ScaleDownWindow; got != 2*DefaultLead {
		t.Errorf("threshold's window %s, want %s", got, 2*DefaultLead)
	}
}

// With the scheduler's view, the threshold policy's -1 is also held while
// the pods' demand plus its usual rise within the window would outgrow
// the nodes left: the pending rule would add nodes back at once. The CPU
// stays a steady 20% (its own guard holds nothing); the pods' demand
// (hist's tenthPods) is 1.5 workers' worth, steady or with the
// sawtooth's rises to 3.8.
func TestThresholdScaleDownIsHeldWhenThePodsUsualRiseWouldOutgrowTheNodesLeft(t *testing.T) {
	for _, tt := range []struct {
		name   string
		demand func(time.Time) float64
		now    float64 // the pods' demand now, in tenthPods
		action autoscaler.Action
	}{
		{"a steady demand", flat(15), 15, autoscaler.ScaleDown},
		{"a demand that usually rises by 1.8 workers' worth", func(t time.Time) float64 { return sawtooth(t) - 5 }, 15, autoscaler.Hold},
		// 0.1 worker's worth now, 1.9 with its usual rise: the 2 nodes
		// left hold it, so the rise alone holds nothing.
		{"a demand whose usual rise still fits the nodes left", func(t time.Time) float64 { return sawtooth(t) - 19 }, 1, autoscaler.ScaleDown},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := input(hist(3*time.Hour, 2*time.Minute, tt.demand), tt.now, 3, 0)
			in.Snapshot.CPU, in.Snapshot.Memory = autoscaler.Value(20, pt0), autoscaler.Value(20, pt0)
			for i := range in.History {
				in.History[i].CPU, in.History[i].Memory, in.History[i].Nodes = 20, 20, 3
			}
			d := Default().Decide(in)
			if d.Action != tt.action || (d.Action == autoscaler.ScaleDown && d.Count != 1) {
				t.Errorf("%s, want %s (1 node down)", d, tt.action)
			}
		})
	}
}
