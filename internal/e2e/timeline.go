package e2e

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/node-fleet/node-fleet/ec2fleet"
)

// Event is one line of the timeline.
type Event struct {
	// At is when the recorder saw it.
	At time.Time
	// What says what happened ("node ip-10-40-10-5 Ready").
	What string
}

// podTrack is what the recorder saw of one pod.
type podTrack struct {
	name, app            string
	created, scheduled   time.Time
	ready, unschedulable time.Time
	gone                 time.Time
}

// nodeTrack is what the recorder saw of one worker Node.
type nodeTrack struct {
	seen, ready, cordoned, gone time.Time
	zone                        string
	readyNow                    bool
}

// Recorder watches the run, four times a second, and keeps its timeline:
// the scenario's marks (sale, sale over...), pods (created, unschedulable,
// scheduled, Ready), worker Nodes (registered, Ready, cordoned, deleted),
// the fleet's instances in EC2 or Karpenter's NodeClaims, and the K3s
// server instance's state. It integrates node-seconds and pod-seconds
// spent pending, and the largest number of a Deployment's replicas
// unavailable in the measured windows.
type Recorder struct {
	kube     kubernetes.Interface
	dyn      dynamic.Interface // NodeClaims, Karpenter runs only
	ec2      *ec2.Client       // node-fleet runs only
	stack    *Stack
	ns       string
	apps     []string
	isWorker func(*corev1.Node) bool
	poll     time.Duration

	mu                 sync.Mutex
	start              time.Time
	events             []Event
	marks              map[string]time.Time
	pods               map[string]*podTrack
	nodes              map[string]*nodeTrack
	launches           map[string]time.Time // instance id or NodeClaim name: first seen
	terminated         map[string]time.Time
	zones              map[string]string // instance id: zone
	maxFleet, maxNodes int
	fleetNow           int
	minWorkers         int // since the baseline; -1 before
	nodeSeconds        float64
	serverStates       map[string]bool
	watchPDB           bool
	maxUnavailable     map[string]int
	boundEarly         int // pods bound to a worker not yet Ready
	errs               []string
}

// NodeClaims is Karpenter's NodeClaim resource.
var NodeClaims = schema.GroupVersionResource{Group: "karpenter.sh", Version: "v1", Resource: "nodeclaims"}

// RecorderConfig configures a Recorder.
type RecorderConfig struct {
	Kube kubernetes.Interface
	// Dyn, when set, lists Karpenter's NodeClaims as its launches.
	Dyn dynamic.Interface
	// EC2 and Stack, when set, list the fleet's instances as launches and
	// watch the server instance.
	EC2   *ec2.Client
	Stack *Stack
	// Namespace and Apps are the Deployments of the scenario (their pods
	// carry the label app=NAME).
	Namespace string
	Apps      []string
	// IsWorker says which Nodes count as workers (not the K3s server).
	IsWorker func(*corev1.Node) bool
}

// NewRecorder starts recording until ctx ends.
func NewRecorder(ctx context.Context, cfg RecorderConfig) *Recorder {
	r := &Recorder{kube: cfg.Kube, dyn: cfg.Dyn, ec2: cfg.EC2, stack: cfg.Stack, ns: cfg.Namespace, apps: cfg.Apps, isWorker: cfg.IsWorker,
		poll: 250 * time.Millisecond, start: time.Now(), marks: map[string]time.Time{}, pods: map[string]*podTrack{},
		nodes: map[string]*nodeTrack{}, launches: map[string]time.Time{}, terminated: map[string]time.Time{},
		serverStates: map[string]bool{}, maxUnavailable: map[string]int{}, zones: map[string]string{}, minWorkers: -1}
	// Two loops: a slow EC2 answer (moto on a loaded machine) must not
	// hide the pods' and nodes' changes meanwhile.
	for _, fleet := range []bool{false, true} {
		go func() {
			last := time.Now()
			t := time.NewTicker(r.poll)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case now := <-t.C:
					if fleet {
						r.sampleFleet(ctx, now)
					} else {
						r.sample(ctx, now, now.Sub(last).Seconds())
					}
					last = now
				}
			}
		}()
	}
	return r
}

// Mark records a scenario step (sale, sale over...).
func (r *Recorder) Mark(name string) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	r.marks[name] = now
	r.events = append(r.events, Event{now, "== " + name})
	return now
}

// WatchDisruption starts (or stops) counting the Deployments' unavailable
// replicas: from the moment the sale is over and they are all Ready.
func (r *Recorder) WatchDisruption(on bool) {
	r.mu.Lock()
	r.watchPDB = on
	r.mu.Unlock()
}

func (r *Recorder) add(at time.Time, format string, args ...any) {
	r.events = append(r.events, Event{at, fmt.Sprintf(format, args...)})
}

