package main

import (
	"bytes"
	"context"
	"encoding/pem"
	"flag"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/node-fleet/node-fleet/sim"
)

var update = flag.Bool("update", false, "rewrite testdata/week.csv from its generator")

// syntheticWeek is the week docs/simulate-history.md replays: not a
// measurement but a made-up shop's cluster, written so that the worked
// example needs no cluster. Requests follow a weekday curve (a night
// floor of 3 cores, a day peak near 14, weekends at 60%), 1.6 GiB per
// requested core; the workers are what a fleet kept at 30% headroom over
// the requests would have run, t3.medium first and t3a.medium above 6.
func syntheticWeek() sim.History {
	start := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC) // a Monday
	h := sim.History{Name: "week.csv", Step: 5 * time.Minute}
	for i := range 7 * 24 * 12 {
		t := start.Add(time.Duration(i) * h.Step)
		hour := float64(t.Hour()) + float64(t.Minute())/60
		day := math.Exp(-math.Pow((hour-14)/4, 2))
		scale := 1.0
		if wd := t.Weekday(); wd == time.Saturday || wd == time.Sunday {
			scale = 0.6
		}
		cpu := math.Round((3+11*day*scale+0.4*math.Sin(float64(i)/5))*100) / 100
		workers := max(2, int(math.Ceil(cpu*1.3/1.83)))
		types := map[string]int{"t3.medium": min(workers, 6)}
		if workers > 6 {
			types["t3a.medium"] = workers - 6
		}
		h.Samples = append(h.Samples, sim.HistorySample{Time: t, CPU: cpu, Memory: math.Round(cpu * 1.6 * (1 << 30)), Types: types})
	}
	return h
}

func TestWeekExportIsItsGenerator(t *testing.T) {
	var b bytes.Buffer
	if err := syntheticWeek().WriteCSV(&b); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "week.csv")
	if *update {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, b.Bytes()) {
		t.Errorf("%s differs from syntheticWeek (go test -run WeekExport -update rewrites it)", path)
	}
}

// The week replayed: the actual cost and one row per shipped policy and
// mode, each with its cost beside the actual and its unserved demand.
func TestHistoryReplayPrintsActualBesideEachPolicy(t *testing.T) {
	var out bytes.Buffer
	dir := t.TempDir()
	chartPath, export, day := filepath.Join(dir, "day.png"), filepath.Join(dir, "again.csv"), filepath.Join(dir, "day.csv")
	writeDay(t, day, "")
	args := []string{"-history", day, "-chart", chartPath, "-export", export}
	if err := run(context.Background(), args, &out, &bytes.Buffer{}, false); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"your cluster: " + day + ", 2026-11-23 00:00 to 2026-11-24 00:00 (UTC), step 5m0s",
		"instance types t3.medium", "| actual (what ran) | - |", "unserved unit-min", "chart: " + chartPath} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	for _, r := range benchRows {
		if !strings.Contains(s, fmt.Sprintf("| %s | %s | ", r.policy, r.mode)) {
			t.Errorf("no row for %s %s:\n%s", r.policy, r.mode, s)
		}
	}
	orig, _ := os.ReadFile(day)
	again, err := os.ReadFile(export)
	if err != nil || !bytes.Equal(orig, again) {
		t.Errorf("-export did not write the history read (%v)", err)
	}
	t.Log(s)
}

