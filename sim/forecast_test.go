package sim

import (
	"math"
	"testing"
	"time"

	"github.com/node-fleet/node-fleet/decision"
)

func TestScoreForecast(t *testing.T) {
	p, err := decision.NewPredictive(decision.PredictiveConfig{Lead: 4 * time.Minute, SeasonalWeight: -1})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	flat := make([]float64, 240)
	ramp := make([]float64, 240)
	for i := range flat {
		flat[i] = 50
		ramp[i] = 20 + float64(i) // a pod more every minute
	}
	sc, err := ScoreForecast(p, start, time.Minute, flat, 2*time.Minute, 720)
	if err != nil {
		t.Fatal(err)
	}
	if sc.MAPE != 0 || sc.NaiveMAPE != 0 || sc.Covered != 1 || sc.Forecasts != 118 {
		t.Errorf("flat demand: %+v, want no error, all covered, 118 forecasts", sc)
	}
	sc, err = ScoreForecast(p, start, time.Minute, ramp, 2*time.Minute, 720)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ramp: %+v", sc)
	// The trend is exact once it has two past points: only the first
	// two forecasts miss. Naively the demand is always 4 pods behind.
	if sc.MAPE > 0.5 || sc.NaiveMAPE < 2 || sc.Covered < 0.98 {
		t.Errorf("ramp: %+v, want a trend far better than naive", sc)
	}
	if _, err := ScoreForecast(p, start, 0, ramp, time.Minute, 10); err == nil {
		t.Error("a zero step accepted")
	}
	if math.IsNaN(sc.MAPE) {
		t.Error("NaN MAPE")
	}
}
