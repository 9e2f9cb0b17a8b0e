package sim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	pm "github.com/prometheus/common/model"
)

// RangeQuerier runs a PromQL range query; the Prometheus client's v1.API
// is one. The result is a matrix for the queries QueryHistory runs.
type RangeQuerier interface {
	QueryRange(ctx context.Context, query string, r v1.Range, opts ...v1.Option) (pm.Value, v1.Warnings, v1.Infos, error)
}

// HistoryQueries are the PromQL queries QueryHistory runs; a zero field
// means its default (DefaultHistoryQueries).
type HistoryQueries struct {
	// CPU and Memory sum the requests of the Pending and Running pods,
	// DaemonSet pods excepted, in cores and bytes: one series.
	CPU, Memory string
	// Types counts the workers by instance type: one series per type,
	// the type in the label TypeLabel.
	Types     string
	TypeLabel string
}

// requestsQuery sums kube-state-metrics' requests of resource over the
// pods in phase Pending or Running that no DaemonSet owns.
func requestsQuery(resource string) string {
	return `sum(kube_pod_container_resource_requests{resource="` + resource + `"}` +
		` * on(namespace, pod) group_left() max by (namespace, pod) (kube_pod_status_phase{phase=~"Pending|Running"} == 1)` +
		` unless on(namespace, pod) kube_pod_owner{owner_kind="DaemonSet"})`
}

// DefaultHistoryQueries reads kube-state-metrics (v2): the pods' requests
// (kube_pod_container_resource_requests, kube_pod_status_phase,
// kube_pod_owner) and the workers' instance types (kube_node_labels with
// the label node.kubernetes.io/instance-type, which kube-state-metrics
// exports only when started with
// --metric-labels-allowlist=nodes=[node.kubernetes.io/instance-type]),
// control-plane nodes (kube_node_role) excepted.
func DefaultHistoryQueries() HistoryQueries {
	const typeLabel = "label_node_kubernetes_io_instance_type"
	return HistoryQueries{
		CPU:       requestsQuery("cpu"),
		Memory:    requestsQuery("memory"),
		Types:     `count by (` + typeLabel + `) (kube_node_labels unless on(node) kube_node_role{role=~"control-plane|master"})`,
		TypeLabel: typeLabel,
	}
}

// MaxHistorySteps is the most steps QueryHistory reads (about two years
// of minutes): a longer window needs a longer step.
const MaxHistorySteps = 1 << 20

// maxPointsPerQuery is the most points QueryHistory asks of one range
// query; Prometheus refuses more than 11,000.
const maxPointsPerQuery = 10000

// ErrNoSeries is returned (wrapped, with the query) by QueryHistory when a
// query has no data in the window.
var ErrNoSeries = errors.New("no series")

// QueryHistory reads a cluster's History over [from, to] at step from
// Prometheus, in range queries of at most 10,000 points each, up to
// MaxHistorySteps steps. A query with no series, with several where one
// is due, or with a step missing at the start is an error naming the
// query and what is missing; a step missing later holds the sample
// before it (Gaps counts the steps any query missed).
func QueryHistory(ctx context.Context, q RangeQuerier, from, to time.Time, step time.Duration, queries HistoryQueries) (History, error) {
	queries, err := queries.withDefaults()
	if err != nil {
		return History{}, err
	}
	w, err := newWindow(q, from, to, step)
	if err != nil {
		return History{}, err
	}
	cpu, err := w.one(ctx, queries.CPU, "the pods' CPU requests: is kube-state-metrics scraped?")
	if err != nil {
		return History{}, err
	}
	mem, err := w.one(ctx, queries.Memory, "the pods' memory requests: is kube-state-metrics scraped?")
	if err != nil {
		return History{}, err
	}
	types, err := w.types(ctx, queries)
	if err != nil {
		return History{}, err
	}
	return w.history(queries, cpu, mem, types)
}

