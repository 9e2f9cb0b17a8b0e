package main

import (
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// history's table marks a dry-run tick's record and shows what it would
// have done; a live tick's shows "-" there.
func TestHistoryTableMarksDryRunRecords(t *testing.T) {
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var b strings.Builder
	writeRecords(&b, []autoscaler.Record{
		{Time: at, CPU: 80, Memory: 50, PendingPods: 5, Nodes: 3, Instances: 3, Action: autoscaler.Hold,
			DryRun: true, Would: []string{"launch 3", "terminate-ghost i-0abc"}},
		{Time: at.Add(2 * time.Minute), CPU: math.NaN(), Memory: 50, PendingPods: 0, Nodes: 3, Instances: 3, Action: autoscaler.Hold, DryRun: true},
		{Time: at.Add(4 * time.Minute), CPU: 80, Memory: 50, PendingPods: 5, Nodes: 3, Instances: 3, Action: autoscaler.ScaleUp, Count: 3},
	})
	out := b.String()
	for _, re := range []string{
		`(?m)^TIME\s.*\sSAFETY\s+DRY RUN$`,
		`(?m)^2026-12-01T09:00:00Z\s+80\.0\s+50\.0\s+5\s+3\s+3\s+hold\s+0\s+-\s+-\s+would: launch 3; terminate-ghost i-0abc$`,
		`(?m)^2026-12-01T09:02:00Z\s+-\s+50\.0\s+0\s+3\s+3\s+hold\s+0\s+-\s+-\s+would: nothing$`,
		`(?m)^2026-12-01T09:04:00Z\s+80\.0\s+50\.0\s+5\s+3\s+3\s+scale_up\s+3\s+-\s+-\s+-$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("table lacks a line matching %s:\n%s", re, out)
		}
	}
}
