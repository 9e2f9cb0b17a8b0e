package metrics

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/capacity"
	"github.com/node-fleet/node-fleet/kube"
)

// Defaults of the KubeSchedulerConfig fields that have one.
const (
	// DefaultMaxPods is the kubelet's default --max-pods, K3s's too.
	DefaultMaxPods = 110
	// DefaultArch is the CPU architecture of new workers.
	DefaultArch = "amd64"
)

// InstanceTypes looks up the size of an instance type, for the worker
// template when no Ready worker of the type runs yet. ec2fleet can
// implement it with EC2 DescribeInstanceTypes; an implementation should
// cache the answers (they do not change). An unknown type is an error
// wrapping autoscaler.ErrNotFound.
type InstanceTypes interface {
	// InstanceTypeSize returns the type's vCPUs and memory in MiB.
	InstanceTypeSize(ctx context.Context, instanceType string) (vcpu int, memoryMiB int64, err error)
}

// FleetZones says which availability zones the fleet can launch workers
// in (ec2fleet's Provider implements it from its subnets). An
// implementation should cache the answer.
type FleetZones interface {
	// Zones returns the zones, sorted, each once.
	Zones(ctx context.Context) ([]string, error)
}

// Reservation returns what a worker's kubelet keeps from pods on a machine
// of vcpu cores and memoryMiB of memory, with maxPods pod slots: the
// difference between the machine's size and its allocatable.
type Reservation func(vcpu int, memoryMiB, maxPods int64) capacity.Resources

// K3sReservation is the default Reservation, an estimate for K3s agents
// on EC2 where no worker has registered yet to learn from (a Ready
// worker's allocatable always wins):
//
//   - CPU: 6% of the first core, 1% of the second, 0.5% of the third and
//     fourth, 0.25% of every further core (the tiers GKE and EKS reserve;
//     give K3s --kubelet-arg=kube-reserved to match): 70m on 2 vCPU, so
//     that a t3.medium offers 1.93 CPU;
//   - memory: the kubelet's hard eviction threshold (100Mi, which K3s
//     keeps) plus 5% of the instance's memory, which the kernel and
//     firmware hold before the kubelet counts capacity (a t3.medium's
//     4 GiB shows as about 3.8).
//
// It does not depend on maxPods (EKS's memory formula does; K3s's
// kubelet does not).
func K3sReservation(vcpu int, memoryMiB, maxPods int64) capacity.Resources {
	return capacity.K3sReservation(vcpu, memoryMiB)
}

