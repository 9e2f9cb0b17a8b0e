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
	// the forecast and the headroom to a thousandth of a node) and, in forecast-only mode, the number of
	// Ready nodes the shadow policy wanted (Record.ShadowDesired: Nodes
	// and ShadowAction with ShadowCount are read back from it).
	ForecastMethod   string   `json:"fm,omitempty"`
	ForecastNodes    *float64 `json:"f,omitempty"`
	ForecastHeadroom *float64 `json:"fh,omitempty"`
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

// encodeHistory keeps the newest records within limit (when above 0) and
// maxBytes and encodes them as a JSON array. A record's forecast method
// is written only where it differs from the record before's (the first
// record kept always writes it): it changes seldom, and a day of records
// must fit.
func encodeHistory(h []autoscaler.Record, limit, maxBytes int) (string, error) {
	if limit > 0 && len(h) > limit {
		h = h[len(h)-limit:]
	}
	wire := make([]json.RawMessage, len(h))
	// full is a record's encoding with its method, where wire's leaves
	// it out; nil where they are the same.
	full := make([]json.RawMessage, len(h))
	size := 1 // "["; each record then adds itself and a "," or the "]"
	prev := ""
	for i, r := range h {
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
		var err error
		if method := w.ForecastMethod; method != "" && method == prev && w.ForecastNodes != nil {
			if full[i], err = json.Marshal(w); err != nil {
				return "", err
			}
			w.ForecastMethod = ""
		}
		prev = r.ForecastMethod
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
	prev := ""
	for i, w := range wire {
		if w.ForecastMethod == "" && w.ForecastNodes != nil {
			w.ForecastMethod = prev // the same as the record before's
		}
		prev = w.ForecastMethod
		r := autoscaler.Record{Time: w.Time, CPU: orNaN(w.CPU), Memory: orNaN(w.Memory), PendingPods: orNaN(w.PendingPods),
			Nodes: w.Nodes, Instances: w.Instances, Action: w.Action, Count: w.Count, Safety: w.Safety, Hold: w.Hold, Samples: w.Samples,
			DryRun: w.DryRun, Would: w.Would}
		w.getForecast(&r)
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
