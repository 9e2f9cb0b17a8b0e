package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/ec2fleet"
	"github.com/node-fleet/node-fleet/internal/kubetest"
	"github.com/node-fleet/node-fleet/internal/promtest"
	"github.com/node-fleet/node-fleet/internal/testenv"
	"github.com/node-fleet/node-fleet/run/lambda"
)

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// rie is the bootstrap binary running under the Runtime Interface Emulator.
type rie struct {
	url string
	out *testenv.SyncBuffer
}

// invoke posts payload and returns the function's answer.
func (r *rie) invoke(t *testing.T, payload []byte) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url+"/2015-03-31/functions/function/invocations", bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("invoke: %v\nemulator output:\n%s", err, r.out)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

var reportRE = regexp.MustCompile(`REPORT RequestId: \S+\t(?:Init Duration: ([0-9.]+) ms\t)?Duration: ([0-9.]+) ms`)

// reports returns the emulator's REPORT lines: init duration (ms, when
// the invocation started the runtime) and duration (ms).
func (r *rie) reports() [][2]string {
	var out [][2]string
	for _, m := range reportRE.FindAllStringSubmatch(r.out.String(), -1) {
		out = append(out, [2]string{m[1], m[2]})
	}
	return out
}

// backToBack is how many more warm ticks the test calls one after the
// other, with nothing in between, after the second: enough to use up a
// client-side rate limit's burst (client-go's default is 10 requests).
const backToBack = 10