// KubeSchedulerConfig configures a KubeScheduler source. Client and
// InstanceType are required, and so is one way of sizing a new worker
// before any has registered: VCPU and MemoryMiB, or InstanceTypes.
type KubeSchedulerConfig struct {
	// Client talks to the cluster's API server: kube.NewForConfig on a
	// connection, or kube/clientset.New on a client-go clientset.
	// Required.
	Client kube.Interface
	// Namespace limits the pods and DaemonSets read to one namespace
	// (tests, or a cluster whose other namespaces run elsewhere); empty
	// reads all. Nodes are cluster-wide either way.
	Namespace string
	// InstanceType is the instance type new workers are launched as
	// (the launch template's), e.g. "t3.medium". Required.
	InstanceType string
	// Workers is a label selector (kubectl syntax) of the nodes that are
	// the fleet's workers: their pods make up Demand, and the Ready ones
	// of InstanceType teach the template. Default: the nodes that carry
	// autoscaler.LabelInstanceID or autoscaler.LabelCluster (set by the
	// join script).
	Workers string
	// WorkerLabels are labels every new worker registers with (set in the
	// launch template's user data, e.g. K3s --node-label), on top of
	// what the kubelet and node-fleet's join script set:
	// kubernetes.io/os=linux, kubernetes.io/arch=Arch,
	// autoscaler.LabelInstanceType=InstanceType,
	// autoscaler.LabelCluster=ClusterID (when set) and the zone it is
	// launched in. Labels found on today's workers are not assumed: an
	// operator may have added them by hand. Default none.
	WorkerLabels map[string]string
	// ClusterID is the cluster's id, which the join script sets as every
	// new worker's autoscaler.LabelCluster label. Default: not set, so a
	// pod selecting that label is taken to match no new worker.
	ClusterID string
	// Zones are the availability zones new workers may be launched in
	// (the fleet's subnets' zones), each setting topology.kubernetes.io/
	// zone on its workers. A pending pod that can run in only some of
	// them (PendingPod.Zones) gets its worker there. Default: the zones
	// of FleetZones, else those of the fleet's workers now (none: zones
	// are not known, and a pod that selects a zone is taken to match no
	// new worker).
	Zones []string
	// FleetZones, when Zones is empty, gives them: the zones of the
	// fleet's subnets, so that a zone with no worker today is offered to
	// the pods that need it. When it fails, the workers' zones are used
	// and the failure is logged.
	FleetZones FleetZones
	// EphemeralStorageMiB is a new worker's allocatable ephemeral
	// storage (its root volume less the kubelet's eviction threshold)
	// while no Ready worker of InstanceType has registered to learn it
	// from. Default: not known, and pods' ephemeral storage requests are
	// not checked against a template sized from the instance type.
	EphemeralStorageMiB int64
	// WorkerTaints are the taints every new worker registers with (K3s
	// --node-taint), on top of the NoSchedule and NoExecute taints that
	// every Ready worker of InstanceType shares (node.kubernetes.io/
	// condition taints left out). Default none.
	WorkerTaints []capacity.Taint
	// VCPU and MemoryMiB are InstanceType's size, for the template while
	// no Ready worker of the type runs. Default: asked of InstanceTypes.
	VCPU      int
	MemoryMiB int64
	// InstanceTypes looks up InstanceType's size when VCPU and MemoryMiB
	// are not given. Default none.
	InstanceTypes InstanceTypes
	// Reservation is what the kubelet keeps from pods, subtracted from
	// the instance type's size. Default K3sReservation.
	Reservation Reservation
	// MaxPods is a new worker's pod slots while none has registered.
	// Default DefaultMaxPods.
	MaxPods int64
	// Arch is new workers' kubernetes.io/arch label. Default DefaultArch.
	Arch string
	// Timeout bounds one read of the cluster (every page of every list).
	// Default DefaultKubeTimeout.
	Timeout time.Duration
	// PageSize is the number of objects asked for per list call. Default
	// DefaultPageSize.
	PageSize int64
	// Clock reads the time; defaults to the real clock.
	Clock clock.PassiveClock
	// Logger receives a warning once for each pod that no new worker
	// could take, and the reasons a template could not be made. Default:
	// discarded.
	Logger *slog.Logger
}

// KubeScheduler is the scheduler's view of the cluster as a MetricSource:
// in one pass over the Kubernetes API per tick (nodes, pods and DaemonSets
// listed once each, paginated, within Config.Timeout) it finds the pods the
// scheduler could not place (as KubePending counts them), their requests
// (PodRequests), whether a new worker could take them, the new worker's
// template, how many new workers the placeable ones need
// (capacity.PackPending) and the workers' demand. As a MetricSource it
// reports PendingPods and Snapshot.Scheduler (every other metric is
// missing); combine it with another source through OverrideScheduler.
//
// The template's allocatable is learnt from the Ready workers of
// Config.InstanceType (the smallest of each resource) when any runs (a
// worker's type is its autoscaler.LabelInstanceType label, else
// node.kubernetes.io/instance-type); otherwise it is the instance type's
// size (Config.VCPU and MemoryMiB, or Config.InstanceTypes) minus
// Config.Reservation. The DaemonSet pods that would land on a new worker
// are those of every DaemonSet whose pod template selects, tolerates and
// fits the template; their requests are subtracted from what a new worker
// offers. A pod that asks for a resource beyond CPU and memory (a GPU,
// another extended resource, hugepages) is placeable only when every
// Ready worker it learns from offers as much; sized from the instance
// type, a new worker offers none. Ephemeral storage is counted as the
// scheduler counts it, against the learnt workers' allocatable or
// Config.EphemeralStorageMiB (not checked when neither is known).
//
// A new worker carries the labels the kubelet and the join script set
// (Config.WorkerLabels says which others the launch template adds), never
// labels found on today's workers, in each zone of Config.Zones. A pending
// pod is placeable when a new worker in some zone would take it (see
// zonesFor: node affinity, taints, its volumes' zones and node affinity,
// pod affinity and anti-affinity, zone spread); when only some zones
// would, PendingPod.Zones names them.
type KubeScheduler struct {
	cfg     KubeSchedulerConfig
	workers labels.Selector // nil: the default (managed labels)

	mu     sync.Mutex
	size   *[2]int64          // InstanceTypes' answer, once had
	warned map[types.UID]bool // unplaceable pods already logged
}

