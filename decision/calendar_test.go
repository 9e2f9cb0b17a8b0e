package decision_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/node-fleet/node-fleet/decision"
)

func TestParseCalendar(t *testing.T) {
	sale := time.Date(2026, 12, 24, 20, 0, 0, 0, time.UTC)
	want := []decision.Event{
		{Name: "flash-sale", Start: sale, End: sale.Add(time.Hour), Nodes: 8},
		{Name: "boxing-day", Start: sale.Add(36 * time.Hour), End: sale.Add(40 * time.Hour), Pods: 60, Factor: 1.5},
	}
	for name, text := range map[string]string{
		"compact": "flash-sale 2026-12-24T20:00:00Z 1h nodes=8; boxing-day 2026-12-26T08:00:00Z 2026-12-26T12:00:00Z pods=60 factor=1.5",
		"lines":   "# the year's sales\nflash-sale 2026-12-24T20:00:00Z 1h nodes=8\n\nboxing-day 2026-12-26T08:00:00Z 4h pods=60 factor=1.5\n",
		"json": `[{"name": "flash-sale", "start": "2026-12-24T20:00:00Z", "duration": "1h", "nodes": 8},
		          {"name": "boxing-day", "start": "2026-12-26T08:00:00Z", "end": "2026-12-26T12:00:00Z", "pods": 60, "factor": 1.5}]`,
	} {
		got, err := decision.ParseCalendar(text)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", name, d)
		}
	}
	// The compact form round-trips.
	again, err := decision.ParseCalendar(decision.FormatCalendar(want))
	if err != nil || !cmp.Equal(want, again) {
		t.Errorf("round trip: %v, %v", again, err)
	}
}

func TestParseCalendarErrorsNameTheLineAndField(t *testing.T) {
	for _, tt := range []struct{ text, want string }{
		{"sale 2026-12-24 1h nodes=8", `calendar entry 1 ("sale 2026-12-24 1h nodes=8"): field 2 (start) "2026-12-24": want an RFC 3339 time`},
		{"ok 2026-12-24T20:00:00Z 1h nodes=8\nsale 2026-12-24T20:00:00Z 1x nodes=8", `calendar entry 2 ("sale 2026-12-24T20:00:00Z 1x nodes=8"): field 3 (duration or end) "1x"`},
		{"sale 2026-12-24T20:00:00Z 1h nodes=many", `field 4 "nodes=many": want pods=N, nodes=N or factor=F with a number`},
		{"sale 2026-12-24T20:00:00Z 1h cpus=4", `unknown key "cpus"`},
		{"sale 2026-12-24T20:00:00Z -1h nodes=4", "end 2026-12-24T19:00:00Z must be after start"},
		{"sale 2026-12-24T20:00:00Z 1h factor=1", "give the demand expected"},
		{"sale 2026-12-24T20:00:00Z", "want: NAME START DURATION-or-END"},
		{`[{"name": "sale", "start": "soon", "duration": "1h", "nodes": 1}]`, `calendar event 1 ("sale"): start "soon"`},
		{`[{"name": "sale", "start": "2026-12-24T20:00:00Z", "nodes": 1}]`, "duration or end is required"},
		{`[{"name": "sale", "when": "now"}]`, `calendar JSON: json: unknown field "when"`},
	} {
		_, err := decision.ParseCalendar(tt.text)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err = %v, want it to contain %q", tt.text, err, tt.want)
		}
	}
}

// Any text gives events or an error, never a panic; what parses formats
// back to the same events.
func FuzzParseCalendar(f *testing.F) {
	f.Add("flash-sale 2026-12-24T20:00:00Z 1h nodes=8")
	f.Add(`[{"name": "x", "start": "2026-12-24T20:00:00Z", "end": "2026-12-24T21:00:00Z", "pods": 3}]`)
	f.Add("a 2026-12-24T20:00:00Z 2026-12-24T20:00:01Z factor=2; b")
	f.Fuzz(func(t *testing.T, text string) {
		events, err := decision.ParseCalendar(text)
		if err != nil {
			return
		}
		again, err := decision.ParseCalendar(decision.FormatCalendar(events))
		if err != nil {
			t.Fatalf("formatted calendar does not parse: %v\n%s", err, decision.FormatCalendar(events))
		}
		if len(again) != len(events) {
			t.Fatalf("%d events, %d after a round trip", len(events), len(again))
		}
	})
}
