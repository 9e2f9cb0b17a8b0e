package lambda

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// countingTicker is a fake Ticker: it records what it was asked.
type countingTicker struct {
	ticks int
	spots []string
}

func (c *countingTicker) RunOnce(context.Context) (autoscaler.Result, error) {
	c.ticks++
	return autoscaler.Result{Outcome: autoscaler.OutcomeHeld, Reason: "fuzz"}, nil
}

func (c *countingTicker) HandleInterruption(_ context.Context, id string, _ time.Time) (autoscaler.Result, error) {
	c.spots = append(c.spots, id)
	return autoscaler.Result{Outcome: autoscaler.OutcomeHeld, Reason: "fuzz"}, nil
}

// FuzzHandle: any payload is a tick, a spot interruption with an instance
// id, or an error; nothing panics, and a rejected payload starts no tick.
func FuzzHandle(f *testing.F) {
	for _, name := range []string{"testdata/scheduled-event.json", "testdata/spot-interruption.json"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"detail-type":"EC2 Spot Instance Interruption Warning","source":"aws.ec2","detail":{}}`))
	f.Add([]byte(`{"detail-type":"EC2 Spot Instance Interruption Warning","source":"aws.ec2","detail":{"instance-id":5}}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"source":"aws.events","detail-type":"Scheduled Event","time":"not a time"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		c := &countingTicker{}
		h := &Handler{Ticker: c, Logger: slog.New(slog.DiscardHandler)}
		resp, err := h.Handle(context.Background(), json.RawMessage(raw))
		if err != nil {
			if resp.Event == "" && (c.ticks > 0 || len(c.spots) > 0) {
				t.Fatalf("payload %q rejected (%v) after starting a tick", raw, err)
			}
			return
		}
		switch {
		case c.ticks+len(c.spots) != 1:
			t.Fatalf("payload %q accepted with %d ticks and %d interruptions, want one", raw, c.ticks, len(c.spots))
		case len(c.spots) == 1 && c.spots[0] == "":
			t.Fatalf("payload %q: an interruption without an instance id was handled", raw)
		}
	})
}
