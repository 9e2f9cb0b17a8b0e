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
// maxBytes and encodes them as a JSON array.
func encodeHistory(h []autoscaler.Record, limit, maxBytes int) (string, error) {
	if limit > 0 && len(h) > limit {
		h = h[len(h)-limit:]
	}
	wire := make([]json.RawMessage, len(h))
	size := 1 // "["; each record then adds itself and a "," or the "]"
	for i, r := range h {
		w := wireRecord{Time: r.Time, CPU: finite(r.CPU), Memory: finite(r.Memory), PendingPods: finite(r.PendingPods),
			Nodes: r.Nodes, Instances: r.Instances, Action: r.Action, Count: r.Count, Safety: r.Safety, Hold: r.Hold, Samples: r.Samples,
			DryRun: r.DryRun, Would: r.Would}
		if len(r.Custom) > 0 {
			w.Custom = make(map[string]*float64, len(r.Custom))
			for k, v := range r.Custom {
				w.Custom[k] = finite(v)
			}
		}
		b, err := json.Marshal(w)
		if err != nil {
			return "", err
		}
		wire[i] = b
		size += len(b) + 1
	}
	// Drop the oldest until it fits.
	first := 0
	for first < len(wire) && size > maxBytes {
		size -= len(wire[first]) + 1
		first++
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
	for i, w := range wire {
		r := autoscaler.Record{Time: w.Time, CPU: orNaN(w.CPU), Memory: orNaN(w.Memory), PendingPods: orNaN(w.PendingPods),
			Nodes: w.Nodes, Instances: w.Instances, Action: w.Action, Count: w.Count, Safety: w.Safety, Hold: w.Hold, Samples: w.Samples,
			DryRun: w.DryRun, Would: w.Would}
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
