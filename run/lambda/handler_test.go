package lambda

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
	"github.com/node-fleet/node-fleet/config"
	"github.com/node-fleet/node-fleet/decision"
)

var t0 = time.Date(2026, 11, 27, 18, 0, 0, 0, time.UTC)

type env struct {
	clk      *clocktesting.FakeClock
	fleet    *fake.Fleet
	nodes    *fake.Nodes
	store    *fake.Store
	notifier *fake.Notifier
	h        *Handler
}

// newEnv is a cluster of `ready` Ready workers on fakes, an autoscaler on
// them and the function's handler.
func newEnv(t *testing.T, ready int, mutate func(*autoscaler.Config)) *env {
	t.Helper()
	e := &env{clk: clocktesting.NewFakeClock(t0.Add(-time.Hour)), notifier: &fake.Notifier{}}
	e.store = fake.NewStore(e.clk)
	e.fleet = fake.NewFleet(e.clk)
	e.fleet.Zones = []string{"zone-a", "zone-b"}
	e.nodes = fake.NewNodes(e.clk, e.fleet)
	if _, err := e.fleet.Launch(context.Background(), autoscaler.LaunchRequest{OperationID: "seed", Count: ready}); err != nil {
		t.Fatal(err)
	}
	e.fleet.ResetCalls()
	e.clk.SetTime(t0)
	metrics := &fake.Metrics{}
	metrics.Set(autoscaler.Snapshot{Time: t0, CPU: autoscaler.Value(50, t0), Memory: autoscaler.Value(60, t0), PendingPods: autoscaler.Value(0, t0)})
	cfg := autoscaler.DefaultConfig()
	cfg.ClusterID, cfg.Owner = "shop", "lambda-1"
	cfg.Metrics, cfg.Policy, cfg.Locker, cfg.State = metrics, decision.Default(), e.store, e.store
	cfg.Fleet, cfg.Nodes, cfg.Notifier, cfg.Clock = e.fleet, e.nodes, e.notifier, e.clk
	cfg.Logger = slog.New(slog.DiscardHandler)
	if mutate != nil {
		mutate(&cfg)
	}
	as, err := autoscaler.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.h = &Handler{Ticker: as, Logger: cfg.Logger}
	return e
}

// payload reads a testdata event, with INSTANCE_ID replaced.
func payload(t *testing.T, name, instanceID string) json.RawMessage {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return json.RawMessage(strings.ReplaceAll(string(b), "INSTANCE_ID", instanceID))
}

func TestScheduledEventRunsATick(t *testing.T) {
	e := newEnv(t, 3, nil)
	resp, err := e.h.Handle(context.Background(), payload(t, "scheduled-event.json", ""))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Event != "tick" || resp.Outcome != autoscaler.OutcomeHeld || !strings.Contains(resp.Result, "ready=3") {
		t.Errorf("response %+v", resp)
	}
	if st := e.store.State(); len(st.History) != 1 {
		t.Errorf("history has %d records, want the tick's", len(st.History))
	}
	if h := e.store.Holder(); h != "" {
		t.Errorf("lock still held by %q", h)
	}
}

func TestScheduledTickFailureFailsTheInvocation(t *testing.T) {
	e := newEnv(t, 3, nil)
	e.fleet.FailNext(fake.List, errors.New("EC2 is down"))
	resp, err := e.h.Handle(context.Background(), payload(t, "scheduled-event.json", ""))
	if err == nil || !strings.Contains(err.Error(), "EC2 is down") {
		t.Fatalf("err = %v, want the tick's error", err)
	}
	if resp.Outcome != autoscaler.OutcomeFailed {
		t.Errorf("outcome %s", resp.Outcome)
	}
}

func TestSpotInterruptionDrainsAndReplaces(t *testing.T) {
	e := newEnv(t, 3, nil)
	victim := e.fleet.Instances()[0].ID
	if _, err := e.nodes.ListNodes(context.Background()); err != nil { // the nodes join
		t.Fatal(err)
	}
	e.nodes.ResetCalls()
	resp, err := e.h.Handle(context.Background(), payload(t, "spot-interruption.json", victim))
	if err != nil {
		t.Fatal(err)
	}
	r := resp.Interruption
	if resp.Event != "spot-interruption" || r == nil || r.Node != fake.NodeName(victim) || !r.Drained || len(r.Replacements) != 1 {
		t.Fatalf("response %+v / %+v", resp, r)
	}
	var calls []string
	for _, c := range e.nodes.Calls() {
		calls = append(calls, c.String())
	}
	want := []string{"ListNodes()", "PinnedData()", "Cordon(" + fake.NodeName(victim) + ")", "Drain(" + fake.NodeName(victim) + ")"}
	if d := cmp.Diff(want, calls); d != "" {
		t.Errorf("node calls (-want +got):\n%s", d)
	}
	n, _ := e.nodes.Get(fake.NodeName(victim))
	if !n.Unschedulable {
		t.Error("node not cordoned")
	}
	launches := e.fleet.CallsTo(fake.Launch)
	if len(launches) != 1 || !strings.Contains(launches[0].String(), "shop-") {
		t.Errorf("launches %v, want one under the tick's operation", launches)
	}
	st := e.store.State()
	if st.Operation != nil || !st.LastScaleUp.Equal(t0) {
		t.Errorf("state after the replacement: operation %+v, last scale-up %s", st.Operation, st.LastScaleUp)
	}
	if e.store.Holder() != "" {
		t.Errorf("lock still held by %q", e.store.Holder())
	}
	if d := cmp.Diff([]autoscaler.EventKind{autoscaler.EventInterrupted}, e.notifier.Kinds()); d != "" {
		t.Errorf("events (-want +got):\n%s", d)
	}
	// The same warning again (EventBridge delivers at least once): it is
	// recorded already, with its replacement; nothing is launched.
	resp, err = e.h.Handle(context.Background(), payload(t, "spot-interruption.json", victim))
	if err != nil {
		t.Fatal(err)
	}
	if r := resp.Interruption; r == nil || len(r.Replacements) != 0 || r.ReplacedBy == "" {
		t.Errorf("redelivered warning: %+v", r)
	}
	if launched, _ := e.fleet.Counts(); launched != 3+1 {
		t.Errorf("%d instances launched in all, want the 3 seeds and one replacement", launched)
	}
	// The next tick does not replace it a second time.
	resp, err = e.h.Handle(context.Background(), payload(t, "scheduled-event.json", ""))
	if err != nil || resp.Outcome != autoscaler.OutcomeHeld {
		t.Errorf("next tick: %+v, %v", resp, err)
	}
	if launched, _ := e.fleet.Counts(); launched != 3+1 {
		t.Errorf("%d instances launched after the next tick, want still 4", launched)
	}
}