// withDefaults returns the queries with the default of each one unset. It
// refuses a TypeLabel other than the default query's without Types, and
// Types without a TypeLabel.
func (queries HistoryQueries) withDefaults() (HistoryQueries, error) {
	def := DefaultHistoryQueries()
	if queries.CPU == "" {
		queries.CPU = def.CPU
	}
	if queries.Memory == "" {
		queries.Memory = def.Memory
	}
	if queries.Types == "" && queries.TypeLabel != "" && queries.TypeLabel != def.TypeLabel {
		return HistoryQueries{}, fmt.Errorf("sim: HistoryQueries.TypeLabel is %q while Types is the default query, which counts by %s: set Types too", queries.TypeLabel, def.TypeLabel)
	}
	if queries.Types == "" {
		queries.Types, queries.TypeLabel = def.Types, def.TypeLabel
	}
	if queries.TypeLabel == "" {
		return HistoryQueries{}, errors.New("sim: HistoryQueries.TypeLabel is empty while Types is set")
	}
	return queries, nil
}

// window is the n steps from from to to (both included) that QueryHistory
// reads from q.
type window struct {
	q        RangeQuerier
	from, to time.Time
	step     time.Duration
	n        int
}

// newWindow returns the window from from to to, both truncated to step;
// it refuses one of fewer than 2 or more than MaxHistorySteps steps.
func newWindow(q RangeQuerier, from, to time.Time, step time.Duration) (window, error) {
	if step <= 0 || !to.After(from) {
		return window{}, fmt.Errorf("sim: QueryHistory needs from before to and a positive step, got %s to %s step %s", from, to, step)
	}
	from, to = from.Truncate(step), to.Truncate(step)
	if steps := to.Sub(from)/step + 1; steps < 2 {
		return window{}, fmt.Errorf("sim: QueryHistory: %s to %s holds one step of %s; a history needs at least 2", from.Format(time.DateTime), to.Format(time.DateTime), step)
	} else if steps > MaxHistorySteps {
		return window{}, fmt.Errorf("sim: QueryHistory: %s to %s is %d steps of %s; at most %d: use a longer step", from.Format(time.DateTime), to.Format(time.DateTime), steps, step, MaxHistorySteps)
	}
	return window{q: q, from: from, to: to, step: step, n: int(to.Sub(from)/step) + 1}, nil
}

// get runs query over the window in ranges of at most maxPointsPerQuery
// points (Prometheus refuses more than 11,000 in one), joining each
// series' values.
func (w window) get(ctx context.Context, query string) (pm.Matrix, error) {
	var m pm.Matrix
	byLabels := map[pm.Fingerprint]*pm.SampleStream{}
	for first := 0; first < w.n; first += maxPointsPerQuery {
		last := min(first+maxPointsPerQuery, w.n) - 1
		r := v1.Range{Start: w.from.Add(time.Duration(first) * w.step), End: w.from.Add(time.Duration(last) * w.step), Step: w.step}
		v, _, _, err := w.q.QueryRange(ctx, query, r)
		if err != nil {
			return nil, fmt.Errorf("prometheus query %s: %w", query, err)
		}
		part, ok := v.(pm.Matrix)
		if !ok {
			return nil, fmt.Errorf("prometheus query %s: a %s, want a matrix", query, v.Type())
		}
		for _, ss := range part {
			fp := ss.Metric.Fingerprint()
			if have, ok := byLabels[fp]; ok {
				have.Values = append(have.Values, ss.Values...)
				continue
			}
			ss := &pm.SampleStream{Metric: ss.Metric, Values: slices.Clone(ss.Values)}
			byLabels[fp] = ss
			m = append(m, ss)
		}
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("prometheus query %s: %w between %s and %s", query, ErrNoSeries, w.from.Format(time.DateTime), w.to.Format(time.DateTime))
	}
	return m, nil
}

// index returns the step t falls on, false when it is outside the window
// or between steps.
func (w window) index(t pm.Time) (int, bool) {
	d := t.Time().Sub(w.from)
	if d < 0 || d%w.step != 0 || int(d/w.step) >= w.n {
		return 0, false
	}
	return int(d / w.step), true
}