func (r *Recorder) sample(ctx context.Context, now time.Time, dt float64) {
	pods, perr := r.kube.CoreV1().Pods(r.ns).List(ctx, metav1.ListOptions{})
	nodes, nerr := r.kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	deps, derr := r.kube.AppsV1().Deployments(r.ns).List(ctx, metav1.ListOptions{})
	if ctx.Err() != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, err := range []error{perr, nerr, derr} {
		if err != nil {
			r.errs = append(r.errs, err.Error())
		}
	}
	if perr != nil || nerr != nil || derr != nil {
		return
	}
	r.sampleKubeLocked(now, dt, pods.Items, nodes.Items, deps.Items)
}

// sampleFleet reads the fleet's instances in EC2 (or Karpenter's
// NodeClaims) and the server instance.
func (r *Recorder) sampleFleet(ctx context.Context, now time.Time) {
	var launched []string
	var terminated []string
	var fleet int
	var lerr error
	serverState := ""
	switch {
	case r.ec2 != nil:
		var out *ec2.DescribeInstancesOutput
		out, lerr = r.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
			{Name: aws.String("tag:" + ec2fleet.TagCluster), Values: []string{r.stack.ClusterID}}}})
		if lerr == nil {
			for _, res := range out.Reservations {
				for _, in := range res.Instances {
					id := aws.ToString(in.InstanceId)
					if id == r.stack.ServerInstance {
						serverState = string(in.State.Name)
						continue
					}
					switch in.State.Name {
					case ec2types.InstanceStateNamePending, ec2types.InstanceStateNameRunning:
						fleet++
						launched = append(launched, id+" in "+aws.ToString(in.Placement.AvailabilityZone))
					default:
						terminated = append(terminated, id)
					}
				}
			}
		}
	case r.dyn != nil:
		list, err := r.dyn.Resource(NodeClaims).List(ctx, metav1.ListOptions{})
		lerr = err
		if err == nil {
			for _, nc := range list.Items {
				if nc.GetDeletionTimestamp() == nil {
					fleet++
				}
				l := nc.GetName()
				if z := nc.GetLabels()[corev1.LabelTopologyZone]; z != "" {
					l += " in " + z
				}
				launched = append(launched, l)
			}
		}
	}
	if ctx.Err() != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if lerr != nil {
		r.errs = append(r.errs, lerr.Error())
		return
	}
	if serverState != "" && !r.serverStates[serverState] {
		r.serverStates[serverState] = true
		r.add(now, "K3s server instance %s %s", r.stack.ServerInstance, serverState)
	}
	for _, l := range launched {
		id, zone, _ := strings.Cut(l, " in ")
		if _, ok := r.launches[id]; !ok {
			r.launches[id] = now
			if zone != "" {
				r.zones[id] = zone
			}
			what := "instance " + l + " launched"
			if r.dyn != nil {
				what = "NodeClaim " + l + " created"
			}
			r.add(now, "%s", what)
		}
	}
	for _, id := range terminated {
		if _, ok := r.terminated[id]; !ok {
			r.terminated[id] = now
			r.add(now, "instance %s terminated", id)
		}
	}
	r.maxFleet = max(r.maxFleet, fleet)
	r.fleetNow = fleet
}

// sampleKubeLocked updates the pods', nodes' and Deployments' tracks.
func (r *Recorder) sampleKubeLocked(now time.Time, dt float64, pods []corev1.Pod, nodes []corev1.Node, deps []appsv1.Deployment) {

	seenNodes := map[string]bool{}
	workers := 0
	for i := range nodes {
		n := &nodes[i]
		if !r.isWorker(n) {
			continue
		}
		seenNodes[n.Name] = true
		nt := r.nodes[n.Name]
		if nt == nil {
			nt = &nodeTrack{seen: now}
			r.nodes[n.Name] = nt
			r.add(now, "node %s registered", n.Name)
		}
		if nt.ready.IsZero() && nodeReady(n) {
			nt.ready = now
			r.add(now, "node %s Ready", n.Name)
		}
		if nt.cordoned.IsZero() && (n.Spec.Unschedulable || disrupted(n)) {
			nt.cordoned = now
			r.add(now, "node %s cordoned", n.Name)
		}
		nt.zone, nt.readyNow = n.Labels[corev1.LabelTopologyZone], nodeReady(n)
		if nodeReady(n) {
			workers++
		}
		// Karpenter's kwok nodes carry their zone; their hostname is
		// their NodeClaim's name.
		if z, claim := n.Labels[corev1.LabelTopologyZone], n.Labels[corev1.LabelHostname]; z != "" && r.dyn != nil {
			r.zones[claim] = z
		}
	}
	for name, nt := range r.nodes {
		if !seenNodes[name] && nt.gone.IsZero() {
			nt.gone = now
			r.add(now, "node %s deleted", name)
		}
	}
	r.maxNodes = max(r.maxNodes, workers)
	if _, ok := r.marks["baseline reached"]; ok && (r.minWorkers < 0 || workers < r.minWorkers) {
		r.minWorkers = workers
	}
	r.nodeSeconds += float64(workers) * dt

	seenPods := map[string]bool{}
	for i := range pods {
		seenPods[string(pods[i].UID)] = true
		r.trackPodLocked(now, &pods[i])
	}
	for uid, pt := range r.pods {
		if !seenPods[uid] && pt.gone.IsZero() {
			pt.gone = now
		}
	}
	for _, d := range deps {
		want := int(*d.Spec.Replicas)
		unavailable := want - int(d.Status.ReadyReplicas)
		if r.watchPDB {
			r.maxUnavailable[d.Name] = max(r.maxUnavailable[d.Name], unavailable)
		}
	}
}

