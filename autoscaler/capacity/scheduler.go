package capacity

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// This file holds the scheduler's view of the cluster (what the pods ask
// for, what a new worker offers) and the pure arithmetic on it: packing
// pending pods onto new workers (PackPending, whose doc compares it with
// the scheduler), and simulating whether a node's pods fit elsewhere
// before it is removed (ScaleDownByFit). Reading the view from the
// Kubernetes API is the business of a MetricSource (metrics.KubeScheduler)
// and of the autoscaler's NodeManager (drain fills Node.Allocatable, Requested and
// Movable).

// PendingPod is a pod the scheduler could not place, as read from the
// Kubernetes API.
type PendingPod struct {
	// Namespace and Name name the pod.
	Namespace, Name string
	// Requests is what the scheduler reserves for the pod: the larger of
	// the sum of its containers' requests (sidecars included) and what
	// its init containers need while they run, plus its overhead; Pods
	// is 1.
	Requests Resources
	// Unplaceable, when not empty, says why no new worker could take the
	// pod: a nodeSelector or required node affinity the worker's labels
	// do not satisfy, a taint of the worker the pod does not tolerate, a
	// request larger than an empty worker offers. Such pods are left out
	// of the scale-up count.
	Unplaceable string
	// Apart, when not empty, names a group of pods of which one worker
	// holds at most one: a required pod anti-affinity on
	// kubernetes.io/hostname that matches the pod's own labels (the
	// replicas of a StatefulSet kept on separate nodes). PackPending puts
	// no two pods of a group on the same new worker.
	Apart string
	// Nominated, when not empty, is the node the scheduler nominated the
	// pod for after preempting lower-priority pods there (its
	// status.nominatedNodeName): it will run there once they are gone,
	// and they, pending in turn, are what may need a new worker. It is
	// neither packed onto new workers nor Placeable, but counts in
	// Demand.
	Nominated string
	// Zones, when not empty, are the only availability zones where a new
	// worker would let the pod run (a topology.kubernetes.io/zone
	// nodeSelector or required node affinity, a claim bound to a zonal
	// volume, a zone spread constraint with DoNotSchedule).
	Zones []string
	// PendingSince is when the pod became pending (its PodScheduled
	// condition's lastTransitionTime to False); zero when unknown. A pod
	// still pending after a worker launched since then became Ready with
	// room for it is one the view misjudges: it is marked Unplaceable by
	// the planner and drives no further launch.
	PendingSince time.Time `json:",omitempty"`
}

// Key returns "namespace/name".
func (p PendingPod) Key() string { return p.Namespace + "/" + p.Name }

// WorkerTemplate is what a new worker would offer the scheduler.
type WorkerTemplate struct {
	// InstanceType is the worker's instance type.
	InstanceType string
	// Allocatable is an empty new worker's allocatable.
	Allocatable Resources
	// DaemonSet is the sum of the requests of the DaemonSet pods that
	// would land on every new worker.
	DaemonSet Resources
	// Labels and Taints are the ones a new worker registers with.
	Labels map[string]string
	Taints []Taint
	// Source says where Allocatable comes from ("node ip-10-0-1-5", or
	// "t3.medium: 2 vCPU, 4 GiB, minus K3s reservations").
	Source string
}

// Free is what a new worker leaves for pods once its DaemonSet pods run:
// Allocatable minus DaemonSet.
func (t WorkerTemplate) Free() Resources { return t.Allocatable.Sub(t.DaemonSet) }

// Units returns r in worker units: the larger of r's CPU share and memory
// share of what a new worker leaves for pods (Free). 0 when the template
// offers nothing (unknown).
func (t WorkerTemplate) Units(r Resources) float64 {
	f := t.Free()
	if f.MilliCPU <= 0 || f.Memory <= 0 {
		return 0
	}
	return max(float64(r.MilliCPU)/float64(f.MilliCPU), float64(r.Memory)/float64(f.Memory))
}

