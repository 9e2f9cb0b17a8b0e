package sim_test

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/node-fleet/node-fleet/internal/promtest"
	"github.com/node-fleet/node-fleet/sim"
)

// recordedWeek is a week of kube-state-metrics series at step, as a
// cluster would have them, and the History they hold. Pods of 500m and
// 1 GiB run (more by day), one is Pending every seventh step, some have
// Succeeded; every worker runs a DaemonSet pod of 100m (not demand); the
// workers follow the pods, t3.medium up to six and t3a.medium above; the
// K3s server is a control-plane node (not a worker).
type recordedWeek struct {
	start time.Time
	step  time.Duration
	steps int
}

// pods and workers at step i: running pods, pending pods, workers.
func (w recordedWeek) at(i int) (running, pending, workers int) {
	t := w.start.Add(time.Duration(i) * w.step)
	hour := float64(t.Hour()) + float64(t.Minute())/60
	running = 4 + int(math.Round(20*math.Exp(-math.Pow((hour-14)/4, 2))))
	if i%7 == 0 {
		pending = 1
	}
	workers = 1 + int(math.Ceil(float64(running)*0.5*1.3/1.83))
	return running, pending, workers
}

func workerType(j int) string {
	if j < 6 {
		return "t3.medium"
	}
	return "t3a.medium"
}

func (w recordedWeek) history() sim.History {
	h := sim.History{Name: "prometheus", Step: w.step}
	for i := range w.steps {
		run, pend, workers := w.at(i)
		types := map[string]int{}
		for j := range workers {
			types[workerType(j)]++
		}
		n := float64(run + pend)
		h.Samples = append(h.Samples, sim.HistorySample{Time: w.start.Add(time.Duration(i) * w.step), CPU: 0.5 * n, Memory: n * (1 << 30), Types: types})
	}
	return h
}

