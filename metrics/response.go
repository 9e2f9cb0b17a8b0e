package metrics

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/prometheus/common/model"
)

// reading turns a query's answer into one number and its timestamp. The
// answer must be a scalar, or an instant vector with exactly one float
// sample; the number must be finite. Anything else is an error that says
// what came back.
func reading(val model.Value) (float64, time.Time, error) {
	var v model.SampleValue
	var ts model.Time
	switch r := val.(type) {
	case *model.Scalar:
		if r == nil {
			return 0, time.Time{}, errors.New("empty scalar")
		}
		v, ts = r.Value, r.Timestamp
	case model.Vector:
		switch len(r) {
		case 0:
			return 0, time.Time{}, errors.New("empty result (no series matched)")
		case 1:
		default:
			return 0, time.Time{}, fmt.Errorf("%d series, want 1 (aggregate the query, e.g. with sum or avg): first %s", len(r), r[0].Metric)
		}
		s := r[0]
		if s == nil {
			return 0, time.Time{}, errors.New("empty sample")
		}
		if s.Histogram != nil {
			return 0, time.Time{}, fmt.Errorf("series %s is a native histogram, want a float", s.Metric)
		}
		v, ts = s.Value, s.Timestamp
	case nil:
		return 0, time.Time{}, errors.New("no result")
	default:
		return 0, time.Time{}, fmt.Errorf("result of type %s, want scalar or vector", val.Type())
	}
	f := float64(v)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, time.Time{}, fmt.Errorf("value is %v", f)
	}
	return f, ts.Time(), nil
}
