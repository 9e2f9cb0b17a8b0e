package drain

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/kube"
)

// Annotations of the Kubernetes cluster-autoscaler that node-fleet honours
// as well as its own (autoscaler.AnnotationScaleDownDisabled and
// autoscaler.AnnotationSafeToEvict), so that workloads annotated for the
// cluster-autoscaler need no change.
const (
	// CAAnnotationScaleDownDisabled on a Node, "true", keeps it from
	// being removed.
	CAAnnotationScaleDownDisabled = "cluster-autoscaler.kubernetes.io/scale-down-disabled"
	// CAAnnotationSafeToEvict on a Pod: "false" keeps its node from being
	// removed; "true" lets it be evicted even with local storage or no
	// controller.
	CAAnnotationSafeToEvict = "cluster-autoscaler.kubernetes.io/safe-to-evict"
	// CAAnnotationSafeToEvictLocalVolumes on a Pod lists, comma-separated,
	// the names of its local volumes (emptyDir, hostPath, or claims of
	// node-local PersistentVolumes) whose data may be lost: they do not
	// keep the pod from being evicted.
	CAAnnotationSafeToEvictLocalVolumes = "cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes"
	// AnnotationMirrorPod marks the API server's copy of a static pod.
	AnnotationMirrorPod = "kubernetes.io/config.mirror"
)

// Config wires a Manager. Only Client is required; every other field has
// the default documented on it.
type Config struct {
	// Client talks to the cluster: kube.NewForConfig on a connection, or
	// kube/clientset.New on a client-go clientset. Required.
	Client kube.Interface
	// NodeSelector is a label selector (kubectl syntax) that limits
	// ListNodes to the nodes it matches, e.g.
	// "!node-role.kubernetes.io/control-plane" to leave out a K3s server
	// node, or "node-fleet.io/cluster=prod". Default: every node.
	NodeSelector string
	// DeleteEmptyDirData lets Drain evict pods with emptyDir volumes,
	// whose data is lost (kubectl drain --delete-emptydir-data). Default
	// false: such pods block the drain and make their node unremovable.
	DeleteEmptyDirData bool
	// EvictUnmanagedPods lets Drain evict pods that no controller will
	// recreate (no controller reference, or a DaemonSet that is gone).
	// Default false: such pods block the drain. Unlike kubectl's --force
	// they are still evicted through the Eviction API, never deleted.
	EvictUnmanagedPods bool
	// Timeout bounds one Drain: evictions refused by a
	// PodDisruptionBudget are retried, and evicted pods waited for, until
	// it has passed. Default 3 minutes; keep it well below the lock's TTL.
	Timeout time.Duration
	// RetryInterval is the delay between rounds of evictions refused by a
	// PodDisruptionBudget. Default 5 seconds.
	RetryInterval time.Duration
	// PollInterval is how often Drain checks whether evicted pods are
	// gone. Default 1 second.
	PollInterval time.Duration
	// GracePeriod, when positive, overrides the evicted pods' own
	// terminationGracePeriodSeconds (kubectl drain --grace-period).
	// Default 0: each pod's own.
	GracePeriod time.Duration
	// Clock measures timeouts and waits. Default the real clock.
	Clock clock.Clock
	// Logger receives what the Manager does. Default: discarded.
	Logger *slog.Logger
}

// Defaults of the Config fields that have one.
const (
	DefaultTimeout       = 3 * time.Minute
	DefaultRetryInterval = 5 * time.Second
	DefaultPollInterval  = time.Second
)

// Manager is an autoscaler.NodeManager on client-go. It is safe for
// concurrent use; it keeps no state between calls.
type Manager struct {
	cfg      Config
	selector labels.Selector
}

var _ autoscaler.NodeManager = (*Manager)(nil)

