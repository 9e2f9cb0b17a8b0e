package main

import (
	"fmt"
	"image/color"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/sim/chart"
)

// writeChart draws three panels to a PNG file: Ready nodes and active
// instances, pending pods, and CPU. Missing readings leave gaps in their
// lines, never zeros.
func writeChart(path, title string, recs []autoscaler.Record) error {
	if len(recs) == 0 {
		return fmt.Errorf("-chart: no records in the period to draw")
	}
	line := func(name string, col color.Color, get func(autoscaler.Record) float64) chart.Line {
		c := chart.Line{Name: name, Color: col}
		for _, r := range recs {
			c.Points = append(c.Points, chart.Point{Time: r.Time, Value: get(r)})
		}
		return c
	}
	panels := []chart.Panel{
		{YLabel: "nodes", ZeroBased: true, Lines: []chart.Line{
			line("instances (Ready + booting)", chart.Grey, func(r autoscaler.Record) float64 { return float64(r.Instances) }),
			line("Ready nodes", chart.Blue, func(r autoscaler.Record) float64 { return float64(r.Nodes) }),
		}},
		{YLabel: "pending pods", ZeroBased: true, Lines: []chart.Line{
			line("pending pods", chart.Red, func(r autoscaler.Record) float64 { return r.PendingPods }),
		}},
		{YLabel: "CPU %", ZeroBased: true, Max: 100, Lines: []chart.Line{
			line("CPU", chart.Green, func(r autoscaler.Record) float64 { return r.CPU }),
		}},
	}
	if err := chart.WritePNG(path, title, panels); err != nil {
		return fmt.Errorf("-chart: %w", err)
	}
	return nil
}
