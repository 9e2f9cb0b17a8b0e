package sim

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	pm "github.com/prometheus/common/model"
)

var h0 = time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)

const historyCSV = `timestamp,cpu_cores,memory_bytes,instance_types
2026-11-30T00:00:00Z,1.5,2e9,t3.medium=2
2026-11-30T00:01:00Z,3.66,4e9,t3.medium=2 t3a.medium=1
2026-11-30T00:03:00Z,0.5,1e9,t3.medium=2
`

const historyJSONText = `{"step": "1m", "samples": [
 {"time": "2026-11-30T00:00:00Z", "cpu_cores": 1.5, "memory_bytes": 2e9, "instance_types": {"t3.medium": 2}},
 {"time": "2026-11-30T00:01:00Z", "cpu_cores": 3.66, "memory_bytes": 4e9, "instance_types": {"t3.medium": 2, "t3a.medium": 1}},
 {"time": "2026-11-30T00:03:00Z", "cpu_cores": 0.5, "memory_bytes": 1e9, "instance_types": {"t3.medium": 2}}]}`

func wantHistory(name string) History {
	two := map[string]int{"t3.medium": 2, "t3a.medium": 1}
	return History{Name: name, Step: time.Minute, Gaps: 1, Samples: []HistorySample{
		{Time: h0, CPU: 1.5, Memory: 2e9, Types: map[string]int{"t3.medium": 2}},
		{Time: h0.Add(time.Minute), CPU: 3.66, Memory: 4e9, Types: two},
		{Time: h0.Add(2 * time.Minute), CPU: 3.66, Memory: 4e9, Types: two},
		{Time: h0.Add(3 * time.Minute), CPU: 0.5, Memory: 1e9, Types: map[string]int{"t3.medium": 2}},
	}}
}

func TestHistoryExportsReadAlikeAndFillGaps(t *testing.T) {
	for _, tt := range []struct{ name, in string }{{"h.csv", historyCSV}, {"h.json", historyJSONText}} {
		h, err := ParseHistory(strings.NewReader(tt.in), tt.name)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if diff := cmp.Diff(wantHistory(tt.name), h); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
	// The CSV export reads back as it was written.
	var b bytes.Buffer
	if err := wantHistory("x").WriteCSV(&b); err != nil {
		t.Fatal(err)
	}
	back, err := ParseHistory(&b, "x")
	if err != nil {
		t.Fatal(err)
	}
	want := wantHistory("x")
	want.Gaps = 0
	if diff := cmp.Diff(want, back); diff != "" {
		t.Errorf("written and read back (-want +got):\n%s", diff)
	}
}

func TestHistoryErrorsNameTheSourceAndLine(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", "h: empty file; want the header timestamp,cpu_cores,memory_bytes,instance_types"},
		{"time,value\n", `h:1: header "time,value"`},
		{historyHeader + "\n2026-11-30T00:00:00Z,1,2,t3.medium=2\n2026-11-30T00:01:00Z,x,2,t3.medium=2\n", "h:3: cpu_cores \"x\""},
		{historyHeader + "\n2026-11-30T00:00:00Z,1,2,t3.medium=2\n2026-11-30T00:01:00Z,1,2,t3.medium\n", "h:3: instance_types: \"t3.medium\" is not type=count"},
		{historyHeader + "\n2026-11-30T00:00:00Z,-1,2,t3.medium=2\n2026-11-30T00:01:00Z,1,2,t3.medium=2\n", "h:2: requests -1 cores"},
		{historyHeader + "\n2026-11-30T00:01:00Z,1,2,t3.medium=2\n2026-11-30T00:00:00Z,1,2,t3.medium=2\n", "h: line 3: timestamp 2026-11-30 00:00:00 does not come after"},
		{historyHeader + "\n2026-11-30T00:00:00Z,1,2,t3.medium=2\n", "h: 1 sample(s)"},
		{historyHeader + "\n2026-11-30T00:00:00Z,1,2,t3.medium=2\n2026-11-30T00:00:00.001Z,1,2,t3.medium=2\n2026-11-30T00:01:00Z,1,2,t3.medium=2\n",
			"h: line 3: the interval of 1ms to the timestamp before sets the step, which leaves 59998 of 60001 steps missing"},
		{"\x1f\x8b\x08\x00\x00\xff\xfe", "h: binary data"},
		{`{"samples": [{"time": "2026-11-30T00:00:00Z", "cpu_cores": 1}]}`, "h: samples[0]: want time, cpu_cores, memory_bytes and instance_types"},
		{"{\"step\": \"1m\",\n \"samples\": [\n  {\"time\": \"2026-11-30T00:00:00Z\", \"cpu_cores\": 1,}]}", "h:3: invalid character '}'"},
		{"{\"samples\": [\n {\"time\": \"2026-11-30T00:00:00Z\", \"cpu_cores\": \"1\"}]}", "h:2: json: cannot unmarshal string"},
		{historyJSONText + "\n{}", "h:5: more data after the history"},
		{`{"step": "5m", "samples": [` + strings.SplitN(historyJSONText, "[", 2)[1], `h: step "5m" does not match the samples' step 1m0s`},
	} {
		_, err := ParseHistory(strings.NewReader(tt.in), "h")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want %q", tt.in, err, tt.want)
		}
	}
}

