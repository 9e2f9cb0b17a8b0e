package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/state"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// status shows how the fleet's active instances spread over the zones.
func TestStatusShowsTheFleetsZones(t *testing.T) {
	row := func(zone string, st autoscaler.InstanceState) fleetRow {
		return fleetRow{Instance: autoscaler.Instance{ID: "i-" + zone, Zone: zone, State: st}}
	}
	for _, tc := range []struct {
		name  string
		fleet []fleetRow
		want  string
	}{
		{"two zones", []fleetRow{row("us-east-1b", autoscaler.StateRunning), row("us-east-1a", autoscaler.StatePending),
			row("us-east-1b", autoscaler.StateRunning), row("us-east-1a", autoscaler.StateShuttingDown)},
			`(?m)^zones:\s+us-east-1a 1, us-east-1b 2 \(max - min 1\)$`},
		{"no instance", nil, `(?m)^zones:\s+none \(no active instance\)$`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := statusReport{Cluster: "c", Now: time.Now(), Fleet: tc.fleet}
			rep.Zones = fleetZones(rep.Fleet)
			var out bytes.Buffer
			rep.write(&out)
			wantLines(t, "status", out.String(), tc.want)
		})
	}
}

// status -json is a stable format: snake_case names, null for unknown
// times and missing readings, empty lists rather than null. The golden
// file is the documented example; -update rewrites it.
func TestStatusJSONIsTheDocumentedStableFormat(t *testing.T) {
	at := time.Date(2026, 12, 1, 15, 4, 5, 0, time.UTC)
	ready := true
	rep := statusReport{
		Cluster: "prod", Table: "node-fleet", Now: at, NodeCount: 2, LastScaleUp: at.Add(-time.Hour),
		Lock: state.LockStatus{Owner: "lambda-7", Expires: at.Add(4 * time.Minute), Token: 42, Held: true},
		Last: []autoscaler.Record{{Time: at.Add(-2 * time.Minute), CPU: 81.5, Memory: math.NaN(), PendingPods: 3, Nodes: 2, Instances: 2,
			Action: autoscaler.ScaleUp, Count: 1, DryRun: true, Would: []string{"launch 1"},
			ForecastMethod: "damped trend", ForecastNodes: 2.5, ForecastHeadroom: 0.5, ForecastLead: 15 * time.Minute, ShadowAction: autoscaler.ScaleUp, ShadowCount: 2}},
		Fleet: []fleetRow{
			{Instance: autoscaler.Instance{ID: "i-0abc", Zone: "us-east-1a", Market: autoscaler.MarketSpot, InstanceType: "t3.medium",
				State: autoscaler.StateRunning, LaunchTime: at.Add(-3 * time.Hour), PrivateIP: "10.0.1.5"}, Node: "worker-1", Ready: &ready},
			{Instance: autoscaler.Instance{ID: "i-0def", Market: autoscaler.MarketOnDemand, InstanceType: "t3.medium", State: autoscaler.StatePending}},
		},
	}
	rep.Zones = fleetZones(rep.Fleet)
	got, err := json.MarshalIndent(rep.toJSON(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "status.golden.json")
	if *update {
		if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)+"\n"); diff != "" {
		t.Errorf("status -json (-golden +got):\n%s", diff)
	}
	for _, bad := range []string{`"0001-01-01`, `"LastScaleUp"`, `"NaN"`} {
		if strings.Contains(string(got), bad) {
			t.Errorf("status -json contains %s:\n%s", bad, got)
		}
	}
}

// A lease that expired less than the clock-skew margin ago is still
// held, and status says it expired and is held for the margin, not that
// it is held "until" a time past.
func TestStatusSaysALeaseInTheSkewMarginExpired(t *testing.T) {
	at := time.Date(2026, 12, 1, 15, 4, 5, 0, time.UTC)
	rep := statusReport{Cluster: "c", Now: at, Lock: state.LockStatus{Owner: "lambda-7", Expires: at.Add(-10 * time.Second), Token: 42, Held: true}}
	var out bytes.Buffer
	rep.write(&out)
	wantLines(t, "status", out.String(), `(?m)^lock:\s+held by lambda-7: its lease expired 2026-12-01T15:03:55Z \(10s ago\), within the clock-skew margin; taken over once the margin has passed, token 42$`)
}
