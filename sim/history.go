package sim

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// History is what a cluster's workload asked for and what fleet ran it,
// one sample a step: the input of "what would a policy have cost on my
// cluster?". ParseHistory reads it from a CSV or JSON export,
// QueryHistory from Prometheus (kube-state-metrics' series).
type History struct {
	// Name says where the history came from, for messages.
	Name string
	// Step is the time between samples.
	Step time.Duration
	// Samples are one a step, oldest first, without gaps (a missing step
	// holds the sample before it; Gaps counts them).
	Samples []HistorySample
	Gaps    int
}

// HistorySample is one step of a History.
type HistorySample struct {
	Time time.Time
	// CPU and Memory are the requests of the pods that were Pending or
	// Running, DaemonSet pods excepted (the model adds its own on every
	// worker): CPU in cores, Memory in bytes.
	CPU, Memory float64
	// Types is how many workers of each instance type ran (the K3s
	// server and other control-plane nodes excepted).
	Types map[string]int
}

// Workers is how many workers ran.
func (s HistorySample) Workers() int {
	n := 0
	for _, c := range s.Types {
		n += c
	}
	return n
}

// historyJSON is the JSON form of a History.
type historyJSON struct {
	Step    string       `json:"step"`
	Samples []sampleJSON `json:"samples"`
}

type sampleJSON struct {
	Time          time.Time      `json:"time"`
	CPUCores      *float64       `json:"cpu_cores"`
	MemoryBytes   *float64       `json:"memory_bytes"`
	InstanceTypes map[string]int `json:"instance_types"`
}

// historyHeader is the CSV export's header.
const historyHeader = "timestamp,cpu_cores,memory_bytes,instance_types"

// LoadHistory reads a history export from path: see ParseHistory.
func LoadHistory(path string) (History, error) {
	return load(path, "history", ParseHistory)
}

// ParseHistory reads a history export, JSON when it starts with "{", else
// CSV. The CSV has the header
//
//	timestamp,cpu_cores,memory_bytes,instance_types
//
// and one row a step, instance_types as "t3.medium=3 m5.large=1" (the
// workers of each type). The JSON is {"step": "1m", "samples": [{"time":
// RFC 3339, "cpu_cores": 3.5, "memory_bytes": 8e9, "instance_types":
// {"t3.medium": 3}}]}. Timestamps must increase on the grid of the
// smallest interval between them; missing steps hold the sample before
// them, and at most half the steps may be missing. Errors name the
// source and the line (or sample).
func ParseHistory(r io.Reader, name string) (History, error) {
	br := bufio.NewReader(r)
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte("\ufeff")) {
		br.Discard(3) // spreadsheets save "CSV UTF-8" with a byte order mark
	}
	head, _ := br.Peek(512)
	if bytes.IndexByte(head, 0) >= 0 || !utf8.Valid(trimPartialRune(head)) {
		return History{}, fmt.Errorf("%s: binary data; a history is a CSV or JSON text file", name)
	}
	if t := bytes.TrimSpace(head); len(t) > 0 && t[0] == '{' {
		return parseHistoryJSON(br, name)
	}
	return parseHistoryCSV(br, name)
}

// trimPartialRune drops a rune cut at the end of b by a Peek.
func trimPartialRune(b []byte) []byte {
	for i := 0; i < utf8.UTFMax && len(b) > 0; i++ {
		if utf8.Valid(b) {
			return b
		}
		b = b[:len(b)-1]
	}
	return b
}

func parseHistoryJSON(r io.Reader, name string) (History, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return History{}, fmt.Errorf("%s: %w", name, err)
	}
	// lineAt names the line of a byte offset in data.
	lineAt := func(off int64) string {
		off = min(max(off, 0), int64(len(data)))
		return name + ":" + strconv.Itoa(1+bytes.Count(data[:off], []byte("\n")))
	}
	var hj historyJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&hj); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return History{}, fmt.Errorf("%s: %w", lineAt(syn.Offset), err)
		case errors.As(err, &typ):
			return History{}, fmt.Errorf("%s: %w", lineAt(typ.Offset), err)
		}
		return History{}, fmt.Errorf("%s: %w", name, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return History{}, fmt.Errorf("%s: more data after the history", lineAt(dec.InputOffset()))
	}
	var rows []HistorySample
	for i, s := range hj.Samples {
		at := fmt.Sprintf("%s: samples[%d]", name, i)
		if s.Time.IsZero() || s.CPUCores == nil || s.MemoryBytes == nil || s.InstanceTypes == nil {
			return History{}, fmt.Errorf("%s: want time, cpu_cores, memory_bytes and instance_types", at)
		}
		hs := HistorySample{Time: s.Time.UTC(), CPU: *s.CPUCores, Memory: *s.MemoryBytes, Types: s.InstanceTypes}
		if err := hs.check(); err != nil {
			return History{}, fmt.Errorf("%s: %w", at, err)
		}
		rows = append(rows, hs)
	}
	h, err := onGrid(name, rows, func(i int) string { return fmt.Sprintf("samples[%d]", i) })
	if err != nil {
		return History{}, err
	}
	if hj.Step != "" {
		step, err := time.ParseDuration(hj.Step)
		if err != nil || step != h.Step {
			return History{}, fmt.Errorf("%s: step %q does not match the samples' step %s", name, hj.Step, h.Step)
		}
	}
	return h, nil
}

