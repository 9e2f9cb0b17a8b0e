package drain

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/kube"
)

// action is what a drain does with one pod.
type action int

const (
	// actEvict: evict it through the Eviction API, then wait for it.
	actEvict action = iota
	// actSkip: leave it alone (finished, mirror, DaemonSet).
	actSkip
	// actWait: it is already being deleted; only wait for it.
	actWait
	// actBlock: it must not be evicted; the drain cannot proceed.
	actBlock
)

// verdict is the filter chain's answer for one pod, with a reason a person
// can read.
type verdict struct {
	action action
	reason string
}

// classify runs the filter chain (see the package documentation) on one
// pod. It fails only when the API cannot say whether a DaemonSet exists, or
// what the pod's PersistentVolumeClaims are bound to.
func (m *Manager) classify(ctx context.Context, p *corev1.Pod, ds *daemonSets, vols *volumes) (verdict, error) {
	who := p.Namespace + "/" + p.Name
	if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return verdict{actSkip, "pod " + who + " has finished"}, nil
	}
	if p.DeletionTimestamp != nil {
		return verdict{actWait, "pod " + who + " is already terminating"}, nil
	}
	if _, mirror := p.Annotations[AnnotationMirrorPod]; mirror {
		return verdict{actSkip, "pod " + who + " is a mirror (static) pod"}, nil
	}
	ctrl := metav1.GetControllerOf(p)
	orphanedBy := ""
	if ctrl != nil && ctrl.Kind == "DaemonSet" && strings.HasPrefix(ctrl.APIVersion, "apps/") {
		exists, err := ds.exists(ctx, p.Namespace, ctrl.Name)
		if err != nil {
			return verdict{}, err
		}
		if exists {
			return verdict{actSkip, "pod " + who + " belongs to DaemonSet " + ctrl.Name}, nil
		}
		orphanedBy = fmt.Sprintf(" (its DaemonSet %s is gone)", ctrl.Name)
	}
	safe := ""
	for _, k := range []string{autoscaler.AnnotationSafeToEvict, CAAnnotationSafeToEvict} {
		if v, ok := p.Annotations[k]; ok {
			if strings.EqualFold(v, "false") {
				return verdict{actBlock, fmt.Sprintf("pod %s is annotated %s=false", who, k)}, nil
			}
			if strings.EqualFold(v, "true") && safe == "" {
				safe = k
			}
		}
	}
	if safe != "" {
		return verdict{actEvict, fmt.Sprintf("pod %s is annotated %s=true", who, safe)}, nil
	}
	if !m.cfg.DeleteEmptyDirData {
		for _, v := range p.Spec.Volumes {
			if v.EmptyDir != nil && !safeVolume(p, v.Name) {
				return verdict{actBlock, fmt.Sprintf("pod %s has local storage (emptyDir volume %q) and DeleteEmptyDirData is off", who, v.Name)}, nil
			}
		}
	}
	// Node-local data dies with the node whatever DeleteEmptyDirData says:
	// only the pod's own safe-to-evict annotation, above, lets it go.
	local, err := vols.localStorage(ctx, p)
	if err != nil {
		return verdict{}, err
	}
	if local != "" {
		return verdict{actBlock, fmt.Sprintf("pod %s has node-local storage (%s)", who, local)}, nil
	}
	if (ctrl == nil || orphanedBy != "") && !m.cfg.EvictUnmanagedPods {
		return verdict{actBlock, fmt.Sprintf("pod %s has no controller%s and EvictUnmanagedPods is off", who, orphanedBy)}, nil
	}
	return verdict{actEvict, "pod " + who}, nil
}

// safeVolume reports whether the pod names the volume in its
// cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes annotation:
// its data may be lost.
func safeVolume(p *corev1.Pod, volume string) bool {
	list, ok := p.Annotations[CAAnnotationSafeToEvictLocalVolumes]
	if !ok {
		return false
	}
	for _, v := range strings.Split(list, ",") {
		if strings.TrimSpace(v) == volume {
			return true
		}
	}
	return false
}

// daemonSets answers whether DaemonSets exist, asking the API once per
// DaemonSet within one call of ListNodes or Drain.
type daemonSets struct {
	client kube.Interface
	seen   map[string]bool
}

func newDaemonSets(c kube.Interface) *daemonSets {
	return &daemonSets{client: c, seen: map[string]bool{}}
}

func (d *daemonSets) exists(ctx context.Context, ns, name string) (bool, error) {
	key := ns + "/" + name
	if v, ok := d.seen[key]; ok {
		return v, nil
	}
	_, err := d.client.GetDaemonSet(ctx, ns, name)
	switch {
	case apierrors.IsNotFound(err):
		d.seen[key] = false
	case err != nil:
		return false, fmt.Errorf("get DaemonSet %s: %w", key, err)
	default:
		d.seen[key] = true
	}
	return d.seen[key], nil
}

// budgets are the cluster's PodDisruptionBudgets that allow no disruption
// now, by namespace.
type budgets map[string][]budget

type budget struct {
	name     string
	selector labels.Selector
}

func newBudgets(pdbs []policyv1.PodDisruptionBudget) (budgets, error) {
	b := budgets{}
	for _, pdb := range pdbs {
		if pdb.Status.DisruptionsAllowed > 0 {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil {
			return nil, fmt.Errorf("PodDisruptionBudget %s/%s: selector: %w", pdb.Namespace, pdb.Name, err)
		}
		b[pdb.Namespace] = append(b[pdb.Namespace], budget{name: pdb.Name, selector: sel})
	}
	return b, nil
}

// blocking says which budget, if any, would refuse to let p be evicted now.
func (b budgets) blocking(p *corev1.Pod) string {
	for _, pdb := range b[p.Namespace] {
		if pdb.selector.Matches(labels.Set(p.Labels)) {
			return fmt.Sprintf("pod %s/%s is covered by PodDisruptionBudget %s, which allows no disruption now", p.Namespace, p.Name, pdb.name)
		}
	}
	return ""
}