// one returns the values of query, which must give one series, at each
// step (NaN where it has none); what says what the query reads.
func (w window) one(ctx context.Context, query, what string) ([]float64, error) {
	m, err := w.get(ctx, query)
	if errors.Is(err, ErrNoSeries) {
		return nil, fmt.Errorf("%w (%s)", err, what)
	}
	if err != nil {
		return nil, err
	}
	if len(m) > 1 {
		return nil, fmt.Errorf("prometheus query %s: %d series, want one (%s)", query, len(m), what)
	}
	vals := make([]float64, w.n)
	for i := range vals {
		vals[i] = math.NaN()
	}
	for _, p := range m[0].Values {
		if i, ok := w.index(p.Timestamp); ok {
			vals[i] = float64(p.Value)
		}
	}
	return vals, nil
}

// types returns the workers by instance type at each step (nil where the
// query has none), from the Types query's series by their TypeLabel.
func (w window) types(ctx context.Context, queries HistoryQueries) ([]map[string]int, error) {
	tm, err := w.get(ctx, queries.Types)
	if err != nil && !errors.Is(err, ErrNoSeries) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("%w (the workers by instance type: is kube-state-metrics started with --metric-labels-allowlist=nodes=[node.kubernetes.io/instance-type]?)", err)
	}
	types := make([]map[string]int, w.n)
	for _, ss := range tm {
		typ := string(ss.Metric[pm.LabelName(queries.TypeLabel)])
		if typ == "" {
			return nil, fmt.Errorf("prometheus query %s: a series without the label %s (kube-state-metrics exports it only with --metric-labels-allowlist=nodes=[node.kubernetes.io/instance-type])", queries.Types, queries.TypeLabel)
		}
		for _, p := range ss.Values {
			if i, ok := w.index(p.Timestamp); ok && !math.IsNaN(float64(p.Value)) {
				if types[i] == nil {
					types[i] = map[string]int{}
				}
				types[i][typ] += int(math.Round(float64(p.Value)))
			}
		}
	}
	return types, nil
}

// history joins the steps' readings into a History, a gap filled with the
// step before (and counted); it refuses a window whose first step lacks a
// reading, and any sample that does not check.
func (w window) history(queries HistoryQueries, cpu, mem []float64, types []map[string]int) (History, error) {
	h := History{Name: "prometheus", Step: w.step, Samples: make([]HistorySample, w.n)}
	for i := range w.n {
		s := HistorySample{Time: w.from.Add(time.Duration(i) * w.step), CPU: cpu[i], Memory: mem[i], Types: types[i]}
		if math.IsNaN(s.CPU) || math.IsNaN(s.Memory) || s.Types == nil {
			if i == 0 {
				return History{}, missingAtStart(queries, s)
			}
			prev := h.Samples[i-1]
			if math.IsNaN(s.CPU) {
				s.CPU = prev.CPU
			}
			if math.IsNaN(s.Memory) {
				s.Memory = prev.Memory
			}
			if s.Types == nil {
				s.Types = prev.Types
			}
			h.Gaps++
		}
		if err := s.check(); err != nil {
			return History{}, fmt.Errorf("prometheus at %s: %w", s.Time.Format(time.DateTime), err)
		}
		h.Samples[i] = s
	}
	return h, nil
}

// missingAtStart is the error for a first sample s that lacks readings:
// it names the queries that gave none.
func missingAtStart(queries HistoryQueries, s HistorySample) error {
	var missing []string
	for _, m := range []struct {
		q  string
		ok bool
	}{{queries.CPU, !math.IsNaN(s.CPU)}, {queries.Memory, !math.IsNaN(s.Memory)}, {queries.Types, s.Types != nil}} {
		if !m.ok {
			missing = append(missing, m.q)
		}
	}
	return fmt.Errorf("no data at the window's start %s from prometheus query %s: start the window later", s.Time.Format(time.DateTime), strings.Join(missing, " and "))
}
