package interruption_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
	"github.com/node-fleet/node-fleet/internal/awsutil"
	"github.com/node-fleet/node-fleet/internal/testenv"
	"github.com/node-fleet/node-fleet/interruption"
)

// handler records the warnings it is given; fail makes it fail for an
// instance (the lock held until the deadline, say).
type handler struct {
	mu    sync.Mutex
	calls []string
	fail  map[string]bool
}

func (h *handler) HandleInterruption(_ context.Context, id string, notice time.Time) (autoscaler.Result, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, id+"@"+notice.UTC().Format(time.RFC3339))
	if h.fail[id] {
		return autoscaler.Result{}, fmt.Errorf("lock still held near the deadline: %w", autoscaler.ErrLockHeld)
	}
	return autoscaler.Result{}, nil
}

// fleet owns the instances named i-fleet*.
type fleet struct{}

func (fleet) Owns(_ context.Context, id string) (bool, error) {
	return strings.HasPrefix(id, "i-fleet"), nil
}

func ec2Event(detailType, id, extra string) string {
	return fmt.Sprintf(`{"version":"0","id":"ev-%s","detail-type":%q,"source":"aws.ec2","account":"123456789012","time":"2026-12-07T04:00:00Z","region":"us-east-1","resources":[],"detail":{"instance-id":%q%s}}`,
		id, detailType, id, extra)
}

