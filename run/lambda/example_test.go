package lambda_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/run/lambda"
)

// ticker answers every tick as held, for the example.
type ticker struct{}

func (ticker) RunOnce(context.Context) (autoscaler.Result, error) {
	return autoscaler.Result{Outcome: autoscaler.OutcomeHeld, Reason: "nothing to do"}, nil
}

func (ticker) HandleInterruption(context.Context, string, time.Time) (autoscaler.Result, error) {
	return autoscaler.Result{}, nil
}

// The handler dispatches EventBridge's events: a scheduled event runs one
// tick; other events are refused with a message saying what is handled. A
// program of its own runs the whole function with lambda.Main.
func ExampleHandler_Handle() {
	h := &lambda.Handler{Ticker: ticker{}, Logger: slog.New(slog.DiscardHandler)}
	resp, err := h.Handle(context.Background(), json.RawMessage(`{"source":"aws.events","detail-type":"Scheduled Event","detail":{}}`))
	fmt.Println(resp.Event, resp.Outcome, err)
	_, err = h.Handle(context.Background(), json.RawMessage(`{"source":"aws.s3","detail-type":"Object Created","detail":{}}`))
	fmt.Println(err != nil)
	// Output:
	// tick held <nil>
	// true
}
