package interruption_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
	"github.com/node-fleet/node-fleet/interruption"
)

// owner answers Owns from a table, or fails.
type owner struct {
	owned map[string]bool
	err   error
}

func (o owner) Owns(_ context.Context, id string) (bool, error) { return o.owned[id], o.err }

// The node of a warned instance is evacuated at once only when it is
// safe: the instance is the fleet's by EC2's answer (not on doubt), the
// node names the instance (not an address match), and it holds no
// node-local data and no scale-down-disabled annotation (such a node is
// cordoned, not drained, and alerted). The warning reaches the handler
// in every case.
func TestWarnedNodeIsEvacuatedAtOnceOnlyWhenSafe(t *testing.T) {
	named := autoscaler.Node{Name: "node-a", InstanceID: "i-a", Ready: true, Managed: true, Pods: 3}
	for _, tc := range []struct {
		name    string
		node    autoscaler.Node
		owns    owner
		calls   []string // the NodeManager's cordons and drains
		alerted bool
	}{
		{"the fleet's, named by label", named, owner{owned: map[string]bool{"i-a": true}},
			[]string{"Cordon(node-a)", "Drain(node-a)"}, false},
		{"named by the AWS providerID", autoscaler.Node{Name: "node-a", ProviderID: "aws:///eu-west-1a/i-a", Ready: true, Pods: 1}, owner{owned: map[string]bool{"i-a": true}},
			[]string{"Cordon(node-a)", "Drain(node-a)"}, false},
		{"holds node-local data", func() autoscaler.Node { n := named; n.LocalData = []string{"pv/data-0 (local-path)"}; return n }(),
			owner{owned: map[string]bool{"i-a": true}}, []string{"Cordon(node-a)"}, true},
		{"annotated scale-down-disabled", func() autoscaler.Node { n := named; n.ScaleDownDisabled = true; return n }(),
			owner{owned: map[string]bool{"i-a": true}}, []string{"Cordon(node-a)"}, true},
		{"ownership unknown (EC2 failed)", named, owner{err: errors.New("RequestLimitExceeded")}, nil, false},
		{"matched by address only", autoscaler.Node{Name: "ip-10-0-1-5", InternalIP: "10.0.1.5", Ready: true, Pods: 2},
			owner{owned: map[string]bool{"i-a": true}}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC))
			nodes := fake.NewNodes(clk, nil)
			nodes.Add(tc.node)
			h := &handler{}
			alerts := &fake.Notifier{}
			q, err := interruption.New(interruption.Config{
				Client:   &oneMessage{body: fmt.Sprintf(`{"source":"aws.ec2","detail-type":%q,"time":"2026-12-07T04:00:00Z","detail":{"instance-id":"i-a"}}`, interruption.DetailTypeSpotWarning)},
				QueueURL: "https://sqs.eu-west-1.amazonaws.com/123456789012/q", Handler: h, Fleet: tc.owns, Nodes: nodes, Notifier: alerts, Clock: clk,
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := q.Poll(t.Context()); err != nil {
				t.Fatal(err)
			}
			var calls []string
			for _, c := range nodes.Calls() {
				if c.Method == fake.Cordon || c.Method == fake.Drain {
					calls = append(calls, c.String())
				}
			}
			if diff := cmp.Diff(tc.calls, calls); diff != "" {
				t.Errorf("cordons and drains (-want +got):\n%s", diff)
			}
			if got := len(alerts.Events()) == 1; got != tc.alerted {
				t.Errorf("alerted %v (%v), want %v", got, alerts.Events(), tc.alerted)
			}
			if len(h.calls) != 1 {
				t.Errorf("handler calls %v, want the warning", h.calls)
			}
		})
	}
}

// Only a spot interruption warning evacuates a node ahead of the tick: a
// rebalance recommendation is advice (the instance may run for hours)
// and a state change comes when the instance is already going; neither
// cordons or drains anything, for an instance of the fleet too.
func TestOnlyASpotWarningEvacuatesAtOnce(t *testing.T) {
	for _, body := range []string{
		fmt.Sprintf(`{"source":"aws.ec2","detail-type":%q,"time":"2026-12-07T04:00:00Z","detail":{"instance-id":"i-a"}}`, interruption.DetailTypeRebalance),
		fmt.Sprintf(`{"source":"aws.ec2","detail-type":%q,"time":"2026-12-07T04:00:00Z","detail":{"instance-id":"i-a","state":"stopping"}}`, interruption.DetailTypeStateChange),
	} {
		clk := clocktesting.NewFakeClock(time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC))
		nodes := fake.NewNodes(clk, nil)
		nodes.Add(autoscaler.Node{Name: "node-a", InstanceID: "i-a", Ready: true, Managed: true, Pods: 3})
		h := &handler{}
		q, err := interruption.New(interruption.Config{Client: &oneMessage{body: body}, QueueURL: "https://sqs.eu-west-1.amazonaws.com/123456789012/q",
			Handler: h, Fleet: owner{owned: map[string]bool{"i-a": true}}, Nodes: nodes, Clock: clk})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := q.Poll(t.Context()); err != nil {
			t.Fatal(err)
		}
		if c := append(nodes.CallsTo(fake.Cordon), nodes.CallsTo(fake.Drain)...); len(c) != 0 {
			t.Errorf("%s: cordons and drains %v, want none", body, c)
		}
		if len(h.calls) != 0 {
			t.Errorf("%s: handler calls %v, want none", body, h.calls)
		}
	}
}