// New checks cfg, fills in the defaults and returns a Manager. Every
// problem with cfg is reported, each naming its field.
func New(cfg Config) (*Manager, error) {
	var errs []error
	if cfg.Client == nil {
		errs = append(errs, errors.New("the Client is required"))
	}
	sel, err := labels.Parse(cfg.NodeSelector)
	if err != nil {
		errs = append(errs, fmt.Errorf("NodeSelector %q: %w", cfg.NodeSelector, err))
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"Timeout", &cfg.Timeout, DefaultTimeout},
		{"RetryInterval", &cfg.RetryInterval, DefaultRetryInterval},
		{"PollInterval", &cfg.PollInterval, DefaultPollInterval},
		{"GracePeriod", &cfg.GracePeriod, 0},
	} {
		switch {
		case *d.v < 0:
			errs = append(errs, fmt.Errorf("%s must not be negative, got %s", d.name, *d.v))
		case *d.v == 0:
			*d.v = d.def
		}
	}
	if cfg.GracePeriod > 0 && cfg.GracePeriod < time.Second {
		errs = append(errs, fmt.Errorf("GracePeriod is counted in whole seconds, got %s", cfg.GracePeriod))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("drain config: %w", err)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Manager{cfg: cfg, selector: sel}, nil
}

// ListNodes returns the nodes that match Config.NodeSelector, each with its
// zone and cluster labels (Zone, Cluster), the node-local data it holds
// (LocalData, see localData: PersistentVolumes pinned to it and hostPath
// volumes, whatever the state of their pods, finished ones included), the
// number of pods a drain would evict, their requests (Movable, as
// kube.PodRequests counts them; MoveCost is their CPU), the node's
// allocatable and the requests of every pod bound to it that has not
// finished (Requested: DaemonSet, mirror and terminating pods included,
// as the scheduler counts them) and, in ScaleDownBlocker, every reason
// it must not be removed: a scale-down-disabled annotation on the node
// (node-fleet's or cluster-autoscaler's), a pod that blocks a drain (see
// the package documentation), a pod covered by a PodDisruptionBudget that
// allows no disruption now, or node-local data of a pod the filter chain
// lets go (a Terminating one).
func (m *Manager) ListNodes(ctx context.Context) ([]autoscaler.Node, error) {
	nodes, err := m.managedNodes(ctx)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	if len(nodes) == 0 {
		return nil, nil
	}
	pods, err := m.allPods(ctx)
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	b, err := m.listBudgets(ctx)
	if err != nil {
		return nil, err
	}
	byNode, finished, unbound := podsByNode(nodes, pods)
	// The API server lists in name order; keep that order whatever the
	// client, so that blockers read the same every time.
	slices.SortFunc(nodes, func(a, b corev1.Node) int { return strings.Compare(a.Name, b.Name) })
	vols := newVolumes(m.cfg.Client)
	d := &describer{m: m, byNode: byNode, finished: finished, unbound: unbound, ds: newDaemonSets(m.cfg.Client), vols: vols,
		pl: newPlacer(nodes, byNode, vols), budgets: b}
	out := make([]autoscaler.Node, 0, len(nodes))
	for i := range nodes {
		an, err := d.describe(ctx, &nodes[i])
		if err != nil {
			return nil, err
		}
		out = append(out, an)
	}
	return out, nil
}

// controlPlaneRoles are the labels K3s (and kubeadm) put on a server
// node: such a node is never one of the fleet's.
var controlPlaneRoles = []string{"node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"}

// managedNodes lists the nodes the selector picks, leaving out every
// control-plane node whatever labels it carries (a server labelled with a
// worker's cluster or instance id by mistake is warned about, never
// managed: nothing would drain, cordon or delete it).
func (m *Manager) managedNodes(ctx context.Context) ([]corev1.Node, error) {
	nodes, err := kube.All(ctx, pageSize, func(ctx context.Context, o metav1.ListOptions) ([]corev1.Node, string, error) {
		o.LabelSelector = m.selector.String()
		l, err := m.cfg.Client.ListNodes(ctx, o)
		if err != nil {
			return nil, "", err
		}
		return l.Items, l.Continue, nil
	})
	return slices.DeleteFunc(nodes, func(n corev1.Node) bool {
		for _, role := range controlPlaneRoles {
			if _, ok := n.Labels[role]; !ok {
				continue
			}
			if n.Labels[autoscaler.LabelCluster] != "" || n.Labels[autoscaler.LabelInstanceID] != "" {
				m.cfg.Logger.WarnContext(ctx, "a control-plane node carries the fleet's labels: never managed", "node", n.Name, "role", role)
			}
			return true
		}
		return false
	}), err
}

