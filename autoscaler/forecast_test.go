package autoscaler_test

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// recordedForecast is the part of a Record the forecast fields make.
type recordedForecast struct {
	Method           string
	Nodes, Headroom  float64
	Lead             time.Duration
	ShadowAction     autoscaler.Action
	ShadowCount      int
	Desired          int
	HasShadowDesired bool
}

func forecastOf(r autoscaler.Record) recordedForecast {
	d, ok := r.ShadowDesired()
	return recordedForecast{r.ForecastMethod, r.ForecastNodes, r.ForecastHeadroom, r.ForecastLead, r.ShadowAction, r.ShadowCount, d, ok}
}

// The tick records the forecast its policy made and, in forecast-only
// mode, what the shadow policy would have done (with the shadow's
// forecast when the acting policy forecast nothing), whatever the
// guardrails made of the acting decision; the downsampled history keeps
// none of it.
func TestTheHistoryRecordsThePolicysForecastAndTheForecastOnlyDecision(t *testing.T) {
	shadow := func(a autoscaler.Action, n int, method string, nodes float64) *autoscaler.Decision {
		return &autoscaler.Decision{Action: a, Count: n, Reason: "shadow", ForecastMethod: method, ForecastNodes: nodes, ForecastHeadroom: 0.25, ForecastLead: 15 * time.Minute}
	}
	for _, tc := range []struct {
		name string
		d    autoscaler.Decision
		want recordedForecast
	}{
		{"no forecast", autoscaler.Decision{Action: autoscaler.Hold}, recordedForecast{}},
		{"the acting policy's forecast", autoscaler.Decision{Action: autoscaler.Hold, ForecastMethod: "damped trend", ForecastNodes: 3.5, ForecastHeadroom: 0.5, ForecastLead: 9 * time.Minute},
			recordedForecast{Method: "damped trend", Nodes: 3.5, Headroom: 0.5, Lead: 9 * time.Minute}},
		{"a forecast-only scale-up", autoscaler.Decision{Action: autoscaler.Hold, Shadow: shadow(autoscaler.ScaleUp, 2, "naive", 4)},
			recordedForecast{Method: "naive", Nodes: 4, Headroom: 0.25, Lead: 15 * time.Minute, ShadowAction: autoscaler.ScaleUp, ShadowCount: 2, Desired: 5, HasShadowDesired: true}},
		{"a forecast-only scale-down beside a scale-down the cooldown holds", autoscaler.Decision{Action: autoscaler.ScaleDown, Count: 1,
			Shadow: shadow(autoscaler.ScaleDown, 1, "seasonal naive (day)", 2)},
			recordedForecast{Method: "seasonal naive (day)", Nodes: 2, Headroom: 0.25, Lead: 15 * time.Minute, ShadowAction: autoscaler.ScaleDown, ShadowCount: 1, Desired: 2, HasShadowDesired: true}},
		{"a forecast-only hold", autoscaler.Decision{Action: autoscaler.Hold, Shadow: shadow(autoscaler.ScaleUp, 0, "", 0)},
			recordedForecast{ShadowAction: autoscaler.Hold, Desired: 3, HasShadowDesired: true}},
		{"both forecast: the acting policy's is recorded", autoscaler.Decision{Action: autoscaler.Hold, ForecastMethod: "naive", ForecastNodes: 1,
			Shadow: shadow(autoscaler.Hold, 0, "damped trend", 9)},
			recordedForecast{Method: "naive", Nodes: 1, ShadowAction: autoscaler.Hold, Desired: 3, HasShadowDesired: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 3, withPolicy(autoscaler.PolicyFunc(func(autoscaler.PolicyInput) autoscaler.Decision { return tc.d })))
			e.joinAll(t)
			st := e.store.State()
			st.LastScaleDown = e.clk.Now() // the cooldown holds any scale-down
			if err := e.store.SetState(st); err != nil {
				t.Fatal(err)
			}
			res := e.tick(t)
			hist := e.store.State().History
			if len(hist) != 1 {
				t.Fatalf("%d records", len(hist))
			}
			if diff := cmp.Diff(tc.want, forecastOf(hist[0])); diff != "" {
				t.Errorf("recorded forecast (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(hist[0], res.Record(), cmpopts.EquateNaNs()); diff != "" {
				t.Errorf("Result.Record differs from the history's record (-history +Record):\n%s", diff)
			}
			for _, r := range e.store.State().LongHistory {
				if got := forecastOf(r); got != (recordedForecast{}) {
					t.Errorf("downsampled record has forecast fields %+v", got)
				}
			}
		})
	}
}

// A Record's JSON form keeps the forecast fields, its lead included, and a forecast that is
// not a number comes back missing rather than failing the encoding.
func TestRecordJSONKeepsTheForecast(t *testing.T) {
	in := autoscaler.Record{Time: t0, CPU: 1, Memory: 2, PendingPods: 0, ForecastMethod: "naive", ForecastNodes: math.NaN(), ForecastHeadroom: 0.5,
		ForecastLead: 15 * time.Minute, ShadowAction: autoscaler.ScaleUp, ShadowCount: 2}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out autoscaler.Record
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, out, cmpopts.EquateNaNs()); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}
