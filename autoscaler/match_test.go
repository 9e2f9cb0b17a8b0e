package autoscaler

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestInstanceIDFromProviderID(t *testing.T) {
	for in, want := range map[string]string{
		"aws:///eu-west-1a/i-0abc123":  "i-0abc123",
		"aws://eu-west-1a/i-0abc123":   "i-0abc123",
		"k3s://ip-10-0-1-5":            "",
		"aws:///eu-west-1a/fargate-ip": "",
		"":                             "",
		"gce://project/zone/vm":        "",
	} {
		if got := instanceIDFromProviderID(in); got != want {
			t.Errorf("instanceIDFromProviderID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMatchNodes(t *testing.T) {
	instances := []Instance{
		{ID: "i-1", PrivateIP: "10.0.1.1", PrivateDNS: "ip-10-0-1-1.ec2.internal"},
		{ID: "i-2", PrivateIP: "10.0.1.2", PrivateDNS: "ip-10-0-1-2.ec2.internal"},
		{ID: "i-3", PrivateIP: "10.0.1.3", PrivateDNS: "ip-10-0-1-3.ec2.internal"},
		{ID: "i-4", PrivateIP: "10.0.1.4", PrivateDNS: "ip-10-0-1-4.ec2.internal"},
		{ID: "i-5", PrivateIP: "10.0.1.5"},
	}
	nodes := []Node{
		{Name: "a", ProviderID: "aws:///z/i-1", InternalIP: "10.0.1.9"}, // providerID wins over IP
		{Name: "b", ProviderID: "k3s://b", InstanceID: "i-2"},           // label
		{Name: "c", ProviderID: "k3s://c", InternalIP: "10.0.1.3"},      // IP
		{Name: "ip-10-0-1-4", ProviderID: "k3s://ip-10-0-1-4"},          // short DNS name
		{Name: "server", ProviderID: "k3s://server", InternalIP: "10.0.0.10"},
		{Name: "dup", InstanceID: "i-1"}, // i-1 already matched
	}
	got, unmatched := MatchNodes(instances, nodes)
	want := map[string]string{"i-1": "a", "i-2": "b", "i-3": "c", "i-4": "ip-10-0-1-4"}
	names := map[string]string{}
	for id, n := range got {
		names[id] = n.Name
	}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("matches (-want +got):\n%s", diff)
	}
	var un []string
	for _, n := range unmatched {
		un = append(un, n.Name)
	}
	if diff := cmp.Diff([]string{"server", "dup"}, un); diff != "" {
		t.Errorf("unmatched (-want +got):\n%s", diff)
	}
}

func TestChooseVictims(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := func(id string, m Market, pods int, age time.Duration, ready bool, blocker string) candidate {
		return candidate{Instance: Instance{ID: id, Market: m, LaunchTime: t0.Add(-age)}, Node: Node{Name: "n-" + id, Ready: ready, Pods: pods, ScaleDownBlocker: blocker}}
	}
	cands := []candidate{
		c("od-empty", MarketOnDemand, 0, time.Hour, true, ""),
		c("spot-5", MarketSpot, 5, time.Hour, true, ""),
		c("spot-1-old", MarketSpot, 1, 3*time.Hour, true, ""),
		c("spot-1-new", MarketSpot, 1, 2*time.Hour, true, ""),
		c("spot-0-blocked", MarketSpot, 0, time.Hour, true, "annotation"),
		c("spot-0-notready", MarketSpot, 0, time.Hour, false, ""),
		{Instance: Instance{ID: "spot-0-cordoned", Market: MarketSpot, LaunchTime: t0}, Node: Node{Name: "n-c", Ready: true, Unschedulable: true}},
	}
	cheap := c("spot-1-cheap", MarketSpot, 1, 4*time.Hour, true, "")
	cheap.Node.MoveCost = 100
	cands[2].Node.MoveCost, cands[3].Node.MoveCost = 500, 500
	cands = append(cands, cheap)
	got, reasons := chooseVictims(cands, 10)
	var ids []string
	for _, v := range got {
		ids = append(ids, v.Instance.ID)
	}
	if diff := cmp.Diff([]string{"od-empty", "spot-1-cheap", "spot-1-new", "spot-1-old", "spot-5"}, ids); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	if len(reasons) != 5 || reasons[0] == "" {
		t.Errorf("reasons %q", reasons)
	}
	if got, _ := chooseVictims(cands[4:7], 1); len(got) != 0 {
		t.Errorf("chose a blocked or NotReady node: %v", got)
	}
}

// A Node whose label names a dead instance does not claim the new
// instance that reuses its private IP; the new instance keeps its own node.
func TestNodeNamingADeadInstanceDoesNotClaimByIP(t *testing.T) {
	ins := []Instance{{ID: "i-new", PrivateIP: "10.0.1.5", PrivateDNS: "ip-10-0-1-5.ec2.internal"}}
	nodes := []Node{
		{Name: "ip-10-0-1-5", InstanceID: "i-dead", InternalIP: "10.0.1.5"},
		{Name: "worker-new", ProviderID: "aws:///zone-a/i-new", InternalIP: "10.0.9.9"},
	}
	by, unmatched := MatchNodes(ins, nodes)
	if by["i-new"].Name != "worker-new" {
		t.Errorf("i-new matched to %q, want its own node worker-new", by["i-new"].Name)
	}
	if len(unmatched) != 1 || unmatched[0].Name != "ip-10-0-1-5" {
		t.Errorf("unmatched %v, want the dead instance's node", unmatched)
	}
}

// TestMatchNodesPrefersTheReadyThenNewestNode: when an agent registered
// again under a new name, two Nodes name one instance; the Ready one is
// its node whichever comes first, among as Ready ones the newest, and the
// other is unmatched (an orphan to delete, not a NotReady instance to
// repair).
func TestMatchNodesPrefersTheReadyThenNewestNode(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	instances := []Instance{{ID: "i-1"}, {ID: "i-2"}, {ID: "i-3", PrivateIP: "10.0.0.3"}}
	nodes := []Node{
		{Name: "old-1", InstanceID: "i-1", Created: t0},                             // stale, NotReady, first
		{Name: "new-1", InstanceID: "i-1", Created: t0.Add(time.Hour), Ready: true}, // its node now
		{Name: "a-2", InstanceID: "i-2", Created: t0, Ready: true},
		{Name: "b-2", InstanceID: "i-2", Created: t0.Add(time.Hour), Ready: true}, // newer
		{Name: "ip-3", InternalIP: "10.0.0.3", Ready: true},                       // by address, Ready
		{Name: "named-3", InstanceID: "i-3"},                                      // names it: wins
	}
	got, unmatched := MatchNodes(instances, nodes)
	names := map[string]string{}
	for id, n := range got {
		names[id] = n.Name
	}
	if diff := cmp.Diff(map[string]string{"i-1": "new-1", "i-2": "b-2", "i-3": "named-3"}, names); diff != "" {
		t.Errorf("matches (-want +got):\n%s", diff)
	}
	var un []string
	for _, n := range unmatched {
		un = append(un, n.Name)
	}
	if diff := cmp.Diff([]string{"old-1", "a-2", "ip-3"}, un); diff != "" {
		t.Errorf("unmatched (-want +got):\n%s", diff)
	}
}

// TestOrphansAreThisClustersOnly: an unmatched NotReady node is an orphan
// only when its cluster label is this cluster's id; another pool's node
// (a NODE_SELECTOR wider than one pool) and a node with only an instance
// id label are left alone.
func TestOrphansAreThisClustersOnly(t *testing.T) {
	unmatched := []Node{
		{Name: "ours", Cluster: "prod", Managed: true},
		{Name: "ours-ready", Cluster: "prod", Managed: true, Ready: true},
		{Name: "theirs", Cluster: "staging", Managed: true},
		{Name: "id-only", InstanceID: "i-9", Managed: true},
		{Name: "server"},
	}
	var got []string
	for _, n := range orphans("prod", unmatched) {
		got = append(got, n.Name)
	}
	if diff := cmp.Diff([]string{"ours"}, got); diff != "" {
		t.Errorf("orphans (-want +got):\n%s", diff)
	}
	if orphans("", unmatched) != nil {
		t.Error("an empty cluster id made orphans")
	}
}

// TestChooseVictimsKeepsZonesBalanced: six idle workers over three zones
// (3, 2, 1) scaled down by three go one from the largest zone at a time,
// leaving one in each zone, not all in one; the zone term comes after the
// pods and the market.
func TestChooseVictimsKeepsZonesBalanced(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := func(id, zone string, age time.Duration) candidate {
		return candidate{Instance: Instance{ID: id, Market: MarketSpot, Zone: zone, LaunchTime: t0.Add(-age)},
			Node: Node{Name: "n-" + id, Ready: true, Zone: zone}}
	}
	// The newest first without the zone term: c1, b2, b1, ...
	cands := []candidate{
		w("a1", "a", 6*time.Hour), w("a2", "a", 5*time.Hour), w("a3", "a", 4*time.Hour),
		w("b1", "b", 3*time.Hour), w("b2", "b", 2*time.Hour),
		w("c1", "c", time.Hour),
	}
	got, reasons := chooseVictims(cands, 3)
	var ids []string
	for _, v := range got {
		ids = append(ids, v.Instance.ID)
	}
	if diff := cmp.Diff([]string{"a3", "b2", "a2"}, ids); diff != "" {
		t.Errorf("victims (-want +got):\n%s", diff)
	}
	if !strings.Contains(reasons[0], "in zone a (3 workers)") {
		t.Errorf("reason %q does not name the zone", reasons[0])
	}
	// Fewer pods still come first: the only worker of zone c goes when
	// it is the empty one.
	cands[5].Node.Pods, cands[0].Node.Pods, cands[1].Node.Pods, cands[2].Node.Pods, cands[3].Node.Pods, cands[4].Node.Pods = 0, 1, 1, 1, 1, 1
	got, _ = chooseVictims(cands, 1)
	if got[0].Instance.ID != "c1" {
		t.Errorf("victim %s, want the empty c1", got[0].Instance.ID)
	}
}
