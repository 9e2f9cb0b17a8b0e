package sim

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Trace is a measured load series with a fixed step: Values[i] is the count
// (requests, say) in the step that starts at Start + i*Step.
type Trace struct {
	// Name is where the trace came from (a file name), for messages.
	Name  string
	Start time.Time
	Step  time.Duration
	// Values holds one count per step. Steps the source did not have
	// (gaps) hold the last value before them; Gaps counts them.
	Values []float64
	Gaps   int
}

// timeLayouts are the timestamp forms LoadTrace accepts, tried in order.
var timeLayouts = [...]string{"2006-01-02 15:04:05", time.RFC3339, "2006-01-02T15:04:05", "2006-01-02 15:04"}

// ParseTime reads a timestamp in one of the forms traces use
// ("2006-01-02 15:04:05", RFC 3339, "2006-01-02T15:04:05",
// "2006-01-02 15:04", or a date "2006-01-02"), in UTC unless it says
// otherwise.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range timeLayouts {
		if t, err := time.ParseInLocation(l, s, time.UTC); err == nil {
			return t, nil
		}
	}
	if t, err := time.ParseInLocation("2006-01-02", s, time.UTC); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("timestamp %q is not of the form 2006-01-02 15:04:05 (or RFC 3339, or a date)", clip(s))
}

// LoadTrace reads a CSV trace from path: see ParseTrace.
func LoadTrace(path string) (Trace, error) {
	return load(path, "trace", ParseTrace)
}

// load opens the file at path and parses it with parse, naming it by its
// path; what prefixes the error of a file that cannot be opened.
func load[T any](path, what string, parse func(io.Reader, string) (T, error)) (T, error) {
	f, err := os.Open(path)
	if err != nil {
		var zero T
		return zero, fmt.Errorf("%s: %w", what, err)
	}
	defer f.Close()
	return parse(f, path)
}

// ParseTrace reads a CSV trace: a header line, then one row per step with a
// timestamp in the first column and a non-negative count in the second
// (further columns are ignored). The step is the smallest interval between
// consecutive timestamps; timestamps must increase and lie on that grid;
// missing steps are filled with the previous value and counted in Gaps.
// Errors name the source and the line.
func ParseTrace(r io.Reader, name string) (Trace, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	tr := Trace{Name: name}
	var times []time.Time
	var vals []float64
	var lines []int
	line := 0
	for sc.Scan() {
		line++
		if raw := sc.Bytes(); bytes.IndexByte(raw, 0) >= 0 || !utf8.Valid(raw) {
			return tr, fmt.Errorf("%s:%d: binary data; a trace is a text CSV file (a header, then timestamp,count per line)", name, line)
		}
		text := strings.TrimSpace(sc.Text())
		if line == 1 {
			if text == "" {
				return tr, fmt.Errorf("%s:1: empty header line; want a header such as timestamp,value", name)
			}
			// A header whose second column is a number is data, not a
			// header: refuse it rather than lose the first step.
			if f := strings.Split(text, ","); len(f) >= 2 {
				if _, err := strconv.ParseFloat(strings.TrimSpace(f[1]), 64); err == nil {
					return tr, fmt.Errorf("%s:1: no header line (the first line %q holds data); want a header such as timestamp,value", name, clip(text))
				}
			}
			continue
		}
		if text == "" {
			continue
		}
		f := strings.Split(text, ",")
		if len(f) < 2 {
			return tr, fmt.Errorf("%s:%d: want timestamp,count, got %q", name, line, clip(text))
		}
		t, err := ParseTime(f[0])
		if err != nil {
			return tr, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(f[1]), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return tr, fmt.Errorf("%s:%d: count %q is not a non-negative number", name, line, clip(strings.TrimSpace(f[1])))
		}
		if n := len(times); n > 0 && !t.After(times[n-1]) {
			return tr, fmt.Errorf("%s:%d: timestamp %s does not come after %s (line %d)", name, line, t.Format(time.DateTime), times[n-1].Format(time.DateTime), lines[n-1])
		}
		times = append(times, t)
		vals = append(vals, v)
		lines = append(lines, line)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return tr, fmt.Errorf("%s:%d: a line longer than 1 MiB; a trace is a text CSV file (a header, then timestamp,count per line)", name, line+1)
		}
		return tr, fmt.Errorf("%s:%d: %w", name, line+1, err)
	}
	if line == 0 {
		return tr, fmt.Errorf("%s: empty file; want a header and rows of timestamp,count", name)
	}
	if len(times) < 2 {
		return tr, fmt.Errorf("%s: %d data row(s); a trace needs at least 2 to have a step", name, len(times))
	}
	step := time.Duration(math.MaxInt64)
	for i := 1; i < len(times); i++ {
		step = min(step, times[i].Sub(times[i-1]))
	}
	tr.Start, tr.Step = times[0], step
	tr.Values = make([]float64, 0, int(times[len(times)-1].Sub(times[0])/step)+1)
	for i, t := range times {
		d := t.Sub(tr.Start)
		if d%step != 0 {
			return tr, fmt.Errorf("%s:%d: timestamp %s is off the trace's %s grid starting at %s", name, lines[i], t.Format(time.DateTime), step, tr.Start.Format(time.DateTime))
		}
		for idx := int(d / step); len(tr.Values) < idx; tr.Gaps++ {
			tr.Values = append(tr.Values, tr.Values[len(tr.Values)-1])
		}
		tr.Values = append(tr.Values, vals[i])
	}
	return tr, nil
}

