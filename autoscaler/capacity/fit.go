package capacity

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Node is a node as the scale-down simulation sees it: a candidate for
// removal, or one that may receive the pods of the removed. The
// autoscaler's Node carries these fields (autoscaler.Node.Capacity).
type Node struct {
	// Name is the Node object's name.
	Name string
	// Zone is the node's availability zone, empty when unknown.
	Zone string
	// Ready is the node's Ready condition; Unschedulable is true when it
	// is cordoned. Only a Ready, schedulable node receives pods.
	Ready, Unschedulable bool
	// Pods is the number of pods a drain would have to move.
	Pods int
	// ScaleDownBlocker, when not empty, says why the node must not be
	// removed.
	ScaleDownBlocker string
	// Allocatable is the node's allocatable; Requested the sum of the
	// requests of every pod bound to it that has not finished; Movable
	// the requests of each pod a drain would move (the pods counted in
	// Pods). Zero Allocatable: not known, and the node receives no pods.
	Allocatable Resources
	Requested   Resources
	Movable     []Resources
	// MovablePods, when known, are the pods counted in Movable (one
	// each, in the same order) with where each may go; nil: only their
	// requests are known.
	MovablePods []MovablePod
}

// MovablePod is one pod a drain would move, with what the scale-down
// simulation (ScaleDownByFit) needs to know of where it may go. Whoever
// has the cluster's objects computes it (node-fleet's drain package does,
// with k8s.io/component-helpers' rules); the simulation itself stays a
// pure function of these values.
type MovablePod struct {
	// Key is "namespace/name".
	Key string
	// Requests is what the scheduler reserves for the pod (Pods 1).
	Requests Resources
	// Zone, when not empty, is the only availability zone the pod can
	// run in: a volume it uses lives there (a PersistentVolume with a
	// node affinity on the zone, such as an EBS volume's).
	Zone string
	// Nodes, when not nil, are the names of the only nodes the pod may
	// move to: those its nodeSelector and required node affinity select,
	// whose NoSchedule and NoExecute taints it tolerates, that its
	// volumes' node affinity admits, and where no pod already running
	// keeps it away by a required pod anti-affinity (its own or theirs).
	// nil means any node; an empty, non-nil list means none.
	Nodes []string
	// Apart, when not empty, names a group of pods of which one node
	// holds at most one (a required pod anti-affinity on
	// kubernetes.io/hostname matching the pod's own labels, as
	// PendingPod.Apart): two moved pods of a group never land on one
	// node.
	Apart string
	// Spread, when not nil, is the pod's topology spread constraint over
	// zones with whenUnsatisfiable DoNotSchedule.
	Spread *ZoneSpread
}

// ZoneSpread is a topology spread constraint over zones that the
// scheduler enforces (DoNotSchedule): a pod may go to a zone only when,
// after it, the zone holds at most MaxSkew more matching pods than the
// zone that holds the fewest.
type ZoneSpread struct {
	// Group identifies the pods the constraint counts (namespace and
	// selector); pods that share it share the counts.
	Group string
	// MaxSkew is the constraint's maxSkew (at least 1).
	MaxSkew int
	// Counts are the matching pods in each zone the pod is eligible for
	// (zones with none included, as 0), as they are now.
	Counts map[string]int
}

// movablePods returns the node's pods to move with their placement
// rules: Node.MovablePods when it is filled for every pod,
// else Node.Movable with no rule beyond resources.
func movablePods(n Node) []MovablePod {
	if len(n.MovablePods) == len(n.Movable) && len(n.MovablePods) > 0 {
		return n.MovablePods
	}
	out := make([]MovablePod, len(n.Movable))
	for i, r := range n.Movable {
		out[i] = MovablePod{Requests: r}
	}
	return out
}

// fitSim is the state of one scale-down simulation: the room left on each
// receiving node, the Apart groups each holds, and the spread counts.
type fitSim struct {
	nodes  []Node // the receiving nodes, in the order given
	room   map[string]Resources
	groups map[string]map[string]bool // node -> Apart groups moved there
	spread map[string]map[string]int  // group -> zone -> matching pods
	gone   map[string]bool
}

func newFitSim(nodes []Node) *fitSim {
	s := &fitSim{room: map[string]Resources{}, groups: map[string]map[string]bool{}, spread: map[string]map[string]int{}, gone: map[string]bool{}}
	for _, n := range nodes {
		if receives(n) {
			s.nodes = append(s.nodes, n)
			s.room[n.Name] = n.Allocatable.Sub(n.Requested)
		}
	}
	return s
}

// clone copies the state that a trial changes.
func (s *fitSim) clone() *fitSim {
	c := &fitSim{nodes: s.nodes, room: maps.Clone(s.room), groups: map[string]map[string]bool{}, spread: map[string]map[string]int{}, gone: s.gone}
	for k, v := range s.groups {
		c.groups[k] = maps.Clone(v)
	}
	for k, v := range s.spread {
		c.spread[k] = maps.Clone(v)
	}
	return c
}

