package scheddiff

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/node-fleet/node-fleet/kube"
	"github.com/node-fleet/node-fleet/kube/clientset"
)

// snapshot is a kube.Interface whose list calls are answered from one read
// of the cluster (every node, pod, volume, claim, DaemonSet and budget,
// listed once), so that a view per world costs no API calls: the view
// reads exactly what the API held at that moment, label and field
// selectors applied as the server applies them, everything in one page.
// Calls other than lists go to the API server.
type snapshot struct {
	kube.Interface
	nodes []corev1.Node
	pods  []corev1.Pod
	pvs   []corev1.PersistentVolume
	pvcs  []corev1.PersistentVolumeClaim
	dss   []appsv1.DaemonSet
	pdbs  []policyv1.PodDisruptionBudget
}

// takeSnapshot lists everything a view may read; the nodes and pods are
// those that selector selects (one batch of worlds: the worlds of other
// batches are no world's workers and no world's pods, so a view would
// read past them anyway).
func takeSnapshot(ctx context.Context, cs kubernetes.Interface, selector string) (*snapshot, error) {
	s := &snapshot{Interface: clientset.New(cs)}
	all := metav1.ListOptions{}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, err
	}
	pods, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, err
	}
	pvs, err := cs.CoreV1().PersistentVolumes().List(ctx, all)
	if err != nil {
		return nil, err
	}
	pvcs, err := cs.CoreV1().PersistentVolumeClaims("").List(ctx, all)
	if err != nil {
		return nil, err
	}
	dss, err := cs.AppsV1().DaemonSets("").List(ctx, all)
	if err != nil {
		return nil, err
	}
	pdbs, err := cs.PolicyV1().PodDisruptionBudgets("").List(ctx, all)
	if err != nil {
		return nil, err
	}
	s.nodes, s.pods, s.pvs, s.pvcs, s.dss, s.pdbs = nodes.Items, pods.Items, pvs.Items, pvcs.Items, dss.Items, pdbs.Items
	return s, nil
}

// world is the part of the snapshot that one world's objects make up
// (its nodes, pods, volumes and claims, by labelWorld), with the
// DaemonSets and budgets: a world's view reads only its own, as its
// pods select, spread and keep apart from only its own, so each view
// reads tens of objects instead of the batch's hundreds.
func (s *snapshot) world(name string) *snapshot {
	mine := func(m metav1.ObjectMeta) bool { return m.Labels[labelWorld] == name }
	return &snapshot{Interface: s.Interface, dss: s.dss, pdbs: s.pdbs,
		nodes: keepIf(s.nodes, func(n *corev1.Node) bool { return mine(n.ObjectMeta) }),
		pods:  keepIf(s.pods, func(p *corev1.Pod) bool { return mine(p.ObjectMeta) }),
		pvs:   keepIf(s.pvs, func(v *corev1.PersistentVolume) bool { return mine(v.ObjectMeta) }),
		pvcs:  keepIf(s.pvcs, func(c *corev1.PersistentVolumeClaim) bool { return mine(c.ObjectMeta) }),
	}
}

func keepIf[T any](items []T, ok func(*T) bool) []T {
	var out []T
	for i := range items {
		if ok(&items[i]) {
			out = append(out, items[i])
		}
	}
	return out
}

// selectors parses opts' selectors. Field selectors may name only the
// fields in known (the fields the API server supports for the kind that
// the view could use); any other is an error, not a silent mismatch.
func selectors(opts metav1.ListOptions, known ...string) (labels.Selector, fields.Selector, error) {
	ls, err := labels.Parse(opts.LabelSelector)
	if err != nil {
		return nil, nil, err
	}
	fs, err := fields.ParseSelector(opts.FieldSelector)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range fs.Requirements() {
		ok := false
		for _, k := range known {
			ok = ok || r.Field == k
		}
		if !ok {
			return nil, nil, fmt.Errorf("snapshot: field selector on %q is not supported by the test's snapshot client", r.Field)
		}
	}
	return ls, fs, nil
}

func keep[T any](items []T, opts metav1.ListOptions, meta func(*T) (metav1.ObjectMeta, fields.Set), known ...string) ([]T, error) {
	ls, fs, err := selectors(opts, append(known, "metadata.name", "metadata.namespace")...)
	if err != nil {
		return nil, err
	}
	var out []T
	for i := range items {
		m, f := meta(&items[i])
		if f == nil {
			f = fields.Set{}
		}
		f["metadata.name"], f["metadata.namespace"] = m.Name, m.Namespace
		if ls.Matches(labels.Set(m.Labels)) && fs.Matches(f) {
			out = append(out, items[i])
		}
	}
	return out, nil
}