func TestMotoQueueHandlesWarningsAndDeletesOnlyHandledMessages(t *testing.T) {
	endpoint := testenv.Lookup(t, "NODEFLEET_MOTO_ENDPOINT", "moto")
	ctx := context.Background()
	cfg, err := awsutil.ForEmulator(ctx, endpoint, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	c := sqs.NewFromConfig(cfg)
	q, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{
		QueueName: aws.String("interruptions-" + strconv.FormatInt(time.Now().UnixNano(), 36)),
		// Long enough that a message received is deleted before it is
		// visible again, on a busy machine too (moto answers the 400
		// calls of the polls in seconds there).
		Attributes: map[string]string{"VisibilityTimeout": "5"},
	})
	if err != nil {
		t.Fatal(err)
	}
	bodies := []string{
		ec2Event(interruption.DetailTypeSpotWarning, "i-fleet-1", `,"instance-action":"terminate"`),
		ec2Event(interruption.DetailTypeSpotWarning, "i-fleet-busy", `,"instance-action":"terminate"`),
		ec2Event(interruption.DetailTypeRebalance, "i-fleet-2", ""),
		ec2Event(interruption.DetailTypeStateChange, "i-fleet-3", `,"state":"terminated"`),
		ec2Event(interruption.DetailTypeStateChange, "i-fleet-4", `,"state":"running"`),
		"not json at all",
		`{"source":"aws.ec2","detail-type":"EC2 Spot Instance Interruption Warning","detail":{}}`,
	}
	for i := range 200 {
		bodies = append(bodies, ec2Event(interruption.DetailTypeSpotWarning, fmt.Sprintf("i-other-%03d", i), `,"instance-action":"terminate"`))
	}
	for _, b := range bodies {
		if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}

	h := &handler{fail: map[string]bool{"i-fleet-busy": true}}
	var logs bytes.Buffer
	var changes []string
	queue, err := interruption.New(interruption.Config{
		Client: c, QueueURL: aws.ToString(q.QueueUrl), Handler: h, Fleet: fleet{}, WaitTime: time.Second,
		StateChange: func(id, state string) { changes = append(changes, id+" "+state) },
		Logger:      slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	deleted := 0
	for range 40 {
		n, err := queue.Poll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		deleted += n
		if deleted >= len(bodies)-1 {
			break
		}
	}
	if deleted != len(bodies)-1 {
		t.Errorf("%d messages deleted, want %d (all but the one whose handling failed)", deleted, len(bodies)-1)
	}

	// The failed one is still in the queue and comes back.
	time.Sleep(5100 * time.Millisecond)
	out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 || !strings.Contains(aws.ToString(out.Messages[0].Body), "i-fleet-busy") {
		t.Errorf("left in the queue: %d messages, want the failed warning alone", len(out.Messages))
	}

	h.mu.Lock()
	calls := h.calls
	h.mu.Unlock()
	// The fleet's warnings reach the handler (the failed one once per
	// delivery); no foreign warning does.
	got := map[string]bool{}
	for _, c := range calls {
		got[c] = true
	}
	want := map[string]bool{"i-fleet-1@2026-12-07T04:00:00Z": true, "i-fleet-busy@2026-12-07T04:00:00Z": true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("warnings handled (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"i-fleet-3 terminated"}, changes); diff != "" {
		t.Errorf("state changes (-want +got):\n%s", diff)
	}
	if n := strings.Count(logs.String(), "malformed interruption message deleted"); n != 2 {
		t.Errorf("%d log lines for malformed messages, want 2:\n%s", n, logs.String())
	}
	t.Logf("%d messages, %d deleted, %d handler calls", len(bodies), deleted, len(calls))
}

func TestNewRefusesAnIncompleteConfig(t *testing.T) {
	_, err := interruption.New(interruption.Config{WaitTime: time.Minute})
	for _, want := range []string{"Client is required", "QueueURL is required", "Handler is required", "WaitTime must be from 0 to 20s"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want it to say %q", err, want)
		}
	}
}

// A queue that cannot be read (here deleted, on moto's SQS) is alerted
// through the Notifier once, not at every poll, and again once the
// re-alert interval has passed while it stays unreadable; the daemon's
// metrics show it down and count the failed receives.
func TestMotoDeletedQueueIsAlertedOncePerRealertInterval(t *testing.T) {
	endpoint := testenv.Lookup(t, "NODEFLEET_MOTO_ENDPOINT", "moto")
	ctx := t.Context()
	cfg, err := awsutil.ForEmulator(ctx, endpoint, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	c := sqs.NewFromConfig(cfg)
	q, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("interruptions-gone-" + strconv.FormatInt(time.Now().UnixNano(), 36))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: q.QueueUrl}); err != nil {
		t.Fatal(err)
	}
	clk := clocktesting.NewFakeClock(time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC))
	alerts := &fake.Notifier{}
	reg := prometheus.NewRegistry()
	queue, err := interruption.New(interruption.Config{
		Client: c, QueueURL: aws.ToString(q.QueueUrl), Handler: &handler{}, WaitTime: time.Second,
		Notifier: alerts, ClusterID: "shop", RealertInterval: time.Hour, Clock: clk, Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	poll := func(n int) {
		for range n {
			if _, err := queue.Poll(ctx); err == nil {
				t.Fatal("Poll of a deleted queue: no error")
			}
			clk.Step(time.Minute)
		}
	}
	poll(5)
	if n := len(alerts.Events()); n != 1 {
		t.Fatalf("%d alerts after 5 failed polls, want 1", n)
	}
	ev := alerts.Events()[0]
	if ev.Kind != interruption.EventQueueUnreachable || ev.ClusterID != "shop" || !strings.Contains(ev.Message, aws.ToString(q.QueueUrl)) || ev.Error == "" {
		t.Errorf("alert %+v, want the queue's URL, the cluster and the error", ev)
	}
	poll(54) // 59 minutes after the first alert: still held back
	if n := len(alerts.Events()); n != 1 {
		t.Errorf("%d alerts within the re-alert interval, want 1", n)
	}
	poll(2) // an hour and a minute: sent again
	if n := len(alerts.Events()); n != 2 {
		t.Errorf("%d alerts past the re-alert interval, want 2", n)
	}
	if up := value(t, reg, "node_fleet_interruption_queue_up"); up != 0 {
		t.Errorf("node_fleet_interruption_queue_up = %v, want 0", up)
	}
	if n := value(t, reg, "node_fleet_interruption_queue_receive_failures_total"); n != 61 {
		t.Errorf("node_fleet_interruption_queue_receive_failures_total = %v, want 61", n)
	}
}

// value returns the value of the registry's gauge or counter name.
func value(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
