package sim

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/capacity"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
	"github.com/node-fleet/node-fleet/decision"
)

// world is the real model's cluster: Deployments scaled by an HPA, pods
// bound to nodes by a scheduler, served load, Prometheus's samples. It
// produces what the autoscaler observes through the same types the
// production sources fill (Snapshot with the scheduler's view built by
// capacity.NewSchedulerView), never the demand itself.
type world struct {
	cfg   *Config
	m     *Model
	rng   *rand.Rand
	res   time.Duration
	nodes map[string]*wnode // by instance id
	order []*wnode          // the scheduler's node order (launch order)
	ghost map[string]bool

	unitMilli float64   // CPU of one demand unit
	units     []float64 // demand units one pod of each kind serves
	pending   []*wpod   // unbound pods, oldest first
	bound     []*wpod
	replicas  []int
	recs      [][]hpaRec // per kind, the recommendations of the down window
	seq       int
	drained   map[string]time.Time // instance id -> drain time
	// newlyPending is set when a pod became pending since the last tick
	// (the daemon's watch triggers on it).
	newlyPending bool

	samples []sample // Prometheus's last RateWindow of scrapes
	// What was served in the last step, per kind, in units.
	unserved, demand float64
}

type wnode struct {
	id, name string
	spot     bool
	readyAt  time.Time // zero while booting
	cordoned bool
	used     capacity.Resources
	pods     int
}

type wpod struct {
	kind    int
	seq     int
	node    *wnode
	serveAt time.Time
}

type hpaRec struct {
	at  time.Time
	rec int
}

type sample struct {
	at       time.Time
	cpu, mem float64 // NaN when no worker was Ready
}

func newWorld(cfg *Config, rng *rand.Rand) *world {
	m := cfg.model
	w := &world{cfg: cfg, m: m, rng: rng, res: cfg.Resolution, nodes: map[string]*wnode{}, ghost: map[string]bool{},
		drained: map[string]time.Time{}, replicas: make([]int, len(m.Mix)), recs: make([][]hpaRec, len(m.Mix))}
	w.unitMilli = float64(m.Template.Free().MilliCPU) / cfg.PodsPerNode
	for _, k := range m.Mix {
		w.units = append(w.units, float64(k.Requests.MilliCPU)/w.unitMilli)
	}
	return w
}

// roundUp rounds d up to the model's step.
func (w *world) roundUp(d time.Duration) time.Duration {
	return (d + w.res - 1) / w.res * w.res
}

// sync brings the nodes in line with the fleet's active instances; nm is
// read for cordons. Instances new to it are drawn ghosts or not.
func (w *world) sync(ins []autoscaler.Instance, fleet *fake.Fleet, nm *fake.Nodes) {
	live := map[string]bool{}
	for _, in := range ins {
		if !in.State.Active() {
			continue
		}
		live[in.ID] = true
		n := w.nodes[in.ID]
		if n == nil {
			n = &wnode{id: in.ID, name: fake.NodeName(in.ID), spot: in.Market == autoscaler.MarketSpot}
			if w.m.GhostShare > 0 && w.rng.Float64() < w.m.GhostShare {
				w.ghost[in.ID] = true
				nm.NeverJoin(in.ID)
			}
			w.nodes[in.ID] = n
			w.order = append(w.order, n)
		}
		if n.readyAt.IsZero() && !w.ghost[in.ID] {
			n.readyAt = fleet.RunningSince(in.ID)
		}
		if node, ok := nm.Get(n.name); ok {
			n.cordoned = node.Unschedulable
		}
	}
	keep := w.order[:0]
	for _, n := range w.order {
		if live[n.id] {
			keep = append(keep, n)
			continue
		}
		// Gone (terminated, reclaimed): its pods are lost and the
		// ReplicaSet makes new ones, pending.
		w.evict(n)
		delete(w.nodes, n.id)
	}
	w.order = keep
}

