package main

import (
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// A spot price history is a step function: each price holds until the
// next, and the period's average weighs each by its time within it.
func TestTimeWeighted(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration, price float64) types.SpotPrice {
		return types.SpotPrice{Timestamp: aws.Time(t0.Add(d)), SpotPrice: aws.String(strconv.FormatFloat(price, 'f', -1, 64))}
	}
	for _, c := range []struct {
		name string
		hist []types.SpotPrice
		want float64
	}{
		// 0.01 for the first half hour, 0.03 for the second.
		{"a change half-way", []types.SpotPrice{at(30*time.Minute, 0.03), at(-time.Hour, 0.01)}, (0.01 + 0.03) / 2},
		// 0.04 from before the period, 0.01 for the last quarter.
		{"a change in the last quarter", []types.SpotPrice{at(-2*time.Hour, 0.04), at(45*time.Minute, 0.01)}, 0.75*0.04 + 0.25*0.01},
		{"history starting in the period", []types.SpotPrice{at(15*time.Minute, 0.02)}, 0.02},
		{"history after the period", []types.SpotPrice{at(2*time.Hour, 0.05), at(3*time.Hour, 0.07)}, 0.05},
	} {
		got, err := timeWeighted(c.hist, t0, t0.Add(time.Hour))
		if err != nil || math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s: %v, %v; want %v", c.name, got, err, c.want)
		}
	}
	if _, err := timeWeighted([]types.SpotPrice{{Timestamp: aws.Time(t0), SpotPrice: aws.String("cheap")}}, t0, t0.Add(time.Hour)); err == nil {
		t.Error("a price that is not a number was accepted")
	}
}