// allPods lists the pods of the whole cluster, in one list rather than
// one per node, finished ones included: their hostPath data is still on
// their node (see localData). Of the finished pods only those with a
// hostPath volume are kept, page by page: nothing else of theirs is
// looked at, and a cluster's completed Jobs can be many thousands.
func (m *Manager) allPods(ctx context.Context) ([]corev1.Pod, error) {
	return kube.All(ctx, pageSize, func(ctx context.Context, o metav1.ListOptions) ([]corev1.Pod, string, error) {
		l, err := m.cfg.Client.ListPods(ctx, metav1.NamespaceAll, o)
		if err != nil {
			return nil, "", err
		}
		return slices.DeleteFunc(l.Items, func(p corev1.Pod) bool { return finished(&p) && !hasHostPath(&p) }), l.Continue, nil
	})
}

// hasHostPath reports whether the pod has a hostPath volume.
func hasHostPath(p *corev1.Pod) bool {
	return slices.ContainsFunc(p.Spec.Volumes, func(v corev1.Volume) bool { return v.HostPath != nil })
}

// listBudgets lists the cluster's PodDisruptionBudgets.
func (m *Manager) listBudgets(ctx context.Context) (budgets, error) {
	pdbs, err := kube.All(ctx, pageSize, func(ctx context.Context, o metav1.ListOptions) ([]policyv1.PodDisruptionBudget, string, error) {
		l, err := m.cfg.Client.ListPodDisruptionBudgets(ctx, metav1.NamespaceAll, o)
		if err != nil {
			return nil, "", err
		}
		return l.Items, l.Continue, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list pod disruption budgets: %w", err)
	}
	return newBudgets(pdbs)
}

// podsByNode returns the live pods bound to each of nodes and the
// finished ones (Succeeded or Failed), each sorted by namespace and name,
// and the live pods bound to no node yet.
func podsByNode(nodes []corev1.Node, pods []corev1.Pod) (byNode, finished map[string][]*corev1.Pod, unbound []*corev1.Pod) {
	byNode = make(map[string][]*corev1.Pod, len(nodes))
	finished = map[string][]*corev1.Pod{}
	for i := range nodes {
		byNode[nodes[i].Name] = nil
	}
	for i := range pods {
		p := &pods[i]
		done := p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
		_, ours := byNode[p.Spec.NodeName]
		switch {
		case p.Spec.NodeName == "" && !done:
			unbound = append(unbound, p)
		case ours && done:
			finished[p.Spec.NodeName] = append(finished[p.Spec.NodeName], p)
		case ours:
			byNode[p.Spec.NodeName] = append(byNode[p.Spec.NodeName], p)
		}
	}
	for _, m := range []map[string][]*corev1.Pod{byNode, finished} {
		for _, ps := range m {
			slices.SortFunc(ps, func(a, b *corev1.Pod) int {
				return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
			})
		}
	}
	return byNode, finished, unbound
}

// describer describes the nodes of one ListNodes from what it listed once
// for all of them.
type describer struct {
	m        *Manager
	byNode   map[string][]*corev1.Pod // live pods
	finished map[string][]*corev1.Pod // pods that have finished (their hostPath data is still there)
	unbound  []*corev1.Pod
	ds       *daemonSets
	vols     *volumes
	pl       *placer
	budgets  budgets
}

// describe returns n as the autoscaler sees it: its capacity and requests,
// the pods a scale-down would move and where they fit, its node-local data
// and every reason it cannot be removed.
func (d *describer) describe(ctx context.Context, n *corev1.Node) (autoscaler.Node, error) {
	an := nodeInfo(n)
	var blockers []string
	if r := nodeBlocker(n); r != "" {
		blockers = append(blockers, r)
		an.ScaleDownDisabled = true
	}
	an.Allocatable = kube.NodeAllocatable(n)
	local, holders, err := localData(ctx, n, slices.Concat(d.byNode[n.Name], d.finished[n.Name]), d.unbound, d.vols)
	if err != nil {
		return autoscaler.Node{}, fmt.Errorf("node %s: %w", n.Name, err)
	}
	an.LocalData = local
	for _, p := range d.finished[n.Name] {
		who := p.Namespace + "/" + p.Name
		if data := holders[who]; len(data) > 0 {
			blockers = append(blockers, fmt.Sprintf("pod %s (%s) has node-local data (%s)", who, p.Status.Phase, strings.Join(data, "; ")))
		}
		delete(holders, who)
	}
	for _, p := range d.byNode[n.Name] {
		b, err := d.addPod(ctx, &an, n, p, holders)
		if err != nil {
			return autoscaler.Node{}, err
		}
		blockers = append(blockers, b...)
	}
	for _, who := range slices.Sorted(maps.Keys(holders)) {
		if who == "" {
			// Claims no live pod uses.
			blockers = append(blockers, fmt.Sprintf("node-local data no pod uses now (%s)", strings.Join(holders[who], "; ")))
			continue
		}
		// A pod elsewhere, not yet scheduled, whose volume is
		// pinned here.
		blockers = append(blockers, fmt.Sprintf("pod %s, not running, has node-local data here (%s)", who, strings.Join(holders[who], "; ")))
	}
	an.ScaleDownBlocker = summarize(blockers)
	return an, nil
}

// addPod adds the pod p on n to an: its requests, and when a scale-down
// would move it, the pod and where it fits. It returns the reasons p
// keeps n from being removed, and takes p out of holders (the pods with
// node-local data on n).
func (d *describer) addPod(ctx context.Context, an *autoscaler.Node, n *corev1.Node, p *corev1.Pod, holders map[string][]string) (blockers []string, err error) {
	v, err := d.m.classify(ctx, p, d.ds, d.vols)
	if err != nil {
		return nil, err
	}
	who := p.Namespace + "/" + p.Name
	if data := holders[who]; len(data) > 0 && v.action != actBlock {
		// The chain lets it go (it is terminating, say), but
		// its data stays with the node.
		blockers = append(blockers, fmt.Sprintf("pod %s has node-local data (%s)", who, strings.Join(data, "; ")))
	}
	delete(holders, who)
	req := kube.PodRequests(p)
	if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
		// Every pod bound and not finished holds its
		// requests, terminating, DaemonSet and mirror
		// pods included.
		an.Requested = an.Requested.Add(req)
	}
	if v.action == actBlock || v.action == actEvict {
		mp, err := d.pl.movable(ctx, p, n.Name, req)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", n.Name, err)
		}
		an.MovablePods = append(an.MovablePods, mp)
	}
	switch v.action {
	case actBlock:
		an.Pods++
		an.Movable = append(an.Movable, req)
		blockers = append(blockers, v.reason)
	case actEvict:
		an.Pods++
		an.Movable = append(an.Movable, req)
		an.MoveCost += float64(req.MilliCPU)
		if r := d.budgets.blocking(p); r != "" {
			blockers = append(blockers, r)
		}
	}
	return blockers, nil
}

