package main

import (
	"fmt"
	"image/color"
	"math"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// writeChart draws three panels to a PNG file: Ready nodes and active
// instances, pending pods, and CPU. Missing readings leave gaps in their
// lines, never zeros.
func writeChart(path, title string, recs []autoscaler.Record) error {
	if len(recs) == 0 {
		return fmt.Errorf("-chart: no records in the period to draw")
	}
	nodes, pending, cpu := plot.New(), plot.New(), plot.New()
	nodes.Title.Text = title
	nodes.Y.Label.Text = "nodes"
	pending.Y.Label.Text = "pending pods"
	cpu.Y.Label.Text = "CPU %"
	cpu.X.Label.Text = "time (UTC)"
	span := recs[len(recs)-1].Time.Sub(recs[0].Time)
	format := "15:04"
	if span > 24*60*60*1e9 {
		format = "01-02 15:04"
	}
	panels := []*plot.Plot{nodes, pending, cpu}
	for _, p := range panels {
		p.X.Tick.Marker = plot.TimeTicks{Format: format}
		p.Legend.Top, p.Legend.Left = true, true
		p.Add(plotter.NewGrid())
		p.Y.Min = 0
	}
	cpu.Y.Max = 100
	lines := []struct {
		p     *plot.Plot
		name  string
		get   func(autoscaler.Record) float64
		color color.Color
	}{
		{nodes, "instances (Ready + booting)", func(r autoscaler.Record) float64 { return float64(r.Instances) }, color.RGBA{R: 120, G: 120, B: 120, A: 255}},
		{nodes, "Ready nodes", func(r autoscaler.Record) float64 { return float64(r.Nodes) }, color.RGBA{R: 30, G: 90, B: 200, A: 255}},
		{pending, "pending pods", func(r autoscaler.Record) float64 { return r.PendingPods }, color.RGBA{R: 200, G: 40, B: 40, A: 255}},
		{cpu, "CPU", func(r autoscaler.Record) float64 { return r.CPU }, color.RGBA{R: 20, G: 140, B: 60, A: 255}},
	}
	for _, l := range lines {
		for i, seg := range segments(recs, l.get) {
			ln, err := plotter.NewLine(seg)
			if err != nil {
				return fmt.Errorf("-chart: %s: %w", l.name, err)
			}
			ln.Color, ln.Width = l.color, vg.Points(1.2)
			l.p.Add(ln)
			if i == 0 {
				l.p.Legend.Add(l.name, ln)
			}
		}
	}
	for _, p := range panels[1:] {
		p.X.Min, p.X.Max = nodes.X.Min, nodes.X.Max
	}

	const w, h = 30 * vg.Centimeter, 24 * vg.Centimeter
	img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(100))
	tiles := draw.Tiles{Rows: 3, Cols: 1, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2,
		PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4, PadY: vg.Millimeter * 4}
	canvases := plot.Align([][]*plot.Plot{{nodes}, {pending}, {cpu}}, tiles, draw.New(img))
	for i, p := range panels {
		p.Draw(canvases[i][0])
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("-chart: %w", err)
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("-chart: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("-chart: %w", err)
	}
	return nil
}

// segments splits a series at its missing readings (NaN): one line per run
// of readings, Unix seconds on X.
func segments(recs []autoscaler.Record, get func(autoscaler.Record) float64) []plotter.XYs {
	var out []plotter.XYs
	var cur plotter.XYs
	for _, r := range recs {
		v := get(r)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			if len(cur) > 0 {
				out = append(out, cur)
			}
			cur = nil
			continue
		}
		cur = append(cur, plotter.XY{X: float64(r.Time.Unix()), Y: v})
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}
