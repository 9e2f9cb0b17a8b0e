package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"

	"github.com/node-fleet/node-fleet/internal/testenv"
)

var (
	buildMu sync.Mutex
	built   = map[string]string{}
)

// buildProgram builds a program of the module once per test process
// (tags may be empty) and returns its path.
func buildProgram(t testing.TB, pkg string, tags string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	key := pkg + " " + tags
	if p, ok := built[key]; ok {
		return p
	}
	dir, err := os.MkdirTemp("", "nodefleet-e2e-bin-")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, filepath.Base(pkg))
	// Without -trimpath, which would recompile every dependency instead
	// of reusing the test build's cache (as examples/lambda's test does).
	args := []string{"build", "-ldflags=-s -w", "-o", out}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	cmd := exec.Command("go", append(args, "./"+pkg)...)
	cmd.Dir = RepoRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	built[key] = out
	return out
}

// env turns a map into KEY=VALUE pairs, leaving out empty values.
func envList(m map[string]string) []string {
	var out []string
	for k, v := range m {
		if v != "" {
			out = append(out, k+"="+v)
		}
	}
	return out
}

// StartDaemon runs examples/daemon with settings (its environment) beside
// the cluster, as process name.
func StartDaemon(t testing.TB, c *Cluster, name string, settings map[string]string) {
	t.Helper()
	bin := buildProgram(t, "examples/daemon", "")
	c.Start(t, name, bin, nil, envList(settings)...)
}

// Lambda is the example Lambda function's bootstrap under the AWS Lambda
// Runtime Interface Emulator, invoked with EventBridge's scheduled event
// every Interval by the harness, as the deploy's schedule rule does.
type Lambda struct {
	url  string
	cl   *Cluster
	name string

	mu          sync.Mutex
	invocations []time.Time
	answers     []string
}

// StartLambda starts the emulator with the bootstrap and settings (the
// function's environment, as the deploy sets it).
func StartLambda(t testing.TB, c *Cluster, name string, settings map[string]string) *Lambda {
	t.Helper()
	rie := testenv.Lookup(t, "NODEFLEET_RIE_BIN", "the AWS Lambda Runtime Interface Emulator")
	bootstrap := buildProgram(t, "examples/lambda", "lambda.norpc")
	api, listen := freePort(t), freePort(t)
	c.Start(t, name, rie, []string{"--runtime-interface-emulator-address", fmt.Sprintf("127.0.0.1:%d", listen),
		"--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", api), bootstrap}, envList(settings)...)
	l := &Lambda{url: fmt.Sprintf("http://127.0.0.1:%d", listen), cl: c, name: name}
	c.wait(t, name, 30*time.Second, func() bool {
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", listen))
		if err == nil {
			conn.Close()
		}
		return err == nil
	})
	return l
}

// scheduledEvent is EventBridge's scheduled event, as the deploy's
// schedule rule sends it (the format of AWS's "Scheduled Event").
func scheduledEvent(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(RepoRoot(), "internal", "e2e", "testdata", "scheduled-event.json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Schedule invokes the function with payload every interval (the first
// at once) until ctx ends; an invocation that takes longer delays the
// next, as Lambda does not overlap a function with reserved concurrency 1.
func (l *Lambda) Schedule(ctx context.Context, interval time.Duration, payload []byte) {
	next := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(next)):
		}
		next = next.Add(interval)
		l.mu.Lock()
		l.invocations = append(l.invocations, time.Now())
		l.mu.Unlock()
		answer := l.invoke(ctx, payload)
		l.mu.Lock()
		l.answers = append(l.answers, answer)
		l.mu.Unlock()
	}
}

func (l *Lambda) invoke(ctx context.Context, payload []byte) string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.url+"/2015-03-31/functions/function/invocations", bytes.NewReader(payload))
	if err != nil {
		return err.Error()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// Answers returns the function's answers so far.
func (l *Lambda) Answers() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.answers...)
}

// applyYAML creates every object of a multi-document YAML file through
// the dynamic client (CRDs, Karpenter's NodePool and NodeClass).
func applyYAML(ctx context.Context, dyn dynamic.Interface, doc []byte) error {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(doc), 4096)
	for {
		var obj unstructured.Unstructured
		if err := dec.Decode(&obj.Object); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		if len(obj.Object) == 0 {
			continue
		}
		gvk := obj.GroupVersionKind()
		plural := strings.ToLower(gvk.Kind) + "s"
		if strings.HasSuffix(gvk.Kind, "s") {
			plural = strings.ToLower(gvk.Kind) + "es"
		}
		gvr := schema.GroupVersionResource{Group: gvk.Group, Version: gvk.Version, Resource: plural}
		var err error
		if obj.GetNamespace() != "" {
			_, err = dyn.Resource(gvr).Namespace(obj.GetNamespace()).Create(ctx, &obj, metav1.CreateOptions{})
		} else {
			_, err = dyn.Resource(gvr).Create(ctx, &obj, metav1.CreateOptions{})
		}
		if err != nil {
			return fmt.Errorf("create %s %s: %w", gvk.Kind, obj.GetName(), err)
		}
	}
}

var crds = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// ApplyKarpenterCRDs applies the CRDs of Karpenter's kwok provider from
// the module (kwok/charts/crds and kwok/apis/crds) and waits until they
// are served.
func ApplyKarpenterCRDs(t testing.TB, c *Cluster, dyn dynamic.Interface) {
	t.Helper()
	dir := testenv.Lookup(t, EnvKarpenterDir, "Karpenter's kwok module directory (scripts/svc/e2e.sh)")
	files, _ := filepath.Glob(filepath.Join(dir, "charts", "crds", "*.yaml"))
	more, _ := filepath.Glob(filepath.Join(dir, "apis", "crds", "*.yaml"))
	files = append(files, more...)
	if len(files) < 2 {
		t.Fatalf("no Karpenter CRDs in %s", dir)
	}
	ctx := context.Background()
	var names []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := applyYAML(ctx, dyn, b); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".yaml"))
	}
	c.wait(t, "kube-apiserver", 60*time.Second, func() bool {
		for _, f := range names {
			// File names are GROUP_PLURAL.yaml.
			group, plural, _ := strings.Cut(f, "_")
			obj, err := dyn.Resource(crds).Get(ctx, plural+"."+group, metav1.GetOptions{})
			if err != nil {
				return false
			}
			conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
			est := false
			for _, c := range conds {
				m, _ := c.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					est = true
				}
			}
			if !est {
				return false
			}
		}
		return true
	})
}