// nodeInfo copies what the autoscaler needs from a Node.
func nodeInfo(n *corev1.Node) autoscaler.Node {
	an := autoscaler.Node{
		Name:          n.Name,
		ProviderID:    n.Spec.ProviderID,
		InstanceID:    n.Labels[autoscaler.LabelInstanceID],
		Cluster:       n.Labels[autoscaler.LabelCluster],
		Zone:          zoneOf(n),
		Unschedulable: n.Spec.Unschedulable,
		Created:       n.CreationTimestamp.Time,
		// A node that never reported readiness has been NotReady since
		// it was created.
		ReadyTransition: n.CreationTimestamp.Time,
	}
	_, hasID := n.Labels[autoscaler.LabelInstanceID]
	_, hasCluster := n.Labels[autoscaler.LabelCluster]
	an.Managed = hasID || hasCluster
	for _, a := range n.Status.Addresses {
		switch {
		case a.Type == corev1.NodeInternalIP && an.InternalIP == "":
			an.InternalIP = a.Address
		case a.Type == corev1.NodeHostName && an.Hostname == "":
			an.Hostname = a.Address
		}
	}
	if an.Hostname == "" {
		an.Hostname = n.Labels[corev1.LabelHostname]
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			an.Ready = c.Status == corev1.ConditionTrue
			if !c.LastTransitionTime.IsZero() {
				an.ReadyTransition = c.LastTransitionTime.Time
			}
		}
	}
	return an
}

