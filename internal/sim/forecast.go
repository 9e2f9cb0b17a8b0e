package sim

import (
	"errors"
	"math"
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
	// (Forecast.Pods) was at least the highest demand during the lead
	// time.
	Covered float64
}

// ScoreForecast replays demand (one value per step from start) through
// p's forecast every interval, with a history of at most limit records
// holding the demand as the simulator's MetricSource reports it
// (DemandMetric), and scores each forecast against the demand one lead
// time later.
func ScoreForecast(p *decision.Predictive, start time.Time, step time.Duration, demand []float64, interval time.Duration, limit int) (ForecastScore, error) {
	if len(demand) == 0 || step <= 0 || interval <= 0 || limit < 0 {
		return ForecastScore{}, errors.New("sim: ScoreForecast needs demand, a positive step and interval, and a history limit >= 0")
	}
	lead := p.Config().Lead
	at := func(t time.Time) float64 {
		i := min(max(int(t.Sub(start)/step), 0), len(demand)-1)
		return demand[i]
	}
	end := start.Add(time.Duration(len(demand)) * step)
	var hist []autoscaler.Record
	var sc ForecastScore
	var ape, naive float64
	covered, n := 0, 0
	for now := start; !now.Add(lead).After(end); now = now.Add(interval) {
		n++
		cur := at(now)
		f := p.Forecast(now, hist, cur)
		actual := at(now.Add(lead))
		peak := cur
		for t := now; !t.After(now.Add(lead)); t = t.Add(min(step, interval)) {
			peak = math.Max(peak, at(t))
		}
		peak = math.Max(peak, actual)
		if f.Pods >= peak {
			covered++
		}
		if actual > 0 {
			sc.Forecasts++
			ape += math.Abs(f.Point-actual) / actual
			naive += math.Abs(cur-actual) / actual
		}
		hist = append(hist, autoscaler.Record{Time: now, CPU: math.NaN(), Memory: math.NaN(), PendingPods: math.NaN(),
			Custom: map[string]float64{DemandMetric: cur}})
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