// writeDay writes the first day of the week to path, with extra appended
// to the last row's instance types.
func writeDay(t *testing.T, path, extra string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "week.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")[:1+24*12]
	lines[len(lines)-1] = strings.TrimSuffix(lines[len(lines)-1], "\n") + extra + "\n"
	if err := os.WriteFile(path, []byte(strings.Join(lines, "")), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestHistoryFlagsAreChecked(t *testing.T) {
	week := filepath.Join("testdata", "week.csv")
	odd := filepath.Join(t.TempDir(), "odd.csv")
	writeDay(t, odd, " m9.huge=1")
	tenSeconds := filepath.Join(t.TempDir(), "10s.csv")
	if err := os.WriteFile(tenSeconds, []byte("timestamp,cpu_cores,memory_bytes,instance_types\n2026-01-01T00:00:00Z,1,1e9,t3.medium=1\n2026-01-01T00:00:10Z,1,1e9,t3.medium=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-since", "3d"}, "-since works only with -prometheus"},
		{[]string{"-export", "x.csv"}, "-export works only with -history or -prometheus"},
		{[]string{"-history", week, "-prometheus", "http://127.0.0.1:9"}, "choose one"},
		{[]string{"-history", week, "-compare"}, "-compare does not apply to -history"},
		{[]string{"-history", week, "-policy", "reactive"}, "-policy does not apply to -history"},
		{[]string{"-market", "reserved"}, `-market must be spot or on-demand, got "reserved"`},
		{[]string{"-prometheus", "http://127.0.0.1:9", "-since", "last week"}, `-since must be a positive duration such as 7d or 36h, got "last week"`},
		{[]string{"-history", week, "-prices", "t3.medium"}, `-prices: "t3.medium" is not type=USD-per-hour`},
		{[]string{"-history", odd, "-prices", "t3.medium=0.05"}, "no price for instance type(s) m9.huge: give it with -prices"},
		{[]string{"-history", filepath.Join(t.TempDir(), "none.csv")}, "none.csv: no such file"},
		{[]string{"-prometheus", "http://127.0.0.1:9", "-step", "10s"}, "-step must be a multiple of 15s (the model's time step), got 10s"},
		{[]string{"-history", tenSeconds}, tenSeconds + ": step 10s: the replay needs a multiple of 15s (the model's time step)"},
		{[]string{"-history", ""}, "-history needs a file"},
		{[]string{"-prometheus", ""}, "-prometheus needs a URL"},
		{[]string{"-prometheus-ca-file", "ca.pem"}, "-prometheus-ca-file works only with -prometheus"},
		{[]string{"-prometheus", "http://127.0.0.1:9", "-prometheus-password-file", "pw"}, "-prometheus-username, -prometheus-password-file, -prometheus-ca-file): metrics.Prometheus config: BasicAuth.Username is required"},
		// Nothing listens on port 9: the error names the query that failed.
		{[]string{"-prometheus", "http://127.0.0.1:9", "-since", "1h"}, "prometheus query sum(kube_pod_container_resource_requests{resource=\"cpu\"}"},
	} {
		err := run(context.Background(), tt.args, &bytes.Buffer{}, &bytes.Buffer{}, false)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want it to contain %q", tt.args, err, tt.want)
		}
	}
}

// The worked example of docs/simulate-history.md is what its command
// prints: every line of the command's output up to the unit's
// explanation is in the document, verbatim.
func TestHistoryDocShowsWhatTheCommandPrints(t *testing.T) {
	if testing.Short() {
		t.Skip("replays a week through six policies")
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "simulate-history.md"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	// The document's command, run from the repository's root.
	t.Chdir(filepath.Join("..", ".."))
	if err := run(context.Background(), []string{"-history", "examples/simulate/testdata/week.csv"}, &out, &bytes.Buffer{}, false); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if strings.HasPrefix(line, "a unit is") {
			break
		}
		if line != "" && !strings.Contains(string(doc), line+"\n") {
			t.Errorf("docs/simulate-history.md lacks the command's line\n%s", line)
		}
	}
}

// -prometheus authenticates and verifies TLS as the programs' PROMETHEUS_*
// settings say: the bearer token reaches the server, over https verified
// with -prometheus-ca-file; without the CA the connection is refused.
func TestPrometheusHistoryUsesTheProgramsAuthAndTLS(t *testing.T) {
	var mu sync.Mutex
	var auths []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status":"success","data":{"resultType":"matrix","result":[]}}`)
	}))
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), []string{"-prometheus", srv.URL, "-since", "1h", "-prometheus-ca-file", ca, "-prometheus-bearer-token-file", token}, &bytes.Buffer{}, &bytes.Buffer{}, false)
	// The server answers no series: the history is refused, after the queries reached it.
	if err == nil || !strings.Contains(err.Error(), "prometheus query") {
		t.Errorf("run against a server with no series: %v, want an error naming the query", err)
	}
	mu.Lock()
	got := slices.Clone(auths)
	mu.Unlock()
	if len(got) == 0 || got[0] != "Bearer s3cret" {
		t.Errorf("Authorization headers %q, want Bearer s3cret", got)
	}
	err = run(context.Background(), []string{"-prometheus", srv.URL, "-since", "1h"}, &bytes.Buffer{}, &bytes.Buffer{}, false)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("run without the CA: %v, want a certificate error", err)
	}
}
