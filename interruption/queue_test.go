package interruption_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/node-fleet/node-fleet/autoscaler/fake"
	"github.com/node-fleet/node-fleet/interruption"
)

// failingClient fails every receive and counts them.
type failingClient struct {
	mu       sync.Mutex
	receives int
}

func (c *failingClient) ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.receives++
	return nil, errors.New("AccessDenied")
}

func (c *failingClient) DeleteMessage(context.Context, *sqs.DeleteMessageInput, ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error) {
	return &sqs.DeleteMessageOutput{}, nil
}

func (c *failingClient) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.receives
}

// A queue that cannot be read is retried after the poll's wait, timed by
// the injected clock: no second receive before it, one after it.
func TestRunWaitsOnItsClockAfterAFailedReceive(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	client := &failingClient{}
	q, err := interruption.New(interruption.Config{Client: client, QueueURL: "https://sqs.eu-west-1.amazonaws.com/123456789012/q",
		Handler: &handler{}, WaitTime: 20 * time.Second, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for !clk.HasWaiters() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if !clk.HasWaiters() {
		t.Fatal("Run does not wait on the injected clock after a failed receive")
	}
	clk.Step(19 * time.Second)
	time.Sleep(20 * time.Millisecond)
	if got := client.count(); got != 1 {
		t.Errorf("%d receives before the wait ended, want 1", got)
	}
	clk.Step(time.Second)
	for client.count() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := client.count(); got != 2 {
		t.Errorf("%d receives after the wait, want 2", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// oneBatchClient returns its messages at the first receive and records
// the deletes.
type oneBatchClient struct {
	mu      sync.Mutex
	msgs    []types.Message
	deleted []string
}

func (c *oneBatchClient) ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := &sqs.ReceiveMessageOutput{Messages: c.msgs}
	c.msgs = nil
	return out, nil
}

func (c *oneBatchClient) DeleteMessage(_ context.Context, in *sqs.DeleteMessageInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deleted = append(c.deleted, aws.ToString(in.ReceiptHandle))
	return &sqs.DeleteMessageOutput{}, nil
}

// countingFleet owns the instances named i-fleet* and counts the calls.
type countingFleet struct {
	mu    sync.Mutex
	calls []string
}

func (f *countingFleet) Owns(_ context.Context, id string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, id)
	return strings.HasPrefix(id, "i-fleet"), nil
}

// The state-change rule delivers every state change of every instance of
// the account (a busy account launches and starts many): those to a
// state that matters to no autoscaler (pending, running) are deleted
// without asking EC2 whose instance it is; the others are asked once.
func TestStateChangesToIrrelevantStatesCostNoDescribe(t *testing.T) {
	var msgs []types.Message
	for i, ev := range []struct{ id, state string }{
		{"i-other1", "pending"}, {"i-other2", "running"}, {"i-fleet1", "running"}, {"i-fleet2", "shutting-down"}, {"i-other3", "terminated"},
	} {
		msgs = append(msgs, types.Message{MessageId: aws.String(fmt.Sprint(i)), ReceiptHandle: aws.String(ev.id + "/" + ev.state),
			Body: aws.String(ec2Event(interruption.DetailTypeStateChange, ev.id, fmt.Sprintf(`,"state":%q`, ev.state)))})
	}
	client := &oneBatchClient{msgs: msgs}
	f := &countingFleet{}
	var changes []string
	q, err := interruption.New(interruption.Config{Client: client, QueueURL: "https://sqs.eu-west-1.amazonaws.com/123456789012/q",
		Handler: &handler{}, Fleet: f, StateChange: func(id, state string) { changes = append(changes, id+"/"+state) }})
	if err != nil {
		t.Fatal(err)
	}
	n, err := q.Poll(context.Background())
	if err != nil || n != 5 {
		t.Fatalf("Poll: %d deleted, %v; want all 5 deleted", n, err)
	}
	if diff := cmp.Diff([]string{"i-fleet2", "i-other3"}, f.calls); diff != "" {
		t.Errorf("instances asked of EC2 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"i-fleet2/shutting-down"}, changes); diff != "" {
		t.Errorf("state changes passed on (-want +got):\n%s", diff)
	}
}

// flakyClient fails the receives while down is true.
type flakyClient struct {
	failingClient
	down bool
}

func (c *flakyClient) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	if c.down {
		return c.failingClient.ReceiveMessage(ctx, in, opts...)
	}
	return &sqs.ReceiveMessageOutput{}, nil
}

// A queue that fails again after it was read for ten minutes without a
// failure is alerted at once, not held back by the earlier alert; one
// that fails again sooner is still held back.
func TestQueueFailingAgainAfterRecoveringIsAlertedAtOnce(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	client := &flakyClient{down: true}
	alerts := &fake.Notifier{}
	q, err := interruption.New(interruption.Config{Client: client, QueueURL: "https://sqs.eu-west-1.amazonaws.com/123456789012/q",
		Handler: &handler{}, Clock: clk, Notifier: alerts, RealertInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, p := range []struct {
		down bool
		then time.Duration // until the next poll
	}{
		{true, time.Minute}, {true, time.Minute}, {false, 5 * time.Minute}, // read for 5 minutes
		{true, time.Minute}, {false, 11 * time.Minute}, // read for 11 minutes
		{true, time.Minute}, {true, time.Minute},
	} {
		client.down = p.down
		_, _ = q.Poll(t.Context())
		got = append(got, len(alerts.Events()))
		clk.Step(p.then)
	}
	if diff := cmp.Diff([]int{1, 1, 1, 1, 1, 2, 2}, got); diff != "" {
		t.Errorf("alerts after each poll (-want +got):\n%s", diff)
	}
}

// A queue that flaps (every other receive fails, for 30 minutes) is one
// condition: it is alerted once per re-alert interval, not at every
// failure that follows a receive that worked.
func TestFlappingQueueIsAlertedOncePerRealertInterval(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	client := &flakyClient{}
	alerts := &fake.Notifier{}
	q, err := interruption.New(interruption.Config{Client: client, QueueURL: "https://sqs.eu-west-1.amazonaws.com/123456789012/q",
		Handler: &handler{}, Clock: clk, Notifier: alerts, RealertInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 90 { // 40 s a cycle: a failed receive, the wait, a receive that works
		client.down = i%2 == 0
		_, _ = q.Poll(t.Context())
		clk.Step(20 * time.Second)
	}
	if n := len(alerts.Events()); n != 1 {
		t.Errorf("%d alerts in 30 minutes of a flapping queue, want 1", n)
	}
}
