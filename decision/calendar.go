package decision

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseCalendar reads a calendar of known events, in either of two forms.
//
// JSON, a list of objects:
//
//	[{"name": "flash-sale", "start": "2026-12-24T20:00:00Z", "duration": "1h", "nodes": 8}]
//
// with "end" instead of "duration" if preferred, and "pods", "nodes" or
// "factor" for the demand expected (at least one of them).
//
// Compact text, one event per line or separated by ";": a name, the start
// (RFC 3339), the duration or the end, then pods=N, nodes=N or factor=F:
//
//	flash-sale 2026-12-24T20:00:00Z 1h nodes=8; boxing-day 2026-12-26T08:00:00Z 2026-12-26T12:00:00Z pods=60
//
// Blank lines and lines starting with # are ignored. Every problem is
// reported with the line (or the JSON event's position) and the field.
func ParseCalendar(text string) ([]Event, error) {
	trimmed := strings.TrimSpace(text)
	if trimmed == "" {
		return nil, nil
	}
	if strings.HasPrefix(trimmed, "[") {
		return parseCalendarJSON([]byte(trimmed))
	}
	var events []Event
	var errs []error
	lines := strings.FieldsFunc(text, func(r rune) bool { return r == '\n' || r == ';' })
	for i, line := range lines {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		e, err := parseCalendarLine(line)
		if err != nil {
			errs = append(errs, fmt.Errorf("calendar entry %d (%q): %w", i+1, line, err))
			continue
		}
		events = append(events, e)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return events, nil
}

func parseCalendarLine(line string) (Event, error) {
	f := strings.Fields(line)
	if len(f) < 4 {
		return Event{}, fmt.Errorf("want: NAME START DURATION-or-END pods=N|nodes=N|factor=F, got %d fields", len(f))
	}
	e := Event{Name: f[0]}
	var err error
	if e.Start, err = time.Parse(time.RFC3339, f[1]); err != nil {
		return Event{}, fmt.Errorf("field 2 (start) %q: want an RFC 3339 time such as 2026-12-24T20:00:00Z", f[1])
	}
	if d, derr := time.ParseDuration(f[2]); derr == nil {
		e.End = e.Start.Add(d)
	} else if e.End, err = time.Parse(time.RFC3339, f[2]); err != nil {
		return Event{}, fmt.Errorf("field 3 (duration or end) %q: want a duration such as 1h or an RFC 3339 time", f[2])
	}
	for i, kv := range f[3:] {
		k, v, ok := strings.Cut(kv, "=")
		n, perr := strconv.ParseFloat(v, 64)
		if !ok || perr != nil || math.IsNaN(n) || math.IsInf(n, 0) {
			return Event{}, fmt.Errorf("field %d %q: want pods=N, nodes=N or factor=F with a number", i+4, kv)
		}
		switch k {
		case "pods":
			e.Pods = n
		case "nodes":
			e.Nodes = n
		case "factor":
			e.Factor = n
		default:
			return Event{}, fmt.Errorf("field %d %q: unknown key %q; want pods, nodes or factor", i+4, kv, k)
		}
	}
	return e, checkEvent(e)
}

// calendarJSON is one event as JSON writes it.
type calendarJSON struct {
	Name     string   `json:"name"`
	Start    string   `json:"start"`
	End      string   `json:"end"`
	Duration string   `json:"duration"`
	Pods     *float64 `json:"pods"`
	Nodes    *float64 `json:"nodes"`
	Factor   *float64 `json:"factor"`
}

func parseCalendarJSON(b []byte) ([]Event, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var raw []calendarJSON
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("calendar JSON: %w (want a list of {name, start, duration or end, pods, nodes or factor})", err)
	}
	var events []Event
	var errs []error
	for i, r := range raw {
		e, err := r.event()
		if err != nil {
			errs = append(errs, fmt.Errorf("calendar event %d (%q): %w", i+1, r.Name, err))
			continue
		}
		events = append(events, e)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return events, nil
}

func (r calendarJSON) event() (Event, error) {
	e := Event{Name: r.Name}
	if e.Name == "" {
		return e, errors.New("name is required")
	}
	var err error
	if e.Start, err = time.Parse(time.RFC3339, r.Start); err != nil {
		return e, fmt.Errorf("start %q: want an RFC 3339 time such as 2026-12-24T20:00:00Z", r.Start)
	}
	switch {
	case r.Duration != "" && r.End != "":
		return e, errors.New("duration and end are both set: set one")
	case r.Duration != "":
		d, derr := time.ParseDuration(r.Duration)
		if derr != nil {
			return e, fmt.Errorf("duration %q: want a duration such as 1h", r.Duration)
		}
		e.End = e.Start.Add(d)
	case r.End != "":
		if e.End, err = time.Parse(time.RFC3339, r.End); err != nil {
			return e, fmt.Errorf("end %q: want an RFC 3339 time", r.End)
		}
	default:
		return e, errors.New("duration or end is required")
	}
	for _, p := range []struct {
		v   *float64
		dst *float64
	}{{r.Pods, &e.Pods}, {r.Nodes, &e.Nodes}, {r.Factor, &e.Factor}} {
		if p.v != nil {
			*p.dst = *p.v
		}
	}
	return e, checkEvent(e)
}

// checkEvent reports what is wrong with a parsed event.
func checkEvent(e Event) error {
	var errs []error
	if !e.End.After(e.Start) {
		errs = append(errs, fmt.Errorf("end %s must be after start %s", e.End.Format(time.RFC3339), e.Start.Format(time.RFC3339)))
	}
	if e.Pods < 0 || e.Nodes < 0 || e.Factor < 0 {
		errs = append(errs, fmt.Errorf("pods, nodes and factor must not be negative, got %v, %v and %v", e.Pods, e.Nodes, e.Factor))
	}
	if e.Pods == 0 && e.Nodes == 0 && e.Factor <= 1 {
		errs = append(errs, errors.New("give the demand expected: pods, nodes or a factor above 1"))
	}
	return errors.Join(errs...)
}

// FormatCalendar writes events in ParseCalendar's compact form, one a
// line (a name's spaces become dashes: the compact form's names are one
// word).
func FormatCalendar(events []Event) string {
	var b strings.Builder
	for _, e := range events {
		name := strings.Join(strings.FieldsFunc(e.Name, func(r rune) bool { return r == ';' || r == ' ' || r == '\t' || r == '\n' }), "-")
		if name == "" {
			name = "event"
		}
		fmt.Fprintf(&b, "%s %s %s", name, e.Start.UTC().Format(time.RFC3339), e.End.Sub(e.Start))
		for _, kv := range []struct {
			k string
			v float64
		}{{"pods", e.Pods}, {"nodes", e.Nodes}, {"factor", e.Factor}} {
			if kv.v != 0 {
				fmt.Fprintf(&b, " %s=%s", kv.k, strconv.FormatFloat(kv.v, 'f', -1, 64))
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}
