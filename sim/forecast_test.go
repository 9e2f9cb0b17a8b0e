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
