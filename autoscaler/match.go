package autoscaler

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// instanceIDFromProviderID extracts the EC2 instance id from a Node's
// providerID of the AWS form "aws:///zone/i-0abc"; it returns "" for any
// other form (e.g. K3s's "k3s://hostname").
func instanceIDFromProviderID(providerID string) string {
	rest, ok := strings.CutPrefix(providerID, "aws://")
	if !ok {
		return ""
	}
	i := strings.LastIndexByte(rest, '/')
	id := rest[i+1:]
	if !strings.HasPrefix(id, "i-") {
		return ""
	}
	return id
}

// MatchNodes pairs instances with the Nodes they run. A node that names an
// instance (the instance id in its AWS providerID, else its
// LabelInstanceID label) is matched by that id only, or not at all. A node
// that names none is matched by its internal IP equal to the instance's
// private IP, else by its name or hostname equal to the instance's private
// DNS name (whole or its first label). When several nodes claim one
// instance the same way (an agent that registered again under a new
// name), the Ready one is its node, then the newest (Created), then the
// first given: an instance is never NotReady while a node naming it is
// Ready. A node that names an instance always wins over one matched by
// address. It returns the node of each matched instance id, and the nodes
// matched to no instance (the losers of such a contest included), in the
// order given.
func MatchNodes(instances []Instance, nodes []Node) (byInstance map[string]Node, unmatched []Node) {
	byInstance = make(map[string]Node, len(instances))
	ids := make(map[string]bool, len(instances))
	byIP := make(map[string]string, len(instances))
	byDNS := make(map[string]string, 2*len(instances))
	for _, in := range instances {
		ids[in.ID] = true
		if in.PrivateIP != "" {
			byIP[in.PrivateIP] = in.ID
		}
		if in.PrivateDNS != "" {
			byDNS[in.PrivateDNS] = in.ID
			short, _, _ := strings.Cut(in.PrivateDNS, ".")
			if _, taken := byDNS[short]; !taken {
				byDNS[short] = in.ID
			}
		}
	}
	// Two passes: the nodes that name an instance first, so that an
	// address match never takes an instance from its own node.
	lost := make([]bool, len(nodes))
	holder := map[string]int{}    // instance id -> index of its node
	matchedIn := map[string]int{} // instance id -> the pass that matched it
	for pass := range 2 {
		for i, n := range nodes {
			id := ""
			named := instanceIDFromProviderID(n.ProviderID)
			if named == "" {
				named = n.InstanceID
			}
			if (pass == 0) != (named != "") {
				continue
			}
			switch {
			case named != "":
				// A node that names its instance is matched by that name
				// only: private IPs and DNS names are reused, and a node of
				// a dead instance must not claim a new one.
				if ids[named] {
					id = named
				}
			case n.InternalIP != "" && byIP[n.InternalIP] != "":
				id = byIP[n.InternalIP]
			case byDNS[n.Name] != "":
				id = byDNS[n.Name]
			case n.Hostname != "" && byDNS[n.Hostname] != "":
				id = byDNS[n.Hostname]
			}
			if id == "" {
				lost[i] = true
				continue
			}
			if j, dup := holder[id]; dup {
				if matchedIn[id] != pass || !betterNode(n, nodes[j]) {
					lost[i] = true
					continue
				}
				lost[j] = true
			}
			holder[id], matchedIn[id] = i, pass
			byInstance[id] = n
		}
	}
	for i, n := range nodes {
		if lost[i] {
			unmatched = append(unmatched, n)
		}
	}
	return byInstance, unmatched
}

// foldStale folds into the node of each instance what must keep it
// (Node.keep) of the other nodes naming that instance by its id, which
// lost MatchNodes' contest: an agent registered again under a new name
// leaves its old Node, NotReady, and the local-path volumes pinned to the
// old name are still on the instance's disk. Their LocalData (each entry
// naming the old node) and ScaleDownDisabled keep the instance from
// scale-down and repair. It returns the unmatched nodes less those
// folded: the old Node alone says where that data is, so it is not
// deleted as an orphan.
func foldStale(byInstance map[string]Node, unmatched []Node) []Node {
	var rest []Node
	for _, n := range unmatched {
		id := instanceIDFromProviderID(n.ProviderID)
		if id == "" {
			id = n.InstanceID
		}
		node, ok := byInstance[id]
		if !ok || n.keep() == "" {
			rest = append(rest, n)
			continue
		}
		node.LocalData = slices.Clip(node.LocalData)
		for _, d := range n.LocalData {
			node.LocalData = append(node.LocalData, d+" on node "+n.Name+", an earlier registration of instance "+id)
		}
		node.ScaleDownDisabled = node.ScaleDownDisabled || n.ScaleDownDisabled
		byInstance[id] = node
	}
	return rest
}