// openMetrics writes the series in the OpenMetrics text format promtool
// backfills: every family's series together, samples in time order.
func (w recordedWeek) openMetrics(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	b := bufio.NewWriter(f)
	const maxPods, maxNodes = 30, 12
	ts := func(i int) string { return fmt.Sprint(w.start.Add(time.Duration(i) * w.step).Unix()) }
	// phase of pod p at step i: "" when it does not exist.
	phase := func(p, i int) string {
		run, pend, _ := w.at(i)
		switch {
		case p < run:
			return "Running"
		case p < run+pend:
			return "Pending"
		case p < run+pend+2:
			return "Succeeded"
		}
		return ""
	}
	nodeUp := func(j, i int) bool { _, _, workers := w.at(i); return j < workers }
	fmt.Fprintln(b, "# TYPE kube_pod_container_resource_requests gauge")
	for _, res := range []struct {
		name, unit string
		pod, ds    float64
	}{{"cpu", "core", 0.5, 0.1}, {"memory", "byte", 1 << 30, 128 << 20}} {
		for p := range maxPods {
			for i := range w.steps {
				if phase(p, i) != "" {
					fmt.Fprintf(b, "kube_pod_container_resource_requests{namespace=\"shop\",pod=\"web-%d\",container=\"web\",node=\"\",resource=%q,unit=%q} %g %s\n", p, res.name, res.unit, res.pod, ts(i))
				}
			}
		}
		for j := range maxNodes {
			for i := range w.steps {
				if nodeUp(j, i) {
					fmt.Fprintf(b, "kube_pod_container_resource_requests{namespace=\"kube-system\",pod=\"agent-%d\",container=\"agent\",node=\"w%d\",resource=%q,unit=%q} %g %s\n", j, j, res.name, res.unit, res.ds, ts(i))
				}
			}
		}
	}
	fmt.Fprintln(b, "# TYPE kube_pod_status_phase gauge")
	for p := range maxPods {
		for _, ph := range []string{"Pending", "Running", "Succeeded", "Failed", "Unknown"} {
			for i := range w.steps {
				if cur := phase(p, i); cur != "" {
					v := 0
					if cur == ph {
						v = 1
					}
					fmt.Fprintf(b, "kube_pod_status_phase{namespace=\"shop\",pod=\"web-%d\",phase=%q} %d %s\n", p, ph, v, ts(i))
				}
			}
		}
	}
	for j := range maxNodes {
		for i := range w.steps {
			if nodeUp(j, i) {
				fmt.Fprintf(b, "kube_pod_status_phase{namespace=\"kube-system\",pod=\"agent-%d\",phase=\"Running\"} 1 %s\n", j, ts(i))
			}
		}
	}
	fmt.Fprintln(b, "# TYPE kube_pod_owner gauge")
	for p := range maxPods {
		for i := range w.steps {
			if phase(p, i) != "" {
				fmt.Fprintf(b, "kube_pod_owner{namespace=\"shop\",pod=\"web-%d\",owner_kind=\"ReplicaSet\",owner_name=\"web-1\",owner_is_controller=\"true\"} 1 %s\n", p, ts(i))
			}
		}
	}
	for j := range maxNodes {
		for i := range w.steps {
			if nodeUp(j, i) {
				fmt.Fprintf(b, "kube_pod_owner{namespace=\"kube-system\",pod=\"agent-%d\",owner_kind=\"DaemonSet\",owner_name=\"agent\",owner_is_controller=\"true\"} 1 %s\n", j, ts(i))
			}
		}
	}
	fmt.Fprintln(b, "# TYPE kube_node_labels gauge")
	for i := range w.steps {
		fmt.Fprintf(b, "kube_node_labels{node=\"server\",label_node_kubernetes_io_instance_type=\"t3.medium\"} 1 %s\n", ts(i))
	}
	for j := range maxNodes {
		for i := range w.steps {
			if nodeUp(j, i) {
				fmt.Fprintf(b, "kube_node_labels{node=\"w%d\",label_node_kubernetes_io_instance_type=%q} 1 %s\n", j, workerType(j), ts(i))
			}
		}
	}
	fmt.Fprintln(b, "# TYPE kube_node_role gauge")
	for i := range w.steps {
		fmt.Fprintf(b, "kube_node_role{node=\"server\",role=\"control-plane\"} 1 %s\n", ts(i))
	}
	fmt.Fprintln(b, "# EOF")
	if err := b.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// A recorded week backfilled into the real Prometheus (promtool tsdb
// create-blocks-from openmetrics, the server started on those blocks) is
// read back by QueryHistory with the default queries equal to the
// recording, step by step. The lookback delta is shorter than the step
// because backfilled series carry no staleness markers: a pod or node
// that is gone would otherwise be seen for five minutes more.
func TestQueryHistoryReadsABackfilledWeekFromPrometheus(t *testing.T) {
	bin := promtest.PrometheusBin(t)
	promtool := filepath.Join(filepath.Dir(bin), "promtool")
	if _, err := os.Stat(promtool); err != nil {
		if promtool, err = exec.LookPath("promtool"); err != nil {
			t.Fatalf("promtool (Debian package prometheus) is not beside %s nor on PATH", bin)
		}
	}
	// A week ending at the last full hour, so that the retention keeps it.
	end := time.Now().UTC().Truncate(time.Hour)
	w := recordedWeek{start: end.Add(-7 * 24 * time.Hour), step: 15 * time.Minute, steps: 7 * 24 * 4}
	dir := t.TempDir()
	om, data := filepath.Join(dir, "week.om"), filepath.Join(dir, "data")
	if err := w.openMetrics(om); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, promtool, "tsdb", "create-blocks-from", "openmetrics", om, data).CombinedOutput(); err != nil {
		t.Fatalf("promtool: %v\n%s", err, out)
	}
	p := promtest.StartPrometheus(t, bin, promtest.PrometheusOptions{Data: data, Args: []string{"--query.lookback-delta=1m"}})
	client, err := api.NewClient(api.Config{Address: p.URL})
	if err != nil {
		t.Fatal(err)
	}
	got, err := sim.QueryHistory(ctx, v1.NewAPI(client), w.start, w.start.Add(time.Duration(w.steps-1)*w.step), w.step, sim.HistoryQueries{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(w.history(), got); diff != "" {
		t.Errorf("the week read from Prometheus is not the recording (-recorded +read):\n%s", diff)
	}
	t.Logf("%d steps of %s read back equal from %s", len(got.Samples), w.step, p.URL)

	// At a 30-second step the week is more points than Prometheus
	// answers in one range query (11,000): read in pieces, every step
	// holds the recorded sample at or before it.
	const fine = 30 * time.Second
	got, err = sim.QueryHistory(ctx, v1.NewAPI(client), w.start, w.start.Add(time.Duration(w.steps-1)*w.step), fine, sim.HistoryQueries{})
	if err != nil {
		t.Fatal(err)
	}
	rec := w.history()
	want := sim.History{Name: "prometheus", Step: fine, Gaps: got.Gaps}
	for i := range (w.steps-1)*int(w.step/fine) + 1 {
		s := rec.Samples[i/int(w.step/fine)]
		s.Time = w.start.Add(time.Duration(i) * fine)
		want.Samples = append(want.Samples, s)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the week read at %s is not the recording held step by step (-recorded +read):\n%s", fine, diff)
	}

	// The command reads the same week: its -export is the recording.
	export := filepath.Join(dir, "export.csv")
	last := w.start.Add(time.Duration(w.steps-1) * w.step)
	cmd := exec.CommandContext(ctx, "go", "run", "../examples/simulate", "-prometheus", p.URL, "-since", (last.Sub(w.start)).String(),
		"-until", last.Format(time.RFC3339), "-step", w.step.String(), "-export", export)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("simulate -prometheus: %v\n%s", err, out)
	}
	t.Logf("simulate -prometheus %s:\n%s", p.URL, out)
	exported, err := sim.LoadHistory(export)
	if err != nil {
		t.Fatal(err)
	}
	want = w.history()
	want.Name = export
	if diff := cmp.Diff(want, exported); diff != "" {
		t.Errorf("simulate -prometheus -export wrote another week (-recorded +exported):\n%s", diff)
	}
}
