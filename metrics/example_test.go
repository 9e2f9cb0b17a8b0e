package metrics_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
	"github.com/node-fleet/node-fleet/metrics"
)

// A Prometheus source with the default queries and one custom query. The
// stand-in server answers every query at the current time: 73.5 for CPU,
// NaN for memory (a division by zero, say), nothing at all for the API
// latency, and 12 for the queue.
func ExamplePrometheus() {
	answers := map[string]string{
		metrics.CPUQuery("", metrics.DefaultRateWindow): "73.5",
		metrics.MemoryQuery(""):                         "NaN",
		metrics.PendingPodsQuery:                        "2",
		`sum(queue_messages_ready{queue="jobs"})`:       "12",
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		result := ""
		if v, ok := answers[r.FormValue("query")]; ok {
			result = fmt.Sprintf(`{"metric":{},"value":[%d,%q]}`, time.Now().Unix(), v)
		}
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[%s]}}`, result)
	}))
	defer srv.Close()

	src, err := metrics.NewPrometheus(metrics.Config{
		URL:    srv.URL,
		Custom: map[string]metrics.Query{"queue": {Expr: `sum(queue_messages_ready{queue="jobs"})`, Timeout: 2 * time.Second}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	snap, err := src.Collect(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("cpu:", snap.CPU)
	fmt.Println("memory:", snap.Memory, "-", snap.Memory.Err)
	fmt.Println("pending pods:", snap.PendingPods)
	fmt.Println("api latency:", snap.APILatency, "-", snap.APILatency.Err)
	fmt.Println("queue:", snap.Custom["queue"])
	fmt.Println("missing:", snap.Missing())
	// Output:
	// cpu: 73.5
	// memory: missing - memory: no data: value is NaN
	// pending pods: 2
	// api latency: missing - api_latency_p99: no data: empty result (no series matched)
	// queue: 12
	// missing: [memory]
}

// A URL without a scheme is refused when the source is built, naming the
// setting.
func ExampleNewPrometheus_badConfig() {
	_, err := metrics.NewPrometheus(metrics.Config{URL: "prometheus:9090", NodeSelector: "instance!=k3s-server"})
	fmt.Println(err)
	// Output:
	// metrics.Prometheus config: URL: "prometheus:9090" has no http:// or https:// scheme (write e.g. http://prometheus:9090)
	// NodeSelector "instance!=k3s-server": matcher 1 (instance): the value must be a quoted string
}

// A custom source that reads only a queue's depth, merged with the
// standard source: the snapshot has the core readings from the standard
// one (so that the tick can scale down) and the queue from the custom one.
// A fixed snapshot (fake.Static) stands in for the Prometheus source here.
func ExampleMerge() {
	now := time.Now()
	standard := &fake.Static{Snapshot: autoscaler.Snapshot{Time: now,
		CPU: autoscaler.Value(35, now), Memory: autoscaler.Value(50, now), PendingPods: autoscaler.Value(0, now)}}
	queue := &fake.Static{Snapshot: autoscaler.Snapshot{Time: now,
		Custom: map[string]autoscaler.Metric{"queue": autoscaler.Value(12, now)}}}

	snap, err := metrics.Merge(standard, queue).Collect(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("cpu", snap.CPU, "queue", snap.Custom["queue"], "problems", len(snap.Problems(now, time.Minute)))
	// Output:
	// cpu 35 queue 12 problems 0
}