// Taint is a Node taint, as the scheduler matches it against tolerations.
type Taint struct {
	Key, Value string
	// Effect is NoSchedule, PreferNoSchedule or NoExecute.
	Effect string
}

// String prints the taint as kubectl does: "key=value:Effect".
func (t Taint) String() string {
	if t.Value == "" {
		return t.Key + ":" + t.Effect
	}
	return t.Key + "=" + t.Value + ":" + t.Effect
}

// SchedulerView is the cluster as the scheduler sees it, read from the
// Kubernetes API in one pass per tick. A MetricSource that provides it sets
// Snapshot.Scheduler; when the read fails, Scheduler is nil and the
// PendingPods metric is missing (safety mode), never zero.
type SchedulerView struct {
	// Template is what a new worker offers.
	Template WorkerTemplate
	// Pending are the pods the scheduler could not place, placeable or
	// not.
	Pending []PendingPod
	// NodesNeeded is how many new workers the placeable pending pods
	// need, packed first-fit decreasing onto Template (see PackPending).
	NodesNeeded int
	// WorkerZones lists, for each of the NodesNeeded new workers, the
	// zones it must be launched in for its pods (Packing.Zones), nil for
	// a worker any zone will do.
	WorkerZones [][]string
	// Demand is the requests of the pods on the managed workers plus the
	// placeable pending pods, in worker units (CPU and memory, the
	// larger of the two; see WorkerTemplate.Units).
	Demand float64
}

// NewSchedulerView assembles the view from what was observed: the new
// worker's template, the requests of the pods running on the fleet's
// workers (DaemonSet and mirror pods aside: they are the workers'
// overhead, counted in the template), and the pending pods, those no new
// worker would take already marked Unplaceable. It marks the pods too
// large for an empty worker (tooLarge), packs the rest onto new workers
// (PackPending) for NodesNeeded, and counts Demand as running plus the
// placeable and nominated pending pods in worker units
// (WorkerTemplate.Units); nominated pods are not packed. It is
// the one computation of the view: metrics.KubeScheduler calls it on what
// it reads from the API, a simulator on its model. pending is not
// changed.
func NewSchedulerView(t WorkerTemplate, running Resources, pending []PendingPod) *SchedulerView {
	v := &SchedulerView{Template: t, Pending: slices.Clone(pending)}
	var placeable []PendingPod
	demand := running
	for i := range v.Pending {
		p := &v.Pending[i]
		if p.Unplaceable == "" && p.Nominated == "" {
			p.Unplaceable = tooLarge(*p, t)
		}
		switch {
		case p.Unplaceable != "":
		case p.Nominated != "":
			demand = demand.Add(p.Requests)
		default:
			placeable = append(placeable, *p)
			demand = demand.Add(p.Requests)
		}
	}
	pk := PackPending(t, placeable)
	v.NodesNeeded = pk.Nodes
	if slices.ContainsFunc(pk.Zones, func(z []string) bool { return z != nil }) {
		v.WorkerZones = pk.Zones
	}
	v.Demand = t.Units(demand)
	return v
}

// Marked returns a copy of the view in which each pending pod named in
// marks (by Key) is Unplaceable for the reason given, NodesNeeded and
// WorkerZones packed again for the rest, and Demand less the marked pods'
// requests in worker units (never below 0). v is not changed.
func (v *SchedulerView) Marked(marks map[string]string) *SchedulerView {
	out := *v
	out.Pending = slices.Clone(v.Pending)
	var gone Resources
	var placeable []PendingPod
	for i := range out.Pending {
		p := &out.Pending[i]
		if why, ok := marks[p.Key()]; ok && p.Unplaceable == "" {
			p.Unplaceable = why
			if p.Nominated == "" {
				gone = gone.Add(p.Requests)
			}
		}
		if p.Unplaceable == "" && p.Nominated == "" {
			placeable = append(placeable, *p)
		}
	}
	pk := PackPending(v.Template, placeable)
	out.NodesNeeded, out.WorkerZones = pk.Nodes, nil
	if slices.ContainsFunc(pk.Zones, func(z []string) bool { return z != nil }) {
		out.WorkerZones = pk.Zones
	}
	out.Demand = max(v.Demand-v.Template.Units(gone), 0)
	return &out
}

