package scrape_test

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/notify/scrape"
)

// A program of its own publishes the autoscaler's metrics on its own
// registry (served with promhttp.HandlerFor) by passing the Publisher as
// autoscaler.Config's Publisher (config.Options' Publisher).
func ExampleNew() {
	reg := prometheus.NewRegistry()
	pub, err := scrape.New(reg)
	if err != nil {
		fmt.Println(err)
		return
	}
	pub.SetLimits(1, 10)
	end := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	_ = pub.Publish(context.Background(), autoscaler.Result{Outcome: autoscaler.OutcomeHeld, Time: end.Add(-time.Second), Duration: time.Second, Plan: autoscaler.Plan{ReadyNodes: 3, Instances: 3}})
	families, _ := reg.Gather()
	for _, f := range families {
		if f.GetName() == "node_fleet_instances" {
			for _, m := range f.GetMetric() {
				fmt.Println(m.GetLabel()[0].GetValue(), m.GetGauge().GetValue())
			}
		}
	}
	fmt.Println(pub.LastTick().Equal(end))
	// Output:
	// active 3
	// booting 0
	// ready 3
	// true
}
