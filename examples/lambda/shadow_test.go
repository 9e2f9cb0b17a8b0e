package main

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/internal/awsutil"
	"github.com/node-fleet/node-fleet/internal/testenv"
	"github.com/node-fleet/node-fleet/notify"
	"github.com/node-fleet/node-fleet/run/lambda"
)

// FORECAST=shadow under the emulator: the threshold policy acts, and what
// the predictive policy would have done is said beside its decision, in
// the tick's result and in the function's log; what is launched and
// done is the threshold policy's alone. The predictive policy's forecast
// and the nodes it would have wanted are stored in the history record
// in DynamoDB and published to CloudWatch (moto's).
func TestForecastOnlyModeActsAsThePolicyAndSaysWhatThePredictiveWouldDo(t *testing.T) {
	f := startFunction(t, map[string]string{
		"MIN_NODES": "0", "MAX_NODES": "5", "POLICY": "threshold", "FORECAST": "shadow",
		"INSTANCE_TYPE": "t3.medium", "WORKER_VCPU": "2", "WORKER_MEMORY_MIB": "4096",
	})
	var tick lambda.Response
	body := f.invoke(t, payload(t, "scheduled-event.json", ""))
	if err := json.Unmarshal(body, &tick); err != nil || tick.Event != "tick" {
		t.Fatalf("tick answered %s (%v)", body, err)
	}
	acting, would, ok := strings.Cut(tick.Result, "; forecast-only: ")
	if !ok || !strings.Contains(would, "predictive: ") {
		t.Fatalf("the result %q does not say what the predictive policy would have done", tick.Result)
	}
	if !strings.Contains(acting, "CPU") && !strings.Contains(acting, "pending") {
		t.Errorf("the acting decision %q is not the threshold policy's", acting)
	}
	if !strings.Contains(f.out.String(), "forecast-only: ") {
		t.Errorf("the function's log does not carry the forecast-only decision:\n%s", f.out.String())
	}
	// The node_exporter reads this machine's CPU: the threshold policy
	// may scale up or hold, and whatever it did is all that was done.
	st, err := f.store.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	launched := 0
	if len(st.History) == 1 && st.History[0].Action == autoscaler.ScaleUp {
		launched = st.History[0].Count
	}
	if n := len(f.describe(t)); len(st.History) != 1 || n != launched {
		t.Fatalf("%d instances, history %+v: want what the threshold policy did (%s)", n, st.History, acting)
	}
	// A first tick has no history to score a method on: the forecast is
	// naive, the demand now.
	rec := st.History[0]
	desired, ok := rec.ShadowDesired()
	if !ok || rec.ForecastMethod != "naive" || math.Abs(rec.ForecastNodes-rec.Demand()) > 1e-3 {
		t.Errorf("stored record: forecast %q %v (demand %v), shadow %s %d: want the naive forecast and a forecast-only decision",
			rec.ForecastMethod, rec.ForecastNodes, rec.Demand(), rec.ShadowAction, rec.ShadowCount)
	}
	cfg, err := awsutil.ForEmulator(t.Context(), testenv.Lookup(t, "NODEFLEET_MOTO_ENDPOINT", "moto"), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	cw := cloudwatch.NewFromConfig(cfg, notify.UseQueryProtocol)
	for metric, want := range map[string]float64{notify.MetricShadowDesired: float64(desired), notify.MetricForecastNodes: rec.ForecastNodes} {
		now := time.Now()
		out, err := cw.GetMetricStatistics(t.Context(), &cloudwatch.GetMetricStatisticsInput{
			Namespace: aws.String("NodeFleet"), MetricName: aws.String(metric),
			Dimensions: []cwtypes.Dimension{{Name: aws.String(notify.DimensionCluster), Value: aws.String(f.cluster)}},
			StartTime:  aws.Time(now.Add(-time.Hour)), EndTime: aws.Time(now.Add(time.Hour)),
			Period: aws.Int32(3600), Statistics: []cwtypes.Statistic{cwtypes.StatisticSum, cwtypes.StatisticSampleCount},
		})
		if err != nil {
			t.Fatal(err)
		}
		var sum, n float64
		for _, dp := range out.Datapoints {
			sum += aws.ToFloat64(dp.Sum)
			n += aws.ToFloat64(dp.SampleCount)
		}
		if n != 1 || math.Abs(sum-want) > 1e-3 {
			t.Errorf("CloudWatch %s: %v data point(s) summing to %v, want one of %v", metric, n, sum, want)
		}
	}
}