// Placeable returns the pending pods a new worker would help (neither
// Unplaceable nor Nominated): those that block a scale-down, as a node
// removed now would have to be launched again for them.
func (v *SchedulerView) Placeable() []PendingPod {
	var out []PendingPod
	for _, p := range v.Pending {
		if p.Unplaceable == "" && p.Nominated == "" {
			out = append(out, p)
		}
	}
	return out
}

// ToLaunch returns how many workers to launch for the pending pods when
// booting workers of the template are already on their way (launched,
// not yet Ready nodes): each of those takes a new worker's share, so
// NodesNeeded minus booting, never below 0.
func (v *SchedulerView) ToLaunch(booting int) int { return max(v.NodesNeeded-booting, 0) }

// Unplaceable returns the pending pods no new worker would help, with
// their reasons.
func (v *SchedulerView) Unplaceable() []PendingPod {
	var out []PendingPod
	for _, p := range v.Pending {
		if p.Unplaceable != "" {
			out = append(out, p)
		}
	}
	return out
}

// tooLarge says why pod p does not fit on an empty new worker of template
// t (its Free), naming each resource it asks too much of: "pod
// shop/checkout-7 requests 6 CPU; a new t3.medium worker offers 1.93". It
// returns "" when the pod fits.
func tooLarge(p PendingPod, t WorkerTemplate) string {
	free := t.Free()
	var parts []string
	if p.Requests.MilliCPU > free.MilliCPU {
		parts = append(parts, fmt.Sprintf("requests %s CPU; a new %s worker offers %s", FormatCPU(p.Requests.MilliCPU), t.InstanceType, FormatCPU(max(free.MilliCPU, 0))))
	}
	if p.Requests.Memory > free.Memory {
		parts = append(parts, fmt.Sprintf("requests %s of memory; a new %s worker offers %s", FormatMemory(p.Requests.Memory), t.InstanceType, FormatMemory(max(free.Memory, 0))))
	}
	if p.Requests.EphemeralStorage > 0 && p.Requests.EphemeralStorage > free.EphemeralStorage {
		parts = append(parts, fmt.Sprintf("requests %s of ephemeral storage; a new %s worker offers %s", FormatMemory(p.Requests.EphemeralStorage), t.InstanceType, FormatMemory(max(free.EphemeralStorage, 0))))
	}
	if p.Requests.Pods > free.Pods {
		parts = append(parts, fmt.Sprintf("needs a pod slot; a new %s worker has %d left after its DaemonSet pods", t.InstanceType, max(free.Pods, 0)))
	}
	if len(parts) == 0 {
		return ""
	}
	return "pod " + p.Key() + " " + strings.Join(parts, "; and it ")
}

// Packing is how pending pods go onto new workers (PackPending).
type Packing struct {
	// Nodes is the number of new workers needed.
	Nodes int
	// Workers lists, for each new worker in the order they were opened,
	// the pods ("namespace/name") packed onto it.
	Workers [][]string
	// Left are the pods no new worker takes: those already marked
	// Unplaceable, and those larger than an empty worker's Free (marked
	// here), in input order.
	Left []PendingPod
	// Zones lists, for each new worker, the availability zones it must
	// be launched in for its pods (the intersection of their
	// PendingPod.Zones), nil when any zone will do.
	Zones [][]string
}