// trackPodLocked updates the track of pod p: created, bound (and whether
// to a worker not yet Ready), first unschedulable, Ready.
func (r *Recorder) trackPodLocked(now time.Time, p *corev1.Pod) {
	uid := string(p.UID)
	pt := r.pods[uid]
	if pt == nil {
		pt = &podTrack{name: p.Name, app: p.Labels["app"], created: now}
		r.pods[uid] = pt
	}
	if pt.scheduled.IsZero() && p.Spec.NodeName != "" {
		pt.scheduled = now
		// Pods were listed before nodes: a worker not yet seen
		// Ready now was not Ready when the pod was bound to it.
		if nt := r.nodes[p.Spec.NodeName]; nt != nil && nt.ready.IsZero() {
			r.boundEarly++
			r.add(now, "pod %s bound to node %s before it is Ready", p.Name, p.Spec.NodeName)
		}
	}
	if pt.unschedulable.IsZero() && pt.scheduled.IsZero() {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
				pt.unschedulable = now
				if first := r.firstUnschedulableLocked(); first == pt {
					r.add(now, "first pending pod %s (unschedulable)", p.Name)
				}
			}
		}
	}
	if pt.ready.IsZero() && podReady(p) {
		pt.ready = now
	}
}

// disrupted reports Karpenter's cordon: its karpenter.sh/disrupted
// NoSchedule taint.
func disrupted(n *corev1.Node) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == "karpenter.sh/disrupted" {
			return true
		}
	}
	return false
}

// firstUnschedulableLocked is the pod first seen unschedulable.
func (r *Recorder) firstUnschedulableLocked() *podTrack {
	var first *podTrack
	for _, pt := range r.pods {
		if !pt.unschedulable.IsZero() && (first == nil || pt.unschedulable.Before(first.unschedulable)) {
			first = pt
		}
	}
	return first
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Timeline returns the events so far, in order.
func (r *Recorder) Timeline() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]Event(nil), r.events...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

// Format prints events with their time relative to zero.
func Format(events []Event, zero time.Time) string {
	var b strings.Builder
	for _, e := range events {
		fmt.Fprintf(&b, "%+8.1fs  %s\n", e.At.Sub(zero).Seconds(), e.What)
	}
	return b.String()
}

// Errors returns the reads that failed (the recorder skips such samples).
func (r *Recorder) Errors() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errs...)
}

// Launches returns the fleet's instances (or NodeClaims) first seen in
// [from, to).
func (r *Recorder) Launches(from, to time.Time) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for id, at := range r.launches {
		if !at.Before(from) && at.Before(to) {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// Workers returns the number of Ready worker Nodes now, as last sampled.
func (r *Recorder) Workers() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, nt := range r.nodes {
		if !nt.ready.IsZero() && nt.gone.IsZero() {
			n++
		}
	}
	return n
}

// ServerStates returns every state the server instance was seen in.
func (r *Recorder) ServerStates() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for s := range r.serverStates {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// FleetNow is the number of the fleet's live instances (or NodeClaims)
// at the last sample.
func (r *Recorder) FleetNow() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fleetNow
}

// MaxFleet is the largest number of the fleet's instances (pending or
// running) or of Karpenter's live NodeClaims seen at once.
func (r *Recorder) MaxFleet() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.maxFleet
}

// ZoneCounts returns the Ready workers by zone, as last sampled (those
// without a zone label are left out).
func (r *Recorder) ZoneCounts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for _, nt := range r.nodes {
		if nt.readyNow && nt.gone.IsZero() && nt.zone != "" {
			out[nt.zone]++
		}
	}
	return out
}

// NodeSeen reports what the recorder saw of the worker Node name: whether
// it was ever cordoned (or tainted disrupted) and whether it was deleted.
func (r *Recorder) NodeSeen(name string) (cordoned, deleted bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	nt := r.nodes[name]
	if nt == nil {
		return false, false
	}
	return !nt.cordoned.IsZero(), !nt.gone.IsZero()
}

// Terminated returns the fleet's instances seen terminated (or shutting
// down), with when.
func (r *Recorder) Terminated() map[string]time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.terminated)
}