func parseHistoryCSV(r io.Reader, name string) (History, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err == io.EOF {
		return History{}, fmt.Errorf("%s: empty file; want the header %s and a row a step", name, historyHeader)
	}
	if err != nil {
		return History{}, fmt.Errorf("%s: %w", name, err)
	}
	if got := strings.Join(header, ","); got != historyHeader {
		return History{}, fmt.Errorf("%s:1: header %q; want %s", name, clip(got), historyHeader)
	}
	var rows []HistorySample
	var lines []int
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return History{}, fmt.Errorf("%s: %w", name, err)
		}
		line, _ := cr.FieldPos(0)
		at := fmt.Sprintf("%s:%d", name, line)
		if len(rec) != 4 {
			return History{}, fmt.Errorf("%s: %d fields; want %s", at, len(rec), historyHeader)
		}
		t, err := ParseTime(rec[0])
		if err != nil {
			return History{}, fmt.Errorf("%s: %w", at, err)
		}
		cpu, err1 := strconv.ParseFloat(rec[1], 64)
		mem, err2 := strconv.ParseFloat(rec[2], 64)
		if err := errors.Join(err1, err2); err != nil {
			return History{}, fmt.Errorf("%s: cpu_cores %q and memory_bytes %q must be numbers", at, clip(rec[1]), clip(rec[2]))
		}
		types, err := parseTypes(rec[3])
		if err != nil {
			return History{}, fmt.Errorf("%s: instance_types: %w", at, err)
		}
		hs := HistorySample{Time: t, CPU: cpu, Memory: mem, Types: types}
		if err := hs.check(); err != nil {
			return History{}, fmt.Errorf("%s: %w", at, err)
		}
		rows = append(rows, hs)
		lines = append(lines, line)
	}
	return onGrid(name, rows, func(i int) string { return "line " + strconv.Itoa(lines[i]) })
}

// parseTypes reads "t3.medium=3 m5.large=1".
func parseTypes(s string) (map[string]int, error) {
	types := map[string]int{}
	for _, f := range strings.Fields(s) {
		typ, n, ok := strings.Cut(f, "=")
		c, err := strconv.Atoi(n)
		if !ok || typ == "" || err != nil || c < 0 {
			return nil, fmt.Errorf("%q is not type=count", clip(f))
		}
		types[typ] += c
	}
	return types, nil
}

func (s HistorySample) check() error {
	for _, v := range []float64{s.CPU, s.Memory} {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return fmt.Errorf("requests %v cores, %v bytes: want numbers of 0 or more", s.CPU, s.Memory)
		}
	}
	for t, c := range s.Types {
		if c < 0 || t == "" {
			return fmt.Errorf("instance type %q with %d workers", t, c)
		}
	}
	return nil
}