// PackPending counts the new workers of template t that the pending pods
// need, first-fit decreasing: pods sorted by their larger share of a
// worker's Free (then by CPU, memory and name, so that the packing is the
// same every time), each put on the first worker opened so far with room
// and without a pod of its Apart group, else on a new one. Pods marked
// Unplaceable, and pods that do not fit an empty worker, are left out of
// the count and returned in Left; Nominated pods are left out and not
// returned. A template with nothing free (not known)
// places no pod.
//
// How this compares with the scheduler: kube-scheduler places one pod at
// a time, filters the nodes (resources, affinity, taints, topology
// spread, volumes, ports) and scores the rest, by default preferring the
// least allocated node, so it spreads where this packs. No placement holds
// the pods on fewer workers than the optimum; first-fit decreasing uses
// at most 11/9 of the optimum plus one on one resource, and stays close
// with CPU and memory together when, as usual, one of them dominates. So
// the count is about the fewest workers that can hold the pods; the
// scheduler's spreading over the new workers (and the existing ones with
// some room) can leave a few pods pending, which the next tick counts
// again. Pods that keep apart from their own kind by a required
// anti-affinity on the hostname (PendingPod.Apart) go one to a worker;
// pods that can run only in some zones (PendingPod.Zones) share a worker
// only with pods that can run in one of the same zones, and Zones says
// where each worker must go; other inter-pod rules (affinity to running
// pods, topology spread between the new workers) are not modelled and
// may need more workers than counted.
// The placement rules of a pod against a new worker as a whole
// (nodeSelector, required node affinity, taints, size) are checked by
// whoever marks PendingPod.Unplaceable (metrics.KubeScheduler).
func PackPending(t WorkerTemplate, pods []PendingPod) Packing {
	free := t.Free()
	var out Packing
	var todo []PendingPod
	for _, p := range pods {
		switch {
		case p.Unplaceable != "":
			out.Left = append(out.Left, p)
		case p.Nominated != "":
			// It waits for room on its nominated node.
		case !p.Requests.Fits(free):
			p.Unplaceable = tooLarge(p, t)
			out.Left = append(out.Left, p)
		default:
			todo = append(todo, p)
		}
	}
	type item struct {
		req        Resources
		key, apart string
		zones      []string
	}
	items := make([]item, len(todo))
	for i, p := range todo {
		items[i] = item{p.Requests, p.Key(), p.Apart, p.Zones}
	}
	slices.SortFunc(items, decreasing(free, func(it item) Resources { return it.req }, func(it item) string { return it.key }))
	var room []Resources
	var groups []map[string]bool // the Apart groups each worker holds
	for _, it := range items {
		i := -1
		for j, r := range room {
			if it.req.Fits(r) && (it.apart == "" || !groups[j][it.apart]) && (it.zones == nil || out.Zones[j] == nil || len(intersect(out.Zones[j], it.zones)) > 0) {
				i = j
				break
			}
		}
		if i < 0 {
			room = append(room, free)
			groups = append(groups, nil)
			out.Workers = append(out.Workers, nil)
			out.Zones = append(out.Zones, nil)
			i = len(room) - 1
		}
		if it.zones != nil {
			if out.Zones[i] == nil {
				out.Zones[i] = slices.Clone(it.zones)
			} else {
				out.Zones[i] = intersect(out.Zones[i], it.zones)
			}
		}
		room[i] = room[i].Sub(it.req)
		if it.apart != "" {
			if groups[i] == nil {
				groups[i] = map[string]bool{}
			}
			groups[i][it.apart] = true
		}
		out.Workers[i] = append(out.Workers[i], it.key)
	}
	out.Nodes = len(room)
	return out
}