// betterNode reports whether a, rather than b, is the node of an instance
// both claim: the Ready one, else the newer.
func betterNode(a, b Node) bool {
	if a.Ready != b.Ready {
		return a.Ready
	}
	return a.Created.After(b.Created)
}

// OfCluster reports whether the node is the fleet of cluster id's: its
// LabelCluster label (Node.Cluster) equals id. Only such nodes are ever
// deleted as orphans; a node of another node-fleet cluster, or one that
// carries only LabelInstanceID, is not (Node.Managed says only that the
// node belongs to some fleet).
func (n Node) OfCluster(id string) bool { return id != "" && n.Cluster == id }

// orphans returns, of the nodes MatchNodes matched to no instance, those
// of cluster id's fleet (Node.OfCluster) that are NotReady: the nodes an
// orphan deletion may remove.
func orphans(cluster string, unmatched []Node) []Node {
	var out []Node
	for _, n := range unmatched {
		if n.OfCluster(cluster) && !n.Ready {
			out = append(out, n)
		}
	}
	return out
}

// candidate is a node that could be removed, with its instance.
type candidate struct {
	Instance Instance
	Node     Node
}

// chooseVictims orders the removable candidates and returns the first n,
// each with the reason it was chosen. A candidate is removable when its
// node is Ready, schedulable (a node someone else cordoned is theirs: it is
// neither chosen nor, after a failed drain, uncordoned), not blocked
// (Node.ScaleDownBlocker empty), not kept (Node.keep: node-local data,
// scale-down-disabled) and its instance has no interruption notice. The order: fewer pods first; among as many pods, on-demand
// before spot (the dearer per unit of what it frees); among those, the
// candidate from the zone with the most workers (every candidate given
// counts as a worker of its zone, and each one chosen leaves its zone one
// fewer, so that a scale-down keeps the zones balanced: max - min <= 1
// where the other terms allow); then the lower move cost, then the newest
// instance, then the instance id (so the choice is deterministic). A
// worker's zone is its node's (Node.Zone), else its instance's.
func chooseVictims(cands []candidate, n int) ([]candidate, []string) {
	workers := map[string]int{}
	for _, c := range cands {
		workers[zoneOf(c)]++
	}
	var ok []candidate
	for _, c := range cands {
		if c.Node.Ready && !c.Node.Unschedulable && c.Node.ScaleDownBlocker == "" && c.Node.keep() == "" && c.Instance.InterruptionNotice.IsZero() {
			ok = append(ok, c)
		}
	}
	n = min(n, len(ok))
	out := make([]candidate, 0, n)
	reasons := make([]string, 0, n)
	left := slices.Clone(ok)
	for len(out) < n {
		best := 0
		for i := 1; i < len(left); i++ {
			if victimBefore(left[i], left[best], workers) {
				best = i
			}
		}
		c := left[best]
		left = slices.Delete(left, best, best+1)
		z := zoneOf(c)
		market := c.Instance.Market
		if market == "" {
			market = "unknown market"
		}
		where := ""
		if z != "" {
			where = fmt.Sprintf(" in zone %s (%d workers)", z, workers[z])
		}
		workers[z]--
		out = append(out, c)
		reasons = append(reasons, fmt.Sprintf("%s instance %s%s, %d pods to move, launched %s; %d removable candidates",
			market, c.Instance.ID, where, c.Node.Pods, c.Instance.LaunchTime.UTC().Format("2006-01-02 15:04:05"), len(ok)))
	}
	return out, reasons
}

// zoneOf returns the candidate's zone: its node's, else its instance's.
func zoneOf(c candidate) string {
	if c.Node.Zone != "" {
		return c.Node.Zone
	}
	return c.Instance.Zone
}

