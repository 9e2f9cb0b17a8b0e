package main

import (
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// The Lambda function's metrics as notify.CloudWatch publishes them
// (namespace metricNamespace, dimension ClusterId; a test checks the names
// against notify/cloudwatch.go, which this module does not import).
const (
	cwCPU          = "ClusterCPUUtilization"
	cwMemory       = "ClusterMemoryUtilization"
	cwPending      = "PendingPodCount"
	cwNodes        = "NodeCount"
	cwReady        = "ReadyNodeCount"
	cwLaunches     = "EC2LaunchEvents"
	cwTerminations = "EC2Terminations"
	cwDecisions    = "ScalingDecisionHistory"
	cwFailures     = "ScalingFailures"
	cwTickDuration = "TickDuration"
	cwDimCluster   = "ClusterId"
)

// monitoring declares the alarms and, beside them, the dashboard.
func (st *Stack) monitoring(ctx *pulumi.Context, s Settings, name namer, tags tagger) error {
	if err := st.alarms(ctx, s, name, tags); err != nil {
		return err
	}
	return st.dashboard(ctx, s, name)
}

// dashboard declares a CloudWatch dashboard of the Lambda function's
// metrics: the fleet (active instances and Ready nodes against MinNodes and
// MaxNodes), pending pods, CPU and memory, scaling actions (launches,
// terminations and decisions by action), failures by kind, the tick's
// duration, the function's own invocations, errors, throttles and
// duration, and the stack's alarms.
func (st *Stack) dashboard(ctx *pulumi.Context, s Settings, name namer) error {
	keys := []string{"lambda-errors", "cpu-overload", "at-max"}
	inputs := []any{st.Function.Name}
	for _, k := range keys {
		a, ok := st.Alarms[k]
		if !ok {
			return fmt.Errorf("dashboard: no alarm %q", k)
		}
		inputs = append(inputs, a.Arn)
	}
	body := pulumi.All(inputs...).ApplyT(func(v []any) (string, error) {
		fn := v[0].(string)
		var alarms []string
		for _, a := range v[1:] {
			alarms = append(alarms, a.(string))
		}
		return dashboardBody(s, fn, alarms)
	}).(pulumi.StringOutput)
	d, err := cloudwatch.NewDashboard(ctx, name("dashboard"), &cloudwatch.DashboardArgs{
		DashboardName: pulumi.String(name("node-fleet")),
		DashboardBody: body,
	})
	if err != nil {
		return err
	}
	st.Outputs["dashboardName"] = d.DashboardName
	return nil
}

// widget is a CloudWatch dashboard widget (the dashboard body's format).
type widget struct {
	Type       string         `json:"type"`
	X          int            `json:"x"`
	Y          int            `json:"y"`
	Width      int            `json:"width"`
	Height     int            `json:"height"`
	Properties map[string]any `json:"properties"`
}

// dashboardBody is the dashboard's JSON.
func dashboardBody(s Settings, function string, alarms []string) (string, error) {
	m := func(metric, label, stat string) []any {
		return []any{metricNamespace, metric, cwDimCluster, s.ClusterID, map[string]any{"label": label, "stat": stat}}
	}
	search := func(dim, metric, label string) map[string]any {
		return map[string]any{
			"expression": fmt.Sprintf(`SEARCH('{%s,%s,%s} MetricName="%s" %s="%s"', 'Sum', 300)`, metricNamespace, cwDimCluster, dim, metric, cwDimCluster, s.ClusterID),
			"id":         "e" + dim, "label": label,
		}
	}
	lambda := func(metric, stat string) []any {
		return []any{"AWS/Lambda", metric, "FunctionName", function, map[string]any{"stat": stat, "label": metric}}
	}
	graph := func(title string, metrics []any, extra map[string]any) map[string]any {
		p := map[string]any{"title": title, "region": s.Region, "view": "timeSeries", "period": 120, "metrics": metrics}
		for k, v := range extra {
			p[k] = v
		}
		return p
	}
	props := []map[string]any{
		graph("Fleet: active instances and Ready nodes", []any{m(cwNodes, "active instances", "Average"), m(cwReady, "Ready nodes", "Average")},
			map[string]any{"annotations": map[string]any{"horizontal": []any{
				map[string]any{"label": "MaxNodes", "value": s.MaxNodes}, map[string]any{"label": "MinNodes", "value": s.MinNodes}}},
				"yAxis": map[string]any{"left": map[string]any{"min": 0}}}),
		graph("Pending pods", []any{m(cwPending, "pending pods", "Maximum")}, map[string]any{"yAxis": map[string]any{"left": map[string]any{"min": 0}}}),
		graph("CPU and memory the autoscaler decided on (%)", []any{m(cwCPU, "CPU", "Average"), m(cwMemory, "memory", "Average")},
			map[string]any{"yAxis": map[string]any{"left": map[string]any{"min": 0, "max": 100}}}),
		graph("Scaling actions", []any{m(cwLaunches, "instances launched", "Sum"), m(cwTerminations, "instances terminated", "Sum"),
			[]any{search("Action", cwDecisions, "")}}, map[string]any{"period": 300, "stat": "Sum"}),
		graph("Failures by kind", []any{[]any{search("ErrorType", cwFailures, "")}}, map[string]any{"period": 300, "stat": "Sum"}),
		graph("Tick duration (s)", []any{m(cwTickDuration, "p50", "p50"), m(cwTickDuration, "max", "Maximum")}, nil),
		graph("The function: invocations, errors, throttles", []any{lambda("Invocations", "Sum"), lambda("Errors", "Sum"), lambda("Throttles", "Sum")},
			map[string]any{"period": 300}),
		graph("The function: duration (ms)", []any{lambda("Duration", "Average"), lambda("Duration", "Maximum")}, nil),
	}
	var widgets []widget
	for i, p := range props {
		widgets = append(widgets, widget{Type: "metric", X: (i % 2) * 12, Y: (i / 2) * 6, Width: 12, Height: 6, Properties: p})
	}
	widgets = append(widgets, widget{Type: "alarm", X: 0, Y: (len(props) + 1) / 2 * 6, Width: 24, Height: 3,
		Properties: map[string]any{"title": "Alarms", "alarms": alarms}})
	b, err := json.Marshal(map[string]any{"widgets": widgets})
	return string(b), err
}
