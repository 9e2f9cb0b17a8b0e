package main

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The dashboard shows the Lambda function's metrics under the names and
// dimensions notify.CloudWatch publishes them with (read from
// notify/cloudwatch.go), for this cluster: nodes, pending pods, CPU,
// scaling actions and failures; the function's own metrics under its name;
// and the stack's alarms.
func TestDashboard(t *testing.T) {
	s := testSettings()
	m := deploy(t, s)
	ds := m.of("aws:cloudwatch/dashboard:Dashboard")
	if len(ds) != 1 {
		t.Fatalf("%d dashboards, want 1", len(ds))
	}
	if got := str(ds[0].Inputs["dashboardName"]); got != "shop-node-fleet" {
		t.Errorf("dashboard name %q", got)
	}
	var body struct {
		Widgets []struct {
			Type       string
			X, Y       int
			Width      int
			Height     int
			Properties struct {
				Title, Region string
				Metrics       [][]any
				Alarms        []string
			}
		}
	}
	if err := json.Unmarshal([]byte(str(ds[0].Inputs["dashboardBody"])), &body); err != nil {
		t.Fatalf("dashboard body: %v\n%s", err, ds[0].Inputs["dashboardBody"])
	}

	src, err := os.ReadFile("../notify/cloudwatch.go")
	if err != nil {
		t.Fatal(err)
	}
	published := map[string]bool{}
	for _, mm := range regexp.MustCompile(`(?m)^\s+Metric\w+ = "(\w+)"`).FindAllStringSubmatch(string(src), -1) {
		published[mm[1]] = true
	}
	if len(published) < 8 {
		t.Fatalf("read %d metric names from notify/cloudwatch.go", len(published))
	}
	fn := m.one(t, "aws:lambda/function:Function", "shop-autoscaler")
	fnName := str(fn.Inputs["name"])
	if fnName == "" {
		t.Fatal("the function has no name")
	}

	shown := map[string]bool{}
	searched := ""
	var alarms []string
	for _, w := range body.Widgets {
		if w.X+w.Width > 24 || w.Width <= 0 || w.Height <= 0 {
			t.Errorf("widget %q at x=%d width %d is off the 24-column grid", w.Properties.Title, w.X, w.Width)
		}
		if w.Type == "alarm" {
			alarms = append(alarms, w.Properties.Alarms...)
			continue
		}
		if w.Properties.Region != s.Region {
			t.Errorf("widget %q in region %q, want %q", w.Properties.Title, w.Properties.Region, s.Region)
		}
		for _, row := range w.Properties.Metrics {
			if len(row) == 1 { // an expression
				e, _ := row[0].(map[string]any)
				searched += str(e["expression"]) + "\n"
				continue
			}
			ns, name := str(row[0]), str(row[1])
			switch ns {
			case "NodeFleet":
				if !published[name] {
					t.Errorf("widget %q shows %s, which notify.CloudWatch does not publish", w.Properties.Title, name)
				}
				if str(row[2]) != "ClusterId" || str(row[3]) != s.ClusterID {
					t.Errorf("widget %q: %s with dimensions %v, want ClusterId=%s", w.Properties.Title, name, row[2:4], s.ClusterID)
				}
				shown[name] = true
			case "AWS/Lambda":
				if str(row[2]) != "FunctionName" || str(row[3]) != fnName {
					t.Errorf("widget %q: %s of %v, want the function %s", w.Properties.Title, name, row[2:4], fnName)
				}
				shown["AWS/Lambda "+name] = true
			default:
				t.Errorf("widget %q: namespace %q", w.Properties.Title, ns)
			}
		}
	}
	for _, want := range []string{"NodeCount", "ReadyNodeCount", "PendingPodCount", "ClusterCPUUtilization", "EC2LaunchEvents", "EC2Terminations", "AWS/Lambda Errors", "AWS/Lambda Duration"} {
		if !shown[want] {
			t.Errorf("the dashboard does not show %s", want)
		}
	}
	for _, want := range []string{`MetricName="ScalingDecisionHistory" ClusterId="shop"`, `MetricName="ScalingFailures" ClusterId="shop"`} {
		if !strings.Contains(searched, want) {
			t.Errorf("no search for %s in:\n%s", want, searched)
		}
	}
	for _, name := range []string{"ScalingDecisionHistory", "ScalingFailures"} {
		if !published[name] {
			t.Errorf("the dashboard searches %s, which notify.CloudWatch does not publish", name)
		}
	}
	var wantAlarms []string
	for _, a := range m.of("aws:cloudwatch/metricAlarm:MetricAlarm") {
		wantAlarms = append(wantAlarms, "arn:aws:test:::aws:cloudwatch/metricAlarm:MetricAlarm/"+a.Name)
	}
	slices.Sort(wantAlarms)
	slices.Sort(alarms)
	if len(wantAlarms) < 3 || !slices.Equal(wantAlarms, alarms) {
		t.Errorf("alarm widget shows %v, want the stack's alarms %v", alarms, wantAlarms)
	}
}