// A CSV saved with a byte order mark (as spreadsheets save "CSV UTF-8")
// reads as without one.
func TestHistoryCSVWithAByteOrderMarkReads(t *testing.T) {
	h, err := ParseHistory(strings.NewReader("\ufeff"+historyCSV), "h.csv")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantHistory("h.csv"), h); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// A unit is a PodsPerNode-th of what the model's worker offers pods: the
// larger of the CPU and the memory requests counts.
func TestHistoryDemandIsInTheModelsWorkerUnits(t *testing.T) {
	m := DefaultModel()
	free := m.Template.Free()
	cpuNode := float64(free.MilliCPU) / 1000
	memNode := float64(free.Memory)
	h := History{Name: "h", Step: time.Minute, Samples: []HistorySample{
		{Time: h0, CPU: cpuNode, Memory: 0},
		{Time: h0.Add(time.Minute), CPU: cpuNode / 10, Memory: 2 * memNode},
	}}
	d, err := h.Demand(m, 10)
	if err != nil {
		t.Fatal(err)
	}
	got := []float64{math.Round(d.Units[0]*1e6) / 1e6, math.Round(d.Units[1]*1e6) / 1e6}
	if diff := cmp.Diff([]float64{10, 20}, got); diff != "" {
		t.Errorf("units (-want +got):\n%s", diff)
	}
	if !d.Start.Equal(h0) || d.Step != time.Minute || d.Name != "h" {
		t.Errorf("demand %s from %s step %s", d.Name, d.Start, d.Step)
	}
}

func TestHistoryCostBillsEachStepsWorkersAtTheirPrice(t *testing.T) {
	h := wantHistory("h")
	prices := map[string]float64{"t3.medium": 0.06, "t3a.medium": 0.03}
	price := func(t string) (float64, bool) { p, ok := prices[t]; return p, ok }
	got, err := h.Cost(price)
	if err != nil {
		t.Fatal(err)
	}
	// 8 t3.medium-minutes and 2 t3a.medium-minutes.
	if want := (8*0.06 + 2*0.03) / 60; math.Abs(got-want) > 1e-12 {
		t.Errorf("cost %v, want %v", got, want)
	}
	delete(prices, "t3a.medium")
	if _, err := h.Cost(price); err == nil || !strings.Contains(err.Error(), "no price for instance type(s) t3a.medium") {
		t.Errorf("unpriced type: %v", err)
	}
}

// recorded is a Prometheus that answers range queries from recorded
// series, by query.
type recorded map[string]pm.Matrix

func (r recorded) QueryRange(_ context.Context, q string, rg v1.Range, _ ...v1.Option) (pm.Value, v1.Warnings, v1.Infos, error) {
	m, ok := r[q]
	if !ok {
		return pm.Matrix{}, nil, nil, nil
	}
	var out pm.Matrix
	for _, ss := range m {
		c := &pm.SampleStream{Metric: ss.Metric}
		for _, p := range ss.Values {
			if t := p.Timestamp.Time(); !t.Before(rg.Start) && !t.After(rg.End) {
				c.Values = append(c.Values, p)
			}
		}
		out = append(out, c)
	}
	return out, nil, nil, nil
}

func series(labels pm.Metric, vals ...float64) *pm.SampleStream {
	ss := &pm.SampleStream{Metric: labels}
	for i, v := range vals {
		if !math.IsNaN(v) {
			ss.Values = append(ss.Values, pm.SamplePair{Timestamp: pm.TimeFromUnixNano(h0.Add(time.Duration(i) * time.Minute).UnixNano()), Value: pm.SampleValue(v)})
		}
	}
	return ss
}

