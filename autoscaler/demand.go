package autoscaler

import "math"

// This file holds how the capacity policies read the demand: the
// simulator and the production source (metrics.KubeScheduler) both build
// their SchedulerView with capacity.NewSchedulerView, and the policies read its
// Demand now (Snapshot.Demand) and in the past (Record.Demand, from what
// Snapshot.WithDemand put among the custom metrics), so that a policy sees the same numbers
// from the same pods wherever it runs.

// WithDemand returns s with its scheduler view's Demand also among the
// custom metrics, as MetricDemand, so that the tick records it in the
// history; s is returned as it is when it has no scheduler view or the
// view's template is unknown (Demand is then not a reading). A
// MetricSource that sets Snapshot.Scheduler calls it on what it returns.
func (s Snapshot) WithDemand() Snapshot {
	if s.Scheduler == nil || s.Scheduler.Template.Free().MilliCPU <= 0 || s.Scheduler.Template.Free().Memory <= 0 {
		return s
	}
	custom := make(map[string]Metric, len(s.Custom)+1)
	for k, m := range s.Custom {
		custom[k] = m
	}
	custom[MetricDemand] = Value(s.Scheduler.Demand, s.Time)
	s.Custom = custom
	return s
}

// Demand is the demand in worker units the snapshot's scheduler view
// gives; ok is false when there is no view or its template is unknown.
func (s Snapshot) Demand() (demand float64, ok bool) {
	v := s.Scheduler
	if v == nil {
		return 0, false
	}
	f := v.Template.Free()
	if f.MilliCPU <= 0 || f.Memory <= 0 || math.IsNaN(v.Demand) || math.IsInf(v.Demand, 0) || v.Demand < 0 {
		return 0, false
	}
	return v.Demand, true
}

// Demand is the demand in worker units the record holds (its
// Custom[MetricDemand]); NaN when the tick had none.
func (r Record) Demand() float64 {
	v, ok := r.Custom[MetricDemand]
	if !ok || math.IsInf(v, 0) || v < 0 {
		return math.NaN()
	}
	return v
}
