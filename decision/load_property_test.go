package decision

import (
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// stripLoad is in without the load, in its snapshot and its histories.
func stripLoad(in autoscaler.PolicyInput) autoscaler.PolicyInput {
	strip := func(rs []autoscaler.Record) []autoscaler.Record {
		out := make([]autoscaler.Record, len(rs))
		for i, r := range rs {
			c := map[string]float64{}
			for k, v := range r.Custom {
				if k != MetricLoad {
					c[k] = v
				}
			}
			r.Custom = c
			out[i] = r
		}
		return out
	}
	in.History, in.LongHistory = strip(in.History), strip(in.LongHistory)
	c := map[string]autoscaler.Metric{}
	for k, v := range in.Snapshot.Custom {
		if k != MetricLoad {
			c[k] = v
		}
	}
	in.Snapshot.Custom = c
	return in
}

// Whatever the load (NaN, Inf, 0, huge, negative, another unit, a counter
// with resets, a biased line, noise: an outside review's property test),
// the predictive policy's decision with the load differs from the same
// input without it only by a larger scale-up where it already scales up,
// bounded by what LoadPoint's cap allows. LOADPROP_N and LOADPROP_SEED
// run more cases.
func TestTheLoadOnlyEnlargesAScaleUpTheReactivePolicyAsksFor(t *testing.T) {
	n := 300
	if s := os.Getenv("LOADPROP_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	seed := uint64(1)
	if s := os.Getenv("LOADPROP_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	rng := rand.New(rand.NewPCG(seed, 99))
	pols := map[float64]*Predictive{}
	for _, h := range []float64{0, 0.1, 0.3} {
		p, err := NewPredictive(PredictiveConfig{Headroom: h})
		if err != nil {
			t.Fatal(err)
		}
		pols[h] = p
	}
	heads := []float64{0, 0.1, 0.3}
	kinds := []string{"linear", "leading", "nan", "inf", "-inf", "zero", "negative", "huge", "tiny", "counter-resets", "biased", "random", "patchy", "step-unit"}
	stats := map[string]int{}
	bigger, violations := 0, 0
	for i := range n {
		now := day0.Add(8*Day + time.Duration(rng.IntN(7*24*60))*time.Minute)
		var f trace
		switch rng.IntN(4) {
		case 0:
			f = shop
		case 1:
			f = noise
		case 2:
			f = walk(rng.Uint64(), now)
		default:
			amp := 1 + 5*rng.Float64()
			f = func(t time.Time) float64 {
				return 1 + amp*(1+math.Sin(float64(t.Unix())/3600))/2 + jitter(t, 0.2)
			}
		}
		cur := f(now)
		ready := max(1, nodesFor(cur)+rng.IntN(7)-3)
		h := heads[rng.IntN(len(heads))]
		p := pols[h]
		in := at(now, f, ready)
		pending := 0
		if rng.IntN(4) == 0 {
			pending = rng.IntN(15)
			in.Snapshot.Scheduler = tenthView(int(math.Round(cur*10)), pending)
			in.Snapshot.PendingPods = autoscaler.Value(float64(pending), now)
		}
		kind := kinds[rng.IntN(len(kinds))]
		a, b := (rng.Float64()-0.5)*2000, math.Pow(10, -3+9*rng.Float64())
		noiseFrac := rng.Float64() * 0.5
		cnt := 0.0
		load := func(r autoscaler.Record) float64 {
			d := r.Demand()
			switch kind {
			case "linear":
				return a + b*d*(1+noiseFrac*(2*jitter(r.Time, 1)))
			case "leading":
				return b * f(r.Time.Add(10*time.Minute))
			case "nan":
				return math.NaN()
			case "inf":
				return math.Inf(1)
			case "-inf":
				return math.Inf(-1)
			case "zero":
				return 0
			case "negative":
				return -b * d
			case "huge":
				return 1e300 * d
			case "tiny":
				return 1e-300 * d
			case "counter-resets":
				cnt += b * d
				if r.Time.Minute() == 0 && r.Time.Hour()%6 == 0 {
					cnt = 0
				}
				return cnt
			case "biased":
				if d > 2 {
					return b * (2 + 8*(d-2))
				}
				return b * d
			case "random":
				return b * rng.Float64()
			case "patchy":
				if rng.IntN(3) == 0 {
					return math.NaN()
				}
				return b * d
			case "step-unit":
				if r.Time.Before(now.Add(-6 * time.Hour)) {
					return b * d
				}
				return 1000 * b * d
			}
			return 0
		}
		// Long history first (counter accumulates in time order within each).
		in = setLoad(in, load, 0)
		var nowLoad float64
		switch rng.IntN(10) {
		case 0:
			nowLoad = math.NaN()
		case 1:
			nowLoad = math.Inf(1)
		case 2:
			nowLoad = -b * cur
		case 3:
			nowLoad = load(autoscaler.Record{Time: now, Custom: map[string]float64{autoscaler.MetricDemand: cur}}) * math.Pow(10, float64(rng.IntN(13)-6))
		case 4:
			nowLoad = 1e308
		default:
			nowLoad = load(autoscaler.Record{Time: now, Custom: map[string]float64{autoscaler.MetricDemand: cur}}) * (0.5 + 4*rng.Float64())
		}
		in.Snapshot.Custom = map[string]autoscaler.Metric{MetricLoad: autoscaler.Value(nowLoad, now)}
		if demandNow, ok := in.Snapshot.Demand(); ok {
			in.Snapshot.Custom[autoscaler.MetricDemand] = autoscaler.Value(demandNow, now)
		}
		if rng.IntN(10) == 0 {
			in.Snapshot.Custom[MetricLoad] = autoscaler.Metric{Value: nowLoad} // not OK
		}
		if rng.IntN(10) == 0 {
			delete(in.Snapshot.Custom, MetricLoad) // history only
		}
		without := stripLoad(in)
		dw := p.Decide(in)
		dn := p.Decide(without)
		stats[kind]++
		curD, _ := in.Snapshot.Demand()
		capNodes := nodesFor((loadDoubt*curD + 1) * (1 + h))
		briefCap := nodesFor(loadDoubt*curD + 1)
		fail := func(why string) {
			violations++
			t.Errorf("case %d (%s, headroom %v, ready %d, demand %.2f, pending %d, load now %g): %s\n  with:    %s %d level %v\n  without: %s %d level %v\n  with reason: %s",
				i, kind, h, ready, curD, pending, nowLoad, why, dw.Action, dw.Count, dw.Level, dn.Action, dn.Count, dn.Level, dw.Reason)
		}
		if dw.Action != dn.Action {
			fail("action differs")
			continue
		}
		if dw.ForecastMethod != dn.ForecastMethod || dw.ForecastNodes != dn.ForecastNodes || dw.ForecastHeadroom != dn.ForecastHeadroom {
			fail("recorded forecast differs")
		}
		if dw.Action != autoscaler.ScaleUp {
			if dw.Count != dn.Count {
				fail("count differs outside a scale-up")
			}
			continue
		}
		if dw.Count < dn.Count {
			fail("smaller scale-up")
		}
		if dw.Count > dn.Count {
			bigger++
			if dw.Count > max(dn.Count, capNodes-ready) {
				fail("increase beyond nodesFor((4*demand+1)*(1+headroom)) - ready")
			}
			if dw.Count > max(dn.Count, briefCap-ready) {
				t.Logf("case %d (%s, headroom %v): count %d > nodesFor(4d+1)-ready = %d (headroom on top of the cap); without %d; ready %d demand %.2f\n%s", i, kind, h, dw.Count, briefCap-ready, dn.Count, ready, curD, dw.Reason)
			}
			if dw.Level != dn.Level {
				t.Logf("case %d (%s): level %v -> %v with a larger count", i, kind, dn.Level, dw.Level)
			}
		}
	}
	t.Logf("%d cases, %d larger scale-ups, %d violations; kinds %v", n, bigger, violations, stats)
}
