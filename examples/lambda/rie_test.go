package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
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

// TestBootstrapUnderTheRuntimeInterfaceEmulator builds the function's
// bootstrap binary and runs it under the AWS Lambda Runtime Interface
// Emulator, against moto (EC2, DynamoDB, Secrets Manager, SNS, CloudWatch),
// a real Prometheus scraping node_exporter, and the test kube-apiserver.
// A scheduled event launches the first worker (MIN_NODES 1); a spot
// interruption warning for it marks it, cordons its node and launches
// its replacement; an unrelated event is refused.
func TestBootstrapUnderTheRuntimeInterfaceEmulator(t *testing.T) {
	f := startFunction(t, map[string]string{"MIN_NODES": "1", "MAX_NODES": "1"})
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
	promtest.WaitFor(t, 10*time.Second, "four REPORT lines", func(context.Context) bool { return len(r.reports()) == 4 })
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
	t.Logf("emulator: INIT REPORT %s ms (REPORT's Init Duration %s ms; the function's own init %s ms); first tick (cold) %s ms; warm tick %s ms; spot interruption %s ms; rejected event %s ms",
		rapidInit[1], reps[0][0], initMS[1], reps[0][1], reps[1][1], reps[2][1], reps[3][1])
}

func goarch() string {
	if v := os.Getenv("GOARCH"); v != "" {
		return v
	}
	out, err := exec.Command("go", "env", "GOARCH").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}

// payload reads one of run/lambda's testdata events, with INSTANCE_ID
// replaced.
func payload(t *testing.T, name, instanceID string) json.RawMessage {
	t.Helper()
	b, err := os.ReadFile("../../run/lambda/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return json.RawMessage(strings.ReplaceAll(string(b), "INSTANCE_ID", instanceID))
}
