package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// price is an instance type's hourly price in US dollars.
type price struct {
	OnDemand, Spot float64
}

// defaultPrices is report's price table: Linux, us-east-1, US dollars an
// hour. The on-demand column is AWS's public on-demand list price (EC2
// pricing page, checked for these types in 2025; it changes rarely). The
// spot column is a representative figure, not a quote: spot prices move
// with supply and differ by zone, and were typically 30 to 40 percent of
// on-demand for these types. For exact numbers, pass -prices with a CSV
// file of your region's prices (type,on_demand,spot per line), e.g. from
// `aws ec2 describe-spot-price-history`.
var defaultPrices = map[string]price{
	"t3.micro":   {0.0104, 0.0031},
	"t3.small":   {0.0208, 0.0062},
	"t3.medium":  {0.0416, 0.0125},
	"t3.large":   {0.0832, 0.0250},
	"t3.xlarge":  {0.1664, 0.0499},
	"t3.2xlarge": {0.3328, 0.0998},
	"t3a.medium": {0.0376, 0.0113},
	"t3a.large":  {0.0752, 0.0226},
	"t3a.xlarge": {0.1504, 0.0451},
	"t4g.medium": {0.0336, 0.0101},
	"t4g.large":  {0.0672, 0.0202},
	"t4g.xlarge": {0.1344, 0.0403},
	"m5.large":   {0.0960, 0.0350},
	"m5.xlarge":  {0.1920, 0.0700},
	"m5.2xlarge": {0.3840, 0.1400},
	"m6i.large":  {0.0960, 0.0350},
	"m6i.xlarge": {0.1920, 0.0700},
	"m6g.large":  {0.0770, 0.0290},
	"m6g.xlarge": {0.1540, 0.0580},
	"m7g.large":  {0.0816, 0.0310},
	"c5.large":   {0.0850, 0.0320},
	"c5.xlarge":  {0.1700, 0.0640},
	"c6i.large":  {0.0850, 0.0320},
	"c6g.large":  {0.0680, 0.0260},
	"r5.large":   {0.1260, 0.0400},
	"r6i.large":  {0.1260, 0.0400},
}

// loadPrices reads a CSV price table (type,on_demand,spot; a header line
// and # comments are skipped) over the default table.
func loadPrices(path string) (map[string]price, error) {
	out := make(map[string]price, len(defaultPrices))
	for k, v := range defaultPrices {
		out[k] = v
	}
	if path == "" {
		return out, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("-prices: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comment = '#'
	r.FieldsPerRecord = 3
	r.TrimLeadingSpace = true
	for line := 1; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("-prices %s: %w", path, err)
		}
		if line == 1 && strings.EqualFold(rec[0], "type") {
			continue
		}
		od, err1 := strconv.ParseFloat(rec[1], 64)
		spot, err2 := strconv.ParseFloat(rec[2], 64)
		if err1 != nil || err2 != nil || od <= 0 || spot <= 0 {
			return nil, fmt.Errorf("-prices %s: line %d: want type,on_demand,spot with two positive prices in dollars an hour, got %q", path, line, strings.Join(rec, ","))
		}
		out[rec[0]] = price{OnDemand: od, Spot: spot}
	}
}

// hourly is the price of one instance of typ on market.
func hourly(prices map[string]price, typ string, m autoscaler.Market) (float64, error) {
	p, ok := prices[typ]
	if !ok {
		return 0, fmt.Errorf("no price for instance type %q: add it with -prices (a CSV file of type,on_demand,spot)", typ)
	}
	if m == autoscaler.MarketSpot {
		return p.Spot, nil
	}
	return p.OnDemand, nil
}