// NewKubeScheduler checks cfg, fills in the defaults and returns the
// source. Every problem is reported, each naming its setting.
func NewKubeScheduler(cfg KubeSchedulerConfig) (*KubeScheduler, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	kubeSettings(cfg.Client, &cfg.Timeout, &cfg.PageSize, bad)
	if cfg.InstanceType == "" {
		bad("InstanceType is required (the instance type new workers are launched as)")
	}
	k := &KubeScheduler{warned: map[types.UID]bool{}}
	if cfg.Workers != "" {
		sel, err := labels.Parse(cfg.Workers)
		if err != nil {
			bad("Workers %q: %v", cfg.Workers, err)
		}
		k.workers = sel
	}
	switch {
	case cfg.VCPU < 0 || cfg.MemoryMiB < 0:
		bad("VCPU and MemoryMiB must not be negative, got %d and %d", cfg.VCPU, cfg.MemoryMiB)
	case (cfg.VCPU == 0) != (cfg.MemoryMiB == 0):
		bad("VCPU and MemoryMiB go together, got %d and %d", cfg.VCPU, cfg.MemoryMiB)
	case cfg.VCPU == 0 && cfg.InstanceTypes == nil:
		bad("VCPU and MemoryMiB, or InstanceTypes, are required to size a new worker before one has registered")
	}
	for _, t := range cfg.WorkerTaints {
		switch corev1.TaintEffect(t.Effect) {
		case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		default:
			bad("WorkerTaints: taint %q has effect %q; want NoSchedule, PreferNoSchedule or NoExecute", t.Key, t.Effect)
		}
	}
	if cfg.EphemeralStorageMiB < 0 {
		bad("EphemeralStorageMiB must not be negative, got %d", cfg.EphemeralStorageMiB)
	}
	if cfg.MaxPods == 0 {
		cfg.MaxPods = DefaultMaxPods
	} else if cfg.MaxPods < 0 {
		bad("MaxPods must be positive, got %d", cfg.MaxPods)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("metrics.KubeScheduler config: %w", err)
	}
	if cfg.Arch == "" {
		cfg.Arch = DefaultArch
	}
	if cfg.Reservation == nil {
		cfg.Reservation = K3sReservation
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	k.cfg = cfg
	return k, nil
}

// Collect returns a snapshot with PendingPods and Scheduler from the API,
// the view's Demand also among the custom metrics (autoscaler.Snapshot.WithDemand,
// as autoscaler.MetricDemand, so that the tick records it in the history),
// and every other metric missing. When the cluster cannot be read,
// PendingPods is missing and Scheduler nil, and the error wraps
// autoscaler.ErrNoData. When only the template cannot be made (no Ready
// worker and the instance type's size cannot be looked up), PendingPods
// is counted and Scheduler is nil.
func (k *KubeScheduler) Collect(ctx context.Context) (autoscaler.Snapshot, error) {
	now := k.cfg.Clock.Now()
	other := autoscaler.Missing(fmt.Errorf("not measured by KubeScheduler: %w", autoscaler.ErrNoData))
	snap := autoscaler.Snapshot{Time: now, CPU: other, Memory: other, APILatency: other}
	snap.PendingPods, snap.Scheduler = k.pendingView(ctx, now)
	if !snap.PendingPods.OK {
		return snap, snap.PendingPods.Err
	}
	return snap.WithDemand(), nil
}

func (k *KubeScheduler) pendingView(ctx context.Context, now time.Time) (autoscaler.Metric, *capacity.SchedulerView) {
	view, n, err := k.View(ctx)
	if err != nil {
		k.cfg.Logger.DebugContext(ctx, "scheduler view missing", "err", err)
		return autoscaler.Missing(fmt.Errorf("%s: %w: %w", autoscaler.MetricPendingPods, autoscaler.ErrNoData, err)), nil
	}
	return autoscaler.Value(float64(n), now), view
}

func (k *KubeScheduler) clockNow() time.Time { return k.cfg.Clock.Now() }

// View reads the cluster once and returns the scheduler's view and the
// number of unschedulable pods (placeable or not, as KubePending counts
// them). An error means the cluster could not be read (nothing is
// returned then); a view that is nil without an error means that the
// template could not be made (logged), while the count stands.
func (k *KubeScheduler) View(ctx context.Context) (*capacity.SchedulerView, int, error) {
	ctx, cancel := context.WithTimeout(ctx, k.cfg.Timeout)
	defer cancel()
	nodes, pods, dss, err := k.read(ctx)
	if err != nil {
		return nil, 0, err
	}
	c := k.sortCluster(nodes, pods, k.launchZones(ctx))
	if c.claims {
		if err := k.loadVolumes(ctx, c.world); err != nil {
			return nil, 0, err
		}
	}
	tpl, err := k.template(ctx, c.learn)
	if err != nil {
		k.cfg.Logger.WarnContext(ctx, "no worker template: pending pods are counted, not sized", "instance_type", k.cfg.InstanceType, "err", err)
		return nil, len(c.unschedulable), nil
	}
	tpl.DaemonSet = daemonSetOverhead(tpl, dss)
	pending := c.pending(tpl, othersOffered(c.learn))
	view := capacity.NewSchedulerView(tpl, c.onWorkers, pending)
	k.warnOnce(ctx, view.Pending, c.unschedulable)
	return view, len(c.unschedulable), nil
}

// read lists the nodes, the live pods (neither succeeded nor failed) and
// the DaemonSets, page by page.
func (k *KubeScheduler) read(ctx context.Context) ([]corev1.Node, []corev1.Pod, []appsv1.DaemonSet, error) {
	c := k.cfg.Client
	nodes, err := kube.All(ctx, k.cfg.PageSize, func(ctx context.Context, o metav1.ListOptions) ([]corev1.Node, string, error) {
		l, err := c.ListNodes(ctx, o)
		if err != nil {
			return nil, "", err
		}
		return l.Items, l.Continue, nil
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("list nodes: %w", err)
	}
	live := fields.AndSelectors(
		fields.OneTermNotEqualSelector("status.phase", string(corev1.PodSucceeded)),
		fields.OneTermNotEqualSelector("status.phase", string(corev1.PodFailed)),
	).String()
	pods, err := kube.All(ctx, k.cfg.PageSize, func(ctx context.Context, o metav1.ListOptions) ([]corev1.Pod, string, error) {
		o.FieldSelector = live
		l, err := c.ListPods(ctx, k.cfg.Namespace, o)
		if err != nil {
			return nil, "", err
		}
		return l.Items, l.Continue, nil
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("list pods: %w", err)
	}
	dss, err := kube.All(ctx, k.cfg.PageSize, func(ctx context.Context, o metav1.ListOptions) ([]appsv1.DaemonSet, string, error) {
		l, err := c.ListDaemonSets(ctx, k.cfg.Namespace, o)
		if err != nil {
			return nil, "", err
		}
		return l.Items, l.Continue, nil
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("list daemonsets: %w", err)
	}
	return nodes, pods, dss, nil
}

// launchZones are the zones new workers may be launched in, as
// configured (Zones, else FleetZones); nil when neither gives any (the
// workers' zones are used then). A FleetZones failure is logged.
func (k *KubeScheduler) launchZones(ctx context.Context) []string {
	if len(k.cfg.Zones) > 0 || k.cfg.FleetZones == nil {
		return slices.Clone(k.cfg.Zones)
	}
	fz, err := k.cfg.FleetZones.Zones(ctx)
	if err != nil {
		k.cfg.Logger.WarnContext(ctx, "the fleet's zones are not known; new workers are offered in the workers' zones only", "err", err)
	}
	return slices.Clone(fz)
}

// cluster is what one read of the cluster says, sorted for the view.
type cluster struct {
	world         *world
	zones         []string       // where new workers may go, sorted
	learn         []*corev1.Node // the Ready workers of the instance type
	unschedulable []*corev1.Pod  // sorted by namespace and name
	onWorkers     capacity.Resources
	claims        bool // a pending pod has a claim: volumes must be read
}

// sortCluster sorts what was read: the nodes and the pods on each, the
// workers to learn from, the zones (the configured ones, else the
// workers'), the unschedulable pods and the demand on the workers.
func (k *KubeScheduler) sortCluster(nodes []corev1.Node, pods []corev1.Pod, zones []string) cluster {
	c := cluster{world: &world{byNode: map[string][]*corev1.Pod{}}, zones: zones}
	workers := map[string]bool{}
	fixedZones := len(zones) > 0
	for i := range nodes {
		n := &nodes[i]
		c.world.nodes = append(c.world.nodes, n)
		if !k.isWorker(n) {
			continue
		}
		workers[n.Name] = true
		if z := n.Labels[corev1.LabelTopologyZone]; z != "" && !fixedZones && !slices.Contains(c.zones, z) {
			c.zones = append(c.zones, z)
		}
		if nodeReady(n) && InstanceTypeOf(n) == k.cfg.InstanceType && !NodeAllocatable(n).IsZero() {
			c.learn = append(c.learn, n)
		}
	}
	slices.Sort(c.zones)
	for i := range pods {
		p := &pods[i]
		if p.Spec.NodeName != "" {
			c.world.byNode[p.Spec.NodeName] = append(c.world.byNode[p.Spec.NodeName], p)
		}
		switch {
		case p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed:
		case Unschedulable(p):
			c.unschedulable = append(c.unschedulable, p)
			c.claims = c.claims || hasClaims(p)
		case workers[p.Spec.NodeName] && !perNode(p):
			c.onWorkers = c.onWorkers.Add(PodRequests(p))
		}
	}
	slices.SortFunc(c.unschedulable, func(a, b *corev1.Pod) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	return c
}

// othersOffered is what the learnt workers all offer of the resources
// Resources does not count (GPUs...); a type's size offers none of them.
func othersOffered(learn []*corev1.Node) map[corev1.ResourceName]int64 {
	var others map[corev1.ResourceName]int64
	for i, n := range learn {
		a := otherAllocatable(n)
		if i == 0 {
			others = a
			continue
		}
		for name, v := range others {
			others[name] = min(v, a[name])
		}
	}
	return others
}

// daemonSetOverhead is tpl.DaemonSet plus the requests of the DaemonSets
// whose pod template selects, tolerates and fits a new worker of tpl.
func daemonSetOverhead(tpl capacity.WorkerTemplate, dss []appsv1.DaemonSet) capacity.Resources {
	for i := range dss {
		spec := &dss[i].Spec.Template.Spec
		probe := *spec
		probe.Tolerations = daemonSetTolerations(spec)
		if !landsOn(&probe, newWorker(tpl, "")) {
			continue
		}
		r := PodRequests(&corev1.Pod{Spec: *spec})
		if !r.Fits(tpl.Allocatable.Sub(tpl.DaemonSet)) {
			continue // it would not fit a new worker either
		}
		tpl.DaemonSet = tpl.DaemonSet.Add(r)
	}
	return tpl.DaemonSet
}

// pending makes the view's pending pods of the unschedulable ones: their
// requests, the zones a new worker of tpl would take them in, and why
// none would (others: what a new worker offers beyond CPU and memory).
func (c cluster) pending(tpl capacity.WorkerTemplate, others map[corev1.ResourceName]int64) []capacity.PendingPod {
	pending := make([]capacity.PendingPod, len(c.unschedulable))
	for i, p := range c.unschedulable {
		pending[i] = capacity.PendingPod{Namespace: p.Namespace, Name: p.Name, Requests: PodRequests(p), Apart: apartGroup(p),
			Nominated: p.Status.NominatedNodeName, PendingSince: pendingSince(p)}
		if tpl.Allocatable.EphemeralStorage == 0 {
			// Not known (sized from the instance type): not checked.
			pending[i].Requests.EphemeralStorage = 0
		}
		zs, why := zonesFor(p, tpl, c.zones, c.world)
		pending[i].Zones = zs
		if why != "" {
			pending[i].Unplaceable = "pod " + pending[i].Key() + " " + why
		} else if why := lacking(otherRequests(p), others, tpl.InstanceType); why != "" {
			pending[i].Unplaceable = "pod " + pending[i].Key() + " " + why
		}
	}
	return pending
}

// lacking says what a new worker does not offer enough of among the
// resources the pod asks for beyond CPU and memory ("requests 1
// nvidia.com/gpu; a new t3.medium worker offers none"), or "".
func lacking(want, offered map[corev1.ResourceName]int64, instanceType string) string {
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if want[name] <= offered[name] {
			continue
		}
		has := "none"
		if offered[name] > 0 {
			has = fmt.Sprint(offered[name])
		}
		return fmt.Sprintf("requests %d %s; a new %s worker offers %s", want[name], name, instanceType, has)
	}
	return ""
}

// warnOnce logs each unplaceable pod the first tick it is seen so.
func (k *KubeScheduler) warnOnce(ctx context.Context, pending []capacity.PendingPod, pods []*corev1.Pod) {
	k.mu.Lock()
	defer k.mu.Unlock()
	unplaced := map[types.UID]bool{}
	for i, p := range pending {
		if p.Unplaceable == "" {
			continue
		}
		if !k.warned[pods[i].UID] {
			k.cfg.Logger.WarnContext(ctx, "pending pod no new worker would help", "pod", p.Key(), "reason", p.Unplaceable)
		}
		unplaced[pods[i].UID] = true
	}
	k.warned = unplaced
}

// isWorker reports whether n is one of the fleet's workers.
func (k *KubeScheduler) isWorker(n *corev1.Node) bool {
	if k.workers != nil {
		return k.workers.Matches(labels.Set(n.Labels))
	}
	_, id := n.Labels[autoscaler.LabelInstanceID]
	_, cl := n.Labels[autoscaler.LabelCluster]
	return id || cl
}

// InstanceTypeOf returns the node's instance type: its
// autoscaler.LabelInstanceType label, else node.kubernetes.io/instance-type
// unless that is K3s's placeholder "k3s", else "".
func InstanceTypeOf(n *corev1.Node) string {
	if t := n.Labels[autoscaler.LabelInstanceType]; t != "" {
		return t
	}
	if t := n.Labels[corev1.LabelInstanceTypeStable]; t != "k3s" {
		return t
	}
	return ""
}

// template makes the new worker's template (DaemonSet left to the
// caller) from the Ready workers of the instance type, else from the
// type's size.
func (k *KubeScheduler) template(ctx context.Context, learn []*corev1.Node) (capacity.WorkerTemplate, error) {
	tpl := capacity.WorkerTemplate{InstanceType: k.cfg.InstanceType, Labels: map[string]string{
		corev1.LabelOSStable: "linux", corev1.LabelArchStable: k.cfg.Arch, autoscaler.LabelInstanceType: k.cfg.InstanceType,
	}}
	if len(learn) > 0 {
		slices.SortFunc(learn, func(a, b *corev1.Node) int { return strings.Compare(a.Name, b.Name) })
		taints := workerTaints(learn[0])
		alloc := NodeAllocatable(learn[0])
		smallest := learn[0].Name
		for _, n := range learn[1:] {
			other := workerTaints(n)
			taints = slices.DeleteFunc(taints, func(t capacity.Taint) bool { return !slices.Contains(other, t) })
			a := NodeAllocatable(n)
			if a.MilliCPU < alloc.MilliCPU {
				smallest = n.Name
			}
			alloc = capacity.Resources{MilliCPU: min(alloc.MilliCPU, a.MilliCPU), Memory: min(alloc.Memory, a.Memory), Pods: min(alloc.Pods, a.Pods),
				EphemeralStorage: min(alloc.EphemeralStorage, a.EphemeralStorage)}
		}
		tpl.Taints = taints
		tpl.Allocatable = alloc
		if len(learn) == 1 {
			tpl.Source = "node " + smallest
		} else {
			tpl.Source = fmt.Sprintf("the smallest of %d Ready %s workers (CPU of node %s)", len(learn), k.cfg.InstanceType, smallest)
		}
	} else {
		vcpu, mib, err := k.instanceSize(ctx)
		if err != nil {
			return tpl, err
		}
		res := k.cfg.Reservation(vcpu, mib, k.cfg.MaxPods)
		tpl.Allocatable = capacity.Resources{MilliCPU: int64(vcpu) * 1000, Memory: mib << 20, Pods: k.cfg.MaxPods,
			EphemeralStorage: k.cfg.EphemeralStorageMiB << 20}.Sub(res)
		tpl.Source = fmt.Sprintf("%s: %d vCPU, %s, minus reservations (%s CPU, %s); no Ready worker of the type to learn from",
			k.cfg.InstanceType, vcpu, capacity.FormatMemory(mib<<20), capacity.FormatCPU(res.MilliCPU), capacity.FormatMemory(res.Memory))
	}
	if k.cfg.ClusterID != "" {
		tpl.Labels[autoscaler.LabelCluster] = k.cfg.ClusterID
	}
	maps.Copy(tpl.Labels, k.cfg.WorkerLabels)
	for _, t := range k.cfg.WorkerTaints {
		if !slices.Contains(tpl.Taints, t) {
			tpl.Taints = append(tpl.Taints, t)
		}
	}
	return tpl, nil
}

// workerTaints are the node's taints that a new worker would also carry:
// those that keep pods off, not the node.kubernetes.io/ condition taints
// (not-ready, unreachable, pressure, unschedulable...) nor the cloud
// provider's uninitialized one.
func workerTaints(n *corev1.Node) []capacity.Taint {
	var out []capacity.Taint
	for _, t := range n.Spec.Taints {
		if strings.HasPrefix(t.Key, "node.kubernetes.io/") || t.Key == "node.cloudprovider.kubernetes.io/uninitialized" ||
			t.Effect == corev1.TaintEffectPreferNoSchedule {
			continue
		}
		out = append(out, capacity.Taint{Key: t.Key, Value: t.Value, Effect: string(t.Effect)})
	}
	return out
}

// instanceSize returns the configured size, or InstanceTypes' answer
// (asked once, then kept).
func (k *KubeScheduler) instanceSize(ctx context.Context) (int, int64, error) {
	if k.cfg.VCPU > 0 {
		return k.cfg.VCPU, k.cfg.MemoryMiB, nil
	}
	k.mu.Lock()
	size := k.size
	k.mu.Unlock()
	if size != nil {
		return int(size[0]), size[1], nil
	}
	vcpu, mib, err := k.cfg.InstanceTypes.InstanceTypeSize(ctx, k.cfg.InstanceType)
	if err != nil {
		return 0, 0, fmt.Errorf("size of instance type %s: %w", k.cfg.InstanceType, err)
	}
	if vcpu <= 0 || mib <= 0 {
		return 0, 0, fmt.Errorf("size of instance type %s: %d vCPU and %d MiB make no worker", k.cfg.InstanceType, vcpu, mib)
	}
	k.mu.Lock()
	k.size = &[2]int64{int64(vcpu), mib}
	k.mu.Unlock()
	return vcpu, mib, nil
}

// perNode reports whether the pod is there because of its node (a
// DaemonSet or mirror pod): it is overhead of the node, not demand.
func perNode(p *corev1.Pod) bool {
	if _, mirror := p.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return true
	}
	c := metav1.GetControllerOf(p)
	return c != nil && c.Kind == "DaemonSet"
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// OverrideScheduler returns a MetricSource that collects from src and from
// k concurrently and returns src's snapshot with PendingPods and Scheduler
// from k. When the API cannot be read, PendingPods is missing and
// Scheduler nil (src's own pending count is not used); when src fails, its
// metrics are missing and the view still arrives. The combined source
// returns an error only when both fail. Like KubeScheduler.Collect it
// records the view's Demand among the custom metrics
// (autoscaler.Snapshot.WithDemand).
func OverrideScheduler(src autoscaler.MetricSource, k *KubeScheduler) autoscaler.MetricSource {
	return &override{src: src, pending: k}
}

// pendingSince is when the pod became unschedulable: the last transition
// of its PodScheduled condition to False (the scheduler keeps that time
// while it keeps failing); zero when the condition has none.
func pendingSince(p *corev1.Pod) time.Time {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			return c.LastTransitionTime.Time
		}
	}
	return time.Time{}
}