// ready reports whether n takes and serves pods at now.
func (w *world) ready(n *wnode, now time.Time) bool {
	return !n.readyAt.IsZero() && !now.Before(n.readyAt)
}

// evict unbinds n's pods: they are pending again, to be bound elsewhere
// and serve only PodStart after that.
func (w *world) evict(n *wnode) {
	keep := w.bound[:0]
	for _, p := range w.bound {
		if p.node == n {
			p.node = nil
			w.pending = append(w.pending, p)
			w.newlyPending = true
			continue
		}
		keep = append(keep, p)
	}
	w.bound = keep
	slices.SortFunc(w.pending, func(a, b *wpod) int { return a.seq - b.seq })
	n.used, n.pods = capacity.Resources{}, 0
}

// drain is a drain of node name begun at now (the NodeManager's Drain).
func (w *world) drain(name string, now time.Time) {
	for _, n := range w.order {
		if n.name == name {
			n.cordoned = true
			w.evict(n)
			w.drained[n.id] = now
			return
		}
	}
}

// hpa runs the horizontal pod autoscaler's sync at now.
func (w *world) hpa(now time.Time) {
	seen := w.cfg.demandAt(now.Add(-w.m.HPALag))
	for k, kind := range w.m.Mix {
		rec := int(math.Ceil(kind.Share*seen/w.units[k] - 1e-9))
		rec = max(rec, 1)
		cur := w.replicas[k]
		h := append(w.recs[k], hpaRec{now, rec})
		i := 0
		for i < len(h) && now.Sub(h[i].at) > w.m.HPADownWindow {
			i++
		}
		w.recs[k] = h[i:]
		want := cur
		switch {
		case rec > cur:
			want = min(rec, cur+max(4, cur))
		case rec < cur:
			stab := rec
			for _, r := range w.recs[k] {
				stab = max(stab, r.rec)
			}
			want = min(cur, stab)
		}
		w.scale(k, want)
	}
}

// scale sets kind k's replicas, creating pending pods or deleting pods
// as a ReplicaSet does (unbound first, then not yet serving, then the
// newest).
func (w *world) scale(k, want int) {
	for w.replicas[k] < want {
		w.seq++
		w.pending = append(w.pending, &wpod{kind: k, seq: w.seq})
		w.replicas[k]++
		w.newlyPending = true
	}
	for w.replicas[k] > want {
		w.replicas[k]--
		if i := lastIndex(w.pending, k); i >= 0 {
			w.pending = slices.Delete(w.pending, i, i+1)
			continue
		}
		// The bound pod of kind k that serves last (or not yet).
		j := -1
		for i, p := range w.bound {
			if p.kind == k && (j < 0 || p.serveAt.After(w.bound[j].serveAt) || (p.serveAt.Equal(w.bound[j].serveAt) && p.seq > w.bound[j].seq)) {
				j = i
			}
		}
		p := w.bound[j]
		p.node.used = p.node.used.Sub(w.m.Mix[k].Requests)
		p.node.pods--
		w.bound = slices.Delete(w.bound, j, j+1)
	}
}

func lastIndex(ps []*wpod, k int) int {
	for i := len(ps) - 1; i >= 0; i-- {
		if ps[i].kind == k {
			return i
		}
	}
	return -1
}

// schedule binds pending pods, oldest first, each to the first Ready,
// schedulable node with room for it.
func (w *world) schedule(now time.Time) {
	if len(w.pending) == 0 {
		return
	}
	free := w.m.Template.Free()
	serve := now.Add(w.roundUp(w.m.PodStart))
	keep := w.pending[:0]
	for _, p := range w.pending {
		req := w.m.Mix[p.kind].Requests
		var to *wnode
		for _, n := range w.order {
			if !n.cordoned && w.ready(n, now) && n.used.Add(req).Fits(free) {
				to = n
				break
			}
		}
		if to == nil {
			keep = append(keep, p)
			continue
		}
		to.used, to.pods = to.used.Add(req), to.pods+1
		p.node, p.serveAt = to, serve
		w.bound = append(w.bound, p)
	}
	w.pending = keep
}

