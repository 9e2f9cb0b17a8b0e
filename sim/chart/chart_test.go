package chart

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func pts(vs ...float64) []Point {
	out := make([]Point, len(vs))
	for i, v := range vs {
		out[i] = Point{Time: t0.Add(time.Duration(i) * time.Minute), Value: v}
	}
	return out
}

func TestMissingReadingsSplitTheLineInsteadOfDrawingZero(t *testing.T) {
	nan := math.NaN()
	var got [][]float64
	for _, seg := range segments(pts(1, 2, nan, math.Inf(1), 5, nan)) {
		var ys []float64
		for _, xy := range seg {
			ys = append(ys, xy.Y)
		}
		got = append(got, ys)
	}
	if diff := cmp.Diff([][]float64{{1, 2}, {5}}, got); diff != "" {
		t.Errorf("segments (-want +got):\n%s", diff)
	}
}

func TestLongLinesKeepEachBucketsPeak(t *testing.T) {
	nan := math.NaN()
	got := bucketMax(pts(1, 9, 2, nan, nan, nan, 3), 3)
	var ys []float64
	for _, p := range got {
		ys = append(ys, p.Value)
	}
	// 7 points into 3 buckets of 3: {1,9,2} {nan,nan,nan} {3}.
	if len(ys) != 3 || ys[0] != 9 || !math.IsNaN(ys[1]) || ys[2] != 3 {
		t.Errorf("buckets %v, want [9 NaN 3]: the peak of each, a gap where none was read", ys)
	}
	if short := pts(1, 2); len(bucketMax(short, 3)) != 2 {
		t.Error("a short line was bucketed")
	}
}

func TestWritePNGDrawsEveryPanel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.png")
	panels := []Panel{
		{YLabel: "units", Lines: []Line{{Name: "demand", Color: Red, Points: pts(1, 5, 3)}}},
		{YLabel: "CPU %", ZeroBased: true, Max: 100, Lines: []Line{{Name: "CPU", Color: Green, Points: pts(40, math.NaN(), 60)}}},
	}
	if err := WritePNG(path, "test", panels); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) || len(b) < 10_000 {
		t.Errorf("%s is not a drawn PNG (%d bytes)", path, len(b))
	}
	if err := WritePNG(path, "empty", []Panel{{YLabel: "x"}}); err == nil || !strings.Contains(err.Error(), "no points") {
		t.Errorf("empty chart: %v, want an error saying there is nothing to draw", err)
	}
}

func TestTimeAxisIsMarkedAtRoundTimes(t *testing.T) {
	day := float64(t0.Unix())
	var got []string
	for _, tk := range (timeTicks{format: "15:04"}).Ticks(day+40*60, day+24*3600-1) {
		got = append(got, tk.Label)
	}
	want := []string{"02:00", "04:00", "06:00", "08:00", "10:00", "12:00", "14:00", "16:00", "18:00", "20:00", "22:00"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ticks of a day from 00:40 (-want +got):\n%s", diff)
	}
}