// clip shortens s for an error message.
func clip(s string) string {
	if r := []rune(s); len(r) > 80 {
		return string(r[:80]) + "..."
	}
	return s
}

// End is the end of the trace's last step.
func (t Trace) End() time.Time { return t.Start.Add(time.Duration(len(t.Values)) * t.Step) }

// Window returns the part of the trace whose steps start in [from, to); a
// zero from or to leaves that side open. A window with no step is an error
// that names the trace's span.
func (t Trace) Window(from, to time.Time) (Trace, error) {
	lo, hi := 0, len(t.Values)
	if !from.IsZero() {
		d := from.Sub(t.Start)
		if d > 0 {
			lo = int((d + t.Step - 1) / t.Step)
		}
	}
	if !to.IsZero() {
		d := to.Sub(t.Start)
		hi = 0
		if d > 0 {
			hi = min(int((d+t.Step-1)/t.Step), len(t.Values))
		}
	}
	if lo >= hi {
		return Trace{}, fmt.Errorf("%s: no data between %s and %s (the trace covers %s to %s)", t.Name, fmtOpen(from), fmtOpen(to),
			t.Start.Format(time.DateTime), t.End().Format(time.DateTime))
	}
	w := t
	w.Start = t.Start.Add(time.Duration(lo) * t.Step)
	w.Values = t.Values[lo:hi]
	return w, nil
}

func fmtOpen(t time.Time) string {
	if t.IsZero() {
		return "(open)"
	}
	return t.Format(time.DateTime)
}

// Peak is the largest value of the trace.
func (t Trace) Peak() float64 {
	p := 0.0
	for _, v := range t.Values {
		p = math.Max(p, v)
	}
	return p
}

// Pods turns the trace into demand in pods: every pod serves
// Peak/(peakNodes*podsPerNode) of the counted load, and a step needs the
// whole number of pods that serves its count (rounded up), so that the
// trace's peak needs exactly peakNodes nodes of podsPerNode pods.
func (t Trace) Pods(peakNodes int, podsPerNode float64) ([]float64, error) {
	if peakNodes < 1 {
		return nil, fmt.Errorf("peak nodes must be at least 1, got %d", peakNodes)
	}
	if !(podsPerNode > 0) {
		return nil, fmt.Errorf("pods per node must be positive, got %v", podsPerNode)
	}
	peak := t.Peak()
	if peak == 0 {
		return nil, errors.New(t.Name + ": the trace is zero everywhere in this window")
	}
	perPod := peak / (float64(peakNodes) * podsPerNode)
	out := make([]float64, len(t.Values))
	for i, v := range t.Values {
		// The small tolerance keeps exact multiples from rounding up
		// through floating-point error.
		out[i] = math.Ceil(v/perPod - 1e-9)
	}
	return out, nil
}