// TestBootstrapUnderTheRuntimeInterfaceEmulator builds the function's
// bootstrap binary and runs it under the AWS Lambda Runtime Interface
// Emulator, against moto (EC2, DynamoDB, Secrets Manager, SNS, CloudWatch),
// a real Prometheus scraping node_exporter, and the test kube-apiserver.
// A scheduled event launches the first worker (MIN_NODES 1); a spot
// interruption warning for it marks it, cordons its node and launches
// its replacement; an unrelated event is refused. Between the second tick
// and the warning, backToBack more ticks are called back to back and hold.
// It logs the emulator's durations and the bootstrap's peak resident
// memory (docs/benchmarks.md, scripts/lambda-measure.sh); with
// NODEFLEET_RIE_GOARCH (see goarch) for another architecture.
func TestBootstrapUnderTheRuntimeInterfaceEmulator(t *testing.T) {
	f := startFunction(t, map[string]string{"MIN_NODES": "1", "MAX_NODES": "1",
		// The emulator only echoes this as REPORT's Memory Size and Max
		// Memory Used (it measures no memory): the peak is read from
		// /proc below.
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128"})
	r, out, kube, ctx, cluster, store := f.rie, f.out, f.kube, t.Context(), f.cluster, f.store
	describe := func() map[string]ec2types.Instance { return f.describe(t) }
	item := func() map[string]ddbtypes.AttributeValue { return f.item(t) }

	// 1. The schedule: below MIN_NODES, the tick launches a worker.
	var tick lambda.Response
	body := r.invoke(t, payload(t, "scheduled-event.json", ""))
	if err := json.Unmarshal(body, &tick); err != nil || tick.Event != "tick" || tick.Outcome != autoscaler.OutcomeScaledUp {
		t.Fatalf("tick answered %s (%v)", body, err)
	}
	first := describe()
	if len(first) != 1 {
		t.Fatalf("%d instances in EC2 after the tick, want 1", len(first))
	}
	var worker string
	for id := range first {
		worker = id
	}
	st, err := store.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.History) != 1 || st.History[0].Action != autoscaler.ScaleUp || st.NodeCount != 1 || st.LastScaleUp.IsZero() {
		t.Errorf("DynamoDB state after the tick: %+v", st)
	}
	if _, held := item()["lock_owner"]; held {
		t.Error("the lock is still held after the tick")
	}
	// A second tick, warm: the worker is booting and counts.
	body = r.invoke(t, payload(t, "scheduled-event.json", ""))
	if err := json.Unmarshal(body, &tick); err != nil || tick.Outcome != autoscaler.OutcomeHeld || len(describe()) != 1 {
		t.Fatalf("second tick answered %s (%v)", body, err)
	}
	// More warm ticks, back to back: the same hold each time.
	for i := range backToBack {
		body = r.invoke(t, payload(t, "scheduled-event.json", ""))
		if err := json.Unmarshal(body, &tick); err != nil || tick.Outcome != autoscaler.OutcomeHeld {
			t.Fatalf("back-to-back tick %d answered %s (%v)", i+1, body, err)
		}
	}
	if n := len(describe()); n != 1 {
		t.Fatalf("%d instances in EC2 after %d more ticks, want 1", n, backToBack)
	}

	// 2. The worker joined (its node carries the join script's labels);
	// then its spot interruption warning arrives.
	node := kube.AddNode(t, kubetest.NodeOptions{Labels: map[string]string{autoscaler.LabelInstanceID: worker, autoscaler.LabelCluster: cluster}})
	var spot lambda.Response
	body = r.invoke(t, payload(t, "spot-interruption.json", worker))
	if err := json.Unmarshal(body, &spot); err != nil || spot.Interruption == nil {
		t.Fatalf("spot warning answered %s (%v)", body, err)
	}
	if in := spot.Interruption; in.Node != node.Name || !in.Drained || len(in.Replacements) != 1 {
		t.Errorf("interruption handling %+v", in)
	}
	after := describe()
	if len(after) != 2 {
		t.Errorf("%d instances in EC2 after the warning, want the interrupted one and its replacement", len(after))
	}
	// Replaced at once, so not marked for the next tick to replace again.
	for _, tag := range after[worker].Tags {
		if aws.ToString(tag.Key) == ec2fleet.TagInterruptionNotice {
			t.Errorf("instance %s replaced and also marked %s", worker, ec2fleet.TagInterruptionNotice)
		}
	}
	var replacementOp string
	for id, in := range after {
		for _, tag := range in.Tags {
			if id != worker && aws.ToString(tag.Key) == ec2fleet.TagOperation {
				replacementOp = aws.ToString(tag.Value)
			}
		}
	}
	if !strings.HasPrefix(replacementOp, cluster+"-") || !strings.HasSuffix(replacementOp, "-up") {
		t.Errorf("replacement launched under operation %q, want the tick's launch operation %s-<token>-up", replacementOp, cluster)
	}
	n, err := kube.Client.CoreV1().Nodes().Get(ctx, node.Name, metav1.GetOptions{})
	if err != nil || !n.Spec.Unschedulable {
		t.Errorf("node %s not cordoned (%v)", node.Name, err)
	}
	if st, err := store.Load(ctx); err != nil || st.Operation != nil || !st.LastScaleUp.After(time.Time{}) {
		t.Errorf("DynamoDB state after the warning: %+v (%v)", st, err)
	}
	if _, held := item()["lock_owner"]; held {
		t.Error("the lock is still held after the warning")
	}

	// 3. Anything else is refused.
	body = r.invoke(t, []byte(`{"source":"aws.s3","detail-type":"Object Created","detail":{}}`))
	if !strings.Contains(string(body), "unsupported event") {
		t.Errorf("an S3 event answered %s", body)
	}

	// The emulator writes an invocation's REPORT after answering it.
	want := 4 + backToBack
	promtest.WaitFor(t, 10*time.Second, "a REPORT line for each invocation", func(context.Context) bool { return len(r.reports()) == want })
	reps := r.reports()
	if reps[0][0] == "" {
		t.Fatalf("emulator reports %v; output:\n%s", reps, out)
	}
	rapidInit := regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`).FindStringSubmatch(out.String())
	if rapidInit == nil {
		rapidInit = []string{"", "?"}
	}
	// The emulator's Init Duration covers only its own start of the
	// runtime; the function's own init (configuration, AWS config, the
	// kubeconfig secret, the parts) is in the first invocation's
	// duration, and the function logs it.
	initMS := regexp.MustCompile(`"message":"initialised","init_ms":([0-9.]+)`).FindStringSubmatch(out.String())
	if initMS == nil {
		t.Fatalf("the function did not log its init; output:\n%s", out)
	}
	var more []string
	for _, rep := range reps[2 : 2+backToBack] {
		more = append(more, rep[1])
	}
	under := ""
	if r := runner(t); len(r) > 0 {
		under = " under " + strings.Join(r, " ")
	}
	t.Logf("emulator (linux/%s%s): INIT REPORT %s ms (REPORT's Init Duration %s ms; the function's own init %s ms); first tick (cold) %s ms; warm tick %s ms; %d more warm ticks back to back %s ms; spot interruption %s ms; rejected event %s ms",
		goarch(), under, rapidInit[1], reps[0][0], initMS[1], reps[0][1], reps[1][1], backToBack, strings.Join(more, " "),
		reps[2+backToBack][1], reps[3+backToBack][1])

	// The function's peak resident memory, after every invocation: the
	// bootstrap's process (under qemu-user, qemu's, which holds the
	// translated code too).
	pid, err := processRunning(bootstrapOnce.path)
	if err != nil {
		t.Fatal(err)
	}
	peak, rss, err := memoryKiB(pid)
	if err != nil {
		t.Fatal(err)
	}
	if peak == 0 {
		t.Errorf("process %d reports no resident memory", pid)
	}
	t.Logf("bootstrap process %d: peak resident memory (VmHWM) %.1f MiB, resident now (VmRSS) %.1f MiB", pid, float64(peak)/1024, float64(rss)/1024)
}

// goarch is the architecture the bootstrap is built for:
// NODEFLEET_RIE_GOARCH, else GOARCH, else the toolchain's. Another than
// the machine's runs through qemu-user (see runner): its durations are
// then qemu's, not that architecture's hardware's.
func goarch() string {
	if v := os.Getenv("NODEFLEET_RIE_GOARCH"); v != "" {
		return v
	}
	if v := os.Getenv("GOARCH"); v != "" {
		return v
	}
	out, err := exec.Command("go", "env", "GOARCH").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}

// runner is what the emulator runs the bootstrap with: nothing when it is
// built for this machine, else qemu-user (NODEFLEET_QEMU_BIN, or
// qemu-<arch>-static or qemu-<arch> on PATH: Debian's qemu-user-static),
// which needs no binfmt_misc registration. Without one it skips t.
func runner(t *testing.T) []string {
	t.Helper()
	arch := goarch()
	if arch == runtime.GOARCH {
		return nil
	}
	if v := os.Getenv("NODEFLEET_QEMU_BIN"); v != "" {
		return []string{v}
	}
	name := map[string]string{"arm64": "aarch64", "amd64": "x86_64"}[arch]
	for _, bin := range []string{"qemu-" + name + "-static", "qemu-" + name} {
		if p, err := exec.LookPath(bin); name != "" && err == nil {
			return []string{p}
		}
	}
	t.Skipf("a linux/%s bootstrap does not run on %s without qemu-user (Debian: apt-get install qemu-user-static; or set NODEFLEET_QEMU_BIN)", arch, runtime.GOARCH)
	return nil
}

// processRunning returns the one process running the executable path,
// other than the emulator (whose arguments name it too).
func processRunning(path string) (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	var found []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if slices.Contains(args, path) && !slices.Contains(args, "--runtime-api-address") {
			found = append(found, pid)
		}
	}
	if len(found) != 1 {
		return 0, fmt.Errorf("processes running %s: %v, want one", path, found)
	}
	return found[0], nil
}

// memoryKiB reads a process's peak and current resident set size (KiB).
func memoryKiB(pid int) (peak, rss int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmHWM:":
			peak, err = strconv.ParseInt(f[1], 10, 64)
		case "VmRSS:":
			rss, err = strconv.ParseInt(f[1], 10, 64)
		}
		if err != nil {
			return 0, 0, err
		}
	}
	return peak, rss, nil
}

// payload reads one of run/lambda's testdata events, with INSTANCE_ID
// replaced.
func payload(t *testing.T, name, instanceID string) json.RawMessage {
	t.Helper()
	b, err := os.ReadFile("../../run/lambda/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	// The event is sent now, as EventBridge sends it: a spot warning is
	// dated by its event time, and one days old is long expired.
	text := strings.ReplaceAll(string(b), "INSTANCE_ID", instanceID)
	text = strings.ReplaceAll(text, `"time": "2026-11-27T18:01:00Z"`, `"time": "`+time.Now().UTC().Format(time.RFC3339)+`"`)
	return json.RawMessage(text)
}
