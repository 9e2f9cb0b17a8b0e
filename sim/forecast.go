package sim

import (
	"errors"
	"math"
	"sort"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/decision"
)

// ForecastScore is how well a predictive policy's forecast matched the
// demand it forecast.
type ForecastScore struct {
	// Forecasts is how many forecasts were scored (those whose actual
	// demand was above zero).
	Forecasts int
	// MAPE is the mean absolute percentage error of the point forecast
	// of the demand one lead time ahead; NaiveMAPE the same for the
	// naive forecast "as now", for comparison.
	MAPE, NaiveMAPE float64
	// Covered is the share (0-1) of forecasts whose capacity target
	// (Forecast.Nodes) was at least the highest demand during the lead
	// time.
	Covered float64
}

// ScoreForecast replays demand (one value per step from start, in worker
// units) through p's forecast every interval, with a history of at most
// limit records holding the demand as the tick records it
// (autoscaler.MetricDemand), and scores each forecast against the demand
// one lead time later.
func ScoreForecast(p *decision.Predictive, start time.Time, step time.Duration, demand []float64, interval time.Duration, limit int) (ForecastScore, error) {
	if len(demand) == 0 || step <= 0 || interval <= 0 {
		return ForecastScore{}, errors.New("sim: ScoreForecast needs demand, a positive step and interval, and a history limit >= 0")
	}
	var times []time.Time
	var vals []float64
	end := start.Add(time.Duration(len(demand)) * step)
	for now := start; now.Before(end); now = now.Add(interval) {
		times = append(times, now)
		vals = append(vals, demand[min(int(now.Sub(start)/step), len(demand)-1)])
	}
	return ScoreSeries(p, times, vals, limit)
}

// ScoreSeries scores p's forecasts on an observed series: at each time
// (increasing, as the ticks saw them) it forecasts from the earlier values
// (at most limit of them) and compares with the value in force one lead
// time later (the last one observed by then); the naive forecast is the
// value now. Forecasts whose lead time runs past the series are not
// scored.
func ScoreSeries(p *decision.Predictive, times []time.Time, vals []float64, limit int) (ForecastScore, error) {
	if len(times) != len(vals) || len(times) == 0 || limit < 0 {
		return ForecastScore{}, errors.New("sim: ScoreSeries needs as many times as values, at least one, and a history limit >= 0")
	}
	lead := p.Config().Lead
	at := func(t time.Time) (float64, int) {
		i := sort.Search(len(times), func(i int) bool { return times[i].After(t) }) - 1
		return vals[max(i, 0)], i
	}
	var hist []autoscaler.Record
	var sc ForecastScore
	var ape, naive float64
	covered, n := 0, 0
	last := times[len(times)-1]
	for i, now := range times {
		if now.Add(lead).After(last) {
			break
		}
		n++
		cur := vals[i]
		f := p.Forecast(now, hist, cur)
		actual, j := at(now.Add(lead))
		peak := cur
		for k := i; k <= j; k++ {
			peak = math.Max(peak, vals[k])
		}
		if f.Nodes >= peak-1e-9 {
			covered++
		}
		if actual > 0 {
			sc.Forecasts++
			ape += math.Abs(f.Point-actual) / actual
			naive += math.Abs(cur-actual) / actual
		}
		hist = append(hist, autoscaler.Record{Time: now, CPU: math.NaN(), Memory: math.NaN(), PendingPods: math.NaN(),
			Custom: map[string]float64{autoscaler.MetricDemand: cur}})
		if len(hist) > limit {
			hist = hist[len(hist)-limit:]
		}
	}
	if sc.Forecasts > 0 {
		sc.MAPE = 100 * ape / float64(sc.Forecasts)
		sc.NaiveMAPE = 100 * naive / float64(sc.Forecasts)
	}
	if n > 0 {
		sc.Covered = float64(covered) / float64(n)
	}
	return sc, nil
}
