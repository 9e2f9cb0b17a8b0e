package interruption_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	clocktesting "k8s.io/utils/clock/testing"

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
