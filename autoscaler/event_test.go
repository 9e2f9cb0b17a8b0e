package autoscaler

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A tick's events are one per kind: several of a kind become one message
// naming the first few and counting the rest, with every instance.
func TestEventsOfOneKindAreOneMessage(t *testing.T) {
	evs := []Event{
		{Kind: EventRepairHeld, Message: "zone a"},
		{Kind: EventGhost, Message: "ghost i-1", Instances: []string{"i-1"}},
		{Kind: EventRepairHeld, Message: "zone b"},
		{Kind: EventGhost, Message: "not ready i-2", Instances: []string{"i-2"}, Error: "boom"},
		{Kind: EventRepairHeld, Message: "zone c"},
		{Kind: EventRepairHeld, Message: "node d"},
		{Kind: EventScaleUp, Message: "up"},
	}
	want := []Event{
		{Kind: EventRepairHeld, Message: "4 repair_held events: zone a; zone b; zone c … and 1 more"},
		{Kind: EventGhost, Message: "2 ghost_terminated events: ghost i-1; not ready i-2", Instances: []string{"i-1", "i-2"}, Error: "boom"},
		{Kind: EventScaleUp, Message: "up"},
	}
	if diff := cmp.Diff(want, mergeEvents(evs)); diff != "" {
		t.Errorf("merged (-want +got):\n%s", diff)
	}
}