// move tries to place every pod of node c on the remaining nodes. It
// returns the new state and the nodes that took pods, or why not.
func (s *fitSim) move(c Node) (*fitSim, []string, string) {
	pods := movablePods(c)
	var remaining []Node
	for _, n := range s.nodes {
		if n.Name != c.Name && !s.gone[n.Name] {
			remaining = append(remaining, n)
		}
	}
	// A zonal volume cannot follow its pod out of its zone.
	for _, p := range pods {
		if p.Zone != "" && !slices.ContainsFunc(remaining, func(n Node) bool { return n.Zone == p.Zone }) {
			return nil, nil, fmt.Sprintf("it is the last worker of zone %s, where the volume of pod %s lives", p.Zone, p.Key)
		}
	}
	t := s.clone()
	for _, p := range pods {
		if p.Spread != nil {
			counts := t.counts(p.Spread)
			if _, ok := counts[c.Zone]; ok && counts[c.Zone] > 0 {
				counts[c.Zone]--
			}
		}
	}
	unit := Resources{}
	for _, n := range remaining {
		f := t.room[n.Name]
		unit.MilliCPU, unit.Memory = max(unit.MilliCPU, f.MilliCPU), max(unit.Memory, f.Memory)
	}
	order := make([]int, len(pods))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, decreasing(unit, func(i int) Resources { return pods[i].Requests }, func(int) string { return "" }))
	var took []string
	for _, i := range order {
		p := pods[i]
		j := slices.IndexFunc(remaining, func(n Node) bool { return t.admits(p, n) })
		if j < 0 {
			return nil, nil, t.why(p, remaining)
		}
		n := remaining[j]
		t.room[n.Name] = t.room[n.Name].Sub(p.Requests)
		if p.Apart != "" {
			if t.groups[n.Name] == nil {
				t.groups[n.Name] = map[string]bool{}
			}
			t.groups[n.Name][p.Apart] = true
		}
		if p.Spread != nil {
			t.counts(p.Spread)[n.Zone]++
		}
		took = append(took, n.Name)
	}
	return t, took, ""
}

// counts returns the simulation's counts of the spread's group, starting
// from the pod's.
func (s *fitSim) counts(z *ZoneSpread) map[string]int {
	c, ok := s.spread[z.Group]
	if !ok {
		c = maps.Clone(z.Counts)
		if c == nil {
			c = map[string]int{}
		}
		s.spread[z.Group] = c
	}
	return c
}

// admits reports whether node n can take pod p now.
func (s *fitSim) admits(p MovablePod, n Node) bool {
	return p.Requests.Fits(s.room[n.Name]) && s.placeable(p, n) == ""
}

// placeable says which placement rule keeps p off n, or "".
func (s *fitSim) placeable(p MovablePod, n Node) string {
	switch {
	case p.Zone != "" && n.Zone != p.Zone:
		return "its volume's zone"
	case p.Nodes != nil && !slices.Contains(p.Nodes, n.Name):
		return "node affinity, taints or pod anti-affinity"
	case p.Apart != "" && s.groups[n.Name][p.Apart]:
		return "pod anti-affinity with another moved pod"
	case p.Spread != nil && !s.spreadAllows(p.Spread, n.Zone):
		return "topology spread over zones"
	}
	return ""
}

// spreadAllows reports whether one more pod of the spread's group in zone
// keeps the skew within MaxSkew.
func (s *fitSim) spreadAllows(z *ZoneSpread, zone string) bool {
	c := s.counts(z)
	have, eligible := c[zone]
	if zone == "" || !eligible {
		return false
	}
	least := have + 1
	for _, v := range c {
		least = min(least, v)
	}
	return have+1-least <= max(z.MaxSkew, 1)
}

// why says why pod p fits on none of the remaining nodes.
func (s *fitSim) why(p MovablePod, remaining []Node) string {
	what := fmt.Sprintf("a pod requesting %s CPU and %s", FormatCPU(p.Requests.MilliCPU), FormatMemory(p.Requests.Memory))
	if p.Key != "" {
		what = "pod " + p.Key + " (requesting " + FormatCPU(p.Requests.MilliCPU) + " CPU and " + FormatMemory(p.Requests.Memory) + ")"
	}
	var rules []string
	for _, n := range remaining {
		if r := s.placeable(p, n); r != "" && !slices.Contains(rules, r) {
			rules = append(rules, r)
		}
	}
	msg := fmt.Sprintf("%s fits on none of the %d remaining node(s)", what, len(remaining))
	if len(rules) > 0 {
		msg += " (kept off some by " + strings.Join(rules, ", ") + ")"
	}
	return msg
}
