package scrape

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"k8s.io/utils/clock"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
)

// A tick skipped because another replica holds the lock is published
// once: counted, node_fleet_active 0, and LastTick advanced (the
// standby's /healthz stays 200).
func TestSkippedTicksArePublishedOnce(t *testing.T) {
	reg := prometheus.NewRegistry()
	pub, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.RealClock{}
	store := fake.NewStore(clk)
	fleet := fake.NewFleet(clk)
	m := &fake.Metrics{}
	cfg := autoscaler.DefaultConfig()
	cfg.ClusterID, cfg.Owner = "shop", "standby"
	cfg.Metrics, cfg.State, cfg.Fleet, cfg.Nodes = m, store, fleet, fake.NewNodes(clk, fleet)
	cfg.Locker = store
	cfg.Publisher = pub
	cfg.Policy = autoscaler.PolicyFunc(func(autoscaler.PolicyInput) autoscaler.Decision { return autoscaler.HoldBecause("test") })
	as, err := autoscaler.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Acquire(context.Background(), "the-other-replica", time.Minute); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	res, err := as.RunOnce(context.Background())
	if err != nil || res.Outcome != autoscaler.OutcomeSkipped {
		t.Fatalf("tick: %s, %v; want skipped", res.Outcome, err)
	}
	value := func(c prometheus.Metric) float64 {
		var m dto.Metric
		if err := c.Write(&m); err != nil {
			t.Fatal(err)
		}
		if m.Counter != nil {
			return m.Counter.GetValue()
		}
		return m.Gauge.GetValue()
	}
	if got := value(pub.ticks.WithLabelValues(string(autoscaler.OutcomeSkipped))); got != 1 {
		t.Errorf("node_fleet_ticks_total{outcome=\"skipped\"} = %v, want 1", got)
	}
	if got := value(pub.active); got != 0 {
		t.Errorf("node_fleet_active = %v after a skipped tick, want 0", got)
	}
	if pub.LastTick().Before(before) {
		t.Errorf("LastTick %s did not advance with the skipped tick", pub.LastTick())
	}
}
