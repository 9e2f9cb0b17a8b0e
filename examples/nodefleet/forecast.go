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
// policy's, acting or in forecast-only mode) from the history alone:
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
// holds its demand and a demand in that lead time.
type forecastReport struct {
	Lead time.Duration `json:"lead_ns"`
	// Records are the period's records with a forecast, by method.
	Records int            `json:"records"`
	Methods map[string]int `json:"methods"`
	// Scored are the records scored; MAE and NaiveMAE the forecast's and
	// the naive forecast's mean absolute errors there, in worker units;
	// MASE their ratio (absent when the naive error is 0).
	Scored   int      `json:"scored"`
	MAE      float64  `json:"mae"`
	NaiveMAE float64  `json:"naive_mae"`
	MASE     *float64 `json:"mase,omitempty"`
	// PeaksCovered are the scored records whose forecast plus headroom
	// covered the peak; PeakCoverage their share of Scored.
	PeaksCovered int     `json:"peaks_covered"`
	PeakCoverage float64 `json:"peak_coverage"`
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

// forecastLead is the lead the forecasts are judged at: -lead, else the
// programs' PREDICTIVE_LEAD, else decision.DefaultLead.
func forecastLead(flagged time.Duration, env string) (time.Duration, error) {
	switch {
	case flagged < 0:
		return 0, fmt.Errorf("-lead %s: want a positive duration: %w", flagged, errUsage)
	case flagged > 0:
		return flagged, nil
	case env == "":
		return decision.DefaultLead, nil
	}
	d, err := time.ParseDuration(env)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("PREDICTIVE_LEAD=%q: want a positive duration, or give -lead: %w", env, errUsage)
	}
	return d, nil
}

// coverageSlack is how far below the peak a forecast plus headroom still
// covers it: the store keeps both to a thousandth of a node.
const coverageSlack = 1e-3

// computeForecast judges the forecasts of hist's records in [from, to)
// at lead (see forecastReport), pricing an hour of an instance at hourly;
// nil when none of them has a forecast or a forecast-only decision.
func computeForecast(hist []autoscaler.Record, from, to time.Time, lead time.Duration, hourly float64) *forecastReport {
	hist = append([]autoscaler.Record(nil), hist...)
	sort.SliceStable(hist, func(i, j int) bool { return hist[i].Time.Before(hist[j].Time) })
	recs := filterRecords(hist, from, to, nil, "")
	spans, _ := recordSpans(recs, to)
	rep := &forecastReport{Lead: lead, Methods: map[string]int{}}
	var absErr, naiveErr, shadowSeconds, actualSeconds float64
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
		now := r.Demand()
		peak, ok := peakAfter(hist, r.Time, lead)
		if !ok || math.IsNaN(now) {
			continue
		}
		rep.Scored++
		absErr += math.Abs(r.ForecastNodes - peak)
		naiveErr += math.Abs(now - peak)
		if r.ForecastNodes+r.ForecastHeadroom >= peak-coverageSlack {
			rep.PeaksCovered++
		}
	}
	if rep.Records == 0 && rep.ShadowRecords == 0 {
		return nil
	}
	if rep.Scored > 0 {
		rep.MAE, rep.NaiveMAE = absErr/float64(rep.Scored), naiveErr/float64(rep.Scored)
		rep.PeakCoverage = float64(rep.PeaksCovered) / float64(rep.Scored)
		if naiveErr > 0 {
			m := absErr / naiveErr
			rep.MASE = &m
		}
	}
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
	fmt.Fprintf(w, "forecast:\t%d ticks with a forecast of the next %s (%s)\n", f.Records, roundHuman(f.Lead), strings.Join(methods, ", "))
	switch {
	case f.Scored == 0:
		fmt.Fprintf(w, "forecast skill:\tnone scored: the history holds no demand a lead time after them\n")
	default:
		mase := "-"
		if f.MASE != nil {
			mase = fmt.Sprintf("%.2f", *f.MASE)
		}
		fmt.Fprintf(w, "forecast MASE:\t%s over %d forecasts (error %.2f nodes, naive \"as now\" %.2f)\n", mase, f.Scored, f.MAE, f.NaiveMAE)
		fmt.Fprintf(w, "peak coverage:\t%.1f%% (%d of %d: forecast plus headroom at least the highest demand of the next %s)\n",
			100*f.PeakCoverage, f.PeaksCovered, f.Scored, roundHuman(f.Lead))
	}
	if f.ShadowRecords > 0 {
		fmt.Fprintf(w, "forecast-only:\tthe predictive policy would have had %.1f node-hours ($%.2f) where the fleet had %.1f instance-hours ($%.2f), over %d ticks covering %s\n",
			f.ShadowNodeHours, f.ShadowCost, f.ActualInstanceHours, f.ActualCost, f.ShadowRecords, roundHuman(f.ShadowTime))
	}
}