// nodeBlocker returns why the node itself says it must not be removed.
func nodeBlocker(n *corev1.Node) string {
	for _, k := range []string{autoscaler.AnnotationScaleDownDisabled, CAAnnotationScaleDownDisabled} {
		if strings.EqualFold(n.Annotations[k], "true") {
			return fmt.Sprintf("node annotated %s=true", k)
		}
	}
	return ""
}

// summarize joins blockers into one line, keeping it short.
func summarize(blockers []string) string {
	const keep = 3
	if len(blockers) <= keep {
		return strings.Join(blockers, "; ")
	}
	return fmt.Sprintf("%s; and %d more", strings.Join(blockers[:keep], "; "), len(blockers)-keep)
}

// Cordon marks the node unschedulable. A node already cordoned is left as
// it is; a node that is gone yields an error wrapping autoscaler.ErrNotFound.
func (m *Manager) Cordon(ctx context.Context, name string) error {
	return m.setUnschedulable(ctx, name, true)
}

// Uncordon makes the node schedulable again. A node already schedulable is
// left as it is; a node that is gone yields an error wrapping
// autoscaler.ErrNotFound.
func (m *Manager) Uncordon(ctx context.Context, name string) error {
	return m.setUnschedulable(ctx, name, false)
}

func (m *Manager) setUnschedulable(ctx context.Context, name string, v bool) error {
	verb := map[bool]string{true: "cordon", false: "uncordon"}[v]
	c := m.cfg.Client
	n, err := c.GetNode(ctx, name)
	if err == nil && n.Spec.Unschedulable != v {
		// A merge patch touches only this field: no conflict with the
		// kubelet's status updates.
		patch := fmt.Sprintf(`{"spec":{"unschedulable":%t}}`, v)
		_, err = c.PatchNode(ctx, name, types.MergePatchType, []byte(patch))
		if err == nil {
			m.cfg.Logger.InfoContext(ctx, verb, "node", name)
		}
	}
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("%s node %s: %w", verb, name, autoscaler.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("%s node %s: %w", verb, name, err)
	}
	return nil
}

// DeleteNode deletes the Node object. A node already gone is not an error.
// It does not drain: call Drain first, and terminate the machine.
func (m *Manager) DeleteNode(ctx context.Context, name string) error {
	err := m.cfg.Client.DeleteNode(ctx, name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete node %s: %w", name, err)
	}
	m.cfg.Logger.InfoContext(ctx, "deleted node", "node", name)
	return nil
}

// PinnedData implements autoscaler.NodeManager: every PersistentVolume
// whose data lives on one node (see nodeLocal) pinned by its required
// node affinity to node names (see pinnedNames), by each name, whether
// or not a Node of that name exists (the node selector does not apply:
// the data is on the machine, whatever its Node). A volume counts when it
// holds someone's data: bound to a claim, or released (see unused); one
// never bound does not. Whether a pod declared it safe to lose is not
// asked: the pod of a node that is gone cannot be asked where it runs.
func (m *Manager) PinnedData(ctx context.Context) (map[string][]string, error) {
	pvs, err := listPersistentVolumes(ctx, m.cfg.Client)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for i := range pvs {
		pv := &pvs[i]
		ref := pv.Spec.ClaimRef
		if (ref == nil && pv.Status.Phase != corev1.VolumeReleased) || nodeLocal(pv) == "" {
			continue
		}
		claim := "a claim gone"
		if ref != nil {
			claim = "claim " + ref.Namespace + "/" + ref.Name
		}
		entry := fmt.Sprintf("PersistentVolume %s (%s, %s)", pv.Name, claim, nodeLocal(pv))
		for _, name := range pinnedNames(pv) {
			out[name] = append(out[name], entry)
		}
	}
	return out, nil
}

// pageSize is the items asked for per list call.
const pageSize = 500
