package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/run/lambda"
)

// FORECAST=shadow under the emulator: the threshold policy acts, and what
// the predictive policy would have done is said beside its decision, in
// the tick's result and in the function's log; what is launched and
// recorded is the threshold policy's alone.
func TestForecastOnlyModeActsAsThePolicyAndSaysWhatThePredictiveWouldDo(t *testing.T) {
	f := startFunction(t, map[string]string{
		"MIN_NODES": "0", "MAX_NODES": "5", "POLICY": "threshold", "FORECAST": "shadow",
		"INSTANCE_TYPE": "t3.medium", "WORKER_VCPU": "2", "WORKER_MEMORY_MIB": "4096",
	})
	var tick lambda.Response
	body := f.invoke(t, payload(t, "scheduled-event.json", ""))
	if err := json.Unmarshal(body, &tick); err != nil || tick.Event != "tick" {
		t.Fatalf("tick answered %s (%v)", body, err)
	}
	acting, would, ok := strings.Cut(tick.Result, "; forecast-only: ")
	if !ok || !strings.Contains(would, "predictive: ") {
		t.Fatalf("the result %q does not say what the predictive policy would have done", tick.Result)
	}
	if !strings.Contains(acting, "CPU") && !strings.Contains(acting, "pending") {
		t.Errorf("the acting decision %q is not the threshold policy's", acting)
	}
	if !strings.Contains(f.out.String(), "forecast-only: ") {
		t.Errorf("the function's log does not carry the forecast-only decision:\n%s", f.out.String())
	}
	// The node_exporter reads this machine's CPU: the threshold policy
	// may scale up or hold, and whatever it did is all that was done.
	st, err := f.store.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	launched := 0
	if len(st.History) == 1 && st.History[0].Action == autoscaler.ScaleUp {
		launched = st.History[0].Count
	}
	if n := len(f.describe(t)); len(st.History) != 1 || n != launched {
		t.Errorf("%d instances, history %+v: want what the threshold policy did (%s)", n, st.History, acting)
	}
}
