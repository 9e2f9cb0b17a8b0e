package main

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"time"

	"github.com/node-fleet/node-fleet/sim"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// chartPoints is the most points a line gets: longer series are cut into
// buckets and each bucket drawn by its highest value, so that peaks and
// shortfalls stay visible in a month of minutes.
const chartPoints = 2000

// writeChart draws two panels to a PNG file: demand (the load) and Ready capacity in demand units
// above, Ready nodes and active instances below.
func writeChart(path, title string, rep sim.Report) error {
	if len(rep.Series) == 0 {
		return fmt.Errorf("-chart: the simulation has no samples to draw")
	}
	top := plot.New()
	top.Title.Text = title
	top.Y.Label.Text = "demand units (a tenth of a worker by default)"
	bottom := plot.New()
	bottom.Y.Label.Text = "nodes"
	bottom.X.Label.Text = "time (UTC)"
	format := "01-02 15:04"
	if rep.End.Sub(rep.Start) > 3*24*time.Hour {
		format = "01-02"
	}
	for _, p := range []*plot.Plot{top, bottom} {
		p.X.Tick.Marker = plot.TimeTicks{Format: format}
		p.Legend.Top = true
		p.Legend.Left = true
		p.Add(plotter.NewGrid())
	}
	series := func(get func(sim.Sample) float64) plotter.XYs {
		return bucketMax(rep.Series, get)
	}
	lines := []struct {
		p     *plot.Plot
		name  string
		get   func(sim.Sample) float64
		color color.Color
	}{
		{top, "demand", func(s sim.Sample) float64 { return s.Demand }, color.RGBA{R: 200, G: 40, B: 40, A: 255}},
		{top, "Ready capacity", func(s sim.Sample) float64 { return s.Capacity }, color.RGBA{R: 30, G: 90, B: 200, A: 255}},
		{bottom, "instances (Ready + booting)", func(s sim.Sample) float64 { return float64(s.Instances) }, color.RGBA{R: 120, G: 120, B: 120, A: 255}},
		{bottom, "Ready nodes", func(s sim.Sample) float64 { return float64(s.ReadyNodes) }, color.RGBA{R: 30, G: 90, B: 200, A: 255}},
	}
	for _, l := range lines {
		ln, err := plotter.NewLine(series(l.get))
		if err != nil {
			return fmt.Errorf("-chart: %s: %w", l.name, err)
		}
		ln.Color = l.color
		ln.Width = vg.Points(1)
		l.p.Add(ln)
		l.p.Legend.Add(l.name, ln)
	}
	bottom.X.Min, bottom.X.Max = top.X.Min, top.X.Max

	const w, h = 30 * vg.Centimeter, 18 * vg.Centimeter
	img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(110))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2,
		PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4, PadY: vg.Millimeter * 4}
	canvases := plot.Align([][]*plot.Plot{{top}, {bottom}}, tiles, dc)
	top.Draw(canvases[0][0])
	bottom.Draw(canvases[1][0])

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

// bucketMax turns samples into at most chartPoints points, each the
// highest value of its bucket at the bucket's first time (Unix seconds).
func bucketMax(samples []sim.Sample, get func(sim.Sample) float64) plotter.XYs {
	per := max(1, int(math.Ceil(float64(len(samples))/chartPoints)))
	out := make(plotter.XYs, 0, len(samples)/per+1)
	for i := 0; i < len(samples); i += per {
		v := math.Inf(-1)
		for _, s := range samples[i:min(i+per, len(samples))] {
			v = math.Max(v, get(s))
		}
		out = append(out, plotter.XY{X: float64(samples[i].Time.Unix()), Y: v})
	}
	return out
}
