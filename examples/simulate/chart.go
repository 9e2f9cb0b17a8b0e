package main

import (
	"fmt"
	"image/color"

	"github.com/node-fleet/node-fleet/sim"
	"github.com/node-fleet/node-fleet/sim/chart"
)

// writeChart draws two panels to a PNG file: demand (the load) and Ready
// capacity in demand units above, Ready nodes and active instances below.
func writeChart(path, title string, rep sim.Report) error {
	if len(rep.Series) == 0 {
		return fmt.Errorf("-chart: the simulation has no samples to draw")
	}
	line := func(name string, col color.Color, get func(sim.Sample) float64) chart.Line {
		c := chart.Line{Name: name, Color: col}
		for _, s := range rep.Series {
			c.Points = append(c.Points, chart.Point{Time: s.Time, Value: get(s)})
		}
		return c
	}
	panels := []chart.Panel{
		{YLabel: "demand units (a tenth of a worker by default)", Lines: []chart.Line{
			line("demand", chart.Red, func(s sim.Sample) float64 { return s.Demand }),
			line("Ready capacity", chart.Blue, func(s sim.Sample) float64 { return s.Capacity }),
		}},
		{YLabel: "nodes", ZeroBased: true, Lines: []chart.Line{
			line("instances (Ready + booting)", chart.Grey, func(s sim.Sample) float64 { return float64(s.Instances) }),
			line("Ready nodes", chart.Blue, func(s sim.Sample) float64 { return float64(s.ReadyNodes) }),
		}},
	}
	if err := chart.WritePNG(path, title, panels); err != nil {
		return fmt.Errorf("-chart: %w", err)
	}
	return nil
}
