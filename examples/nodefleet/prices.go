package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

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
// file of your region's prices (type,on_demand,spot per line), or
// -spot-history to take the spot prices from EC2's spot price history for
// the period.
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

// spotHistoryPrice is typ's Linux spot price over [from, to) from EC2's
// spot price history: in each zone (zones; empty: every zone EC2 answers
// for) the price is a step function, each entry in force until the next,
// weighted by how long it was in force within the period; the zones are
// averaged.
func spotHistoryPrice(ctx context.Context, client *ec2.Client, typ string, zones []string, from, to time.Time) (float64, error) {
	byZone := map[string][]types.SpotPrice{}
	in := &ec2.DescribeSpotPriceHistoryInput{
		InstanceTypes:       []types.InstanceType{types.InstanceType(typ)},
		ProductDescriptions: []string{"Linux/UNIX", "Linux/UNIX (Amazon VPC)"},
		StartTime:           aws.Time(from), EndTime: aws.Time(to),
	}
	pages := ec2.NewDescribeSpotPriceHistoryPaginator(client, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return 0, fmt.Errorf("-spot-history: EC2 spot price history of %s: %w", typ, err)
		}
		for _, p := range page.SpotPriceHistory {
			z := aws.ToString(p.AvailabilityZone)
			if len(zones) == 0 || slices.Contains(zones, z) {
				byZone[z] = append(byZone[z], p)
			}
		}
	}
	if len(byZone) == 0 {
		return 0, fmt.Errorf("-spot-history: EC2 has no spot price history of %s in %v from %s to %s", typ, zones, from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
	}
	var sum float64
	for z, hist := range byZone {
		v, err := timeWeighted(hist, from, to)
		if err != nil {
			return 0, fmt.Errorf("-spot-history: %s in %s: %w", typ, z, err)
		}
		sum += v
	}
	return sum / float64(len(byZone)), nil
}

// timeWeighted averages a step function of prices over [from, to): each
// entry holds from its timestamp (or from, if earlier) until the next
// entry's. When the first entry is later than from, the period starts
// there.
func timeWeighted(hist []types.SpotPrice, from, to time.Time) (float64, error) {
	slices.SortFunc(hist, func(a, b types.SpotPrice) int { return aws.ToTime(a.Timestamp).Compare(aws.ToTime(b.Timestamp)) })
	var total, weight float64
	for i, p := range hist {
		v, err := strconv.ParseFloat(aws.ToString(p.SpotPrice), 64)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("price %q is not a price", aws.ToString(p.SpotPrice))
		}
		start, end := aws.ToTime(p.Timestamp), to
		if i+1 < len(hist) {
			end = aws.ToTime(hist[i+1].Timestamp)
		}
		if start.Before(from) {
			start = from
		}
		if end.After(to) {
			end = to
		}
		if d := end.Sub(start).Seconds(); d > 0 {
			total += v * d
			weight += d
		}
	}
	if weight == 0 {
		// Every entry is at or after the period's end: the first one is
		// the best there is.
		v, err := strconv.ParseFloat(aws.ToString(hist[0].SpotPrice), 64)
		return v, err
	}
	return total / weight, nil
}
