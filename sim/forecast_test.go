package sim

import (
	"math"
	"testing"
	"time"

	"github.com/node-fleet/node-fleet/decision"
)

func TestScoreForecastAgainstNaive(t *testing.T) {
	p, err := decision.NewPredictive(decision.PredictiveConfig{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	flat := make([]float64, 240)
	ramp := make([]float64, 240)
	for i := range flat {
		flat[i] = 5
		ramp[i] = 2 + float64(i)/10 // a tenth of a worker more every minute
	}
	sc, err := ScoreForecast(p.Forecaster(), start, time.Minute, flat, 2*time.Minute, 720)
	if err != nil {
		t.Fatal(err)
	}
	// 120 ticks; the last 3 have their lead time (7 minutes) past the
	// trace's last tick.
	if sc.MAE != 0 || sc.NaiveMAE != 0 || sc.Covered != 1 || sc.Forecasts != 116 || sc.AtNow != 1 || sc.BelowNow != 0 {
		t.Errorf("flat demand: %+v, want no error, all covered, 116 forecasts, every peak the value now", sc)
	}
	sc, err = ScoreForecast(p.Forecaster(), start, time.Minute, ramp, 2*time.Minute, 720)
	if err != nil {
		t.Fatal(err)
	}
	// Naively the demand is always 0.6 behind (the last tick in the
	// lead, 6 minutes on); the damped trend, once scored, does better.
	if math.Abs(sc.NaiveMAE-0.6) > 1e-9 || sc.MASE >= 1 || sc.Picked[decision.MethodDamped] == 0 || sc.Covered <= sc.NaiveCovered || sc.AtNow != 0 || sc.BelowNow != 0 {
		t.Errorf("ramp: %+v, want a damped trend better than naive", sc)
	}
	if _, err := ScoreForecast(p.Forecaster(), start, 0, ramp, time.Minute, 10); err == nil {
		t.Error("a zero step accepted")
	}
}

// Forecasts already made are scored as the forecaster's own are: the
// same forecasts give the same score, and a tick without one is left
// out.
func TestScoreRecordedScoresForecastsAlreadyMade(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var times []time.Time
	var vals, points, caps []float64
	var methods []string
	for i := range 60 {
		times = append(times, start.Add(time.Duration(i)*2*time.Minute))
		vals = append(vals, 2+float64(i%5))
		points = append(points, 3)
		caps = append(caps, 6)
		methods = append(methods, "naive")
	}
	points[10], caps[10] = math.NaN(), math.NaN()
	sc, err := ScoreRecorded(times, vals, points, caps, methods, 7*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// 56 ticks have their lead time (the next 3 ticks) within the
	// series; one has no forecast.
	var abs, naive float64
	for i := range 56 {
		if i == 10 {
			continue
		}
		peak := max(vals[i+1], vals[i+2], vals[i+3])
		abs += math.Abs(3 - peak)
		naive += math.Abs(vals[i] - peak)
	}
	if sc.Forecasts != 55 || sc.Picked["naive"] != 55 || sc.Covered != 1 || math.Abs(sc.MAE-abs/55) > 1e-9 || math.Abs(sc.MASE-abs/naive) > 1e-9 {
		t.Errorf("score %+v, want 55 forecasts, all covered, MAE %v, MASE %v", sc, abs/55, abs/naive)
	}
	if _, err := ScoreRecorded(times, vals, points[:3], caps, methods, time.Minute); err == nil {
		t.Error("points of another length accepted")
	}
}
