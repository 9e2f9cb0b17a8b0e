package sim

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseTrace(t *testing.T) {
	in := "timestamp,value\n2014-04-10 00:04:00,94.0\n2014-04-10 00:09:00,56\n\n2014-04-10 00:19:00,10,extra\n"
	tr, err := ParseTrace(strings.NewReader(in), "elb.csv")
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2014, 4, 10, 0, 4, 0, 0, time.UTC); !tr.Start.Equal(want) || tr.Step != 5*time.Minute {
		t.Errorf("start %s step %s", tr.Start, tr.Step)
	}
	// The missing 00:14 step repeats the value before it.
	if diff := cmp.Diff([]float64{94, 56, 56, 10}, tr.Values); diff != "" {
		t.Errorf("values (-want +got):\n%s", diff)
	}
	if tr.Gaps != 1 || !tr.End().Equal(tr.Start.Add(20*time.Minute)) {
		t.Errorf("gaps %d end %s", tr.Gaps, tr.End())
	}
}

func TestParseTraceErrorsNameTheLine(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", "t.csv: empty file"},
		{"2026-01-01 00:00:00,5\n2026-01-01 00:01:00,6\n", "t.csv:1: no header line"},
		{"ts,v\n2026-01-01 00:00:00,5\n", "t.csv: 1 data row(s)"},
		{"ts,v\n2026-01-01 00:00:00,5\n2026-01-01 00:01:00\n", "t.csv:3: want timestamp,count"},
		{"ts,v\n2026-01-01 00:00:00,5\nnoon,6\n", `t.csv:3: timestamp "noon"`},
		{"ts,v\n2026-01-01 00:00:00,5\n2026-01-01 00:01:00,-1\n", `t.csv:3: count "-1" is not a non-negative number`},
		{"ts,v\n2026-01-01 00:00:00,5\n2026-01-01 00:01:00,NaN\n", `t.csv:3: count "NaN"`},
		{"ts,v\n2026-01-01 00:01:00,5\n2026-01-01 00:00:00,6\n", "t.csv:3: timestamp 2026-01-01 00:00:00 does not come after 2026-01-01 00:01:00 (line 2)"},
		{"ts,v\n2026-01-01 00:00:00,5\n2026-01-01 00:02:00,6\n2026-01-01 00:05:00,6\n", "t.csv:4: timestamp 2026-01-01 00:05:00 is off the trace's 2m0s grid"},
	} {
		_, err := ParseTrace(strings.NewReader(tt.in), "t.csv")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want %q", tt.in, err, tt.want)
		}
	}
}

func TestWindow(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tr := Trace{Name: "t.csv", Start: start, Step: time.Minute, Values: []float64{0, 1, 2, 3, 4, 5}}
	w, err := tr.Window(start.Add(90*time.Second), start.Add(4*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !w.Start.Equal(start.Add(2*time.Minute)) || !cmp.Equal(w.Values, []float64{2, 3}) {
		t.Errorf("window starts %s with %v, want steps 2 and 3", w.Start, w.Values)
	}
	if w, err := tr.Window(time.Time{}, time.Time{}); err != nil || len(w.Values) != 6 {
		t.Errorf("open window: %v, %d values", err, len(w.Values))
	}
	for _, r := range [][2]time.Time{{start.Add(time.Hour), time.Time{}}, {time.Time{}, start}, {start.Add(3 * time.Minute), start.Add(3 * time.Minute)}} {
		if _, err := tr.Window(r[0], r[1]); err == nil || !strings.Contains(err.Error(), "t.csv: no data between") {
			t.Errorf("window %v: error %v", r, err)
		}
	}
}

func TestPodsScaleThePeakToPeakNodes(t *testing.T) {
	tr := Trace{Name: "t.csv", Step: time.Minute, Values: []float64{0, 30, 299, 600, 1200}}
	pods, err := tr.Pods(4, 10)
	if err != nil {
		t.Fatal(err)
	}
	// 1200 requests need 4 nodes of 10 pods: 30 requests per pod.
	if diff := cmp.Diff([]float64{0, 1, 10, 20, 40}, pods); diff != "" {
		t.Errorf("pods (-want +got):\n%s", diff)
	}
	if _, err := tr.Pods(0, 10); err == nil {
		t.Error("0 peak nodes accepted")
	}
	if _, err := (Trace{Name: "z", Values: []float64{0, 0}}).Pods(2, 10); err == nil || !strings.Contains(err.Error(), "zero everywhere") {
		t.Errorf("all-zero trace: %v", err)
	}
}

// A binary file given as a trace is refused in one short line, never
// echoed.
func TestBinaryTraceIsRefusedInOneLine(t *testing.T) {
	gz := "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + strings.Repeat("\xff\xfe\x00\x01", 400) + "\n" + strings.Repeat("\x02", 1400)
	long := "ts,v\n" + strings.Repeat("x", 500) + "\n"
	for _, tt := range []struct{ name, in, want string }{
		{"gzip", gz, "trace.gz:1: binary data; a trace is a text CSV file"},
		{"NUL in a row", "ts,v\n2026-01-01 00:00:00,5\x00\n", "trace.gz:2: binary data"},
		{"long garbage row", long, "trace.gz:2: want timestamp,count"},
	} {
		_, err := ParseTrace(strings.NewReader(tt.in), "trace.gz")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || len(msg) > 200 {
			t.Errorf("%s: error of %d bytes (or lines): %q", tt.name, len(msg), msg)
		}
	}
}
