package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/decision"
)

// forecastReport judges, over the report's period, the forecast the
// history records (autoscaler.Record's Forecast fields: the predictive
// policy's, acting or in forecast-only mode) from the history alone,
// each forecast at the lead it was made for (Record.ForecastLead; a
// record stored without one, older than the field, at an assumed lead:
// -lead, else PREDICTIVE_LEAD, else decision.DefaultLead):
//
//   - its MASE at the lead: the mean absolute error of the forecast
//     against the highest demand the history recorded in the lead time
//     after it, over the naive forecast's (the demand as it was, "as
//     now") on the same records;
//   - its coverage of the peaks: the share of those records where the
//     forecast plus its headroom was at least that highest demand (to a
//     thousandth of a node, as the store keeps the forecast);
//   - in forecast-only mode, the cost it would have had: the node-hours
//     of the Ready nodes the predictive policy wanted (Record's
//     ShadowDesired) against the instance-hours the fleet had over the
//     same records, priced at the report's mean hourly price.
//
// A record is scored when the history reaches a lead time past it and
// holds its demand and a demand in that lead time. The scores are given
// for all records together and for each lead apart (Leads).
type forecastReport struct {
	// Records are the period's records with a forecast, by method.
	Records int            `json:"records"`
	Methods map[string]int `json:"methods"`
	// Leads are the records by the lead they are judged at, shortest
	// first, each with its score.
	Leads []leadScore `json:"leads"`
	// The score of all the records, each at its own lead.
	forecastScore
	// ShadowRecords are the period's records with a forecast-only
	// decision, standing for ShadowTime; over them the predictive policy
	// would have had ShadowNodeHours (ShadowCost) where the fleet had
	// ActualInstanceHours (ActualCost).
	ShadowRecords       int           `json:"shadow_records"`
	ShadowTime          time.Duration `json:"shadow_ns"`
	ShadowNodeHours     float64       `json:"shadow_node_hours"`
	ActualInstanceHours float64       `json:"actual_instance_hours"`
	ShadowCost          float64       `json:"shadow_cost"`
	ActualCost          float64       `json:"actual_cost"`
}

// forecastScore is how well forecasts did: Scored are the records
// scored; MAE and NaiveMAE the forecast's and the naive forecast's mean
// absolute errors there, in worker units; MASE their ratio (absent when
// the naive error is 0); PeaksCovered the scored records whose forecast
// plus headroom covered the peak, PeakCoverage their share of Scored.
type forecastScore struct {
	Scored       int      `json:"scored"`
	MAE          float64  `json:"mae"`
	NaiveMAE     float64  `json:"naive_mae"`
	MASE         *float64 `json:"mase,omitempty"`
	PeaksCovered int      `json:"peaks_covered"`
	PeakCoverage float64  `json:"peak_coverage"`
}

// add scores a forecast (plus headroom) against the peak, the naive one
// being now. Until finish, MAE and NaiveMAE hold the sums of the errors.
func (s *forecastScore) add(forecast, headroom, now, peak float64) {
	s.Scored++
	s.MAE += math.Abs(forecast - peak)
	s.NaiveMAE += math.Abs(now - peak)
	if forecast+headroom >= peak-coverageSlack {
		s.PeaksCovered++
	}
}

// finish turns the sums add kept into means and ratios.
func (s *forecastScore) finish() {
	if s.Scored == 0 {
		return
	}
	if s.NaiveMAE > 0 {
		m := s.MAE / s.NaiveMAE
		s.MASE = &m
	}
	s.MAE, s.NaiveMAE = s.MAE/float64(s.Scored), s.NaiveMAE/float64(s.Scored)
	s.PeakCoverage = float64(s.PeaksCovered) / float64(s.Scored)
}

// leadScore is the score of the Records forecasts judged at Lead. From
// is where the lead comes from: leadRecorded (the records' own), or for
// records stored without theirs the assumed lead's source (see
// assumedLead).
type leadScore struct {
	Lead    time.Duration `json:"lead_ns"`
	From    string        `json:"lead_from"`
	Records int           `json:"records"`
	forecastScore
}

