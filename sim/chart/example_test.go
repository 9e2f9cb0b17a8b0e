package chart_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/node-fleet/node-fleet/sim/chart"
)

// Two panels over an hour: the demand and the capacity that followed it,
// and the CPU with a missing reading (a gap in its line).
func ExampleWritePNG() {
	start := time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC)
	var demand, capacity, cpu []chart.Point
	for i := range 60 {
		t := start.Add(time.Duration(i) * time.Minute)
		d := 10 + 20*math.Exp(-math.Pow(float64(i-30)/8, 2))
		demand = append(demand, chart.Point{Time: t, Value: d})
		capacity = append(capacity, chart.Point{Time: t, Value: 10 * math.Ceil(d/10)})
		c := 100 * d / (10 * math.Ceil(d/10))
		if i == 42 {
			c = math.NaN()
		}
		cpu = append(cpu, chart.Point{Time: t, Value: c})
	}
	dir, err := os.MkdirTemp("", "chart")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	err = chart.WritePNG(filepath.Join(dir, "hour.png"), "an hour of demand", []chart.Panel{
		{YLabel: "demand units", Lines: []chart.Line{
			{Name: "demand", Color: chart.Red, Points: demand},
			{Name: "capacity", Color: chart.Blue, Points: capacity}}},
		{YLabel: "CPU %", ZeroBased: true, Max: 100, Lines: []chart.Line{{Name: "CPU", Color: chart.Green, Points: cpu}}},
	})
	fmt.Println(err)
	// Output: <nil>
}
