package daemon

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
	"github.com/node-fleet/node-fleet/interruption"
)

// blockingNodes is the fake NodeManager whose drain of one node blocks
// until released (a tick draining it for minutes), and which records the
// clock's time of every drain.
type blockingNodes struct {
	*fake.Nodes
	clk     *testingclock.FakeClock
	block   string
	started chan struct{} // closed when the blocked drain has begun
	release chan struct{}

	mu      sync.Mutex
	drained map[string]time.Time
}

func (n *blockingNodes) Drain(ctx context.Context, name string) error {
	n.mu.Lock()
	n.drained[name] = n.clk.Now()
	n.mu.Unlock()
	if name == n.block {
		close(n.started)
		select {
		case <-n.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return n.Nodes.Drain(ctx, name)
}

func (n *blockingNodes) drainedAt(name string) (time.Time, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	at, ok := n.drained[name]
	return at, ok
}

// fleetOwns is the fake fleet with Owns: its own instances are the
// fleet's.
type fleetOwns struct{ *fake.Fleet }

func (f fleetOwns) Owns(_ context.Context, id string) (bool, error) {
	for _, in := range f.Instances() {
		if in.ID == id {
			return true, nil
		}
	}
	return false, nil
}

// A spot warning that comes while a tick of this daemon holds the lock,
// blocked for minutes in a drain, has its node cordoned and drained at
// once, within the two-minute notice, and is recorded in the state (and
// its instance replaced) by the tick that follows.
func TestSpotWarningDuringALongTickIsEvacuatedWithinTheNotice(t *testing.T) {
	start := time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC)
	clk, fleet, nodes := busyFleet(start, "i-busy", "i-warned", "i-other")
	store := fake.NewStore(clk)
	a := holdingAutoscaler(t, clk, fleet, nodes, store)
	serial := &serialTicker{a: a}
	ctx := t.Context()

	// A tick that drains i-busy's node (its own spot warning) and is
	// stuck there.
	busy := make(chan error, 1)
	go func() {
		_, err := serial.HandleInterruption(ctx, "i-busy", start)
		busy <- err
	}()
	<-nodes.started

	// The warning for i-warned comes through the queue meanwhile.
	notice := start.Add(10 * time.Second)
	clk.SetTime(notice)
	q, err := interruption.New(interruption.Config{Client: &feedQueue{msgs: []string{fmt.Sprintf(
		`{"source":"aws.ec2","detail-type":%q,"time":%q,"detail":{"instance-id":"i-warned","instance-action":"terminate"}}`,
		interruption.DetailTypeSpotWarning, notice.Format(time.RFC3339))}},
		QueueURL: "https://sqs.eu-west-1.amazonaws.com/123456789012/q", Handler: serial, Fleet: fleetOwns{fleet}, Nodes: nodes, Clock: clk,
		HandleTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	polled := make(chan error, 1)
	go func() {
		_, err := q.Poll(ctx)
		polled <- err
	}()
	warned := fake.NodeName("i-warned")
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if _, ok := nodes.drainedAt(warned); ok {
			break
		}
	}
	// The busy tick drains on for three minutes of the clock.
	clk.Step(3 * time.Minute)
	close(nodes.release)
	if err := <-busy; err != nil {
		t.Fatalf("the busy tick: %v", err)
	}
	if err := <-polled; err != nil {
		t.Fatalf("poll: %v", err)
	}

	at, ok := nodes.drainedAt(warned)
	if !ok || at.Sub(notice) >= 2*time.Minute {
		t.Errorf("node of the warned instance drained at %v (drained: %v), want within 2 minutes of the notice %v", at, ok, notice)
	}
	if n, _ := nodes.Get(warned); !n.Unschedulable || n.Pods != 0 {
		t.Errorf("node of the warned instance %+v, want cordoned and empty", n)
	}
	if _, ok := nodes.drainedAt(fake.NodeName("i-other")); ok {
		t.Error("the node of an instance with no warning was drained")
	}
	recorded := map[string]bool{}
	for _, it := range store.State().Interruptions {
		recorded[it.InstanceID] = it.ReplacedBy != ""
	}
	if !recorded["i-warned"] || !recorded["i-busy"] {
		t.Errorf("interruptions recorded (replaced?) %v, want i-busy and i-warned, both replaced", recorded)
	}
}

// A spot warning whose two minutes are long past when it is read (a
// message redelivered, or read from a queue that keeps messages longer
// than the deploy's) for an instance that still runs is not evacuated
// ahead of the tick: the tick drops a warning that old, and would never
// give back a node cordoned for it.
func TestStaleSpotWarningLeavesTheNodeSchedulable(t *testing.T) {
	start := time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC)
	clk := testingclock.NewFakeClock(start)
	fleet := fake.NewFleet(clk)
	for _, id := range []string{"i-warned", "i-other"} {
		fleet.Add(autoscaler.Instance{ID: id, State: autoscaler.StateRunning, Market: autoscaler.MarketSpot, Zone: "eu-west-1a", LaunchTime: start.Add(-time.Hour)})
	}
	nodes := fake.NewNodes(clk, fleet)
	store := fake.NewStore(clk)
	a := holdingAutoscaler(t, clk, fleet, nodes, store)
	notice := start.Add(-10 * time.Minute)
	q, err := interruption.New(interruption.Config{Client: &feedQueue{msgs: []string{fmt.Sprintf(
		`{"source":"aws.ec2","detail-type":%q,"time":%q,"detail":{"instance-id":"i-warned","instance-action":"terminate"}}`,
		interruption.DetailTypeSpotWarning, notice.Format(time.RFC3339))}},
		QueueURL: "https://sqs.eu-west-1.amazonaws.com/123456789012/q", Handler: &serialTicker{a: a}, Fleet: fleetOwns{fleet}, Nodes: nodes, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Poll(t.Context()); err != nil {
		t.Fatalf("poll: %v", err)
	}
	clk.Step(time.Minute)
	if _, err := a.RunOnce(t.Context()); err != nil {
		t.Fatalf("the next tick: %v", err)
	}
	if n, _ := nodes.Get(fake.NodeName("i-warned")); n.Unschedulable {
		t.Errorf("node of an instance warned 10 minutes ago and still running is cordoned (%+v): nothing gives it back", n)
	}
	if c := nodes.CallsTo(fake.Drain); len(c) != 0 {
		t.Errorf("drains %v, want none", c)
	}
}

// holdingAutoscaler is an autoscaler of cluster "shop" on the fakes whose
// policy always holds: only interruptions make it act.
func holdingAutoscaler(t *testing.T, clk *testingclock.FakeClock, fleet *fake.Fleet, nodes autoscaler.NodeManager, store *fake.Store) *autoscaler.Autoscaler {
	t.Helper()
	a, err := autoscaler.New(autoscaler.Config{ClusterID: "shop", Metrics: &fake.Static{Clock: clk}, Locker: store, State: store,
		Fleet: fleet, Nodes: nodes, Clock: clk, MinNodes: autoscaler.NoMinimum, MaxNodes: 10,
		Policy: autoscaler.PolicyFunc(func(autoscaler.PolicyInput) autoscaler.Decision { return autoscaler.Decision{Action: autoscaler.Hold} })})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// feedQueue delivers the messages added to it, one a receive, waiting
// for one while it has none.
type feedQueue struct {
	mu   sync.Mutex
	msgs []string
}

func (q *feedQueue) add(body string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.msgs = append(q.msgs, body)
}

func (q *feedQueue) ReceiveMessage(ctx context.Context, _ *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	for {
		q.mu.Lock()
		if len(q.msgs) > 0 {
			body := q.msgs[0]
			q.msgs = q.msgs[1:]
			q.mu.Unlock()
			return &sqs.ReceiveMessageOutput{Messages: []sqstypes.Message{{MessageId: aws.String("m"), ReceiptHandle: aws.String("r"), Body: aws.String(body)}}}, nil
		}
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

func (q *feedQueue) DeleteMessage(context.Context, *sqs.DeleteMessageInput, ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error) {
	return &sqs.DeleteMessageOutput{}, nil
}

// In a reclaim wave, a second spot warning that comes while the first
// waits for the lock (held by a tick draining another node) has its
// node evacuated at once too, not after the first warning's handling.
func TestSecondSpotWarningDuringALongTickIsEvacuatedAtOnce(t *testing.T) {
	start := time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC)
	clk, fleet, nodes := busyFleet(start, "i-busy", "i-first", "i-second")
	serial := &serialTicker{a: holdingAutoscaler(t, clk, fleet, nodes, fake.NewStore(clk))}
	busy := make(chan error, 1)
	go func() {
		_, err := serial.HandleInterruption(t.Context(), "i-busy", start)
		busy <- err
	}()
	<-nodes.started
	feed := &feedQueue{}
	q, err := interruption.New(interruption.Config{Client: feed, QueueURL: "https://sqs.eu-west-1.amazonaws.com/123456789012/q",
		Handler: serial, Fleet: fleetOwns{fleet}, Nodes: nodes, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	ran := make(chan error, 1)
	go func() { ran <- q.Run(ctx) }()
	drainedSoon := func(id string) bool {
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if _, ok := nodes.drainedAt(fake.NodeName(id)); ok {
				return true
			}
		}
		return false
	}
	for _, id := range []string{"i-first", "i-second"} {
		feed.add(fmt.Sprintf(`{"source":"aws.ec2","detail-type":%q,"time":%q,"detail":{"instance-id":%q}}`,
			interruption.DetailTypeSpotWarning, start.Format(time.RFC3339), id))
		if !drainedSoon(id) {
			t.Errorf("the node of %s is not drained while the tick is busy", id)
		}
	}
	close(nodes.release)
	if err := <-busy; err != nil {
		t.Errorf("the busy tick: %v", err)
	}
	cancel()
	if err := <-ran; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// busyFleet is a fleet of the spot instances ids, launched an hour
// before start, whose NodeManager blocks in the drain of i-busy's node.
func busyFleet(start time.Time, ids ...string) (*testingclock.FakeClock, *fake.Fleet, *blockingNodes) {
	clk := testingclock.NewFakeClock(start)
	fleet := fake.NewFleet(clk)
	for _, id := range ids {
		fleet.Add(autoscaler.Instance{ID: id, State: autoscaler.StateRunning, Market: autoscaler.MarketSpot, Zone: "eu-west-1a", LaunchTime: start.Add(-time.Hour)})
	}
	nodes := &blockingNodes{Nodes: fake.NewNodes(clk, fleet), clk: clk, block: fake.NodeName("i-busy"),
		started: make(chan struct{}), release: make(chan struct{}), drained: map[string]time.Time{}}
	return clk, fleet, nodes
}