// intersect returns the elements of a that are also in b, in a's order.
func intersect(a, b []string) []string {
	out := []string{}
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// decreasing orders items by their larger share of unit (CPU or memory),
// largest first, then by CPU, memory and key.
func decreasing[T any](unit Resources, req func(T) Resources, key func(T) string) func(a, b T) int {
	share := func(r Resources) float64 {
		var s float64
		if unit.MilliCPU > 0 {
			s = float64(r.MilliCPU) / float64(unit.MilliCPU)
		}
		if unit.Memory > 0 {
			s = max(s, float64(r.Memory)/float64(unit.Memory))
		}
		return s
	}
	return func(a, b T) int {
		ra, rb := req(a), req(b)
		if c := cmp.Or(cmp.Compare(share(rb), share(ra)), cmp.Compare(rb.MilliCPU, ra.MilliCPU), cmp.Compare(rb.Memory, ra.Memory)); c != 0 {
			return c
		}
		return strings.Compare(key(a), key(b))
	}
}

// DrainFit is the verdict of the scale-down simulation on one node.
type DrainFit struct {
	// Node is the node's name.
	Node string
	// Fits is true when the node's movable pods fit on the free
	// allocatable of the nodes that remain.
	Fits bool
	// Reason says why not, when !Fits.
	Reason string
}

// receives reports whether the scheduler can put pods on n: Ready, not
// cordoned, allocatable known.
func receives(n Node) bool { return n.Ready && !n.Unschedulable && !n.Allocatable.IsZero() }

// ScaleDownByFit is the scale-down simulation of cluster-autoscaler: it
// goes through candidates in the order given (the victim order, best
// first) and keeps up to limit of them whose pods fit on the free
// allocatable (Allocatable minus Requested) of the nodes in nodes that
// remain and can receive pods (Ready, not cordoned, allocatable known, not
// themselves chosen). Each chosen node's pods take up the room they were
// placed in, so that two nodes are never emptied into the same space, and
// a node that took pods in the simulation is not chosen after it.
// Candidates with a ScaleDownBlocker, or whose pods' requests are not
// known, are not chosen. It returns the chosen nodes and a verdict for
// every candidate considered (the loop stops once limit are chosen).
//
// A pod fits on a node when its requests (CPU, memory, ephemeral storage,
// a pod slot) fit the room left and, when the caller says where the
// pod may go (Node.MovablePods), the node is one it may run on
// (MovablePod.Nodes: node affinity, taints, pod anti-affinity with the
// pods there), in the zone of its volume (MovablePod.Zone), holds no other
// moved pod of its Apart group, and keeps its zone spread within MaxSkew.
// A node that is the last of its zone among the remaining nodes is never
// chosen while one of its pods has a volume in that zone: the pod could
// run nowhere else. Without MovablePods only resources are checked, so a
// node it lets go can still leave a pod pending; the next tick then sees
// it and scales up. For the same reason nodes should hold only the nodes
// ordinary pods may move to, such as the fleet's workers matched to its
// instances: a K3s server tainted NoSchedule, listed by a NodeManager
// without a node selector, would otherwise count as room.
func ScaleDownByFit(candidates, nodes []Node, limit int) (chosen []Node, verdicts []DrainFit) {
	sim := newFitSim(nodes)
	took := map[string]string{} // receiving node -> the first node whose pods it took
	for _, c := range candidates {
		if len(chosen) >= limit {
			break
		}
		v := DrainFit{Node: c.Name}
		switch {
		case c.ScaleDownBlocker != "":
			v.Reason = c.ScaleDownBlocker
		case took[c.Name] != "":
			v.Reason = "it takes pods of node " + took[c.Name] + " in this scale-down"
		case c.Pods > 0 && len(c.Movable) != c.Pods:
			v.Reason = fmt.Sprintf("the requests of its %d pod(s) are not known", c.Pods)
		default:
			next, into, why := sim.move(c)
			if why != "" {
				v.Reason = why
				break
			}
			for _, n := range into {
				if took[n] == "" {
					took[n] = c.Name
				}
			}
			sim = next
			sim.gone[c.Name] = true
			v.Fits = true
			chosen = append(chosen, c)
		}
		verdicts = append(verdicts, v)
	}
	return chosen, verdicts
}