// leadRecorded is leadScore.From for the leads the records carry.
const leadRecorded = "recorded"

// assumedLead is the lead records stored without theirs are judged at,
// and where it comes from: "-lead", "PREDICTIVE_LEAD" or "default".
type assumedLead struct {
	Lead time.Duration
	From string
}

// forecastLead is the lead records stored without theirs are judged at:
// -lead, else the programs' PREDICTIVE_LEAD, else decision.DefaultLead.
func forecastLead(flagged time.Duration, env string) (assumedLead, error) {
	switch {
	case flagged < 0:
		return assumedLead{}, fmt.Errorf("-lead %s: want a positive duration: %w", flagged, errUsage)
	case flagged > 0:
		return assumedLead{flagged, "-lead"}, nil
	case env == "":
		return assumedLead{decision.DefaultLead, "default"}, nil
	}
	d, err := time.ParseDuration(env)
	if err != nil || d <= 0 {
		return assumedLead{}, fmt.Errorf("PREDICTIVE_LEAD=%q: want a positive duration, or give -lead: %w", env, errUsage)
	}
	return assumedLead{d, "PREDICTIVE_LEAD"}, nil
}

// coverageSlack is how far below the peak a forecast plus headroom still
// covers it: the store keeps both to a thousandth of a node.
const coverageSlack = 1e-3

// leadOf is the score r's forecast is counted in, added to f's Leads
// when it is the first: its recorded lead, else the assumed one.
func (f *forecastReport) leadOf(r autoscaler.Record, assumed assumedLead) *leadScore {
	lead, from := r.ForecastLead, leadRecorded
	if lead <= 0 {
		lead, from = assumed.Lead, assumed.From
	}
	for i := range f.Leads {
		if f.Leads[i].Lead == lead && f.Leads[i].From == from {
			return &f.Leads[i]
		}
	}
	f.Leads = append(f.Leads, leadScore{Lead: lead, From: from})
	return &f.Leads[len(f.Leads)-1]
}

// computeForecast judges the forecasts of hist's records in [from, to),
// each at its recorded lead, else at assumed (see forecastReport),
// pricing an hour of an instance at hourly; nil when none of them has a
// forecast or a forecast-only decision.
func computeForecast(hist []autoscaler.Record, from, to time.Time, assumed assumedLead, hourly float64) *forecastReport {
	hist = append([]autoscaler.Record(nil), hist...)
	sort.SliceStable(hist, func(i, j int) bool { return hist[i].Time.Before(hist[j].Time) })
	recs := filterRecords(hist, from, to, nil, "")
	spans, _ := recordSpans(recs, to)
	rep := &forecastReport{Methods: map[string]int{}, Leads: []leadScore{}}
	var shadowSeconds, actualSeconds float64
	for i, r := range recs {
		if n, ok := r.ShadowDesired(); ok {
			rep.ShadowRecords++
			rep.ShadowTime += spans[i]
			shadowSeconds += float64(n) * spans[i].Seconds()
			actualSeconds += float64(r.Instances) * spans[i].Seconds()
		}
		if r.ForecastMethod == "" || math.IsNaN(r.ForecastNodes) {
			continue
		}
		rep.Records++
		rep.Methods[r.ForecastMethod]++
		ls := rep.leadOf(r, assumed)
		ls.Records++
		now := r.Demand()
		peak, ok := peakAfter(hist, r.Time, ls.Lead)
		if !ok || math.IsNaN(now) {
			continue
		}
		ls.add(r.ForecastNodes, r.ForecastHeadroom, now, peak)
		rep.add(r.ForecastNodes, r.ForecastHeadroom, now, peak)
	}
	if rep.Records == 0 && rep.ShadowRecords == 0 {
		return nil
	}
	rep.finish()
	for i := range rep.Leads {
		rep.Leads[i].finish()
	}
	sort.Slice(rep.Leads, func(i, j int) bool {
		a, b := rep.Leads[i], rep.Leads[j]
		return a.Lead < b.Lead || a.Lead == b.Lead && a.From == leadRecorded && b.From != leadRecorded
	})
	rep.ShadowNodeHours, rep.ActualInstanceHours = shadowSeconds/3600, actualSeconds/3600
	rep.ShadowCost, rep.ActualCost = rep.ShadowNodeHours*hourly, rep.ActualInstanceHours*hourly
	return rep
}