// serve accounts the step at now: the demand, what the serving pods
// cover of it, and Prometheus's view when a scrape is due.
func (w *world) serve(now time.Time) {
	d := w.m.HPATarget * w.cfg.demandAt(now) // the load
	w.demand = d
	capacity := make([]float64, len(w.m.Mix))
	var mem float64
	for _, p := range w.bound {
		if !now.Before(p.serveAt) && w.ready(p.node, now) {
			capacity[p.kind] += w.units[p.kind]
			mem += float64(w.m.Mix[p.kind].Requests.Memory)
		}
	}
	w.unserved = 0
	served := 0.0
	for k, kind := range w.m.Mix {
		load := kind.Share * d
		w.unserved += math.Max(0, load-capacity[k])
		served += math.Min(load, capacity[k])
	}
	if now.Sub(w.cfg.Start)%w.m.Scrape != 0 {
		return
	}
	ready := 0
	for _, n := range w.order {
		if w.ready(n, now) {
			ready++
		}
	}
	s := sample{at: now, cpu: math.NaN(), mem: math.NaN()}
	if ready > 0 {
		a, ds := w.m.Template.Allocatable, w.m.Template.DaemonSet
		// Pods use CPU for the load they serve; DaemonSets half their
		// requests; the pods hold 80% of their memory requests.
		cpu := served*w.unitMilli + float64(ready)*0.5*float64(ds.MilliCPU)
		s.cpu = 100 * cpu / (float64(ready) * float64(a.MilliCPU))
		s.mem = 100 * (0.8*mem + float64(ready)*float64(ds.Memory)) / (float64(ready) * float64(a.Memory))
	}
	w.samples = append(w.samples, s)
	i := 0
	for i < len(w.samples) && now.Sub(w.samples[i].at) >= w.m.RateWindow {
		i++
	}
	w.samples = w.samples[i:]
}

// noisy adds the readings' noise and keeps a percentage in 0-100.
func (w *world) noisy(v float64) float64 {
	return math.Min(100, math.Max(0, v+w.m.Noise*w.rng.NormFloat64()))
}

// snapshot is what the autoscaler's MetricSource returns at now: CPU as a
// rate over the window of scrapes, memory as the last scrape, both noisy;
// pending pods and the scheduler's view read live from the API; the
// workload's load (decision.MetricLoad, with Config.Load) as old as the
// HPA's metric.
func (w *world) snapshot(now time.Time) autoscaler.Snapshot {
	s := autoscaler.Snapshot{Time: now, CPU: autoscaler.Missing(fmt.Errorf("no worker scraped")), Memory: autoscaler.Missing(fmt.Errorf("no worker scraped"))}
	var sum float64
	n := 0
	for _, x := range w.samples {
		if !math.IsNaN(x.cpu) {
			sum += x.cpu
			n++
		}
	}
	if n > 0 {
		s.CPU = autoscaler.Value(w.noisy(sum/float64(n)), now)
	}
	if k := len(w.samples); k > 0 && !math.IsNaN(w.samples[k-1].mem) {
		s.Memory = autoscaler.Value(w.noisy(w.samples[k-1].mem), w.samples[k-1].at)
	}
	s.PendingPods = autoscaler.Value(float64(len(w.pending)), now)
	var running capacity.Resources
	for _, p := range w.bound {
		running = running.Add(w.m.Mix[p.kind].Requests)
	}
	pending := make([]capacity.PendingPod, len(w.pending))
	for i, p := range w.pending {
		pending[i] = capacity.PendingPod{Namespace: "sim", Name: w.m.Mix[p.kind].Name + "-" + strconv.Itoa(p.seq), Requests: w.m.Mix[p.kind].Requests}
	}
	s.Scheduler = capacity.NewSchedulerView(w.m.Template, running, pending)
	// The load (decision.MetricLoad), as a request-rate query gives it:
	// as old as the HPA's metric, in demand units at the HPA's target.
	if w.cfg.Load {
		at := now.Add(-w.m.HPALag)
		s.Custom = map[string]autoscaler.Metric{decision.MetricLoad: autoscaler.Value(w.m.HPATarget*w.cfg.demandAt(at), at)}
	}
	return s.WithDemand()
}