// victimBefore reports whether a goes before b in the victim order of
// chooseVictims, with workers the zones' worker counts now.
func victimBefore(a, b candidate, workers map[string]int) bool {
	if a.Node.Pods != b.Node.Pods {
		return a.Node.Pods < b.Node.Pods
	}
	if (a.Instance.Market == MarketOnDemand) != (b.Instance.Market == MarketOnDemand) {
		// The dearer per unit of what it frees goes first: an
		// on-demand node (about three times spot's price), such as
		// one launched when every spot pool was short.
		return a.Instance.Market == MarketOnDemand
	}
	if wa, wb := workers[zoneOf(a)], workers[zoneOf(b)]; wa != wb {
		return wa > wb
	}
	if a.Node.MoveCost != b.Node.MoveCost {
		return a.Node.MoveCost < b.Node.MoveCost
	}
	if !a.Instance.LaunchTime.Equal(b.Instance.LaunchTime) {
		return a.Instance.LaunchTime.After(b.Instance.LaunchTime)
	}
	return a.Instance.ID < b.Instance.ID
}

// hostLabel is the first DNS label of a host name, lower-cased: the part
// every form of an EC2 host name shares ("ip-10-0-1-23" of
// "ip-10-0-1-23.ec2.internal", "i-0abc" of
// "i-0abc.eu-west-1.compute.internal").
func hostLabel(name string) string {
	first, _, _ := strings.Cut(strings.ToLower(name), ".")
	return first
}

// pinnedData returns the node-local data of pinned (by the node name it
// is pinned to: NodeManager.PinnedData) that lives on instance in's disk:
// pinned to a name whose first label is that of one of the names its
// node can have had, whether or not a Node of that name exists now (its
// private DNS name, the IP-based host name of its private IP, its
// instance id as a resource-based host name, and the name and host name
// of its node when it has one; a name K3s's --with-node-id made of one
// of them too: withoutNodeID). Each entry names the node name it is
// pinned to. Matching on the first label errs towards keeping: a volume
// left by an earlier instance with the same private IP keeps a new one
// too, and its alert names the volume to delete. Names in except (exact)
// are passed over.
func pinnedData(in Instance, node *Node, pinned map[string][]string, except ...string) []string {
	if len(pinned) == 0 {
		return nil
	}
	mine := map[string]bool{}
	for _, name := range []string{in.PrivateDNS, in.ID} {
		if name != "" {
			mine[hostLabel(name)] = true
		}
	}
	if in.PrivateIP != "" {
		mine["ip-"+strings.ReplaceAll(in.PrivateIP, ".", "-")] = true
	}
	if node != nil {
		mine[hostLabel(node.Name)] = true
		if node.Hostname != "" {
			mine[hostLabel(node.Hostname)] = true
		}
	}
	var out []string
	for _, name := range sortedKeys(pinned) {
		base := withoutNodeID(hostLabel(name))
		if (!mine[hostLabel(name)] && (base == "" || !mine[base])) || slices.Contains(except, name) {
			continue
		}
		for _, d := range pinned[name] {
			out = append(out, d+" pinned to node name "+name)
		}
	}
	return out
}

// withoutNodeID returns a host label without the "-" and eight hex digits
// K3s's --with-node-id appends to the host name to make the node's name
// ("ip-10-0-1-23-1a2b3c4d" is host "ip-10-0-1-23"), or "" when it has no
// such suffix.
func withoutNodeID(label string) string {
	base, id, ok := cutLast(label, "-")
	if !ok || len(id) != 8 || strings.Trim(id, "0123456789abcdef") != "" {
		return ""
	}
	return base
}

// cutLast is strings.Cut at the last sep.
func cutLast(s, sep string) (before, after string, found bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// pinnedElsewhere returns the node-local data pinned to a host name of a
// Ready worker other than its node's own host name (its hostname label,
// else its name): ListNodes counts what the node's labels match, but not
// what is pinned to an earlier registration under another name (whose
// Node was deleted), nor to its name where its host name label differs,
// and its instance's disk holds them all.
func pinnedElsewhere(in Instance, node Node, pinned map[string][]string) []string {
	return pinnedData(in, &node, pinned, cmp.Or(node.Hostname, node.Name))
}