// onGrid checks that rows lie on one grid and fills gaps.
func onGrid(name string, rows []HistorySample, where func(int) string) (History, error) {
	h := History{Name: name}
	if len(rows) < 2 {
		return h, fmt.Errorf("%s: %d sample(s); a history needs at least 2 to have a step", name, len(rows))
	}
	step, at := time.Duration(math.MaxInt64), 0
	for i := 1; i < len(rows); i++ {
		d := rows[i].Time.Sub(rows[i-1].Time)
		if d <= 0 {
			return h, fmt.Errorf("%s: %s: timestamp %s does not come after the one before", name, where(i), rows[i].Time.Format(time.DateTime))
		}
		if d < step {
			step, at = d, i
		}
	}
	h.Step = step
	// Filling is bounded by the rows: an interval much shorter than the
	// others would otherwise invent (and allocate) most of the history.
	if steps := int64(rows[len(rows)-1].Time.Sub(rows[0].Time)/step) + 1; steps-int64(len(rows)) > int64(len(rows)) {
		return h, fmt.Errorf("%s: %s: the interval of %s to the timestamp before sets the step, which leaves %d of %d steps missing; a history may miss at most half its steps",
			name, where(at), step, steps-int64(len(rows)), steps)
	}
	for i, r := range rows {
		d := r.Time.Sub(rows[0].Time)
		if d%step != 0 {
			return h, fmt.Errorf("%s: %s: timestamp %s is off the %s grid starting at %s", name, where(i), r.Time.Format(time.DateTime), step, rows[0].Time.Format(time.DateTime))
		}
		for idx := int(d / step); len(h.Samples) < idx; h.Gaps++ {
			prev := h.Samples[len(h.Samples)-1]
			prev.Time = prev.Time.Add(step)
			h.Samples = append(h.Samples, prev)
		}
		h.Samples = append(h.Samples, r)
	}
	return h, nil
}

// WriteCSV writes h in the CSV form ParseHistory reads, instance types
// sorted by name.
func (h History) WriteCSV(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, historyHeader)
	for _, s := range h.Samples {
		var types []string
		for _, t := range slices.Sorted(maps.Keys(s.Types)) {
			types = append(types, t+"="+strconv.Itoa(s.Types[t]))
		}
		fmt.Fprintf(bw, "%s,%s,%s,%s\n", s.Time.UTC().Format(time.RFC3339), strconv.FormatFloat(s.CPU, 'g', -1, 64),
			strconv.FormatFloat(s.Memory, 'g', -1, 64), strings.Join(types, " "))
	}
	return bw.Flush()
}

// Demand turns the requests into demand units of the model's worker: a
// step needs the larger of its CPU and its memory requests, each in
// PodsPerNode-ths of what a new worker offers pods (Model.Template's Free
// resources), so that a step's units over podsPerNode are the workers of
// the model's type its requests fill. The IdealModel has no template; it
// is measured with DefaultModel's.
func (h History) Demand(m Model, podsPerNode float64) (Demand, error) {
	if !(podsPerNode > 0) {
		return Demand{}, fmt.Errorf("pods per node must be positive, got %v", podsPerNode)
	}
	if len(h.Samples) == 0 {
		return Demand{}, fmt.Errorf("%s: the history is empty", h.Name)
	}
	tpl := m.Template
	if m.Ideal {
		tpl = DefaultModel().Template
	}
	free := tpl.Free()
	if free.MilliCPU <= 0 || free.Memory <= 0 {
		return Demand{}, fmt.Errorf("the model's worker %q leaves nothing for pods", tpl.InstanceType)
	}
	unitCPU := float64(free.MilliCPU) / 1000 / podsPerNode
	unitMem := float64(free.Memory) / podsPerNode
	d := Demand{Name: h.Name, Start: h.Samples[0].Time, Step: h.Step, Units: make([]float64, len(h.Samples))}
	for i, s := range h.Samples {
		d.Units[i] = math.Max(s.CPU/unitCPU, s.Memory/unitMem)
	}
	return d, nil
}

// Cost is what the workers that ran cost, each step's workers billed for
// the step at price (USD an hour) of their type. An error names every
// type price does not know.
func (h History) Cost(price func(instanceType string) (float64, bool)) (float64, error) {
	usd := 0.0
	var unknown []string
	for _, s := range h.Samples {
		for t, n := range s.Types {
			p, ok := price(t)
			if !ok {
				if !slices.Contains(unknown, t) {
					unknown = append(unknown, t)
				}
				continue
			}
			usd += float64(n) * p * h.Step.Hours()
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return 0, fmt.Errorf("%s: no price for instance type(s) %s", h.Name, strings.Join(unknown, ", "))
	}
	return usd, nil
}

// TypeShares is each instance type's share (0-1) of the worker-steps;
// empty when no worker ran.
func (h History) TypeShares() map[string]float64 {
	out := map[string]float64{}
	total := 0
	for _, s := range h.Samples {
		for t, n := range s.Types {
			if n > 0 {
				out[t] += float64(n)
				total += n
			}
		}
	}
	for t := range out {
		out[t] /= float64(total)
	}
	return out
}
