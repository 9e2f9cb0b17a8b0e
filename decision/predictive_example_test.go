package decision_test

import (
	"fmt"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/capacity"
	"github.com/node-fleet/node-fleet/decision"
)

// worker is a new worker of 2 CPU and 4 GiB, and pod a pod asking for a
// tenth of it.
var (
	worker = capacity.WorkerTemplate{InstanceType: "t3.medium", Allocatable: capacity.Resources{MilliCPU: 2000, Memory: 4 << 30, Pods: 110}}
	pod    = capacity.Resources{MilliCPU: 200, Memory: 256 << 20, Pods: 1}
)

// view is the scheduler's view of running pods on the workers and pending
// ones, built as metrics.KubeScheduler and the simulator build it.
func view(running, pending int) *capacity.SchedulerView {
	var on capacity.Resources
	for range running {
		on = on.Add(pod)
	}
	var pp []capacity.PendingPod
	for i := range pending {
		pp = append(pp, capacity.PendingPod{Namespace: "shop", Name: fmt.Sprintf("web-%d", i), Requests: pod})
	}
	return capacity.NewSchedulerView(worker, on, pp)
}

// The predictive policy before a known flash sale, and after the sale
// when the demand has just dropped: it scales up for the calendar, and
// holds its nodes while the demand needed them within the scale-down
// window (two lead times). With only half an hour of history the
// forecaster has too few scored forecasts to trust any method over the
// naive one, and adds nothing of its own. The demand is the scheduler's
// view (pods' requests in worker units), which the tick also records in
// the history (autoscaler.Snapshot.WithDemand).
func ExamplePredictive() {
	now := time.Date(2026, 11, 27, 19, 58, 0, 0, time.UTC)
	sale := decision.Event{Name: "flash sale", Start: now.Add(2 * time.Minute), End: now.Add(47 * time.Minute), Factor: 3}
	policy, err := decision.NewPredictive(decision.PredictiveConfig{Calendar: []decision.Event{sale}})
	if err != nil {
		fmt.Println(err)
		return
	}
	observe := func(at time.Time, running, pending, ready int, history []autoscaler.Record) autoscaler.PolicyInput {
		return autoscaler.PolicyInput{Now: at, ReadyNodes: ready, History: history, Snapshot: autoscaler.Snapshot{
			Time: at, CPU: autoscaler.Value(70, at), Memory: autoscaler.Value(50, at),
			PendingPods: autoscaler.Value(float64(pending), at), Scheduler: view(running, pending)}}
	}
	record := func(t time.Time, nodes float64) autoscaler.Record {
		return autoscaler.Record{Time: t, Nodes: 3, Custom: map[string]float64{autoscaler.MetricDemand: nodes}}
	}
	// Half an hour of a steady 24 pods (2.4 workers), then the sale is 2
	// minutes away.
	var history []autoscaler.Record
	for t := now.Add(-30 * time.Minute); t.Before(now); t = t.Add(2 * time.Minute) {
		history = append(history, record(t, 2.4))
	}
	fmt.Println(policy.Decide(observe(now, 24, 0, 3, history)))

	// The sale is over: 7.2 workers' worth until 4 minutes ago, 2.4 now.
	after := sale.End.Add(10 * time.Minute)
	history = nil
	for t := after.Add(-30 * time.Minute); t.Before(after); t = t.Add(2 * time.Minute) {
		d := 7.2
		if t.After(after.Add(-4 * time.Minute)) {
			d = 2.4
		}
		history = append(history, record(t, d))
	}
	fmt.Println(policy.Decide(observe(after, 24, 0, 8, history)))
	// Output:
	// scale_up 5 (PREDICTIVE): demand 2.40 nodes; naive (12 scored forecasts, too few to judge: nothing added), event flash sale 7.20; reactive 3, forecast 3, calendar 8 nodes, 3 Ready
	// hold: demand 2.40 nodes; naive (12 scored forecasts, too few to judge: nothing added); reactive 3, forecast 3, calendar 0 nodes, 8 Ready; stabilised: the most needed over 14m0s 8, with its usual rise (0.00) 3
}

// The reactive policy adds exactly the nodes that pending pods need, by
// their requests packed onto new workers; the autoscaler then subtracts
// the nodes still booting.
func ExampleReactive() {
	now := time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC)
	p, err := decision.NewReactive(decision.ReactiveConfig{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, o := range []struct{ ready, running, pending int }{{3, 30, 12}, {6, 24, 0}, {4, 32, 0}} {
		fmt.Println(p.Decide(autoscaler.PolicyInput{Now: now, ReadyNodes: o.ready, Snapshot: autoscaler.Snapshot{Time: now,
			PendingPods: autoscaler.Value(float64(o.pending), now), Scheduler: view(o.running, o.pending)}}))
	}
	// Output:
	// scale_up 2 (CRITICAL): demand 4.20 nodes (12 pending pods need 2) +0% needs 5 nodes, 3 Ready
	// scale_down 3 (LOW_LOAD): demand 2.40 nodes +0% fits 3 nodes, 6 Ready; the most needed over 14m0s 0, with its usual rise (0.00) 3
	// hold: demand 3.20 nodes (0 pending pods) +0% fits the 4 Ready nodes
}

// The forecaster on three days of a shop that opens at 09:00 (from 1 to 5
// workers' worth in 20 minutes), five minutes before the opening: it finds
// the daily period in the long history (the autoscaler's 10-minute means)
// and judges its seasonal methods there, where the openings of the days
// before give each a fair trial (on the last day of 2-minute ticks alone,
// one opening, their gain would not be significant). Seasonal naive, the
// highest demand in the lead window a day ago, forecasts the opening
// ramp's first minutes before the demand now shows any.
func ExampleForecaster() {
	fc, err := decision.NewForecaster(decision.ForecasterConfig{})
	if err != nil {
		fmt.Println(err)
		return
	}
	demand := func(t time.Time) float64 { // in workers
		switch m := t.Hour()*60 + t.Minute(); {
		case m >= 9*60 && m < 9*60+20:
			return 1 + 4*float64(m-9*60)/20
		case m >= 9*60+20 && m < 20*60:
			return 5
		}
		return 1
	}
	rec := func(t time.Time, d float64) autoscaler.Record {
		return autoscaler.Record{Time: t, Custom: map[string]float64{autoscaler.MetricDemand: d}}
	}
	now := time.Date(2026, 11, 23, 8, 55, 0, 0, time.UTC)
	var history, long []autoscaler.Record
	for t := now.Add(-24 * time.Hour); t.Before(now); t = t.Add(2 * time.Minute) {
		history = append(history, rec(t, demand(t)))
	}
	for b := now.Add(-3 * 24 * time.Hour).Truncate(10 * time.Minute); b.Before(now); b = b.Add(10 * time.Minute) {
		sum := 0.0
		for t := b; t.Before(b.Add(10 * time.Minute)); t = t.Add(2 * time.Minute) {
			sum += demand(t)
		}
		long = append(long, rec(b, sum/5)) // the mean of the bucket's five ticks
	}
	f := fc.Forecast(now, history, long, demand(now))
	fmt.Printf("periods %v; %s: the peak of the next %s %.1f, headroom %.1f\n", f.Periods, f.MethodName(), fc.Config().Lead, f.Point, f.Headroom)
	// Output:
	// periods [24h0m0s]; seasonal naive (day): the peak of the next 7m0s 1.8, headroom 0.0
}
