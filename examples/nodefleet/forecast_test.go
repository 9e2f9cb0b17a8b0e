package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/decision"
)

// forecastHistory is six 2-minute ticks in forecast-only mode whose
// numbers are worked out by hand in TestReportJudgesTheRecordedForecast.
func forecastHistory(t0 time.Time) []autoscaler.Record {
	demand := []float64{1, 2, 4, 3, 3, 5}
	fc := []struct {
		method string
		f, h   float64
		a      autoscaler.Action
		n      int
	}{
		{"damped trend", 2, 1, autoscaler.ScaleUp, 2},
		{"damped trend", 4, 0.5, autoscaler.Hold, 0},
		{"damped trend", 3, 0, autoscaler.ScaleDown, 1},
		{"damped trend", 4, 1, autoscaler.Hold, 0},
		{"naive", 3, 0, autoscaler.Hold, 0},
		{"naive", 5, 0, autoscaler.Hold, 0},
	}
	var h []autoscaler.Record
	for i, d := range demand {
		h = append(h, autoscaler.Record{Time: t0.Add(time.Duration(i) * 2 * time.Minute), CPU: 50, Memory: 50, PendingPods: 0,
			Custom: map[string]float64{autoscaler.MetricDemand: d}, Nodes: 2, Instances: 3, Action: autoscaler.Hold,
			ForecastMethod: fc[i].method, ForecastNodes: fc[i].f, ForecastHeadroom: fc[i].h, ShadowAction: fc[i].a, ShadowCount: fc[i].n})
	}
	return h
}

// The report judges the recorded forecast at a 4-minute lead on a
// history worked out by hand. Demand 1, 2, 4, 3, 3, 5 at 0, 2, ... 10
// minutes; the peaks of the next 4 minutes after 0, 2, 4 and 6 are 4, 4,
// 3 and 5 (after 8 and 10 the history ends too soon: not scored). The
// forecasts 2, 4, 3, 4 miss them by 2, 0, 0, 1 (MAE 0.75) where "as
// now" (1, 2, 4, 3) misses by 3, 2, 1, 2 (2): MASE 0.375. With their
// headroom (1, 0.5, 0, 1) they cover 3 of the 4 peaks (2+1 < 4). The
// predictive policy wanted 4, 2, 1, 2, 2, 2 Ready nodes for 2 minutes
// each (26 node-minutes) where the fleet had 3 instances (36).
func TestReportJudgesTheRecordedForecast(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	hist := forecastHistory(t0)
	got := computeForecast(hist, t0, t0.Add(12*time.Minute), 4*time.Minute, 0.1)
	mase := 0.375
	want := &forecastReport{Lead: 4 * time.Minute, Records: 6, Methods: map[string]int{"damped trend": 4, "naive": 2},
		Scored: 4, MAE: 0.75, NaiveMAE: 2, MASE: &mase, PeaksCovered: 3, PeakCoverage: 0.75,
		ShadowRecords: 6, ShadowTime: 12 * time.Minute, ShadowNodeHours: 26.0 / 60, ActualInstanceHours: 36.0 / 60,
		ShadowCost: 0.1 * 26 / 60, ActualCost: 0.1 * 36 / 60}
	if diff := cmp.Diff(want, got, cmpopts.EquateApprox(0, 1e-12)); diff != "" {
		t.Errorf("forecast report (-want +got):\n%s", diff)
	}

	// The period picks the records judged; the peaks are read from the
	// whole history.
	late := computeForecast(hist, t0.Add(5*time.Minute), t0.Add(12*time.Minute), 4*time.Minute, 0.1)
	if late.Records != 3 || late.Scored != 1 || late.MAE != 1 || late.NaiveMAE != 2 {
		t.Errorf("from 5 minutes: %+v, want 3 records, 1 scored (the one at 6 minutes: error 1, naive 2)", late)
	}

	// A history without forecasts has no forecast section; a forecast
	// whose own demand is missing is counted and not scored.
	var plain []autoscaler.Record
	for _, r := range hist {
		r.ForecastMethod, r.ShadowAction = "", ""
		plain = append(plain, r)
	}
	if got := computeForecast(plain, t0, t0.Add(12*time.Minute), 4*time.Minute, 0.1); got != nil {
		t.Errorf("no forecasts: %+v, want none", got)
	}
	plain[0].ForecastMethod, plain[0].ForecastNodes = "naive", 1
	delete(plain[0].Custom, autoscaler.MetricDemand)
	if got := computeForecast(plain, t0, t0.Add(12*time.Minute), 4*time.Minute, 0.1); got == nil || got.Records != 1 || got.Scored != 0 || got.MASE != nil {
		t.Errorf("a forecast without its demand: %+v, want 1 record, none scored", got)
	}
}

// The forecast's lines in the text report and its snake_case JSON.
func TestReportPrintsTheForecast(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	rep := costReport{Cluster: "prod", From: t0, To: t0.Add(12 * time.Minute),
		Forecast: computeForecast(forecastHistory(t0), t0, t0.Add(12*time.Minute), 4*time.Minute, 0.1)}
	var out bytes.Buffer
	rep.write(&out)
	wantLines(t, "report text", out.String(),
		`forecast:\s+6 ticks with a forecast of the next 4m0s \(damped trend 4, naive 2\)`,
		`forecast MASE:\s+0\.38 over 4 forecasts \(error 0\.75 nodes, naive "as now" 2\.00\)`,
		`peak coverage:\s+75\.0% \(3 of 4`,
		`forecast-only:\s+the predictive policy would have had 0\.4 node-hours \(\$0\.04\) where the fleet had 0\.6 instance-hours \(\$0\.06\), over 6 ticks covering 12m`)
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"forecast":{`, `"lead_ns":240000000000`, `"mase":0.375`, `"peak_coverage":0.75`, `"naive_mae":2`,
		`"shadow_node_hours":`, `"actual_instance_hours":0.6`, `"methods":{"damped trend":4,"naive":2}`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("report -json lacks %s:\n%s", key, b)
		}
	}
	rep.Forecast = nil
	if b, _ := json.Marshal(rep); strings.Contains(string(b), "forecast") {
		t.Errorf("a report without forecasts has a forecast section: %s", b)
	}
}

func TestForecastLead(t *testing.T) {
	for _, tc := range []struct {
		flag time.Duration
		env  string
		want time.Duration
		err  string
	}{
		{0, "", decision.DefaultLead, ""},
		{0, "6m", 6 * time.Minute, ""},
		{3 * time.Minute, "6m", 3 * time.Minute, ""},
		{0, "soon", 0, `PREDICTIVE_LEAD="soon"`},
		{-time.Minute, "", 0, "-lead -1m0s"},
	} {
		got, err := forecastLead(tc.flag, tc.env)
		if got != tc.want || (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("forecastLead(%s, %q) = %s, %v; want %s, %q", tc.flag, tc.env, got, err, tc.want, tc.err)
		}
	}
}
