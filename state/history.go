package state

import (
	"encoding/json"
	"math"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// wireRecord is a Record as stored: JSON has no NaN, so a missing reading
// (NaN in a Record) is stored as an absent field. Short names keep the
// item small.
type wireRecord struct {
	Time        time.Time           `json:"t"`
	CPU         *float64            `json:"cpu,omitempty"`
	Memory      *float64            `json:"mem,omitempty"`
	PendingPods *float64            `json:"pend,omitempty"`
	Custom      map[string]*float64 `json:"cus,omitempty"`
	Nodes       int                 `json:"n,omitempty"`
	Instances   int                 `json:"i,omitempty"`
	Action      autoscaler.Action   `json:"a,omitempty"`
	Count       int                 `json:"c,omitempty"`
	Safety      bool                `json:"s,omitempty"`
	Hold        autoscaler.HoldCode `json:"h,omitempty"`
	Samples     int                 `json:"k,omitempty"`
	DryRun      bool                `json:"dry,omitempty"`
	Would       []string            `json:"w,omitempty"`
	// The forecast (its method, left out when it is the record before's,
	// the forecast and the headroom to a thousandth of a node, the lead
	// it was made for in seconds, left out when it is the record
	// before's) and, in forecast-only mode, the number of
	// Ready nodes the shadow policy wanted (Record.ShadowDesired: Nodes
	// and ShadowAction with ShadowCount are read back from it).
	ForecastMethod   string   `json:"fm,omitempty"`
	ForecastNodes    *float64 `json:"f,omitempty"`
	ForecastHeadroom *float64 `json:"fh,omitempty"`
	ForecastLead     *float64 `json:"fl,omitempty"`
	ShadowDesired    *int     `json:"sd,omitempty"`
}

// putForecast puts r's forecast and forecast-only decision in w.
func (w *wireRecord) putForecast(r autoscaler.Record) {
	if r.ForecastMethod != "" {
		w.ForecastMethod = r.ForecastMethod
		w.ForecastNodes, w.ForecastHeadroom = thousandths(r.ForecastNodes), thousandths(r.ForecastHeadroom)
		if w.ForecastHeadroom != nil && *w.ForecastHeadroom == 0 {
			w.ForecastHeadroom = nil // no headroom: the naive forecast's
		}
		if r.ForecastLead != 0 {
			s := r.ForecastLead.Seconds()
			w.ForecastLead = &s
		}
	}
	if d, ok := r.ShadowDesired(); ok {
		w.ShadowDesired = &d
	}
}

// getForecast puts w's forecast and forecast-only decision in r, whose
// Nodes are read already.
func (w wireRecord) getForecast(r *autoscaler.Record) {
	if w.ForecastMethod != "" {
		r.ForecastMethod, r.ForecastNodes = w.ForecastMethod, orNaN(w.ForecastNodes)
		if w.ForecastHeadroom != nil {
			r.ForecastHeadroom = *w.ForecastHeadroom
		}
	}
	if w.ShadowDesired != nil {
		switch d := *w.ShadowDesired; {
		case d > r.Nodes:
			r.ShadowAction, r.ShadowCount = autoscaler.ScaleUp, d-r.Nodes
		case d < r.Nodes:
			r.ShadowAction, r.ShadowCount = autoscaler.ScaleDown, r.Nodes-d
		default:
			r.ShadowAction = autoscaler.Hold
		}
	}
}

// thousandths is v rounded to three decimals (as it is when too large
// to round: v*1000 would be infinite, which no JSON encodes and would
// fail the whole Save); nil when not a number.
func thousandths(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	if r := math.Round(v*1000) / 1000; !math.IsInf(r, 0) {
		v = r
	}
	return &v
}

func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func orNaN(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// leadOf is r's forecast lead; 0 when r has no forecast.
func leadOf(r autoscaler.Record) time.Duration {
	if r.ForecastMethod == "" {
		return 0
	}
	return r.ForecastLead
}

// fromSeconds is a stored lead as a Duration, within its range.
func fromSeconds(s float64) time.Duration {
	ns := math.Round(s * float64(time.Second))
	switch {
	case math.IsNaN(ns):
		return 0
	case ns >= math.MaxInt64:
		return math.MaxInt64
	case ns <= math.MinInt64:
		return math.MinInt64
	}
	return time.Duration(ns)
}

// toWire is r as stored, written whole.
func toWire(r autoscaler.Record) wireRecord {
	w := wireRecord{Time: r.Time, CPU: finite(r.CPU), Memory: finite(r.Memory), PendingPods: finite(r.PendingPods),
		Nodes: r.Nodes, Instances: r.Instances, Action: r.Action, Count: r.Count, Safety: r.Safety, Hold: r.Hold, Samples: r.Samples,
		DryRun: r.DryRun, Would: r.Would}
	w.putForecast(r)
	if len(r.Custom) > 0 {
		w.Custom = make(map[string]*float64, len(r.Custom))
		for k, v := range r.Custom {
			w.Custom[k] = finite(v)
		}
	}
	return w
}

// elide leaves out of w, r's whole form, what the record before said
// already: a method the same as prevMethod, a lead the same as
// prevLead. A lead that differs is written, 0 included (the record
// before's does not hold). It reports whether it left anything out.
func (w *wireRecord) elide(r autoscaler.Record, prevMethod string, prevLead time.Duration) bool {
	if r.ForecastMethod == "" {
		return false
	}
	left := false
	if w.ForecastMethod == prevMethod && w.ForecastNodes != nil {
		w.ForecastMethod, left = "", true
	}
	switch lead := r.ForecastLead; {
	case lead == prevLead:
		left = left || w.ForecastLead != nil
		w.ForecastLead = nil
	case w.ForecastLead == nil:
		zero := 0.0
		w.ForecastLead = &zero
	}
	return left
}

// encodeHistory keeps the newest records within limit (when above 0) and
// maxBytes and encodes them as a JSON array. A record's forecast method
// and lead are written only where they differ from the record before's
// (the first record kept always writes them): they change seldom, and a
// day of records must fit.
func encodeHistory(h []autoscaler.Record, limit, maxBytes int) (string, error) {
	if limit > 0 && len(h) > limit {
		h = h[len(h)-limit:]
	}
	wire := make([]json.RawMessage, len(h))
	// full is a record's encoding with its method and lead, where wire
	// leaves them out; nil where they are the same.
	full := make([]json.RawMessage, len(h))
	size := 1 // "["; each record then adds itself and a "," or the "]"
	prevMethod, prevLead := "", time.Duration(0)
	for i, r := range h {
		w := toWire(r)
		whole := w
		var err error
		if w.elide(r, prevMethod, prevLead) {
			if full[i], err = json.Marshal(whole); err != nil {
				return "", err
			}
		}
		prevMethod, prevLead = r.ForecastMethod, leadOf(r)
		b, err := json.Marshal(w)
		if err != nil {
			return "", err
		}
		wire[i] = b
		size += len(b) + 1
	}
	// Drop the oldest until it fits, the first kept written whole.
	first := 0
	whole := func(i int) int { return len(full[i]) - len(wire[i]) }
	for first < len(wire) && size+max(whole(first), 0) > maxBytes {
		size -= len(wire[first]) + 1
		first++
	}
	if first < len(wire) && full[first] != nil {
		wire[first] = full[first]
	}
	b, err := json.Marshal(wire[first:])
	if err != nil {
		return "", err
	}
	return string(b), nil
}

func decodeHistory(s string) ([]autoscaler.Record, error) {
	var wire []wireRecord
	if err := json.Unmarshal([]byte(s), &wire); err != nil {
		return nil, err
	}
	if len(wire) == 0 {
		return nil, nil
	}
	out := make([]autoscaler.Record, len(wire))
	prevMethod, prevLead := "", time.Duration(0)
	for i, w := range wire {
		if w.ForecastMethod == "" && w.ForecastNodes != nil {
			w.ForecastMethod = prevMethod // the same as the record before's
		}
		r := autoscaler.Record{Time: w.Time, CPU: orNaN(w.CPU), Memory: orNaN(w.Memory), PendingPods: orNaN(w.PendingPods),
			Nodes: w.Nodes, Instances: w.Instances, Action: w.Action, Count: w.Count, Safety: w.Safety, Hold: w.Hold, Samples: w.Samples,
			DryRun: w.DryRun, Would: w.Would}
		w.getForecast(&r)
		if r.ForecastMethod != "" {
			r.ForecastLead = prevLead // the same as the record before's
			if w.ForecastLead != nil {
				r.ForecastLead = fromSeconds(*w.ForecastLead)
			}
		}
		prevMethod, prevLead = r.ForecastMethod, leadOf(r)
		if len(w.Custom) > 0 {
			r.Custom = make(map[string]float64, len(w.Custom))
			for k, v := range w.Custom {
				r.Custom[k] = orNaN(v)
			}
		}
		out[i] = r
	}
	return out, nil
}
