// Package promtest starts the real Prometheus server and node_exporter for
// tests, each on a free loopback port, and serves a test exporter whose
// values the test sets. The binaries come from the Debian packages
// prometheus and prometheus-node-exporter; scripts/svc/prometheus.sh
// installs them and exports their paths in NODEFLEET_PROMETHEUS_BIN and
// NODEFLEET_NODE_EXPORTER_BIN, which tests read through internal/testenv.
//
// A test owns the processes it starts: they are stopped by t.Cleanup, and
// Prometheus can be stopped earlier (Stop) to see what a client does when
// the server goes away.
package promtest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/node-fleet/node-fleet/internal/testenv"
)

// Env variables the test command sets (scripts/svc/prometheus.sh).
const (
	EnvPrometheusBin   = "NODEFLEET_PROMETHEUS_BIN"
	EnvNodeExporterBin = "NODEFLEET_NODE_EXPORTER_BIN"
)

// PrometheusBin returns the Prometheus binary's path, or skips the test
// (fails it when integration is required).
func PrometheusBin(t testing.TB) string {
	t.Helper()
	return testenv.Lookup(t, EnvPrometheusBin, "Prometheus (Debian package prometheus)")
}

// NodeExporterBin returns node_exporter's path, or skips the test (fails
// it when integration is required).
func NodeExporterBin(t testing.TB) string {
	t.Helper()
	return testenv.Lookup(t, EnvNodeExporterBin, "node_exporter (Debian package prometheus-node-exporter)")
}

// Process is a server process started for a test.
type Process struct {
	// Addr is host:port on 127.0.0.1.
	Addr string
	// URL is "http://" + Addr.
	URL string

	name string
	cmd  *exec.Cmd
	out  *testenv.SyncBuffer
	done chan struct{}
	once sync.Once
}

// Stop ends the process (SIGTERM, then SIGKILL after 5 s) and waits for
// it. Stopping a process that already stopped does nothing.
func (p *Process) Stop() {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
}

// Output returns what the process wrote to stdout and stderr so far.
func (p *Process) Output() string { return p.out.String() }

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start runs bin with the arguments args(addr) on a free port and waits
// until readyPath answers 200. A port taken between FreePort and the
// process binding it is retried on another port.
func start(t testing.TB, name, bin, readyPath string, args func(addr string) []string) *Process {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		addr := "127.0.0.1:" + strconv.Itoa(FreePort(t))
		p := &Process{Addr: addr, URL: "http://" + addr, name: name, out: &testenv.SyncBuffer{}, done: make(chan struct{})}
		p.cmd = exec.Command(bin, args(addr)...)
		p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
		if err := p.cmd.Start(); err != nil {
			t.Fatalf("start %s (%s): %v", name, bin, err)
		}
		go func() { _ = p.cmd.Wait(); close(p.done) }()
		t.Cleanup(p.Stop)
		if lastErr = waitReady(p, p.URL+readyPath, 60*time.Second); lastErr == nil {
			t.Logf("%s listening on %s", name, addr)
			return p
		}
		p.Stop()
	}
	t.Fatalf("%s did not become ready: %v", name, lastErr)
	return nil
}

func waitReady(p *Process, url string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	client := &http.Client{Timeout: 2 * time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited early: %s", p.name, tail(p.Output(), 2000))
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s: %s did not answer 200 within %s; output: %s", p.name, url, limit, tail(p.Output(), 2000))
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// StartNodeExporter starts node_exporter with only its cpu and meminfo
// collectors (what the default queries read).
func StartNodeExporter(t testing.TB, bin string) *Process {
	t.Helper()
	return start(t, "node_exporter", bin, "/metrics", func(addr string) []string {
		return []string{"--web.listen-address=" + addr, "--collector.disable-defaults",
			"--collector.cpu", "--collector.meminfo"}
	})
}

// Target is one scrape job of a generated Prometheus config.
type Target struct {
	// Job is the job label; Addr the target's host:port.
	Job, Addr string
	// Labels are extra target labels (e.g. node="worker-1").
	Labels map[string]string
	// HonorLabels keeps the scraped series' own job and instance labels
	// (honor_labels: true): an exporter that speaks for several nodes,
	// each its own instance.
	HonorLabels bool
}

// PrometheusOptions configure StartPrometheus.
type PrometheusOptions struct {
	// ScrapeInterval defaults to 1s.
	ScrapeInterval time.Duration
	// Targets are the jobs to scrape.
	Targets []Target
	// Data, when set, is the storage directory (blocks backfilled with
	// promtool, say) instead of a fresh one.
	Data string
	// Args are further command-line flags.
	Args []string
}

// StartPrometheus starts Prometheus on a free loopback port with a
// generated config and a fresh storage directory under t.TempDir, and waits
// until it is ready.
func StartPrometheus(t testing.TB, bin string, opts PrometheusOptions) *Process {
	t.Helper()
	if opts.ScrapeInterval == 0 {
		opts.ScrapeInterval = time.Second
	}
	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  evaluation_interval: %s\nscrape_configs:\n",
		opts.ScrapeInterval, opts.ScrapeInterval)
	for _, tg := range opts.Targets {
		fmt.Fprintf(&b, "  - job_name: %q\n", tg.Job)
		if tg.HonorLabels {
			b.WriteString("    honor_labels: true\n")
		}
		fmt.Fprintf(&b, "    static_configs:\n      - targets: [%q]\n", tg.Addr)
		if len(tg.Labels) > 0 {
			b.WriteString("        labels:\n")
			for k, v := range tg.Labels {
				fmt.Fprintf(&b, "          %s: %q\n", k, v)
			}
		}
	}
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	data := opts.Data
	if data == "" {
		data = filepath.Join(dir, "data")
	}
	return start(t, "prometheus", bin, "/-/ready", func(addr string) []string {
		return append([]string{"--config.file=" + cfg, "--storage.tsdb.path=" + data,
			"--web.listen-address=" + addr, "--log.level=warn"}, opts.Args...)
	})
}

// WaitFor polls cond every 200 ms until it returns true or limit passes,
// and fails the test with what when it does not.
func WaitFor(t testing.TB, limit time.Duration, what string, cond func(ctx context.Context) bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ok := cond(ctx)
		cancel()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