// The history read from Prometheus is the recorded series step by step;
// a step a query missed holds the step before it.
func TestQueryHistoryReplaysTheRecordedSeries(t *testing.T) {
	q := DefaultHistoryQueries()
	nan := math.NaN()
	typ := func(v string) pm.Metric { return pm.Metric{pm.LabelName(q.TypeLabel): pm.LabelValue(v)} }
	prom := recorded{
		q.CPU:    {series(pm.Metric{}, 1.5, 3.66, nan, 0.5)},
		q.Memory: {series(pm.Metric{}, 2e9, 4e9, 4e9, 1e9)},
		q.Types:  {series(typ("t3.medium"), 2, 2, 2, 2), series(typ("t3a.medium"), nan, 1, 1, nan)},
	}
	h, err := QueryHistory(context.Background(), prom, h0, h0.Add(3*time.Minute), time.Minute, HistoryQueries{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantHistory("prometheus"), h); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
}

func TestQueryHistoryErrorsNameTheQuery(t *testing.T) {
	q := DefaultHistoryQueries()
	full := func() recorded {
		return recorded{
			q.CPU:    {series(pm.Metric{}, 1, 1)},
			q.Memory: {series(pm.Metric{}, 1e9, 1e9)},
			q.Types:  {series(pm.Metric{pm.LabelName(q.TypeLabel): "t3.medium"}, 2, 2)},
		}
	}
	for _, tt := range []struct {
		name   string
		mutate func(recorded)
		want   string
	}{
		{"no CPU series", func(r recorded) { delete(r, q.CPU) }, "prometheus query " + q.CPU + ": no series between"},
		{"two memory series", func(r recorded) { r[q.Memory] = append(r[q.Memory], series(pm.Metric{"x": "y"}, 1, 1)) }, "prometheus query " + q.Memory + ": 2 series, want one"},
		{"no instance-type label", func(r recorded) { r[q.Types] = pm.Matrix{series(pm.Metric{}, 2, 2)} }, "a series without the label " + q.TypeLabel},
		{"no types at all", func(r recorded) { delete(r, q.Types) }, "--metric-labels-allowlist=nodes=[node.kubernetes.io/instance-type]"},
		{"nothing at the start", func(r recorded) { r[q.CPU] = pm.Matrix{series(pm.Metric{}, math.NaN(), 1)} }, "no data at the window's start 2026-11-30 00:00:00 from prometheus query " + q.CPU},
	} {
		r := full()
		tt.mutate(r)
		_, err := QueryHistory(context.Background(), r, h0, h0.Add(time.Minute), time.Minute, HistoryQueries{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
		if tt.name == "no CPU series" && !errors.Is(err, ErrNoSeries) {
			t.Errorf("%s: %v is not ErrNoSeries", tt.name, err)
		}
	}
}

// pointLimited answers as Prometheus does: a range query of more than
// 11,000 points is refused.
type pointLimited struct {
	recorded
	queries int
}

func (p *pointLimited) QueryRange(ctx context.Context, q string, rg v1.Range, opts ...v1.Option) (pm.Value, v1.Warnings, v1.Infos, error) {
	p.queries++
	if rg.End.Sub(rg.Start)/rg.Step+1 > 11000 {
		return nil, nil, nil, errors.New("bad_data: exceeded maximum resolution of 11,000 points per timeseries")
	}
	return p.recorded.QueryRange(ctx, q, rg, opts...)
}

// Eight days of minutes are more points than Prometheus answers in one
// range query: the history is read in pieces and joined, step by step.
func TestQueryHistoryReadsAWindowLongerThanOneQueryAnswers(t *testing.T) {
	q := DefaultHistoryQueries()
	const steps = 8*24*60 + 1
	cpu, mem, t3, t3a := make([]float64, steps), make([]float64, steps), make([]float64, steps), make([]float64, steps)
	want := History{Name: "prometheus", Step: time.Minute}
	for i := range steps {
		cpu[i], mem[i], t3[i], t3a[i] = float64(i%50)/10, float64(i%7)*1e9, 2, float64(i%3)
		types := map[string]int{"t3.medium": 2}
		if i%3 == 0 {
			t3a[i] = math.NaN() // no t3a.medium node then: no sample
		} else {
			types["t3a.medium"] = i % 3
		}
		want.Samples = append(want.Samples, HistorySample{Time: h0.Add(time.Duration(i) * time.Minute), CPU: cpu[i], Memory: mem[i], Types: types})
	}
	typ := func(v string) pm.Metric { return pm.Metric{pm.LabelName(q.TypeLabel): pm.LabelValue(v)} }
	prom := &pointLimited{recorded: recorded{
		q.CPU:    {series(pm.Metric{}, cpu...)},
		q.Memory: {series(pm.Metric{}, mem...)},
		q.Types:  {series(typ("t3.medium"), t3...), series(typ("t3a.medium"), t3a...)},
	}}
	got, err := QueryHistory(context.Background(), prom, h0, h0.Add((steps-1)*time.Minute), time.Minute, HistoryQueries{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	if prom.queries != 6 {
		t.Errorf("%d range queries, want 6 (two for each of three queries)", prom.queries)
	}
}

// A window of more steps than MaxHistorySteps, or of less than two (as
// the history files), is refused before any query.
func TestQueryHistoryRefusesWindowsOfTooManyOrTooFewSteps(t *testing.T) {
	for _, tt := range []struct {
		name     string
		from, to time.Time
		want     string
	}{
		{"five years of minutes", h0.Add(-5 * 365 * 24 * time.Hour), h0, "use a longer step"},
		{"30 s at a minute's step", h0.Add(10 * time.Second), h0.Add(40 * time.Second), "holds one step of 1m0s; a history needs at least 2"},
	} {
		prom := &pointLimited{recorded: recorded{}}
		_, err := QueryHistory(context.Background(), prom, tt.from, tt.to, time.Minute, HistoryQueries{})
		if err == nil || !strings.Contains(err.Error(), tt.want) || prom.queries != 0 {
			t.Errorf("%s: error %v after %d queries, want %q with no query", tt.name, err, prom.queries, tt.want)
		}
	}
}

// A TypeLabel set without its Types query is refused, not ignored: the
// default query counts by the default label.
func TestQueryHistoryRefusesATypeLabelWithoutItsQuery(t *testing.T) {
	q := DefaultHistoryQueries()
	prom := recorded{
		q.CPU:    {series(pm.Metric{}, 1, 1)},
		q.Memory: {series(pm.Metric{}, 1e9, 1e9)},
		q.Types:  {series(pm.Metric{pm.LabelName(q.TypeLabel): "t3.medium"}, 2, 2)},
	}
	_, err := QueryHistory(context.Background(), prom, h0, h0.Add(time.Minute), time.Minute, HistoryQueries{TypeLabel: "label_instance_type"})
	if err == nil || !strings.Contains(err.Error(), `TypeLabel is "label_instance_type" while Types is the default query`) {
		t.Errorf("error %v, want the TypeLabel refused", err)
	}
}

// unreachable is a Prometheus that cannot be reached.
type unreachable struct{}

func (unreachable) QueryRange(context.Context, string, v1.Range, ...v1.Option) (pm.Value, v1.Warnings, v1.Infos, error) {
	return nil, nil, nil, errors.New("dial tcp 127.0.0.1:9090: connection refused")
}

// An error of Prometheus itself names the query and is not taken for
// missing series: no hint about kube-state-metrics.
func TestQueryHistoryPassesPrometheusErrorsOnWithoutAHint(t *testing.T) {
	q := DefaultHistoryQueries()
	_, err := QueryHistory(context.Background(), unreachable{}, h0, h0.Add(time.Hour), time.Minute, HistoryQueries{})
	want := "prometheus query " + q.CPU + ": dial tcp 127.0.0.1:9090: connection refused"
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}

// Each type's share of the worker-steps; a type listed with no workers
// has none (and no NaN when no worker ran at all).
func TestHistoryTypeSharesCountWorkerSteps(t *testing.T) {
	for _, tt := range []struct {
		name  string
		types []map[string]int
		want  map[string]float64
	}{
		{"two types", []map[string]int{{"t3.medium": 3, "t3a.medium": 1}, {"t3.medium": 3, "t3a.medium": 0}}, map[string]float64{"t3.medium": 6.0 / 7, "t3a.medium": 1.0 / 7}},
		{"no worker ran", []map[string]int{{"t3.medium": 0}, {}}, map[string]float64{}},
	} {
		h := History{Step: time.Minute}
		for i, ty := range tt.types {
			h.Samples = append(h.Samples, HistorySample{Time: h0.Add(time.Duration(i) * time.Minute), Types: ty})
		}
		if diff := cmp.Diff(tt.want, h.TypeShares()); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}
