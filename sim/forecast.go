package sim

import (
	"errors"
	"math"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/decision"
)

// ForecastScore is how well a predictive policy's forecast matched the
// demand it forecast: the highest demand in the lead time after each
// forecast.
type ForecastScore struct {
	// Forecasts is how many forecasts were scored.
	Forecasts int
	// MAE is the mean absolute error of the forecast (Forecast.Point),
	// NaiveMAE that of the naive forecast "as now", in worker units; MASE
	// is MAE over NaiveMAE (below 1: better than naive).
	MAE, NaiveMAE, MASE float64
	// MAPE and NaiveMAPE are the same errors as percentages of the
	// actual demand, over the forecasts whose actual was above zero.
	MAPE, NaiveMAPE float64
	// Covered is the share (0-1) of forecasts whose capacity
	// (Forecast.Capacity) was at least the highest demand in the lead
	// time; NaiveCovered the same for the demand now.
	Covered, NaiveCovered float64
	// Picked counts the forecasts by the method picked
	// (Forecast.MethodName).
	Picked map[string]int
	// AtNow and BelowNow are the shares (0-1) of forecasts whose lead
	// time's highest value was the value now, and below it: where the
	// peak is the value now more often than not, the median of its gap
	// is 0, and naive is the point forecast of least absolute error
	// among naive plus any constant.
	AtNow, BelowNow float64
}

// ScoreForecast replays demand (one value per step from start, in worker
// units) through f's forecast every interval, with a history of at most
// limit records holding the demand as the tick records it (under f's
// metric, autoscaler.MetricDemand by default), and scores each forecast
// against the demand in the lead time after it.
func ScoreForecast(f *decision.Forecaster, start time.Time, step time.Duration, demand []float64, interval time.Duration, limit int) (ForecastScore, error) {
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
	return ScoreSeries(f, times, vals, limit)
}

// ScoreSeries scores f's forecasts on an observed series of f's metric
// (the demand, or the load for a forecaster of decision.MetricLoad): at each time
// (increasing, as the ticks saw them) it forecasts from the earlier values
// (at most limit of them as the history, and their means over the
// autoscaler's default LongHistoryStep over its LongHistory as the long
// history, as the tick keeps them) and compares with the highest value
// observed in the lead time after it; the naive forecast is the value
// now. Forecasts whose lead time runs past the series are not scored.
func ScoreSeries(f *decision.Forecaster, times []time.Time, vals []float64, limit int) (ForecastScore, error) {
	if len(times) != len(vals) || len(times) == 0 || limit < 0 {
		return ForecastScore{}, errors.New("sim: ScoreSeries needs as many times as values, at least one, and a history limit >= 0")
	}
	ac := autoscaler.DefaultConfig()
	lead, metric := f.Config().Lead, f.Config().Metric
	record := func(t time.Time, v float64, n int) autoscaler.Record {
		return autoscaler.Record{Time: t, CPU: math.NaN(), Memory: math.NaN(), PendingPods: math.NaN(), Samples: n,
			Custom: map[string]float64{metric: v}}
	}
	var hist, long []autoscaler.Record
	fcs := make([]madeForecast, len(times))
	last := times[len(times)-1]
	for i, now := range times {
		if now.Add(lead).After(last) {
			break
		}
		cur := vals[i]
		fc := f.Forecast(now, hist, long, cur)
		fcs[i] = madeForecast{point: fc.Point, capacity: fc.Capacity, method: fc.MethodName(), ok: true}
		// The tick's record, and the long history's mean as the
		// autoscaler keeps it.
		hist = append(hist, record(now, cur, 0))
		if len(hist) > limit {
			hist = hist[len(hist)-limit:]
		}
		bucket := now.Truncate(ac.LongHistoryStep)
		if n := len(long); n > 0 && long[n-1].Time.Equal(bucket) {
			l := &long[n-1]
			l.Samples++
			l.Custom[metric] += (cur - l.Custom[metric]) / float64(l.Samples)
		} else {
			long = append(long, record(bucket, cur, 1))
		}
		for len(long) > 0 && now.Sub(long[0].Time) > ac.LongHistory {
			long = long[1:]
		}
	}
	return score(times, vals, fcs, lead), nil
}

// madeForecast is one forecast to score: its point, its capacity (point
// plus headroom) and method; ok false where there is none.
type madeForecast struct {
	point, capacity float64
	method          string
	ok              bool
}

// score compares each forecast with the highest value in the lead time
// after it, beside the naive forecast (the value then).
func score(times []time.Time, vals []float64, fcs []madeForecast, lead time.Duration) ForecastScore {
	sc := ForecastScore{Picked: map[string]int{}}
	var abs, naive, ape, nape float64
	covered, naiveCovered, pct, atNow, below := 0, 0, 0, 0, 0
	last := times[len(times)-1]
	for i, now := range times {
		if now.Add(lead).After(last) {
			break
		}
		fc, cur := fcs[i], vals[i]
		if !fc.ok {
			continue
		}
		peak := math.Inf(-1)
		for k := i + 1; k < len(times) && !times[k].After(now.Add(lead)); k++ {
			peak = math.Max(peak, vals[k])
		}
		if math.IsInf(peak, -1) {
			continue
		}
		sc.Forecasts++
		if fc.method != "" {
			sc.Picked[fc.method]++
		}
		abs += math.Abs(fc.point - peak)
		naive += math.Abs(cur - peak)
		if fc.capacity >= peak-1e-9 {
			covered++
		}
		if cur >= peak-1e-9 {
			naiveCovered++
		}
		switch {
		case math.Abs(peak-cur) <= 1e-9:
			atNow++
		case peak < cur:
			below++
		}
		if peak > 0 {
			pct++
			ape += math.Abs(fc.point-peak) / peak
			nape += math.Abs(cur-peak) / peak
		}
	}
	if sc.Forecasts > 0 {
		n := float64(sc.Forecasts)
		sc.MAE, sc.NaiveMAE = abs/n, naive/n
		sc.Covered, sc.NaiveCovered = float64(covered)/n, float64(naiveCovered)/n
		sc.AtNow, sc.BelowNow = float64(atNow)/n, float64(below)/n
		if naive > 0 {
			sc.MASE = abs / naive
		}
	}
	if pct > 0 {
		sc.MAPE, sc.NaiveMAPE = 100*ape/float64(pct), 100*nape/float64(pct)
	}
	return sc
}