func TestSpotInterruptionOfAForeignInstanceIsIgnored(t *testing.T) {
	e := newEnv(t, 2, nil)
	resp, err := e.h.Handle(context.Background(), payload(t, "spot-interruption.json", "i-0notours"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Interruption.Ignored != "not an active instance of this cluster's fleet" {
		t.Errorf("ignored %q", resp.Interruption.Ignored)
	}
	if len(e.fleet.CallsTo(fake.Launch)) != 0 || len(e.store.State().Interruptions) != 0 {
		t.Error("acted on an instance the cluster does not own")
	}
}

func TestSpotInterruptionAtMaxNodesDrainsWithoutReplacement(t *testing.T) {
	e := newEnv(t, 3, func(c *autoscaler.Config) { c.MinNodes, c.MaxNodes = 1, 2 })
	victim := e.fleet.Instances()[0].ID
	resp, err := e.h.Handle(context.Background(), payload(t, "spot-interruption.json", victim))
	if err != nil {
		t.Fatal(err)
	}
	if r := resp.Interruption; len(r.Replacements) != 0 || r.ReplacedBy != "" || !r.Drained {
		t.Errorf("interruption %+v", r)
	}
	if !strings.Contains(resp.Result, "at MaxNodes 2") && len(e.fleet.CallsTo(fake.Launch)) != 0 {
		t.Errorf("launched at MaxNodes: %s", resp.Result)
	}
	// Not replaced: recorded in the state, so that the ticks no longer
	// count it as capacity and replace it when there is room.
	if st := e.store.State(); len(st.Interruptions) != 1 || st.Interruptions[0].InstanceID != victim {
		t.Errorf("interruptions in the state: %+v", st.Interruptions)
	}
}

func TestSpotInterruptionWaitsForTheLockThenGivesUp(t *testing.T) {
	e := newEnv(t, 2, func(c *autoscaler.Config) { c.DeadlineMargin = 0; c.Clock = clock.RealClock{} })
	if _, err := e.store.Acquire(context.Background(), "a-running-tick", time.Hour); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := e.h.Handle(ctx, payload(t, "spot-interruption.json", e.fleet.Instances()[0].ID))
	if !errors.Is(err, autoscaler.ErrLockHeld) || !strings.Contains(err.Error(), "EventBridge will retry") {
		t.Errorf("err = %v, want the lock held, to be retried", err)
	}
	if len(e.fleet.CallsTo(fake.Launch)) != 0 {
		t.Error("acted without the lock")
	}
}

func TestOtherEventsAreRejected(t *testing.T) {
	e := newEnv(t, 2, nil)
	for name, raw := range map[string]string{
		"state change": `{"source":"aws.ec2","detail-type":"EC2 Instance State-change Notification","detail":{"instance-id":"i-1","state":"running"}}`,
		"s3 event":     `{"Records":[{"eventSource":"aws:s3"}]}`,
		"not json":     `"tick please"`,
		"no instance":  `{"source":"aws.ec2","detail-type":"EC2 Spot Instance Interruption Warning","detail":{}}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.h.Handle(context.Background(), json.RawMessage(raw))
			if err == nil {
				t.Fatal("accepted")
			}
			if name != "no instance" && !errors.Is(err, ErrUnsupportedEvent) {
				t.Errorf("err = %v, want ErrUnsupportedEvent", err)
			}
		})
	}
	_, err := e.h.Handle(context.Background(), json.RawMessage(`{"source":"aws.ec2","detail-type":"EC2 Instance State-change Notification"}`))
	want := `unsupported event: this function handles EventBridge's "Scheduled Event" (source aws.events) and "EC2 Spot Instance Interruption Warning" (source aws.ec2); got source "aws.ec2", detail-type "EC2 Instance State-change Notification"`
	if err == nil || err.Error() != want {
		t.Errorf("message\n got: %v\nwant: %s", err, want)
	}
	if n := len(e.fleet.Calls()); n != 0 {
		t.Errorf("%d fleet calls for rejected events", n)
	}
}

func TestSetupFailsWithTheConfigurationMessage(t *testing.T) {
	env := map[string]string{"CLUSTER_ID": "shop", "MIN_NODES": "many"}
	_, err := Setup(context.Background(), slog.New(slog.DiscardHandler), func(k string) string { return env[k] }, config.Options{})
	if err == nil || !strings.HasPrefix(err.Error(), "configuration: PROMETHEUS_URL is required") || !strings.Contains(err.Error(), `MIN_NODES="many": want a whole number from 0 to 1000`) {
		t.Errorf("err = %v", err)
	}
}
