package main

import (
	"bytes"
	"encoding/json"
	"fmt"
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

// scores compares the scores embedded in reports.
var scores = cmp.AllowUnexported(forecastReport{}, leadScore{})

// at4 is the lead of -lead 4m, for records stored without theirs.
var at4 = assumedLead{4 * time.Minute, "-lead"}

// The report judges the recorded forecast at a 4-minute lead (-lead,
// the records having none of their own) on a history worked out by hand. Demand 1, 2, 4, 3, 3, 5 at 0, 2, ... 10
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
	got := computeForecast(hist, t0, t0.Add(12*time.Minute), at4, 0.1)
	mase := 0.375
	score := forecastScore{Scored: 4, MAE: 0.75, NaiveMAE: 2, MASE: &mase, PeaksCovered: 3, PeakCoverage: 0.75}
	want := &forecastReport{Records: 6, Methods: map[string]int{"damped trend": 4, "naive": 2},
		Leads: []leadScore{{Lead: 4 * time.Minute, From: "-lead", Records: 6, forecastScore: score}}, forecastScore: score,
		ShadowRecords: 6, ShadowTime: 12 * time.Minute, ShadowNodeHours: 26.0 / 60, ActualInstanceHours: 36.0 / 60,
		ShadowCost: 0.1 * 26 / 60, ActualCost: 0.1 * 36 / 60}
	if diff := cmp.Diff(want, got, cmpopts.EquateApprox(0, 1e-12), scores); diff != "" {
		t.Errorf("forecast report (-want +got):\n%s", diff)
	}

	// The period picks the records judged; the peaks are read from the
	// whole history.
	late := computeForecast(hist, t0.Add(5*time.Minute), t0.Add(12*time.Minute), at4, 0.1)
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
	if got := computeForecast(plain, t0, t0.Add(12*time.Minute), at4, 0.1); got != nil {
		t.Errorf("no forecasts: %+v, want none", got)
	}
	plain[0].ForecastMethod, plain[0].ForecastNodes = "naive", 1
	delete(plain[0].Custom, autoscaler.MetricDemand)
	if got := computeForecast(plain, t0, t0.Add(12*time.Minute), at4, 0.1); got == nil || got.Records != 1 || got.Scored != 0 || got.MASE != nil {
		t.Errorf("a forecast without its demand: %+v, want 1 record, none scored", got)
	}
}