func inNamespace(ns string) func(metav1.ObjectMeta) bool {
	return func(m metav1.ObjectMeta) bool { return ns == "" || m.Namespace == ns }
}

func filterNS[T any](items []T, ns string, meta func(*T) metav1.ObjectMeta) []T {
	var out []T
	in := inNamespace(ns)
	for i := range items {
		if in(meta(&items[i])) {
			out = append(out, items[i])
		}
	}
	return out
}

// ListNodes implements kube.Nodes.
func (s *snapshot) ListNodes(_ context.Context, opts metav1.ListOptions) (*corev1.NodeList, error) {
	items, err := keep(s.nodes, opts, func(n *corev1.Node) (metav1.ObjectMeta, fields.Set) {
		return n.ObjectMeta, fields.Set{"spec.unschedulable": fmt.Sprint(n.Spec.Unschedulable)}
	}, "spec.unschedulable")
	if err != nil {
		return nil, err
	}
	return &corev1.NodeList{Items: items}, nil
}

// ListPods implements kube.Pods.
func (s *snapshot) ListPods(_ context.Context, ns string, opts metav1.ListOptions) (*corev1.PodList, error) {
	items, err := keep(filterNS(s.pods, ns, func(p *corev1.Pod) metav1.ObjectMeta { return p.ObjectMeta }), opts,
		func(p *corev1.Pod) (metav1.ObjectMeta, fields.Set) {
			return p.ObjectMeta, fields.Set{"spec.nodeName": p.Spec.NodeName, "status.phase": string(p.Status.Phase),
				"spec.schedulerName": p.Spec.SchedulerName}
		}, "spec.nodeName", "status.phase", "spec.schedulerName")
	if err != nil {
		return nil, err
	}
	return &corev1.PodList{Items: items}, nil
}

// ListPersistentVolumes implements kube.Volumes.
func (s *snapshot) ListPersistentVolumes(_ context.Context, opts metav1.ListOptions) (*corev1.PersistentVolumeList, error) {
	items, err := keep(s.pvs, opts, func(v *corev1.PersistentVolume) (metav1.ObjectMeta, fields.Set) { return v.ObjectMeta, nil })
	if err != nil {
		return nil, err
	}
	return &corev1.PersistentVolumeList{Items: items}, nil
}

// ListPersistentVolumeClaims implements kube.Volumes.
func (s *snapshot) ListPersistentVolumeClaims(_ context.Context, ns string, opts metav1.ListOptions) (*corev1.PersistentVolumeClaimList, error) {
	items, err := keep(filterNS(s.pvcs, ns, func(c *corev1.PersistentVolumeClaim) metav1.ObjectMeta { return c.ObjectMeta }), opts,
		func(c *corev1.PersistentVolumeClaim) (metav1.ObjectMeta, fields.Set) { return c.ObjectMeta, nil })
	if err != nil {
		return nil, err
	}
	return &corev1.PersistentVolumeClaimList{Items: items}, nil
}

// ListDaemonSets implements kube.Workloads.
func (s *snapshot) ListDaemonSets(_ context.Context, ns string, opts metav1.ListOptions) (*appsv1.DaemonSetList, error) {
	items, err := keep(filterNS(s.dss, ns, func(d *appsv1.DaemonSet) metav1.ObjectMeta { return d.ObjectMeta }), opts,
		func(d *appsv1.DaemonSet) (metav1.ObjectMeta, fields.Set) { return d.ObjectMeta, nil })
	if err != nil {
		return nil, err
	}
	return &appsv1.DaemonSetList{Items: items}, nil
}

// ListPodDisruptionBudgets implements kube.Workloads.
func (s *snapshot) ListPodDisruptionBudgets(_ context.Context, ns string, opts metav1.ListOptions) (*policyv1.PodDisruptionBudgetList, error) {
	items, err := keep(filterNS(s.pdbs, ns, func(b *policyv1.PodDisruptionBudget) metav1.ObjectMeta { return b.ObjectMeta }), opts,
		func(b *policyv1.PodDisruptionBudget) (metav1.ObjectMeta, fields.Set) { return b.ObjectMeta, nil })
	if err != nil {
		return nil, err
	}
	return &policyv1.PodDisruptionBudgetList{Items: items}, nil
}