// peakAfter is the highest demand hist (in time order) recorded in
// (at, at+lead]; ok is false when the history does not reach at+lead or
// records no demand in it.
func peakAfter(hist []autoscaler.Record, at time.Time, lead time.Duration) (peak float64, ok bool) {
	end := at.Add(lead)
	if len(hist) == 0 || hist[len(hist)-1].Time.Before(end) {
		return 0, false
	}
	i := sort.Search(len(hist), func(i int) bool { return hist[i].Time.After(at) })
	peak = math.Inf(-1)
	for ; i < len(hist) && !hist[i].Time.After(end); i++ {
		if d := hist[i].Demand(); !math.IsNaN(d) {
			peak = math.Max(peak, d)
		}
	}
	return peak, !math.IsInf(peak, -1)
}

// write prints the forecast's lines of the report.
func (f *forecastReport) write(w io.Writer) {
	var methods []string
	for m, n := range f.Methods {
		methods = append(methods, fmt.Sprintf("%s %d", m, n))
	}
	sort.Strings(methods)
	fmt.Fprintf(w, "forecast:\t%d ticks with a forecast (%s)\n", f.Records, strings.Join(methods, ", "))
	var leads []string
	for _, l := range f.Leads {
		switch l.From {
		case leadRecorded:
			leads = append(leads, fmt.Sprintf("%s as recorded (%d ticks)", roundHuman(l.Lead), l.Records))
		default:
			leads = append(leads, fmt.Sprintf("%s from %s for %d ticks stored without their lead", roundHuman(l.Lead), l.From, l.Records))
		}
	}
	fmt.Fprintf(w, "forecast lead:\t%s\n", strings.Join(leads, "; "))
	if f.Scored == 0 {
		fmt.Fprintf(w, "forecast skill:\tnone scored: the history holds no demand a lead time after them\n")
	} else {
		each := ""
		if len(f.Leads) > 1 {
			each = ", each at its own lead"
		}
		fmt.Fprintf(w, "forecast MASE:\t%s over %d forecasts%s (error %.2f nodes, naive \"as now\" %.2f)\n", maseText(f.MASE), f.Scored, each, f.MAE, f.NaiveMAE)
		fmt.Fprintf(w, "peak coverage:\t%.1f%% (%d of %d: forecast plus headroom at least the highest demand of the lead time after it)\n",
			100*f.PeakCoverage, f.PeaksCovered, f.Scored)
	}
	for _, l := range f.Leads {
		if len(f.Leads) > 1 && l.Scored > 0 {
			fmt.Fprintf(w, "  at %s (%s):\tMASE %s over %d forecasts (error %.2f nodes, naive %.2f), peak coverage %.1f%% (%d of %d)\n",
				roundHuman(l.Lead), l.From, maseText(l.MASE), l.Scored, l.MAE, l.NaiveMAE, 100*l.PeakCoverage, l.PeaksCovered, l.Scored)
		}
	}
	if f.ShadowRecords > 0 {
		fmt.Fprintf(w, "forecast-only:\tthe predictive policy would have had %.1f node-hours ($%.2f) where the fleet had %.1f instance-hours ($%.2f), over %d ticks covering %s\n",
			f.ShadowNodeHours, f.ShadowCost, f.ActualInstanceHours, f.ActualCost, f.ShadowRecords, roundHuman(f.ShadowTime))
	}
}

// maseText is a MASE to two decimals, "-" when there is none.
func maseText(m *float64) string {
	if m == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f", *m)
}