// annotate gives the fake nodes their pods as the drain package reads
// them (Pods, MoveCost, Allocatable, Requested with the DaemonSet pods,
// Movable), for the core's choice of victims and its simulation of where
// their pods would go (capacity.ScaleDownByFit).
func (w *world) annotate(nm *fake.Nodes) {
	movable := map[*wnode][]capacity.Resources{}
	for _, p := range w.bound {
		movable[p.node] = append(movable[p.node], w.m.Mix[p.kind].Requests)
	}
	alloc, ds := w.m.Template.Allocatable, w.m.Template.DaemonSet
	for _, n := range w.order {
		pods, cost, used, mv := n.pods, float64(n.used.MilliCPU), n.used.Add(ds), movable[n]
		nm.Update(n.name, func(node *autoscaler.Node) {
			node.Pods, node.MoveCost = pods, cost
			node.Allocatable, node.Requested, node.Movable = alloc, used, mv
		})
	}
}

// drainingNodes wraps the fake NodeManager: a drain evicts the node's
// pods in the model (they are pending until they run elsewhere) and is
// billed DrainTime more.
type drainingNodes struct {
	*fake.Nodes
	w   *world
	now func() time.Time
}

// Drain implements autoscaler.NodeManager.
func (d drainingNodes) Drain(ctx context.Context, name string) error {
	if err := d.Nodes.Drain(ctx, name); err != nil {
		return err
	}
	d.w.drain(name, d.now())
	return nil
}

// Cordon implements autoscaler.NodeManager.
func (d drainingNodes) Cordon(ctx context.Context, name string) error {
	return d.markCordoned(name, true, d.Nodes.Cordon(ctx, name))
}

// Uncordon implements autoscaler.NodeManager.
func (d drainingNodes) Uncordon(ctx context.Context, name string) error {
	return d.markCordoned(name, false, d.Nodes.Uncordon(ctx, name))
}

// markCordoned records in the world whether the node name is cordoned,
// once the fake nodes have done it (err is nil); it returns err.
func (d drainingNodes) markCordoned(name string, cordoned bool, err error) error {
	if err != nil {
		return err
	}
	if n := d.w.byName(name); n != nil {
		n.cordoned = cordoned
	}
	return nil
}

func (w *world) byName(name string) *wnode {
	for _, n := range w.order {
		if n.name == name {
			return n
		}
	}
	return nil
}

// lognormalBoot draws a boot-and-join time.
func lognormalBoot(m *Model, rng *rand.Rand) time.Duration {
	d := time.Duration(float64(m.BootMedian) * math.Exp(m.bootSigma()*rng.NormFloat64()))
	return min(max(d, m.BootMin), m.BootMax).Round(time.Second)
}

// warmPods creates the pods the HPA wants for the demand at t.
func (w *world) warmPods(t time.Time) {
	d := w.cfg.demandAt(t)
	for k, kind := range w.m.Mix {
		rec := max(1, int(math.Ceil(kind.Share*d/w.units[k]-1e-9)))
		w.recs[k] = append(w.recs[k], hpaRec{t, rec})
		w.scale(k, rec)
	}
}

// warm starts the run in a steady state: the pods for the first step's
// demand exist and serve on the initial fleet.
func (w *world) warm(t time.Time) {
	w.warmPods(t)
	w.schedule(t)
	for _, p := range w.bound {
		p.serveAt = t
	}
	w.newlyPending = false
}
