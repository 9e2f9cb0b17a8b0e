package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
)

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
