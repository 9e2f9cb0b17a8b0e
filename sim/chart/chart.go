// Package chart draws time series as panels stacked in one PNG: the
// simulator's demand, capacity and nodes (examples/simulate -chart) and a
// cluster's recorded history (examples/nodefleet report -chart) are drawn
// by the same code. It lives beside the simulator because the
// simulator's reports are what it draws most; it depends on nothing of
// node-fleet.
package chart

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"os"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// MaxPoints is the most points a line is drawn with: a longer line is cut
// into buckets, each drawn by its highest value, so that peaks and
// shortfalls stay visible in a month of minutes.
const MaxPoints = 2000

// Point is one reading of a series. A NaN or infinite Value is a missing
// reading: the line has a gap there, never a zero.
type Point struct {
	Time  time.Time
	Value float64
}

// Line is one series of a panel.
type Line struct {
	// Name is the line's legend.
	Name  string
	Color color.Color
	// Points are in time order.
	Points []Point
}

// Panel is one chart of the stack, sharing the time axis with the others.
type Panel struct {
	// YLabel names the Y axis (with its unit).
	YLabel string
	Lines  []Line
	// ZeroBased starts the Y axis at 0; Max, when positive, ends it
	// there (a percentage's 100). Otherwise the axis fits the data.
	ZeroBased bool
	Max       float64
}

// Colours of the lines the programs draw, one per meaning.
var (
	Red   = color.RGBA{R: 200, G: 40, B: 40, A: 255}
	Blue  = color.RGBA{R: 30, G: 90, B: 200, A: 255}
	Green = color.RGBA{R: 20, G: 140, B: 60, A: 255}
	Grey  = color.RGBA{R: 120, G: 120, B: 120, A: 255}
)

// WritePNG draws panels, one above the other, under title to a PNG file at
// path, 30 cm wide and 6 cm a panel plus 6 cm high. Errors name path.
func WritePNG(path, title string, panels []Panel) error {
	if len(panels) == 0 {
		return errors.New("chart: no panels to draw")
	}
	from, to, n := span(panels)
	if n == 0 {
		return fmt.Errorf("chart %s: no points to draw", path)
	}
	format := tickFormat(to.Sub(from))
	plots := make([]*plot.Plot, len(panels))
	grid := make([][]*plot.Plot, len(panels))
	for i, pn := range panels {
		p := plot.New()
		if i == 0 {
			p.Title.Text = title
		}
		if i == len(panels)-1 {
			p.X.Label.Text = "time (UTC)"
		}
		if err := drawPanel(p, pn, format); err != nil {
			return fmt.Errorf("chart %s: %w", path, err)
		}
		p.X.Min, p.X.Max = float64(from.Unix()), float64(to.Unix())
		plots[i], grid[i] = p, []*plot.Plot{p}
	}
	w, h := 30*vg.Centimeter, vg.Length(6+6*len(panels))*vg.Centimeter
	img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(100))
	tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2,
		PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4, PadY: vg.Millimeter * 4}
	canvases := plot.Align(grid, tiles, draw.New(img))
	for i, p := range plots {
		p.Draw(canvases[i][0])
	}
	return savePNG(path, img)
}

// span returns the first and last time of the panels' points, and how
// many points they have.
func span(panels []Panel) (from, to time.Time, n int) {
	for _, p := range panels {
		for _, l := range p.Lines {
			for _, pt := range l.Points {
				if from.IsZero() || pt.Time.Before(from) {
					from = pt.Time
				}
				if pt.Time.After(to) {
					to = pt.Time
				}
				n++
			}
		}
	}
	return from, to, n
}

// tickFormat returns the time axis' label format for a chart spanning d:
// the time of day up to a day, the date and time up to three, else the
// date.
func tickFormat(d time.Duration) string {
	switch {
	case d <= 24*time.Hour:
		return "15:04"
	case d <= 3*24*time.Hour:
		return "01-02 15:04"
	}
	return "01-02"
}

// drawPanel adds pn's lines (each thinned to MaxPoints, broken at its
// gaps), grid, legend and y axis to p, with time ticks in format.
func drawPanel(p *plot.Plot, pn Panel, format string) error {
	p.Y.Label.Text = pn.YLabel
	p.X.Tick.Marker = timeTicks{format: format}
	p.Legend.Top, p.Legend.Left = true, true
	p.Add(plotter.NewGrid())
	for _, l := range pn.Lines {
		for j, seg := range segments(bucketMax(l.Points, MaxPoints)) {
			ln, err := plotter.NewLine(seg)
			if err != nil {
				return fmt.Errorf("%s: %w", l.Name, err)
			}
			ln.Color, ln.Width = l.Color, vg.Points(1.2)
			p.Add(ln)
			if j == 0 {
				p.Legend.Add(l.Name, ln)
			}
		}
	}
	if pn.ZeroBased {
		p.Y.Min = 0
	}
	if pn.Max > 0 {
		p.Y.Max = pn.Max
	}
	return nil
}

// savePNG writes img to path as a PNG.
func savePNG(path string, img *vgimg.Canvas) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("chart: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	return nil
}

// timeTicks marks the time axis at round UTC times (every 5 or 15
// minutes, every 1, 2, 3, 6 or 12 hours, every 1, 2 or 7 days), at most 12
// labelled marks.
type timeTicks struct{ format string }

// Ticks implements plot.Ticker.
func (tt timeTicks) Ticks(lo, hi float64) []plot.Tick {
	from, to := time.Unix(int64(math.Floor(lo)), 0).UTC(), time.Unix(int64(math.Ceil(hi)), 0).UTC()
	step := 7 * 24 * time.Hour
	for _, s := range []time.Duration{5 * time.Minute, 15 * time.Minute, time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 48 * time.Hour} {
		if to.Sub(from)/s <= 12 {
			step = s
			break
		}
	}
	var out []plot.Tick
	for t := from.Truncate(step); !t.After(to); t = t.Add(step) {
		if t.Before(from) {
			continue
		}
		out = append(out, plot.Tick{Value: float64(t.Unix()), Label: t.Format(tt.format)})
	}
	return out
}

// bucketMax turns pts into at most n points, each the highest reading of
// its bucket (NaN when the bucket has none) at the bucket's first time.
func bucketMax(pts []Point, n int) []Point {
	if len(pts) <= n {
		return pts
	}
	per := int(math.Ceil(float64(len(pts)) / float64(n)))
	out := make([]Point, 0, len(pts)/per+1)
	for i := 0; i < len(pts); i += per {
		v := math.NaN()
		for _, p := range pts[i:min(i+per, len(pts))] {
			if ok(p.Value) && (math.IsNaN(v) || p.Value > v) {
				v = p.Value
			}
		}
		out = append(out, Point{Time: pts[i].Time, Value: v})
	}
	return out
}

func ok(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// segments splits pts at its missing readings: one run of readings a
// line, Unix seconds on X.
func segments(pts []Point) []plotter.XYs {
	var out []plotter.XYs
	var cur plotter.XYs
	for _, p := range pts {
		if !ok(p.Value) {
			if len(cur) > 0 {
				out = append(out, cur)
			}
			cur = nil
			continue
		}
		cur = append(cur, plotter.XY{X: float64(p.Time.Unix()), Y: p.Value})
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}