// The forecast's lines in the text report and its snake_case JSON.
func TestReportPrintsTheForecast(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	rep := costReport{Cluster: "prod", From: t0, To: t0.Add(12 * time.Minute),
		Forecast: computeForecast(forecastHistory(t0), t0, t0.Add(12*time.Minute), at4, 0.1)}
	var out bytes.Buffer
	rep.write(&out)
	wantLines(t, "report text", out.String(),
		`forecast:\s+6 ticks with a forecast \(damped trend 4, naive 2\)`,
		`forecast lead:\s+4m0s from -lead for 6 ticks stored without their lead\n`,
		`forecast MASE:\s+0\.38 over 4 forecasts \(error 0\.75 nodes, naive "as now" 2\.00\)`,
		`peak coverage:\s+75\.0% \(3 of 4`,
		`forecast-only:\s+the predictive policy would have had 0\.4 node-hours \(\$0\.04\) where the fleet had 0\.6 instance-hours \(\$0\.06\), over 6 ticks covering 12m`)
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"forecast":{`, `"leads":[{"lead_ns":240000000000,"lead_from":"-lead","records":6,"scored":4`, `"mase":0.375`, `"peak_coverage":0.75`, `"naive_mae":2`,
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
		want assumedLead
		err  string
	}{
		{0, "", assumedLead{decision.DefaultLead, "default"}, ""},
		{0, "6m", assumedLead{6 * time.Minute, "PREDICTIVE_LEAD"}, ""},
		{3 * time.Minute, "6m", assumedLead{3 * time.Minute, "-lead"}, ""},
		{0, "soon", assumedLead{}, `PREDICTIVE_LEAD="soon"`},
		{-time.Minute, "", assumedLead{}, "-lead -1m0s"},
	} {
		got, err := forecastLead(tc.flag, tc.env)
		if got != tc.want || (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("forecastLead(%s, %q) = %v, %v; want %v, %q", tc.flag, tc.env, got, err, tc.want, tc.err)
		}
	}
}

// leadHistory is 16 two-minute ticks of demand 1 but for a surge to 9
// at 12 minutes, with a forecast of 9 at 0 minutes made for a 15-minute
// lead and a forecast of 1 at 2 minutes stored without its lead.
func leadHistory(t0 time.Time) []autoscaler.Record {
	var h []autoscaler.Record
	for i := range 16 {
		d := 1.0
		if i == 6 {
			d = 9
		}
		h = append(h, autoscaler.Record{Time: t0.Add(time.Duration(i) * 2 * time.Minute), CPU: 50, Memory: 50, PendingPods: 0,
			Custom: map[string]float64{autoscaler.MetricDemand: d}, Nodes: 2, Instances: 2, Action: autoscaler.Hold})
	}
	h[0].ForecastMethod, h[0].ForecastNodes, h[0].ForecastLead = "damped trend", 9, 15*time.Minute
	h[1].ForecastMethod, h[1].ForecastNodes = "naive", 1
	return h
}

// Each forecast is judged at the lead it was made for, whatever -lead
// or PREDICTIVE_LEAD say; those only set the lead of a record stored
// without its own. The 15-minute forecast of 9 at 0 minutes sees the
// surge at 12 minutes: error 0 against the naive 8, covered (at 7
// minutes it would be an error of 8 against 0). The forecast of 1 at 2
// minutes, judged at the assumed lead (7 minutes, or 10 from
// PREDICTIVE_LEAD, or 20 from -lead), misses nothing at 7 and misses the
// surge by 8 at 10 and 20 minutes, as the naive forecast does.
func TestReportJudgesEachForecastAtItsRecordedLead(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	zero, one := 0.0, 1.0
	at15 := leadScore{Lead: 15 * time.Minute, From: leadRecorded, Records: 1,
		forecastScore: forecastScore{Scored: 1, MAE: 0, NaiveMAE: 8, MASE: &zero, PeaksCovered: 1, PeakCoverage: 1}}
	for _, tc := range []struct {
		flag    time.Duration
		env     string
		assumed leadScore
		all     forecastScore
	}{
		{0, "", leadScore{Lead: 7 * time.Minute, From: "default", Records: 1, forecastScore: forecastScore{Scored: 1, PeaksCovered: 1, PeakCoverage: 1}},
			forecastScore{Scored: 2, MAE: 0, NaiveMAE: 4, MASE: &zero, PeaksCovered: 2, PeakCoverage: 1}},
		{0, "10m", leadScore{Lead: 10 * time.Minute, From: "PREDICTIVE_LEAD", Records: 1, forecastScore: forecastScore{Scored: 1, MAE: 8, NaiveMAE: 8, MASE: &one}},
			forecastScore{Scored: 2, MAE: 4, NaiveMAE: 8, MASE: &[]float64{0.5}[0], PeaksCovered: 1, PeakCoverage: 0.5}},
		{20 * time.Minute, "10m", leadScore{Lead: 20 * time.Minute, From: "-lead", Records: 1, forecastScore: forecastScore{Scored: 1, MAE: 8, NaiveMAE: 8, MASE: &one}},
			forecastScore{Scored: 2, MAE: 4, NaiveMAE: 8, MASE: &[]float64{0.5}[0], PeaksCovered: 1, PeakCoverage: 0.5}},
	} {
		t.Run(fmt.Sprintf("-lead %s PREDICTIVE_LEAD %q", tc.flag, tc.env), func(t *testing.T) {
			assumed, err := forecastLead(tc.flag, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			got := computeForecast(leadHistory(t0), t0, t0.Add(32*time.Minute), assumed, 0)
			if got == nil {
				t.Fatal("no forecast report")
			}
			want := []leadScore{tc.assumed, at15}
			if tc.assumed.Lead > at15.Lead {
				want = []leadScore{at15, tc.assumed}
			}
			if diff := cmp.Diff(want, got.Leads, scores); diff != "" {
				t.Errorf("scores by lead (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.all, got.forecastScore); diff != "" {
				t.Errorf("score of all (-want +got):\n%s", diff)
			}
		})
	}

	// The text says which lead each forecast was judged at.
	assumed, err := forecastLead(0, "")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	computeForecast(leadHistory(t0), t0, t0.Add(32*time.Minute), assumed, 0).write(&out)
	wantLines(t, "report text", out.String(),
		`forecast lead:\s+7m0s from default for 1 ticks stored without their lead; 15m0s as recorded \(1 ticks\)`,
		`forecast MASE:\s+0\.00 over 2 forecasts, each at its own lead`,
		`at 15m0s \(recorded\):\s+MASE 0\.00 over 1 forecasts \(error 0\.00 nodes, naive 8\.00\), peak coverage 100\.0% \(1 of 1\)`,
		`at 7m0s \(default\):\s+MASE - over 1 forecasts`)
}
