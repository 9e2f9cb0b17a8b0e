package main

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/run/lambda"
)

// POLICY=predictive with a calendar event (issue 11): the shipped bootstrap,
// under the emulator against moto, Prometheus and the API server, reads
// the event from CALENDAR and launches the nodes the event needs before it
// begins, while nothing is pending and the fleet is idle.
func TestPredictivePolicyPreScalesForACalendarEvent(t *testing.T) {
	sale := time.Now().UTC().Add(2 * time.Minute).Truncate(time.Second)
	f := startFunction(t, map[string]string{
		"MIN_NODES": "1", "MAX_NODES": "5", "POLICY": "predictive", "PREDICTIVE_LEAD": "5m",
		"INSTANCE_TYPE": "t3.medium", "WORKER_VCPU": "2", "WORKER_MEMORY_MIB": "4096",
		"CALENDAR": fmt.Sprintf("flash-sale %s 1h nodes=3", sale.Format(time.RFC3339)),
	})
	var tick lambda.Response
	body := f.invoke(t, payload(t, "scheduled-event.json", ""))
	if err := json.Unmarshal(body, &tick); err != nil || tick.Outcome != autoscaler.OutcomeScaledUp {
		t.Fatalf("tick answered %s (%v)", body, err)
	}
	if n := len(f.describe(t)); n != 3 {
		t.Errorf("%d instances before the sale, want the 3 nodes the calendar asks for (result %s)", n, tick.Result)
	}
	st, err := f.store.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.History) != 1 || st.History[0].Action != autoscaler.ScaleUp || st.History[0].Count != 3 {
		t.Errorf("history %+v, want one scale-up of 3", st.History)
	}
}
